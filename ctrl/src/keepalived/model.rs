//! The typed model of a keepalived.conf, built from the statement tree with keepalived's
//! defaults and rules.

use super::lexer::Loc;
use super::parser::Stmt;
use super::{ConfigError, Diag, Loaded, Severity};
use rvs_proto::{ForwardMethod, Protocol, ServiceKey};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The IPVS scheduler names keepalived accepts. rvsd implements a subset; it refuses the
/// others when the service is added, and that refusal is reported then.
pub const SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos"];

/// keepalived's defaults.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
/// FILE_CHECK reads its file at least this often (keepalived watches it with inotify).
pub const FILE_CHECK_MAX_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub router_id: Option<String>,
    pub laddr_groups: BTreeMap<String, Vec<IpAddr>>,
    /// `track_file NAME { file PATH weight W [reverse] }` blocks, for FILE_CHECK.
    pub track_files: BTreeMap<String, TrackFile>,
    pub virtual_servers: Vec<VirtualServer>,
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
    pub method: ForwardMethod,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
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
    pub proxy_protocol: Option<String>,
    pub reals: Vec<RealServer>,
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
    pub bindto: Option<IpAddr>,
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
    /// HTTP_GET, or SSL_GET when `tls` (the same exchange over TLS, see [`crate::check::tls`]).
    Http {
        urls: Vec<HttpUrl>,
        virtualhost: Option<String>,
        tls: bool,
    },
    Misc {
        argv: Vec<String>,
        timeout: Option<Duration>,
        dynamic: bool,
    },
    Udp {
        payload: Vec<u8>,
        require_reply: bool,
    },
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

// ---------------------------------------------------------------------------------------
// Keyword tables (for "unknown keyword" warnings and spelling suggestions).

const TOP: &[&str] = &[
    "global_defs",
    "virtual_server",
    "virtual_server_group",
    "local_address_group",
    "deny_address_group",
    "whitelist_address_group",
    "blacklist_address_group",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "vrrp_track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_file",
    "linkbeat_interfaces",
    "garp_group",
    "net_namespace",
];

const VRRP_BLOCKS: &[&str] = &[
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "vrrp_track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "linkbeat_interfaces",
    "garp_group",
];

const GLOBAL_DEFS: &[&str] = &[
    "router_id",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "enable_script_security",
    "script_user",
    "lvs_id",
    "lvs_flush",
    "lvs_flush_onstop",
    "lvs_timeouts",
    "lvs_sync_daemon",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_version",
    "vrrp_iptables",
    "vrrp_ipsets",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
    "vrrp_priority",
    "vrrp_no_swap",
    "vrrp_rt_priority",
    "checker_priority",
    "checker_no_swap",
    "checker_rt_priority",
    "bfd_priority",
    "bfd_no_swap",
    "max_auto_priority",
    "dynamic_interfaces",
    "default_interface",
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "bfd_process_name",
    "snmp_socket",
    "enable_snmp_vrrp",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_traps",
    "enable_dbus",
    "instance",
    "script_max_wait",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs",
    "vrrp_startup_delay",
    "vrrp_min_garp",
    "use_pid_dir",
    "umask",
    "local_name",
    "data_use_instance",
    "uid_gid",
    "no_checker_emails",
];

const VS_KEYS: &[&str] = &[
    "delay_loop",
    "lb_algo",
    "lvs_sched",
    "lb_kind",
    "lvs_method",
    "protocol",
    "persistence_timeout",
    "persistence_granularity",
    "persistence_engine",
    "quorum",
    "hysteresis",
    "quorum_up",
    "quorum_down",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "inhibit_on_failure",
    "alpha",
    "omega",
    "ha_suspend",
    "virtualhost",
    "real_server",
    "laddr_group_name",
    "syn_proxy",
    "toa",
    "proxy_protocol",
    "ops",
    "hashed",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "smtp_alert",
    "retry",
    "delay_before_retry",
    "connect_timeout",
    "warmup",
    "daddr_group_name",
    "deny_address_group",
    "whitelist_address_group",
    "blacklist_address_group",
    "establish_timeout",
    "expire_quiescent_conn",
    "quic",
    "bps",
    "limit_proportion",
];

const RS_KEYS: &[&str] = &[
    "weight",
    "inhibit_on_failure",
    "notify_up",
    "notify_down",
    "uthreshold",
    "lthreshold",
    "smtp_alert",
    "alpha",
    "retry",
    "delay_before_retry",
    "connect_timeout",
    "delay_loop",
    "warmup",
    "virtualhost",
    "lvs_method",
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "UDP_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
    "PING_CHECK",
];

const CHECKER_KEYS: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "delay_loop",
    "warmup",
    "alpha",
    "fwmark",
    "log_all_failures",
    "url",
    "virtualhost",
    "http_protocol",
    "enable_sni",
    "fast_recovery",
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "user",
    "payload",
    "require_reply",
    "min_reply_length",
    "max_reply_length",
    "type",
    "name",
    "track_file",
    "file",
    "weight",
];

const TRACK_FILE_KEYS: &[&str] = &["file", "weight", "init_file"];

const URL_KEYS: &[&str] = &[
    "path",
    "digest",
    "status_code",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_stack",
    "virtualhost",
];

// ---------------------------------------------------------------------------------------

struct Ctx {
    diags: Vec<Diag>,
    errors: Vec<Diag>,
}

impl Ctx {
    fn error(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.errors.push(Diag::new(Severity::Error, Some(loc.clone()), msg));
    }
    fn warn(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(Diag::new(Severity::Warning, Some(loc.clone()), msg));
    }
    fn info(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(Diag::new(Severity::Info, Some(loc.clone()), msg));
    }

    fn unknown(&mut self, s: &Stmt, context: &str, known: &[&str]) {
        let hint = suggest(&s.keyword, known).map(|k| format!(" (did you mean '{k}'?)")).unwrap_or_default();
        self.warn(&s.loc, format!("unknown keyword '{}' in {context}, ignored{hint}", s.keyword));
    }

    fn unsupported(&mut self, s: &Stmt, what: &str) {
        self.warn(&s.loc, format!("'{}' is not supported by the dataplane yet, ignored{what}", s.keyword));
    }

    fn arg<'a>(&mut self, s: &'a Stmt, i: usize) -> Option<&'a str> {
        let a = s.args.get(i).map(String::as_str);
        if a.is_none() {
            self.error(&s.loc, format!("'{}' needs a value", s.keyword));
        }
        a
    }

    fn u32(&mut self, s: &Stmt) -> Option<u32> {
        let a = self.arg(s, 0)?;
        match a.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(&s.loc, format!("'{}': {a:?} is not a non-negative integer", s.keyword));
                None
            }
        }
    }

    fn secs(&mut self, s: &Stmt) -> Option<Duration> {
        let a = self.arg(s, 0)?;
        match a.parse::<f64>() {
            Ok(v) if (0.0..1e9).contains(&v) => Some(Duration::from_secs_f64(v)),
            _ => {
                self.error(&s.loc, format!("'{}': {a:?} is not a number of seconds", s.keyword));
                None
            }
        }
    }

    /// `flag` or `flag on|off|yes|no|true|false`.
    fn flag(&mut self, s: &Stmt) -> bool {
        match s.args.first().map(|a| a.to_ascii_lowercase()) {
            None => true,
            Some(a) if matches!(a.as_str(), "on" | "yes" | "true" | "1") => true,
            Some(a) if matches!(a.as_str(), "off" | "no" | "false" | "0") => false,
            Some(a) => {
                self.warn(&s.loc, format!("'{}': {a:?} is not on/off, taken as on", s.keyword));
                true
            }
        }
    }

    fn ip(&mut self, loc: &Loc, what: &str, a: &str) -> Option<IpAddr> {
        match a.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(loc, format!("{what}: bad IP address {a:?}"));
                None
            }
        }
    }

    fn port(&mut self, loc: &Loc, what: &str, a: &str) -> Option<u16> {
        match a.parse::<u16>() {
            Ok(0) => {
                self.error(loc, format!("{what}: port 0 (all ports) is not supported"));
                None
            }
            Ok(p) => Some(p),
            Err(_) => {
                self.error(loc, format!("{what}: bad port {a:?}"));
                None
            }
        }
    }

    fn script(&mut self, s: &Stmt) -> Option<Script> {
        let cmd = self.arg(s, 0)?;
        let argv = split_words(cmd);
        if argv.is_empty() {
            self.error(&s.loc, format!("'{}': empty command", s.keyword));
            return None;
        }
        if s.args.len() > 1 {
            self.warn(
                &s.loc,
                format!("'{}': user/group arguments ignored, scripts run as rvs-ctrl's user", s.keyword),
            );
        }
        Some(Script { argv, loc: s.loc.clone() })
    }
}

/// keepalived's splitting of a command string into words: blanks separate, single or
/// double quotes group.
pub fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut have = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                have = true;
            }
            None if c.is_whitespace() => {
                if have || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                have = false;
            }
            None => cur.push(c),
        }
    }
    if have || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The closest known keyword within a small edit distance, for "did you mean".
fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let best = known.iter().map(|k| (edit_distance(word, k), *k)).min_by_key(|(d, _)| *d)?;
    (best.0 <= 2.max(word.len() / 4) && best.0 > 0).then_some(best.1)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `198.19.0.200-210`: a range over the last byte (IPv4) or the last group (IPv6).
fn expand_range(entry: &str) -> Result<Vec<IpAddr>, String> {
    let Some((first, last)) = entry.split_once('-') else {
        return entry.parse::<IpAddr>().map(|ip| vec![ip]).map_err(|_| format!("bad IP address {entry:?}"));
    };
    let ip: IpAddr = first.parse().map_err(|_| format!("bad IP address {first:?}"))?;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let end: u8 = last.parse().map_err(|_| format!("bad range end {last:?} in {entry:?}"))?;
            if end < o[3] {
                return Err(format!("range {entry:?} ends before it starts"));
            }
            Ok((o[3]..=end).map(|b| IpAddr::from([o[0], o[1], o[2], b])).collect())
        }
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            let end =
                u16::from_str_radix(last, 16).map_err(|_| format!("bad range end {last:?} in {entry:?}"))?;
            if end < seg[7] {
                return Err(format!("range {entry:?} ends before it starts"));
            }
            let start = seg[7];
            Ok((start..=end)
                .map(|g| {
                    seg[7] = g;
                    IpAddr::from(seg)
                })
                .collect())
        }
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
    for s in stmts.iter().filter(|s| s.keyword == "track_file") {
        track_file(&mut cx, s, &mut cfg);
    }

    let mut vs_locs: BTreeMap<ServiceKey, Loc> = BTreeMap::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => global_defs(&mut cx, s, &mut cfg),
            "local_address_group" | "track_file" => {}
            "virtual_server" => {
                if let Some(vs) = virtual_server(&mut cx, s, &cfg) {
                    if let Some(first) = vs_locs.get(&vs.key) {
                        let msg = format!(
                            "duplicate virtual_server {} {} (first defined at {first})",
                            vs.key.protocol.as_str(),
                            vs.key.addr
                        );
                        cx.error(&s.loc, msg);
                    } else {
                        vs_locs.insert(vs.key, vs.loc.clone());
                        cfg.virtual_servers.push(vs);
                    }
                }
            }
            "virtual_server_group" => cx.warn(
                &s.loc,
                "virtual_server_group is not supported yet; a virtual_server using it is refused",
            ),
            "deny_address_group" | "whitelist_address_group" | "blacklist_address_group" => {
                cx.unsupported(s, "")
            }
            k if VRRP_BLOCKS.contains(&k) => {
                let name = s.args.first().map(|n| format!(" {n}")).unwrap_or_default();
                cx.info(&s.loc, format!("{k}{name} is handled by keepalived's VRRP, not rvs-ctrl"))
            }
            "net_namespace" => cx.unsupported(s, ""),
            _ => cx.unknown(s, "the top level", TOP),
        }
    }

    if cx.errors.is_empty() {
        Ok(Loaded { config: cfg, diags: cx.diags })
    } else {
        Err(ConfigError::Invalid { errors: cx.errors, diags: cx.diags })
    }
}

/// `weight W [reverse|noreverse]` of a track_file block or a FILE_CHECK.
fn track_weight(cx: &mut Ctx, k: &Stmt) -> Option<(i32, bool)> {
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

fn track_file(cx: &mut Ctx, s: &Stmt, cfg: &mut Config) {
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

fn global_defs(cx: &mut Ctx, s: &Stmt, cfg: &mut Config) {
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

fn virtual_server(cx: &mut Ctx, s: &Stmt, cfg: &Config) -> Option<VirtualServer> {
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

/// Checker settings that a virtual or real server block can set for its checkers.
#[derive(Debug, Clone, Default)]
struct CheckDefaults {
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    connect_timeout: Option<Duration>,
    delay_loop: Option<Duration>,
    warmup: Option<Duration>,
    alpha: Option<bool>,
}

impl CheckDefaults {
    fn set(&mut self, cx: &mut Ctx, k: &Stmt) {
        match k.keyword.as_str() {
            "retry" | "nb_get_retry" => self.retry = cx.u32(k).or(self.retry),
            "delay_before_retry" => self.delay_before_retry = cx.secs(k).or(self.delay_before_retry),
            "connect_timeout" => self.connect_timeout = cx.secs(k).or(self.connect_timeout),
            "delay_loop" => self.delay_loop = cx.secs(k).or(self.delay_loop),
            "warmup" => self.warmup = cx.secs(k).or(self.warmup),
            "alpha" => self.alpha = Some(cx.flag(k)),
            _ => unreachable!("not a checker default: {}", k.keyword),
        }
    }
}

fn real_server(
    cx: &mut Ctx,
    s: &Stmt,
    vs: &VirtualServer,
    vs_defaults: &CheckDefaults,
    cfg: &Config,
) -> Option<RealServer> {
    let (ip, port) = match s.args.as_slice() {
        [ip] => (ip, None),
        [ip, port] => (ip, Some(port)),
        _ => {
            cx.error(&s.loc, "real_server needs an IP address and a port");
            return None;
        }
    };
    let ip = cx.ip(&s.loc, "real_server", ip);
    let port = match port {
        Some(p) => cx.port(&s.loc, "real_server", p),
        None => Some(vs.key.addr.port()),
    };
    let addr = SocketAddr::new(ip?, port?);
    let mut rs = RealServer {
        loc: s.loc.clone(),
        addr,
        weight: 1,
        inhibit_on_failure: vs.inhibit_on_failure,
        notify_up: None,
        notify_down: None,
        uthreshold: None,
        lthreshold: None,
        checkers: Vec::new(),
    };
    let mut defaults = vs_defaults.clone();
    let mut rs_vhost = None;
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "weight" => {
                if let Some(w) = cx.u32(k) {
                    if w > 65535 {
                        cx.error(&k.loc, format!("weight {w} is above 65535"));
                    }
                    rs.weight = w;
                }
            }
            "inhibit_on_failure" => rs.inhibit_on_failure = cx.flag(k),
            "notify_up" => rs.notify_up = cx.script(k),
            "notify_down" => rs.notify_down = cx.script(k),
            "uthreshold" => {
                rs.uthreshold = cx.u32(k);
                cx.unsupported(k, " (no connection limits)");
            }
            "lthreshold" => {
                rs.lthreshold = cx.u32(k);
                cx.unsupported(k, " (no connection limits)");
            }
            "retry" | "delay_before_retry" | "connect_timeout" | "delay_loop" | "warmup" | "alpha" => {
                defaults.set(cx, k)
            }
            "virtualhost" => rs_vhost = cx.arg(k, 0).map(str::to_string),
            "lvs_method" => {
                if let Some(a) = cx.arg(k, 0) {
                    if !matches!(a.to_ascii_uppercase().as_str(), "FNAT" | "FULLNAT") {
                        cx.error(
                            &k.loc,
                            format!("lvs_method {a} is not supported by the dataplane yet (use FNAT)"),
                        );
                    }
                }
            }
            "smtp_alert" => {}
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" | "DNS_CHECK"
            | "SMTP_CHECK" | "BFD_CHECK" | "FILE_CHECK" | "PING_CHECK" => {}
            _ => cx.unknown(k, "real_server", RS_KEYS),
        }
    }
    let vhost = rs_vhost.or_else(|| vs.virtualhost.clone());
    for k in s.block.iter().flatten() {
        if let Some(c) = checker(cx, k, vs, &rs, &defaults, vhost.as_deref(), cfg) {
            rs.checkers.push(c);
        }
    }
    Some(rs)
}

fn checker(
    cx: &mut Ctx,
    k: &Stmt,
    vs: &VirtualServer,
    rs: &RealServer,
    defaults: &CheckDefaults,
    vhost: Option<&str>,
    cfg: &Config,
) -> Option<CheckerConf> {
    let kind = k.keyword.as_str();
    let (is_misc, base_retry) = match kind {
        "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "UDP_CHECK" => (false, 1),
        "MISC_CHECK" | "FILE_CHECK" => (kind == "MISC_CHECK", 0),
        // keepalived: DNS_CHECK retries 3 times, delay_before_retry defaults to delay_loop.
        "DNS_CHECK" => (false, 3),
        "SMTP_CHECK" => {
            cx.warn(
                &k.loc,
                format!("{kind} is not supported yet: checking a TCP connect to the server instead"),
            );
            (false, 1)
        }
        "BFD_CHECK" | "PING_CHECK" => {
            cx.warn(&k.loc, format!("{kind} is not supported yet, ignored"));
            return None;
        }
        _ => return None,
    };
    let mut d = defaults.clone();
    let mut connect_ip = None;
    let mut connect_port = None;
    let mut bindto = None;
    let mut urls = Vec::new();
    let mut check_vhost = vhost.map(str::to_string);
    let mut misc_argv = None;
    let mut misc_timeout = None;
    let mut misc_dynamic = false;
    let mut payload = Vec::new();
    let mut require_reply = false;
    let mut dns_type = crate::check::dns::DEFAULT_TYPE;
    let mut dns_name = crate::check::dns::DEFAULT_NAME.to_string();
    let mut tracked: Option<TrackFile> = None;
    let mut file_weight: Option<(i32, bool)> = None;
    for o in k.block.iter().flatten() {
        match o.keyword.as_str() {
            "connect_ip" => connect_ip = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "connect_ip", a)),
            "connect_port" => connect_port = cx.arg(o, 0).and_then(|a| cx.port(&o.loc, "connect_port", a)),
            "bindto" => bindto = cx.arg(o, 0).and_then(|a| cx.ip(&o.loc, "bindto", a)),
            "retry" | "nb_get_retry" | "delay_before_retry" | "connect_timeout" | "delay_loop" | "warmup"
            | "alpha" => d.set(cx, o),
            "url" if kind == "HTTP_GET" || kind == "SSL_GET" => {
                if let Some(u) = url(cx, o) {
                    urls.push(u);
                }
            }
            "virtualhost" => check_vhost = cx.arg(o, 0).map(str::to_string),
            "misc_path" if is_misc => misc_argv = cx.script(o).map(|s| s.argv),
            "misc_timeout" if is_misc => misc_timeout = cx.secs(o),
            "misc_dynamic" if is_misc => misc_dynamic = cx.flag(o),
            "payload" if kind == "UDP_CHECK" => {
                payload = cx.arg(o, 0).map(|p| p.as_bytes().to_vec()).unwrap_or_default()
            }
            "require_reply" if kind == "UDP_CHECK" => {
                require_reply = true;
                if let Some(r) = o.args.first() {
                    payload_reply_warn(cx, o, r);
                }
            }
            "type" if kind == "DNS_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match crate::check::dns::qtype(a) {
                        Some(t) => dns_type = t,
                        None => cx.warn(
                            &o.loc,
                            format!(
                                "unknown DNS_CHECK type {a:?}, using SOA (known: A NS CNAME SOA MX TXT AAAA)"
                            ),
                        ),
                    }
                }
            }
            "name" if kind == "DNS_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match crate::check::dns::encode_name(a) {
                        Ok(_) => dns_name = a.to_string(),
                        Err(e) => cx.error(&o.loc, format!("DNS_CHECK name {e}")),
                    }
                }
            }
            "track_file" if kind == "FILE_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    match cfg.track_files.get(a) {
                        Some(t) => tracked = Some(t.clone()),
                        None => cx.error(&o.loc, format!("track_file {a} not found")),
                    }
                }
            }
            // rvs-ctrl's shorthand: the file without a track_file block (weight 0 unless set).
            "file" if kind == "FILE_CHECK" => {
                if let Some(a) = cx.arg(o, 0) {
                    tracked =
                        Some(TrackFile { loc: o.loc.clone(), path: a.into(), weight: 0, reverse: false });
                }
            }
            "weight" if kind == "FILE_CHECK" => file_weight = track_weight(cx, o),
            "bind_port" | "bind_if" | "fwmark" | "log_all_failures" | "http_protocol" | "enable_sni"
            | "fast_recovery" | "user" | "min_reply_length" | "max_reply_length" => cx.warn(
                &o.loc,
                format!("'{}' is not supported by rvs-ctrl's checkers yet, ignored", o.keyword),
            ),
            _ => cx.unknown(o, kind, CHECKER_KEYS),
        }
    }
    let mut delay_loop = d.delay_loop.unwrap_or(vs.delay_loop);
    let mut delay_before_retry = d.delay_before_retry.unwrap_or(DEFAULT_DELAY_BEFORE_RETRY);
    let mut alpha = d.alpha.unwrap_or(vs.alpha);
    let mut retry = d.retry.unwrap_or(base_retry);
    let kind = match kind {
        "TCP_CHECK" | "SMTP_CHECK" => CheckKind::Tcp,
        "DNS_CHECK" => {
            delay_before_retry = d.delay_before_retry.unwrap_or(delay_loop);
            CheckKind::Dns { qtype: dns_type, name: dns_name }
        }
        "FILE_CHECK" => {
            let Some(t) = tracked else {
                cx.error(&k.loc, "FILE_CHECK needs track_file NAME (or file PATH)");
                return None;
            };
            // keepalived: the checker's own non-zero weight wins over the track_file's.
            let (weight, reverse) = match file_weight {
                Some((w, r)) if w != 0 => (w, r),
                _ => (t.weight, t.reverse),
            };
            // The file's state is known at once: no retries, no alpha (as keepalived).
            delay_loop = delay_loop.min(FILE_CHECK_MAX_INTERVAL);
            retry = 0;
            alpha = false;
            CheckKind::File { path: t.path, weight, reverse }
        }
        "HTTP_GET" | "SSL_GET" => {
            if urls.is_empty() {
                cx.error(&k.loc, format!("{kind} needs at least one url {{ path ... }}"));
                return None;
            }
            CheckKind::Http { urls, virtualhost: check_vhost, tls: kind == "SSL_GET" }
        }
        "MISC_CHECK" => {
            let Some(argv) = misc_argv else {
                cx.error(&k.loc, "MISC_CHECK needs misc_path");
                return None;
            };
            CheckKind::Misc { argv, timeout: misc_timeout, dynamic: misc_dynamic }
        }
        "UDP_CHECK" => CheckKind::Udp { payload, require_reply },
        _ => unreachable!(),
    };
    let target = SocketAddr::new(connect_ip.unwrap_or(rs.addr.ip()), connect_port.unwrap_or(rs.addr.port()));
    Some(CheckerConf {
        loc: k.loc.clone(),
        kind,
        target,
        bindto,
        connect_timeout: d.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        retry,
        delay_before_retry,
        delay_loop,
        warmup: d.warmup,
        alpha,
    })
}

fn payload_reply_warn(cx: &mut Ctx, o: &Stmt, r: &str) {
    cx.warn(
        &o.loc,
        format!("require_reply {r:?}: the reply's content is not compared yet, any reply passes"),
    );
}

fn url(cx: &mut Ctx, s: &Stmt) -> Option<HttpUrl> {
    let mut u = HttpUrl {
        path: String::new(),
        status: StatusCodes::default_2xx(),
        digest: None,
        regex: None,
        regex_no_match: false,
        virtualhost: None,
    };
    let mut have_path = false;
    let mut status: Vec<(u16, u16)> = Vec::new();
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "path" => {
                if let Some(p) = cx.arg(k, 0) {
                    u.path = p.to_string();
                    have_path = true;
                }
            }
            "status_code" => {
                for a in &k.args {
                    let parsed = match a.split_once('-') {
                        Some((lo, hi)) => lo.parse().ok().zip(hi.parse().ok()),
                        None => a.parse().ok().map(|c| (c, c)),
                    };
                    match parsed {
                        Some((lo, hi)) if (100..=599).contains(&lo) && lo <= hi && hi <= 599 => {
                            status.push((lo, hi))
                        }
                        _ => cx.error(&k.loc, format!("status_code: bad HTTP status {a:?}")),
                    }
                }
                if k.args.is_empty() {
                    cx.error(&k.loc, "'status_code' needs a value");
                }
            }
            "digest" => {
                if let Some(d) = cx.arg(k, 0) {
                    if d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
                        u.digest = Some(d.to_ascii_lowercase());
                    } else {
                        cx.error(&k.loc, format!("digest {d:?} is not an MD5 in hex (32 digits)"));
                    }
                }
            }
            "regex" => {
                if let Some(r) = cx.arg(k, 0) {
                    match regex::bytes::Regex::new(r) {
                        Ok(_) => u.regex = Some(r.to_string()),
                        Err(e) => cx.error(&k.loc, format!("bad regex: {e}")),
                    }
                }
            }
            "regex_no_match" => u.regex_no_match = cx.flag(k),
            "regex_options" | "regex_stack" => {
                cx.warn(&k.loc, format!("'{}' is not supported yet, ignored", k.keyword))
            }
            "virtualhost" => u.virtualhost = cx.arg(k, 0).map(str::to_string),
            _ => cx.unknown(k, "url", URL_KEYS),
        }
    }
    if !have_path {
        cx.error(&s.loc, "url needs a path");
        return None;
    }
    if !status.is_empty() {
        u.status = StatusCodes(status);
    }
    Some(u)
}

#[cfg(test)]
mod tests;
