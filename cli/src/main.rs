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
//! samsa --dir DIR export orders --bootstrap-servers kafka:9092 --group billing
//! samsa --dir DIR import orders --bootstrap-servers kafka:9092 --group billing
//! ```
//!
//! Commands that only read open the log read-only, beside its owner.
//! Those that change it (`topics create | delete | add-partitions`,
//! `produce`, `groups reset-offsets --execute | delete`, `import`; and
//! `export`, which reads through a consumer, as only an owner can) open
//! it as its owner, and so fail while a service holds it (`locked by
//! another owner`), as they should.
//!
//! Listings print aligned tables for people, or with `--json` one JSON
//! value for scripts. An error is one line on stderr and exit status 1.

mod consume;
mod groups;
mod inspect;
mod produce;
mod table;
mod topics;
mod transfer;

use clap::{Parser, Subcommand};
use samsa_log::read_only::ReadOnlyLog;
use samsa_log::Log;
use std::path::{Path, PathBuf};
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
    /// Append records read from stdin or a file, one a line (Kafka's
    /// console producer).
    Produce(produce::Produce),
    /// List and describe consumer groups: committed offsets and lag.
    #[command(subcommand)]
    Groups(groups::Groups),
    /// Print a segment file's batches (and records) or index entries
    /// (Kafka's `kafka-dump-log`); needs no --dir.
    Dump(inspect::Dump),
    /// Check every batch's CRC and every index against its data; exit
    /// status 2 and a report naming each damaged file if any is.
    Verify(inspect::Verify),
    /// Copy a topic and its groups' offsets to a Kafka cluster; resumable.
    Export(transfer::Transfer),
    /// Copy a topic and its groups' offsets from a Kafka cluster into the
    /// log; resumable.
    Import(transfer::Transfer),
}

/// What a command failed with: printed as one line.
type Failure = Box<dyn std::error::Error>;

/// Exit status of `verify` when it found damage (1 is for errors).
const DAMAGED: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(DAMAGED),
        Err(e) => {
            eprintln!("samsa: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` when `verify` found damage.
fn run(cli: Cli) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    let dir = || cli.dir.clone().ok_or("no log directory: pass --dir DIR");
    match cli.command {
        Command::Topics(c) => c.run(&dir()?, &mut out)?,
        Command::Consume(c) => c.run(&dir()?, &mut out)?,
        Command::Produce(c) => c.run(&owned(&dir()?)?, &mut out)?,
        Command::Groups(c) => c.run(&dir()?, &mut out)?,
        Command::Dump(c) => c.run(&mut out)?,
        Command::Verify(c) => return c.run(&dir()?, &mut out),
        Command::Export(c) => {
            let log = owned(&dir()?)?;
            c.run(&log, transfer::Direction::Export, &mut out)?;
            log.close()?;
        }
        Command::Import(c) => {
            let log = owned(&dir()?)?;
            c.run(&log, transfer::Direction::Import, &mut out)?;
            log.close()?;
        }
    }
    Ok(true)
}

/// The log in `dir`, read-only beside its owner.
fn read_only(dir: &Path) -> Result<ReadOnlyLog, Failure> {
    Log::open_read_only(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()).into())
}

/// The log in `dir`, opened as its owner (which fails while a service
/// holds it), without a maintenance thread: a command changes what it was
/// asked to and closes the log.
fn owned(dir: &Path) -> Result<Log, Failure> {
    Log::builder()
        .maintenance_interval(None)
        .open(dir)
        .map_err(|e| format!("cannot open {} to change it: {e}", dir.display()).into())
}
