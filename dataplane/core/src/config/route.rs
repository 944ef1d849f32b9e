//! `[[route]]`: static routes (IPv4 here, IPv6 in `v6`).

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::Ipv4Addr;

use super::{parse_cidr, v6, ConfigError, Ctx, PortConfig, Route6Config, RouteConfig};
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
            routes6.push(v6::parse_route(cx, &r, ports)?);
            continue;
        }
        let prefix = parse_cidr(r.prefix.get_ref())
            .and_then(|(ip, len)| Prefix::new(ip, len))
            .ok_or(())
            .or_else(|_| cx.err(r.prefix.span(), format!("bad prefix `{}`", r.prefix.get_ref())))?;
        let via = match &r.via {
            None => None,
            Some(v) => Some(
                v.get_ref()
                    .parse::<Ipv4Addr>()
                    .or_else(|_| cx.err(v.span(), format!("bad address `{}`", v.get_ref())))?,
            ),
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
        if via.is_none() && port.is_none() {
            return cx.err(r.prefix.span(), "a route needs `via` or `port`");
        }
        let vlan = match (&r.vlan, port) {
            (None, _) => None,
            (Some(v), None) => return cx.err(v.span(), "`vlan` needs `port` (the port the VLAN is on)"),
            (Some(v), Some(p)) => {
                if !ports[p].vlans.iter().any(|x| x.id == *v.get_ref()) {
                    return cx.err(v.span(), format!("port `{}` has no VLAN {}", ports[p].name, v.get_ref()));
                }
                Some(*v.get_ref())
            }
        };
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
