//! The control-socket protocol between `rvsd` and its clients (`rvsadm`, `rvs-ctrl`).
//!
//! Framing: one JSON object per line over a Unix stream socket. Every request carries
//! the protocol version; rvsd answers a request of another major version with an error
//! instead of guessing, so old and new tools fail loudly rather than misbehave.

pub mod check;
pub mod limits;

pub use limits::{Cidr, RateLimit};

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};

/// Bumped on any incompatible change of the types below.
pub const PROTO_VERSION: u32 = 1;

/// Where rvsd listens unless its config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/rvsd/rvsd.sock";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// A virtual service is named by protocol and VIP:port, as in ipvsadm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct ServiceKey {
    pub protocol: Protocol,
    pub addr: SocketAddr,
}

/// Forwarding method of a real server (ipvsadm's `-g`/`-m`/`-i`, DPVS's `-b`), chosen per
/// real server as IPVS does, so one service may mix them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    #[default]
    FullNat,
    Nat,
    DirectRoute,
    Tunnel,
}

impl ForwardMethod {
    /// Whether the real server's replies pass through the director (FULLNAT, NAT); DR and
    /// TUN replies go from the real server straight to the client.
    pub fn sees_replies(self) -> bool {
        matches!(self, ForwardMethod::FullNat | ForwardMethod::Nat)
    }

    /// The word rvsd's TOML and rvs-ctrl's JSON API use: "fullnat", "nat", "dr", "tun".
    pub fn name(self) -> &'static str {
        match self {
            ForwardMethod::FullNat => "fullnat",
            ForwardMethod::Nat => "nat",
            ForwardMethod::DirectRoute => "dr",
            ForwardMethod::Tunnel => "tun",
        }
    }

    /// A method by any of its usual names, case-insensitively: [`Self::name`], keepalived's
    /// `lb_kind` (FNAT, NAT, DR, TUN) or ipvsadm's column (Masq, Route, Tunnel).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "fullnat" | "fnat" => ForwardMethod::FullNat,
            "nat" | "masq" => ForwardMethod::Nat,
            "dr" | "route" => ForwardMethod::DirectRoute,
            "tun" | "tunnel" => ForwardMethod::Tunnel,
            _ => return None,
        })
    }

    /// ipvsadm's column text.
    pub fn as_ipvsadm(self) -> &'static str {
        match self {
            ForwardMethod::FullNat => "FullNat",
            ForwardMethod::Nat => "Masq",
            ForwardMethod::DirectRoute => "Route",
            ForwardMethod::Tunnel => "Tunnel",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    /// Scheduler name as ipvsadm spells it: "rr", "wrr", ...
    pub scheduler: String,
    /// Local addresses (LIPs) FULLNAT uses as sources towards real servers.
    #[serde(default)]
    pub local_addrs: Vec<IpAddr>,
    #[serde(default)]
    pub options: ServiceOptions,
}

/// Service settings beyond the scheduler, as ipvsadm's `-p`, `-M` and `-b` set them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceOptions {
    /// Scheduler flags, e.g. "sh-port", "mh-fallback".
    #[serde(default)]
    pub sched_flags: Vec<String>,
    /// `-p`: pin a client (or its network, see `netmask`) to one real server.
    #[serde(default)]
    pub persistence: Option<Persistence>,
    /// Answer client SYNs with SYN cookies; open the real server's side only for a
    /// completed handshake.
    #[serde(default)]
    pub syn_proxy: bool,
    /// Insert the client's address as TCP option 254 (TOA) towards the real server.
    #[serde(default)]
    pub toa: bool,
    /// Send a PROXY protocol header (1 or 2) ahead of the client's first byte.
    #[serde(default)]
    pub proxy_protocol: Option<u8>,
    /// Send that header as a segment of its own right after the server's handshake
    /// (`proxy_protocol_send = "on-connect"`, for server-speaks-first protocols), instead
    /// of in front of the client's first byte (then it goes on its own only when the
    /// server sends data before the client did).
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_on_connect: bool,
    /// IPVS's `expire_quiescent_template`: a persistent client whose server is quiescent
    /// (weight 0) is placed afresh at its next connection instead of staying.
    #[serde(default, skip_serializing_if = "is_false")]
    pub expire_quiescent_template: bool,
    /// `mh`: the Maglev table size M, a prime (default 65537; IPVS's
    /// `CONFIG_IP_VS_MH_TAB_INDEX`). About 100 entries per server keep the shares even.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mh_table_size: Option<u32>,
    /// Source prefixes allowed to open connections (DPVS's whitelist); empty: every source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Cidr>,
    /// Source prefixes refused (DPVS's blacklist), checked before `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Cidr>,
    /// New connections per second from one source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_conn_rate: Option<RateLimit>,
    /// New connections per second to the whole service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_rate: Option<RateLimit>,
    /// Connections the service holds at once (0: no cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_conns: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    /// Seconds a template outlives its last connection.
    pub timeout: u32,
    /// `-M`: client addresses are masked to this prefix length (32 = per address).
    pub prefix_len: u8,
}

/// `-x`/`-y`: connection thresholds of a real server. Zero means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Thresholds {
    pub upper: u32,
    pub lower: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealSpec {
    pub addr: SocketAddr,
    pub weight: u32,
    #[serde(default)]
    pub method: ForwardMethod,
    #[serde(default)]
    pub thresholds: Thresholds,
    /// `--tun-type`/`--tun-port` of a TUN real server; None is plain IPIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelEncap>,
}

/// How a TUN real server's packets are encapsulated beyond plain IPIP (ipvsadm 1.31's
/// `--tun-type gue --tun-port N`): GUE (Generic UDP Encapsulation, variant 1: the inner
/// IPv4 packet right after the UDP header) to UDP port `port` of the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEncap {
    pub port: u16,
}

/// `ipvsadm --set tcp tcpfin udp`, in seconds. Zero in a request means "leave unchanged".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Liveness and version check.
    Ping,
    AddService {
        spec: ServiceSpec,
    },
    EditService {
        spec: ServiceSpec,
    },
    DelService {
        key: ServiceKey,
    },
    AddReal {
        service: ServiceKey,
        real: RealSpec,
    },
    EditReal {
        service: ServiceKey,
        real: RealSpec,
    },
    DelReal {
        service: ServiceKey,
        addr: SocketAddr,
    },
    AddLocalAddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    DelLocalAddr {
        service: ServiceKey,
        addr: IpAddr,
    },
    /// `ipvsadm -C`: remove every virtual service.
    Clear,
    ListServices,
    /// `ipvsadm -Lnc`.
    ListConns,
    SetTimeouts {
        timeouts: Timeouts,
    },
    GetTimeouts,
    /// Per-worker counters.
    Stats,
    /// `ipvsadm -Z`: zero the traffic counters of one service (and its real servers) or of
    /// all. Counters are never written by the control side: rvsd reports them relative to
    /// a baseline taken now. Connection gauges (active/inactive) are not affected.
    Zero {
        #[serde(default)]
        service: Option<ServiceKey>,
    },
    /// `rvsadm --takeover [ADDR,...]`: own these VIPs/LIPs (none: every one, including
    /// those of services added later): answer ARP and ping for them, accept new
    /// connections, and send gratuitous ARPs for them. Answered with `Ownership`.
    Takeover {
        #[serde(default)]
        addrs: Vec<IpAddr>,
    },
    /// `rvsadm --release [ADDR,...]`: stop answering ARP and ping for these VIPs/LIPs (none:
    /// all) and stop accepting new connections to them; existing sessions are still
    /// forwarded. Answered with `Ownership`.
    Release {
        #[serde(default)]
        addrs: Vec<IpAddr>,
    },
    /// `rvsadm --owned`: which VIPs/LIPs this director owns.
    Owned,
    /// `rvsadm --sync`: the session sync thread's state, peers and counters.
    SyncStatus,
    /// `rvsadm --cluster`: this ECMP cluster member and the members it hears.
    ClusterStatus,
    /// `rvsadm --cluster --leave`: leave the cluster gracefully (routes withdrawn, drain,
    /// then rvsd stops). Answered with `Cluster`.
    ClusterLeave,
}

/// An ECMP cluster member as `rvsadm --cluster` shows it (`Reply::Cluster`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// False without `[cluster]`; nothing else is then meaningful.
    pub enabled: bool,
    pub member: u32,
    pub epoch: u32,
    /// "joining", "active" or "leaving".
    pub state: String,
    /// Milliseconds in that state.
    pub state_ms: u64,
    /// Our view generation (moves with every change of the membership we see).
    pub generation: u64,
    /// Port slices (`members`) and ours, as a range of local ports.
    pub port_slices: u8,
    pub port_range: (u16, u16),
    /// "maglev" or "scheduler".
    pub placement: String,
    /// The member's own LIPs (`[cluster] local_addresses`): announced (with the VIPs) only
    /// while it is active.
    #[serde(default)]
    pub local_addresses: Vec<String>,
    pub hello_ms: u64,
    pub hold_ms: u64,
    /// A joiner that hears no member serves alone after this long (0: never).
    #[serde(default)]
    pub alone_after_ms: u64,
    /// Sessions in our table, and the send lag of the sync thread (ms).
    pub sessions: u64,
    pub lag_ms: u64,
    /// The bulk sync that made us active (or the last one): member and records.
    pub bulk_from: u32,
    pub bulk_records: u64,
    /// Our table digest (of the synced sessions, as our last hello said it) and how many
    /// sessions it covers.
    #[serde(default)]
    pub digest: u64,
    #[serde(default)]
    pub digest_sessions: u64,
    pub members: Vec<ClusterMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMember {
    pub member: u32,
    pub addr: String,
    /// "sync" (a plain sync peer), "joining", "active", "leaving"; "gone" is never shown
    /// (a member whose hold time passed is dropped).
    pub state: String,
    pub epoch: u32,
    pub generation: u64,
    /// Sessions it announced, its table digest, its port slices.
    pub sessions: u64,
    pub digest: u64,
    pub port_slices: u8,
    pub last_heard_ms: u64,
    /// Records received from it.
    pub recv_records: u64,
    /// How long its digest has differed from ours (every hello in a row); None: its last
    /// hello agreed.
    #[serde(default)]
    pub digest_differs_ms: Option<u64>,
}

/// What a director owns (`Reply::Ownership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipInfo {
    /// Whether an address named by no takeover/release since the last bulk one is owned
    /// (a master: true; a backup: false).
    pub owns_by_default: bool,
    /// Every VIP and LIP of the services, and any other address a takeover/release named.
    pub addresses: Vec<AddrOwnership>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrOwnership {
    pub addr: IpAddr,
    /// "vip", "lip", or "none" (named by a takeover/release, in no service).
    pub kind: String,
    pub owned: bool,
}

/// The sync thread as `rvsadm --sync` shows it (`Reply::Sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInfo {
    /// False when `[sync]` is off; nothing else is then meaningful.
    pub enabled: bool,
    pub sync_id: u8,
    /// Our member id and incarnation (epoch).
    pub member: u32,
    pub epoch: u32,
    /// The interface or address sent from, and where to ("224.0.0.81:8848" or peers).
    pub interface: String,
    pub destinations: Vec<String>,
    pub peers: Vec<SyncPeer>,
    /// Messages and connection records sent and received (accepted).
    pub sent_msgs: u64,
    pub sent_records: u64,
    pub sent_bytes: u64,
    pub recv_msgs: u64,
    pub recv_records: u64,
    /// Records installed into a worker, and those that could not be (no such service,
    /// real or local address here; the worker's ring full; table full), by reason.
    pub installed: u64,
    pub install_failed: Vec<(String, u64)>,
    /// Messages refused, by reason (`truncated`, `bad_tag`, `replayed`, ...).
    pub refused: Vec<(String, u64)>,
    /// Records a worker could not hand over because its ring to the sync thread was full.
    pub ring_full: u64,
    /// Send errors of the socket.
    pub send_errors: u64,
    /// Bulk syncs answered and requested.
    pub bulk_answered: u64,
    pub bulk_requested: u64,
    /// Milliseconds the oldest record waiting in the sync thread has waited (send lag;
    /// it grows while the sync thread is stuck).
    pub lag_ms: u64,
    /// Our live sessions (what our hellos announce).
    #[serde(default)]
    pub sessions: u64,
    /// The bulk sync this rvsd asked its peers for when it started: "waiting" (for a
    /// peer), "syncing", "complete", "alone" (no peer) or "incomplete" (records still
    /// missing after three transfers).
    #[serde(default)]
    pub initial_sync: String,
    /// Whether that start-up sync is over: rvs-ctrl holds its VRRP instances back until
    /// it is. An rvsd that does not report it counts as ready.
    #[serde(default = "ready_by_default")]
    pub initial_sync_ready: bool,
    /// The member it synced from, the records received, and how long it took (or has
    /// been going on).
    #[serde(default)]
    pub initial_sync_from: u32,
    #[serde(default)]
    pub initial_sync_records: u64,
    #[serde(default)]
    pub initial_sync_ms: u64,
    /// Records received in answer to our bulk requests (all of them).
    #[serde(default)]
    pub bulk_records: u64,
}

fn ready_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPeer {
    pub member: u32,
    pub addr: String,
    pub epoch: u32,
    /// Sessions the peer says it has, and milliseconds since its last message.
    pub sessions: u64,
    pub last_heard_ms: u64,
    /// Records received from it.
    pub recv_records: u64,
    /// Its sessions less ours (as its last hello and our table say): how far our table
    /// is behind the peer's (negative: the peer's is behind ours).
    #[serde(default)]
    pub behind: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    pub fn new(command: Command) -> Self {
        Request { version: PROTO_VERSION, command }
    }
}

/// Traffic counters as ipvsadm --stats shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficStats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

impl TrafficStats {
    /// `self - base`, field by field, never below zero.
    pub fn since(&self, base: &TrafficStats) -> TrafficStats {
        TrafficStats {
            conns: self.conns.saturating_sub(base.conns),
            in_pkts: self.in_pkts.saturating_sub(base.in_pkts),
            out_pkts: self.out_pkts.saturating_sub(base.out_pkts),
            in_bytes: self.in_bytes.saturating_sub(base.in_bytes),
            out_bytes: self.out_bytes.saturating_sub(base.out_bytes),
        }
    }

    pub fn add(&mut self, o: &TrafficStats) {
        self.conns += o.conns;
        self.in_pkts += o.in_pkts;
        self.out_pkts += o.out_pkts;
        self.in_bytes += o.in_bytes;
        self.out_bytes += o.out_bytes;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealInfo {
    pub spec: RealSpec,
    /// Sessions in ESTABLISHED (TCP) or any live UDP session, over all workers.
    pub active_conns: u64,
    pub inactive_conns: u64,
    pub stats: TrafficStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub spec: ServiceSpec,
    pub reals: Vec<RealInfo>,
    pub stats: TrafficStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub protocol: Protocol,
    /// Seconds until expiry.
    pub expires_in: u32,
    /// IPVS state name: "ESTABLISHED", "SYN_RECV", "FIN_WAIT", ..., "UDP".
    pub state: String,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub local: SocketAddr,
    pub real: SocketAddr,
    pub worker: u32,
}

/// One worker's counters. `drops` is by reason name; reasons with zero count may be omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker: u32,
    pub lcore: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets handed to another worker because it owns their session.
    pub redirected_out: u64,
    /// Packets received from other workers.
    pub redirected_in: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub sessions_live: u64,
    /// Sessions the worker's table holds at most (rvsd's `max_sessions`); 0 from an rvsd
    /// that does not report it.
    #[serde(default)]
    pub sessions_capacity: u64,
    pub drops: Vec<(String, u64)>,
    /// Things that happened that are not drops (SYN-proxy answers, TOA insertions, ...), by
    /// name; zero counts may be omitted.
    #[serde(default)]
    pub events: Vec<(String, u64)>,
    /// Rounds of the worker's poll loop: a heartbeat that moves even when no packet comes
    /// (a worker that stopped looping is hung). 0 from an rvsd that does not report it.
    #[serde(default)]
    pub loops: u64,
    /// How real servers' replies reach the worker that owns their session, the same for
    /// every worker of one rvsd: the reply ports' way ("flow": rte_flow rules, "rss": local
    /// ports chosen by the NIC's hash, "handoff": software hand-off between workers,
    /// "single": one rx queue), then each port's, e.g. `flow; client=handoff server=flow`.
    /// None from a daemon that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steering: Option<String>,
    /// Per VLAN interface (`[[port.vlan]]`); empty when the ports have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<VlanStats>,
}

/// One worker's counters of one VLAN interface (a port's 802.1Q VLAN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanStats {
    /// The port's name in rvsd's configuration.
    pub port: String,
    /// The 802.1Q VLAN id.
    pub vlan: u16,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames received on the VLAN that rvsd dropped.
    pub drops: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Pong { daemon: String, version: u32 },
    Services { services: Vec<ServiceInfo> },
    Conns { conns: Vec<ConnInfo> },
    Timeouts { timeouts: Timeouts },
    Stats { workers: Vec<WorkerStats> },
    Ownership { ownership: OwnershipInfo },
    Sync { sync: Box<SyncInfo> },
    Cluster { cluster: ClusterInfo },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    #[serde(flatten)]
    pub result: ResponseResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseResult {
    Ok(Reply),
    Error(String),
}

impl Response {
    pub fn ok(reply: Reply) -> Self {
        Response { version: PROTO_VERSION, result: ResponseResult::Ok(reply) }
    }
    pub fn error(msg: impl Into<String>) -> Self {
        Response { version: PROTO_VERSION, result: ResponseResult::Error(msg.into()) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("peer closed the connection")]
    Closed,
    #[error("message longer than {max} bytes")]
    TooLong { max: usize },
    #[error("protocol version {got} is not {PROTO_VERSION}")]
    Version { got: u32 },
}

/// Writes one message as a JSON line.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), ProtoError> {
    let mut line = serde_json::to_vec(msg)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()?;
    Ok(())
}

/// Reads one JSON line; `Closed` at end of stream.
pub fn read_msg<R: BufRead, T: for<'de> Deserialize<'de>>(r: &mut R) -> Result<T, ProtoError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(ProtoError::Closed);
    }
    Ok(serde_json::from_str(&line)?)
}

/// Reads one JSON line of at most `max` bytes (newline included); `TooLong` past that,
/// without reading the rest into memory, so a runaway or hostile peer costs at most
/// `max` bytes.
pub fn read_msg_limited<R: BufRead, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> Result<T, ProtoError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() {
                return Err(ProtoError::Closed);
            }
            break; // a last line without its newline
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(ProtoError::TooLong { max });
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(serde_json::from_slice(&line)?)
}

/// A blocking client: connect, send one request, read its response.
pub struct Client {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
}

impl Client {
    pub fn connect(path: &str) -> Result<Self, ProtoError> {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        let writer = s.try_clone()?;
        Ok(Client { reader: std::io::BufReader::new(s), writer })
    }

    /// Sends `command`; a daemon-side error comes back as `Ok(Err(message))`.
    pub fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        write_msg(&mut self.writer, &Request::new(command))?;
        let resp: Response = read_msg(&mut self.reader)?;
        if resp.version != PROTO_VERSION {
            return Err(ProtoError::Version { got: resp.version });
        }
        Ok(match resp.result {
            ResponseResult::Ok(r) => Ok(r),
            ResponseResult::Error(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_as_one_json_line() {
        let req = Request::new(Command::AddReal {
            service: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() },
            real: RealSpec {
                thresholds: Default::default(),
                addr: "198.19.0.11:80".parse().unwrap(),
                weight: 3,
                method: ForwardMethod::FullNat,
                tunnel: None,
            },
        });
        let mut buf = Vec::new();
        write_msg(&mut buf, &req).unwrap();
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Request = read_msg(&mut &buf[..]).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn zero_round_trips_with_and_without_service() {
        let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        for cmd in [Command::Zero { service: None }, Command::Zero { service: Some(key) }] {
            let mut buf = Vec::new();
            write_msg(&mut buf, &Request::new(cmd.clone())).unwrap();
            let back: Request = read_msg(&mut &buf[..]).unwrap();
            assert_eq!(back.command, cmd);
        }
        let bare: Request = serde_json::from_str(r#"{"version":1,"op":"zero"}"#).unwrap();
        assert_eq!(bare.command, Command::Zero { service: None });
    }

    #[test]
    fn ownership_commands_round_trip_and_addrs_default_to_none() {
        for cmd in [
            Command::Takeover { addrs: vec!["198.18.0.100".parse().unwrap()] },
            Command::Release { addrs: vec![] },
            Command::Owned,
            Command::SyncStatus,
        ] {
            let mut buf = Vec::new();
            write_msg(&mut buf, &Request::new(cmd.clone())).unwrap();
            let back: Request = read_msg(&mut &buf[..]).unwrap();
            assert_eq!(back.command, cmd);
        }
        let bare: Request = serde_json::from_str(r#"{"version":1,"op":"takeover"}"#).unwrap();
        assert_eq!(bare.command, Command::Takeover { addrs: vec![] });
    }

    #[test]
    fn since_saturates() {
        let a = TrafficStats { conns: 5, in_pkts: 10, out_pkts: 1, in_bytes: 100, out_bytes: 0 };
        let b = TrafficStats { conns: 2, in_pkts: 11, out_pkts: 1, in_bytes: 40, out_bytes: 0 };
        assert_eq!(
            a.since(&b),
            TrafficStats { conns: 3, in_pkts: 0, out_pkts: 0, in_bytes: 60, out_bytes: 0 }
        );
    }

    #[test]
    fn error_response_round_trips() {
        let resp = Response::error("no such service");
        let mut buf = Vec::new();
        write_msg(&mut buf, &resp).unwrap();
        let back: Response = read_msg(&mut &buf[..]).unwrap();
        assert_eq!(back, resp);
    }
}

#[cfg(test)]
mod limited_read_tests {
    use super::*;

    #[test]
    fn a_line_within_the_limit_is_read_and_the_next_one_waits() {
        let data = b"{\"a\":1}\n{\"a\":2}\n".to_vec();
        let mut r = std::io::BufReader::with_capacity(4, &data[..]);
        let v: serde_json::Value = read_msg_limited(&mut r, 64).unwrap();
        assert_eq!(v["a"], 1);
        let v: serde_json::Value = read_msg_limited(&mut r, 64).unwrap();
        assert_eq!(v["a"], 2);
        assert!(matches!(read_msg_limited::<_, serde_json::Value>(&mut r, 64), Err(ProtoError::Closed)));
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit_without_reading_it_all() {
        // 10 MB without a newline: refused having buffered no more than the limit.
        let data = vec![b'x'; 10 << 20];
        let mut r = std::io::BufReader::with_capacity(8192, &data[..]);
        assert!(matches!(
            read_msg_limited::<_, serde_json::Value>(&mut r, 1 << 20),
            Err(ProtoError::TooLong { max }) if max == 1 << 20
        ));
        // What is left unread is most of it.
        let rest = r.fill_buf().unwrap().len() + r.get_ref().len();
        assert!(rest > 8 << 20, "{rest}");
    }
}
