//! IPv4 routes: connected subnets from the port addresses plus static routes.
//!
//! Longest-prefix match over a list kept sorted by prefix length. Front-tier tables
//! are small (a handful of connected subnets and a default route); a DIR-24-8 table
//! can replace the scan behind the same API when BGP-fed tables arrive.

use std::net::Ipv4Addr;

pub mod v6;

/// Index of a DPDK port in the dataplane's port list.
pub type PortIndex = u16;

/// Index of a logical interface, a (port, VLAN) pair: interface `i` below the number of
/// ports is port `i` untagged; each `[[port.vlan]]` follows (see `config::Interface`).
/// Routes, neighbours and own addresses are per interface.
pub type IfIndex = u16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: u32,
    len: u8,
}

impl Prefix {
    /// `addr/len` with the host bits cleared; None when `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Prefix> {
        (len <= 32).then(|| Prefix { addr: u32::from(addr) & Self::mask(len), len })
    }
    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len)
        }
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr.into()
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.len) == self.addr
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub prefix: Prefix,
    /// The interface it leaves by.
    pub port: IfIndex,
    /// None for a connected route: the destination itself is the next hop.
    pub gateway: Option<Ipv4Addr>,
}

/// Where to send a packet: out of interface `port`, to the neighbour `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub port: IfIndex,
    pub next_hop: Ipv4Addr,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Longest prefix first.
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route; a route for the same prefix replaces the old one.
    pub fn add(&mut self, route: Route) {
        self.routes.retain(|r| r.prefix != route.prefix);
        let at = self.routes.partition_point(|r| r.prefix.len >= route.prefix.len);
        self.routes.insert(at, route);
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        let r = self.routes.iter().find(|r| r.prefix.contains(dst))?;
        Some(NextHop { port: r.port, next_hop: r.gateway.unwrap_or(dst) })
    }

    /// The interface whose connected subnet holds `ip`, if any.
    pub fn connected_port(&self, ip: Ipv4Addr) -> Option<IfIndex> {
        self.routes.iter().find(|r| r.gateway.is_none() && r.prefix.contains(ip)).map(|r| r.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = RouteTable::new();
        t.add(Route {
            prefix: Prefix::new(ip("0.0.0.0"), 0).unwrap(),
            port: 0,
            gateway: Some(ip("198.18.0.254")),
        });
        t.add(Route { prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(), port: 0, gateway: None });
        t.add(Route { prefix: Prefix::new(ip("198.19.0.0"), 24).unwrap(), port: 1, gateway: None });
        t.add(Route {
            prefix: Prefix::new(ip("198.19.0.128"), 25).unwrap(),
            port: 2,
            gateway: Some(ip("198.19.0.1")),
        });
        assert_eq!(t.lookup(ip("198.19.0.5")), Some(NextHop { port: 1, next_hop: ip("198.19.0.5") }));
        assert_eq!(t.lookup(ip("198.19.0.200")), Some(NextHop { port: 2, next_hop: ip("198.19.0.1") }));
        assert_eq!(t.lookup(ip("198.18.77.1")), Some(NextHop { port: 0, next_hop: ip("198.18.0.254") }));
        assert_eq!(t.connected_port(ip("198.18.0.100")), Some(0));
        assert_eq!(t.connected_port(ip("198.18.5.1")), None);
    }

    #[test]
    fn no_default_means_no_route() {
        let mut t = RouteTable::new();
        t.add(Route { prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(), port: 0, gateway: None });
        assert_eq!(t.lookup(ip("198.19.0.1")), None);
    }

    #[test]
    fn prefix_clears_host_bits() {
        let p = Prefix::new(ip("198.18.0.77"), 24).unwrap();
        assert_eq!(p.to_string(), "198.18.0.0/24");
        assert!(Prefix::new(ip("1.2.3.4"), 33).is_none());
        assert!(Prefix::new(ip("1.2.3.4"), 0).unwrap().contains(ip("198.19.1.1")));
    }
}
