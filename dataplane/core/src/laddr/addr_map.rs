//! A map keyed by local address (LIP), for the port pools every new connection takes a
//! port from: the addresses in an `OpenIndex` to the number of their value. A worker uses
//! a handful of LIPs, added as services first use them and never removed.

use std::net::Ipv4Addr;

use crate::open_index::{NoValue, OpenIndex};

#[derive(Debug)]
pub(super) struct AddrMap<T> {
    index: OpenIndex<u32>,
    values: Vec<T>,
}

impl<T> Default for AddrMap<T> {
    fn default() -> Self {
        AddrMap { index: OpenIndex::with_capacity(0), values: Vec::new() }
    }
}

impl<T> AddrMap<T> {
    /// The number of `a`'s value (for `value_mut`), if it has one.
    #[inline]
    pub(super) fn find(&self, a: Ipv4Addr) -> Option<u32> {
        let v = self.index.get(u32::from(a).into());
        (v != u32::NONE).then_some(v)
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
        let v = self.values.len() as u32;
        self.values.push(value);
        self.index.insert(u32::from(a).into(), v);
        v
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
