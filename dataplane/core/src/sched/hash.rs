//! Static hashing schedulers of IPVS, over a table of 2^bits buckets (IPVS: 256):
//!
//! - `dh` (destination hashing): buckets are dealt to the servers in turn, one each;
//!   the destination address picks the bucket. An unavailable server means no server.
//! - `sh` (source hashing): a server of weight w gets w consecutive buckets in turn (a
//!   quiescent one still gets one, as in IPVS, but is never chosen); the source
//!   address (plus the source port with `sh-port`) picks the bucket. With
//!   `sh-fallback`, an unavailable server's keys go on to further buckets, rehashed
//!   with increasing offsets, up to one turn of the table.
//!
//! The bucket hash is Linux's `hash_32(addr_fold + port, bits)` with IPVS's offsets, so
//! a table dealt the same way maps keys like IPVS. Like IPVS, with the default 256
//! buckets only the first servers get buckets when the weights sum to more than 256.

use super::stable::{hash_32, ipvs_fold};
use super::{Candidates, SchedKey};

pub const DEFAULT_BITS: u8 = 8;

/// Index of no server (an empty list).
const NONE: u32 = u32::MAX;

fn bucket_of(fold: u32, port: u16, offset: u32, bits: u8) -> usize {
    let mask = (1u32 << bits) - 1;
    (offset.wrapping_add(hash_32(fold.wrapping_add(u32::from(port)), bits)) & mask) as usize
}

#[derive(Debug, Clone)]
pub struct DestHash {
    bits: u8,
    buckets: Box<[u32]>,
}

impl DestHash {
    pub fn new(bits: u8) -> Self {
        DestHash { bits, buckets: vec![NONE; 1 << bits].into() }
    }

    /// IPVS `ip_vs_dh_reassign`: bucket i → server i mod n.
    pub fn update<V: Candidates + ?Sized>(&mut self, reals: &V) {
        let n = reals.len();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            *b = if n == 0 { NONE } else { (i % n) as u32 };
        }
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V, key: &SchedKey) -> Option<usize> {
        let b = bucket_of(ipvs_fold(key.dst), 0, 0, self.bits);
        let i = self.buckets[b] as usize;
        (i < reals.len() && reals.available(i)).then_some(i)
    }
}

#[derive(Debug, Clone)]
pub struct SourceHash {
    bits: u8,
    fallback: bool,
    port: bool,
    buckets: Box<[u32]>,
}

impl SourceHash {
    pub fn new(bits: u8, fallback: bool, port: bool) -> Self {
        SourceHash { bits, fallback, port, buckets: vec![NONE; 1 << bits].into() }
    }

    /// IPVS `ip_vs_sh_reassign`: servers in turn, each for max(weight, 1) buckets.
    pub fn update<V: Candidates + ?Sized>(&mut self, reals: &V) {
        let n = reals.len();
        let (mut d, mut count) = (0, 0u32);
        for b in self.buckets.iter_mut() {
            if n == 0 {
                *b = NONE;
                continue;
            }
            *b = d as u32;
            count += 1;
            if count >= reals.weight(d) {
                d = (d + 1) % n;
                count = 0;
            }
        }
    }

    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V, key: &SchedKey) -> Option<usize> {
        let fold = ipvs_fold(key.src);
        let port = if self.port { key.sport } else { 0 };
        let usable = |i: u32| (i as usize) < reals.len() && reals.available(i as usize);
        let ihash = bucket_of(fold, port, 0, self.bits);
        let first = self.buckets[ihash];
        if usable(first) {
            return Some(first as usize);
        }
        if !self.fallback || first == NONE {
            return None;
        }
        // IPVS `ip_vs_sh_get_fallback`: loop around the table starting from ihash.
        let size = self.buckets.len();
        for offset in 0..size {
            let roffset = ((offset + ihash) % size) as u32;
            let i = self.buckets[bucket_of(fold, port, roffset, self.bits)];
            if usable(i) {
                return Some(i as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use std::net::Ipv4Addr;

    fn key(src: u32, sport: u16, dst: u32) -> SchedKey {
        SchedKey::v4(Ipv4Addr::from(src), sport, Ipv4Addr::from(dst), 80)
    }

    #[test]
    fn sh_deals_weighted_buckets_like_ipvs() {
        let mut s = SourceHash::new(3, false, false);
        s.update(&weights(&[2, 0, 3]));
        assert_eq!(&*s.buckets, &[0, 0, 1, 2, 2, 2, 0, 0]);
        let mut d = DestHash::new(3);
        d.update(&weights(&[2, 0, 3]));
        assert_eq!(&*d.buckets, &[0, 1, 2, 0, 1, 2, 0, 1]);
    }

    #[test]
    fn sh_is_stable_for_a_source_and_spreads_sources() {
        let r = weights(&[1, 1, 1, 1]);
        let mut s = SourceHash::new(DEFAULT_BITS, false, false);
        s.update(&r);
        let mut seen = [0u32; 4];
        for c in 0..1000u32 {
            let src = 0x0a00_0000 + c * 7919;
            let first = s.pick(&r, &key(src, 1, 9)).unwrap();
            for port in [2, 3, 60000] {
                assert_eq!(s.pick(&r, &key(src, port, 9 + port as u32)), Some(first));
            }
            seen[first] += 1;
        }
        assert!(seen.iter().all(|&n| n > 150), "{seen:?}");
    }

    #[test]
    fn sh_port_spreads_one_source() {
        let r = weights(&[1, 1, 1, 1]);
        let mut s = SourceHash::new(DEFAULT_BITS, false, true);
        s.update(&r);
        let mut seen = [0u32; 4];
        for port in 1000..2000 {
            let i = s.pick(&r, &key(0x0a00_0001, port, 9)).unwrap();
            assert_eq!(s.pick(&r, &key(0x0a00_0001, port, 9)), Some(i));
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&n| n > 150), "{seen:?}");
    }

    #[test]
    fn sh_weights_shape_the_share() {
        let r = weights(&[1, 3]);
        let mut s = SourceHash::new(DEFAULT_BITS, false, false);
        s.update(&r);
        let mut seen = [0u64; 2];
        for c in 0..40_000u32 {
            seen[s.pick(&r, &key(c.wrapping_mul(2_654_435_761), 0, 0)).unwrap()] += 1;
        }
        let share = seen[1] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{seen:?}");
    }

    #[test]
    fn sh_fallback_moves_only_the_unavailable_servers_keys() {
        let mut r = weights(&[1, 1, 1]);
        let mut plain = SourceHash::new(DEFAULT_BITS, false, false);
        let mut fb = SourceHash::new(DEFAULT_BITS, true, false);
        plain.update(&r);
        fb.update(&r);
        let before: Vec<_> = (0..300u32).map(|c| fb.pick(&r, &key(c, 0, 0)).unwrap()).collect();
        r[1].w = 0;
        for (c, &b) in (0..300u32).zip(&before) {
            let k = key(c, 0, 0);
            if b == 1 {
                assert_eq!(plain.pick(&r, &k), None);
                assert_ne!(fb.pick(&r, &k), Some(1));
                assert!(fb.pick(&r, &k).is_some());
            } else {
                assert_eq!(fb.pick(&r, &k), Some(b));
                assert_eq!(plain.pick(&r, &k), Some(b));
            }
        }
        r[0].o = true;
        r[2].o = true;
        assert_eq!(fb.pick(&r, &key(1, 0, 0)), None);
    }

    #[test]
    fn dh_hashes_the_destination_only() {
        let r = weights(&[1, 1, 1]);
        let mut d = DestHash::new(DEFAULT_BITS);
        d.update(&r);
        let mut seen = [0u32; 3];
        for dst in 0..300u32 {
            let i = d.pick(&r, &key(1, 1, dst)).unwrap();
            for src in [2, 3, 4] {
                assert_eq!(d.pick(&r, &key(src, src as u16, dst)), Some(i));
            }
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&n| n > 70), "{seen:?}");
        // Unavailable: none, no fallback in dh.
        let mut q = r.clone();
        let i = d.pick(&r, &key(1, 1, 77)).unwrap();
        q[i].w = 0;
        assert_eq!(d.pick(&q, &key(1, 1, 77)), None);
    }
}
