//! No per-record heap allocation, on append or on read.
//!
//! A counting global allocator counts the allocations (including
//! reallocations) made by this test's thread while counting is switched
//! on. The whole scenario runs in one `#[test]` so nothing else runs in the
//! process at the same time; counting is also per thread, so the harness's
//! own threads never pollute it.

use samsa_log::partition::{PartitionConfig, SyncPolicy};
use samsa_log::record::{Header, Records};
use samsa_log::{Partition, Record};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: thread-local storage may be gone while a thread exits.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches
// only an atomic and a const-initialised thread-local, neither of which
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the allocations it made.
fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

const VALUE_BYTES: usize = 100;
/// The largest difference allowed between a small and a large call.
const SLACK: usize = 4;

struct Fixture {
    value: Vec<u8>,
    key: Vec<u8>,
    header_value: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            value: (0..VALUE_BYTES).map(|i| (i * 31 + 7) as u8).collect(),
            key: b"user-42".to_vec(),
            header_value: b"abc123".to_vec(),
        }
    }
}

/// Allocations of one `append` of 10 and one of 10,000 records (after a
/// warm-up append), then of one `read` of a 10-record batch and one of a
/// 5,000-record batch, and of iterating every record of each read.
#[derive(Debug)]
struct Counts {
    append_10: usize,
    append_10000: usize,
    read_10: usize,
    read_5000: usize,
    iterate_10: usize,
    iterate_5000: usize,
}

fn measure(p: &Partition, fx: &Fixture) -> Counts {
    let headers = [Header::new("trace-id", &fx.header_value)];
    let record = Record::new(&fx.value).key(&fx.key).headers(&headers);
    let ten = vec![record.clone(); 10];
    let ten_thousand = vec![record.clone(); 10_000];
    let five_thousand = vec![record; 5_000];

    // Warm-up: the first append and read may set things up once.
    p.append(&ten).unwrap();
    p.read(0, 1 << 20).unwrap();

    let (_, append_10) = count(|| p.append(&ten).unwrap());
    let (_, append_10000) = count(|| p.append(&ten_thousand).unwrap());

    let small = p.append(&ten).unwrap().base_offset;
    let large = p.append(&five_thousand).unwrap().base_offset;
    // `max_bytes` 1: exactly the one batch at the offset.
    let (small_read, read_10) = count(|| p.read(small, 1).unwrap());
    let (large_read, read_5000) = count(|| p.read(large, 1).unwrap());
    assert_eq!(small_read.len(), 10);
    assert_eq!(large_read.len(), 5_000);

    let (_, iterate_10) = count(|| touch_all(&small_read, fx));
    let (_, iterate_5000) = count(|| touch_all(&large_read, fx));
    Counts {
        append_10,
        append_10000,
        read_10,
        read_5000,
        iterate_10,
        iterate_5000,
    }
}

/// Reads every field of every record, checking them against the fixture.
fn touch_all(records: &Records, fx: &Fixture) -> usize {
    let mut n = 0;
    for r in records {
        assert_eq!(r.key(), Some(&fx.key[..]));
        assert_eq!(r.value(), Some(&fx.value[..]));
        assert!(r.timestamp() > 0);
        let mut headers = r.headers();
        let h = headers.next().unwrap();
        assert_eq!((h.key, h.value), ("trace-id", Some(&fx.header_value[..])));
        assert!(headers.next().is_none());
        n += 1;
    }
    assert_eq!(n, records.len());
    n
}

fn check(what: &str, c: &Counts) {
    println!("{what}: {c:?}");
    assert!(
        c.append_10000.abs_diff(c.append_10) <= SLACK,
        "{what}: append of 10,000 records made {} allocations, of 10 made {}",
        c.append_10000,
        c.append_10
    );
    assert!(
        c.append_10000 < 20,
        "{what}: append of 10,000 records made {} allocations",
        c.append_10000
    );
    assert!(
        c.read_5000.abs_diff(c.read_10) <= SLACK,
        "{what}: read of 5,000 records made {} allocations, of 10 made {}",
        c.read_5000,
        c.read_10
    );
    assert!(
        c.read_5000 < 20,
        "{what}: read of 5,000 records made {} allocations",
        c.read_5000
    );
    assert_eq!(
        (c.iterate_10, c.iterate_5000),
        (0, 0),
        "{what}: iterating records allocated"
    );
}

#[test]
fn append_and_read_allocate_per_call_not_per_record() {
    let fx = Fixture::new();
    let config = PartitionConfig::default().sync(SyncPolicy::Os);

    let memory = Partition::in_memory(config.clone()).unwrap();
    let in_memory = measure(&memory, &fx);
    memory.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let disk = Partition::open(dir.path(), config).unwrap();
    let on_disk = measure(&disk, &fx);
    disk.close().unwrap();

    check("in memory", &in_memory);
    check("on disk", &on_disk);
}
