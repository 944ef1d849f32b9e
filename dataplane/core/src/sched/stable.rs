//! Deterministic hashing: the same bits on every process, machine and release, so that
//! every cluster member builds the same Maglev table and sends a client to the same
//! server. No random seeds, no `std` hasher (whose algorithm may change), explicit byte
//! order. The mixer is the MurmurHash3/SplitMix64 finaliser, a bijection on u64 with
//! full avalanche.

use std::net::IpAddr;

/// Fixed seeds (digits of pi), one per use so the derived hashes are independent.
pub const SEED_OFFSET: u64 = 0x243f_6a88_85a3_08d3;
pub const SEED_SKIP: u64 = 0x1319_8a2e_0370_7344;
pub const SEED_KEY: u64 = 0xa409_3822_299f_31d0;
pub const SEED_ID: u64 = 0x082e_fa98_ec4e_6c89;

#[inline]
pub const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Hash of a sequence of words under `seed`.
#[inline]
pub fn hash_words(seed: u64, words: &[u64]) -> u64 {
    let mut h = mix64(seed);
    for &w in words {
        h = mix64(h ^ w).wrapping_add(0x9e37_79b9_7f4a_7c15);
    }
    mix64(h ^ words.len() as u64)
}

/// An address as two words: IPv4 as its IPv4-mapped IPv6 form, so families never collide.
#[inline]
pub fn ip_words(ip: IpAddr) -> [u64; 2] {
    let v6 = match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let n = u128::from(v6);
    [(n >> 64) as u64, n as u64]
}

/// Identity of a real server, from its address and port.
#[inline]
pub fn addr_id(ip: IpAddr, port: u16) -> u64 {
    let [hi, lo] = ip_words(ip);
    hash_words(SEED_ID, &[hi, lo, u64::from(port)])
}

/// IPVS's address fold for its dh/sh hashes: IPv4 as is, IPv6 as the xor of its words.
#[inline]
pub fn ipvs_fold(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4)
                .fold(0, |f, k| f ^ u32::from_be_bytes([o[4 * k], o[4 * k + 1], o[4 * k + 2], o[4 * k + 3]]))
        }
    }
}

/// Linux `hash_32`: the top `bits` bits of `val * GOLDEN_RATIO_32`.
#[inline]
pub const fn hash_32(val: u32, bits: u8) -> u32 {
    val.wrapping_mul(0x61c8_8647) >> (32 - bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn values_are_pinned() {
        // These exact values are part of the cluster protocol: a change here makes
        // members disagree during an upgrade. Change them only on purpose.
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0xb456_bcfc_34c2_cb2c);
        assert_eq!(
            addr_id(Ipv4Addr::new(10, 0, 0, 1).into(), 80),
            addr_id(Ipv4Addr::new(10, 0, 0, 1).into(), 80)
        );
        assert_ne!(
            addr_id(Ipv4Addr::new(10, 0, 0, 1).into(), 80),
            addr_id(Ipv4Addr::new(10, 0, 0, 1).into(), 81)
        );
        assert_ne!(
            addr_id(Ipv4Addr::new(10, 0, 0, 1).into(), 80),
            addr_id(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_compatible().into(), 80)
        );
    }

    #[test]
    fn ipvs_helpers() {
        assert_eq!(ipvs_fold(Ipv4Addr::new(1, 2, 3, 4).into()), 0x0102_0304);
        let v6: Ipv6Addr = "1:2:3:4:5:6:7:8".parse().unwrap();
        assert_eq!(ipvs_fold(v6.into()), 0x0001_0002 ^ 0x0003_0004 ^ 0x0005_0006 ^ 0x0007_0008);
        assert_eq!(hash_32(1, 8), 0x61);
        assert!(hash_32(u32::MAX, 8) < 256);
    }
}
