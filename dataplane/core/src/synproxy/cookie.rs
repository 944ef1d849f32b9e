//! SYN cookies in the Linux style (`net/ipv4/syncookies.c`), keyed with SipHash-2-4.
//!
//! # Layout of the cookie (the ISN of our SYN/ACK)
//!
//! ```text
//! cookie = H(k, 4-tuple, 0) + client_isn + (counter << 24)
//!        + ((H(k, 4-tuple, counter) + mss_index) & 0x00ff_ffff)        (mod 2^32)
//! ```
//!
//! `counter` is the time in units of 64 s ([`cookie_counter`]), handed in by the caller: the
//! core never reads a clock. Validation subtracts the first hash and the client ISN (the ACK's
//! `seq - 1`), reads the 8-bit counter from the top, rejects cookies older than
//! [`MAX_COOKIE_AGE`] counters, then recovers the MSS index from the low 24 bits and accepts it
//! only when it is a valid index of [`MSS_TABLE`].
//!
//! # Options carried in the timestamp
//!
//! When the client sent timestamps, the low [`TS_OPT_BITS`] bits of the TSval of our SYN/ACK
//! carry the window scale (4 bits, 0xf = none), SACK-permitted (bit 4) and ECN (bit 5); the
//! client echoes them in the TSecr of its ACK ([`encode_ts_options`], [`decode_ts_options`]).
//! Without timestamps only the MSS survives (as in Linux).
//!
//! # Secrets and rotation
//!
//! [`CookieSecrets`] holds the current key and the previous one. The control plane generates
//! them and hands every worker the same immutable value (e.g. an `Arc` swapped in on the next
//! poll), so a cookie made on one core validates on any other. Cookies are always made with the
//! current key; validation accepts either key (within the age limit). Rotate at most once per
//! [`MIN_ROTATION_INTERVAL_SECS`] so that a cookie never outlives both keys while still young
//! enough to be accepted.

use std::net::Ipv4Addr;

use crate::time::Time;

/// Bits of the cookie that carry the hash + MSS index; the counter is above them.
pub const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// A cookie is valid when `now_counter - cookie_counter < MAX_COOKIE_AGE` (Linux:
/// `MAX_SYNCOOKIE_AGE`), i.e. for 64 to 128 s.
pub const MAX_COOKIE_AGE: u32 = 2;
/// Seconds per counter tick.
pub const COUNTER_PERIOD_SECS: u64 = 64;
/// Rotating more often than this could invalidate cookies that are still within their age.
pub const MIN_ROTATION_INTERVAL_SECS: u64 = COUNTER_PERIOD_SECS * (MAX_COOKIE_AGE as u64 + 1);

/// MSS values a cookie can carry (Linux `msstab`); the cookie holds the index of the largest
/// entry not above the client's MSS.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Low bits of TSval that carry options.
pub const TS_OPT_BITS: u32 = 6;
const TS_OPT_MASK: u32 = (1 << TS_OPT_BITS) - 1;
const TS_OPT_WSCALE_MASK: u32 = 0xf;
const TS_OPT_SACK: u32 = 1 << 4;
const TS_OPT_ECN: u32 = 1 << 5;
/// Largest window scale shift (RFC 7323 §2.3).
pub const MAX_WSCALE: u8 = 14;

/// The cookie counter for `now`: whole 64-second periods. Every worker must pass times from
/// the same clock origin (they share the process's [`crate::time::Clock`] start) so that their
/// counters agree; a drift of one period is absorbed by the age window.
#[inline]
pub fn cookie_counter(now: Time) -> u32 {
    (now.as_nanos() / (COUNTER_PERIOD_SECS * 1_000_000_000)) as u32
}

/// SipHash-2-4 (Aumasson & Bernstein) over `data` with the 128-bit key `(k0, k1)`, as the
/// reference implementation computes it (key and message words little-endian).
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    #[inline(always)]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretKey {
    k0: u64,
    k1: u64,
}

impl SecretKey {
    pub const fn from_bytes(b: [u8; 16]) -> SecretKey {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            lo[i] = b[i];
            hi[i] = b[8 + i];
            i += 1;
        }
        SecretKey { k0: u64::from_le_bytes(lo), k1: u64::from_le_bytes(hi) }
    }

    /// A fresh random key from the kernel (`/dev/urandom`). For the control plane only: the
    /// packet path never calls this.
    pub fn generate() -> std::io::Result<SecretKey> {
        use std::io::Read;
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        Ok(SecretKey::from_bytes(b))
    }

    /// The 32-bit keyed hash of a 4-tuple and a counter (Linux `cookie_hash`).
    #[inline]
    fn hash(&self, t: &FourTuple, count: u32, c: u8) -> u32 {
        let mut m = [0u8; 17];
        m[0..4].copy_from_slice(&t.saddr.octets());
        m[4..8].copy_from_slice(&t.daddr.octets());
        m[8..10].copy_from_slice(&t.sport.to_be_bytes());
        m[10..12].copy_from_slice(&t.dport.to_be_bytes());
        m[12..16].copy_from_slice(&count.to_be_bytes());
        m[16] = c;
        siphash24(self.k0, self.k1, &m) as u32
    }
}

/// Keys never show up in logs.
impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// The cookie keys every worker validates with: the current one (used to make cookies) and
/// the previous one (still accepted). Immutable: rotation builds a new value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieSecrets {
    current: SecretKey,
    previous: Option<SecretKey>,
    /// Bumped by every rotation; for logs and for workers to tell a new value from the old.
    generation: u64,
}

impl CookieSecrets {
    pub fn new(key: SecretKey) -> CookieSecrets {
        CookieSecrets { current: key, previous: None, generation: 0 }
    }

    /// The next generation: `key` becomes current, the current key becomes previous and the
    /// previous one is dropped.
    #[must_use]
    pub fn rotate(&self, key: SecretKey) -> CookieSecrets {
        CookieSecrets { current: key, previous: Some(self.current), generation: self.generation + 1 }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A secret seed for the session tables' flow hash, derived from the current key: a
    /// sender who cannot learn it cannot aim flows at one bucket (hash flooding).
    pub fn table_seed(&self) -> u64 {
        siphash24(self.current.k0, self.current.k1, b"rvs flow index seed")
    }

    /// The cookie for a client SYN with ISN `client_isn` on `tuple` (client → virtual
    /// address), carrying `mss_index` (< [`MSS_TABLE`] length), made at `counter`.
    pub fn make(&self, tuple: &FourTuple, client_isn: u32, counter: u32, mss_index: u8) -> u32 {
        make_with(&self.current, tuple, client_isn, counter, mss_index)
    }

    /// Checks the cookie of an ACK (`cookie` = the ACK's `ack - 1`, `client_isn` = its
    /// `seq - 1`) against the current key, then the previous one. Returns the MSS index.
    pub fn check(
        &self,
        tuple: &FourTuple,
        client_isn: u32,
        cookie: u32,
        counter: u32,
    ) -> Result<u8, CookieError> {
        let r = check_with(&self.current, tuple, client_isn, cookie, counter);
        match (r, &self.previous) {
            (Err(_), Some(prev)) => check_with(prev, tuple, client_isn, cookie, counter),
            _ => r,
        }
    }
}

fn make_with(key: &SecretKey, t: &FourTuple, client_isn: u32, counter: u32, mss_index: u8) -> u32 {
    key.hash(t, 0, 0)
        .wrapping_add(client_isn)
        .wrapping_add(counter << COOKIE_BITS)
        .wrapping_add(key.hash(t, counter, 1).wrapping_add(mss_index as u32) & COOKIE_MASK)
}

fn check_with(
    key: &SecretKey,
    t: &FourTuple,
    client_isn: u32,
    cookie: u32,
    counter: u32,
) -> Result<u8, CookieError> {
    let c = cookie.wrapping_sub(key.hash(t, 0, 0).wrapping_add(client_isn));
    let age = counter.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
    if age >= MAX_COOKIE_AGE {
        return Err(CookieError::Invalid);
    }
    let idx = c.wrapping_sub(key.hash(t, counter.wrapping_sub(age), 1)) & COOKIE_MASK;
    if (idx as usize) < MSS_TABLE.len() {
        Ok(idx as u8)
    } else {
        Err(CookieError::Invalid)
    }
}

/// Why an ACK does not complete a SYN-cookie handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Wrong or expired cookie (forged, or older than [`MAX_COOKIE_AGE`] counters, or made with
    /// a key rotated out).
    #[error("invalid or expired SYN cookie")]
    Invalid,
    /// The cookie is right but the options echoed in TSecr are impossible (window scale > 14).
    #[error("invalid options in the echoed timestamp")]
    BadTimestampOptions,
}

/// The client's side of a connection, as its packets carry it: client → virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

/// The MSS table index for a client MSS: the largest entry not above it (index 0 for anything
/// below 536, as Linux).
#[inline]
pub fn mss_index(client_mss: u16) -> u8 {
    MSS_TABLE.iter().rposition(|&m| client_mss >= m).unwrap_or(0) as u8
}

/// The MSS a table index stands for. `idx` comes from [`CookieSecrets::check`] (always in
/// range); out of range gives the smallest entry.
#[inline]
pub fn mss_from_index(idx: u8) -> u16 {
    MSS_TABLE.get(idx as usize).copied().unwrap_or(MSS_TABLE[0])
}

/// The options a cookie carries in the timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TsOptions {
    /// The client's window scale (the shift it will apply to its own windows), if it sent one.
    pub wscale: Option<u8>,
    pub sack: bool,
    pub ecn: bool,
}

/// The TSval of our SYN/ACK: `ts_now` with the options in its low [`TS_OPT_BITS`] bits, kept
/// at or below `ts_now` (Linux `cookie_init_timestamp`). `opts.wscale` must be at most 14.
pub fn encode_ts_options(ts_now: u32, opts: TsOptions) -> u32 {
    let mut o = match opts.wscale {
        Some(w) => (w.min(MAX_WSCALE)) as u32,
        None => TS_OPT_WSCALE_MASK,
    };
    if opts.sack {
        o |= TS_OPT_SACK;
    }
    if opts.ecn {
        o |= TS_OPT_ECN;
    }
    let mut ts = (ts_now & !TS_OPT_MASK) | o;
    if ts > ts_now {
        ts = ts.wrapping_sub(1 << TS_OPT_BITS);
    }
    ts
}

/// The options echoed in the TSecr of the client's ACK (Linux `cookie_timestamp_decode`).
pub fn decode_ts_options(tsecr: u32) -> Result<TsOptions, CookieError> {
    let o = tsecr & TS_OPT_MASK;
    let w = o & TS_OPT_WSCALE_MASK;
    let wscale = if w == TS_OPT_WSCALE_MASK {
        None
    } else if w > MAX_WSCALE as u32 {
        return Err(CookieError::BadTimestampOptions);
    } else {
        Some(w as u8)
    };
    Ok(TsOptions { wscale, sack: o & TS_OPT_SACK != 0, ecn: o & TS_OPT_ECN != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tuple(s: u32, d: u32, sp: u16, dp: u16) -> FourTuple {
        FourTuple { saddr: s.into(), daddr: d.into(), sport: sp, dport: dp }
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes([n; 16])
    }

    #[test]
    fn siphash_reference_vectors() {
        // The SipHash paper, appendix A: key 00..0f, message 00..0e.
        let k: [u8; 16] = std::array::from_fn(|i| i as u8);
        let k = SecretKey::from_bytes(k);
        let m: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k.k0, k.k1, &m), 0xa129ca6149be45e5);
        // vectors.h, first entry (empty message).
        assert_eq!(siphash24(k.k0, k.k1, &[]), 0x726fdb47dd0e0e31);
    }

    #[test]
    fn cookie_round_trip_and_age() {
        let s = CookieSecrets::new(key(1));
        let t = tuple(0xc0a8_010a, 0x0a00_0001, 54321, 80);
        for idx in 0..MSS_TABLE.len() as u8 {
            let c = s.make(&t, 0x1a2b3c4d, 1000, idx);
            assert_eq!(s.check(&t, 0x1a2b3c4d, c, 1000), Ok(idx));
            assert_eq!(s.check(&t, 0x1a2b3c4d, c, 1001), Ok(idx));
            assert_eq!(s.check(&t, 0x1a2b3c4d, c, 1002), Err(CookieError::Invalid));
            // From the future (a clock behind): rejected too.
            assert_eq!(s.check(&t, 0x1a2b3c4d, c, 999), Err(CookieError::Invalid));
            // Another ISN, port, or key. (As in Linux the ISN is added, not hashed: an ISN off by
            // one shifts the MSS index, which the attacker gains nothing from.)
            assert_eq!(s.check(&t, 0x1a2b3c4d ^ 0x4000_0000, c, 1000), Err(CookieError::Invalid));
            assert_eq!(s.check(&tuple(0xc0a8_010a, 0x0a00_0001, 54322, 80), 0x1a2b3c4d, c, 1000).ok(), None);
            assert_eq!(CookieSecrets::new(key(2)).check(&t, 0x1a2b3c4d, c, 1000).ok(), None);
        }
    }

    #[test]
    fn rotation() {
        let s0 = CookieSecrets::new(key(1));
        let s1 = s0.rotate(key(2));
        let s2 = s1.rotate(key(3));
        assert_eq!((s0.generation(), s1.generation(), s2.generation()), (0, 1, 2));
        let t = tuple(1, 2, 3, 4);
        let c0 = s0.make(&t, 7, 50, 3);
        let c1 = s1.make(&t, 7, 50, 2);
        // Made before the rotation, validated after: still good.
        assert_eq!(s1.check(&t, 7, c0, 51), Ok(3));
        assert_eq!(s1.check(&t, 7, c1, 51), Ok(2));
        // Two rotations later the first key is gone.
        assert_eq!(s2.check(&t, 7, c0, 51), Err(CookieError::Invalid));
        assert_eq!(s2.check(&t, 7, c1, 51), Ok(2));
        // A cookie of the new key is not accepted by a worker still on the old value.
        assert_eq!(s0.check(&t, 7, s2.make(&t, 7, 50, 1), 50).ok(), None);
        assert_eq!(format!("{:?}", key(9)), "SecretKey(..)");
    }

    #[test]
    fn counter_wraps() {
        // The counter is 8 bits inside the cookie: 255 -> 0 is age 1.
        let s = CookieSecrets::new(key(4));
        let t = tuple(9, 8, 7, 6);
        let c = s.make(&t, u32::MAX, 255, 1);
        assert_eq!(s.check(&t, u32::MAX, c, 256), Ok(1));
        assert_eq!(s.check(&t, u32::MAX, c, 257), Err(CookieError::Invalid));
        assert_eq!(cookie_counter(Time::from_secs(64 * 5 + 63)), 5);
        assert_eq!(cookie_counter(Time::ZERO), 0);
    }

    #[test]
    fn mss_table() {
        assert_eq!(mss_index(0), 0);
        assert_eq!(mss_index(535), 0);
        assert_eq!(mss_index(536), 0);
        assert_eq!(mss_index(1299), 0);
        assert_eq!(mss_index(1300), 1);
        assert_eq!(mss_index(1459), 2);
        assert_eq!(mss_index(1460), 3);
        assert_eq!(mss_index(9000), 3);
        assert_eq!(mss_from_index(3), 1460);
        assert_eq!(mss_from_index(200), 536);
    }

    #[test]
    fn ts_options() {
        let o = TsOptions { wscale: Some(7), sack: true, ecn: false };
        let ts = encode_ts_options(0x1234_5678, o);
        assert!(ts <= 0x1234_5678);
        assert_eq!(ts & TS_OPT_MASK, 7 | TS_OPT_SACK);
        assert_eq!(decode_ts_options(ts), Ok(o));
        let none = TsOptions::default();
        assert_eq!(decode_ts_options(encode_ts_options(5, none)), Ok(none));
        // 0xf means "no window scale"; 15 is not a valid shift but 0xf is taken; 14 is max.
        assert_eq!(decode_ts_options(0x0e), Ok(TsOptions { wscale: Some(14), ..none }));
        assert_eq!(decode_ts_options(0x2f), Ok(TsOptions { ecn: true, ..none }));
        assert_eq!(encode_ts_options(0, TsOptions { wscale: Some(20), ..none }) & 0xf, 14);
    }

    proptest! {
        #[test]
        fn siphash_matches_std(k0 in any::<u64>(), k1 in any::<u64>(),
                               data in proptest::collection::vec(any::<u8>(), 0..100)) {
            #[allow(deprecated)]
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            std::hash::Hasher::write(&mut h, &data);
            prop_assert_eq!(siphash24(k0, k1, &data), std::hash::Hasher::finish(&h));
        }

        #[test]
        fn cookies_validate_across_rotation(k in any::<[u8; 16]>(), k2 in any::<[u8; 16]>(),
                                            s in any::<u32>(), d in any::<u32>(), sp in any::<u16>(),
                                            dp in any::<u16>(), isn in any::<u32>(), counter in any::<u32>(),
                                            idx in 0u8..4, age in 0u32..4, rotate in any::<bool>()) {
            let s0 = CookieSecrets::new(SecretKey::from_bytes(k));
            let t = tuple(s, d, sp, dp);
            let c = s0.make(&t, isn, counter, idx);
            let v = if rotate { s0.rotate(SecretKey::from_bytes(k2)) } else { s0 };
            let r = v.check(&t, isn, c, counter.wrapping_add(age));
            if age < MAX_COOKIE_AGE {
                prop_assert_eq!(r, Ok(idx));
            } else if k != k2 || !rotate {
                // An expired cookie may only pass by a 2^-24-ish collision; with fixed
                // strategies that never happens in practice, but do not assert the
                // impossible: just require a valid index if it does.
                if let Ok(i) = r { prop_assert!((i as usize) < MSS_TABLE.len()); }
            }
        }

        #[test]
        fn ts_options_round_trip(ts_now in any::<u32>(), ws in proptest::option::of(0u8..=14),
                                 sack in any::<bool>(), ecn in any::<bool>()) {
            let o = TsOptions { wscale: ws, sack, ecn };
            let ts = encode_ts_options(ts_now, o);
            prop_assert!(ts <= ts_now || ts_now < 64);
            prop_assert!(ts_now.wrapping_sub(ts) < 64);
            prop_assert_eq!(decode_ts_options(ts), Ok(o));
        }

        #[test]
        fn forged_cookies_rarely_pass(k in any::<[u8; 16]>(), isn in any::<u32>(), cookies in proptest::collection::vec(any::<u32>(), 64)) {
            let s = CookieSecrets::new(SecretKey::from_bytes(k));
            let t = tuple(1, 2, 3, 4);
            let ok = cookies.iter().filter(|&&c| s.check(&t, isn, c, 77).is_ok()).count();
            prop_assert!(ok <= 1);
        }
    }
}
