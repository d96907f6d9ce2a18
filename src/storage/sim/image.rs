//! The simulated disk's file contents: the synced image, the operations
//! since, and what a power cut leaves of them.

use super::Damage;

/// Granularity of a torn write.
pub(super) const SECTOR: u64 = 512;

#[derive(Debug, Clone)]
pub(super) enum DataOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
pub(super) struct Inode {
    /// What reads see.
    pub data: Vec<u8>,
    /// What a power cut keeps for sure.
    pub synced: Vec<u8>,
    /// Changes since the last sync, in order.
    pub pending: Vec<DataOp>,
}

pub(super) fn write_at(image: &mut Vec<u8>, pos: u64, bytes: &[u8]) {
    let start = usize::try_from(pos).expect("simulated files are small");
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

pub(super) fn apply_data(image: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write(pos, bytes) => write_at(image, *pos, bytes),
        DataOp::SetLen(len) => image.resize(usize::try_from(*len).expect("small"), 0),
    }
}

/// splitmix64: a small, well-mixed generator, enough to pick damage.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The image a power cut leaves of one file.
///
/// Each unsynced operation leaves a version of the file behind it. What
/// the disk holds after the cut is the synced version's sectors, with any
/// sector replaced by the same sector of any later version (page-cache
/// writeback at any moment, a sector at a time), and the length of any
/// version: a length whose sectors did not arrive reads back as zeros.
pub(super) fn survivor(inode: &Inode, damage: Damage, rng: &mut Rng) -> Vec<u8> {
    let mut versions = vec![inode.synced.clone()];
    for op in &inode.pending {
        let mut next = versions.last().expect("one at least").clone();
        apply_data(&mut next, op);
        versions.push(next);
    }
    let seed = match damage {
        Damage::DropAll => return versions.swap_remove(0),
        Damage::KeepAll => return versions.pop().expect("one at least"),
        Damage::Seeded(_) => rng.next(),
    };
    let n = versions.len() as u64;
    let len = versions[rng.below(n) as usize].len();
    // Half the variants write back in order up to a cut, tearing only the
    // version after it; the others mix versions sector by sector.
    let ordered = seed % 2 == 0;
    let cut = rng.below(n) as usize;
    let mut image = vec![0; len];
    for (i, sector) in image.chunks_mut(SECTOR as usize).enumerate() {
        let v = if !ordered {
            rng.below(n) as usize
        } else if cut + 1 < versions.len() && rng.below(2) == 0 {
            cut + 1
        } else {
            cut
        };
        let from = versions[v].get(i * SECTOR as usize..).unwrap_or_default();
        let k = from.len().min(sector.len());
        sector[..k].copy_from_slice(&from[..k]);
    }
    image
}
