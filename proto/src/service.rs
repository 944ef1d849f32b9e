//! Virtual services and real servers as ipvsadm sets them up: a service's key, spec and
//! options (persistence, SYN proxy, TOA, PROXY protocol, access lists and limits), a
//! real server's spec with its forwarding method, thresholds and tunnel, and the
//! timeouts (`ipvsadm --set`).

use crate::limits::{Cidr, RateLimit};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

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
