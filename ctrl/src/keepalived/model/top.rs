//! Top-level blocks besides virtual_server: global_defs, track_file, virtual_server_group.

use super::ctx::Ctx;
use super::keywords::*;
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
            "lvs_timeouts" => cfg.lvs_timeouts = lvs_timeouts(cx, g),
            "lvs_sync_daemon" => cfg.vrrp.sync_daemon = super::vrrp::lvs_sync_daemon(cx, g),
            "lvs_flush" | "lvs_flush_onstop" | "lvs_flush_on_stop" => cx.warn(
                &g.loc,
                format!("'{}' is not supported by rvs-ctrl (it sends differences, never flushes), ignored", g.keyword),
            ),
            "notify_fifo" | "vrrp_notify_fifo" | "notify_fifo_script" | "vrrp_notify_fifo_script" => cx.warn(
                &g.loc,
                format!("'{}' is not supported by rvs-ctrl (its keepalived reports to rvs-ctrl's own FIFO), ignored", g.keyword),
            ),
            // keepalived's VRRP process reads these; passed to the keepalived rvs-ctrl runs.
            "router_id" | "script_user" | "enable_script_security" | "max_auto_priority" | "vrrp_startup_delay"
            | "v3_checksum_as_v2" | "log_unknown_vrids" | "vrrp_owner_ignore_adverts" => {
                if g.keyword == "router_id" {
                    cfg.router_id = cx.arg(g, 0).map(str::to_string);
                }
                cfg.vrrp.globals.push(g.clone());
            }
            k if k.starts_with("vrrp_") => cfg.vrrp.globals.push(g.clone()),
            k if GLOBAL_DEFS.contains(&k) => {}
            // keepalived has many more checker_ tunables; none concern rvs-ctrl.
            k if k.starts_with("checker_") => {}
            _ => cx.unknown(g, "global_defs", GLOBAL_DEFS),
        }
    }
}

/// `lvs_timeouts tcp N tcpfin N udp N` (any subset, in any order), as `ipvsadm --set`.
fn lvs_timeouts(cx: &mut Ctx, g: &Stmt) -> Option<Timeouts> {
    let mut t = Timeouts { tcp: 0, tcp_fin: 0, udp: 0 };
    let mut words = g.args.iter();
    let mut any = false;
    while let Some(w) = words.next() {
        let slot = match w.as_str() {
            "tcp" => &mut t.tcp,
            "tcpfin" => &mut t.tcp_fin,
            "udp" => &mut t.udp,
            other => {
                cx.error(&g.loc, format!("lvs_timeouts: unknown protocol {other:?} (tcp, tcpfin or udp)"));
                return None;
            }
        };
        match words.next().map(|v| v.parse::<u32>()) {
            Some(Ok(v)) if v > 0 => *slot = v,
            _ => {
                cx.error(&g.loc, format!("lvs_timeouts: {w} needs a number of seconds above 0"));
                return None;
            }
        }
        any = true;
    }
    if !any {
        cx.error(&g.loc, "lvs_timeouts needs tcp N, tcpfin N and/or udp N");
        return None;
    }
    Some(t)
}

/// `virtual_server_group NAME { VIP [PORT]; VIP-RANGE [PORT]; fwmark N }`.
pub(super) fn vs_group(cx: &mut Ctx, s: &Stmt, cfg: &mut Config) {
    let Some(name) = cx.arg(s, 0).map(str::to_string) else { return };
    if let Some(first) = cfg.vs_groups.get(&name) {
        let msg = format!("duplicate virtual_server_group {name} (first defined at {})", first.loc);
        cx.error(&s.loc, msg);
        return;
    }
    let Some(block) = &s.block else {
        cx.error(&s.loc, format!("virtual_server_group {name} needs a {{ block }} of VIP PORT lines"));
        return;
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for e in block {
        if e.keyword == "fwmark" {
            cx.error(&e.loc, "virtual_server_group fwmark entries are not supported by the dataplane yet");
            continue;
        }
        let ips = match expand_range(&e.keyword) {
            Ok(ips) => ips,
            Err(m) => {
                cx.error(&e.loc, format!("virtual_server_group {name}: {m}"));
                continue;
            }
        };
        // keepalived >= 2.0.7: no port is port 0, every port (as on a `virtual_server` line;
        // the services of the group are then made persistent, `virtual_server`).
        let port = match e.args.first() {
            None => 0,
            Some(port) => match cx.service_port(&e.loc, "virtual_server_group", port) {
                Some(p) => p,
                None => continue,
            },
        };
        if e.args.len() > 1 || e.block.is_some() {
            cx.warn(&e.loc, "unexpected words after the port, ignored");
        }
        for ip in ips {
            let a = SocketAddr::new(ip, port);
            if addrs.contains(&a) {
                cx.warn(&e.loc, format!("virtual_server_group {name}: {a} listed twice"));
            } else {
                addrs.push(a);
            }
        }
    }
    if addrs.is_empty() {
        cx.error(&s.loc, format!("virtual_server_group {name} has no VIP PORT entries"));
    }
    cfg.vs_groups.insert(name, VsGroup { loc: s.loc.clone(), addrs });
}
