//! virtual_server blocks: the service, its options, quorum and real servers.

use super::ctx::Ctx;
use super::keywords::*;
use super::rs::{real_server, CheckDefaults};
use super::*;
use rvs_proto::Protocol;

pub(super) fn virtual_server(cx: &mut Ctx, s: &Stmt, cfg: &Config) -> Option<VirtualServer> {
    // The VIP:port pairs this block serves (the protocol comes from its `protocol` line).
    // keepalived reads the first two words and nothing after them (`alloc_vs`).
    if let [_, _, extra @ ..] = s.args.as_slice() {
        if !extra.is_empty() {
            cx.warn(
                &s.loc,
                format!("virtual_server: {:?} after the port ignored, as keepalived does", extra.join(" ")),
            );
        }
    }
    let (addrs, group): (Option<Vec<SocketAddr>>, Option<String>) = match s.args.get(..2).unwrap_or(&s.args) {
        [kind, _] if kind == "fwmark" => {
            cx.error(&s.loc, "virtual_server fwmark is not supported by the dataplane yet");
            return None;
        }
        [kind, name] if kind == "group" => match cfg.vs_groups.get(name) {
            Some(g) if !g.addrs.is_empty() => (Some(g.addrs.clone()), Some(name.clone())),
            Some(_) => return None, // its own error was reported
            None => {
                cx.error(&s.loc, format!("virtual_server group {name}: no such virtual_server_group"));
                return None;
            }
        },
        [ip, port] => {
            let ip = cx.ip(&s.loc, "virtual_server", ip);
            let port = cx.service_port(&s.loc, "virtual_server", port);
            (ip.zip(port).map(|(i, p)| vec![SocketAddr::new(i, p)]), None)
        }
        // keepalived >= 2.0.7: no port is port 0, LVS's every-port service.
        [ip] => (cx.ip(&s.loc, "virtual_server", ip).map(|i| vec![SocketAddr::new(i, 0)]), None),
        _ => {
            cx.error(&s.loc, "virtual_server needs IP [PORT], fwmark MARK or group NAME");
            return None;
        }
    };
    let Some(block) = &s.block else {
        cx.error(&s.loc, "virtual_server needs a { block }");
        return None;
    };
    let addrs = addrs?;
    let port = addrs[0].port();

    let mut vs = VirtualServer {
        loc: s.loc.clone(),
        key: ServiceKey { protocol: Protocol::Tcp, addr: addrs[0] },
        members: Vec::new(),
        group,
        delay_loop: DEFAULT_DELAY_LOOP,
        scheduler: DEFAULT_SCHEDULER.into(),
        method: ForwardMethod::FullNat,
        tunnel: None,
        sorry_method: None,
        persistence_timeout: None,
        persistence_granularity: None,
        sched_flags: Vec::new(),
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        sorry_server_inhibit: false,
        inhibit_on_failure: false,
        alpha: false,
        omega: false,
        ha_suspend: false,
        virtualhost: None,
        laddr_group: None,
        local_addrs: Vec::new(),
        syn_proxy: false,
        toa: false,
        proxy_protocol: None,
        proxy_on_connect: false,
        expire_quiescent_template: false,
        mh_table_size: None,
        limits: Default::default(),
        reals: Vec::new(),
    };
    let mut sched_set = false;
    let mut method_set = false;
    let mut delay_set = false;
    let mut granularity_loc: Option<Loc> = None;
    let mut quorum_loc: Option<Loc> = None;
    let mut hysteresis_loc: Option<Loc> = None;
    let mut flag_locs: Vec<Loc> = Vec::new();
    let mut laddr_loc: Option<Loc> = None;
    // Checker defaults set at the virtual-server level (keepalived 2.x).
    let mut defaults = CheckDefaults::default();
    let mut sorry_loc = None;
    // keepalived 2's `weight` here: the weight of every real server that sets none.
    let mut rs_weight = 1;
    for k in block {
        match k.keyword.as_str() {
            "delay_loop" => {
                delay_set = true;
                if let Some(d) = cx.secs(k) {
                    vs.delay_loop = d;
                }
            }
            "lb_algo" | "lvs_sched" => {
                if let Some(a) = cx.arg(k, 0) {
                    if SCHEDULERS.contains(&a) {
                        vs.scheduler = a.to_string();
                        sched_set = true;
                    } else {
                        // Reported here: not also "no lb_algo given" at the block's line.
                        sched_set = true;
                        cx.error(
                            &k.loc,
                            format!("unknown scheduler {a:?} (known: {})", SCHEDULERS.join(" ")),
                        );
                    }
                }
            }
            "lb_kind" | "lvs_method" => {
                if let Some((m, t)) = lvs_method(cx, k) {
                    vs.method = m;
                    vs.tunnel = t;
                    method_set = true;
                }
            }
            "protocol" => {
                if let Some(a) = cx.arg(k, 0) {
                    match a.to_ascii_uppercase().as_str() {
                        "TCP" => vs.key.protocol = Protocol::Tcp,
                        "UDP" => vs.key.protocol = Protocol::Udp,
                        "SCTP" => cx.error(&k.loc, "protocol SCTP is not supported by the dataplane yet"),
                        _ => cx.error(&k.loc, format!("unknown protocol {a:?} (TCP or UDP)")),
                    }
                }
            }
            "persistence_timeout" => match k.args.first() {
                // keepalived: a bare persistence_timeout is 6 minutes.
                None => {
                    vs.persistence_timeout = Some(DEFAULT_PERSISTENCE_TIMEOUT);
                    cx.info(&k.loc, format!("persistence_timeout without a value: {DEFAULT_PERSISTENCE_TIMEOUT} s (keepalived's default)"));
                }
                Some(_) => vs.persistence_timeout = cx.u32(k),
            },
            "persistence_granularity" => {
                if let Some(a) = cx.arg(k, 0) {
                    match granularity(a, vs.key.addr.is_ipv4()) {
                        Ok(p) => vs.persistence_granularity = Some(p),
                        Err(e) => cx.error(&k.loc, format!("persistence_granularity {a:?}: {e}")),
                    }
                }
                granularity_loc = Some(k.loc.clone());
            }
            "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2" => {
                if cx.flag(k) && !vs.sched_flags.contains(&k.keyword) {
                    vs.sched_flags.push(k.keyword.clone());
                    flag_locs.push(k.loc.clone());
                }
            }
            "flag-3" => cx.unsupported(k, " (no scheduler of IPVS or rvsd reads flag-3)"),
            "hashed" => cx.info(&k.loc, "'hashed' has no effect (every rvsd service is hashed)"),
            "ops" => cx.unsupported(k, " (no one-packet scheduling: each UDP flow is a session)"),
            "quorum" => {
                quorum_loc = Some(k.loc.clone());
                if let Some(q) = cx.u32(k) {
                    vs.quorum = q;
                }
            }
            "hysteresis" => {
                hysteresis_loc = Some(k.loc.clone());
                if let Some(h) = cx.u32(k) {
                    vs.hysteresis = h;
                }
            }
            "quorum_up" => vs.quorum_up = cx.script(k),
            "quorum_down" => vs.quorum_down = cx.script(k),
            "sorry_server" => {
                let ip = cx.arg(k, 0).and_then(|a| cx.ip(&k.loc, "sorry_server", a));
                let port = match k.args.get(1) {
                    Some(p) => cx.service_port(&k.loc, "sorry_server", p),
                    None => Some(port),
                };
                if let (Some(ip), Some(port)) = (ip, port) {
                    vs.sorry_server = Some(SocketAddr::new(ip, port));
                    sorry_loc = Some(k.loc.clone());
                }
            }
            "sorry_server_inhibit" => vs.sorry_server_inhibit = cx.flag(k),
            "sorry_server_lvs_method" => vs.sorry_method = lvs_method(cx, k),
            "inhibit_on_failure" => vs.inhibit_on_failure = cx.flag(k),
            "alpha" => vs.alpha = cx.flag(k),
            "omega" => vs.omega = cx.flag(k),
            "ha_suspend" => {
                vs.ha_suspend = cx.flag(k);
                cx.info(&k.loc, "ha_suspend kept: rvsd owns its VIPs, so checks are never suspended");
            }
            "virtualhost" => vs.virtualhost = cx.arg(k, 0).map(str::to_string),
            "laddr_group_name" => {
                vs.laddr_group = cx.arg(k, 0).map(str::to_string);
                laddr_loc = Some(k.loc.clone());
            }
            "syn_proxy" => vs.syn_proxy = cx.flag(k),
            "toa" => vs.toa = cx.flag(k),
            "proxy_protocol" => match k.args.first().map(|a| a.to_ascii_lowercase()) {
                None => vs.proxy_protocol = Some(2),
                Some(a) if a == "v1" || a == "1" => vs.proxy_protocol = Some(1),
                Some(a) if a == "v2" || a == "2" => vs.proxy_protocol = Some(2),
                Some(a) if matches!(a.as_str(), "off" | "no" | "false" | "0") => vs.proxy_protocol = None,
                Some(a) => cx.error(&k.loc, format!("proxy_protocol {a:?}: use v1 or v2")),
            },
            "proxy_protocol_send" => match k.args.first().map(|a| a.to_ascii_lowercase()) {
                Some(a) if a == "on-connect" => vs.proxy_on_connect = true,
                Some(a) if a == "first-data" => vs.proxy_on_connect = false,
                _ => cx.error(&k.loc, "proxy_protocol_send takes first-data or on-connect"),
            },
            "expire_quiescent_template" => vs.expire_quiescent_template = cx.flag(k),
            "mh_table_size" => {
                if let Some(m) = cx.u32(k) {
                    if (3..=rvs_proto::check::MH_TABLE_MAX).contains(&m) && rvs_proto::check::is_prime(m) {
                        vs.mh_table_size = Some(m);
                    } else {
                        cx.error(
                            &k.loc,
                            format!(
                                "mh_table_size {m}: must be a prime between 3 and {} (e.g. 65537)",
                                rvs_proto::check::MH_TABLE_MAX
                            ),
                        );
                    }
                }
            }
            "rvs_limits" => super::limits::rvs_limits(cx, k, &mut vs.limits),
            "retry" | "delay_before_retry" | "connect_timeout" | "warmup" => defaults.set(cx, k),
            "weight" => match cx.u32(k) {
                Some(w) if w >= 1 => rs_weight = w,
                Some(_) => {
                    cx.error(&k.loc, "'weight' of a virtual_server (its real servers' default) is at least 1")
                }
                None => {}
            },
            "real_server" => {}
            "deny_address_group" | "whitelist_address_group" | "blacklist_address_group" => {
                cx.unsupported(k, " (write the prefixes in an rvs_limits { allow ... deny ... } block)")
            }
            "persistence_engine"
            | "daddr_group_name"
            | "establish_timeout"
            | "expire_quiescent_conn"
            | "quic"
            | "bps"
            | "limit_proportion" => cx.unsupported(k, ""),
            // keepalived: SNMP's name for the service; the family of a fwmark service.
            "smtp_alert" | "snmp_name" | "ip_family" => {}
            _ => cx.unknown(k, "virtual_server", VS_KEYS),
        }
    }
    if !sched_set {
        cx.info(&s.loc, format!("no lb_algo given; using {DEFAULT_SCHEDULER} (keepalived's default)"));
    }
    vs.members = addrs.iter().map(|a| ServiceKey { protocol: vs.key.protocol, addr: *a }).collect();
    vs.key = vs.members[0];
    // keepalived 2.x (check_data.c): "zero port only valid for persistent services - setting",
    // and the service gets IPVS's default persistence instead of being refused.
    if vs.persistence_timeout.unwrap_or(0) == 0 && vs.members.iter().any(|m| m.addr.port() == 0) {
        vs.persistence_timeout = Some(DEFAULT_PERSISTENCE_TIMEOUT);
        cx.warn(
            &s.loc,
            format!(
                "port 0 (every port) is only valid for a persistent service: \
                 persistence_timeout {DEFAULT_PERSISTENCE_TIMEOUT} s, as keepalived sets it"
            ),
        );
    }
    if vs.members.iter().any(|m| m.addr.is_ipv4() != vs.key.addr.is_ipv4()) {
        cx.error(
            &s.loc,
            "a virtual_server_group mixing IPv4 and IPv6 addresses is not supported by the dataplane yet: \
             one group per address family",
        );
    }
    if let (Some(l), None | Some(0)) = (&granularity_loc, vs.persistence_timeout) {
        cx.warn(l, "persistence_granularity without persistence_timeout has no effect");
    }
    for (flag, l) in vs.sched_flags.iter().zip(&flag_locs) {
        let fits = match flag.as_str() {
            "sh-port" | "sh-fallback" => vs.scheduler == "sh",
            "mh-port" | "mh-fallback" => vs.scheduler == "mh",
            _ => vs.scheduler == "sh" || vs.scheduler == "mh",
        };
        if !fits {
            cx.warn(l, format!("'{flag}' has no effect with lb_algo {}", vs.scheduler));
        }
    }
    // Errors about the group name point at the laddr_group_name line.
    let at = laddr_loc.as_ref().unwrap_or(&s.loc);
    match &vs.laddr_group {
        Some(name) => match cfg.laddr_groups.get(name) {
            Some(addrs) if addrs.is_empty() => {
                cx.error(at, format!("local_address_group {name} has no addresses"))
            }
            Some(addrs) => vs.local_addrs = addrs.clone(),
            None => cx.error(at, format!("laddr_group_name {name}: no such local_address_group")),
        },
        // Only FULLNAT real servers need local addresses (NAT, DR, TUN keep the client's).
        None if vs.reals.iter().any(|r| vs.real_method(r).0 == ForwardMethod::FullNat)
            || (vs.sorry_server.is_some() && vs.sorry_method().0 == ForwardMethod::FullNat)
            || (vs.reals.is_empty() && vs.method == ForwardMethod::FullNat) =>
        {
            cx.error(
                &s.loc,
                format!(
                    "FULLNAT needs local addresses: add laddr_group_name NAME and a local_address_group NAME {{ ... }}{}",
                    if method_set {
                        ""
                    } else {
                        " (no lb_kind given: rvs-ctrl's default is FULLNAT, keepalived's is NAT; \
                         write lb_kind NAT, DR or TUN for keepalived's forwarding)"
                    }
                ),
            )
        }
        None => {}
    }
    if let (Some(sorry), Some(l)) = (vs.sorry_server, &sorry_loc) {
        if sorry.is_ipv4() != vs.key.addr.is_ipv4() {
            cx.warn(l, "sorry_server and virtual_server are of different address families");
        }
    }

    let mut rs_locs: BTreeMap<SocketAddr, Loc> = BTreeMap::new();
    for k in block.iter().filter(|k| k.keyword == "real_server") {
        if let Some(rs) = real_server(cx, k, &vs, &defaults, rs_weight, cfg) {
            if let Some(first) = rs_locs.get(&rs.addr) {
                let msg = format!("duplicate real_server {} (first defined at {first})", rs.addr);
                cx.error(&k.loc, msg);
            } else {
                rs_locs.insert(rs.addr, rs.loc.clone());
                vs.reals.push(rs);
            }
        }
    }
    if let Some(sorry) = vs.sorry_server {
        if rs_locs.contains_key(&sorry) {
            cx.warn(
                sorry_loc.as_ref().unwrap_or(&s.loc),
                format!("sorry_server {sorry} is also a real_server"),
            );
        }
    }
    let checks_at_default =
        vs.reals.iter().flat_map(|r| &r.checkers).any(|c| c.delay_loop == DEFAULT_DELAY_LOOP);
    if !delay_set && checks_at_default {
        cx.info(
            &s.loc,
            format!(
                "no delay_loop given; checking every {} s (keepalived's default)",
                DEFAULT_DELAY_LOOP.as_secs()
            ),
        );
    }
    quorum_rules(cx, &mut vs, quorum_loc.as_ref(), hysteresis_loc.as_ref().unwrap_or(&s.loc));
    Some(vs)
}

/// keepalived's checks of quorum and hysteresis: a quorum above the total weight of the
/// real servers could never be reached and is lowered to it; the hysteresis stays below
/// the quorum (so the service is down when no weight is alive).
/// The default quorum (1) over servers of total weight 0 is lowered without a word: the
/// service has no quorum either way.
fn quorum_rules(cx: &mut Ctx, vs: &mut VirtualServer, quorum_at: Option<&Loc>, hysteresis_at: &Loc) {
    let total: u64 = vs.reals.iter().map(|r| u64::from(r.weight)).sum();
    if u64::from(vs.quorum) > total {
        let lowered = total as u32; // <= quorum, a u32
        if let Some(at) = quorum_at {
            cx.warn(
                at,
                format!(
                    "quorum {} exceeds the total weight of the real servers {total}, reducing quorum to {lowered}",
                    vs.quorum
                ),
            );
        }
        vs.quorum = lowered;
    }
    if vs.hysteresis > 0 && vs.hysteresis >= vs.quorum {
        let capped = vs.quorum.saturating_sub(1);
        cx.warn(
            hysteresis_at,
            format!("hysteresis {} >= quorum {}; setting hysteresis to {capped}", vs.hysteresis, vs.quorum),
        );
        vs.hysteresis = capped;
    }
}

/// `persistence_granularity`: a netmask (IPv4) or a prefix length, as a prefix length.
fn granularity(a: &str, v4: bool) -> Result<u8, String> {
    let max = if v4 { 32 } else { 128 };
    if let Ok(n) = a.parse::<u8>() {
        return if n >= 1 && n <= max { Ok(n) } else { Err(format!("a prefix length must be 1..{max}")) };
    }
    match a.parse::<IpAddr>() {
        Ok(IpAddr::V4(m)) if v4 => {
            let bits = u32::from(m);
            if bits == 0 || bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err("not a contiguous netmask".into());
            }
            Ok(bits.leading_ones() as u8)
        }
        Ok(_) => Err("an IPv6 service takes a prefix length".into()),
        Err(_) => Err("not a netmask".into()),
    }
}

/// `lb_kind`/`lvs_method` as keepalived 2.2 takes them: `NAT`, `DR`, `TUN [type ipip|gue
/// port N|gre] [nocsum|csum|remcsum]`, and FULLNAT (`FNAT`, as DPVS's keepalived spells it).
pub(super) fn lvs_method(cx: &mut Ctx, k: &Stmt) -> Option<(ForwardMethod, Option<TunnelEncap>)> {
    let a = cx.arg(k, 0)?;
    let m = match a.to_ascii_uppercase().as_str() {
        "FNAT" | "FULLNAT" => ForwardMethod::FullNat,
        "NAT" => ForwardMethod::Nat,
        "DR" => ForwardMethod::DirectRoute,
        "TUN" => ForwardMethod::Tunnel,
        _ => {
            cx.error(&k.loc, format!("unknown {} {a:?} (NAT, DR, TUN or FNAT)", k.keyword));
            return None;
        }
    };
    let rest: Vec<&str> = k.args[1..].iter().map(String::as_str).collect();
    if m != ForwardMethod::Tunnel {
        if !rest.is_empty() {
            cx.error(&k.loc, format!("{} {a}: unexpected {:?}", k.keyword, rest.join(" ")));
            return None;
        }
        return Some((m, None));
    }
    let (tunnel, flags) = match rest.as_slice() {
        [] | ["type", "ipip"] => (None, &[][..]),
        ["type", "ipip", f @ ..] => (None, f),
        ["type", "gue", "port", p, f @ ..] => match p.parse::<u16>() {
            Ok(port) if port != 0 => (Some(TunnelEncap { port }), f),
            _ => {
                cx.error(&k.loc, format!("{} TUN type gue: bad port {p:?}", k.keyword));
                return None;
            }
        },
        ["type", "gre", ..] => {
            cx.error(
                &k.loc,
                format!("{} TUN type gre is not supported by the dataplane (ipip or gue)", k.keyword),
            );
            return None;
        }
        other => {
            cx.error(
                &k.loc,
                format!("{} TUN: unexpected {:?} (type ipip|gue port N)", k.keyword, other.join(" ")),
            );
            return None;
        }
    };
    if let Some(f) = flags.first() {
        if matches!(*f, "nocsum" | "csum" | "remcsum") {
            cx.warn(&k.loc, format!("{} TUN {f}: rvsd's GUE carries no UDP checksum, ignored", k.keyword));
        } else {
            cx.error(&k.loc, format!("{} TUN: unexpected {f:?}", k.keyword));
            return None;
        }
    }
    Some((m, tunnel))
}

/// rvsd's own checks of every service and real server this block makes.
pub(super) fn rvsd_checks(cx: &mut Ctx, vs: &VirtualServer, sorry_loc: Option<&Loc>) {
    let spec = |key: ServiceKey| rvs_proto::ServiceSpec {
        key,
        scheduler: vs.scheduler.clone(),
        local_addrs: vs.local_addrs.clone(),
        options: vs.options(),
    };
    // The members differ only by address: one message per distinct reason.
    let mut seen = Vec::new();
    for key in &vs.members {
        if let Err(e) = rvs_proto::check::check_service(&spec(*key)) {
            if !seen.contains(&e) {
                cx.error(&vs.loc, format!("rvsd would refuse virtual_server {}: {e}", key.addr));
                seen.push(e);
            }
        }
    }
    let real = |addr, weight, thresholds, (method, tunnel): (ForwardMethod, Option<TunnelEncap>)| {
        rvs_proto::RealSpec { addr, weight, thresholds, method, tunnel }
    };
    let options = vs.options();
    let family = vs.members.first().map(|k| k.addr);
    let check = |r: &rvs_proto::RealSpec| {
        rvs_proto::check::check_real(r)
            .and_then(|()| rvs_proto::check::check_real_in_service(&options, r))
            .and_then(|()| family.map_or(Ok(()), |vip| rvs_proto::check::check_real_family(vip, r)))
    };
    for rs in &vs.reals {
        if let Err(e) = check(&real(rs.addr, rs.weight, rs.thresholds(), vs.real_method(rs))) {
            cx.error(&rs.loc, format!("rvsd would refuse real_server {}: {e}", rs.addr));
        }
    }
    if let Some(sorry) = vs.sorry_server {
        if let Err(e) = check(&real(sorry, 1, Default::default(), vs.sorry_method())) {
            cx.error(sorry_loc.unwrap_or(&vs.loc), format!("rvsd would refuse sorry_server {sorry}: {e}"));
        }
    }
}
