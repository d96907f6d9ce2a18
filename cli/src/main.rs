//! `samsa`: look inside a samsa log directory from a terminal, while the
//! service that owns it runs (every command here opens it read-only).
//!
//! ```text
//! samsa --dir DIR topics list                   # names, partitions, records
//! samsa --dir DIR topics describe orders        # per partition: offsets, sizes; settings
//! samsa --dir DIR consume orders --from earliest --max-messages 10
//! samsa --dir DIR consume orders --follow --format json
//! samsa --dir DIR groups list
//! samsa --dir DIR groups describe billing       # committed offsets and lag
//! ```
//!
//! Listings print aligned tables for people, or with `--json` one JSON
//! value for scripts. An error is one line on stderr and exit status 1.

mod consume;
mod groups;
mod table;
mod topics;

use clap::{Parser, Subcommand};
use samsa_log::read_only::ReadOnlyLog;
use samsa_log::Log;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "samsa",
    version,
    about = "Look inside a samsa log directory, live or not."
)]
struct Cli {
    /// The log directory (as given to `Log::open`).
    #[arg(long, short = 'd', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List and describe topics.
    #[command(subcommand)]
    Topics(topics::Topics),
    /// Print a topic's records (Kafka's console consumer).
    Consume(consume::Consume),
    /// List and describe consumer groups: committed offsets and lag.
    #[command(subcommand)]
    Groups(groups::Groups),
}

/// What a command failed with: printed as one line.
type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samsa: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let dir = cli.dir.ok_or("no log directory: pass --dir DIR")?;
    let log = open(&dir)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Topics(c) => c.run(&log, &mut out),
        Command::Consume(c) => c.run(&log, &mut out),
        Command::Groups(c) => c.run(&log, &mut out),
    }
}

fn open(dir: &std::path::Path) -> Result<ReadOnlyLog, Failure> {
    Log::open_read_only(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()).into())
}
