//! What every test of the tool needs: running it, and its output.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `samsa --dir DIR ARGS...`.
pub fn samsa(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samsa"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Its stdout, after checking it succeeded.
pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}
