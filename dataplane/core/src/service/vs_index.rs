//! The services of a snapshot by (protocol, VIP, vport): what every new connection
//! looks up.
//!
//! Built once per snapshot and only read after: open addressing over a power-of-two
//! table at most half full, the key packed in a u64 and placed by a multiplicative hash,
//! so that a lookup is a multiply and, mostly, one compare (a general hash map with a
//! keyed hasher costs several times that). Keys are configured services: a packet can
//! pick which key it asks for, not where the keys lie, and the probe sequences are short
//! at this load.

use super::snapshot::VsKey;

/// Marks an empty entry (no service has this many).
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(super) struct VsIndex {
    /// (packed key, service index), or `EMPTY` in the second.
    slots: Vec<(u64, u32)>,
    mask: usize,
}

impl Default for VsIndex {
    fn default() -> Self {
        VsIndex::new(std::iter::empty())
    }
}

#[inline]
fn pack(k: &VsKey) -> u64 {
    u64::from(k.0) << 48 | u64::from(u32::from(k.1)) << 16 | u64::from(k.2)
}

impl VsIndex {
    /// The index of `keys`, numbered in order; of a key given twice, the last.
    pub(super) fn new<'a>(keys: impl ExactSizeIterator<Item = &'a VsKey>) -> Self {
        let n = (keys.len() * 2).max(8).next_power_of_two();
        let mut t = VsIndex { slots: vec![(0, EMPTY); n], mask: n - 1 };
        for (i, k) in keys.enumerate() {
            let at = t.probe(pack(k));
            t.slots[at] = (pack(k), i as u32);
        }
        t
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & self.mask
    }

    /// The entry that holds `key`, or the empty one where it would go.
    #[inline]
    fn probe(&self, key: u64) -> usize {
        let mut i = self.home(key);
        loop {
            let (k, v) = self.slots[i];
            if v == EMPTY || k == key {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(super) fn get(&self, key: &VsKey) -> Option<u32> {
        let v = self.slots[self.probe(pack(key))].1;
        (v != EMPTY).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn finds_every_service_and_nothing_else() {
        let keys: Vec<VsKey> = (0..200u32)
            .map(|i| {
                (if i % 3 == 0 { 17 } else { 6 }, Ipv4Addr::from(0xc612_0064 + i / 7), 80 + (i % 7) as u16)
            })
            .collect();
        let t = VsIndex::new(keys.iter());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), Some(i as u32));
        }
        assert_eq!(t.get(&(6, Ipv4Addr::new(198, 18, 0, 100), 83)), None, "port 83 there is UDP's");
        assert_eq!(t.get(&(6, Ipv4Addr::new(10, 0, 0, 1), 80)), None);
        assert_eq!(VsIndex::default().get(&keys[0]), None);
        let dup = [keys[0], keys[1], keys[0]];
        assert_eq!(VsIndex::new(dup.iter()).get(&keys[0]), Some(2), "the last of a key given twice");
    }
}
