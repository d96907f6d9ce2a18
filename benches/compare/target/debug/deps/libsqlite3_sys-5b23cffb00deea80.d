/work/main/benches/compare/target/debug/deps/libsqlite3_sys-5b23cffb00deea80.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/error.rs /work/main/benches/compare/target/debug/build/libsqlite3-sys-099e76f1f25c45c0/out/bindgen.rs

/work/main/benches/compare/target/debug/deps/liblibsqlite3_sys-5b23cffb00deea80.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/error.rs /work/main/benches/compare/target/debug/build/libsqlite3-sys-099e76f1f25c45c0/out/bindgen.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libsqlite3-sys-0.39.1/src/error.rs:
/work/main/benches/compare/target/debug/build/libsqlite3-sys-099e76f1f25c45c0/out/bindgen.rs:

# env-dep:OUT_DIR=/work/main/benches/compare/target/debug/build/libsqlite3-sys-099e76f1f25c45c0/out
