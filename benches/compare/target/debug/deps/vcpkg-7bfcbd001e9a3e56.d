/work/main/benches/compare/target/debug/deps/vcpkg-7bfcbd001e9a3e56.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vcpkg-0.2.15/src/lib.rs

/work/main/benches/compare/target/debug/deps/libvcpkg-7bfcbd001e9a3e56.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vcpkg-0.2.15/src/lib.rs

/work/main/benches/compare/target/debug/deps/libvcpkg-7bfcbd001e9a3e56.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vcpkg-0.2.15/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vcpkg-0.2.15/src/lib.rs:
