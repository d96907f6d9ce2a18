//! What the hostile-files tests share: an allocator that records the
//! largest single allocation of each thread, its bound, and the tally of
//! cases, outcomes and violations each test prints. A test binary that
//! declares `mod hostile_support;` runs under this allocator.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;
use std::path::Path;

// ---- The largest single allocation --------------------------------------

/// Wraps `System`, recording the largest single allocation request made by
/// each thread: a case's open and reads run on the test's own thread.
struct Largest;

thread_local! {
    static LARGEST_HERE: Cell<usize> = const { Cell::new(0) };
    /// Opens of damaged copies, counted by [`count_open`].
    static OPENS: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: thread-local storage may be gone while a thread exits.
    let _ = LARGEST_HERE.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`; recording touches
// only a const-initialised thread-local, which does not allocate.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

pub const MIB: usize = 1 << 20;

/// The most one allocation may take while samsa opens and reads a damaged
/// directory: 64 MiB, or 4 times its largest file if that is more. What
/// samsa legitimately allocates is bounded by the bytes present: a whole
/// small file (marker, snapshot, an active index), one read of at most
/// `max_bytes` or one batch, a 1 MiB scan window, indexes rebuilt in
/// memory; a `Vec` growing by doubling may ask for twice its contents. The
/// files here are a few KiB, so the bound is 64 MiB, while a length field of
/// 2^31 or 2^32-1 taken on trust would ask for 2 or 4 GiB.
pub fn alloc_bound(dir: &Path) -> usize {
    (64 * MIB).max(4 * largest_file(dir) as usize)
}

pub fn largest_file(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => largest_file(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

// ---- Counting cases and collecting violations ----------------------------

/// Whether `SAMSA_HOSTILE_FULL=1` asked for the exhaustive sweeps.
pub fn full() -> bool {
    std::env::var("SAMSA_HOSTILE_FULL").is_ok_and(|v| v == "1")
}

/// What one hostile open came to.
pub enum Outcome {
    /// Open failed with a typed error naming the damaged file.
    TypedError,
    /// Open succeeded and everything read back was true; `read_errors`
    /// reads were refused with a typed error.
    Opened { read_errors: u64 },
}

/// The counts of one test, and what went wrong.
pub struct Tally {
    kind: &'static str,
    seed: u64,
    variants: u64,
    opens: u64,
    typed_errors: u64,
    rebuilds: u64,
    read_errors: u64,
    largest: usize,
    pub violations: Vec<String>,
}

impl Tally {
    pub fn new(kind: &'static str, seed: u64) -> Self {
        eprintln!("hostile_files: kind={kind} seed={seed:#x}");
        Tally {
            kind,
            seed,
            variants: 0,
            opens: 0,
            typed_errors: 0,
            rebuilds: 0,
            read_errors: 0,
            largest: 0,
            violations: Vec::new(),
        }
    }

    /// Runs one case on the damaged copy in `dir`: `case` opens it (through
    /// a function that calls [`count_open`]) and returns the outcome, or a violation.
    pub fn run(&mut self, ctx: &str, dir: &Path, case: impl FnOnce() -> Result<Outcome, String>) {
        self.variants += 1;
        let bound = alloc_bound(dir);
        OPENS.with(|c| c.set(0));
        LARGEST_HERE.with(|c| c.set(0));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
        let largest = LARGEST_HERE.with(Cell::get);
        self.largest = self.largest.max(largest);
        self.opens += OPENS.with(Cell::get);
        match r {
            Ok(Ok(Outcome::TypedError)) => self.typed_errors += 1,
            Ok(Ok(Outcome::Opened { read_errors })) => {
                self.rebuilds += 1;
                self.read_errors += read_errors;
            }
            Ok(Err(msg)) => self.violations.push(format!("{ctx}: {msg}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.violations.push(format!("{ctx}: panicked: {msg}"));
            }
        }
        if largest > bound {
            self.violations.push(format!(
                "{ctx}: one allocation of {largest} bytes (bound {bound})"
            ));
        }
    }

    /// Prints the counts and fails if anything was violated.
    pub fn finish(self) {
        eprintln!(
            "hostile_files: kind={} variants={} opens={} typed_errors={} rebuilds={} \
             read_errors={} violations={} max_alloc={} seed={:#x}",
            self.kind,
            self.variants,
            self.opens,
            self.typed_errors,
            self.rebuilds,
            self.read_errors,
            self.violations.len(),
            self.largest,
            self.seed
        );
        assert!(
            self.violations.is_empty(),
            "{} violations (seed {:#x}), the first:\n{}",
            self.violations.len(),
            self.seed,
            self.violations
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The largest single allocation this thread made since its case began.
pub fn largest_here() -> usize {
    LARGEST_HERE.with(Cell::get)
}

/// Counts one open of a damaged copy (call it from each test's `open`).
pub fn count_open() {
    OPENS.with(|c| c.set(c.get() + 1));
}
