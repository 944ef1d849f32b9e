//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Conventions:
//! - [`sum`] returns a *partial* sum: a value that fits 16 bits, to be added to other partial
//!   sums in a `u32`/`u64` and folded with [`fold`]. Its value is the ones-complement sum of the
//!   data read as big-endian 16-bit words (an odd last byte padded with a zero byte), and is 0
//!   only when every byte is 0.
//! - [`checksum`] is the value to write into a checksum field: `!fold(sum)`.
//! - A packet verifies when the folded sum over it, checksum field included (plus the pseudo
//!   header for TCP/UDP), is `0xFFFF`.
//!
//! # Incremental updates
//!
//! [`update_u16`], [`update_u32`] and [`update_addr_v4`] implement RFC 1624 eqn. 3,
//! `HC' = ~(~HC + ~m + m')`, which (unlike eqn. 2) never turns a correct checksum into the
//! "negative zero" `0xFFFF`: starting from a checksum computed over data that is not all zero
//! (always the case for IPv4 headers and for TCP, whose pseudo header holds the protocol), the
//! result is bit-for-bit what a full recomputation would give.
//!
//! Because TCP and UDP checksums cover a pseudo header with the IP addresses, a NAT that
//! rewrites addresses must update the transport checksum with [`update_addr_v4`] as well as the
//! IP header checksum.
//!
//! **UDP rule**: a UDP checksum field of 0 means "no checksum" and must stay 0 after a rewrite,
//! and a computed checksum of 0 is sent as `0xFFFF`. Use the `update_udp_*` variants for UDP:
//! they return 0 for 0 and map a 0 result to `0xFFFF`. (The plain variants would turn "none"
//! into a bogus value.)

use std::net::Ipv4Addr;

use super::IpProtocol;

/// Ones-complement sum of `data` as big-endian 16-bit words, folded to 16 bits (so the result
/// is at most `0xFFFF`). Works for any length and alignment: it reads 8 bytes at a time in
/// native order (the ones-complement sum is byte-order independent, RFC 1071 §2(B)) and swaps
/// the result back once at the end.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = acc.overflowing_add(w);
        // End-around carry; cannot overflow again since s <= 2^64 - 2 when carry is set.
        acc = s + carry as u64;
    }
    // The last 0 to 7 bytes as one word, zero-padded at the end, which keeps every byte at
    // its even/odd position (all the chunks before started at even offsets). Built from
    // 4-, 2- and 1-byte reads: a copy of a variable length would be a memcpy call.
    let mut rest = chunks.remainder();
    let mut tail = [0u8; 8];
    let mut at = 0;
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        tail[..4].copy_from_slice(w);
        (at, rest) = (4, r);
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        tail[at..at + 2].copy_from_slice(w);
        at += 2;
        rest = r;
    }
    if let Some(&b) = rest.first() {
        tail[at] = b;
    }
    let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(tail));
    acc = s + carry as u64;
    let folded = fold_raw(acc);
    // `folded` is the sum of native-order words: its native byte representation is the
    // big-endian sum.
    u16::from_be_bytes(folded.to_ne_bytes()) as u32
}

/// Folds a 64-bit sum to 16 bits with end-around carries (without complementing).
#[inline]
fn fold_raw(s: u64) -> u16 {
    // Adding a word to itself rotated by half its width puts the end-around-carry sum of
    // its halves in the upper half: 64 → 32 → 16 bits in two steps, no loop.
    // (The carry out of the low half lands in the upper half: that is the end-around
    // carry; the carry out of the whole word is the same carry counted again, dropped.)
    let t = s.wrapping_add(s.rotate_right(32));
    let s = (t >> 32) as u32;
    let t = s.wrapping_add(s.rotate_right(16));
    (t >> 16) as u16
}

/// The one's-complement sum of a 20-byte IPv4 header (no options), as five 32-bit words.
#[inline]
pub fn sum_ipv4_header(h: &[u8; 20]) -> u64 {
    let w = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
    w(0) + w(4) + w(8) + w(12) + w(16)
}

/// Folds a sum of partial sums (from [`sum`], [`pseudo_header_v4`] or plain 16-bit words) to 16
/// bits with end-around carries. Does not complement: the checksum field value is `!fold(s)`.
#[inline]
pub fn fold(sum: impl Into<u64>) -> u16 {
    fold_raw(sum.into())
}

/// `fold` of a sum that fits 32 bits (a few 16-bit words): one step, not two.
#[inline(always)]
pub fn fold32(s: u32) -> u16 {
    // As `fold_raw`'s second step: the end-around-carry sum of the halves lands on top.
    (s.wrapping_add(s.rotate_right(16)) >> 16) as u16
}

/// The ones' complement sum of two 16-bit words: an add whose carry comes back in at
/// the bottom (an add and an add-with-carry): `fold32(a + b)`, without the fold.
#[inline(always)]
pub const fn add16(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u16)
}

/// Partial sum of the IPv4 pseudo header used by TCP and UDP: source and destination
/// addresses, zero, protocol, and the transport length (TCP: header plus data; UDP: the UDP
/// length field).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, len: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto.0 as u32 + len as u32
}

/// The checksum field value for `data` alone (e.g. an IPv4 header or an ICMP message, with
/// their checksum field set to 0).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word covered by `csum` changed from `old`
/// to `new`. Not for UDP (see [`update_udp_u16`]).
#[inline]
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(!csum as u32 + !old as u32 + new as u32)
}

/// RFC 1624 eqn. 3 for a 32-bit field (two adjacent, 16-bit aligned words). Not for UDP (see
/// [`update_udp_u32`]).
#[inline]
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let s = !csum as u32 + (!old >> 16) + (!old & 0xffff) + (new >> 16) + (new & 0xffff);
    !fold(s)
}

/// RFC 1624 eqn. 3 for an IPv4 address change, in the IP header or in a TCP pseudo header.
/// Not for UDP (see [`update_udp_addr_v4`]).
#[inline]
pub fn update_addr_v4(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(csum, u32::from(old), u32::from(new))
}

/// Maps an updated UDP checksum: a field of 0 ("none") stays 0; a result of 0 is sent as
/// `0xFFFF`.
#[inline]
fn udp_result(csum: u16, f: impl FnOnce(u16) -> u16) -> u16 {
    if csum == 0 {
        return 0;
    }
    match f(csum) {
        0 => 0xffff,
        c => c,
    }
}

/// [`update_u16`] with the UDP zero rule: 0 stays 0 (no checksum), a 0 result becomes 0xFFFF.
#[inline]
pub fn update_udp_u16(csum: u16, old: u16, new: u16) -> u16 {
    udp_result(csum, |c| update_u16(c, old, new))
}

/// [`update_u32`] with the UDP zero rule.
#[inline]
pub fn update_udp_u32(csum: u16, old: u32, new: u32) -> u16 {
    udp_result(csum, |c| update_u32(c, old, new))
}

/// [`update_addr_v4`] with the UDP zero rule (for the addresses in the UDP pseudo header).
#[inline]
pub fn update_udp_addr_v4(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    udp_result(csum, |c| update_addr_v4(c, old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook RFC 1071 loop, as reference.
    fn reference_sum(data: &[u8]) -> u32 {
        let mut s: u64 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u16::from_be_bytes([data[i], data[i + 1]]) as u64;
            i += 2;
        }
        if i < data.len() {
            s += (data[i] as u64) << 8;
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u32
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&d), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn odd_lengths_and_edges() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0xab, 0xcd, 0xef]), 0xabcd + 0xef00 - 0xffff);
        assert_eq!(sum(&[0xff; 9]), 0xff00);
        assert_eq!(sum(&[0; 17]), 0);
        assert_eq!(checksum(&[0; 4]), 0xffff);
        // A big buffer exercises many carries.
        let big = vec![0xffu8; 100_001];
        assert_eq!(sum(&big), reference_sum(&big));
    }

    #[test]
    fn udp_zero_rule() {
        assert_eq!(update_udp_u16(0, 0x1234, 0x5678), 0);
        assert_eq!(update_udp_addr_v4(0, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8)), 0);
        // A change that makes the sum come out at 0 is sent as 0xFFFF: with csum 0xFFFF (a
        // computed 0) and an unchanged word, the plain update gives 0.
        assert_eq!(update_u16(0xffff, 0x1111, 0x1111), 0);
        assert_eq!(update_udp_u16(0xffff, 0x1111, 0x1111), 0xffff);
    }

    #[test]
    fn incremental_matches_full_on_ip_header() {
        // A real header: 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7 (Wikipedia).
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum(&h)), 0xffff);
        let c = update_u32(0xb861, 0xc0a8_0001, 0x0a00_0001);
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[10] = 0;
        h[11] = 0;
        assert_eq!(c, checksum(&h));
    }

    /// The loop it replaces, as the reference.
    fn fold_slow(mut s: u64) -> u16 {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn fold_edges() {
        for s in [0u64, 1, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, u64::MAX, u64::MAX - 1, 0xffff_0001]
        {
            assert_eq!(fold(s), fold_slow(s), "{s:#x}");
        }
    }

    /// `add16` at the edges of ones' complement (its two zeros, the carries) against the
    /// fold of the sum, over every pair and triple of a set of awkward words.
    #[test]
    fn add16_at_the_edges() {
        let edge = [0u16, 1, 2, 0x7fff, 0x8000, 0x8001, 0xfeff, 0xfffe, 0xffff];
        for &a in &edge {
            for &b in &edge {
                assert_eq!(add16(a, b), fold32(a as u32 + b as u32), "{a:#x} + {b:#x}");
                for &c in &edge {
                    let chained = add16(add16(a, b), c);
                    assert_eq!(chained, fold32(a as u32 + b as u32 + c as u32), "{a:#x} + {b:#x} + {c:#x}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn fold_matches_the_loop(s in any::<u64>()) {
            prop_assert_eq!(fold(s), fold_slow(s));
        }

        #[test]
        fn fold32_matches_the_loop(s in any::<u32>()) {
            prop_assert_eq!(fold32(s), fold_slow(s as u64));
        }

        #[test]
        fn add16_chains_match_the_fold_of_the_sum(words in proptest::collection::vec(any::<u16>(), 1..6)) {
            let chained = words.iter().fold(0u16, |acc, &w| add16(acc, w));
            let summed = fold32(words.iter().map(|&w| w as u32).sum());
            prop_assert_eq!(chained, summed);
        }

        #[test]
        fn sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..600), off in 0usize..16) {
            let off = off.min(data.len());
            prop_assert_eq!(sum(&data[off..]), reference_sum(&data[off..]));
        }

        #[test]
        fn update_u16_matches_full(mut words in proptest::collection::vec(any::<u16>(), 2..40),
                                   idx in any::<prop::sample::Index>(), new in any::<u16>()) {
            // Word 0 is the checksum field; make the data nonzero like any real header.
            words[1] |= 1;
            let i = 1 + idx.index(words.len() - 1);
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
            words[0] = 0;
            let c = checksum(&bytes(&words));
            let old = words[i];
            words[i] = new;
            let full = checksum(&bytes(&words));
            if words.iter().skip(1).any(|&w| w != 0) {
                prop_assert_eq!(update_u16(c, old, new), full);
            }
        }
    }
}
