//! A map keyed by local address (LIP), for the port pools every new connection takes a
//! port from.
//!
//! A worker uses a handful of LIPs, added as services first use them and never removed:
//! open addressing over a power-of-two table at most half full, keyed by a multiplicative
//! hash (as `pipeline::classify::AddrTable`), so that a lookup is a multiply and mostly one
//! probe, a fraction of what a general hash map with a keyed hasher costs per connection.
//! LIPs are configuration, not packet data: nobody outside can aim them at one slot.

use std::net::Ipv4Addr;

/// An empty entry of `slots` (values are numbered from 1).
const EMPTY: u32 = 0;

#[derive(Debug)]
pub(super) struct AddrMap<T> {
    /// (address, value index + 1), or `EMPTY` in the second.
    slots: Vec<(u32, u32)>,
    values: Vec<T>,
}

impl<T> Default for AddrMap<T> {
    fn default() -> Self {
        AddrMap { slots: vec![(0, EMPTY); 8], values: Vec::new() }
    }
}

impl<T> AddrMap<T> {
    #[inline]
    fn home(a: u32, mask: usize) -> usize {
        ((u64::from(a)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & mask
    }

    /// The slot that holds `a`, or the empty one where it would go.
    #[inline]
    fn probe(&self, a: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = Self::home(a, mask);
        loop {
            let (k, v) = self.slots[i];
            if v == EMPTY || k == a {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// The number of `a`'s value (for `value_mut`), if it has one.
    #[inline]
    pub(super) fn find(&self, a: Ipv4Addr) -> Option<u32> {
        let v = self.slots[self.probe(u32::from(a))].1;
        (v != EMPTY).then(|| v - 1)
    }

    /// Value number `v` (from `find` or `insert`).
    #[inline]
    pub(super) fn value_mut(&mut self, v: u32) -> &mut T {
        &mut self.values[v as usize]
    }

    #[inline]
    pub(super) fn get_mut(&mut self, a: Ipv4Addr) -> Option<&mut T> {
        let v = self.find(a)?;
        Some(self.value_mut(v))
    }

    /// The value of `a`, made by `make` if `a` has none yet.
    #[inline]
    pub(super) fn get_or_insert_with(&mut self, a: Ipv4Addr, make: impl FnOnce() -> T) -> &mut T {
        let v = match self.find(a) {
            Some(v) => v,
            None => self.insert(a, make()),
        };
        self.value_mut(v)
    }

    /// Adds `a` (not present) with `value`; returns its value number.
    #[cold]
    pub(super) fn insert(&mut self, a: Ipv4Addr, value: T) -> u32 {
        if 2 * (self.values.len() + 1) > self.slots.len() {
            self.grow();
        }
        self.values.push(value);
        let v = self.values.len() as u32;
        let key = u32::from(a);
        let i = self.probe(key);
        self.slots[i] = (key, v);
        v - 1
    }

    /// Twice the slots, every entry placed again.
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        let old = std::mem::replace(&mut self.slots, vec![(0, EMPTY); n]);
        for (k, v) in old.into_iter().filter(|&(_, v)| v != EMPTY) {
            let i = self.probe(k);
            self.slots[i] = (k, v);
        }
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.values.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_through_growth() {
        let mut m: AddrMap<u32> = AddrMap::default();
        let addrs: Vec<Ipv4Addr> =
            (0..300u32).map(|i| Ipv4Addr::from(0xc613_0000 + i * if i % 2 == 0 { 1 } else { 257 })).collect();
        for (n, &a) in addrs.iter().enumerate() {
            assert_eq!(m.get_mut(a), None);
            assert_eq!(*m.get_or_insert_with(a, || n as u32), n as u32);
            assert_eq!(*m.get_or_insert_with(a, || 9999), n as u32, "made once");
        }
        for (n, &a) in addrs.iter().enumerate() {
            assert_eq!(m.get_mut(a).copied(), Some(n as u32));
        }
        assert_eq!(m.get_mut(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(m.get_mut(Ipv4Addr::UNSPECIFIED), None);
        assert_eq!(m.values_mut().count(), 300);
    }
}
