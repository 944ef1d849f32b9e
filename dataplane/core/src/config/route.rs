//! `[[route]]`: static routes (IPv4 here, IPv6 in `v6`).

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::Ipv4Addr;

use super::{parse_cidr, v6, ConfigError, Ctx, PortConfig, Route6Config, RouteConfig};
use crate::route::v6::Prefix6;
use crate::route::Prefix;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) prefix: Spanned<String>,
    pub(super) via: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<String>>,
    pub(super) vlan: Option<Spanned<u16>>,
}

/// Every `[[route]]`: the IPv4 ones and the IPv6 ones.
pub(super) fn parse_routes(
    cx: &Ctx,
    raw: Vec<RawRoute>,
    ports: &[PortConfig],
) -> Result<(Vec<RouteConfig>, Vec<Route6Config>), ConfigError> {
    let mut routes = Vec::new();
    let mut routes6 = Vec::new();
    for r in raw {
        if v6::is_v6(r.prefix.get_ref()) {
            let route = v6::parse_route(cx, &r, ports)?;
            if let Some(o) = routes6.iter().find(|o: &&Route6Config| o.prefix == route.prefix) {
                return twice(cx, &r, &route.prefix.to_string(), o.line);
            }
            let connected = v6::interfaces6(ports).into_iter().find_map(|(p, vlan, addrs)| {
                addrs.iter().any(|&(a, l)| Prefix6::new(a, l) == Some(route.prefix)).then_some((p, vlan))
            });
            if let Some((p, vlan)) = connected {
                return is_connected(cx, &r, &route.prefix.to_string(), &ports[p], vlan);
            }
            routes6.push(route);
            continue;
        }
        let Some((ip, len)) = parse_cidr(r.prefix.get_ref()) else {
            return cx
                .err(r.prefix.span(), format!("bad prefix `{}`: expected A.B.C.D/LEN", r.prefix.get_ref()));
        };
        let prefix = Prefix::new(ip, len).expect("a length of at most 32");
        if prefix.addr() != ip {
            return cx.err(
                r.prefix.span(),
                format!("prefix {ip}/{len} has host bits set (the network is {prefix})"),
            );
        }
        if let Some(o) = routes.iter().find(|o: &&RouteConfig| o.prefix == prefix) {
            return twice(cx, &r, &prefix.to_string(), o.line);
        }
        let connected = ports.iter().find_map(|p| {
            std::iter::once((None, &p.addresses))
                .chain(p.vlans.iter().map(|v| (Some(v.id), &v.addresses)))
                .find(|(_, addrs)| addrs.iter().any(|&(a, l)| Prefix::new(a, l) == Some(prefix)))
                .map(|(vlan, _)| (p, vlan))
        });
        if let Some((p, vlan)) = connected {
            return is_connected(cx, &r, &prefix.to_string(), p, vlan);
        }
        let via = match &r.via {
            None => None,
            Some(v) => Some(
                v.get_ref()
                    .parse::<Ipv4Addr>()
                    .or_else(|_| cx.err(v.span(), format!("bad address `{}`", v.get_ref())))?,
            ),
        };
        let port = r.port.as_ref().map(|n| cx.port_named(ports, n)).transpose()?;
        if via.is_none() && port.is_none() {
            return cx.err(r.prefix.span(), "a route needs `via` or `port`");
        }
        let vlan = cx.route_vlan(ports, r.vlan.as_ref(), port)?;
        if let (Some(gw), None) = (via, port) {
            if !ports.iter().any(|p| {
                p.addresses
                    .iter()
                    .chain(p.vlans.iter().flat_map(|v| v.addresses.iter()))
                    .any(|&(a, l)| Prefix::new(a, l).unwrap().contains(gw))
            }) {
                return cx.err(
                    r.via.as_ref().unwrap().span(),
                    format!("gateway {gw} is in no port's connected subnet; name the `port`"),
                );
            }
        }
        routes.push(RouteConfig { prefix, via, port, vlan, line: cx.line_of(r.prefix.span().start) });
    }
    Ok((routes, routes6))
}

/// `ip route add` says "File exists": the second route would replace the first.
fn twice<T>(cx: &Ctx, r: &RawRoute, prefix: &str, first: usize) -> Result<T, ConfigError> {
    cx.err(r.prefix.span(), format!("a route to {prefix} is defined twice (first at line {first})"))
}

/// A static route to a port's connected subnet would replace the connected route.
fn is_connected<T>(
    cx: &Ctx,
    r: &RawRoute,
    prefix: &str,
    port: &PortConfig,
    vlan: Option<u16>,
) -> Result<T, ConfigError> {
    let on = match vlan {
        None => format!("port `{}`", port.name),
        Some(id) => format!("port `{}` VLAN {id}", port.name),
    };
    cx.err(
        r.prefix.span(),
        format!(
            "{prefix} is the connected subnet of {on}: a static route to it would replace the connected one"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use std::path::Path;

    const BASE: &str = r#"[dataplane]
workers = [1]

[[port]]
name = "server"
device = "net_af_packet1"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]

[[port.vlan]]
id = 10
addresses = ["198.19.10.1/24"]

[[route]]
prefix = "198.18.128.0/17"
via = "198.19.0.254"

[[route]]
prefix = "2001:db8:99::/48"
via = "2001:db8:2::fe"

[[route]]
"#;

    /// A route twice, a route to a connected subnet (`ip route add` says "File exists"
    /// for both; here the second replaced the first) and a prefix with host bits set
    /// (`ip route add` says "Invalid prefix") are refused at the prefix's line.
    #[test]
    fn duplicate_connected_and_host_bit_routes_are_refused() {
        let ok =
            parse(Path::new("rvsd.toml"), &format!("{BASE}prefix = \"0.0.0.0/0\"\nvia = \"198.19.0.254\"\n"));
        assert_eq!(ok.unwrap().routes.len(), 2);
        for (route, want) in [
            (
                "prefix = \"198.18.128.0/17\"\nvia = \"198.19.0.253\"",
                "a route to 198.18.128.0/17 is defined twice (first at line 14)",
            ),
            (
                "prefix = \"2001:db8:99::/48\"\nport = \"server\"",
                "a route to 2001:db8:99::/48 is defined twice (first at line 18)",
            ),
            (
                "prefix = \"198.19.0.0/24\"\nvia = \"198.19.0.254\"",
                "198.19.0.0/24 is the connected subnet of port `server`",
            ),
            (
                "prefix = \"198.19.10.0/24\"\nport = \"server\"",
                "198.19.10.0/24 is the connected subnet of port `server` VLAN 10",
            ),
            (
                "prefix = \"2001:db8:2::/64\"\nport = \"server\"",
                "2001:db8:2::/64 is the connected subnet of port `server`",
            ),
            (
                "prefix = \"198.18.9.1/24\"\nvia = \"198.19.0.254\"",
                "prefix 198.18.9.1/24 has host bits set (the network is 198.18.9.0/24)",
            ),
            (
                "prefix = \"2001:db8:98::1/48\"\nport = \"server\"",
                "prefix 2001:db8:98::1/48 has host bits set (the network is 2001:db8:98::/48)",
            ),
            (
                "prefix = \"198.18.9.0\"\nvia = \"198.19.0.254\"",
                "bad prefix `198.18.9.0`: expected A.B.C.D/LEN",
            ),
        ] {
            let e = parse(Path::new("rvsd.toml"), &format!("{BASE}{route}\n")).unwrap_err();
            assert!(e.message.contains(want), "{route}: {e}");
            assert_eq!(e.line, 22, "{route}: {e}");
        }
    }
}
