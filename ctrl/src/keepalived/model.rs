//! The typed model of a keepalived.conf, built from the statement tree with keepalived's
//! defaults and rules.

use super::lexer::Loc;
use super::parser::Stmt;
use super::{ConfigError, Diag, Loaded};
use rvs_proto::{ForwardMethod, Persistence, ServiceKey, ServiceOptions, Thresholds, Timeouts, TunnelEncap};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

mod cluster;
mod ctx;
mod keywords;
mod limits;
mod rs;
mod runas;
mod top;
mod vrrp;
mod vrrp_notify;
mod vs;

pub use cluster::{cluster_mismatch, ClusterBlock};
pub use ctx::split_words;
use ctx::{expand_range, Ctx};
use keywords::{TOP, VRRP_BLOCKS};
pub use limits::VsLimits;
pub use rs::hex_bytes;
pub use runas::RunAs;
use top::{global_defs, track_file, vs_group};
pub use vrrp::{Notify, NotifyScript, SyncDaemon, SyncGroup, Vrrp, VrrpAuth, VrrpInstance, VrrpScript};
use vs::virtual_server;

/// The IPVS scheduler names keepalived accepts, all of which rvsd implements.
pub use rvs_proto::check::SCHEDULERS;

/// keepalived's defaults (2.2: `IPVS_DEF_SCHED`, `IPVS_SVC_PERSISTENT_TIMEOUT`, the
/// checkers' connect timeout and the virtual server's delay_loop).
pub const DEFAULT_SCHEDULER: &str = "wlc";
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
/// FILE_CHECK reads its file at least this often (keepalived watches it with inotify).
pub const FILE_CHECK_MAX_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub router_id: Option<String>,
    pub laddr_groups: BTreeMap<String, Vec<IpAddr>>,
    /// `track_file NAME { file PATH weight W [reverse] }` blocks, for FILE_CHECK and for the
    /// `track_file` entries of VRRP instances and sync groups.
    pub track_files: BTreeMap<String, TrackFile>,
    pub virtual_servers: Vec<VirtualServer>,
    /// `virtual_server_group` blocks by name.
    pub vs_groups: BTreeMap<String, VsGroup>,
    /// `global_defs { lvs_timeouts tcp N tcpfin N udp N }` (0: left as rvsd has it).
    pub lvs_timeouts: Option<Timeouts>,
    /// The VRRP blocks, for the keepalived rvs-ctrl runs ([`crate::vrrp`]).
    pub vrrp: Vrrp,
    /// `cluster { ... }`: this director as an ECMP cluster member (rvs-ctrl's extension).
    pub cluster: Option<ClusterBlock>,
}

/// A top-level `track_file` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    pub loc: Loc,
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServer {
    pub loc: Loc,
    pub key: ServiceKey,
    pub delay_loop: Duration,
    pub scheduler: String,
    /// `lb_kind`/`lvs_method`: the default of the real servers, with its tunnel type.
    pub method: ForwardMethod,
    pub tunnel: Option<TunnelEncap>,
    /// `sorry_server_lvs_method` (default: `lb_kind`).
    pub sorry_method: Option<(ForwardMethod, Option<TunnelEncap>)>,
    /// Every service this block makes: its own VIP:port, or each member of its
    /// `virtual_server group`. `key` is the first; all share the real servers and checks.
    pub members: Vec<ServiceKey>,
    /// The `virtual_server_group` this block serves, if any.
    pub group: Option<String>,
    /// `persistence_timeout`, seconds (None or 0: no persistence).
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity` as a prefix length (None: per client address).
    pub persistence_granularity: Option<u8>,
    /// Scheduler flags as rvsd spells them (`sh-port`, `mh-fallback`, `flag-1`, ...).
    pub sched_flags: Vec<String>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub sorry_server: Option<SocketAddr>,
    pub sorry_server_inhibit: bool,
    pub inhibit_on_failure: bool,
    /// Real servers start down until their first successful check.
    pub alpha: bool,
    /// Run the down notifiers when rvs-ctrl stops.
    pub omega: bool,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub laddr_group: Option<String>,
    /// The addresses of `laddr_group`, resolved.
    pub local_addrs: Vec<IpAddr>,
    pub syn_proxy: bool,
    pub toa: bool,
    /// PROXY protocol version (1 or 2).
    pub proxy_protocol: Option<u8>,
    /// `proxy_protocol_send on-connect` (rvs extension).
    pub proxy_on_connect: bool,
    /// `rvs_limits { ... }`: source lists and admission limits.
    pub limits: VsLimits,
    /// `expire_quiescent_template` (rvs extension: IPVS's sysctl, per service).
    pub expire_quiescent_template: bool,
    /// `mh_table_size PRIME` (rvs extension).
    pub mh_table_size: Option<u32>,
    pub reals: Vec<RealServer>,
}

impl VirtualServer {
    /// How real server `rs` is forwarded to: its own `lvs_method`, else `lb_kind`.
    pub fn real_method(&self, rs: &RealServer) -> (ForwardMethod, Option<TunnelEncap>) {
        rs.method.unwrap_or((self.method, self.tunnel))
    }

    /// How the sorry server is forwarded to: `sorry_server_lvs_method`, else `lb_kind`.
    pub fn sorry_method(&self) -> (ForwardMethod, Option<TunnelEncap>) {
        self.sorry_method.unwrap_or((self.method, self.tunnel))
    }

    /// Whether `key` is one of the services of this block.
    pub fn serves(&self, key: &ServiceKey) -> bool {
        self.members.contains(key)
    }

    /// The service options rvsd is given for each member.
    pub fn options(&self) -> ServiceOptions {
        let host = if self.key.addr.is_ipv4() { 32 } else { 128 };
        ServiceOptions {
            sched_flags: self.sched_flags.clone(),
            persistence: self.persistence_timeout.filter(|&t| t > 0).map(|timeout| Persistence {
                timeout,
                prefix_len: self.persistence_granularity.unwrap_or(host),
            }),
            syn_proxy: self.syn_proxy,
            toa: self.toa,
            proxy_protocol: self.proxy_protocol,
            proxy_on_connect: self.proxy_on_connect,
            expire_quiescent_template: self.expire_quiescent_template,
            mh_table_size: self.mh_table_size,
            allow: self.limits.allow.clone(),
            deny: self.limits.deny.clone(),
            source_conn_rate: self.limits.source_conn_rate,
            conn_rate: self.limits.conn_rate,
            max_conns: self.limits.max_conns,
        }
    }
}

/// A top-level `virtual_server_group NAME { VIP PORT; VIP-RANGE PORT; ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsGroup {
    pub loc: Loc,
    pub addrs: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    pub loc: Loc,
    pub addr: SocketAddr,
    pub weight: u32,
    /// Set to 0 instead of removing on failure (inherits the virtual server's setting).
    pub inhibit_on_failure: bool,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub checkers: Vec<CheckerConf>,
    /// The real server's own `lvs_method` (keepalived 2.x); None: the virtual server's.
    pub method: Option<(ForwardMethod, Option<TunnelEncap>)>,
}

impl RealServer {
    /// `uthreshold`/`lthreshold` as rvsd takes them (0: none).
    pub fn thresholds(&self) -> Thresholds {
        Thresholds { upper: self.uthreshold.unwrap_or(0), lower: self.lthreshold.unwrap_or(0) }
    }
}

/// A program to run, with keepalived's word splitting already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub argv: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckerConf {
    pub loc: Loc,
    pub kind: CheckKind,
    /// Where to connect; the real server's address unless `connect_ip`/`connect_port`.
    pub target: SocketAddr,
    /// The checker's source: `bindto`, with `bind_port` (0: any port). keepalived binds
    /// only with a `bindto`, so `bind_port` alone does nothing.
    pub bindto: Option<SocketAddr>,
    /// `bind_if`: the interface the check's packets leave by (SO_BINDTODEVICE).
    pub bind_if: Option<String>,
    /// `fwmark`: the mark the check's packets carry (SO_MARK), for policy routing.
    pub fwmark: Option<u32>,
    pub connect_timeout: Duration,
    /// Further attempts after a failure before the server is declared down.
    pub retry: u32,
    pub delay_before_retry: Duration,
    pub delay_loop: Duration,
    /// A random delay of up to this before the first check.
    pub warmup: Option<Duration>,
    /// This checker starts failed (keepalived's `alpha`).
    pub alpha: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Tcp,
    /// SMTP_CHECK: greeting 220, `HELO helo` answered 250, QUIT (see [`crate::check::smtp`]).
    Smtp {
        helo: String,
    },
    /// HTTP_GET, or SSL_GET when `tls` (the same exchange over TLS, see [`crate::check::tls`]).
    Http {
        urls: Vec<HttpUrl>,
        virtualhost: Option<String>,
        tls: bool,
        /// SSL_GET's SNI (`enable_sni`, `sni_name`).
        sni: Sni,
        /// `http_protocol 1.1`: the request says HTTP/1.1 (otherwise HTTP/1.0).
        http_1_1: bool,
    },
    Misc {
        argv: Vec<String>,
        timeout: Option<Duration>,
        dynamic: bool,
        /// `user NAME [GROUP]`: the uid and gid the script runs as (None: rvs-ctrl's own).
        user: Option<(u32, u32)>,
    },
    /// UDP_CHECK: `payload` sent; with `require_reply` an answer is needed, starting with
    /// `reply` when that is given.
    Udp {
        payload: Vec<u8>,
        require_reply: bool,
        reply: Vec<u8>,
        /// `min_reply_length`, `max_reply_length` (keepalived's 0 and 255): the bounds of a
        /// reply's length, checked when `reply` is given.
        reply_len: (u16, u16),
    },
    /// PING_CHECK: an ICMP (ICMPv6) echo answered (see [`crate::check::ping`]).
    Ping,
    /// DNS_CHECK: a question of `qtype` for `name` over UDP.
    Dns {
        qtype: u16,
        name: String,
    },
    /// FILE_CHECK: the number in `path` (see [`crate::check::file`]).
    File {
        path: PathBuf,
        weight: i32,
        reverse: bool,
    },
}

/// The name SSL_GET sends as SNI. keepalived sends none unless `enable_sni`; `sni_name`
/// sets the name and implies `enable_sni`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sni {
    #[default]
    Off,
    /// The url's `virtualhost`, else the checker's (its real or virtual server's).
    Virtualhost,
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpUrl {
    pub path: String,
    pub status: StatusCodes,
    /// Lower-case hex MD5 of the body.
    pub digest: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    pub virtualhost: Option<String>,
}

/// Accepted HTTP status codes: keepalived 2.x's `status_code 200 301-303`, 2xx by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCodes(pub Vec<(u16, u16)>);

impl StatusCodes {
    pub fn default_2xx() -> Self {
        StatusCodes(vec![(200, 299)])
    }

    pub fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

/// Builds the typed configuration. All errors are collected.
pub fn build(stmts: &[Stmt], diags: Vec<Diag>) -> Result<Loaded, ConfigError> {
    let mut cx = Ctx { diags, errors: Vec::new() };
    let mut cfg = Config::default();

    // Local address groups first: virtual servers may name them before they are defined.
    let mut group_locs: BTreeMap<String, Loc> = BTreeMap::new();
    for s in stmts.iter().filter(|s| s.keyword == "local_address_group") {
        let Some(name) = cx.arg(s, 0).map(str::to_string) else { continue };
        if let Some(first) = group_locs.get(&name) {
            let msg = format!("duplicate local_address_group {name} (first defined at {first})");
            cx.error(&s.loc, msg);
            continue;
        }
        let mut addrs = Vec::new();
        for e in s.block.iter().flatten() {
            match expand_range(&e.keyword) {
                Ok(ips) => {
                    for ip in ips {
                        if !addrs.contains(&ip) {
                            addrs.push(ip);
                        }
                    }
                }
                Err(m) => cx.error(&e.loc, format!("local_address_group {name}: {m}")),
            }
            if e.args.len() > 1 || e.block.is_some() {
                cx.warn(&e.loc, "unexpected words after the address, ignored");
            } else if let Some(ifname) = e.args.first() {
                cx.info(&e.loc, format!("interface {ifname} ignored: rvsd picks the port by route"));
            }
        }
        if s.block.is_none() {
            cx.error(&s.loc, format!("local_address_group {name} needs a {{ block }} of addresses"));
        }
        group_locs.insert(name.clone(), s.loc.clone());
        cfg.laddr_groups.insert(name, addrs);
    }
    // track_file blocks too: FILE_CHECKs name them.
    // (`vrrp_track_file` is keepalived's older name.)
    for s in stmts.iter().filter(|s| s.keyword == "track_file" || s.keyword == "vrrp_track_file") {
        track_file(&mut cx, s, &mut cfg);
    }
    // And virtual_server_group blocks: a virtual_server group NAME may come first.
    for s in stmts.iter().filter(|s| s.keyword == "virtual_server_group") {
        vs_group(&mut cx, s, &mut cfg);
    }

    let mut vs_locs: BTreeMap<ServiceKey, Loc> = BTreeMap::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => global_defs(&mut cx, s, &mut cfg),
            "cluster" => {
                if let Some(first) = &cfg.cluster {
                    let msg = format!("a second cluster block (the first is at {})", first.loc);
                    cx.error(&s.loc, msg);
                } else {
                    cfg.cluster = cluster::cluster(&mut cx, s);
                }
            }
            "local_address_group" | "track_file" | "vrrp_track_file" => {}
            "virtual_server" => {
                // A block whose protocol was refused (an error already) is checked on, but is
                // no service another one could duplicate.
                let refused_protocol = s.block.iter().flatten().any(|k| {
                    k.keyword == "protocol"
                        && k.args.first().is_some_and(|p| !["TCP", "UDP"].contains(&p.to_ascii_uppercase().as_str()))
                });
                if let Some(vs) = virtual_server(&mut cx, s, &cfg) {
                    let taken: Vec<String> = vs
                        .members
                        .iter()
                        .filter_map(|k| vs_locs.get(k).map(|first| (k, first)))
                        .map(|(k, first)| {
                            format!("{} {} (first defined at {first})", k.protocol.as_str(), k.addr)
                        })
                        .collect();
                    if refused_protocol {
                        cfg.virtual_servers.push(vs);
                    } else if !taken.is_empty() {
                        cx.error(&s.loc, format!("duplicate virtual_server {}", taken.join(", ")));
                    } else {
                        for k in &vs.members {
                            vs_locs.insert(*k, vs.loc.clone());
                        }
                        cfg.virtual_servers.push(vs);
                    }
                }
            }
            "virtual_server_group" => {}
            "deny_address_group" | "whitelist_address_group" | "blacklist_address_group" => {
                cx.unsupported(s, "")
            }
            "vrrp_instance" => {
                if let Some(i) = vrrp::vrrp_instance(&mut cx, s) {
                    cfg.vrrp.instances.push(i);
                }
            }
            "vrrp_sync_group" => {
                if let Some(g) = vrrp::sync_group(&mut cx, s) {
                    cfg.vrrp.groups.push(g);
                }
            }
            "vrrp_script" => {
                if let Some(v) = vrrp::vrrp_script(&mut cx, s) {
                    cfg.vrrp.scripts.push(v);
                }
            }
            k if VRRP_BLOCKS.contains(&k) => cx.warn(
                &s.loc,
                format!("'{k}' is not supported by rvs-ctrl's VRRP (keepalived is run for VRRP instances only), ignored"),
            ),
            "net_namespace" => cx.unsupported(s, ""),
            // A root keyword of keepalived's (global_parser.c), about its own processes.
            "child_wait_time" => cx.warn(
                &s.loc,
                "'child_wait_time' (how long keepalived's parent waits for its children to stop) has no use in rvs-ctrl, ignored",
            ),
            "SSL" => cx.warn(
                &s.loc,
                "'SSL' (a client certificate for SSL_GET) is not supported by rvs-ctrl's checkers, ignored: they present none",
            ),
            _ => cx.unknown(s, "the top level", TOP),
        }
    }

    // keepalived 1.x's per-instance `lvs_sync_daemon_interface IF`, when there is no global one.
    if cfg.vrrp.sync_daemon.is_none() {
        let legacy = stmts.iter().filter(|s| s.keyword == "vrrp_instance").find_map(|s| {
            let k = s.block.iter().flatten().find(|k| k.keyword == "lvs_sync_daemon_interface")?;
            Some((k.clone(), s.args.first()?.clone()))
        });
        if let Some((k, instance)) = legacy {
            let mut g = k.clone();
            g.args.truncate(1);
            g.args.push(instance);
            cfg.vrrp.sync_daemon = vrrp::lvs_sync_daemon(&mut cx, &g);
        }
    }
    vrrp::ignored_auth(&mut cx, &mut cfg.vrrp);
    if let Some(default) = vrrp_notify::script_users(&mut cx, &mut cfg.vrrp) {
        // MISC_CHECKs without a `user` run as the same default, as keepalived runs them.
        let checkers = cfg
            .virtual_servers
            .iter_mut()
            .flat_map(|vs| vs.reals.iter_mut())
            .flat_map(|r| r.checkers.iter_mut());
        for c in checkers {
            if let CheckKind::Misc { user: user @ None, .. } = &mut c.kind {
                *user = Some((default.uid, default.gid));
            }
        }
    }
    vrrp::cross_checks(&mut cx, &cfg.vrrp, &cfg.track_files);

    // With VRRP instances, a VIP none of them moves is not moved at all: rvsd owns it or not
    // as its own [ha] section says, on both directors alike (keepalived would serve it
    // wherever the address happens to be configured).
    if !cfg.vrrp.instances.is_empty() {
        let moved =
            |a: &IpAddr| cfg.vrrp.instances.iter().any(|i| i.vips.contains(a) || i.excluded.contains(a));
        for vs in &cfg.virtual_servers {
            let mut vips: Vec<IpAddr> =
                vs.members.iter().map(|k| k.addr.ip()).filter(|a| !moved(a)).collect();
            vips.dedup();
            for a in vips {
                // Information, not a warning: a VIP left to rvsadm --takeover or a cluster
                // manager is a design of its own.
                cx.info(
                    &vs.loc,
                    format!(
                        "{a} is in no vrrp_instance's virtual_ipaddress or virtual_ipaddress_excluded: \
                         VRRP does not move it; rvsd owns it as its [ha] section says (rvsadm --takeover)"
                    ),
                );
            }
        }
    }

    // What rvsd itself would refuse (IPv6, a scheduler flag it lacks, ...), with the same
    // checks rvsd applies, so `rvs-ctrl -t` and a reload say it before anything is sent.
    for vs in &cfg.virtual_servers {
        // The sorry_server line of the block, for what is said of it.
        let sorry_loc = stmts
            .iter()
            .filter(|s| s.loc == vs.loc)
            .flat_map(|s| s.block.iter().flatten())
            .filter(|k| k.keyword == "sorry_server")
            .map(|k| k.loc.clone())
            .next_back();
        vs::rvsd_checks(&mut cx, vs, sorry_loc.as_ref());
    }
    // An address is a VIP or a LIP, not both (rvsd refuses it too: replies to such a LIP
    // would be taken for new connections to the VIP).
    for (name, addrs) in &cfg.laddr_groups {
        if !cfg.virtual_servers.iter().any(|vs| vs.laddr_group.as_ref() == Some(name)) {
            continue;
        }
        // The line that lists the address (a range may hold it), else the group's.
        let entries: Vec<&Stmt> = stmts
            .iter()
            .filter(|s| s.keyword == "local_address_group" && s.args.first() == Some(name))
            .flat_map(|s| s.block.iter().flatten())
            .collect();
        for a in addrs {
            let vip = cfg.virtual_servers.iter().find(|vs| vs.members.iter().any(|k| k.addr.ip() == *a));
            let line = entries.iter().find(|e| expand_range(&e.keyword).is_ok_and(|ips| ips.contains(a)));
            if let (Some(vs), Some(at)) = (vip, line.map(|e| &e.loc).or(group_locs.get(name))) {
                let msg = format!(
                    "local_address_group {name}: {a} is also the address of the virtual_server at {}: an address is a VIP or a LIP, not both",
                    vs.loc
                );
                cx.error(at, msg);
            }
        }
    }

    if cx.errors.is_empty() {
        Ok(Loaded { config: cfg, diags: cx.diags })
    } else {
        Err(ConfigError::Invalid { errors: cx.errors, diags: cx.diags })
    }
}

/// `weight W [reverse|noreverse]` of a track_file block or a FILE_CHECK.
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_docs;
#[cfg(test)]
mod tests_operators;
#[cfg(test)]
mod tests_vrrp6;
#[cfg(test)]
mod tests_vrrp_ha;
