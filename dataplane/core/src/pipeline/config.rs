//! What a worker's pipeline is built from: its ports and VLANs, routes, limits and the
//! SYN proxy's settings (`Pipeline::new`).

use super::V6Config;
use crate::neigh::NeighParams;
use crate::route::RouteTable;
use crate::wire::MacAddr;
use rvs_proto::Timeouts;
use std::net::Ipv4Addr;

/// One DPDK port as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub mac: MacAddr,
    /// The port's own addresses with their prefix lengths (untagged frames).
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Largest IP packet the port sends: what a segment the session grows must fit.
    pub mtu: u16,
    /// Its 802.1Q VLANs. Each is an interface of its own: interfaces `0..ports` are the
    /// ports untagged, then come the VLANs, port by port (`config::Config::interfaces`).
    pub vlans: Vec<VlanInfo>,
}

/// One 802.1Q VLAN of a port.
#[derive(Debug, Clone)]
pub struct VlanInfo {
    /// VLAN id, 1-4094.
    pub id: u16,
    /// rvsd's own addresses on it with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Its local-address pool (see `laddr::lips_by_interface`).
    pub lips: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub worker: u16,
    pub workers: u16,
    pub ports: Vec<PortInfo>,
    pub routes: RouteTable,
    pub max_sessions: usize,
    pub local_port_range: (u16, u16),
    pub timeouts: Timeouts,
    pub neigh: NeighParams,
    /// SYN-cookie secrets, the same on every worker so any of them validates any cookie.
    pub cookie_secrets: crate::synproxy::CookieSecrets,
    pub synproxy: SynProxyParams,
    /// End sessions of removed real servers at their next packet (IPVS expire_nodest_conn).
    pub expire_nodest_conn: bool,
    /// Each port has a kernel interface (the exception path): frames the dataplane does
    /// not consume go to `Output::kernel` instead of being dropped.
    pub exception_path: bool,
    /// How replies reach the worker that owns their session (see `laddr::Steering`).
    pub steering: crate::laddr::Steering,
    /// IPv6 addresses of the ports and IPv6 routes (empty: IPv4 only).
    pub v6: V6Config,
    /// Advice on the big regions (the session table's, the sync marks') before their
    /// first write (`MemAdvice`).
    pub mem_advice: Option<MemAdvice>,
}

/// Called with a region of memory (address, bytes) that the pipeline has allocated and not
/// touched yet: the edge asks the kernel for huge pages there (`madvise(MADV_HUGEPAGE)`
/// backs only pages faulted in after it; the core itself makes no system call).
pub type MemAdvice = fn(*const u8, usize);

/// SYN-proxy settings of the dataplane (the `[synproxy]` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynProxyParams {
    /// What our SYN/ACKs offer (MSS, window scale, SACK, timestamps, TTL).
    pub handshake: crate::synproxy::SynProxyConfig,
    /// Client segments kept while the real server's handshake is under way.
    pub max_held: usize,
    /// The server SYN is sent again (at most this often) when the client retransmits
    /// before the server answered; then the client gets a RST.
    pub syn_retries: u8,
    /// RSTs per second a worker sends for ACKs with bad cookies; beyond that an ACK storm
    /// is dropped in silence (counted), so rvsd does not become a reflector.
    pub rst_per_sec: u32,
    /// Identical pure ACKs in a row on a proxied session beyond which the rest are
    /// dropped (DPVS's ACK-storm defence, `dup_ack_thresh`); 0: off.
    pub dup_ack_threshold: u16,
    /// TCP services without `--synproxy` answer new SYNs with cookies while the worker's
    /// session table is 7/8 full (a flood then fills nothing), and take cookie ACKs for
    /// a while after (`AUTO_SYNPROXY_TAIL`).
    pub auto: bool,
}

impl Default for SynProxyParams {
    fn default() -> Self {
        SynProxyParams {
            handshake: crate::synproxy::SynProxyConfig::default(),
            max_held: 4,
            syn_retries: 3,
            rst_per_sec: 1000,
            dup_ack_threshold: 10,
            auto: false,
        }
    }
}
