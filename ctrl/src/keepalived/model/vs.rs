//! global_defs, track_file and virtual_server blocks.

use super::ctx::Ctx;
use super::keywords::*;
use super::rs::{real_server, CheckDefaults};
use super::*;

pub(super) fn track_weight(cx: &mut Ctx, k: &Stmt) -> Option<(i32, bool)> {
    let a = cx.arg(k, 0)?;
    let Ok(w) = a.parse::<i32>() else {
        cx.error(&k.loc, format!("'weight': {a:?} is not an integer"));
        return None;
    };
    if !(-65535..=65535).contains(&w) {
        cx.error(&k.loc, format!("'weight' {w} is outside -65535..65535"));
        return None;
    }
    let reverse = match k.args.get(1).map(String::as_str) {
        None | Some("noreverse") => false,
        Some("reverse") => true,
        Some(o) => {
            cx.error(&k.loc, format!("'weight': unknown option {o:?} (reverse or noreverse)"));
            return None;
        }
    };
    Some((w, reverse))
}

pub(super) fn track_file(cx: &mut Ctx, s: &Stmt, cfg: &mut Config) {
    let Some(name) = cx.arg(s, 0).map(str::to_string) else { return };
    if let Some(first) = cfg.track_files.get(&name) {
        let msg = format!("duplicate track_file {name} (first defined at {})", first.loc);
        cx.error(&s.loc, msg);
        return;
    }
    let mut path = None;
    let (mut weight, mut reverse) = (1, false);
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "file" => path = cx.arg(k, 0).map(PathBuf::from),
            "weight" => {
                if let Some((w, r)) = track_weight(cx, k) {
                    (weight, reverse) = (w, r);
                }
            }
            "init_file" => cx.warn(&k.loc, "'init_file' is not supported by rvs-ctrl, ignored"),
            _ => cx.unknown(k, "track_file", TRACK_FILE_KEYS),
        }
    }
    match path {
        Some(path) => {
            cfg.track_files.insert(name, TrackFile { loc: s.loc.clone(), path, weight, reverse });
        }
        None => cx.error(&s.loc, format!("track_file {name} needs a 'file PATH'")),
    }
}

pub(super) fn global_defs(cx: &mut Ctx, s: &Stmt, cfg: &mut Config) {
    for g in s.block.iter().flatten() {
        match g.keyword.as_str() {
            "router_id" => cfg.router_id = cx.arg(g, 0).map(str::to_string),
            k if GLOBAL_DEFS.contains(&k) => {}
            // keepalived has many more vrrp_/lvs_ tunables; none concern rvs-ctrl.
            k if k.starts_with("vrrp_") || k.starts_with("lvs_") || k.starts_with("checker_") => {}
            _ => cx.unknown(g, "global_defs", GLOBAL_DEFS),
        }
    }
}

pub(super) fn virtual_server(cx: &mut Ctx, s: &Stmt, cfg: &Config) -> Option<VirtualServer> {
    let (ip, port) = match s.args.as_slice() {
        [kind, _] if kind == "fwmark" => {
            cx.error(&s.loc, "virtual_server fwmark is not supported by the dataplane yet");
            return None;
        }
        [kind, _] if kind == "group" => {
            cx.error(&s.loc, "virtual_server group is not supported by rvs-ctrl yet");
            return None;
        }
        [ip, port] => (ip, port),
        _ => {
            cx.error(&s.loc, "virtual_server needs an IP address and a port");
            return None;
        }
    };
    let ip = cx.ip(&s.loc, "virtual_server", ip);
    let port = cx.port(&s.loc, "virtual_server", port);
    let Some(block) = &s.block else {
        cx.error(&s.loc, "virtual_server needs a { block }");
        return None;
    };
    let (ip, port) = (ip?, port?);

    let mut vs = VirtualServer {
        loc: s.loc.clone(),
        key: ServiceKey { protocol: Protocol::Tcp, addr: SocketAddr::new(ip, port) },
        delay_loop: DEFAULT_DELAY_LOOP,
        scheduler: "wrr".into(),
        method: ForwardMethod::FullNat,
        persistence_timeout: None,
        persistence_granularity: None,
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
        reals: Vec::new(),
    };
    let mut sched_set = false;
    let mut laddr_loc: Option<Loc> = None;
    // Checker defaults set at the virtual-server level (keepalived 2.x).
    let mut defaults = CheckDefaults::default();
    let mut sorry_loc = None;
    for k in block {
        match k.keyword.as_str() {
            "delay_loop" => {
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
                        cx.error(
                            &k.loc,
                            format!("unknown scheduler {a:?} (known: {})", SCHEDULERS.join(" ")),
                        );
                    }
                }
            }
            "lb_kind" | "lvs_method" => {
                if let Some(a) = cx.arg(k, 0) {
                    match a.to_ascii_uppercase().as_str() {
                        "FNAT" | "FULLNAT" => vs.method = ForwardMethod::FullNat,
                        m @ ("NAT" | "DR" | "TUN") => cx.error(
                            &k.loc,
                            format!("{} {m} is not supported by the dataplane yet (use FNAT)", k.keyword),
                        ),
                        _ => cx.error(&k.loc, format!("unknown {} {a:?} (use FNAT)", k.keyword)),
                    }
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
            "persistence_timeout" => {
                vs.persistence_timeout = cx.u32(k);
                cx.unsupported(k, " (no persistence: every connection is scheduled)");
            }
            "persistence_granularity" => {
                vs.persistence_granularity = cx.arg(k, 0).map(str::to_string);
                cx.unsupported(k, "");
            }
            "quorum" => {
                if let Some(q) = cx.u32(k) {
                    vs.quorum = q;
                }
            }
            "hysteresis" => {
                if let Some(h) = cx.u32(k) {
                    vs.hysteresis = h;
                }
            }
            "quorum_up" => vs.quorum_up = cx.script(k),
            "quorum_down" => vs.quorum_down = cx.script(k),
            "sorry_server" => {
                let ip = cx.arg(k, 0).and_then(|a| cx.ip(&k.loc, "sorry_server", a));
                let port = match k.args.get(1) {
                    Some(p) => cx.port(&k.loc, "sorry_server", p),
                    None => Some(port),
                };
                if let (Some(ip), Some(port)) = (ip, port) {
                    vs.sorry_server = Some(SocketAddr::new(ip, port));
                    sorry_loc = Some(k.loc.clone());
                }
            }
            "sorry_server_inhibit" => vs.sorry_server_inhibit = cx.flag(k),
            "sorry_server_lvs_method" => {
                if let Some(a) = cx.arg(k, 0) {
                    if !matches!(a.to_ascii_uppercase().as_str(), "FNAT" | "FULLNAT") {
                        cx.error(
                            &k.loc,
                            format!("sorry_server_lvs_method {a} is not supported by the dataplane yet"),
                        );
                    }
                }
            }
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
            "syn_proxy" => {
                vs.syn_proxy = cx.flag(k);
                cx.unsupported(k, " (kept in the configuration)");
            }
            "toa" => {
                vs.toa = cx.flag(k);
                cx.unsupported(k, " (kept in the configuration)");
            }
            "proxy_protocol" => {
                vs.proxy_protocol = Some(k.args.first().cloned().unwrap_or_else(|| "v2".into()));
                cx.unsupported(k, " (kept in the configuration)");
            }
            "retry" | "delay_before_retry" | "connect_timeout" | "warmup" => defaults.set(cx, k),
            "real_server" => {}
            "ops"
            | "hashed"
            | "flag-1"
            | "flag-2"
            | "flag-3"
            | "sh-port"
            | "sh-fallback"
            | "mh-port"
            | "mh-fallback"
            | "persistence_engine"
            | "daddr_group_name"
            | "deny_address_group"
            | "whitelist_address_group"
            | "blacklist_address_group"
            | "establish_timeout"
            | "expire_quiescent_conn"
            | "quic"
            | "bps"
            | "limit_proportion" => cx.unsupported(k, ""),
            "smtp_alert" => {}
            _ => cx.unknown(k, "virtual_server", VS_KEYS),
        }
    }
    if !sched_set {
        cx.info(&s.loc, "no lb_algo given; using wrr");
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
        None => cx.error(
            &s.loc,
            "FULLNAT needs local addresses: add laddr_group_name NAME and a local_address_group NAME { ... }",
        ),
    }
    if let (Some(sorry), Some(l)) = (vs.sorry_server, &sorry_loc) {
        if sorry.is_ipv4() != vs.key.addr.is_ipv4() {
            cx.warn(l, "sorry_server and virtual_server are of different address families");
        }
    }

    let mut rs_locs: BTreeMap<SocketAddr, Loc> = BTreeMap::new();
    for k in block.iter().filter(|k| k.keyword == "real_server") {
        if let Some(rs) = real_server(cx, k, &vs, &defaults, cfg) {
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
    Some(vs)
}
