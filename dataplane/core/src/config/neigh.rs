//! `[[neighbour]]`: static neighbours (`ip neigh add ... nud permanent`, DPVS's
//! `dpip neigh add ... static`): a gateway or real server whose MAC is pinned, so rvsd
//! needs no ARP or Neighbor Discovery answer from it and no forged answer moves it.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::IpAddr;

use super::{parse_cidr, parse_cidr6, ConfigError, Ctx, PortConfig};
use crate::neigh::Mac;
use crate::route::v6::Prefix6;
use crate::route::Prefix;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbour {
    address: Spanned<String>,
    mac: Spanned<String>,
    port: Option<Spanned<String>>,
    vlan: Option<Spanned<u16>>,
}

/// A static neighbour: `address` is at `mac` on `port` (its VLAN `vlan`, or untagged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourConfig {
    pub address: IpAddr,
    pub mac: Mac,
    /// Index into `Config::ports`.
    pub port: usize,
    pub vlan: Option<u16>,
    pub line: usize,
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`), a unicast MAC.
fn parse_mac(s: &str) -> Result<Mac, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let bad = || format!("bad MAC `{s}`: expected six hex bytes, aa:bb:cc:dd:ee:ff");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(format!("MAC {s} is a multicast or broadcast address, not a neighbour's"));
    }
    if mac == [0; 6] {
        return Err(format!("MAC {s} is all zeros"));
    }
    Ok(mac)
}

/// The connected subnets of each interface: (port, VLAN, holds `ip`).
fn on_link(ports: &[PortConfig], ip: IpAddr) -> Vec<(usize, Option<u16>)> {
    let mut out = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let ifaces = std::iter::once((None, &p.addresses, &p.addresses6))
            .chain(p.vlans.iter().map(|v| (Some(v.id), &v.addresses, &v.addresses6)));
        for (vlan, v4, v6) in ifaces {
            let holds = match ip {
                IpAddr::V4(a) => v4.iter().any(|&(n, l)| Prefix::new(n, l).is_some_and(|p| p.contains(a))),
                IpAddr::V6(a) => v6.iter().any(|&(n, l)| Prefix6::new(n, l).is_some_and(|p| p.contains(a))),
            };
            if holds {
                out.push((i, vlan));
            }
        }
    }
    out
}

/// Whether `ip` is one of the interfaces' own addresses.
fn is_own(ports: &[PortConfig], ip: IpAddr) -> bool {
    ports.iter().any(|p| {
        let v4 = p.addresses.iter().chain(p.vlans.iter().flat_map(|v| v.addresses.iter()));
        let v6 = p.addresses6.iter().chain(p.vlans.iter().flat_map(|v| v.addresses6.iter()));
        v4.map(|&(a, _)| IpAddr::V4(a)).chain(v6.map(|&(a, _)| IpAddr::V6(a))).any(|a| a == ip)
    })
}

/// Where neighbour `address` is: on `port` (its VLAN `vlan`) when named, else on the one
/// interface whose connected subnet holds it. Refuses one of rvsd's own addresses and an
/// IPv6 neighbour on an interface without IPv6. `name_it`: how to name the interface where the subnets do not tell (the file's keys,
/// or rvsadm's `dev`).
fn place(
    ports: &[PortConfig],
    address: IpAddr,
    port: Option<usize>,
    vlan: Option<u16>,
    name_it: &str,
) -> Result<(usize, Option<u16>), String> {
    if is_own(ports, address) {
        return Err(format!("{address} is an address of rvsd's own interfaces"));
    }
    let (port, vlan) = match port {
        Some(p) => (p, vlan),
        None => match on_link(ports, address).as_slice() {
            [only] => *only,
            [] => return Err(format!("{address} is in no interface's connected subnet; {name_it}")),
            _ => {
                return Err(format!("{address} is in the connected subnets of several interfaces; {name_it}"))
            }
        },
    };
    if address.is_ipv6() {
        let p = &ports[port];
        let v6 = match vlan {
            None => &p.addresses6,
            Some(id) => &p.vlans.iter().find(|v| v.id == id).ok_or("no such VLAN")?.addresses6,
        };
        if v6.is_empty() {
            let on = vlan.map_or(String::new(), |id| format!(" VLAN {id}"));
            return Err(format!("{address}: port `{}`{on} has no IPv6 address", p.name));
        }
    }
    Ok((port, vlan))
}

/// The interfaces' names in interface order (ports, then each port's VLANs): a port's
/// name, `PORT.VLAN` for a VLAN (as Linux names a VLAN device), for `rvsadm --neigh`.
pub fn interface_names(ports: &[PortConfig]) -> Vec<String> {
    let vlans =
        ports.iter().flat_map(|p| p.vlans.iter().map(move |v| super::vlan_kernel_name(&p.name, v.id)));
    ports.iter().map(|p| p.name.clone()).chain(vlans).collect()
}

/// The interface number of `name`, one of `interface_names`.
pub fn interface_named(ports: &[PortConfig], name: &str) -> Result<usize, String> {
    let names = interface_names(ports);
    names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| format!("no interface named `{name}` (there are: {})", names.join(", ")))
}

/// A neighbour given at run time (`rvsadm --neigh add`): the checks of `[[neighbour]]`,
/// with `dev` a name of `interface_names`. Its MAC and interface number.
pub fn runtime_neighbour(
    ports: &[PortConfig],
    address: IpAddr,
    mac: &str,
    dev: Option<&str>,
) -> Result<(Mac, usize), String> {
    let mac = parse_mac(mac.trim())?;
    let names = interface_names(ports);
    let (port, vlan) = match dev {
        None => (None, None),
        Some(d) => {
            let i = interface_named(ports, d)?;
            // Interface order: the ports, then each port's VLANs (`interface_names`).
            let vlans =
                ports.iter().enumerate().flat_map(|(p, x)| x.vlans.iter().map(move |v| (p, Some(v.id))));
            let (p, v) =
                if i < ports.len() { (i, None) } else { vlans.clone().nth(i - ports.len()).expect("named") };
            (Some(p), v)
        }
    };
    let (port, vlan) = place(ports, address, port, vlan, "name its interface: dev PORT or dev PORT.VLAN")?;
    let name = match vlan {
        None => ports[port].name.clone(),
        Some(id) => super::vlan_kernel_name(&ports[port].name, id),
    };
    Ok((mac, names.iter().position(|n| *n == name).expect("an interface of these ports")))
}

pub(super) fn parse_neighbours(
    cx: &Ctx,
    raw: Vec<RawNeighbour>,
    ports: &[PortConfig],
) -> Result<Vec<NeighbourConfig>, ConfigError> {
    let mut out: Vec<NeighbourConfig> = Vec::new();
    for n in raw {
        let text = n.address.get_ref().trim();
        // A prefix length is a slip for a host: say so rather than "bad address".
        let address: IpAddr = match text.parse() {
            Ok(a) => a,
            Err(_) if parse_cidr(text).is_some() || parse_cidr6(text).is_some() => {
                return cx
                    .err(n.address.span(), format!("`{text}`: a neighbour is one address, without /LEN"))
            }
            Err(_) => return cx.err(n.address.span(), format!("bad address `{text}`")),
        };
        let mac = parse_mac(n.mac.get_ref().trim()).or_else(|e| cx.err(n.mac.span(), e))?;
        let port = n.port.as_ref().map(|p| cx.port_named(ports, p)).transpose()?;
        let vlan = cx.route_vlan(ports, n.vlan.as_ref(), port)?;
        let (port, vlan) = place(ports, address, port, vlan, "name the `port` (and `vlan`)")
            .or_else(|e| cx.err(n.address.span(), e))?;
        let line = cx.line_of(n.address.span().start);
        if let Some(o) = out.iter().find(|o| o.address == address && o.port == port && o.vlan == vlan) {
            return cx.err(
                n.address.span(),
                format!("neighbour {address} is defined twice on that interface (first at line {})", o.line),
            );
        }
        out.push(NeighbourConfig { address, mac, port, vlan, line });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use std::path::Path;

    const BASE: &str = r#"[dataplane]
workers = [1]

[[port]]
name = "client"
device = "net_af_packet0"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "net_af_packet1"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]

[[port.vlan]]
id = 10
addresses = ["198.19.10.1/24"]
"#;

    fn load(extra: &str) -> Result<super::super::Config, super::super::ConfigError> {
        parse(Path::new("rvsd.toml"), &format!("{BASE}\n{extra}"))
    }

    #[test]
    fn neighbours_are_placed_on_their_interface() {
        let c = load(
            r#"
[[neighbour]]
address = "198.19.0.11"
mac = "02:00:00:00:00:0b"

[[neighbour]]
address = "198.19.10.11"
mac = "02-00-00-00-0A-0B"

[[neighbour]]
address = "2001:db8:2::11"
mac = "02:00:00:00:00:0c"

[[neighbour]]
address = "203.0.113.1"
mac = "02:00:00:00:00:0d"
port = "server"
vlan = 10
"#,
        )
        .unwrap();
        let got: Vec<_> =
            c.neighbours.iter().map(|n| (n.address.to_string(), n.mac[5], n.port, n.vlan, n.line)).collect();
        assert_eq!(
            got,
            [
                ("198.19.0.11".into(), 0x0b, 1, None, 20),
                ("198.19.10.11".into(), 0x0b, 1, Some(10), 24),
                ("2001:db8:2::11".into(), 0x0c, 1, None, 28),
                ("203.0.113.1".into(), 0x0d, 1, Some(10), 32),
            ]
        );
        // Interface numbers as the pipeline counts them: client, server, server VLAN 10.
        let ifaces: Vec<_> = c.neighbours.iter().map(|n| c.interface_of(n.port, n.vlan)).collect();
        assert_eq!(ifaces, [Some(1), Some(2), Some(1), Some(2)]);
        let alias = load("[[neighbor]]\naddress = \"198.19.0.12\"\nmac = \"02:00:00:00:00:0c\"\n").unwrap();
        assert_eq!(alias.neighbours.len(), 1, "the American spelling is read too");
    }

    /// Each mistake is refused with its line and what is wrong, not guessed around.
    #[test]
    fn bad_neighbours_name_their_line() {
        for (extra, want) in [
            (
                "address = \"198.19.0.300\"\nmac = \"02:00:00:00:00:01\"",
                "rvsd.toml:19: bad address `198.19.0.300`",
            ),
            (
                "address = \"198.19.0.11/24\"\nmac = \"02:00:00:00:00:01\"",
                "a neighbour is one address, without /LEN",
            ),
            ("address = \"198.19.0.11\"\nmac = \"02:00:00:00:01\"", "rvsd.toml:20: bad MAC `02:00:00:00:01`"),
            ("address = \"198.19.0.11\"\nmac = \"02:00:00:00:00:zz\"", "bad MAC"),
            ("address = \"198.19.0.11\"\nmac = \"ff:ff:ff:ff:ff:ff\"", "multicast or broadcast"),
            ("address = \"198.19.0.11\"\nmac = \"00:00:00:00:00:00\"", "all zeros"),
            ("address = \"198.19.0.1\"\nmac = \"02:00:00:00:00:01\"", "an address of rvsd's own interfaces"),
            (
                "address = \"203.0.113.1\"\nmac = \"02:00:00:00:00:01\"",
                "in no interface's connected subnet; name the `port`",
            ),
            (
                "address = \"198.19.0.11\"\nmac = \"02:00:00:00:00:01\"\nport = \"nope\"",
                "rvsd.toml:21: no port named `nope`",
            ),
            ("address = \"198.19.0.11\"\nmac = \"02:00:00:00:00:01\"\nvlan = 10", "`vlan` needs `port`"),
            (
                "address = \"198.19.0.11\"\nmac = \"02:00:00:00:00:01\"\nport = \"server\"\nvlan = 20",
                "port `server` has no VLAN 20",
            ),
            (
                "address = \"198.19.0.11\"\nmac = \"02:00:00:00:00:01\"\ndevice = \"x\"",
                "unknown field `device`",
            ),
            (
                "address = \"2001:db8:2::11\"\nmac = \"02:00:00:00:00:01\"\nport = \"client\"",
                "rvsd.toml:19: 2001:db8:2::11: port `client` has no IPv6 address",
            ),
        ] {
            let err = load(&format!("[[neighbour]]\n{extra}\n")).unwrap_err().to_string();
            assert!(err.contains(want), "{extra:?}: {err}");
            assert!(err.starts_with("rvsd.toml:"), "{err}");
        }
        let twice = "[[neighbour]]\naddress = \"198.19.0.11\"\nmac = \"02:00:00:00:00:01\"\n\
                     [[neighbour]]\naddress = \"198.19.0.11\"\nmac = \"02:00:00:00:00:02\"\n";
        let err = load(twice).unwrap_err().to_string();
        assert!(
            err.contains(
                "rvsd.toml:22: neighbour 198.19.0.11 is defined twice on that interface (first at line 19)"
            ),
            "{err}"
        );
    }

    /// `rvsadm --neigh add`: the same checks as the file's, over interface names.
    #[test]
    fn runtime_neighbours_are_checked_as_the_files_are() {
        let c = load("").unwrap();
        assert_eq!(super::interface_names(&c.ports), ["client", "server", "server.10"]);
        let add = |a: &str, mac: &str, dev: Option<&str>| {
            super::runtime_neighbour(&c.ports, a.parse().unwrap(), mac, dev)
        };
        let mac = [2, 0, 0, 0, 0, 0x0b];
        assert_eq!(add("198.19.0.11", "02:00:00:00:00:0b", None), Ok((mac, 1)));
        assert_eq!(add("198.19.10.11", "02-00-00-00-00-0B", None), Ok((mac, 2)));
        assert_eq!(add("203.0.113.1", "02:00:00:00:00:0b", Some("server.10")), Ok((mac, 2)));
        assert_eq!(add("203.0.113.1", "02:00:00:00:00:0b", Some("client")), Ok((mac, 0)));
        assert_eq!(add("2001:db8:2::11", "02:00:00:00:00:0b", None), Ok((mac, 1)));
        for (a, m, dev, want) in [
            ("198.19.0.11", "02:00:00:00:0b", None, "bad MAC `02:00:00:00:0b`"),
            ("198.19.0.11", "01:00:5e:00:00:01", None, "multicast or broadcast"),
            ("198.19.0.1", "02:00:00:00:00:0b", None, "an address of rvsd's own interfaces"),
            (
                "203.0.113.1",
                "02:00:00:00:00:0b",
                None,
                "in no interface's connected subnet; name its interface: dev",
            ),
            (
                "198.19.0.11",
                "02:00:00:00:00:0b",
                Some("server.20"),
                "no interface named `server.20` (there are: client, server, server.10)",
            ),
            ("198.19.0.11", "02:00:00:00:00:0b", Some("eth0"), "no interface named `eth0`"),
            ("2001:db8:2::11", "02:00:00:00:00:0b", Some("client"), "port `client` has no IPv6 address"),
            (
                "2001:db8:2::11",
                "02:00:00:00:00:0b",
                Some("server.10"),
                "port `server` VLAN 10 has no IPv6 address",
            ),
        ] {
            let err = add(a, m, dev).unwrap_err();
            assert!(err.contains(want), "{a} {m} {dev:?}: {err}");
        }
    }
}
