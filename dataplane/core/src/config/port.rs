//! Checks of a `[[port]]` against the ports before it: one port per device, and no IPv4
//! address or subnet on two ports (one routing table: a subnet is reached through one
//! interface, as `vlan` requires of VLANs).

use serde_spanned::Spanned;
use std::net::Ipv4Addr;

use super::{is_pci_address, ConfigError, Ctx, PortConfig};
use crate::route::Prefix;

/// The device a `device` names, spelled one way: a PCI address in full, lower case
/// (`3B:00.0` is `0000:3b:00.0`); a vdev by its name (what comes before a comma).
pub(super) fn device_key(device: &str) -> String {
    let name = device.split(',').next().unwrap_or(device).trim();
    if !is_pci_address(name) {
        return name.to_string();
    }
    let (domain, rest) = match name.matches(':').count() {
        2 => name.split_once(':').expect("two colons"),
        _ => ("0", name),
    };
    let num = |s: &str| u32::from_str_radix(s, 16).unwrap_or(u32::MAX);
    let (bus, devfn) = rest.split_once(':').expect("a PCI address");
    let (dev, func) = devfn.split_once('.').expect("a PCI address");
    format!("{:04x}:{:02x}:{:02x}.{:x}", num(domain), num(bus), num(dev), num(func))
}

/// A port's `device` must be no other port's: DPDK probes a device once, and two ports on
/// one would configure the same queues twice.
pub(super) fn check_device(
    cx: &Ctx,
    device: &Spanned<String>,
    before: &[PortConfig],
) -> Result<(), ConfigError> {
    let key = device_key(device.get_ref());
    if let Some(q) = before.iter().find(|q| device_key(&q.device) == key) {
        return cx.err(
            device.span(),
            format!("device `{}` is port `{}`'s already (one [[port]] per device)", device.get_ref(), q.name),
        );
    }
    Ok(())
}

/// An IPv4 address of a port (untagged): not an address of any interface already, and
/// not in a subnet of another port (or of another port's VLAN). `own` are the port's
/// addresses before it (a second address in the port's own subnet is fine).
pub(super) fn check_address(
    cx: &Ctx,
    a: &Spanned<String>,
    (ip, len): (Ipv4Addr, u8),
    own: &[(Ipv4Addr, u8)],
    before: &[PortConfig],
) -> Result<(), ConfigError> {
    if own.iter().any(|&(o, _)| o == ip) {
        return cx.err(a.span(), format!("address {ip} is listed twice"));
    }
    let overlap = |(o, ol): (Ipv4Addr, u8)| {
        let l = len.min(ol);
        Prefix::new(o, l) == Prefix::new(ip, l)
    };
    for q in before {
        let ifaces =
            std::iter::once((None, &q.addresses)).chain(q.vlans.iter().map(|v| (Some(v.id), &v.addresses)));
        for (vlan, addrs) in ifaces {
            if let Some(&(o, ol)) = addrs.iter().find(|&&x| overlap(x)) {
                let on = match vlan {
                    None => format!("port `{}`", q.name),
                    Some(id) => format!("port `{}` VLAN {id}", q.name),
                };
                let what = if o == ip { "is the address".to_string() } else { format!("overlaps {o}/{ol}") };
                return cx.err(
                    a.span(),
                    format!("{ip}/{len} {what} on {on}: a subnet is reached through one interface"),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::device_key;
    use std::path::Path;

    const BASE: &str = r#"[dataplane]
workers = [1]

[[port]]
name = "client"
device = "0000:3b:00.0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]

[[port.vlan]]
id = 10
addresses = ["198.18.10.1/24"]

[[port]]
name = "server"
device = "0000:3b:00.1"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]
"#;

    #[test]
    fn devices_are_compared_as_devices() {
        assert_eq!(device_key("3B:00.1"), "0000:3b:00.1");
        assert_eq!(device_key("0000:3b:00.1"), "0000:3b:00.1");
        assert_eq!(device_key("net_af_packet0,iface=lb-c"), "net_af_packet0");
        assert!(parse(Path::new("rvsd.toml"), BASE).is_ok());
    }

    #[test]
    fn a_device_or_an_address_on_two_ports_is_refused_at_its_line() {
        for (from, to, want) in [
            (
                "device = \"0000:3b:00.1\"",
                "device = \"0000:3b:00.0\"",
                "device `0000:3b:00.0` is port `client`'s already",
            ),
            (
                "device = \"0000:3b:00.1\"",
                "device = \"3B:00.0\"",
                "device `3B:00.0` is port `client`'s already",
            ),
            (
                "\"198.19.0.1/24\", \"2001:db8:2",
                "\"198.18.0.1/24\", \"2001:db8:2",
                "198.18.0.1/24 is the address on port `client`",
            ),
            (
                "\"198.19.0.1/24\", \"2001:db8:2",
                "\"198.18.0.2/16\", \"2001:db8:2",
                "198.18.0.2/16 overlaps 198.18.0.1/24 on port `client`",
            ),
            (
                "\"198.19.0.1/24\", \"2001:db8:2",
                "\"198.18.10.9/24\", \"2001:db8:2",
                "overlaps 198.18.10.1/24 on port `client` VLAN 10",
            ),
            (
                "\"198.19.0.1/24\", \"2001:db8:2",
                "\"198.19.0.1/24\", \"198.19.0.1/24\", \"2001:db8:2",
                "address 198.19.0.1 is listed twice",
            ),
            (
                "\"2001:db8:2::1/64\"",
                "\"2001:db8:1::2/64\"",
                "2001:db8:1::2/64 overlaps 2001:db8:1::1/64 on another interface",
            ),
            (
                "\"2001:db8:2::1/64\"",
                "\"2001:db8:2::1/64\", \"2001:db8:2::1/64\"",
                "address 2001:db8:2::1 is listed twice",
            ),
        ] {
            let t = BASE.replacen(from, to, 1);
            let e = parse(Path::new("rvsd.toml"), &t).unwrap_err();
            assert!(e.message.contains(want), "{to}: {e}");
            let line = if from.starts_with("device") { 15 } else { 16 };
            assert_eq!(e.line, line, "{to}: {e}");
        }
        let e =
            parse(Path::new("rvsd.toml"), &BASE.replacen("name = \"server\"", "name = \"\"", 1)).unwrap_err();
        assert_eq!((e.line, e.message.contains("empty port `name`")), (14, true), "{e}");
        // A second address in the port's own subnet is fine.
        let t = BASE.replacen("\"198.19.0.1/24\"", "\"198.19.0.1/24\", \"198.19.0.2/24\"", 1);
        assert_eq!(parse(Path::new("rvsd.toml"), &t).unwrap().ports[1].addresses.len(), 2);
    }
}
