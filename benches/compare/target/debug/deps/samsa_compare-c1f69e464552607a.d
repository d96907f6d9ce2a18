/work/main/benches/compare/target/debug/deps/samsa_compare-c1f69e464552607a.d: src/main.rs src/append.rs src/check.rs src/child.rs src/clog.rs src/durable.rs src/logs.rs src/machine.rs src/memory.rs src/params.rs src/raw.rs src/read.rs src/report.rs src/restart.rs src/results.rs src/samsa_side.rs src/scratch.rs src/sqlite.rs src/stats.rs

/work/main/benches/compare/target/debug/deps/libsamsa_compare-c1f69e464552607a.rmeta: src/main.rs src/append.rs src/check.rs src/child.rs src/clog.rs src/durable.rs src/logs.rs src/machine.rs src/memory.rs src/params.rs src/raw.rs src/read.rs src/report.rs src/restart.rs src/results.rs src/samsa_side.rs src/scratch.rs src/sqlite.rs src/stats.rs

src/main.rs:
src/append.rs:
src/check.rs:
src/child.rs:
src/clog.rs:
src/durable.rs:
src/logs.rs:
src/machine.rs:
src/memory.rs:
src/params.rs:
src/raw.rs:
src/read.rs:
src/report.rs:
src/restart.rs:
src/results.rs:
src/samsa_side.rs:
src/scratch.rs:
src/sqlite.rs:
src/stats.rs:

# env-dep:CARGO_MANIFEST_DIR=/work/main/benches/compare
