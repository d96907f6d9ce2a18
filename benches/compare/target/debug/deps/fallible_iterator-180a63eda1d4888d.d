/work/main/benches/compare/target/debug/deps/fallible_iterator-180a63eda1d4888d.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-iterator-0.3.0/src/lib.rs

/work/main/benches/compare/target/debug/deps/libfallible_iterator-180a63eda1d4888d.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-iterator-0.3.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fallible-iterator-0.3.0/src/lib.rs:
