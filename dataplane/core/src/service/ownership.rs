//! Which VIPs and LIPs this director owns: answers ARP and ping for, and accepts new
//! connections to. A MASTER owns them, a BACKUP does not (VRRP, pacemaker or an operator
//! moves them with `rvsadm --takeover` / `--release`). Packets of existing sessions are
//! forwarded whoever owns the address: a backup keeps serving what reaches it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ownership as a default plus exceptions, so that "take everything" and "release
/// everything" also cover services added later (a backup must not start answering ARP
/// for a VIP that rvs-ctrl adds to its table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    owns_by_default: bool,
    /// Addresses (IPv4 and IPv6) whose ownership is the opposite of the default.
    exceptions: BTreeSet<IpAddr>,
}

impl Default for Ownership {
    /// Owns everything: a lone director (today's behaviour, `[ha] initial = "master"`).
    fn default() -> Self {
        Ownership::all(true)
    }
}

impl Ownership {
    /// Owns every address (`true`) or none.
    pub fn all(owned: bool) -> Self {
        Ownership { owns_by_default: owned, exceptions: BTreeSet::new() }
    }

    #[inline]
    pub fn owns(&self, a: Ipv4Addr) -> bool {
        // The common case (a master with no exceptions) costs one branch.
        if self.exceptions.is_empty() {
            return self.owns_by_default;
        }
        self.owns_by_default != self.exceptions.contains(&IpAddr::V4(a))
    }

    /// `owns` for an IPv6 VIP/LIP.
    #[inline]
    pub fn owns6(&self, a: Ipv6Addr) -> bool {
        if self.exceptions.is_empty() {
            return self.owns_by_default;
        }
        self.owns_by_default != self.exceptions.contains(&IpAddr::V6(a))
    }

    /// `owns` for either family.
    pub fn owns_ip(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.owns(a),
            IpAddr::V6(a) => self.owns6(a),
        }
    }

    pub fn owns_by_default(&self) -> bool {
        self.owns_by_default
    }

    /// Takes (`owned`) or releases the given addresses; none given: every address.
    pub fn set(&mut self, addrs: &[IpAddr], owned: bool) {
        if addrs.is_empty() {
            *self = Ownership::all(owned);
            return;
        }
        for &a in addrs {
            if owned == self.owns_by_default {
                self.exceptions.remove(&a);
            } else {
                self.exceptions.insert(a);
            }
        }
    }

    /// The addresses named explicitly (owned or not against the default).
    pub fn exceptions(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.exceptions.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const B: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);

    fn ip(a: Ipv4Addr) -> IpAddr {
        IpAddr::V4(a)
    }

    #[test]
    fn default_owns_everything() {
        let o = Ownership::default();
        assert!(o.owns(A) && o.owns(B));
    }

    #[test]
    fn release_some_then_take_them_back() {
        let mut o = Ownership::default();
        o.set(&[ip(A)], false);
        assert!(!o.owns(A) && o.owns(B));
        o.set(&[ip(A)], true);
        assert_eq!(o, Ownership::default());
    }

    #[test]
    fn backup_takes_one_and_new_addresses_stay_released() {
        let mut o = Ownership::all(false);
        o.set(&[ip(B)], true);
        assert!(o.owns(B) && !o.owns(A));
        assert!(!o.owns(Ipv4Addr::new(198, 18, 0, 101)));
        o.set(&[], true);
        assert!(o.owns(A) && o.owns(B) && o.exceptions().next().is_none());
        o.set(&[], false);
        assert!(!o.owns(A) && !o.owns(B));
    }

    /// IPv6 addresses are taken and released one by one too, apart from the IPv4 ones.
    #[test]
    fn ipv6_addresses_have_their_own_exceptions() {
        let mut o = Ownership::all(false);
        assert!(!o.owns6(A6));
        o.set(&[ip(A)], true);
        assert!(o.owns(A) && !o.owns6(A6), "taking an IPv4 VIP leaves the IPv6 one");
        o.set(&[IpAddr::V6(A6)], true);
        assert!(o.owns6(A6) && o.owns_ip(IpAddr::V6(A6)));
        assert!(!o.owns6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101)));
        o.set(&[IpAddr::V6(A6)], false);
        assert!(!o.owns6(A6) && o.owns(A));
        o.set(&[], true);
        assert!(o.owns6(A6) && o.exceptions().next().is_none());
    }
}
