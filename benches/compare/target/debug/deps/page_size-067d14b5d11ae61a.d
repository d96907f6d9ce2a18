/work/main/benches/compare/target/debug/deps/page_size-067d14b5d11ae61a.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/page_size-0.4.2/src/lib.rs

/work/main/benches/compare/target/debug/deps/libpage_size-067d14b5d11ae61a.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/page_size-0.4.2/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/page_size-0.4.2/src/lib.rs:
