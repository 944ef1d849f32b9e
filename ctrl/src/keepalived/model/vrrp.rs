//! The VRRP half of keepalived.conf: `vrrp_instance`, `vrrp_sync_group`, `vrrp_script`
//! and `lvs_sync_daemon`, read into a model that [`crate::vrrp`] turns into a VRRP-only
//! configuration for the real keepalived (which speaks VRRP on the wire) and into the
//! addresses rvsd takes over or releases on each state change.
//!
//! Keywords rvs-ctrl acts on are typed (interface, addresses, notify scripts, tracking);
//! keepalived's other VRRP tunables are checked against its keyword list and passed
//! through as written, so their meaning is keepalived's own.

use super::ctx::{suggest, Ctx};
use super::keywords::*;
use super::*;
use std::collections::BTreeSet;

use super::vrrp_notify::notify_kw;
pub use super::vrrp_notify::{Notify, NotifyScript};

/// Everything VRRP in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vrrp {
    pub instances: Vec<VrrpInstance>,
    pub groups: Vec<SyncGroup>,
    pub scripts: Vec<VrrpScript>,
    /// `global_defs` lines that concern keepalived's VRRP (`vrrp_*` tunables, script
    /// security, `router_id`), passed through.
    pub globals: Vec<Stmt>,
    /// `lvs_sync_daemon` (global, or keepalived 1.x's `lvs_sync_daemon_interface`).
    pub sync_daemon: Option<SyncDaemon>,
}

/// A `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    pub loc: Loc,
    pub name: String,
    /// `state MASTER` (keepalived's initial wish; the election decides).
    pub initial_master: bool,
    /// The operator's `interface`, as written (mapped to a kernel interface at run time).
    pub interface: String,
    pub vrid: u8,
    /// `priority`; without one, 255 with `state MASTER` and 100 otherwise, as keepalived.
    pub priority: u8,
    /// `advert_int`, seconds.
    pub advert_int: f64,
    pub auth: Option<VrrpAuth>,
    /// Where `authentication` is written.
    pub auth_loc: Option<Loc>,
    /// `virtual_ipaddress`: the addresses the advertisements carry and rvsd owns as master,
    /// all of one family, which is the instance's (IPv6: keepalived speaks VRRPv3 over IPv6).
    pub vips: Vec<IpAddr>,
    /// `virtual_ipaddress_excluded`: owned with the instance but not advertised, of either
    /// family (an IPv4 instance's IPv6 VIPs go here, as with keepalived).
    pub excluded: Vec<IpAddr>,
    pub nopreempt: bool,
    pub preempt_delay: Option<f64>,
    /// `track_script` names (each defined by a `vrrp_script`).
    pub track_scripts: Vec<Stmt>,
    /// `track_interface` entries (interface names mapped like `interface`).
    pub track_interfaces: Vec<Stmt>,
    /// `track_file` entries (`NAME [weight W [reverse|noreverse]]`, each naming a top-level
    /// `track_file` block), passed to keepalived with the blocks they name.
    pub track_files: Vec<Stmt>,
    pub notify: Notify,
    /// The instance's other keepalived keywords, passed through as written.
    pub passthrough: Vec<Stmt>,
}

/// `authentication { auth_type PASS|AH auth_pass SECRET }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpAuth {
    pub kind: String,
    pub pass: String,
}

/// `vrrp_sync_group NAME { group { VI_1 VI_2 } ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncGroup {
    pub loc: Loc,
    pub name: String,
    pub members: Vec<String>,
    pub notify: Notify,
    pub passthrough: Vec<Stmt>,
}

/// `vrrp_script NAME { script ... }`, passed through whole.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpScript {
    pub loc: Loc,
    pub name: String,
    pub stmt: Stmt,
}

/// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub loc: Loc,
    pub interface: String,
    pub instance: String,
    pub sync_id: u8,
    pub port: u16,
    pub ttl: u8,
    pub group: Option<IpAddr>,
    pub maxlen: Option<u16>,
}

impl VrrpInstance {
    /// Every VIP rvsd owns while the instance is MASTER: the advertised ones, then the
    /// excluded ones.
    pub fn owned_vips(&self) -> Vec<IpAddr> {
        self.vips.iter().chain(&self.excluded).copied().collect()
    }

    /// An IPv6 instance (its `virtual_ipaddress` are IPv6): keepalived runs it as VRRPv3
    /// over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(IpAddr::is_ipv6)
    }

    /// The local addresses that move with this instance's VIPs: those of every virtual
    /// server on one of them (FULLNAT's LIPs must follow the VIP, or replies come back to
    /// the director that no longer serves).
    pub fn lips(&self, cfg: &Config) -> Vec<IpAddr> {
        let mut out = BTreeSet::new();
        for vs in &cfg.virtual_servers {
            if vs
                .members
                .iter()
                .any(|k| self.vips.contains(&k.addr.ip()) || self.excluded.contains(&k.addr.ip()))
            {
                out.extend(vs.local_addrs.iter().copied());
            }
        }
        out.into_iter().collect()
    }
}

fn u8_in(cx: &mut Ctx, k: &Stmt, lo: u8, hi: u8) -> Option<u8> {
    let v = cx.u32(k)?;
    match u8::try_from(v) {
        Ok(v) if (lo..=hi).contains(&v) => Some(v),
        _ => {
            cx.error(&k.loc, format!("'{}' {v} is outside {lo}..{hi}", k.keyword));
            None
        }
    }
}

pub(super) fn vrrp_instance(cx: &mut Ctx, s: &Stmt) -> Option<VrrpInstance> {
    let name = cx.arg(s, 0)?.to_string();
    let Some(block) = &s.block else {
        cx.error(&s.loc, format!("vrrp_instance {name} needs a {{ block }}"));
        return None;
    };
    let mut inst = VrrpInstance {
        loc: s.loc.clone(),
        name: name.clone(),
        initial_master: false,
        interface: String::new(),
        vrid: 0,
        priority: 100,
        advert_int: 1.0,
        auth: None,
        auth_loc: None,
        vips: Vec::new(),
        excluded: Vec::new(),
        nopreempt: false,
        preempt_delay: None,
        track_scripts: Vec::new(),
        track_interfaces: Vec::new(),
        track_files: Vec::new(),
        notify: Notify::default(),
        passthrough: Vec::new(),
    };
    let mut auth_loc = None;
    let mut priority = None;
    let mut native_ipv6 = false;
    for k in block {
        if notify_kw(cx, k, &mut inst.notify) {
            continue;
        }
        match k.keyword.as_str() {
            "state" => match cx.arg(k, 0) {
                Some("MASTER") => inst.initial_master = true,
                Some("BACKUP") => inst.initial_master = false,
                Some(o) => cx.error(&k.loc, format!("'state': {o:?} is not MASTER or BACKUP")),
                None => {}
            },
            "interface" => inst.interface = cx.arg(k, 0).unwrap_or_default().to_string(),
            "virtual_router_id" => inst.vrid = u8_in(cx, k, 1, 255).unwrap_or(0),
            "priority" => priority = Some(u8_in(cx, k, 1, 255).unwrap_or(100)),
            "advert_int" => {
                if let Some(d) = cx.secs(k) {
                    inst.advert_int = d.as_secs_f64();
                    if inst.advert_int <= 0.0 || inst.advert_int > 255.0 {
                        cx.error(&k.loc, "'advert_int' must be above 0 and at most 255 seconds");
                    }
                    inst.passthrough.push(k.clone());
                }
            }
            "authentication" => {
                inst.auth = authentication(cx, k);
                auth_loc = Some(k.loc.clone());
                inst.auth_loc = Some(k.loc.clone());
            }
            "virtual_ipaddress" => vips(cx, k, &mut inst.vips, true),
            "virtual_ipaddress_excluded" => vips(cx, k, &mut inst.excluded, false),
            "native_ipv6" => {
                native_ipv6 = true;
                inst.passthrough.push(k.clone());
            }
            "nopreempt" => inst.nopreempt = true,
            "preempt" => inst.nopreempt = false,
            "preempt_delay" => {
                if let Some(d) = cx.secs(k) {
                    inst.preempt_delay = Some(d.as_secs_f64());
                    if d.as_secs() > 1000 {
                        cx.error(&k.loc, "'preempt_delay' is at most 1000 seconds (keepalived's limit)");
                    }
                }
            }
            "track_script" => inst.track_scripts.extend(k.block.iter().flatten().cloned()),
            "track_interface" => inst.track_interfaces.extend(k.block.iter().flatten().cloned()),
            "track_file" => inst.track_files.extend(track_file_entries(cx, k)),
            "track_process" | "track_bfd" => untrackable(cx, k),
            "lvs_sync_daemon_interface" => {} // read by the global lvs_sync_daemon pass
            "dpdk_interface" => {
                cx.info(&k.loc, "'dpdk_interface' ignored: rvs-ctrl gives rvsd the VIPs itself")
            }
            "accept" => cx.warn(
                &k.loc,
                "'accept' ignored: the director's kernel must not take traffic for VIPs rvsd serves (no_accept is used)",
            ),
            "no_accept" => {}
            "virtual_routes" | "virtual_rules" | "use_vmac" | "use_vmac_addr"
            | "vmac_xmit_base" | "use_ipvlan" => cx.warn(
                &k.loc,
                format!("'{}' is not supported by rvs-ctrl's VRRP, ignored", k.keyword),
            ),
            kw if VRRP_INSTANCE_KEYS.contains(&kw) => inst.passthrough.push(k.clone()),
            _ => cx.unknown(k, "vrrp_instance", VRRP_INSTANCE_KEYS),
        }
    }
    // keepalived's default: an instance with `state MASTER` and no `priority` is the
    // address owner (255), any other 100.
    inst.priority = priority.unwrap_or(if inst.initial_master { 255 } else { 100 });
    if priority.is_none() && inst.initial_master {
        cx.info(
            &s.loc,
            format!("vrrp_instance {name}: state MASTER without 'priority' is priority 255 (keepalived's default)"),
        );
    }
    if inst.interface.is_empty() {
        cx.error(&s.loc, format!("vrrp_instance {name} needs an 'interface'"));
    }
    if inst.vrid == 0 {
        cx.error(&s.loc, format!("vrrp_instance {name} needs a 'virtual_router_id' (1..255)"));
    }
    if inst.vips.is_empty() {
        cx.error(
            &s.loc,
            format!("vrrp_instance {name} has no virtual_ipaddress: nothing for rvsd to take over"),
        );
    }
    if let Some(v4) = inst.vips.iter().find(|a| native_ipv6 && a.is_ipv4()) {
        // keepalived drops it ("address family must match VRRP instance") and the instance
        // with it when nothing is left: it would never be MASTER.
        cx.error(
            &s.loc,
            format!(
                "vrrp_instance {name}: native_ipv6 makes it an IPv6 instance, but virtual_ipaddress {v4} is IPv4: \
                 put it in virtual_ipaddress_excluded"
            ),
        );
    }
    let both: Vec<IpAddr> = inst.excluded.iter().filter(|a| inst.vips.contains(a)).copied().collect();
    for a in both {
        cx.warn(
            &s.loc,
            format!("vrrp_instance {name}: {a} is in virtual_ipaddress and virtual_ipaddress_excluded (advertised)"),
        );
        inst.excluded.retain(|x| *x != a);
    }
    if let (true, Some(loc)) = (inst.is_ipv6(), &auth_loc) {
        // keepalived ignores it too ("VRRP version 3 does not support authentication"), but
        // its config test fails on it.
        cx.warn(
            loc,
            format!("vrrp_instance {name}: 'authentication' ignored: an IPv6 instance speaks VRRPv3, which has none"),
        );
        inst.auth = None;
    }
    if inst.nopreempt && inst.initial_master {
        cx.warn(&s.loc, "nopreempt needs 'state BACKUP' (keepalived ignores it with state MASTER)");
    }
    if inst.preempt_delay.is_some() && inst.initial_master {
        cx.warn(&s.loc, "preempt_delay needs 'state BACKUP' (keepalived ignores it with state MASTER)");
    } else if inst.preempt_delay.is_some() && inst.nopreempt {
        cx.warn(&s.loc, "preempt_delay does nothing with nopreempt (keepalived resets it)");
    }
    Some(inst)
}

fn authentication(cx: &mut Ctx, k: &Stmt) -> Option<VrrpAuth> {
    let (mut kind, mut pass) = (None, None);
    for a in k.block.iter().flatten() {
        match a.keyword.as_str() {
            "auth_type" => match cx.arg(a, 0) {
                Some(t @ ("PASS" | "AH")) => kind = Some(t.to_string()),
                Some(o) => cx.error(&a.loc, format!("'auth_type': {o:?} is not PASS or AH")),
                None => {}
            },
            "auth_pass" => {
                if let Some(p) = cx.arg(a, 0) {
                    if p.len() > 8 {
                        cx.warn(
                            &a.loc,
                            "'auth_pass' is longer than 8 characters: keepalived uses the first 8",
                        );
                    }
                    pass = Some(p.to_string());
                }
            }
            _ => cx.unknown(a, "authentication", &["auth_type", "auth_pass"]),
        }
    }
    match (kind, pass) {
        (Some(kind), Some(pass)) => Some(VrrpAuth { kind, pass }),
        (Some(_), None) => {
            cx.error(&k.loc, "authentication needs an 'auth_pass'");
            None
        }
        (None, _) => {
            cx.error(&k.loc, "authentication needs an 'auth_type' (PASS or AH)");
            None
        }
    }
}

/// `virtual_ipaddress[_excluded] { ADDR[/LEN] [dev IF] [label L] [scope S] ... }`: the
/// address is what rvsd owns (and, `advertised`, what the adverts carry); where keepalived
/// would put it is rvs-ctrl's choice. keepalived takes one family in `virtual_ipaddress`
/// (the first address's: the instance's) and either in `virtual_ipaddress_excluded`.
fn vips(cx: &mut Ctx, k: &Stmt, out: &mut Vec<IpAddr>, advertised: bool) {
    let what = k.keyword.as_str();
    for e in k.block.iter().flatten() {
        let text = e.keyword.split('/').next().unwrap_or_default();
        let Some(ip) = cx.ip(&e.loc, what, text) else { continue };
        if let Some(len) = e.keyword.split_once('/').map(|(_, l)| l) {
            if !len.parse::<u8>().is_ok_and(|l| l <= if ip.is_ipv4() { 32 } else { 128 }) {
                cx.error(&e.loc, format!("{what}: bad prefix length {len:?}"));
                continue;
            }
        }
        if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
            cx.error(&e.loc, format!("{what}: {ip} cannot be a virtual address"));
            continue;
        }
        if let Some(first) = out.first().filter(|f| advertised && f.is_ipv4() != ip.is_ipv4()) {
            let (fam, other) = if first.is_ipv4() { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
            cx.error(
                &e.loc,
                format!(
                    "{what}: {ip} is {other} but the instance is {fam} ({first} comes first): keepalived \
                     advertises one family; put {ip} in virtual_ipaddress_excluded"
                ),
            );
            continue;
        }
        let mut words = e.args.iter();
        while let Some(w) = words.next() {
            if matches!(
                w.as_str(),
                "dev" | "scope" | "brd" | "broadcast" | "label" | "peer" | "preferred_lft" | "track_group"
            ) {
                words.next();
            } else if w.split('/').next().is_some_and(|a| a.parse::<IpAddr>().is_ok()) {
                cx.warn(
                    &e.loc,
                    format!(
                        "{what}: {w} is on {ip}'s line: keepalived takes one address a line and ignores it \
                         (not advertised, not owned by rvsd); put it on a line of its own"
                    ),
                );
            }
        }
        if !e.args.is_empty() {
            cx.info(
                &e.loc,
                format!(
                    "{what} {ip}: '{}' ignored: rvsd owns the address, not a kernel interface",
                    e.args.join(" ")
                ),
            );
        }
        if out.contains(&ip) {
            cx.warn(&e.loc, format!("{what} {ip} listed twice"));
        } else {
            out.push(ip);
        }
    }
}

/// `track_process` and `track_bfd` would move the instance (their weight, or FAULT) on what
/// the keepalived rvs-ctrl runs cannot watch: Debian's 2.2.7 is built without process
/// tracking, and it runs keepalived's VRRP process alone, without the BFD one or the
/// `vrrp_track_process` and `bfd_instance` blocks. Dropping them would change when the
/// director fails over, so they are refused.
fn untrackable(cx: &mut Ctx, k: &Stmt) {
    let what = if k.keyword == "track_process" { "a process" } else { "a BFD session" };
    cx.error(
        &k.loc,
        format!(
            "'{}' is not supported by rvs-ctrl's VRRP: the keepalived it runs cannot track {what}, and \
             failing over without it would not be what the file says; use a vrrp_script (track_script) \
             that checks it",
            k.keyword
        ),
    );
}

/// The entries of a `track_file { NAME [weight W [reverse|noreverse]] ... }` block in a
/// `vrrp_instance` or `vrrp_sync_group` (the names are checked in [`cross_checks`]).
fn track_file_entries(cx: &mut Ctx, k: &Stmt) -> Vec<Stmt> {
    let mut out = Vec::new();
    for e in k.block.iter().flatten() {
        let good = match e.args.as_slice() {
            [] => true,
            [w, v, rest @ ..] if w == "weight" => {
                let weight_ok = v.parse::<i32>().is_ok_and(|w| (-254..=254).contains(&w));
                let rest_ok =
                    matches!(rest, [] | [_]) && rest.iter().all(|r| r == "reverse" || r == "noreverse");
                weight_ok && rest_ok
            }
            _ => false,
        };
        if good {
            out.push(e.clone());
        } else {
            cx.error(
                &e.loc,
                format!(
                    "track_file {}: '{}' is not 'weight W [reverse|noreverse]' with W in -254..254",
                    e.keyword,
                    e.args.join(" ")
                ),
            );
        }
    }
    out
}

pub(super) fn sync_group(cx: &mut Ctx, s: &Stmt) -> Option<SyncGroup> {
    let name = cx.arg(s, 0)?.to_string();
    let mut g = SyncGroup {
        loc: s.loc.clone(),
        name,
        members: Vec::new(),
        notify: Notify::default(),
        passthrough: Vec::new(),
    };
    for k in s.block.iter().flatten() {
        if notify_kw(cx, k, &mut g.notify) {
            continue;
        }
        match k.keyword.as_str() {
            "track_process" | "track_bfd" => untrackable(cx, k),
            "track_file" => {
                let entries = track_file_entries(cx, k);
                g.passthrough.push(Stmt { block: Some(entries), ..k.clone() });
            }
            "group" => {
                for e in k.block.iter().flatten() {
                    g.members.push(e.keyword.clone());
                    g.members.extend(e.args.iter().cloned());
                }
            }
            kw if SYNC_GROUP_KEYS.contains(&kw) => g.passthrough.push(k.clone()),
            // `vrrp_sync_group VG1 { VI_1 VI_2 }` (keepalived's own lvs_syncd sample): a bare
            // word is most likely an instance name outside its group { } block.
            kw if k.args.is_empty() && k.block.is_none() && suggest(kw, SYNC_GROUP_KEYS).is_none() => cx.warn(
                &k.loc,
                format!("unknown keyword '{kw}' in vrrp_sync_group, ignored (instance names go in group {{ {kw} ... }})"),
            ),
            _ => cx.unknown(k, "vrrp_sync_group", SYNC_GROUP_KEYS),
        }
    }
    if g.members.is_empty() {
        // keepalived 2: "Sync group VG1 has no members - removing", and it runs on.
        cx.warn(
            &s.loc,
            format!(
                "vrrp_sync_group {} has no group {{ INSTANCE ... }}: ignored, as keepalived does",
                g.name
            ),
        );
        return None;
    }
    Some(g)
}

pub(super) fn vrrp_script(cx: &mut Ctx, s: &Stmt) -> Option<VrrpScript> {
    let name = cx.arg(s, 0)?.to_string();
    let mut has_script = false;
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "script" => has_script = cx.script(k).is_some(),
            kw if VRRP_SCRIPT_KEYS.contains(&kw) => {}
            _ => cx.unknown(k, "vrrp_script", VRRP_SCRIPT_KEYS),
        }
    }
    if !has_script {
        cx.error(&s.loc, format!("vrrp_script {name} needs a 'script'"));
    }
    Some(VrrpScript { loc: s.loc.clone(), name, stmt: s.clone() })
}

/// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`
/// (keepalived 2's syntax; the defaults are IPVS's: id 0, port 8848, ttl 1, group 224.0.0.81).
pub(super) fn lvs_sync_daemon(cx: &mut Ctx, g: &Stmt) -> Option<SyncDaemon> {
    let (Some(interface), Some(instance)) = (g.args.first(), g.args.get(1)) else {
        cx.error(&g.loc, "lvs_sync_daemon needs an interface and a vrrp_instance name");
        return None;
    };
    let mut d = SyncDaemon {
        loc: g.loc.clone(),
        interface: interface.clone(),
        instance: instance.clone(),
        sync_id: 0,
        port: 8848,
        ttl: 1,
        group: None,
        maxlen: None,
    };
    let mut words = g.args[2..].iter();
    while let Some(w) = words.next() {
        let Some(v) = words.next() else {
            cx.error(&g.loc, format!("lvs_sync_daemon: '{w}' needs a value"));
            return None;
        };
        let bad = |cx: &mut Ctx| cx.error(&g.loc, format!("lvs_sync_daemon: bad {w} {v:?}"));
        match w.as_str() {
            "id" => match v.parse() {
                Ok(n) => d.sync_id = n,
                Err(_) => bad(cx),
            },
            "port" => match v.parse() {
                Ok(n) if n > 0 => d.port = n,
                _ => bad(cx),
            },
            "ttl" => match v.parse() {
                Ok(n) if n > 0 => d.ttl = n,
                _ => bad(cx),
            },
            "maxlen" => match v.parse() {
                Ok(n) if n > 0 => d.maxlen = Some(n),
                _ => bad(cx),
            },
            "group" => match v.parse() {
                Ok(ip) => d.group = Some(ip),
                Err(_) => bad(cx),
            },
            _ => cx.error(
                &g.loc,
                format!("lvs_sync_daemon: unknown option {w:?} (id, maxlen, port, ttl, group)"),
            ),
        }
    }
    Some(d)
}

/// `authentication` keepalived ignores, and whose presence fails its config test: in strict
/// mode (`vrrp_strict`, or the instance's `strict_mode`, which wins: "Strict mode does not
/// support authentication") and with VRRPv3 (`vrrp_version 3`, or the instance's `version
/// 3`, which wins: "VRRP version 3 does not support authentication"). Said where it is
/// written, and left out of the generated file, as keepalived would run it.
pub(super) fn ignored_auth(cx: &mut Ctx, v: &mut Vrrp) {
    let strict = v.globals.iter().any(|g| g.keyword == "vrrp_strict");
    let global_v3 = v
        .globals
        .iter()
        .rev()
        .find(|g| g.keyword == "vrrp_version")
        .is_some_and(|g| g.args.first().is_some_and(|a| a == "3"));
    for i in &mut v.instances {
        let last = |kw: &str| i.passthrough.iter().rev().find(|k| k.keyword == kw);
        let own_strict = last("strict_mode").map(|k| {
            !matches!(k.args.first().map(|a| a.to_ascii_lowercase()).as_deref(), Some("off" | "false" | "no"))
        });
        let own_v3 = last("version").map(|k| k.args.first().is_some_and(|a| a == "3"));
        let why = if own_strict.unwrap_or(strict) {
            let w = if own_strict.is_some() { "strict_mode" } else { "vrrp_strict" };
            format!("{w} allows none (keepalived ignores it too); a peer without {w} must not have it either")
        } else if own_v3.unwrap_or(global_v3) {
            let w = if own_v3.is_some() { "version 3" } else { "vrrp_version 3" };
            format!("{w}: VRRPv3 has none (keepalived ignores it too)")
        } else {
            continue;
        };
        let (Some(_), Some(loc)) = (&i.auth, &i.auth_loc) else { continue };
        cx.warn(loc, format!("vrrp_instance {}: 'authentication' ignored: {why}", i.name));
        i.auth = None;
    }
}

/// Checks across blocks: names that must exist, one instance per group, one VRID per
/// interface and address family (an IPv4 and an IPv6 instance are separate routers, on
/// separate protocols, and may share a VRID, as keepalived allows).
pub(super) fn cross_checks(cx: &mut Ctx, v: &Vrrp, track_files: &BTreeMap<String, TrackFile>) {
    let mut names: BTreeMap<&str, &Loc> = BTreeMap::new();
    let mut vrids: BTreeMap<(&str, u8, bool), &VrrpInstance> = BTreeMap::new();
    for i in &v.instances {
        if let Some(first) = names.insert(&i.name, &i.loc) {
            cx.error(&i.loc, format!("duplicate vrrp_instance {} (first defined at {first})", i.name));
        }
        if i.vrid != 0 {
            if let Some(o) = vrids.insert((&i.interface, i.vrid, i.is_ipv6()), i) {
                cx.error(
                    &i.loc,
                    format!(
                        "vrrp_instance {}: virtual_router_id {} on {} is already vrrp_instance {}'s ({}), \
                         both {}",
                        i.name,
                        i.vrid,
                        i.interface,
                        o.name,
                        o.loc,
                        if i.is_ipv6() { "IPv6" } else { "IPv4" }
                    ),
                );
            }
        }
        for t in &i.track_scripts {
            if !v.scripts.iter().any(|s| s.name == t.keyword) {
                cx.error(&t.loc, format!("track_script {}: no such vrrp_script", t.keyword));
            }
        }
        check_track_files(cx, &i.track_files, track_files);
    }
    for g in &v.groups {
        for p in g.passthrough.iter().filter(|p| p.keyword == "track_file") {
            check_track_files(cx, p.block.as_deref().unwrap_or_default(), track_files);
        }
        // keepalived: "track script NAME not found, ignoring": the group would not move.
        for t in g
            .passthrough
            .iter()
            .filter(|p| p.keyword == "track_script")
            .flat_map(|p| p.block.iter().flatten())
        {
            if !v.scripts.iter().any(|s| s.name == t.keyword) {
                cx.error(&t.loc, format!("track_script {}: no such vrrp_script", t.keyword));
            }
        }
    }
    let mut in_group: BTreeMap<&str, &str> = BTreeMap::new();
    for g in &v.groups {
        for m in &g.members {
            if !names.contains_key(m.as_str()) {
                cx.error(&g.loc, format!("vrrp_sync_group {}: no vrrp_instance {m}", g.name));
            } else if let Some(other) = in_group.insert(m, &g.name) {
                cx.error(&g.loc, format!("vrrp_instance {m} is in vrrp_sync_group {other} and {}", g.name));
            }
        }
    }
    let mut script_names = BTreeSet::new();
    for s in &v.scripts {
        if !script_names.insert(&s.name) {
            cx.error(&s.loc, format!("duplicate vrrp_script {}", s.name));
        }
    }
    if let Some(d) = &v.sync_daemon {
        if !names.contains_key(d.instance.as_str()) {
            cx.error(&d.loc, format!("lvs_sync_daemon: no vrrp_instance {}", d.instance));
        }
    }
}

/// The `track_file` entries of an instance or group name defined `track_file` blocks, and
/// not rvs-ctrl's own hold file.
fn check_track_files(cx: &mut Ctx, entries: &[Stmt], defined: &BTreeMap<String, TrackFile>) {
    for e in entries {
        if e.keyword == crate::vrrp::conf::HOLD_TRACK {
            cx.error(&e.loc, format!("track_file {}: the name is rvs-ctrl's own (docs/vrrp.md)", e.keyword));
        } else if !defined.contains_key(&e.keyword) {
            cx.error(&e.loc, format!("track_file {}: no such track_file block", e.keyword));
        }
    }
}
