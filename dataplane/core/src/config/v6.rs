//! The IPv6 parts of rvsd.toml: IPv6 addresses in a port's (or a `[[port.vlan]]`'s)
//! `addresses` and `[[route]]`s whose prefix is IPv6. Kept apart so that the IPv4 config
//! stays as it was.

use std::net::Ipv6Addr;

use super::route::RawRoute;
use super::{ConfigError, Ctx, PortConfig};
use crate::route::v6::{Prefix6, Route6};

/// An IPv6 `[[route]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route6Config {
    pub prefix: Prefix6,
    pub via: Option<Ipv6Addr>,
    /// Index into `Config::ports`; None: the interface whose connected prefix holds `via`.
    pub port: Option<usize>,
    /// The VLAN of `port` the route leaves by (None: the port untagged).
    pub vlan: Option<u16>,
    pub line: usize,
}

/// `2001:db8::1/64` as an address and a prefix length.
pub fn parse_cidr6(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv6Addr = ip.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    (len <= 128).then_some((ip, len))
}

/// Whether a port address or route prefix is spelled as IPv6.
pub(super) fn is_v6(s: &str) -> bool {
    s.contains(':')
}

/// A port's IPv6 address; errors name the line.
pub(super) fn parse_port_addr(
    cx: &Ctx<'_>,
    a: &serde_spanned::Spanned<String>,
    taken: &[&PortConfig],
) -> Result<(Ipv6Addr, u8), ConfigError> {
    let Some((ip, len)) = parse_cidr6(a.get_ref()) else {
        return cx.err(a.span(), format!("bad address `{}`: expected an IPv6 address/LEN", a.get_ref()));
    };
    if ip.is_multicast() || ip.is_unspecified() || ip.is_loopback() || ip.is_unicast_link_local() {
        return cx.err(
            a.span(),
            format!("`{ip}` cannot be a port address (link-local addresses come from the port's MAC)"),
        );
    }
    if taken.iter().any(|p| addresses6(p).any(|(b, _)| b == ip)) {
        return cx.err(a.span(), format!("address {ip} is on another port too"));
    }
    // One routing table: a prefix is reached through one interface.
    let overlaps = |(b, bl): (Ipv6Addr, u8)| Prefix6::new(b, bl.min(len)) == Prefix6::new(ip, bl.min(len));
    if let Some((b, bl)) = taken.iter().flat_map(|p| addresses6(p)).find(|&x| overlaps(x)) {
        return cx.err(
            a.span(),
            format!("{ip}/{len} overlaps {b}/{bl} on another interface: a prefix is reached through one interface"),
        );
    }
    Ok((ip, len))
}

/// A port's IPv6 addresses, untagged and on its VLANs.
fn addresses6(p: &PortConfig) -> impl Iterator<Item = (Ipv6Addr, u8)> + '_ {
    p.addresses6.iter().chain(p.vlans.iter().flat_map(|v| v.addresses6.iter())).copied()
}

/// One interface's IPv6 addresses: (port index, VLAN, addresses).
pub type Interface6<'a> = (usize, Option<u16>, &'a [(Ipv6Addr, u8)]);

/// Every interface's IPv6 addresses, in the pipeline's interface numbering (the ports
/// untagged, then every port's VLANs: `Config::interfaces`), with its (port, VLAN).
pub fn interfaces6(ports: &[PortConfig]) -> Vec<Interface6<'_>> {
    let mut v: Vec<Interface6<'_>> =
        ports.iter().enumerate().map(|(i, p)| (i, None, &p.addresses6[..])).collect();
    for (i, p) in ports.iter().enumerate() {
        v.extend(p.vlans.iter().map(|vl| (i, Some(vl.id), &vl.addresses6[..])));
    }
    v
}

/// An IPv6 `[[route]]` (`prefix` and `via` IPv6, `port` optional). VLANs take no IPv6.
pub(super) fn parse_route(
    cx: &Ctx<'_>,
    r: &RawRoute,
    ports: &[PortConfig],
) -> Result<Route6Config, ConfigError> {
    let Some((ip, len)) = parse_cidr6(r.prefix.get_ref()) else {
        return cx.err(
            r.prefix.span(),
            format!("bad prefix `{}`: expected an IPv6 prefix/LEN", r.prefix.get_ref()),
        );
    };
    let prefix = Prefix6::new(ip, len).expect("a length of at most 128");
    if prefix.addr() != ip {
        return cx
            .err(r.prefix.span(), format!("prefix {ip}/{len} has host bits set (the network is {prefix})"));
    }
    let via = match &r.via {
        None => None,
        Some(v) => Some(v.get_ref().parse::<Ipv6Addr>().or_else(|_| {
            cx.err(v.span(), format!("bad address `{}`: an IPv6 route needs an IPv6 gateway", v.get_ref()))
        })?),
    };
    let port = r.port.as_ref().map(|n| cx.port_named(ports, n)).transpose()?;
    let vlan = cx.route_vlan(ports, r.vlan.as_ref(), port)?;
    match (via, port) {
        (None, None) => return cx.err(r.prefix.span(), "a route needs `via` or `port`"),
        (Some(gw), None) => {
            let connected = ports
                .iter()
                .any(|p| addresses6(p).any(|(a, l)| Prefix6::new(a, l).is_some_and(|x| x.contains(gw))));
            if !connected && !gw.is_unicast_link_local() {
                return cx.err(
                    r.via.as_ref().expect("some").span(),
                    format!("gateway {gw} is in no port's connected prefix; name the `port`"),
                );
            }
            if gw.is_unicast_link_local() {
                return cx.err(r.via.as_ref().expect("some").span(), "a link-local gateway needs `port`");
            }
        }
        _ => {}
    }
    Ok(Route6Config { prefix, via, port, vlan, line: cx.line_of(r.prefix.span().start) })
}

/// The IPv6 routes of `routes6` over interface numbers: a gateway without a port leaves by
/// the interface whose connected prefix holds it.
pub fn routes(ports: &[PortConfig], routes6: &[Route6Config]) -> Vec<Route6> {
    let ifaces = interfaces6(ports);
    routes6
        .iter()
        .filter_map(|r| {
            let iface = match r.port {
                Some(p) => ifaces.iter().position(|&(q, v, _)| q == p && v == r.vlan)?,
                None => {
                    let gw = r.via?;
                    ifaces.iter().position(|(_, _, a)| {
                        a.iter().any(|&(a, l)| Prefix6::new(a, l).is_some_and(|x| x.contains(gw)))
                    })?
                }
            };
            Some(Route6 { prefix: r.prefix, port: iface as u16, gateway: r.via })
        })
        .collect()
}

/// The pipeline's IPv6 configuration from the ports (and their VLANs) and routes.
pub fn pipeline_config(ports: &[PortConfig], routes6: &[Route6Config]) -> crate::pipeline::V6Config {
    crate::pipeline::V6Config {
        addrs: interfaces6(ports).into_iter().map(|(_, _, a)| a.to_vec()).collect(),
        routes: routes(ports, routes6),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use std::path::Path;

    const BASE: &str = r#"
[dataplane]
workers = [1]

[[port]]
name = "client"
device = "net_af_packet0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]

[[port]]
name = "server"
device = "net_af_packet1"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]
"#;

    #[test]
    fn ipv6_port_addresses_and_routes() {
        let text = format!("{BASE}\n[[route]]\nprefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:2::fe\"\n");
        let c = parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(c.ports[0].addresses.len(), 1);
        assert_eq!(c.ports[0].addresses6, vec![("2001:db8:1::1".parse().unwrap(), 64)]);
        assert_eq!(c.routes.len(), 0);
        let v6 = super::pipeline_config(&c.ports, &c.routes6);
        assert_eq!(v6.routes.len(), 1);
        assert_eq!(v6.routes[0].port, 1);
        assert_eq!(v6.routes[0].prefix.to_string(), "2001:db8:99::/48");
    }

    #[test]
    fn ipv6_services() {
        let svc = r#"
[[service]]
protocol = "tcp"
address = "[2001:db8:1::100]:80"
scheduler = "wrr"
local_addresses = ["2001:db8:2::200"]
real = [ { address = "[2001:db8:2::11]:80" }, { address = "2001:db8:2::12" } ]
"#;
        let c = parse(Path::new("t.toml"), &format!("{BASE}{svc}")).unwrap();
        let s = &c.services[0];
        assert_eq!(s.spec.key.addr.to_string(), "[2001:db8:1::100]:80");
        assert_eq!(s.reals[1].0.addr.to_string(), "[2001:db8:2::12]:80");
        // NAT64: IPv4 local addresses and FULLNAT real servers in an IPv6 service.
        let nat64 = svc
            .replace("\"2001:db8:2::200\"", "\"2001:db8:2::200\", \"198.19.0.200\"")
            .replace("{ address = \"2001:db8:2::12\" }", "{ address = \"198.19.0.12\" }");
        let c = parse(Path::new("t.toml"), &format!("{BASE}{nat64}")).unwrap();
        assert_eq!(c.services[0].reals[1].0.addr.to_string(), "198.19.0.12:80");
        // DR, NAT, TUN to IPv6 real servers (no local addresses needed); persistence with
        // a prefix length, a /128 by default.
        let direct = svc
            .replace("local_addresses = [\"2001:db8:2::200\"]\n", "persistence_timeout = 60\n")
            .replace(
                "{ address = \"[2001:db8:2::11]:80\" }",
                "{ address = \"[2001:db8:2::11]:80\", method = \"dr\" }",
            )
            .replace(
                "{ address = \"2001:db8:2::12\" }",
                "{ address = \"2001:db8:2::12\", method = \"tun\" }",
            );
        let c = parse(Path::new("t.toml"), &format!("{BASE}{direct}")).unwrap();
        let s = &c.services[0];
        assert_eq!(s.reals[0].0.method, rvs_proto::ForwardMethod::DirectRoute);
        assert_eq!(s.reals[1].0.method, rvs_proto::ForwardMethod::Tunnel);
        assert_eq!(s.spec.options.persistence, Some(rvs_proto::Persistence { timeout: 60, prefix_len: 128 }));
        let g64 = direct.replace(
            "persistence_timeout = 60\n",
            "persistence_timeout = 60\npersistence_granularity = \"64\"\n",
        );
        let c = parse(Path::new("t.toml"), &format!("{BASE}{g64}")).unwrap();
        assert_eq!(c.services[0].spec.options.persistence.unwrap().prefix_len, 64);
        let mask = g64.replace("\"64\"", "\"255.255.255.0\"");
        let e = parse(Path::new("t.toml"), &format!("{BASE}{mask}")).unwrap_err();
        assert!(e.to_string().contains("1 to 128 for IPv6"), "{e}");
        for (from, to, want) in [
            ("{ address = \"2001:db8:2::12\" }", "{ address = \"198.19.0.12\", method = \"dr\" }", "NAT64"),
            (
                "scheduler = \"wrr\"",
                "scheduler = \"wrr\"\nsyn_proxy = true",
                "synproxy is not supported for IPv6",
            ),
        ] {
            let e = parse(Path::new("t.toml"), &format!("{BASE}{}", svc.replace(from, to))).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert!(e.line > 14, "{e}");
        }
    }

    #[test]
    fn bad_ipv6_lines_are_named() {
        let cases = [
            (BASE.replace("2001:db8:1::1/64", "2001:db8:1::1/129"), "bad address"),
            (BASE.replace("2001:db8:1::1/64", "fe80::1/64"), "cannot be a port address"),
            (BASE.replace("2001:db8:2::1/64", "2001:db8:1::1/64"), "on another port"),
            (
                format!("{BASE}\n[[route]]\nprefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:7::fe\"\n"),
                "no port's",
            ),
            (
                format!("{BASE}\n[[route]]\nprefix = \"2001:db8:99::/48\"\nvia = \"198.19.0.254\"\n"),
                "IPv6 gateway",
            ),
            (format!("{BASE}\n[[route]]\nprefix = \"2001:db8:99::/480\"\nport = \"server\"\n"), "bad prefix"),
        ];
        for (text, want) in cases {
            let e = parse(Path::new("t.toml"), &text).unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
            assert!(e.line > 0);
        }
    }

    const VLANS: &str = r#"
[[port.vlan]]
id = 10
addresses = ["198.19.10.1/24", "2001:db8:10::1/64"]

[[port.vlan]]
id = 20
addresses = ["2001:db8:20::1/64"]
"#;

    /// IPv6 addresses on VLANs are interfaces of their own (the ports, then the VLANs),
    /// with their connected prefixes; a route may name a VLAN, or find it by its gateway.
    #[test]
    fn ipv6_on_vlans() {
        let text = format!(
            "{BASE}{VLANS}\n[[route]]\nprefix = \"2001:db8:98::/48\"\nvia = \"2001:db8:20::fe\"\n\
             \n[[route]]\nprefix = \"2001:db8:99::/48\"\nport = \"server\"\nvlan = 10\nvia = \"2001:db8:10::fe\"\n"
        );
        let c = parse(Path::new("t.toml"), &text).unwrap();
        let vl = &c.ports[1].vlans;
        assert_eq!(vl[0].addresses6, vec![("2001:db8:10::1".parse().unwrap(), 64)]);
        assert_eq!(vl[0].addresses.len(), 1);
        assert_eq!(vl[1].addresses6, vec![("2001:db8:20::1".parse().unwrap(), 64)]);
        let v6 = super::pipeline_config(&c.ports, &c.routes6);
        assert_eq!(v6.addrs.len(), 4, "two ports, two VLANs");
        assert_eq!(v6.addrs[2], vl[0].addresses6);
        assert_eq!(v6.addrs[3], vl[1].addresses6);
        let r: Vec<(String, u16)> = v6.routes.iter().map(|r| (r.prefix.to_string(), r.port)).collect();
        assert_eq!(r, vec![("2001:db8:98::/48".to_string(), 3), ("2001:db8:99::/48".to_string(), 2)]);
    }

    #[test]
    fn bad_ipv6_vlan_lines_are_named() {
        let with = |extra: &str| format!("{BASE}{VLANS}{extra}");
        let cases = [
            (
                format!("{BASE}{}", VLANS.replace("2001:db8:20::1/64", "2001:db8:1::1/64")),
                "on another port",
                14,
            ),
            (
                format!("{BASE}{}", VLANS.replace("2001:db8:20::1/64", "2001:db8:10::1/64")),
                "on another port",
                14,
            ),
            (
                with("\n[[route]]\nprefix = \"2001:db8:99::/48\"\nport = \"server\"\nvlan = 30\n"),
                "has no VLAN 30",
                20,
            ),
            (
                with("\n[[route]]\nprefix = \"2001:db8:99::/48\"\nvia = \"2001:db8:20::fe\"\nvlan = 20\n"),
                "needs `port`",
                20,
            ),
        ];
        for (text, want, after) in cases {
            let e = parse(Path::new("t.toml"), &text).unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
            assert!(e.line > after, "{e}: line {}", e.line);
        }
    }
}
