//! IPv6 routes: connected prefixes from the ports' IPv6 addresses plus static routes.
//! The same longest-prefix scan as the IPv4 table (a handful of routes on a front tier).

use std::net::Ipv6Addr;

use super::IfIndex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix6 {
    addr: u128,
    len: u8,
}

impl Prefix6 {
    /// `addr/len` with the host bits cleared; None when `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Prefix6> {
        (len <= 128).then(|| Prefix6 { addr: u128::from(addr) & Self::mask(len), len })
    }

    fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    }

    pub fn addr(&self) -> Ipv6Addr {
        self.addr.into()
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    #[inline]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & Self::mask(self.len) == self.addr
    }
}

impl std::fmt::Display for Prefix6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route6 {
    pub prefix: Prefix6,
    /// The interface it leaves by.
    pub port: IfIndex,
    /// None for a connected route: the destination itself is the next hop.
    pub gateway: Option<Ipv6Addr>,
}

/// Where to send a packet: out of interface `port`, to the neighbour `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop6 {
    pub port: IfIndex,
    pub next_hop: Ipv6Addr,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable6 {
    /// Longest prefix first.
    routes: Vec<Route6>,
}

impl RouteTable6 {
    /// Adds a route; a route for the same prefix replaces the old one.
    pub fn add(&mut self, route: Route6) {
        self.routes.retain(|r| r.prefix != route.prefix);
        let at = self.routes.partition_point(|r| r.prefix.len >= route.prefix.len);
        self.routes.insert(at, route);
    }

    pub fn routes(&self) -> &[Route6] {
        &self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    #[inline]
    pub fn lookup(&self, dst: Ipv6Addr) -> Option<NextHop6> {
        let r = self.routes.iter().find(|r| r.prefix.contains(dst))?;
        Some(NextHop6 { port: r.port, next_hop: r.gateway.unwrap_or(dst) })
    }

    /// The interface whose connected prefix holds `ip`, if any.
    pub fn connected_port(&self, ip: Ipv6Addr) -> Option<IfIndex> {
        self.routes.iter().find(|r| r.gateway.is_none() && r.prefix.contains(ip)).map(|r| r.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_connected_routes_are_their_own_next_hop() {
        let mut t = RouteTable6::default();
        t.add(Route6 {
            prefix: Prefix6::new(a("::"), 0).unwrap(),
            port: 0,
            gateway: Some(a("2001:db8:1::fe")),
        });
        t.add(Route6 { prefix: Prefix6::new(a("2001:db8:2::1"), 64).unwrap(), port: 1, gateway: None });
        t.add(Route6 { prefix: Prefix6::new(a("2001:db8:1::1"), 64).unwrap(), port: 0, gateway: None });
        assert_eq!(t.lookup(a("2001:db8:2::11")), Some(NextHop6 { port: 1, next_hop: a("2001:db8:2::11") }));
        assert_eq!(t.lookup(a("2001:db8:99::1")), Some(NextHop6 { port: 0, next_hop: a("2001:db8:1::fe") }));
        assert_eq!(t.connected_port(a("2001:db8:1::10")), Some(0));
        assert_eq!(t.connected_port(a("2001:db8:99::1")), None);
        assert_eq!(Prefix6::new(a("2001:db8:2::1"), 64).unwrap().to_string(), "2001:db8:2::/64");
        assert!(Prefix6::new(a("::"), 129).is_none());
        // Same prefix replaces.
        t.add(Route6 {
            prefix: Prefix6::new(a("::"), 0).unwrap(),
            port: 1,
            gateway: Some(a("2001:db8:2::fe")),
        });
        assert_eq!(t.routes().len(), 3);
        assert_eq!(t.lookup(a("2001:db8:99::1")).unwrap().port, 1);
    }
}
