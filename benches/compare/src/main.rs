//! The side-by-side comparison of issue 6: samsa against a raw-file floor,
//! the `commitlog` crate and SQLite, on the same machine in one run.
//!
//! ```sh
//! cargo run --release --manifest-path benches/compare/Cargo.toml -- [--quick | --full] [--out DIR]
//! ```
//!
//! Prints a markdown table of medians (min–max) over repetitions with
//! samsa's ratio to each peer and the issue's targets, and writes it to
//! `<out>/compare.md` with `<out>/compare.json`. What each workload does
//! and how each backend is kept fair: `README.md` beside this crate, and
//! the module docs.

mod append;
mod check;
mod child;
mod clog;
mod durable;
mod logs;
mod machine;
mod memory;
mod params;
mod raw;
mod read;
mod report;
mod restart;
mod results;
mod samsa_side;
mod scratch;
mod sqlite;
mod stats;
mod transactions;

use params::Params;
use results::Results;
use std::path::Path;
use std::time::Instant;

/// A workload: its name and what runs it.
type Run = fn(&Params, &Path, &mut Results);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(child::ARG) {
        child::main(&args[1..]);
    }
    let p = match Params::parse(&args) {
        Ok(p) => p,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprint!("{}", params::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = report::check_out(&p.out) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let (data_dir, why) = p.choose_data_dir();
    std::fs::create_dir_all(&data_dir).expect("create the data directory");
    let scratch = tempfile::Builder::new()
        .prefix("samsa-compare-")
        .tempdir_in(&data_dir)
        .expect("create the scratch directory");
    let free = scratch::free_bytes(scratch.path());
    if free < p.disk_need() {
        eprintln!(
            "warning: the run needs about {} free and {} has {}; use smaller sizes or --data-dir",
            report::size(p.disk_need()),
            data_dir.display(),
            report::size(free)
        );
    }
    let machine = machine::Machine::describe(scratch.path());
    eprintln!("samsa-compare ({} mode, {} repetitions)", p.mode, p.reps);
    eprintln!("machine: {}", machine.markdown());
    eprintln!(
        "scratch: {} ({why}; {} free, about {} needed)",
        scratch.path().display(),
        report::size(free),
        report::size(p.disk_need())
    );
    let mut results = Results::default();
    results.fact(
        "0-data",
        format!(
            "Scratch data in {} ({why}), removed at the end; about {} of disk needed at the peak.",
            data_dir.display(),
            report::size(p.disk_need())
        ),
    );

    let workloads: [(&str, Run); 6] = [
        ("append", append::run),
        ("read", read::run),
        ("durable", durable::run),
        ("reopen", restart::run_reopen),
        ("recovery", restart::run_recovery),
        ("rss", memory::run),
    ];
    let started = Instant::now();
    for (name, run) in workloads {
        if !p.runs(name) {
            continue;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        run(&p, scratch.path(), &mut results);
        let secs = t.elapsed().as_secs_f64();
        eprintln!("== {name}: {secs:.0} s");
        results.fact(
            format!("~time.{name}"),
            format!("Time spent on {name}: {secs:.0} s."),
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let md = report::write(&p, &machine, &results, wall);
    println!("{md}");
    eprintln!(
        "wrote {} and {}",
        p.out.join("compare.md").display(),
        p.out.join("compare.json").display()
    );
    drop(scratch);
}
