//! Client flows filed by position: a session lives in the slot whose number is the
//! position of its client flow's 16-bit tag in a line of 32 tags.
//!
//! Why: at ten million sessions a lookup through the flow index waits on memory twice,
//! for the bucket and then for the slot. The tags take 2 bytes a position (about 3 a
//! session, 29 MB at 10M), few enough to stay in the cache while the slots stream
//! through it, so that a client packet waits on memory once, for its slot. Reply flows,
//! and the few client flows whose line was full, stay in the flow index (`index.rs`).
//!
//! A flow's line comes from its hash; within the line, its own group of eight is tried
//! first (one vector compare), then the rest. A position whose tag is 0 is free. One
//! holding `TAKEN` is a session's whose client flow found its own line full: it took
//! a free position in a line after it, and its client flow is filed in the index.

use super::index::FlowHash;

const GROUP: usize = 8;
const GROUPS: usize = 4;
/// Positions a line.
pub const WAYS: usize = GROUP * GROUPS;
/// The tag of a position taken by an overflowed session: even, and every flow's tag is
/// odd (`FlowHash::tag`), so no lookup matches it.
const TAKEN: u16 = 2;
/// Positions per session of capacity, as a fraction: a full table's line holds 22.4
/// sessions on average, and about one session in 700 finds its line full.
const POSITIONS_PER_SESSION: (usize, usize) = (10, 7);

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct TagLine([[u16; GROUP]; GROUPS]);

const _: () = assert!(std::mem::size_of::<TagLine>() == 64);

/// `ClientTags::first` of a flow whose tag its line does not hold.
pub const NO_POSITION: usize = usize::MAX;

/// Where `ClientTags::take` put a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// In its client flow's own line: found by its tag.
    ByTag(usize),
    /// Elsewhere, its line full: found through the index.
    Overflowed(usize),
}

pub struct ClientTags {
    lines: Vec<TagLine>,
}

impl ClientTags {
    /// Tags for a table of `capacity` sessions, `advice` called on their memory before
    /// its first write (`pipeline::MemAdvice`).
    pub fn with_advice(capacity: usize, advice: Option<crate::pipeline::MemAdvice>) -> Self {
        let (num, den) = POSITIONS_PER_SESSION;
        let n = (capacity * num).div_ceil(den).div_ceil(WAYS).max(1);
        let mut lines: Vec<TagLine> = Vec::with_capacity(n);
        if let Some(advise) = advice {
            advise(lines.as_ptr() as *const u8, n * std::mem::size_of::<TagLine>());
        }
        lines.resize(n, TagLine([[0; GROUP]; GROUPS]));
        ClientTags { lines }
    }

    /// Slot numbers are below this.
    pub fn positions(&self) -> usize {
        self.lines.len() * WAYS
    }

    pub fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<TagLine>()
    }

    pub fn region(&self) -> (*const u8, usize) {
        (self.lines.as_ptr() as *const u8, self.bytes())
    }

    /// The flow's line: bits the index's bucket choice and the tag do not use, scaled
    /// to the number of lines (a multiply, not a modulo).
    #[inline(always)]
    pub(super) fn line(&self, h: FlowHash) -> usize {
        (((h.bits() >> 16) as u32 as u64 * self.lines.len() as u64) >> 32) as usize
    }

    #[inline(always)]
    fn group(h: FlowHash) -> usize {
        (h.bits() >> 8) as usize % GROUPS
    }

    /// The flow's own group of eight in line `l` and the position of its first way: the
    /// group's first way as a mask of the hash (no multiply, no bounds check).
    #[inline(always)]
    fn own_group(&self, l: usize, h: FlowHash) -> (&[u16; GROUP], usize) {
        let first = (h.bits() >> 5) as usize & (WAYS - GROUP);
        let ways = self.lines[l].0.as_flattened();
        let group = ways[first..first + GROUP].first_chunk::<GROUP>();
        (group.unwrap_or(&[0; GROUP]), l * WAYS + first)
    }

    /// Address of the flow's line, for a prefetch (burst stage 1a).
    #[inline(always)]
    pub fn line_addr(&self, h: FlowHash) -> *const u8 {
        self.lines.as_ptr().wrapping_add(self.line(h)) as *const u8
    }

    /// The first position of the flow's line holding its tag, its own group first: the
    /// slot to try (it may hold another flow of the same tag); `NO_POSITION` for none.
    #[inline(always)]
    pub fn first(&self, h: FlowHash) -> usize {
        let l = self.line(h);
        let ((group, at), tag) = (self.own_group(l, h), h.tag());
        let m = rvs_cpu::eq_u16x8(group, tag);
        if m != 0 {
            return at + m.trailing_zeros() as usize / 2;
        }
        self.first_elsewhere(l, Self::group(h), tag)
    }

    /// The position `take` would give the flow if its own group has one free, else
    /// `NO_POSITION` (for a prefetch).
    #[inline(always)]
    pub fn first_free(&self, h: FlowHash) -> usize {
        let (group, at) = self.own_group(self.line(h), h);
        let m = rvs_cpu::eq_u16x8(group, 0);
        if m == 0 {
            return NO_POSITION;
        }
        at + m.trailing_zeros() as usize / 2
    }

    /// `first` past the flow's own group: a flow whose group was full when it came.
    #[inline(never)]
    fn first_elsewhere(&self, l: usize, own: usize, tag: u16) -> usize {
        let m = self.ways_of(l, own, tag);
        if m == 0 {
            return NO_POSITION;
        }
        l * WAYS + (m.trailing_zeros() as usize / 2 + own * GROUP) % WAYS
    }

    /// The positions of the flow's line holding its tag, until `is` says one holds the
    /// flow (a flow is in one position at most: in any order).
    #[inline]
    pub fn find(&self, h: FlowHash, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let l = self.line(h);
        let mut m = self.ways_of(l, 0, h.tag());
        while m != 0 {
            let pos = l * WAYS + m.trailing_zeros() as usize / 2;
            m &= m - 1;
            m &= m - 1;
            if is(pos) {
                return Some(pos);
            }
        }
        None
    }

    /// The ways of line `l` whose tag is `tag`, two bits each, rotated so that group
    /// `own`'s come first: four vector compares.
    #[inline(always)]
    fn ways_of(&self, l: usize, own: usize, tag: u16) -> u64 {
        let line = &self.lines[l].0;
        let m = line
            .iter()
            .enumerate()
            .fold(0u64, |m, (g, group)| m | (rvs_cpu::eq_u16x8(group, tag) as u64) << (16 * g));
        m.rotate_right(16 * own as u32)
    }

    /// Takes a position for a new session whose client flow is hashed `h`: a free one in
    /// the flow's line (own group first), else the first free one in the lines after it.
    /// None only when every position is taken (a table filled past its capacity).
    pub fn take(&mut self, h: FlowHash) -> Option<Placed> {
        let pos = self.first_free(h);
        if pos != NO_POSITION {
            self.set(pos, h.tag());
            return Some(Placed::ByTag(pos));
        }
        // Its own group full: a free way elsewhere in the line.
        let (l, own) = (self.line(h), Self::group(h));
        let free = self.ways_of(l, own, 0);
        if free != 0 {
            let pos = l * WAYS + (free.trailing_zeros() as usize / 2 + own * GROUP) % WAYS;
            self.set(pos, h.tag());
            return Some(Placed::ByTag(pos));
        }
        let n = self.lines.len();
        let pos = (1..n).map(|d| (l + d) % n).find_map(|o| {
            let free = self.ways_of(o, 0, 0);
            (free != 0).then(|| o * WAYS + free.trailing_zeros() as usize / 2)
        })?;
        self.set(pos, TAKEN);
        Some(Placed::Overflowed(pos))
    }

    /// Whether the session at `pos` is one `take` placed `Overflowed`.
    #[inline]
    pub fn overflowed(&self, pos: usize) -> bool {
        self.get(pos) == TAKEN
    }

    /// Frees the position of a session removed.
    #[inline]
    pub fn free(&mut self, pos: usize) {
        self.set(pos, 0);
    }

    #[inline]
    fn get(&self, pos: usize) -> u16 {
        self.lines[pos / WAYS].0[pos % WAYS / GROUP][pos % GROUP]
    }

    #[inline]
    fn set(&mut self, pos: usize, tag: u16) {
        self.lines[pos / WAYS].0[pos % WAYS / GROUP][pos % GROUP] = tag;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::numbered_flow as key;
    use crate::session::FlowIndex;

    #[test]
    fn positions_cover_the_capacity_with_room_to_spare() {
        for cap in [1, 2, 31, 1000, 100_000] {
            let t = ClientTags::with_advice(cap, None);
            assert!(t.positions() * 7 >= cap * 10, "{cap}: {}", t.positions());
            assert!(t.positions() < (cap * 10 / 7 + WAYS).max(WAYS + 1), "{cap}: {}", t.positions());
        }
    }

    /// Filled to a table's capacity, then churned: every session is found at its
    /// position by its tag or marked overflowed, never both, and a freed position is
    /// found by nothing.
    #[test]
    fn every_session_is_found_by_its_tag_or_marked_overflowed() {
        let idx = FlowIndex::new(2, 9);
        let cap = 5000;
        let mut t = ClientTags::with_advice(cap, None);
        let mut at: Vec<Option<Placed>> = vec![None; 2 * cap];
        let (mut overflowed, mut placed) = (0, 0);
        for round in 0..4u32 {
            for i in 0..cap as u32 {
                let k = i + (round % 2) * cap as u32;
                let p = t.take(idx.hash(&key(k))).expect("below capacity");
                overflowed += matches!(p, Placed::Overflowed(_)) as usize;
                placed += 1;
                at[k as usize] = Some(p);
            }
            for (k, p) in at.iter().enumerate() {
                let h = idx.hash(&key(k as u32));
                match *p {
                    Some(Placed::ByTag(pos)) => {
                        assert!(!t.overflowed(pos));
                        assert!(t.find(h, |q| q == pos).is_some(), "key {k} at {pos}");
                        let first = t.first(h);
                        assert_eq!(t.get(first), h.tag());
                    }
                    Some(Placed::Overflowed(pos)) => {
                        assert!(t.overflowed(pos));
                        assert_eq!(t.find(h, |q| q == pos), None);
                    }
                    None => {}
                }
            }
            for p in at.iter_mut().filter_map(|p| p.take()) {
                let (Placed::ByTag(pos) | Placed::Overflowed(pos)) = p;
                t.free(pos);
            }
            assert!(t.lines.iter().all(|l| l.0.as_flattened().iter().all(|&x| x == 0)), "all freed");
        }
        // 0.7 a position: a session in hundreds overflows, not one in ten.
        assert!(overflowed * 50 < placed, "{overflowed} of {placed}");
    }

    #[test]
    fn a_full_line_overflows_to_the_next_free_position_and_a_full_table_refuses() {
        let mut t = ClientTags::with_advice(40, None);
        let lines = t.lines.len();
        assert!(lines >= 2);
        // Hashes of one line (bits 16..48 zero: line 0) and group 0, distinct odd tags.
        let h = |i: u64| FlowHash::from_bits((2 * i + 1) << 48);
        for i in 0..WAYS as u64 {
            assert!(matches!(t.take(h(i)), Some(Placed::ByTag(p)) if p < WAYS), "way {i}");
        }
        assert_eq!(t.take(h(WAYS as u64)), Some(Placed::Overflowed(WAYS)));
        assert_eq!(t.find(h(WAYS as u64), |_| true), None);
        for _ in WAYS + 1..t.positions() {
            assert!(t.take(h(0)).is_some());
        }
        assert_eq!(t.take(h(0)), None, "every position taken");
        t.free(3);
        assert_eq!(t.take(h(99)), Some(Placed::ByTag(3)), "a freed position in the line comes back");
    }
}
