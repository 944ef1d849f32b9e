//! `[[service]]`: a virtual service, its options and its real servers (`real`).

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::SocketAddr;

use super::{limits, netmask_prefix, Config, ConfigError, Ctx, ServiceConfig};
use rvs_proto::{Protocol, RealSpec, ServiceKey, ServiceSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    protocol: Spanned<String>,
    address: Spanned<String>,
    #[serde(default = "default_scheduler")]
    scheduler: Spanned<String>,
    #[serde(default)]
    local_addresses: Vec<Spanned<String>>,
    #[serde(default)]
    sched_flags: Vec<Spanned<String>>,
    /// Seconds; enables persistence (ipvsadm -p).
    persistence_timeout: Option<Spanned<u32>>,
    /// Netmask applied to client addresses for persistence (ipvsadm -M).
    persistence_granularity: Option<Spanned<String>>,
    #[serde(default)]
    syn_proxy: bool,
    #[serde(default)]
    toa: bool,
    /// "v1" or "v2".
    proxy_protocol: Option<Spanned<String>>,
    /// "first-data" (default) or "on-connect".
    proxy_protocol_send: Option<Spanned<String>>,
    /// IPVS's expire_quiescent_template, for this service.
    #[serde(default)]
    expire_quiescent_template: bool,
    /// mh: the Maglev table size M (a prime).
    mh_table_size: Option<Spanned<u32>>,
    /// Source prefixes allowed / refused (see `limits`).
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    /// New connections per second from one source, to the service; its cap.
    source_conn_rate: Option<Spanned<toml::Value>>,
    conn_rate: Option<Spanned<toml::Value>>,
    max_conns: Option<Spanned<u32>>,
    #[serde(default)]
    real: Vec<RawReal>,
}

fn default_scheduler() -> Spanned<String> {
    Spanned::new(0..0, crate::sched::DEFAULT.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReal {
    address: Spanned<String>,
    #[serde(default = "default_weight")]
    weight: Spanned<u32>,
    #[serde(default)]
    upper_threshold: u32,
    #[serde(default)]
    lower_threshold: u32,
    /// Forwarding method: "fullnat" (the default), "nat", "dr" or "tun" (ipvsadm's -b, -m,
    /// -g, -i).
    #[serde(default)]
    method: Option<Spanned<String>>,
}

/// A real server's `method` as the config spells it.
fn parse_method(m: &str) -> Option<rvs_proto::ForwardMethod> {
    use rvs_proto::ForwardMethod::*;
    Some(match m.to_ascii_lowercase().as_str() {
        "fullnat" | "fnat" => FullNat,
        "nat" | "masq" => Nat,
        "dr" | "route" => DirectRoute,
        "tun" | "tunnel" | "ipip" => Tunnel,
        _ => return None,
    })
}

fn default_weight() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

/// Why `s` is not a `what` of the form `expected`.
fn socket_error(what: &str, s: &str, expected: &str) -> String {
    let t = s.trim();
    let port_of = |p: &str| p.parse::<u32>().ok().filter(|_| t.parse::<std::net::IpAddr>().is_err());
    let why = match t.rsplit_once(':').and_then(|(_, p)| port_of(p)) {
        Some(p) if p > 65535 => format!("port {p} is above 65535"),
        _ if t.contains('/') => "an address and a port, without a prefix length".to_string(),
        _ if t.parse::<std::net::IpAddr>().is_ok() => format!("it has no port: expected {expected}"),
        _ => format!("expected {expected}"),
    };
    format!("bad {what} `{s}`: {why}")
}

/// Every `[[service]]`, in file order.
pub(super) fn parse_services(cx: &Ctx, raw: Vec<RawService>) -> Result<Vec<ServiceConfig>, ConfigError> {
    let mut services: Vec<ServiceConfig> = Vec::new();
    for s in raw {
        let protocol = match s.protocol.get_ref().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => return cx.err(s.protocol.span(), format!("unknown protocol `{other}` (tcp or udp)")),
        };
        let addr = parse_socket(s.address.get_ref()).ok_or(()).or_else(|_| {
            cx.err(
                s.address.span(),
                socket_error("address", s.address.get_ref(), "A.B.C.D:PORT or [IPV6]:PORT"),
            )
        })?;
        if !crate::sched::is_known(s.scheduler.get_ref()) {
            return cx.err(
                s.scheduler.span(),
                format!(
                    "unknown scheduler `{}` (available: {})",
                    s.scheduler.get_ref(),
                    crate::sched::NAMES.join(", ")
                ),
            );
        }
        let key = ServiceKey { protocol, addr };
        if services.iter().any(|o| o.spec.key == key) {
            return cx
                .err(s.address.span(), format!("service {} {} is defined twice", protocol.as_str(), addr));
        }
        let mut local_addrs = Vec::new();
        for a in &s.local_addresses {
            let ip: std::net::IpAddr = a.get_ref().parse().or_else(|_| {
                let why =
                    if a.get_ref().contains('/') { ": an address, without a prefix length" } else { "" };
                cx.err(a.span(), format!("bad local address `{}`{why}", a.get_ref()))
            })?;
            if local_addrs.contains(&ip) {
                return cx.err(a.span(), format!("local address {ip} is listed twice"));
            }
            if ip.is_ipv6() && addr.is_ipv4() {
                // An IPv6 service may have IPv4 local addresses: its IPv4 real servers'
                // (NAT64). The reverse (NAT46) is not supported.
                return cx.err(
                    a.span(),
                    format!("local address {ip} is not of the service address's family (an IPv4 service takes no IPv6 ones)"),
                );
            }
            local_addrs.push(ip);
        }
        let mut reals: Vec<(RealSpec, usize)> = Vec::new();
        for r in &s.real {
            let raddr = parse_socket(r.address.get_ref())
                .or_else(|| {
                    r.address
                        .get_ref()
                        .parse::<std::net::IpAddr>()
                        .ok()
                        .map(|ip| SocketAddr::new(ip, addr.port()))
                })
                .ok_or(())
                .or_else(|_| {
                    cx.err(
                        r.address.span(),
                        socket_error(
                            "real server address",
                            r.address.get_ref(),
                            "A.B.C.D[:PORT] or [IPV6]:PORT",
                        ),
                    )
                })?;
            if reals.iter().any(|(o, _)| o.addr == raddr) {
                return cx.err(r.address.span(), format!("real server {raddr} is listed twice"));
            }
            if r.upper_threshold != 0 && r.lower_threshold > r.upper_threshold {
                return cx.err(r.address.span(), "lower_threshold is above upper_threshold");
            }
            let method = match &r.method {
                None => rvs_proto::ForwardMethod::FullNat,
                Some(m) => parse_method(m.get_ref()).ok_or(()).or_else(|_| {
                    cx.err(m.span(), format!("unknown method `{}` (fullnat, nat, dr or tun)", m.get_ref()))
                })?,
            };
            if *r.weight.get_ref() > 65535 {
                return cx.err(
                    r.weight.span(),
                    format!("weight {} is out of range (0 to 65535, as ipvsadm's -w)", r.weight.get_ref()),
                );
            }
            let spec = RealSpec {
                thresholds: rvs_proto::Thresholds { upper: r.upper_threshold, lower: r.lower_threshold },
                addr: raddr,
                weight: *r.weight.get_ref(),
                method,
                tunnel: None,
            };
            if let Err(e) = rvs_proto::check::check_real_family(addr, &spec) {
                return cx.err(r.address.span(), e);
            }
            reals.push((spec, cx.line_of(r.address.span().start)));
        }
        let mut options = rvs_proto::ServiceOptions::default();
        for f in &s.sched_flags {
            crate::sched::SchedFlags::parse(f.get_ref()).or_else(|e| cx.err(f.span(), e))?;
            options.sched_flags.push(f.get_ref().clone());
        }
        // A netmask (or prefix length) for IPv4, a prefix length (1-128) for IPv6; a host
        // address by default.
        let prefix_len = match &s.persistence_granularity {
            None if addr.is_ipv6() => 128,
            None => 32,
            Some(g) if addr.is_ipv6() => {
                let n = g.get_ref().trim().trim_start_matches('/').parse::<u8>().ok();
                n.filter(|n| (1..=128).contains(n)).ok_or(()).or_else(|_| {
                    cx.err(g.span(), format!("bad prefix length `{}` (1 to 128 for IPv6)", g.get_ref()))
                })?
            }
            Some(g) => netmask_prefix(g.get_ref())
                .ok_or(())
                .or_else(|_| cx.err(g.span(), format!("bad netmask `{}`", g.get_ref())))?,
        };
        if let Some(t) = &s.persistence_timeout {
            if *t.get_ref() == 0 {
                return cx.err(t.span(), "persistence_timeout must be at least 1");
            }
            options.persistence = Some(rvs_proto::Persistence { timeout: *t.get_ref(), prefix_len });
        } else if let Some(g) = &s.persistence_granularity {
            return cx.err(
                g.span(),
                "persistence_granularity needs persistence_timeout (it has no effect without)",
            );
        }
        options.syn_proxy = s.syn_proxy;
        options.toa = s.toa;
        if let Some(v) = &s.proxy_protocol {
            options.proxy_protocol = Some(match v.get_ref().as_str() {
                "v1" | "1" => 1,
                "v2" | "2" => 2,
                other => {
                    return cx
                        .err(v.span(), format!("proxy_protocol must be \"v1\" or \"v2\", not `{other}`"))
                }
            });
        }
        if let Some(m) = &s.proxy_protocol_send {
            options.proxy_on_connect = match m.get_ref().as_str() {
                "first-data" => false,
                "on-connect" => true,
                other => {
                    return cx.err(
                        m.span(),
                        format!(
                            "proxy_protocol_send must be \"first-data\" or \"on-connect\", not `{other}`"
                        ),
                    )
                }
            };
            if options.proxy_protocol.is_none() {
                return cx.err(m.span(), "proxy_protocol_send needs proxy_protocol = \"v1\" or \"v2\"");
            }
        }
        options.expire_quiescent_template = s.expire_quiescent_template;
        let raw_limits = limits::RawLimits {
            allow: &s.allow,
            deny: &s.deny,
            source_conn_rate: s.source_conn_rate.as_ref(),
            conn_rate: s.conn_rate.as_ref(),
            max_conns: s.max_conns.as_ref(),
        };
        limits::parse_limits(cx, raw_limits, &mut options)?;
        if let Some(m) = &s.mh_table_size {
            if s.scheduler.get_ref() != "mh" {
                return cx.err(
                    m.span(),
                    format!(
                        "mh_table_size applies to scheduler \"mh\" only, not `{}`",
                        s.scheduler.get_ref()
                    ),
                );
            }
            options.mh_table_size = Some(*m.get_ref());
            let probe =
                ServiceSpec { options: options.clone(), key, scheduler: "mh".into(), local_addrs: vec![] };
            if let Err(e) = rvs_proto::check::check_service(&probe) {
                return cx.err(m.span(), e);
            }
        }
        if protocol != Protocol::Tcp && (options.syn_proxy || options.toa || options.proxy_protocol.is_some())
        {
            return cx.err(s.protocol.span(), "syn_proxy, toa and proxy_protocol apply to TCP services only");
        }
        let spec = ServiceSpec { options, key, scheduler: s.scheduler.into_inner(), local_addrs };
        // What rvsd checks when the service is added (what IPv6 services do not take
        // yet, ...), named at the service's line; and each real server's within it
        // (SYN proxy, TOA and the PROXY protocol need FULLNAT), at the server's.
        if let Err(e) = rvs_proto::check::check_service(&spec) {
            return cx.err(s.address.span(), e);
        }
        for (r, line) in &reals {
            let checked = rvs_proto::check::check_real(r)
                .and_then(|()| rvs_proto::check::check_real_in_service(&spec.options, r));
            if let Err(e) = checked {
                return cx.err_at(*line, e);
            }
        }
        services.push(ServiceConfig { spec, reals, line: cx.line_of(s.address.span().start) });
    }
    Ok(services)
}

/// `A.B.C.D:PORT` or `[IPV6]:PORT` (ipvsadm's spelling), port not zero.
/// An address and port; port 0 is LVS's catch-all (a service's: every port of its VIP, with
/// persistence, which `check_service` requires; a real server's: the port the client asked).
fn parse_socket(s: &str) -> Option<SocketAddr> {
    s.trim().parse().ok()
}

/// A FULLNAT real server needs a local address of its own family to reach it from: the
/// service's `local_addresses`, or for an IPv4 one, the `local_addresses` pool of the VLAN
/// it is routed through. Without one, every connection to it would be dropped
/// (`no_local_addr`); rvs-ctrl refuses such a keepalived.conf virtual server too.
pub(super) fn check_local_addresses(cx: &Ctx, cfg: &Config) -> Result<(), ConfigError> {
    let mut table = None;
    for s in &cfg.services {
        for (r, line) in &s.reals {
            if r.method != rvs_proto::ForwardMethod::FullNat {
                continue;
            }
            let ip = r.addr.ip();
            if s.spec.local_addrs.iter().any(|a| a.is_ipv4() == ip.is_ipv4()) {
                continue;
            }
            let pooled = match ip {
                std::net::IpAddr::V4(ip) => {
                    let t = table.get_or_insert_with(|| cfg.route_table());
                    t.lookup(ip)
                        .is_some_and(|h| !cfg.interfaces()[usize::from(h.port)].local_addresses.is_empty())
                }
                std::net::IpAddr::V6(_) => false,
            };
            if pooled {
                continue;
            }
            let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            return cx.err_at(
                *line,
                format!(
                    "real server {} is FULLNAT (the default `method`), but service {} {} has no {family} \
                     `local_addresses` to reach it from{}: add some, or give the real server \
                     `method = \"nat\"`, `\"dr\"` or `\"tun\"`",
                    r.addr,
                    s.spec.key.protocol.as_str(),
                    s.spec.key.addr,
                    if ip.is_ipv4() { " (nor has the VLAN it is routed through a pool)" } else { "" },
                ),
            );
        }
    }
    Ok(())
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
local_addresses = ["198.19.10.200"]

[[service]]
protocol = "tcp"
"#;

    fn svc(rest: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        parse(Path::new("rvsd.toml"), &format!("{BASE}{rest}\n"))
    }

    /// Addresses, weights and local addresses an operator gets wrong are named at their
    /// line, with what was expected.
    #[test]
    fn bad_addresses_weights_and_lips_say_why() {
        for (rest, line, want) in [
            // Port 0 is the catch-all, which takes persistence (ipvsadm's words).
            ("address = \"198.18.0.100:0\"", 16, "Zero port specified for non-persistent service"),
            ("address = \"198.18.0.100:70000\"", 16, "port 70000 is above 65535"),
            ("address = \"198.18.0.100\"", 16, "bad address `198.18.0.100`: it has no port: expected A.B.C.D:PORT"),
            ("address = \"198.18.0.100/32:80\"", 16, "without a prefix length"),
            (
                "address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200/24\"]",
                17,
                "bad local address `198.19.0.200/24`: an address, without a prefix length",
            ),
            (
                "address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200\", \"198.19.0.200\"]",
                17,
                "local address 198.19.0.200 is listed twice",
            ),
            (
                "address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200\"]\n[[service.real]]\naddress = \"198.19.0.11\"\nweight = 65536",
                20,
                "weight 65536 is out of range (0 to 65535",
            ),
            (
                "address = \"198.18.0.100:80\"\npersistence_granularity = \"255.255.255.0\"",
                17,
                "persistence_granularity needs persistence_timeout",
            ),
        ] {
            let e = svc(rest).unwrap_err();
            assert!(e.message.contains(want), "{rest}: {e}");
            assert_eq!(e.line, line, "{rest}: {e}");
        }
        let c = svc("address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200\"]\nreal = [ { address = \"198.19.0.11\", weight = 65535 } ]");
        assert_eq!(c.unwrap().services[0].reals[0].0.weight, 65535);
    }

    /// Port 0 is LVS's catch-all, as `ipvsadm -A -t VIP:0 -p` and keepalived's
    /// `virtual_server VIP 0` make it: a persistent service on every port of its VIP, whose
    /// real servers (port 0 or none given) take the port the client asked for.
    #[test]
    fn port_zero_is_the_persistent_catch_all() {
        let rest = "address = \"198.18.0.100:0\"\npersistence_timeout = 300\nlocal_addresses = [\"198.19.0.200\"]\nreal = [ { address = \"198.19.0.11\" }, { address = \"198.19.0.12:0\" } ]";
        let c = svc(rest).unwrap();
        let s = &c.services[0];
        assert_eq!(s.spec.key.addr.port(), 0);
        let ports: Vec<u16> = s.reals.iter().map(|(r, _)| r.addr.port()).collect();
        assert_eq!(ports, [0, 0]);
        // A real server's port 0 under a service of its own port: the client's port too.
        let rest = "address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200\"]\nreal = [ { address = \"198.19.0.11:0\" } ]";
        assert_eq!(svc(rest).unwrap().services[0].reals[0].0.addr.port(), 0);
    }

    /// What the registry would refuse when rvsd adds the service is refused by the config
    /// reader itself, at the real server's line (only `rvsd --check` said so before).
    #[test]
    fn fullnat_only_options_refuse_other_methods() {
        let rest = "address = \"198.18.0.100:80\"\nsyn_proxy = true\nreal = [\n  { address = \"198.19.0.11\", method = \"dr\" },\n]";
        let e = svc(rest).unwrap_err();
        assert_eq!(e.line, 19, "{e}");
        assert!(e.message.contains("synproxy works with FULLNAT real servers only"), "{e}");
    }

    /// A key that only one scheduler reads is refused under another (it was ignored).
    #[test]
    fn mh_table_size_needs_the_mh_scheduler() {
        let c = svc("address = \"198.18.0.100:80\"\nscheduler = \"mh\"\nmh_table_size = 251").unwrap();
        assert_eq!(c.services[0].spec.options.mh_table_size, Some(251));
        let e = svc("address = \"198.18.0.100:80\"\nscheduler = \"wlc\"\nmh_table_size = 251").unwrap_err();
        assert_eq!(e.line, 18, "{e}");
        assert!(e.message.contains("mh_table_size applies to scheduler \"mh\" only, not `wlc`"), "{e}");
    }

    /// A FULLNAT real server with no local address of its family to reach it from is
    /// refused at its line (every connection to it was dropped as `no_local_addr`).
    #[test]
    fn fullnat_real_servers_need_a_local_address() {
        for rest in [
            // Its own local addresses, of the real server's family (NAT64: IPv4 ones).
            "address = \"198.18.0.100:80\"\nlocal_addresses = [\"198.19.0.200\"]\nreal = [ { address = \"198.19.0.11\" } ]",
            "address = \"[2001:db8:1::100]:80\"\nlocal_addresses = [\"2001:db8:2::200\", \"198.19.0.200\"]\nreal = [ { address = \"[2001:db8:2::11]:80\" }, { address = \"198.19.0.11:80\" } ]",
            // The pool of the VLAN the real server is routed through.
            "address = \"198.18.0.100:80\"\nreal = [ { address = \"198.19.10.11\" } ]",
            // No local address needed: DR/NAT/TUN, or no real server yet.
            "address = \"198.18.0.100:80\"\nreal = [ { address = \"198.19.0.11\", method = \"dr\" }, { address = \"198.19.0.12\", method = \"nat\" } ]",
            "address = \"198.18.0.100:80\"",
        ] {
            assert!(svc(rest).is_ok(), "{rest}: {:?}", svc(rest).err());
        }
        for (rest, want) in [
            (
                "address = \"198.18.0.100:80\"\nreal = [\n  { address = \"198.19.10.11\" },\n  { address = \"198.19.0.12\" },\n]",
                "real server 198.19.0.12:80 is FULLNAT (the default `method`), but service TCP 198.18.0.100:80 has no IPv4 `local_addresses`",
            ),
            (
                "address = \"[2001:db8:1::100]:80\"\nlocal_addresses = [\"198.19.0.200\"]\nreal = [\n  { address = \"198.19.0.11\" },\n  { address = \"[2001:db8:2::12]:80\" },\n]",
                "real server [2001:db8:2::12]:80 is FULLNAT (the default `method`), but service TCP [2001:db8:1::100]:80 has no IPv6 `local_addresses`",
            ),
            (
                "address = \"[2001:db8:1::100]:80\"\nlocal_addresses = [\"2001:db8:2::200\"]\nreal = [\n  { address = \"[2001:db8:2::11]:80\" },\n  { address = \"198.19.0.12:80\" },\n]",
                "real server 198.19.0.12:80 is FULLNAT",
            ),
        ] {
            let e = svc(rest).unwrap_err();
            assert!(e.message.contains(want), "{rest}: {e}");
            assert_eq!(e.line, BASE.lines().count() + rest.lines().count() - 1, "{rest}: {e}");
        }
    }
}
