//! The VRRP-only keepalived.conf rvs-ctrl writes for the keepalived it runs, and the plan
//! of which addresses each instance's state moves.
//!
//! What changes on the way from the operator's file:
//! * `interface` (and `track_interface` entries) name the exception tap of the rvsd port
//!   ([`IfaceMap`]): VRRP adverts go out of and come in through rvsd's port.
//! * `virtual_ipaddress` keeps the addresses (keepalived peers refuse adverts whose
//!   address list differs from theirs, so the adverts must carry them) as `/32` (`/128`) on
//!   the tap; `virtual_ipaddress_excluded` is left out (not advertised, keepalived would only
//!   put the addresses on the tap): rvsd owns and announces them with the instance.
//!   Every instance gets `no_accept` with keepalived's nftables table: the director's
//!   kernel drops any IP packet to or from a VIP. rvsd answers ARP and ping for the VIPs it
//!   owns and consumes their TCP/UDP, so the kernel never answers for a VIP rvsd serves;
//!   in the milliseconds between keepalived becoming MASTER and rvsd taking over, a packet
//!   that reaches the kernel is dropped (and retransmitted) instead of being reset.
//! * notify scripts are removed: keepalived reports every state to rvs-ctrl's FIFO, and
//!   rvs-ctrl runs the operator's scripts after rvsd's ownership follows the state.
//! * `global_defs` gets `dynamic_interfaces` (the tap disappears while rvsd restarts and
//!   comes back with another index), the FIFO and the nftables table.
//! * `track_file` entries of instances and groups are passed with the `track_file` blocks
//!   they name (keepalived's older `vrrp_track_file` is written as `track_file`).
//! * every instance tracks rvs-ctrl's hold file ([`HOLD_TRACK`]): while rvsd has not got
//!   its peers' sessions since it started (its start-up bulk sync), rvs-ctrl writes 1 there
//!   and the instance runs at priority 1 (weight -253), so a director that comes back does
//!   not preempt before it knows the connections its peer carries. Instances in a
//!   `vrrp_sync_group` and address owners (priority 255) cannot take a tracking weight in
//!   keepalived: theirs is 0, which holds them in FAULT instead.

use crate::keepalived::lexer::Loc;
use crate::keepalived::parser::Stmt;
use crate::keepalived::{Config, Notify};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

/// keepalived's nftables table for the `no_accept` drop rules.
pub const NFT_TABLE: &str = "rvs_keepalived";
/// The `track_file` every instance tracks: 1 holds it back, 0 lets it run.
pub const HOLD_TRACK: &str = "rvs_sync_hold";
/// The weight of the hold: priority 1 for any base priority up to 254 (keepalived puts an
/// instance in FAULT below -253).
pub const HOLD_WEIGHT: i32 = -253;

/// The hold file next to keepalived's notify FIFO.
pub fn hold_file(fifo: &Path) -> std::path::PathBuf {
    fifo.with_extension("hold")
}

/// Maps the operator's `interface` names to the director's kernel interfaces.
///
/// In order: an explicit `--vrrp-interface NAME=KERNEL_IF`; else `rvs-NAME` when the kernel
/// has it (NAME is an rvsd port, whose tap rvsd names `rvs-` + the port's name by
/// default); else NAME as written (already a kernel interface, e.g. a `kernel_name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfaceMap {
    pub explicit: BTreeMap<String, String>,
    /// Where the kernel's interfaces are listed (`/sys/class/net`; tests use another).
    pub sysfs: Option<std::path::PathBuf>,
}

impl IfaceMap {
    pub fn map(&self, name: &str) -> String {
        if let Some(k) = self.explicit.get(name) {
            return k.clone();
        }
        let tap = tap_of(name);
        if self.exists(&tap) {
            tap
        } else {
            name.to_string()
        }
    }

    /// Whether the kernel has interface `name`.
    pub fn exists(&self, name: &str) -> bool {
        let sys = self.sysfs.clone().unwrap_or_else(|| "/sys/class/net".into());
        sys.join(name).exists()
    }

    /// Whether `plan` should be made again: an instance's name now maps to rvsd's tap, and
    /// the plan has it elsewhere. rvs-ctrl starts with rvsd (systemd starts it once rvsd is
    /// executed), before rvsd has made its taps, so `interface client` was mapped to
    /// `client` (which never comes, or is another interface); once `rvs-client` exists it
    /// is the instance's. Nothing moves an instance off a tap: while rvsd restarts its tap
    /// is gone, and the instance waits for it.
    pub fn remap(&self, plan: &Plan) -> bool {
        plan.instances.iter().any(|i| {
            let now = self.map(&i.interface);
            now != i.kernel_if && now == tap_of(&i.interface) && self.exists(&now)
        })
    }
}

/// The name rvsd gives the tap of port `name` by default (the kernel allows 15 bytes).
fn tap_of(name: &str) -> String {
    format!("rvs-{name}").chars().take(15).collect()
}

/// One instance as rvs-ctrl runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePlan {
    pub name: String,
    pub vrid: u8,
    pub priority: u8,
    pub advert_int: f64,
    /// As the operator wrote it, and the kernel interface it maps to.
    pub interface: String,
    pub kernel_if: String,
    /// `virtual_ipaddress` then `virtual_ipaddress_excluded`: every VIP rvsd owns as MASTER.
    pub vips: Vec<IpAddr>,
    /// The local addresses of the virtual servers on those VIPs.
    pub lips: Vec<IpAddr>,
    pub notify: Notify,
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    pub name: String,
    pub notify: Notify,
}

/// The generated configuration and what each instance moves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The keepalived.conf text (empty when there is no instance).
    pub text: String,
    pub instances: Vec<InstancePlan>,
    pub groups: Vec<GroupPlan>,
    /// `lvs_sync_daemon`, compared with rvsd's `[sync]` (which rvs-ctrl cannot change).
    pub sync_daemon: Option<crate::keepalived::SyncDaemon>,
    /// The configuration the plan is made from, to make it again when rvsd's taps appear
    /// ([`IfaceMap::remap`]).
    pub source: Option<std::sync::Arc<Config>>,
}

impl Plan {
    /// Every address some instance moves.
    pub fn managed(&self) -> BTreeSet<IpAddr> {
        self.instances.iter().flat_map(|i| i.vips.iter().chain(&i.lips).copied()).collect()
    }

    /// The addresses rvsd should own when the instances `is_master` names are MASTER: an
    /// address shared by two instances is owned while either is.
    pub fn desired(&self, is_master: impl Fn(&str) -> bool) -> BTreeSet<IpAddr> {
        self.instances
            .iter()
            .filter(|i| is_master(&i.name))
            .flat_map(|i| i.vips.iter().chain(&i.lips).copied())
            .collect()
    }

    /// The instance that moves `addr`, if one does.
    pub fn owner_of(&self, addr: IpAddr) -> Option<&InstancePlan> {
        self.instances.iter().find(|i| i.vips.contains(&addr) || i.lips.contains(&addr))
    }
}

/// keepalived's quoting: a word with blanks, comment or brace characters is quoted.
fn word(w: &str) -> String {
    if !w.is_empty() && !w.chars().any(|c| c.is_whitespace() || "#!{}\"\\".contains(c)) {
        return w.to_string();
    }
    let mut s = String::from("\"");
    for c in w.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Writes a statement (and its block) back in keepalived syntax.
fn render(out: &mut String, s: &Stmt, depth: usize) {
    render_traced(out, s, depth, None)
}

fn origin(out: &mut String, loc: &Loc) {
    let _ = writeln!(out, "# {loc}");
}

/// `render`; with `last`, an origin comment before each statement from another line of the
/// operator's file than the one before it (`last`): keepalived's complaint about an
/// instance's `garp_master_refresh` names that line, not the instance's.
fn render_traced(out: &mut String, s: &Stmt, depth: usize, mut last: Option<&mut Loc>) {
    let pad = "    ".repeat(depth);
    if let Some(last) = last.as_deref_mut().filter(|l| **l != s.loc) {
        let _ = writeln!(out, "{pad}# {}", s.loc);
        *last = s.loc.clone();
    }
    let _ = write!(out, "{pad}{}", word(&s.keyword));
    for a in &s.args {
        let _ = write!(out, " {}", word(a));
    }
    match &s.block {
        None => out.push('\n'),
        Some(b) => {
            out.push_str(" {\n");
            for k in b {
                render_traced(out, k, depth + 1, last.as_deref_mut());
            }
            let _ = writeln!(out, "{pad}}}");
        }
    }
}

fn stmt(keyword: &str, args: &[&str], loc: &Loc) -> Stmt {
    Stmt {
        keyword: keyword.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        block: None,
        loc: loc.clone(),
    }
}

/// Maps the interface names of a `track_interface` block.
fn mapped_track(entries: &[Stmt], map: &IfaceMap) -> Vec<Stmt> {
    entries.iter().map(|e| Stmt { keyword: map.map(&e.keyword), ..e.clone() }).collect()
}

/// Builds the plan and keepalived's configuration for `cfg`. `fifo` is where keepalived
/// reports state changes.
pub fn plan(cfg: &Config, map: &IfaceMap, fifo: &Path) -> Plan {
    let v = &cfg.vrrp;
    let group_of =
        |name: &str| v.groups.iter().find(|g| g.members.iter().any(|m| m == name)).map(|g| g.name.clone());
    let instances: Vec<InstancePlan> = v
        .instances
        .iter()
        .map(|i| InstancePlan {
            name: i.name.clone(),
            vrid: i.vrid,
            priority: i.priority,
            advert_int: i.advert_int,
            interface: i.interface.clone(),
            kernel_if: map.map(&i.interface),
            vips: i.owned_vips(),
            lips: i
                .lips(cfg)
                .into_iter()
                .filter(|l| !i.vips.contains(l) && !i.excluded.contains(l))
                .collect(),
            notify: i.notify.clone(),
            group: group_of(&i.name),
        })
        .collect();
    let groups =
        v.groups.iter().map(|g| GroupPlan { name: g.name.clone(), notify: g.notify.clone() }).collect();
    if instances.is_empty() {
        return Plan { text: String::new(), instances, groups, sync_daemon: None, source: None };
    }

    let mut t = String::from(
        "# Written by rvs-ctrl: the VRRP half of the operator's keepalived.conf, for the keepalived\n\
         # rvs-ctrl runs (VRRP only). Each block names the file:line it comes from. Do not edit.\n\
         global_defs {\n",
    );
    for g in &v.globals {
        // Each its own origin: keepalived's complaints about one name its line.
        origin(&mut t, &g.loc);
        render(&mut t, g, 1);
    }
    let _ = write!(
        t,
        "    dynamic_interfaces\n    nftables {NFT_TABLE}\n    notify_fifo {}\n    fifo_write_vrrp_states_on_reload\n}}\n",
        word(&fifo.display().to_string())
    );
    for s in &v.scripts {
        origin(&mut t, &s.loc);
        render(&mut t, &s.stmt, 0);
    }
    // The operator's track_file blocks the instances and groups name.
    let named: BTreeSet<&str> = v
        .instances
        .iter()
        .flat_map(|i| i.track_files.iter())
        .chain(
            v.groups
                .iter()
                .flat_map(|g| g.passthrough.iter())
                .filter(|p| p.keyword == "track_file")
                .flat_map(|p| p.block.iter().flatten()),
        )
        .map(|e| e.keyword.as_str())
        .collect();
    for (name, f) in cfg.track_files.iter().filter(|(n, _)| named.contains(n.as_str())) {
        origin(&mut t, &f.loc);
        let mut s = stmt("track_file", &[name], &f.loc);
        let mut weight = vec![f.weight.to_string()];
        if f.reverse {
            weight.push("reverse".into());
        }
        let weight: Vec<&str> = weight.iter().map(String::as_str).collect();
        s.block = Some(vec![
            stmt("file", &[&f.path.display().to_string()], &f.loc),
            stmt("weight", &weight, &f.loc),
        ]);
        render(&mut t, &s, 0);
    }
    let _ = write!(
        t,
        "# rvs-ctrl: 1 while rvsd waits for its start-up bulk sync (docs/vrrp.md)\ntrack_file {HOLD_TRACK} {{\n    file {}\n}}\n",
        word(&hold_file(fifo).display().to_string())
    );
    for (i, p) in v.instances.iter().zip(&instances) {
        origin(&mut t, &i.loc);
        let mut body = vec![
            stmt("state", &[if i.initial_master { "MASTER" } else { "BACKUP" }], &i.loc),
            stmt("interface", &[&p.kernel_if], &i.loc),
            stmt("virtual_router_id", &[&i.vrid.to_string()], &i.loc),
            stmt("priority", &[&i.priority.to_string()], &i.loc),
        ];
        body.extend(i.passthrough.iter().cloned());
        if let Some(a) = &i.auth {
            let mut s = stmt("authentication", &[], &i.loc);
            s.block =
                Some(vec![stmt("auth_type", &[&a.kind], &i.loc), stmt("auth_pass", &[&a.pass], &i.loc)]);
            body.push(s);
        }
        let mut vips = stmt("virtual_ipaddress", &[], &i.loc);
        let host = |ip: &IpAddr| format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 });
        vips.block = Some(i.vips.iter().map(|ip| stmt(&host(ip), &["dev", &p.kernel_if], &i.loc)).collect());
        body.push(vips);
        body.push(stmt("no_accept", &[], &i.loc));
        if i.nopreempt {
            body.push(stmt("nopreempt", &[], &i.loc));
        }
        if let Some(d) = i.preempt_delay {
            body.push(stmt("preempt_delay", &[&d.to_string()], &i.loc));
        }
        if !i.track_scripts.is_empty() {
            let mut s = stmt("track_script", &[], &i.loc);
            s.block = Some(i.track_scripts.clone());
            body.push(s);
        }
        if !i.track_interfaces.is_empty() {
            let mut s = stmt("track_interface", &[], &i.loc);
            s.block = Some(mapped_track(&i.track_interfaces, map));
            body.push(s);
        }
        let weight = if p.group.is_some() || i.priority == 255 { 0 } else { HOLD_WEIGHT };
        let mut hold = stmt("track_file", &[], &i.loc);
        let mut tracked = i.track_files.clone();
        tracked.push(stmt(HOLD_TRACK, &["weight", &weight.to_string()], &i.loc));
        hold.block = Some(tracked);
        body.push(hold);
        let mut s = stmt("vrrp_instance", &[&i.name], &i.loc);
        s.block = Some(body);
        render_traced(&mut t, &s, 0, Some(&mut i.loc.clone()));
    }
    for g in &v.groups {
        origin(&mut t, &g.loc);
        let mut members = stmt("group", &[], &g.loc);
        members.block = Some(g.members.iter().map(|m| stmt(m, &[], &g.loc)).collect());
        let mut body = vec![members];
        for p in &g.passthrough {
            let mut p = p.clone();
            if p.keyword == "track_interface" {
                p.block = p.block.map(|b| mapped_track(&b, map));
            }
            body.push(p);
        }
        let mut s = stmt("vrrp_sync_group", &[&g.name], &g.loc);
        s.block = Some(body);
        render(&mut t, &s, 0);
    }
    Plan {
        text: t,
        instances,
        groups,
        sync_daemon: v.sync_daemon.clone(),
        source: Some(std::sync::Arc::new(cfg.clone())),
    }
}

/// How rvsd's session sync differs from the file's `lvs_sync_daemon` (empty: it agrees).
pub fn sync_mismatch(d: &crate::keepalived::SyncDaemon, s: &rvs_proto::SyncInfo) -> Vec<String> {
    if !s.enabled {
        return vec!["rvsd has no [sync] section: sessions are not synced".into()];
    }
    let mut out = Vec::new();
    if s.sync_id != d.sync_id {
        out.push(format!("rvsd's sync_id is {}, lvs_sync_daemon says id {}", s.sync_id, d.sync_id));
    }
    let group = format!("{}:{}", d.group.map_or("224.0.0.81".to_string(), |g| g.to_string()), d.port);
    let unicast = s.destinations.iter().any(|x| !x.starts_with("224.") && !x.starts_with("239."));
    if !unicast && !s.destinations.contains(&group) {
        out.push(format!("rvsd sends to {}, lvs_sync_daemon says {group}", s.destinations.join(",")));
    }
    out
}

/// The operator's file:line behind line `n` (1-based) of the generated text: the origin
/// comment of the block it is in.
pub fn origin_of(text: &str, n: usize) -> Option<&str> {
    let is_loc =
        |l: &&str| l.rsplit_once(':').is_some_and(|(f, n)| !f.is_empty() && n.parse::<u32>().is_ok());
    text.lines().take(n).filter_map(|l| l.trim_start().strip_prefix("# ")).filter(is_loc).last()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ha;
