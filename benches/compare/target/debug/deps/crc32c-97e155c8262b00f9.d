/work/main/benches/compare/target/debug/deps/crc32c-97e155c8262b00f9.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/combine.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hasher.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_tables.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_x86_64.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/io.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/sw.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/util.rs /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.long.table /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.short.table /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/sw.table

/work/main/benches/compare/target/debug/deps/libcrc32c-97e155c8262b00f9.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/combine.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hasher.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_tables.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_x86_64.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/io.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/sw.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/util.rs /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.long.table /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.short.table /work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/sw.table

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/combine.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hasher.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_tables.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/hw_x86_64.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/io.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/sw.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/crc32c-0.6.9/src/util.rs:
/work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.long.table:
/work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/hw.short.table:
/work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out/sw.table:

# env-dep:OUT_DIR=/work/main/benches/compare/target/debug/build/crc32c-e628ec68adb16732/out
