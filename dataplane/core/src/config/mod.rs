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
mod port;
mod route;
mod service;
mod v6;
mod vlan;
pub use cluster::{ClusterConfig, Placement};
pub use exception::{ExceptionParams, KernelIf, KernelIfKind};
pub use ha::{HaParams, SyncConfig};
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
/// value in an array or an inline table too).
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (lhs, _) = line.rsplit_once('=')?;
    let lhs = lhs.trim_end();
    let start = lhs
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1);
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
mod tests {
    use super::*;

    const GOOD: &str = r#"
[dataplane]
eal_args = ["--no-huge"]
workers = [1]

[[port]]
name = "client"
device = "net_af_packet0"
devargs = "iface=lb-c"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "0000:03:00.0"
addresses = ["198.19.0.1/24"]

[[route]]
prefix = "198.18.8.0/24"
via = "198.18.0.254"

[timeouts]
tcp = 60

[[service]]
protocol = "tcp"
address = "198.18.0.100:80"
scheduler = "wrr"
local_addresses = ["198.19.0.200"]
real = [ { address = "198.19.0.11:80", weight = 2 }, { address = "198.19.0.12" } ]
"#;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("rvsd.toml"), text)
    }

    #[test]
    fn parses_a_full_config() {
        let c = p(GOOD).unwrap();
        assert_eq!(c.dataplane.workers, vec![1]);
        assert_eq!(c.dataplane.main_cpu, 1);
        assert_eq!(c.ports.len(), 2);
        assert!(!c.ports[0].is_pci());
        assert!(c.ports[1].is_pci());
        assert_eq!(c.ports[0].line, 8);
        assert_eq!(c.routes[0].via, Some(Ipv4Addr::new(198, 18, 0, 254)));
        assert_eq!(c.timeouts, Timeouts { tcp: 60, tcp_fin: 120, udp: 300 });
        let s = &c.services[0];
        assert_eq!(s.spec.scheduler, "wrr");
        assert_eq!(s.reals[0].0.weight, 2);
        assert_eq!(s.reals[1].0.addr, "198.19.0.12:80".parse().unwrap(), "rport defaults to the vport");
        assert_eq!(s.reals[1].0.weight, 1);
    }

    #[test]
    fn real_servers_take_a_method() {
        let text = GOOD.replace("weight = 2 }", "weight = 2, method = \"dr\" }");
        let c = p(&text).unwrap();
        assert_eq!(c.services[0].reals[0].0.method, rvs_proto::ForwardMethod::DirectRoute);
        assert_eq!(c.services[0].reals[1].0.method, rvs_proto::ForwardMethod::FullNat, "the default");
        for (m, want) in [("nat", rvs_proto::ForwardMethod::Nat), ("tun", rvs_proto::ForwardMethod::Tunnel)] {
            let c = p(&GOOD.replace("weight = 2 }", &format!("weight = 2, method = \"{m}\" }}"))).unwrap();
            assert_eq!(c.services[0].reals[0].0.method, want);
        }
        let e = p(&GOOD.replace("weight = 2 }", "weight = 2, method = \"bridge\" }")).unwrap_err();
        assert!(e.to_string().contains("unknown method `bridge`"), "{e}");
        assert_eq!(e.line, 29);
    }

    fn err_line(text: &str) -> (usize, String) {
        let e = p(text).unwrap_err();
        (e.line, e.to_string())
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("unknown key", "workers = [1]\n", 0, "unknown field"),
            ("bad address", "\"198.19.0.11:80\"", 0, "bad real server address"),
            ("bad scheduler", "\"wrr\"", 0, "unknown scheduler"),
            ("bad cidr", "\"198.18.0.1/24\"", 0, "bad address"),
        ];
        for (what, needle, _, msg) in cases {
            let replaced = match *what {
                "unknown key" => GOOD.replacen(needle, "workers = [1]\nbogus = 3\n", 1),
                "bad address" => GOOD.replacen(needle, "\"198.19.0.300:80\"", 1),
                "bad scheduler" => GOOD.replacen(needle, "\"nope\"", 1),
                "bad cidr" => GOOD.replacen(needle, "\"198.18.0.1/33\"", 1),
                _ => unreachable!(),
            };
            let bad_line = replaced
                .lines()
                .position(|l| {
                    l.contains("bogus") || l.contains("300") || l.contains("nope") || l.contains("/33")
                })
                .unwrap()
                + 1;
            let (line, text) = err_line(&replaced);
            assert_eq!(line, bad_line, "{what}: {text}");
            assert!(text.contains(msg), "{what}: {text}");
            assert!(text.starts_with(&format!("rvsd.toml:{bad_line}:")), "{text}");
        }
    }

    #[test]
    fn syntax_error_names_the_line() {
        let (line, text) = err_line("[dataplane]\nworkers = = [1]\nmain_cpu = 0\n");
        assert_eq!(line, 2, "{text}");
    }

    #[test]
    fn duplicate_real_and_service_are_refused() {
        let t = GOOD.replace("{ address = \"198.19.0.12\" }", "{ address = \"198.19.0.11:80\" }");
        assert!(p(&t).unwrap_err().message.contains("twice"));
    }

    #[test]
    fn route_gateway_must_be_connected() {
        let t = GOOD.replace("via = \"198.18.0.254\"", "via = \"198.18.9.1\"");
        let (line, text) = err_line(&t);
        assert!(text.contains("connected"), "{text}");
        assert_eq!(line, t.lines().position(|l| l.contains("198.18.9.1")).unwrap() + 1);
    }

    #[test]
    fn persistence_flags_and_thresholds() {
        let t = GOOD.replace(
            "scheduler = \"wrr\"",
            "scheduler = \"sh\"\nsched_flags = [\"sh-port\"]\npersistence_timeout = 60\npersistence_granularity = \"255.255.255.0\"",
        )
        .replace("weight = 2 }", "weight = 2, upper_threshold = 10, lower_threshold = 5 }");
        let c = p(&t).unwrap();
        let s = &c.services[0];
        assert_eq!(s.spec.options.sched_flags, vec!["sh-port".to_string()]);
        assert_eq!(s.spec.options.persistence, Some(rvs_proto::Persistence { timeout: 60, prefix_len: 24 }));
        assert_eq!(s.reals[0].0.thresholds, rvs_proto::Thresholds { upper: 10, lower: 5 });
        let bad = t.replace("255.255.255.0", "255.0.255.0");
        assert!(p(&bad).unwrap_err().message.contains("netmask"));
        let bad = t.replace("\"sh-port\"", "\"sh-nope\"");
        assert!(p(&bad).unwrap_err().message.contains("scheduler flag"));
        assert_eq!(netmask_prefix("/16"), Some(16));
        assert_eq!(netmask_prefix("255.255.255.255"), Some(32));
    }

    #[test]
    fn port_mtu_and_proxy_send_and_mh_table_size() {
        let c = p(GOOD).unwrap();
        assert_eq!(c.ports[0].mtu, DEFAULT_MTU);
        let t = GOOD.replacen("addresses = [\"198.19.0.1/24\"]", "addresses = [\"198.19.0.1/24\"]\nmtu = 9000", 1).replace(
            "scheduler = \"wrr\"",
            "scheduler = \"mh\"\nmh_table_size = 251\nproxy_protocol = \"v2\"\nproxy_protocol_send = \"on-connect\"\nexpire_quiescent_template = true",
        );
        let c = p(&t).unwrap();
        assert_eq!(c.ports[1].mtu, 9000);
        let o = &c.services[0].spec.options;
        assert_eq!(
            (o.mh_table_size, o.proxy_on_connect, o.expire_quiescent_template),
            (Some(251), true, true)
        );
        for (from, to, msg) in [
            ("mtu = 9000", "mtu = 100", "port mtu must be between 576 and 9000"),
            ("mh_table_size = 251", "mh_table_size = 256", "mh table size 256 is not a prime"),
            ("\"on-connect\"", "\"later\"", "proxy_protocol_send must be"),
            ("proxy_protocol = \"v2\"\n", "", "proxy_protocol_send needs proxy_protocol"),
        ] {
            let bad = t.replace(from, to);
            let (line, text) = err_line(&bad);
            assert!(text.contains(msg), "{text}");
            let key = to.split(' ').next().filter(|k| !k.is_empty()).unwrap_or("proxy_protocol_send");
            let want = bad.lines().position(|l| l.contains(key)).unwrap() + 1;
            assert_eq!(line, want, "{text}");
        }
    }

    #[test]
    fn synproxy_section() {
        let t = format!("{GOOD}\n[synproxy]\nmss = 1400\nwscale = 0\nheld_segments = 8\nrst_per_sec = 10\n");
        let c = p(&t).unwrap();
        assert_eq!(c.synproxy.handshake.mss, 1400);
        assert_eq!(c.synproxy.handshake.wscale, None);
        assert_eq!(c.synproxy.max_held, 8);
        assert_eq!(c.synproxy.rst_per_sec, 10);
        assert_eq!(c.synproxy.dup_ack_threshold, 10, "DPVS's default when absent");
        assert!(!c.synproxy.auto, "off unless asked");
        let t = format!("{GOOD}\n[synproxy]\nauto = true\n");
        assert!(p(&t).unwrap().synproxy.auto);
        let bad = format!("{GOOD}\n[synproxy]\nmss = 100\n");
        let (line, text) = err_line(&bad);
        assert!(text.contains("mss"), "{text}");
        assert_eq!(line, bad.lines().count());
    }

    #[test]
    fn zero_timeouts_are_refused() {
        for (key, want) in [("tcp", 22), ("tcp_fin", 23), ("udp", 23)] {
            let t = GOOD
                .replace("tcp = 60", &format!("tcp = 60\n{key} = 0"))
                .replace("tcp = 60\ntcp = 0", "tcp = 0");
            let (line, text) = err_line(&t);
            assert_eq!(line, want, "{key}: {text}");
            assert!(text.contains(&format!("[timeouts] {key} must be at least 1 second")), "{text}");
        }
    }

    /// A value of the wrong type names its key and line, in an inline table or an array too.
    #[test]
    fn wrong_types_name_their_key() {
        for (from, to, want) in [
            ("weight = 2 }", "weight = 1.5 }", "`weight`: invalid type: floating point `1.5`, expected u32"),
            (
                "workers = [1]",
                "workers = [1, \"2\"]",
                "`workers`: invalid type: string \"2\", expected usize",
            ),
            ("tcp = 60", "tcp = \"60\"", "`tcp`: invalid type: string \"60\", expected u32"),
            (
                "workers = [1]",
                "workers = [1]\nlocal_port_range = [1024, 70000]",
                "`local_port_range`: invalid value",
            ),
        ] {
            let t = GOOD.replacen(from, to, 1);
            let (line, text) = err_line(&t);
            assert!(text.contains(want), "{to}: {text}");
            let key = want[1..].split('`').next().unwrap();
            assert!(t.lines().nth(line - 1).unwrap().contains(key), "{to}: line {line}");
        }
    }

    /// An empty file, one of comments only, and CRLF line endings.
    #[test]
    fn empty_files_and_crlf() {
        for text in ["", "# rvsd.toml\n# nothing yet\n", "\r\n"] {
            let (line, msg) = err_line(text);
            assert_eq!(line, 1, "{text:?}: {msg}");
            assert!(msg.contains("no [dataplane] table"), "{text:?}: {msg}");
        }
        let crlf = GOOD.replace('\n', "\r\n");
        assert_eq!(p(&crlf).unwrap(), p(GOOD).unwrap());
        let (line, msg) = err_line(&crlf.replace("tcp = 60", "tcp = 0"));
        assert_eq!(line, 22, "{msg}");
        let e = p(&GOOD.replace("workers = [1]", "workers = [1]\nmain_cpu = 4096")).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (5, "main_cpu 4096 does not exist"));
    }

    #[test]
    fn an_unreadable_file_is_named_without_a_line() {
        let e = load(Path::new("/nonexistent/rvsd.toml")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().starts_with("/nonexistent/rvsd.toml: cannot read: "), "{e}");
    }

    #[test]
    fn empty_workers_refused() {
        let t = GOOD.replace("workers = [1]", "workers = []");
        assert!(p(&t).unwrap_err().message.contains("at least one"));
    }

    /// Table sizes out of range are named at their own line, not at line 1.
    #[test]
    fn dataplane_sizes_name_their_line() {
        for (key, want) in [
            ("max_services = 0", "`max_services` must be between 1 and 65535"),
            ("max_services = 70000", "`max_services` must be between 1 and 65535"),
            ("max_reals = 0", "`max_reals` must be between 1 and 1048576"),
            ("max_reals = 100000000000", "`max_reals` must be between 1 and 1048576"),
            ("max_sessions = 0", "`max_sessions` (per worker) must be between 1 and 2147483647"),
            ("max_sessions = 2147483648", "`max_sessions` (per worker) must be between 1 and 2147483647"),
            (
                "local_port_range = [1024, 1024]",
                "`local_port_range` 1024-1024 has fewer ports than the 2 workers",
            ),
        ] {
            let t = GOOD.replace("workers = [1]", &format!("workers = [1, 2]\n{key}"));
            let (line, text) = err_line(&t);
            assert_eq!(line, 5, "{key}: {text}");
            assert!(text.contains(want), "{key}: {text}");
        }
        let c = p(&GOOD.replace("workers = [1]", "workers = [1]\nmax_reals = 1048576")).unwrap();
        assert_eq!((c.dataplane.max_reals, c.dataplane.max_services), (1 << 20, 1024));
    }
}
