//! rvsd's TOML configuration: parsed, validated and turned into typed values before
//! anything starts, so that a bad file never half-starts the daemon. Every error names
//! `file:line`.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::route::Prefix;

mod cluster;
mod exception;
mod ha;
mod limits;
mod neigh;
mod port;
mod route;
mod service;
mod v6;
mod vlan;
pub use cluster::{ClusterConfig, Placement};
pub use exception::{ExceptionParams, KernelIf, KernelIfKind};
pub use ha::{HaParams, SyncConfig};
pub use neigh::{interface_named, interface_names, runtime_neighbour, NeighbourConfig};
use rvs_proto::{RealSpec, ServiceSpec, Timeouts};
pub use v6::{parse_cidr6, pipeline_config as v6_pipeline_config, Route6Config};
pub use vlan::{kernel_name as vlan_kernel_name, Interface, VlanConfig};

/// A config error with its position in the file (`line` 0: the file as a whole, which
/// could not be read: then no line is printed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub path: PathBuf,
    pub dataplane: Dataplane,
    pub ports: Vec<PortConfig>,
    pub routes: Vec<RouteConfig>,
    /// The `[[route]]`s whose prefix is IPv6.
    pub routes6: Vec<Route6Config>,
    /// `[[neighbour]]`: static neighbours, IPv4 and IPv6.
    pub neighbours: Vec<NeighbourConfig>,
    pub timeouts: Timeouts,
    pub services: Vec<ServiceConfig>,
    pub synproxy: crate::pipeline::SynProxyParams,
    /// The exception path's ring size and rate limit (`[exception]`).
    pub exception: ExceptionParams,
    /// `[ha]`: which VIPs/LIPs are owned at start.
    pub ha: HaParams,
    /// `[sync]`: session sync with the other directors (None: no section); also set by
    /// `[cluster]`, which carries the same keys.
    pub sync: Option<SyncConfig>,
    /// `[cluster]`: a member of an ECMP cluster of active directors.
    pub cluster: Option<ClusterConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataplane {
    pub eal_args: Vec<String>,
    pub workers: Vec<usize>,
    pub main_cpu: usize,
    pub idle_spin: u32,
    pub idle_sleep_us: u32,
    pub control_socket: PathBuf,
    /// A group (name or number) whose members may use the control socket too (mode
    /// 0660); without one the socket is 0600 and only root and rvsd's own user get in.
    pub control_group: Option<String>,
    pub max_sessions: usize,
    pub local_port_range: (u16, u16),
    pub mbufs_per_worker: u32,
    pub rx_desc: u16,
    pub tx_desc: u16,
    pub max_services: usize,
    pub max_reals: usize,
    /// IPVS's `expire_nodest_conn`: a session whose real server was removed ends at its
    /// next packet (TCP: a RST to both ends) instead of being black-holed.
    pub expire_nodest_conn: bool,
}

/// A port's MTU unless its `mtu` key says otherwise (Ethernet).
pub const DEFAULT_MTU: u16 = 1500;

#[derive(Debug, Clone, PartialEq)]
pub struct PortConfig {
    pub name: String,
    /// DPDK device: a vdev name (`net_af_packet0`) or a PCI address (`0000:03:00.0`).
    pub device: String,
    pub devargs: Option<String>,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// Its IPv6 addresses (the IPv6 entries of `addresses`).
    pub addresses6: Vec<(std::net::Ipv6Addr, u8)>,
    /// Line of the `device` key, for errors found when DPDK probes it.
    pub line: usize,
    /// The port's kernel interface (exception path), `kernel_if`/`kernel_name`.
    pub kernel: KernelIf,
    /// Largest IP packet the port sends (`mtu`, default 1500): segments the session grows
    /// (PROXY header, TOA) are split to fit it, and MSS offers leave room for them.
    pub mtu: u16,
    /// Its 802.1Q VLANs (`[[port.vlan]]`).
    pub vlans: Vec<VlanConfig>,
}

impl PortConfig {
    pub fn is_pci(&self) -> bool {
        is_pci_address(&self.device)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    pub prefix: Prefix,
    pub via: Option<Ipv4Addr>,
    /// Index into `Config::ports`; None means "the interface whose connected subnet holds `via`".
    pub port: Option<usize>,
    /// The port's VLAN the route leaves by (with `port`); None: untagged.
    pub vlan: Option<u16>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub spec: ServiceSpec,
    pub reals: Vec<(RealSpec, usize)>,
    pub line: usize,
}

fn is_pci_address(s: &str) -> bool {
    // [dddd:]bb:dd.f
    let hex = |p: &str| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_hexdigit());
    let rest = match s.matches(':').count() {
        2 => match s.split_once(':') {
            Some((domain, rest)) if hex(domain) => rest,
            _ => return false,
        },
        1 => s,
        _ => return false,
    };
    match rest.split_once(':') {
        Some((bus, devfn)) => hex(bus) && devfn.split_once('.').is_some_and(|(d, f)| hex(d) && hex(f)),
        None => false,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    dataplane: RawDataplane,
    #[serde(default)]
    port: Vec<RawPort>,
    #[serde(default)]
    route: Vec<route::RawRoute>,
    #[serde(default, alias = "neighbor")]
    neighbour: Vec<neigh::RawNeighbour>,
    #[serde(default)]
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    service: Vec<service::RawService>,
    synproxy: Option<RawSynProxy>,
    exception: Option<exception::RawException>,
    ha: Option<ha::RawHa>,
    sync: Option<ha::RawSync>,
    cluster: Option<cluster::RawCluster>,
}

/// `[synproxy]`: what SYN-proxied handshakes offer and how far they go.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSynProxy {
    mss: Option<Spanned<u16>>,
    ttl: Option<u8>,
    /// 0 turns window scaling off.
    wscale: Option<Spanned<u8>>,
    sack: Option<bool>,
    timestamps: Option<bool>,
    ecn: Option<bool>,
    /// Client segments kept while the server handshake runs (DPVS's "saved ACKs").
    held_segments: Option<Spanned<usize>>,
    syn_retries: Option<u8>,
    rst_per_sec: Option<u32>,
    dup_ack_threshold: Option<u16>,
    /// SYN-proxy every TCP service while a worker's session table is 7/8 full.
    auto: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    #[serde(default)]
    eal_args: Vec<String>,
    workers: Spanned<Vec<usize>>,
    main_cpu: Option<Spanned<usize>>,
    #[serde(default = "default_idle_spin")]
    idle_spin: u32,
    #[serde(default = "default_idle_sleep_us")]
    idle_sleep_us: u32,
    control_socket: Option<PathBuf>,
    control_group: Option<String>,
    #[serde(default = "default_max_sessions")]
    max_sessions: Spanned<usize>,
    local_port_range: Option<Spanned<(u16, u16)>>,
    #[serde(default = "default_mbufs")]
    mbufs_per_worker: u32,
    #[serde(default = "default_desc")]
    rx_desc: u16,
    #[serde(default = "default_desc")]
    tx_desc: u16,
    #[serde(default = "default_max_services")]
    max_services: Spanned<usize>,
    #[serde(default = "default_max_reals")]
    max_reals: Spanned<usize>,
    #[serde(default)]
    expire_nodest_conn: bool,
}

fn default_idle_spin() -> u32 {
    256
}
fn default_idle_sleep_us() -> u32 {
    200
}
fn default_max_sessions() -> Spanned<usize> {
    Spanned::new(0..0, 1 << 20)
}
fn default_mbufs() -> u32 {
    8191
}
fn default_desc() -> u16 {
    1024
}
fn default_max_services() -> Spanned<usize> {
    Spanned::new(0..0, 1024)
}
fn default_max_reals() -> Spanned<usize> {
    Spanned::new(0..0, 8192)
}

/// Most sessions per worker (`max_sessions`).
pub const MAX_SESSIONS_MAX: usize = u32::MAX as usize / 2;
/// Most real servers (`max_reals`): every worker keeps a counter block per real server
/// from the start.
pub const MAX_REALS_MAX: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    devargs: Option<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    kernel_if: Option<Spanned<String>>,
    kernel_name: Option<Spanned<String>>,
    mtu: Option<Spanned<u16>>,
    #[serde(default)]
    vlan: Vec<vlan::RawVlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    tcp: Option<Spanned<u32>>,
    tcp_fin: Option<Spanned<u32>>,
    udp: Option<Spanned<u32>>,
}

pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts { tcp: 900, tcp_fin: 120, udp: 300 };

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }
    fn err<T>(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            message: message.into(),
        })
    }
    fn err_at<T>(&self, line: usize, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError { path: self.path.to_path_buf(), line, message: message.into() })
    }
    /// The VLAN a route names, which must be one of its port's (IPv4 and IPv6 routes alike).
    fn route_vlan(
        &self,
        ports: &[PortConfig],
        vlan: Option<&Spanned<u16>>,
        port: Option<usize>,
    ) -> Result<Option<u16>, ConfigError> {
        match (vlan, port) {
            (None, _) => Ok(None),
            (Some(v), None) => self.err(v.span(), "`vlan` needs `port` (the port the VLAN is on)"),
            (Some(v), Some(p)) if !ports[p].vlans.iter().any(|x| x.id == *v.get_ref()) => {
                self.err(v.span(), format!("port `{}` has no VLAN {}", ports[p].name, v.get_ref()))
            }
            (Some(v), Some(_)) => Ok(Some(*v.get_ref())),
        }
    }

    /// The index of the port a route names (IPv4 and IPv6 routes alike).
    fn port_named(&self, ports: &[PortConfig], name: &Spanned<String>) -> Result<usize, ConfigError> {
        match ports.iter().position(|p| p.name == *name.get_ref()) {
            Some(i) => Ok(i),
            None => self.err(name.span(), format!("no port named `{}`", name.get_ref())),
        }
    }
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { path, text };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = match e.message().trim() {
                "missing field `dataplane`" => {
                    "no [dataplane] table: rvsd needs one (with `workers`) and a [[port]]"
                }
                m => m,
            };
            // serde names the type it wanted, not the key: name the key too.
            return match key_before(text, span.start) {
                Some(key) if message.starts_with("invalid ") => cx.err(span, format!("`{key}`: {message}")),
                _ => cx.err(span, message.to_string()),
            };
        }
    };

    let d = raw.dataplane;
    if d.workers.get_ref().is_empty() {
        return cx.err(d.workers.span(), "`workers` must list at least one CPU");
    }
    let mut seen = d.workers.get_ref().clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != d.workers.get_ref().len() {
        return cx.err(d.workers.span(), "`workers` lists a CPU twice: one worker per core");
    }
    let max_cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if let Some(cpu) = d.workers.get_ref().iter().find(|&&c| c >= max_cpus.max(128)) {
        return cx.err(d.workers.span(), format!("worker CPU {cpu} does not exist"));
    }
    if let Some(m) = d.main_cpu.as_ref().filter(|m| *m.get_ref() >= max_cpus.max(128)) {
        return cx.err(m.span(), format!("main_cpu {} does not exist", m.get_ref()));
    }
    if !(1..=MAX_SESSIONS_MAX).contains(d.max_sessions.get_ref()) {
        return cx.err(
            d.max_sessions.span(),
            format!("`max_sessions` (per worker) must be between 1 and {MAX_SESSIONS_MAX}"),
        );
    }
    let local_port_range = match &d.local_port_range {
        None => (1025, 65535),
        Some(r) => {
            let (lo, hi) = *r.get_ref();
            if lo == 0 || lo > hi {
                return cx.err(r.span(), "`local_port_range` must be [low, high] with 0 < low <= high");
            }
            if usize::from(hi - lo) + 1 < d.workers.get_ref().len() {
                return cx.err(
                    r.span(),
                    format!(
                        "`local_port_range` {lo}-{hi} has fewer ports than the {} workers",
                        d.workers.get_ref().len()
                    ),
                );
            }
            (lo, hi)
        }
    };
    if !(1..=usize::from(u16::MAX)).contains(d.max_services.get_ref()) {
        // A session names its service's stat slot in 16 bits (one cache line per session).
        return cx.err(d.max_services.span(), "`max_services` must be between 1 and 65535");
    }
    if !(1..=MAX_REALS_MAX).contains(d.max_reals.get_ref()) {
        return cx.err(d.max_reals.span(), format!("`max_reals` must be between 1 and {MAX_REALS_MAX}"));
    }
    let dataplane = Dataplane {
        main_cpu: d.main_cpu.map_or(d.workers.get_ref()[0], |m| m.into_inner()),
        workers: d.workers.into_inner(),
        eal_args: d.eal_args,
        idle_spin: d.idle_spin,
        idle_sleep_us: d.idle_sleep_us,
        control_socket: d.control_socket.unwrap_or_else(|| PathBuf::from(rvs_proto::DEFAULT_SOCKET)),
        control_group: d.control_group,
        max_sessions: d.max_sessions.into_inner(),
        local_port_range,
        mbufs_per_worker: d.mbufs_per_worker,
        rx_desc: d.rx_desc,
        tx_desc: d.tx_desc,
        max_services: d.max_services.into_inner(),
        max_reals: d.max_reals.into_inner(),
        expire_nodest_conn: d.expire_nodest_conn,
    };

    let mut ports: Vec<PortConfig> = Vec::new();
    for p in raw.port {
        if ports.iter().any(|q| q.name == *p.name.get_ref()) {
            return cx.err(p.name.span(), format!("port `{}` is defined twice", p.name.get_ref()));
        }
        if p.name.get_ref().trim().is_empty() {
            return cx.err(p.name.span(), "empty port `name`: routes, counters and rvsadm name ports by it");
        }
        if p.device.get_ref().is_empty() {
            return cx.err(p.device.span(), "empty `device`");
        }
        port::check_device(&cx, &p.device, &ports)?;
        let mut addresses = Vec::new();
        let mut addresses6 = Vec::new();
        for a in &p.addresses {
            if v6::is_v6(a.get_ref()) {
                let taken: Vec<&PortConfig> = ports.iter().collect();
                let (ip, len) = v6::parse_port_addr(&cx, a, &taken)?;
                if addresses6.iter().any(|&(o, _)| o == ip) {
                    return cx.err(a.span(), format!("address {ip} is listed twice"));
                }
                addresses6.push((ip, len));
                continue;
            }
            let (ip, len) = parse_cidr(a.get_ref()).ok_or(()).or_else(|_| {
                cx.err(a.span(), format!("bad address `{}`: expected A.B.C.D/LEN", a.get_ref()))
            })?;
            port::check_address(&cx, a, (ip, len), &addresses, &ports)?;
            addresses.push((ip, len));
        }
        let kernel = exception::parse_kernel_if(
            &cx,
            p.name.get_ref(),
            p.name.span(),
            p.kernel_if.as_ref(),
            p.kernel_name.as_ref(),
        )?;
        if kernel.kind != KernelIfKind::None {
            if let Some(q) =
                ports.iter().find(|q| q.kernel.kind != KernelIfKind::None && q.kernel.name == kernel.name)
            {
                let span = p.kernel_name.as_ref().map_or(p.name.span(), |n| n.span());
                return cx
                    .err(span, format!("kernel_name `{}` is used by port `{}` too", kernel.name, q.name));
            }
        }
        let mtu = match &p.mtu {
            None => DEFAULT_MTU,
            Some(m) if (576..=9000).contains(m.get_ref()) => *m.get_ref(),
            Some(m) => {
                return cx
                    .err(m.span(), format!("port mtu must be between 576 and 9000, not {}", m.get_ref()))
            }
        };
        let mut port = PortConfig {
            kernel,
            mtu,
            name: p.name.into_inner(),
            line: cx.line_of(p.device.span().start),
            device: p.device.into_inner(),
            devargs: p.devargs,
            addresses,
            addresses6,
            vlans: Vec::new(),
        };
        let taken: Vec<(Ipv4Addr, u8)> = ports
            .iter()
            .flat_map(|q| q.addresses.iter().chain(q.vlans.iter().flat_map(|v| v.addresses.iter())))
            .copied()
            .collect();
        port.vlans = vlan::parse_vlans(&cx, &port, p.vlan, &taken, &ports)?;
        ports.push(port);
    }
    if ports.is_empty() {
        return cx.err(0..0, "no [[port]] defined");
    }

    let (routes, routes6) = route::parse_routes(&cx, raw.route, &ports)?;
    let neighbours = neigh::parse_neighbours(&cx, raw.neighbour, &ports)?;

    let mut timeouts = DEFAULT_TIMEOUTS;
    if let Some(t) = raw.timeouts {
        for (key, v, into) in [
            ("tcp", t.tcp, &mut timeouts.tcp),
            ("tcp_fin", t.tcp_fin, &mut timeouts.tcp_fin),
            ("udp", t.udp, &mut timeouts.udp),
        ] {
            let Some(v) = v else { continue };
            if *v.get_ref() == 0 {
                // ipvsadm --set's 0 means "unchanged"; here it would end every session at
                // once. Leaving the key out keeps the default.
                return cx.err(
                    v.span(),
                    format!(
                        "[timeouts] {key} must be at least 1 second (leave it out for the default, {})",
                        into
                    ),
                );
            }
            *into = v.into_inner();
        }
    }

    let services = service::parse_services(&cx, raw.service)?;

    let mut synproxy = crate::pipeline::SynProxyParams::default();
    if let Some(sp) = raw.synproxy {
        let h = &mut synproxy.handshake;
        if let Some(m) = sp.mss {
            if !(536..=9000).contains(m.get_ref()) {
                return cx.err(m.span(), "synproxy mss must be between 536 and 9000");
            }
            h.mss = *m.get_ref();
        }
        if let Some(w) = sp.wscale {
            if *w.get_ref() > 14 {
                return cx.err(w.span(), "synproxy wscale must be at most 14 (0 turns it off)");
            }
            h.wscale = (*w.get_ref() > 0).then_some(*w.get_ref());
        }
        h.ttl = sp.ttl.unwrap_or(h.ttl);
        h.sack = sp.sack.unwrap_or(h.sack);
        h.timestamps = sp.timestamps.unwrap_or(h.timestamps);
        h.ecn = sp.ecn.unwrap_or(h.ecn);
        if let Some(n) = sp.held_segments {
            if *n.get_ref() == 0 || *n.get_ref() > 64 {
                return cx.err(n.span(), "synproxy held_segments must be between 1 and 64");
            }
            synproxy.max_held = *n.get_ref();
        }
        synproxy.syn_retries = sp.syn_retries.unwrap_or(synproxy.syn_retries);
        synproxy.rst_per_sec = sp.rst_per_sec.unwrap_or(synproxy.rst_per_sec);
        synproxy.dup_ack_threshold = sp.dup_ack_threshold.unwrap_or(synproxy.dup_ack_threshold);
        synproxy.auto = sp.auto.unwrap_or(synproxy.auto);
    }

    let exception = exception::parse_exception(&cx, raw.exception)?;
    let ha = ha::parse_ha(&cx, raw.ha)?;
    let sync_span = raw.sync.as_ref().map(|s| s.key_file.span());
    let mut sync = ha::parse_sync(&cx, raw.sync)?;
    let cluster = match cluster::parse_cluster(
        &cx,
        raw.cluster,
        sync_span,
        dataplane.local_port_range,
        dataplane.workers.len(),
    )? {
        Some((c, s)) => {
            sync = Some(s);
            Some(c)
        }
        None => None,
    };
    let config = Config {
        path: path.to_path_buf(),
        dataplane,
        ports,
        routes,
        routes6,
        neighbours,
        timeouts,
        services,
        synproxy,
        exception,
        ha,
        sync,
        cluster,
    };
    service::check_local_addresses(&cx, &config)?;
    Ok(config)
}

/// The key whose value starts at `offset`: the last `KEY =` on its line before it (a
/// value in an array or an inline table too), not counting an `=` inside a string (a
/// value's, or an unterminated string's: `name = "a=b` names `name`).
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (mut eq, mut quote, mut escaped) = (None, None, false);
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '=' => eq = Some(i),
            None => {}
        }
    }
    let lhs = line[..eq?].trim_end();
    // After the last character that cannot be in a key, whatever its width in bytes.
    let start = lhs
        .char_indices()
        .rfind(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    Some(&lhs[start..]).filter(|k| !k.is_empty())
}

/// A dotted netmask (255.255.255.0) or a prefix length (24, /24) as a prefix length.
pub fn netmask_prefix(s: &str) -> Option<u8> {
    let s = s.trim().trim_start_matches('/');
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let m = u32::from(s.parse::<Ipv4Addr>().ok()?);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
}

pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    (len <= 32).then_some((ip, len))
}

#[cfg(test)]
mod tests;
