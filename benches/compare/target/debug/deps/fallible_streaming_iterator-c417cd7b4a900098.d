/work/main/benches/compare/target/debug/deps/fallible_streaming_iterator-c417cd7b4a900098.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-streaming-iterator-0.1.9/src/lib.rs

/work/main/benches/compare/target/debug/deps/libfallible_streaming_iterator-c417cd7b4a900098.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-streaming-iterator-0.1.9/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-streaming-iterator-0.1.9/src/lib.rs:
