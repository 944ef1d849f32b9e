//! The flow index of a session table: one open-addressed table for both directions (the
//! IPv4 table files its reply flows here, and the few client flows that found their line
//! of tags full: `client_tags.rs`).
//!
//! Each bucket is one cache line of eight entries: a 16-bit tag from the flow's hash
//! and the session's slot number with a direction bit. A lookup compares the eight tags
//! at once (one SSE2 compare, `rvs_cpu::eq_u16x8`, as F14 and SwissTable do), then reads
//! the one slot whose tag matched and checks the full key there: two cache lines. A full
//! bucket overflows into the next; every bucket counts the entries that passed it (F14's
//! outbound overflow count), so a miss stops at the first bucket nobody passed and
//! removal needs no tombstones. Sized once at start for the table's capacity: the packet
//! path never allocates or rehashes.

use super::{Direction, FlowKey};

const WAYS: usize = 8;
/// Entries per bucket on average when the table is full (of 8): the load that keeps
/// overflow rare.
const FILL: usize = 6;

/// One cache line: eight 16-bit tags (compared at once), eight slot
/// codes (0: empty; else slot * 2 + direction + 1), and the count of entries that
/// overflowed past this bucket.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; WAYS],
    codes: [u32; WAYS],
    passed: u32,
    _pad: [u32; 3],
}

const EMPTY: Bucket = Bucket { tags: [0; WAYS], codes: [0; WAYS], passed: 0, _pad: [0; 3] };
const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

/// A hash of a flow: `bucket` picks where it lives, `tag` tells entries apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowHash(u64);

impl FlowHash {
    pub const ZERO: FlowHash = FlowHash(0);

    /// Never 0, an empty way's tag: a tag match is an entry or, rarely, a borrow above one.
    /// Odd: `client_tags.rs` marks positions with an even one.
    #[inline]
    pub(super) fn tag(self) -> u16 {
        (self.0 >> 48) as u16 | 1
    }

    #[inline(always)]
    pub(super) fn bits(self) -> u64 {
        self.0
    }

    #[cfg(test)]
    pub(super) fn from_bits(bits: u64) -> FlowHash {
        FlowHash(bits)
    }
}

/// An index entry guessed from the tags alone (stage 1 of a burst), for the lookup to try
/// before probing: it may point at another flow, or at nothing (`NONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hint(u32);

impl Hint {
    /// No guess: for a hint taken from the index, the flow is in no entry.
    pub const NONE: Hint = Hint(0);
    /// No guess from the home bucket, but entries overflowed past it: the flow may be
    /// farther. No entry's code (the largest is `MAX_SLOTS * 2`): its `hit` names slot
    /// `MAX_SLOTS`, past the end of any table, which a lookup finds empty.
    pub const FARTHER: Hint = Hint(u32::MAX);

    /// A guess of slot `slot`, flow `dir`.
    #[inline(always)]
    pub(super) fn of(slot: u32, dir: Direction) -> Hint {
        Hint(encode(slot, dir))
    }

    /// The entry guessed, if any (for `FARTHER`, a slot past the end of any table).
    #[inline]
    pub fn hit(self) -> Option<Hit> {
        (self.0 != 0).then(|| decode(self.0))
    }

    /// The entry guessed, only for a real guess (not `NONE`, not `FARTHER`): what a
    /// prefetch of the guessed slot, or of anything beside it, wants.
    #[inline]
    pub fn guess(self) -> Option<Hit> {
        if self == Hint::FARTHER {
            return None;
        }
        self.hit()
    }

    /// The code's low bit: 1 for a client flow's entry (and for FARTHER), 0 for a reply's
    /// (and for NONE).
    #[inline(always)]
    pub fn low_bit(self) -> u32 {
        self.0 & 1
    }
}

/// Where a matching entry points: a slot and which of its flows matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub slot: u32,
    pub dir: Direction,
}

pub struct FlowIndex {
    buckets: Vec<Bucket>,
    mask: usize,
    seed: [u64; 2],
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn encode(slot: u32, dir: Direction) -> u32 {
    let d = matches!(dir, Direction::FromServer) as u32;
    (slot << 1 | d) + 1
}

#[inline]
fn decode(code: u32) -> Hit {
    let v = code - 1;
    Hit { slot: v >> 1, dir: if v & 1 == 1 { Direction::FromServer } else { Direction::FromClient } }
}

/// The lowest way a `Bucket::matches` mask names (not 0).
#[inline(always)]
fn first_way(m: u32) -> usize {
    (m.trailing_zeros() / 2) as usize % WAYS
}

impl Bucket {
    /// The ways whose tag is `tag`, as two bits each (way `w`: bits `2w` and `2w + 1`):
    /// one vector compare of the eight tags.
    #[inline(always)]
    fn matches(&self, tag: u16) -> u32 {
        rvs_cpu::eq_u16x8(&self.tags, tag)
    }

    /// The code of the first entry whose tag is `tag`, its key unchecked (no entry's
    /// tag is 0, so a match is an entry).
    #[inline(always)]
    fn candidate(&self, tag: u16) -> Option<u32> {
        let m = self.matches(tag);
        (m != 0).then(|| self.codes[first_way(m)])
    }

    #[inline]
    fn set(&mut self, way: usize, tag: u16, code: u32) {
        self.tags[way] = tag;
        self.codes[way] = code;
    }
}

impl FlowIndex {
    /// The largest slot number an entry can carry.
    pub const MAX_SLOTS: usize = (u32::MAX as usize - 1) / 2;

    /// An index for `flows` entries, keyed by `seed` so that a sender
    /// cannot aim flows at one bucket without knowing it.
    pub fn new(flows: usize, seed: u64) -> Self {
        Self::with_advice(flows, seed, None)
    }

    /// `new`, calling `advice` on the buckets' memory after it is allocated and before it
    /// is first written (`pipeline::MemAdvice`).
    pub fn with_advice(flows: usize, seed: u64, advice: Option<crate::pipeline::MemAdvice>) -> Self {
        let n = flows.div_ceil(FILL).max(2).next_power_of_two();
        let mut buckets: Vec<Bucket> = Vec::with_capacity(n);
        if let Some(advise) = advice {
            advise(buckets.as_ptr() as *const u8, n * std::mem::size_of::<Bucket>());
        }
        buckets.resize(n, EMPTY);
        FlowIndex {
            buckets,
            mask: n - 1,
            seed: [seed ^ 0x243f_6a88_85a3_08d3, seed.rotate_left(32) ^ 0x1319_8a2e_0370_7344],
        }
    }

    /// Memory held, for the bytes-per-session figure.
    pub fn bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
    }

    #[inline]
    pub fn hash(&self, k: &FlowKey) -> FlowHash {
        let (s, d) = (k.src.octets(), k.dst.octets());
        let (sp, dp) = (k.sport.to_be_bytes(), k.dport.to_be_bytes());
        self.hash_wire(
            [s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3]],
            [sp[0], sp[1], dp[0], dp[1]],
            k.proto,
        )
    }

    /// `hash` of the flow whose addresses (source, destination) and ports lie in a header
    /// as `addrs` and `ports`.
    #[inline(always)]
    pub fn hash_wire(&self, addrs: [u8; 8], ports: [u8; 4], proto: u8) -> FlowHash {
        // The words as they lie on the wire (no byte swaps), mixed by one 64x64->128
        // multiply, as wyhash finishes a short key.
        let a = u64::from_ne_bytes(addrs);
        let b = u16::from_ne_bytes([ports[0], ports[1]]) as u64
            | (u16::from_ne_bytes([ports[2], ports[3]]) as u64) << 16
            | (proto as u64) << 32;
        FlowHash(fold_mul(a ^ self.seed[0], b ^ self.seed[1]))
    }

    /// `hash` for an IPv6 flow (the IPv6 session table shares this index).
    #[inline]
    pub fn hash6(&self, k: &super::v6::FlowKey6) -> FlowHash {
        let (s, d) = (u128::from(k.src), u128::from(k.dst));
        let a = fold_mul((s >> 64) as u64 ^ self.seed[0], s as u64 ^ self.seed[1]);
        let b = fold_mul((d >> 64) as u64 ^ self.seed[1], d as u64 ^ self.seed[0]);
        let p = (k.sport as u64) << 32 | (k.dport as u64) << 16 | k.proto as u64;
        FlowHash(fold_mul(fold_mul(a ^ p, b ^ self.seed[0]), 0x9e37_79b9_7f4a_7c15))
    }

    #[inline]
    fn home(&self, h: FlowHash) -> usize {
        h.0 as usize & self.mask
    }

    /// Address of the flow's home bucket, for the caller to prefetch before the lookup
    /// (burst stage 1).
    #[inline]
    pub fn bucket_addr(&self, h: FlowHash) -> *const u8 {
        // An address, not a borrow: no bounds check (`home` is below the length).
        self.buckets.as_ptr().wrapping_add(self.home(h)) as *const u8
    }

    /// The first entry of the home bucket whose tag matches, unchecked, as a `Hint`: what
    /// burst stage 1 prefetches next and stage 2 tries first (a wrong guess costs a
    /// wasted prefetch and the full probe, nothing else). Without one, `NONE` when no
    /// entry passed the home bucket (the flow is not filed), else `FARTHER`.
    #[inline]
    pub fn first_candidate(&self, h: FlowHash) -> Hint {
        self.first_candidate_then(h, |_| ())
    }

    /// `first_candidate`, calling `on_entry` with the slot number of the entry guessed
    /// (not for `NONE` or `FARTHER`): the caller's prefetch of the slot, in the branch
    /// that found it rather than after a second test of the hint.
    #[inline(always)]
    pub fn first_candidate_then(&self, h: FlowHash, on_entry: impl FnOnce(usize)) -> Hint {
        let bucket = self.home_bucket(h);
        match bucket.candidate(h.tag()) {
            Some(code) => {
                // A matching tag is an entry, whose code is not 0 (wrapping all the same:
                // a slot number for a prefetch, which never faults).
                on_entry((code.wrapping_sub(1) >> 1) as usize);
                Hint(code)
            }
            None if bucket.passed == 0 => Hint::NONE,
            None => Hint::FARTHER,
        }
    }

    /// `first_candidate` of the bucket after the home one, where most of the entries that
    /// overflowed lie (a flow's entry is there or farther: `FARTHER`).
    #[inline]
    pub fn next_candidate(&self, h: FlowHash) -> Hint {
        let bucket = &self.buckets[(self.home(h) + 1) & self.mask];
        bucket.candidate(h.tag()).map_or(Hint::FARTHER, Hint)
    }

    /// Address of the bucket after the flow's home bucket, for a prefetch.
    #[inline]
    pub fn next_bucket_addr(&self, h: FlowHash) -> *const u8 {
        self.buckets.as_ptr().wrapping_add((self.home(h) + 1) & self.mask) as *const u8
    }

    /// The flow's home bucket, the one bounds check on the slice that `home` indexes
    /// (`..=mask`, which the compiler can hoist out of a loop).
    #[inline(always)]
    fn home_bucket(&self, h: FlowHash) -> &Bucket {
        &self.buckets[..=self.mask][self.home(h)]
    }

    /// The buckets' memory, for the edge to back with huge pages.
    pub fn region(&self) -> (*const u8, usize) {
        (self.buckets.as_ptr() as *const u8, self.bytes())
    }

    /// The entries whose tag matches, in probe order; `is` checks the full key.
    #[inline(always)]
    pub fn find(&self, h: FlowHash, mut is: impl FnMut(Hit) -> bool) -> Option<Hit> {
        let tag = h.tag();
        let mut b = self.home(h);
        loop {
            let bucket = &self.buckets[b];
            let mut m = bucket.matches(tag);
            while m != 0 {
                let way = first_way(m);
                m &= !(3 << (2 * way));
                let code = bucket.codes[way];
                if code != 0 && is(decode(code)) {
                    return Some(decode(code));
                }
            }
            if bucket.passed == 0 {
                return None;
            }
            b = (b + 1) & self.mask;
        }
    }

    /// Adds an entry; the caller has checked that the flow is not present. Never fails
    /// below the capacity the index was sized for (and beyond it only when every bucket
    /// is full).
    #[inline(always)]
    pub fn insert(&mut self, h: FlowHash, slot: u32, dir: Direction) -> bool {
        let code = encode(slot, dir);
        let home = self.home(h);
        let mut b = home;
        loop {
            if let Some(way) = self.buckets[b].codes.iter().position(|&c| c == 0) {
                self.buckets[b].set(way, h.tag(), code);
                let mut p = home;
                while p != b {
                    self.buckets[p].passed += 1;
                    p = (p + 1) & self.mask;
                }
                return true;
            }
            b = (b + 1) & self.mask;
            if b == home {
                return false;
            }
        }
    }

    /// Adds both entries of a session in slot `slot`: its client flow, hashed `hc`, and its
    /// reply flow, hashed `hr`; all or nothing (false: the index is full).
    pub fn insert_pair(&mut self, hc: FlowHash, hr: FlowHash, slot: u32) -> bool {
        if !self.insert(hc, slot, Direction::FromClient) {
            return false;
        }
        if !self.insert(hr, slot, Direction::FromServer) {
            self.remove(hc, slot, Direction::FromClient);
            return false;
        }
        true
    }

    /// Removes the entry for `slot`/`dir` filed under `h`.
    pub fn remove(&mut self, h: FlowHash, slot: u32, dir: Direction) -> bool {
        let code = encode(slot, dir);
        let home = self.home(h);
        let mut b = home;
        loop {
            if let Some(way) = self.buckets[b].codes.iter().position(|&c| c == code) {
                self.buckets[b].set(way, 0, 0);
                let mut p = home;
                while p != b {
                    self.buckets[p].passed -= 1;
                    p = (p + 1) & self.mask;
                }
                return true;
            }
            if self.buckets[b].passed == 0 {
                return false;
            }
            b = (b + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::numbered_flow as key;
    use std::collections::HashMap;

    #[test]
    fn entry_encoding_round_trips() {
        for slot in [0, 1, 77, FlowIndex::MAX_SLOTS as u32 - 1] {
            for dir in [Direction::FromClient, Direction::FromServer] {
                let e = encode(slot, dir);
                assert_ne!(e, 0);
                assert_eq!(decode(e), Hit { slot, dir });
            }
        }
    }

    #[test]
    fn tag_matches_are_exactly_the_ways_holding_the_tag() {
        for tag in [1u16, 0x7fff, 0x8000, 0xffff, 0x1235] {
            for way in 0..WAYS {
                for other in [0u16, 1, tag.wrapping_add(2), tag.wrapping_sub(2), 0xffff] {
                    let mut b = EMPTY;
                    b.tags = [other; WAYS];
                    b.tags[way] = tag;
                    let want = (0..WAYS).filter(|&w| b.tags[w] == tag).fold(0, |m, w| m | 3 << (2 * w));
                    assert_eq!(b.matches(tag), want, "tag {tag:#x} way {way} other {other:#x}");
                    assert_eq!(first_way(b.matches(tag)), (0..WAYS).find(|&w| b.tags[w] == tag).unwrap());
                }
            }
        }
    }

    /// Filled to the sizing load and beyond, with removals interleaved: every present key
    /// is found, every removed one is not, as a HashMap model says.
    #[test]
    fn agrees_with_a_model_through_overflow_and_removal() {
        let n = 4096;
        let mut idx = FlowIndex::new(n, 7);
        let mut model: HashMap<u32, u32> = HashMap::new();
        let keys: Vec<FlowKey> = (0..n as u32 * 2).map(key).collect();
        let find = |idx: &FlowIndex, i: u32, model: &HashMap<u32, u32>| {
            let k = keys[i as usize];
            idx.find(idx.hash(&k), |h| model.get(&h.slot).is_some_and(|&ki| keys[ki as usize] == k))
        };
        for round in 0..3u32 {
            for i in 0..n as u32 {
                let ki = i + (round % 2) * n as u32;
                if find(&idx, ki, &model).is_none() {
                    let slot = ki;
                    assert!(idx.insert(idx.hash(&keys[ki as usize]), slot, Direction::FromClient));
                    model.insert(slot, ki);
                }
            }
            for i in (0..n as u32).step_by(3) {
                let ki = i + (round % 2) * n as u32;
                if let Some(hit) = find(&idx, ki, &model) {
                    assert!(idx.remove(idx.hash(&keys[ki as usize]), hit.slot, hit.dir));
                    model.remove(&hit.slot);
                }
            }
            for ki in 0..n as u32 * 2 {
                let present = model.values().any(|&v| v == ki);
                assert_eq!(find(&idx, ki, &model).is_some(), present, "round {round} key {ki}");
            }
        }
    }

    #[test]
    fn overflow_chains_survive_removal_of_the_middle() {
        // One bucket pair: 16 entries all homed in bucket 0 by a fixed hash.
        let mut idx = FlowIndex::new(2, 1);
        assert_eq!(idx.mask, 1);
        let h = FlowHash(0x0001_0000_0000_0000); // home 0, tag 1
        for s in 0..16 {
            assert!(idx.insert(h, s, Direction::FromClient));
        }
        assert!(!idx.insert(h, 16, Direction::FromClient), "full: refused, not looping");
        assert_eq!(idx.buckets[0].passed, 8);
        assert!(idx.remove(h, 3, Direction::FromClient));
        assert_eq!(idx.buckets[0].passed, 8, "3 lived at home: nothing passed changes");
        assert!(idx.remove(h, 12, Direction::FromClient));
        assert_eq!(idx.buckets[0].passed, 7);
        for s in (0..16).filter(|&s| s != 3 && s != 12) {
            assert!(idx.find(h, |hit| hit.slot == s).is_some(), "slot {s}");
        }
    }

    /// Stage 1b's guesses: an entry at home is guessed from the home bucket; one that
    /// overflowed gets `FARTHER` there and its guess from the next bucket; a flow homed in
    /// a bucket nobody passed gets `NONE`.
    #[test]
    fn hints_come_from_home_then_from_the_next_bucket() {
        let mut idx = FlowIndex::new(2, 1);
        assert_eq!(idx.mask, 1);
        let at_home = |tag: u64| FlowHash(tag << 48);
        for s in 0..10u32 {
            assert!(idx.insert(at_home(3 + 2 * s as u64), s, Direction::FromServer));
        }
        for s in 0..10u32 {
            let h = at_home(3 + 2 * s as u64);
            let hint = idx.first_candidate(h);
            let hint = if s < 8 {
                hint
            } else {
                assert_eq!(hint, Hint::FARTHER, "slot {s} overflowed");
                idx.next_candidate(h)
            };
            assert_eq!(hint.hit(), Some(Hit { slot: s, dir: Direction::FromServer }), "slot {s}");
        }
        // Absent: homed in bucket 0 (which entries passed), then in bucket 1 (none did).
        let absent = at_home(99);
        assert_eq!(idx.first_candidate(absent), Hint::FARTHER);
        assert_eq!(idx.next_candidate(absent), Hint::FARTHER);
        assert_eq!(idx.first_candidate(FlowHash(99 << 48 | 1)), Hint::NONE);
        // FARTHER names no slot a table has.
        assert_eq!(Hint::FARTHER.hit().map(|h| h.slot as usize), Some(FlowIndex::MAX_SLOTS));
    }

    /// NONE means absent (the burst stages skip the fast path's lookup on it): at any
    /// load, every filed flow gets a guess or FARTHER.
    #[test]
    fn a_filed_flow_never_gets_none() {
        for seed in 0..8 {
            let mut idx = FlowIndex::new(96, seed);
            for i in 0..(idx.mask as u32 + 1) * 7 {
                if !idx.insert(idx.hash(&key(i)), i, Direction::FromClient) {
                    break;
                }
                for j in (0..=i).step_by(7) {
                    assert_ne!(idx.first_candidate(idx.hash(&key(j))), Hint::NONE, "seed {seed} flow {j}");
                }
            }
        }
    }

    #[test]
    fn hash_spreads_sequential_ports() {
        let idx = FlowIndex::new(1 << 16, 3);
        let mut per = vec![0u32; idx.mask + 1];
        for i in 0..(1 << 16) {
            per[idx.home(idx.hash(&key(i)))] += 1;
        }
        let max = *per.iter().max().unwrap();
        // 65536 flows over 16384 buckets: 4 on average; a poor hash piles dozens up.
        assert!(max <= 16, "max {max} flows in one bucket");
    }
}
