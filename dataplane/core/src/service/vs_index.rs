//! The services of a snapshot by (protocol, VIP, vport): what every new connection
//! looks up. Built once per snapshot (`OpenIndex`), the key packed in a u64.

use super::snapshot::VsKey;
use crate::open_index::{NoValue, OpenIndex};

#[derive(Debug, Clone)]
pub(super) struct VsIndex(OpenIndex<u32>);

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
        let mut t = OpenIndex::with_capacity(keys.len());
        for (i, k) in keys.enumerate() {
            t.insert(pack(k), i as u32);
        }
        VsIndex(t)
    }

    #[inline]
    pub(super) fn get(&self, key: &VsKey) -> Option<u32> {
        let v = self.0.get(pack(key));
        (v != u32::NONE).then_some(v)
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
