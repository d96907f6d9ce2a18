/work/main/benches/compare/target/debug/deps/commitlog-b47d8f26c26b3145.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/file_set.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/index.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/message.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/reader.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/segment.rs

/work/main/benches/compare/target/debug/deps/libcommitlog-b47d8f26c26b3145.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/file_set.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/index.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/message.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/reader.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/segment.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/file_set.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/index.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/message.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/reader.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/commitlog-0.2.0/src/segment.rs:
