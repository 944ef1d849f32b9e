//! The IPv6 parts of rvsd.toml: IPv6 addresses in a port's `addresses` and `[[route]]`s
//! whose prefix is IPv6. Kept apart so that the IPv4 config stays as it was.

use std::net::Ipv6Addr;

use super::{ConfigError, Ctx, PortConfig, RawRoute};
use crate::route::v6::{Prefix6, Route6};

/// An IPv6 `[[route]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route6Config {
    pub prefix: Prefix6,
    pub via: Option<Ipv6Addr>,
    /// Index into `Config::ports`; None: the port whose connected prefix holds `via`.
    pub port: Option<usize>,
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
    if taken.iter().any(|p| p.addresses6.iter().any(|&(b, _)| b == ip)) {
        return cx.err(a.span(), format!("address {ip} is on another port too"));
    }
    Ok((ip, len))
}

/// An IPv6 `[[route]]` (`prefix` and `via` IPv6, `port` optional). VLANs take no IPv6.
pub(super) fn parse_route(
    cx: &Ctx<'_>,
    r: &RawRoute,
    ports: &[PortConfig],
) -> Result<Route6Config, ConfigError> {
    let prefix = parse_cidr6(r.prefix.get_ref())
        .and_then(|(ip, len)| Prefix6::new(ip, len))
        .ok_or(())
        .or_else(|_| cx.err(r.prefix.span(), format!("bad prefix `{}`", r.prefix.get_ref())))?;
    let via = match &r.via {
        None => None,
        Some(v) => Some(v.get_ref().parse::<Ipv6Addr>().or_else(|_| {
            cx.err(v.span(), format!("bad address `{}`: an IPv6 route needs an IPv6 gateway", v.get_ref()))
        })?),
    };
    let port = match &r.port {
        None => None,
        Some(n) => Some(
            ports
                .iter()
                .position(|p| p.name == *n.get_ref())
                .ok_or(())
                .or_else(|_| cx.err(n.span(), format!("no port named `{}`", n.get_ref())))?,
        ),
    };
    if let Some(v) = &r.vlan {
        return cx.err(v.span(), "IPv6 routes over VLANs are not supported");
    }
    match (via, port) {
        (None, None) => return cx.err(r.prefix.span(), "a route needs `via` or `port`"),
        (Some(gw), None) => {
            let connected = ports.iter().any(|p| {
                p.addresses6.iter().any(|&(a, l)| Prefix6::new(a, l).is_some_and(|x| x.contains(gw)))
            });
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
    Ok(Route6Config { prefix, via, port, line: cx.line_of(r.prefix.span().start) })
}

/// The IPv6 routes of `routes6` with their interfaces: a gateway without a port leaves by
/// the port whose connected prefix holds it.
pub fn routes(ports: &[PortConfig], routes6: &[Route6Config]) -> Vec<Route6> {
    routes6
        .iter()
        .filter_map(|r| {
            let port = r.port.or_else(|| {
                let gw = r.via?;
                ports.iter().position(|p| {
                    p.addresses6.iter().any(|&(a, l)| Prefix6::new(a, l).is_some_and(|x| x.contains(gw)))
                })
            })?;
            Some(Route6 { prefix: r.prefix, port: port as u16, gateway: r.via })
        })
        .collect()
}

/// The pipeline's IPv6 configuration from the ports and routes.
pub fn pipeline_config(ports: &[PortConfig], routes6: &[Route6Config]) -> crate::pipeline::V6Config {
    crate::pipeline::V6Config {
        addrs: ports.iter().map(|p| p.addresses6.clone()).collect(),
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
}
