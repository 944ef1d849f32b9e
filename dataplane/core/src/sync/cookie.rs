//! SYN-cookie secrets shared by a sync group: every member derives the cookie key of a
//! time slot from the cluster key, so a cookie issued by one director validates on any
//! other after a failover or an ECMP route change.
//!
//! `key(slot) = HKDF-Expand(cluster PRK, "rvs synproxy cookie slot " ‖ slot as u64 BE, 16)`
//! and `slot = unix_time / COOKIE_SLOT_SECS`. A member holds two keys
//! ([`CookieSecrets`]: current and previous): its slot's, and the neighbour slot whose
//! cookies may still reach it — the previous slot early in a slot (cookies live up to
//! `MAX_COOKIE_AGE × 64 s` = 128 s), the next slot late in a slot (a member whose clock
//! runs ahead already makes cookies with it).

use super::auth::{ClusterKey, INFO_COOKIE};
use crate::synproxy::cookie::{COUNTER_PERIOD_SECS, MAX_COOKIE_AGE};
use crate::synproxy::{CookieSecrets, SecretKey};

/// Seconds per cookie-key slot. Longer than a cookie's life plus twice the largest clock
/// skew allowed, so that two keys always suffice; at least
/// `synproxy::cookie::MIN_ROTATION_INTERVAL_SECS`.
pub const COOKIE_SLOT_SECS: u64 = 300;
/// Largest clock skew between members [`cookie_secrets_at`] allows for.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// How long a cookie stays acceptable after it was made.
const COOKIE_LIFE_SECS: u64 = COUNTER_PERIOD_SECS * MAX_COOKIE_AGE as u64;

const _: () = assert!(COOKIE_LIFE_SECS + 2 * MAX_CLOCK_SKEW_SECS < COOKIE_SLOT_SECS);
const _: () = assert!(COOKIE_SLOT_SECS >= crate::synproxy::cookie::MIN_ROTATION_INTERVAL_SECS);

/// The slot of a wall-clock time (seconds since the Unix epoch).
pub fn cookie_slot(unix_secs: u64) -> u64 {
    unix_secs / COOKIE_SLOT_SECS
}

/// The cookie key of `slot`: the same on every member with the same cluster key.
pub fn cookie_key(key: &ClusterKey, slot: u64) -> SecretKey {
    let mut k = [0u8; 16];
    key.expand(&[INFO_COOKIE, &slot.to_be_bytes()], &mut k);
    SecretKey::from_bytes(k)
}

/// The secrets of `slot`: its key current (cookies are made with it), the previous
/// slot's key still accepted.
pub fn cookie_secrets_for_slot(key: &ClusterKey, slot: u64) -> CookieSecrets {
    CookieSecrets::new(cookie_key(key, slot.wrapping_sub(1))).rotate(cookie_key(key, slot))
}

/// The secrets a member holds at `unix_secs`, and the slots of its two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedCookieSecrets {
    pub secrets: CookieSecrets,
    /// The slot of the key cookies are made with.
    pub current: u64,
    /// The slot of the other key accepted (previous or next).
    pub other: u64,
}

/// The secrets for wall-clock time `unix_secs` when members' clocks differ by at most
/// `skew_secs` (clamped to [`MAX_CLOCK_SKEW_SECS`]). Hand them to the workers when
/// `(current, other)` changes; that happens at most twice per slot.
pub fn cookie_secrets_at(key: &ClusterKey, unix_secs: u64, skew_secs: u64) -> SharedCookieSecrets {
    let skew = skew_secs.min(MAX_CLOCK_SKEW_SECS);
    let slot = cookie_slot(unix_secs);
    let into = unix_secs % COOKIE_SLOT_SECS;
    let other = if into >= COOKIE_LIFE_SECS + skew && into >= COOKIE_SLOT_SECS - skew {
        slot.wrapping_add(1)
    } else {
        slot.wrapping_sub(1)
    };
    let secrets = CookieSecrets::new(cookie_key(key, other)).rotate(cookie_key(key, slot));
    SharedCookieSecrets { secrets, current: slot, other }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synproxy::cookie::cookie_counter;
    use crate::synproxy::FourTuple;
    use crate::time::Time;

    fn key(s: &str) -> ClusterKey {
        ClusterKey::from_config(s).unwrap()
    }

    fn tuple() -> FourTuple {
        FourTuple { saddr: [192, 0, 2, 7].into(), daddr: [198, 51, 100, 1].into(), sport: 40000, dport: 443 }
    }

    #[test]
    fn members_derive_the_same_key_per_slot_and_different_keys_per_slot_and_cluster() {
        let a = key("a long shared cluster passphrase");
        let b = key("a long shared cluster passphrase");
        let other = key("another cluster's long passphrase");
        assert_eq!(cookie_key(&a, 7), cookie_key(&b, 7));
        assert_ne!(cookie_key(&a, 7), cookie_key(&a, 8));
        assert_ne!(cookie_key(&a, 7), cookie_key(&other, 7));
        assert_eq!(cookie_secrets_for_slot(&a, 7), cookie_secrets_for_slot(&b, 7));
    }

    /// A cookie made by one member validates on another with the same key.
    fn made_here_checked_there(made_at: u64, checked_at: u64, skew: u64) -> bool {
        let k = key("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        let maker = cookie_secrets_at(&k, made_at, skew).secrets;
        let checker = cookie_secrets_at(&k, checked_at, skew).secrets;
        let counter = |t: u64| cookie_counter(Time::from_secs(t));
        let c = maker.make(&tuple(), 1234, counter(made_at), 2);
        checker.check(&tuple(), 1234, c, counter(checked_at)) == Ok(2)
    }

    #[test]
    fn cookies_cross_members_and_slot_boundaries() {
        let b = 1_700_000_100 - 1_700_000_100 % COOKIE_SLOT_SECS + COOKIE_SLOT_SECS; // a slot boundary
                                                                                     // Same slot, same counter.
        assert!(made_here_checked_there(b + 10, b + 11, 5));
        // Made just before the boundary, checked after it (previous key accepted).
        assert!(made_here_checked_there(b - 1, b + 1, 5));
        assert!(made_here_checked_there(b - 1, b + 60, 5));
        // The maker's clock runs 2 s ahead (times chosen inside one 64 s counter period).
        let c = b - b % 64 + 64 * 10;
        assert!(made_here_checked_there(c + 3, c + 1, 5));
        // Across the slot boundary with the checker 2 s behind: it accepts the next slot's key.
        assert_eq!(cookie_secrets_at(&key("0123456789abcdef"), b - 2, 5).other, cookie_slot(b));
        // b % 64 == 16: b - 1 and b + 1 share a cookie counter, only the slot differs.
        assert_eq!(b % 64, 16);
        assert!(made_here_checked_there(b + 1, b - 1, 5));
        // Without the skew allowance the member behind does not know the new key yet.
        assert!(!made_here_checked_there(b + 1, b - 1, 0));
        // A key two slots old is gone.
        let k = key("0123456789abcdef");
        let old = cookie_secrets_for_slot(&k, cookie_slot(b) - 2);
        let now = cookie_secrets_at(&k, b + 200, 5).secrets;
        let cookie = old.make(&tuple(), 9, 5, 1);
        assert!(now.check(&tuple(), 9, cookie, 5).is_err());
    }

    #[test]
    fn the_other_slot_depends_on_the_position_in_the_slot() {
        let k = key("0123456789abcdef");
        let s = 5_000_000;
        let t0 = s * COOKIE_SLOT_SECS;
        assert_eq!(cookie_secrets_at(&k, t0, 10).other, s - 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 137, 10).other, s - 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 200, 10).other, s - 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 290, 10).other, s + 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 299, 10).other, s + 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 299, 0).other, s - 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 299, 10).current, s);
        // Skew is clamped: even 1000 s leaves the early part for the previous slot.
        assert_eq!(cookie_secrets_at(&k, t0 + 100, 1000).other, s - 1);
        assert_eq!(cookie_secrets_at(&k, t0 + 250, 1000).other, s + 1);
    }
}
