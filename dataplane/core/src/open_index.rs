//! A small map from 64-bit keys to `Copy` values, for the tables the packet path reads
//! that configuration fills: our addresses (`pipeline::classify::AddrTable`), the services
//! of a snapshot by (protocol, VIP, vport) (`service::vs_index`), the port pools by LIP
//! (`laddr::addr_map`).
//!
//! Open addressing with linear probing over a power-of-two table kept at most half full,
//! placed by a multiplicative hash: a lookup is a multiply and, mostly, one compare (a
//! general hash map with a keyed hasher costs several times that per packet). The keys
//! are configuration, not packet data, so nobody outside can aim them at one slot; a
//! packet only picks which key it asks for. Entries are never removed: tables are rebuilt
//! with the configuration.

/// The key of an empty entry.
const EMPTY: u64 = u64::MAX;

/// A value type's "no value", what `get` gives for a missing key.
pub trait NoValue: Copy {
    const NONE: Self;
}

impl NoValue for u32 {
    const NONE: u32 = u32::MAX;
}

/// The map. The key `u64::MAX` marks an empty entry and cannot be used (ours are
/// addresses and packed tuples of fewer bits).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIndex<V> {
    slots: Vec<(u64, V)>,
    mask: usize,
    len: usize,
}

impl<V: NoValue> OpenIndex<V> {
    /// An empty map with room for `n` keys before it grows.
    pub fn with_capacity(n: usize) -> Self {
        let size = (n * 2).max(8).next_power_of_two();
        OpenIndex { slots: vec![(EMPTY, V::NONE); size], mask: size - 1, len: 0 }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & self.mask
    }

    /// The entry that holds `key`, or the empty one where it would go (there is one: the
    /// table is never more than half full).
    #[inline]
    fn probe(&self, key: u64) -> usize {
        let mut i = self.home(key);
        while self.slots[i].0 != key && self.slots[i].0 != EMPTY {
            i = (i + 1) & self.mask;
        }
        i
    }

    /// The value of `key`, or `V::NONE`. Compares keys only (a value's `==` may be dearer).
    #[inline]
    pub fn get(&self, key: u64) -> V {
        let mut i = self.home(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return v;
            }
            if k == EMPTY {
                return V::NONE;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Sets the value of `key` (replacing any), growing to stay at most half full.
    /// `key` must not be `u64::MAX`.
    pub fn insert(&mut self, key: u64, value: V) {
        debug_assert!(key != EMPTY, "the empty marker as a key");
        let i = self.probe(key);
        if self.slots[i].0 == EMPTY {
            if 2 * (self.len + 1) > self.slots.len() {
                self.grow();
                return self.insert(key, value);
            }
            self.len += 1;
        }
        self.slots[i] = (key, value);
    }

    /// Twice the entries, each placed again.
    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, V::NONE); n]);
        self.mask = n - 1;
        for (k, v) in old.into_iter().filter(|&(k, _)| k != EMPTY) {
            let i = self.probe(k);
            self.slots[i] = (k, v);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_through_growth_and_nothing_else() {
        let mut m = OpenIndex::<u32>::with_capacity(0);
        // Keys that differ only in high bits, and keys one apart: both probe far.
        let keys: Vec<u64> =
            (0..300u64).map(|i| if i % 2 == 0 { i << 40 } else { 0xc613_0000 + i }).collect();
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), u32::MAX);
            m.insert(k, n as u32);
            assert_eq!(m.get(k), n as u32);
        }
        assert_eq!(m.len(), 300);
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), n as u32, "key {k:#x} after growth");
        }
        m.insert(keys[7], 1234);
        assert_eq!((m.get(keys[7]), m.len()), (1234, 300), "replaced, not added");
        assert_eq!(m.get(1), u32::MAX);
        assert_eq!((keys[0], m.get(0)), (0, 0), "0 is a key like any other");
        assert_eq!(OpenIndex::<u32>::with_capacity(4).get(7), u32::MAX, "an empty map answers NONE");
    }
}
