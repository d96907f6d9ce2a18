/work/main/benches/compare/target/debug/deps/hashlink-42f46218f44ab979.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_map.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_set.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lru_cache.rs

/work/main/benches/compare/target/debug/deps/libhashlink-42f46218f44ab979.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_map.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_set.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lru_cache.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_map.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/linked_hash_set.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/hashlink-0.12.2/src/lru_cache.rs:
