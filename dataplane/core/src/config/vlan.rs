//! 802.1Q VLANs of a port (`[[port.vlan]]`) and the logical interfaces they make.
//!
//! ```toml
//! [[port]]
//! name = "server"
//! device = "net_af_packet1"
//! addresses = ["198.19.0.1/24"]          # untagged frames
//!
//! [[port.vlan]]
//! id = 10
//! addresses = ["198.19.10.1/24"]
//! local_addresses = ["198.19.10.200", "198.19.10.201"]   # this VLAN's LIP pool
//! ```
//!
//! A logical interface is (port, VLAN): interface `i < ports.len()` is port `i` untagged;
//! the VLANs follow, port by port in file order, each port's VLANs in file order. Routes,
//! neighbours, own addresses and LIP pools belong to interfaces; the pipeline numbers
//! them the same way (`pipeline::PortInfo::vlans`).

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::exception::IFNAME_MAX;
use super::{parse_cidr, Config, ConfigError, Ctx, KernelIfKind, PortConfig};
use crate::route::{Prefix, Route, RouteTable};
use crate::wire::vlan::MAX_VID;

/// One `[[port.vlan]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VlanConfig {
    /// The 802.1Q VLAN id, 1-4094.
    pub id: u16,
    /// rvsd's own addresses on the VLAN, with their prefix lengths (connected routes).
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// Its IPv6 addresses (the IPv6 entries of `addresses`).
    pub addresses6: Vec<(Ipv6Addr, u8)>,
    /// The VLAN's local-address pool: the LIPs of sessions whose real server is reached
    /// through this VLAN, for services that name none on it themselves.
    pub local_addresses: Vec<Ipv4Addr>,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVlan {
    id: Spanned<i64>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    #[serde(default)]
    local_addresses: Vec<Spanned<String>>,
}

/// One logical interface: a port untagged, or one of its VLANs.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface<'a> {
    /// Index into `Config::ports`.
    pub port: usize,
    /// None: the port's untagged frames.
    pub vlan: Option<u16>,
    pub addresses: &'a [(Ipv4Addr, u8)],
    pub local_addresses: &'a [Ipv4Addr],
}

/// The kernel interface name of VLAN `vid` of a port whose own is `port_if`: `rvs-s.10`.
pub fn kernel_name(port_if: &str, vid: u16) -> String {
    format!("{port_if}.{vid}")
}

/// Parses a port's `[[port.vlan]]` tables. `port` is the port as parsed so far
/// (addresses, kernel interface); `taken` lists the addresses of the ports and VLANs
/// before it, which a VLAN may not reuse, nor overlap their subnets (one routing table:
/// a subnet is reached through one interface); `before` are those ports (their IPv6
/// addresses, which a VLAN may not reuse either).
pub(super) fn parse_vlans(
    cx: &Ctx,
    port: &PortConfig,
    raw: Vec<RawVlan>,
    taken: &[(Ipv4Addr, u8)],
    before: &[PortConfig],
) -> Result<Vec<VlanConfig>, ConfigError> {
    let mut out: Vec<VlanConfig> = Vec::new();
    let mut seen: Vec<(Ipv4Addr, u8)> = taken.iter().chain(port.addresses.iter()).copied().collect();
    let overlap = |a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)| {
        let len = a.1.min(b.1);
        Prefix::new(a.0, len) == Prefix::new(b.0, len)
    };
    for v in raw {
        let id = *v.id.get_ref();
        if !(1..=MAX_VID as i64).contains(&id) {
            return cx.err(v.id.span(), format!("VLAN id {id} is out of range (1-4094)"));
        }
        let id = id as u16;
        if out.iter().any(|o| o.id == id) {
            return cx.err(v.id.span(), format!("port `{}` has VLAN {id} twice", port.name));
        }
        if port.kernel.kind != KernelIfKind::None {
            let name = kernel_name(&port.kernel.name, id);
            if name.len() > IFNAME_MAX {
                return cx.err(
                    v.id.span(),
                    format!(
                        "VLAN {id}'s kernel interface name `{name}` is longer than {IFNAME_MAX} bytes; shorten the port's kernel_name"
                    ),
                );
            }
        }
        let mut addresses = Vec::new();
        let mut addresses6 = Vec::new();
        for a in &v.addresses {
            if super::v6::is_v6(a.get_ref()) {
                // Unique across every interface: the ports before, this port and its VLANs
                // so far (`out`), and this VLAN's own.
                let mut this = port.clone();
                this.vlans = out.clone();
                this.addresses6.extend(addresses6.iter().copied());
                let taken6: Vec<&PortConfig> = before.iter().chain(std::iter::once(&this)).collect();
                addresses6.push(super::v6::parse_port_addr(cx, a, &taken6)?);
                continue;
            }
            let (ip, len) = parse_cidr(a.get_ref()).ok_or(()).or_else(|_| {
                cx.err(a.span(), format!("bad address `{}`: expected A.B.C.D/LEN", a.get_ref()))
            })?;
            if let Some(&(o, ol)) = seen.iter().find(|&&s| overlap(s, (ip, len))) {
                let what = if o == ip { "address".to_string() } else { format!("subnet of {o}/{ol}") };
                return cx.err(a.span(), format!("{ip}/{len} overlaps the {what} on another interface"));
            }
            seen.push((ip, len));
            addresses.push((ip, len));
        }
        let mut local_addresses = Vec::new();
        for a in &v.local_addresses {
            let ip: Ipv4Addr = a.get_ref().parse().or_else(|_| {
                let why = if a.get_ref().parse::<Ipv6Addr>().is_ok() {
                    ": a VLAN's pool is IPv4 (IPv6 services name their own local addresses)"
                } else if a.get_ref().contains('/') {
                    ": an address, without a prefix length"
                } else {
                    ""
                };
                cx.err(a.span(), format!("bad local address `{}`{why}", a.get_ref()))
            })?;
            if !addresses.iter().any(|&(n, l)| Prefix::new(n, l).is_some_and(|p| p.contains(ip))) {
                return cx.err(
                    a.span(),
                    format!("local address {ip} is in none of VLAN {id}'s subnets (its `addresses`)"),
                );
            }
            if seen.iter().any(|s| s.0 == ip) || local_addresses.contains(&ip) {
                return cx.err(a.span(), format!("local address {ip} is an address of an interface already"));
            }
            local_addresses.push(ip);
        }
        out.push(VlanConfig {
            id,
            addresses,
            addresses6,
            local_addresses,
            line: cx.line_of(v.id.span().start),
        });
    }
    Ok(out)
}

impl Config {
    /// Every logical interface, in the pipeline's numbering: the ports untagged, then
    /// every port's VLANs.
    pub fn interfaces(&self) -> Vec<Interface<'_>> {
        let mut v: Vec<Interface> = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| Interface { port: i, vlan: None, addresses: &p.addresses, local_addresses: &[] })
            .collect();
        for (i, p) in self.ports.iter().enumerate() {
            for vl in &p.vlans {
                v.push(Interface {
                    port: i,
                    vlan: Some(vl.id),
                    addresses: &vl.addresses,
                    local_addresses: &vl.local_addresses,
                });
            }
        }
        v
    }

    /// The interface number of `port`'s VLAN `vlan` (or of the port untagged).
    pub fn interface_of(&self, port: usize, vlan: Option<u16>) -> Option<usize> {
        self.interfaces().iter().position(|i| i.port == port && i.vlan == vlan)
    }

    /// The (port name, VLAN id) of every VLAN interface, in interface order: the labels
    /// of the per-VLAN counters.
    pub fn vlan_labels(&self) -> Vec<(String, u16)> {
        self.ports.iter().flat_map(|p| p.vlans.iter().map(move |v| (p.name.clone(), v.id))).collect()
    }

    /// rvsd's routing table: a connected route per interface address, then the static
    /// routes, over interface numbers.
    pub fn route_table(&self) -> RouteTable {
        let mut t = RouteTable::new();
        for (i, ifc) in self.interfaces().iter().enumerate() {
            for &(a, len) in ifc.addresses {
                t.add(Route {
                    prefix: Prefix::new(a, len).expect("validated"),
                    port: i as u16,
                    gateway: None,
                });
            }
        }
        for r in &self.routes {
            let iface = match r.port {
                Some(p) => self.interface_of(p, r.vlan).expect("validated: the port has that VLAN"),
                None => r
                    .via
                    .and_then(|gw| t.connected_port(gw))
                    .map(usize::from)
                    .expect("validated: a route has a port or a connected gateway"),
            };
            t.add(Route { prefix: r.prefix, port: iface as u16, gateway: r.via });
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"
[dataplane]
workers = [0]

[[port]]
name = "client"
device = "net_af_packet0"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "net_af_packet1"
addresses = ["198.19.0.1/24"]
kernel_if = "tap"
kernel_name = "rvs-s"

[[port.vlan]]
id = 10
addresses = ["198.19.10.1/24"]
local_addresses = ["198.19.10.200", "198.19.10.201"]

[[port.vlan]]
id = 20
addresses = ["198.19.20.1/24"]
local_addresses = ["198.19.20.200"]

[[route]]
prefix = "203.0.113.0/24"
via = "198.19.20.254"

[[route]]
prefix = "198.51.100.0/24"
port = "server"
vlan = 10
"#;

    fn p(t: &str) -> Result<Config, ConfigError> {
        parse(Path::new("rvsd.toml"), t)
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn vlans_become_interfaces_with_routes() {
        let c = p(BASE).unwrap();
        let v = &c.ports[1].vlans;
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].id, v[0].line), (10, 18));
        assert_eq!(v[0].local_addresses, vec![ip("198.19.10.200"), ip("198.19.10.201")]);
        let ifs = c.interfaces();
        assert_eq!(ifs.len(), 4);
        assert_eq!((ifs[2].port, ifs[2].vlan), (1, Some(10)));
        assert_eq!((ifs[3].port, ifs[3].vlan), (1, Some(20)));
        assert_eq!(c.interface_of(1, Some(20)), Some(3));
        assert_eq!(c.vlan_labels(), vec![("server".into(), 10), ("server".into(), 20)]);
        let t = c.route_table();
        assert_eq!(t.lookup(ip("198.19.10.11")).unwrap().port, 2);
        assert_eq!(t.lookup(ip("198.19.0.11")).unwrap().port, 1);
        let h = t.lookup(ip("203.0.113.9")).unwrap();
        assert_eq!((h.port, h.next_hop), (3, ip("198.19.20.254")), "gateway on VLAN 20");
        assert_eq!(t.lookup(ip("198.51.100.1")).unwrap().port, 2, "port + vlan");
        assert_eq!(kernel_name("rvs-s", 10), "rvs-s.10");
    }

    #[test]
    fn bad_vlans_name_their_line() {
        let cases = [
            ("id = 10", "id = 4095", "out of range"),
            ("id = 20", "id = 10", "twice"),
            ("\"198.19.10.201\"", "\"198.19.11.201\"", "in none of VLAN 10's subnets"),
            ("addresses = [\"198.19.20.1/24\"]", "addresses = [\"198.19.0.1/24\"]", "overlaps the address"),
            (
                "addresses = [\"198.19.20.1/24\"]",
                "addresses = [\"198.19.10.7/25\"]",
                "subnet of 198.19.10.1/24",
            ),
            ("vlan = 10", "vlan = 30", "no VLAN 30"),
            ("kernel_name = \"rvs-s\"", "kernel_name = \"rvs-server-xx\"", "longer than 15"),
            ("\"198.19.20.200\"", "\"2001:db8:20::200\"", "a VLAN's pool is IPv4"),
            ("\"198.19.20.200\"", "\"198.19.20.200/24\"", "without a prefix length"),
        ];
        for (from, to, msg) in cases {
            let t = BASE.replacen(from, to, 1);
            let e = p(&t).unwrap_err();
            assert!(e.message.contains(msg), "{to}: {e}");
            let line = t.lines().nth(e.line - 1).unwrap_or("");
            assert!(
                line.contains(to.split('=').next_back().unwrap().trim()) || msg == "longer than 15",
                "{to}: line {} is `{line}`",
                e.line
            );
        }
        let t = BASE.replace("port = \"server\"\nvlan = 10", "via = \"198.19.0.254\"\nvlan = 10");
        assert!(p(&t).unwrap_err().message.contains("`vlan` needs `port`"));
    }
}
