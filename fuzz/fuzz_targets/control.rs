//! Structure-aware fuzzing of the control path, as a hostile or buggy control client
//! drives it: each input is a sequence of control requests (every `rvs_proto::Command`:
//! services and real servers added, edited and deleted with arbitrary addresses of both
//! families, ports, protocols, scheduler names and flags, weights (0, 65535, 65536,
//! u32::MAX, ...), thresholds, persistence timeouts and netmasks, access lists, rates,
//! Maglev table sizes, local addresses; timeouts set to 0 and huge values; zero, clear,
//! takeover and release; a request of another protocol version now and then) interleaved
//! with packets (client segments and datagrams to the services, answers to what the
//! pipeline sent: SYN, SYN/ACK, ACK, data, FIN, RST; whole connections) and time passing
//! (milliseconds to years), against one worker pipeline.
//!
//! Each request is written as rvsd's clients write it (`rvs_proto::write_msg`) and read
//! back as rvsd reads it (`read_msg_limited` with rvsd's limit) — it must come back the
//! same — then applied the way rvsd's control thread does. That thread
//! (`Control::handle`, `dataplane/src/control/mod.rs`) is in the DPDK crate, which the fuzz
//! crate cannot link: `common/control.rs` repeats what it does with the `Registry` methods
//! it calls, the `WorkerConfig` it publishes (`with_services`, `with_timeouts`) and what it
//! sends a worker (the configuration, the addresses to announce, a session dump), and the
//! pipeline takes each configuration as a worker does (`Pipeline::set_config`).
//!
//! Properties, beyond "no panic, no overflow" (debug assertions on):
//! * a refused request changes nothing (registry and configuration as they were), and the
//!   registry answers the next one;
//! * after every request the registry holds each service and real server once, with stat
//!   slots in range and never shared, everything in it passes the checks `rvs-ctrl -t`
//!   shares with rvsd, and its snapshot finds every service by its key;
//! * the session table never holds more than its capacity;
//! * every frame the pipeline sends leaves from its port's MAC, and IPv4/IPv6 frames
//!   carry valid IP and TCP/UDP/ICMP checksums (the frames fed in are all valid).
#![no_main]
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline, PipelineConfig, PortInfo, V6Config};
use rvs_core::route::{Prefix, Route, RouteTable};
use rvs_core::service::{Registry, WorkerConfig};
use rvs_core::stats::WorkerCounters;
use rvs_core::synproxy::{CookieSecrets, SecretKey};
use rvs_core::time::Time;
use rvs_core::wire::icmp::Icmpv4Packet;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use rvs_core::wire::tcp::{TcpFlags, TcpPacket};
use rvs_core::wire::udp::UdpPacket;
use rvs_core::wire::{IpProtocol, MacAddr};
use rvs_proto::check::{MH_TABLE_MAX, SCHEDULERS, SCHED_FLAGS};
use rvs_proto::{
    Cidr, Command, ForwardMethod, Persistence, Protocol, RateLimit, RealSpec, Request, ServiceKey,
    ServiceOptions, ServiceSpec, Thresholds, Timeouts, TunnelEncap, PROTO_VERSION,
};

#[path = "common/control.rs"]
mod control;

/// Small limits, so that "too many" is reached and slots are reused.
const MAX_SERVICES: usize = 6;
const MAX_REALS: usize = 12;
const CAPACITY: usize = 64;

const MAC_C: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const MAC_S: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
const RS_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 11]);

const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
}

/// Addresses requests name most of the time, so that they meet: VIPs on the client side
/// (198.18.0.0/24, 2001:db8:1::/64), real servers and LIPs on the server side
/// (198.19.0.0/24, 2001:db8:2::/64), the ports' own addresses, a client's, and the odd ones.
const POOL: [IpAddr; 28] = [
    v4(198, 18, 0, 100),
    v4(198, 18, 0, 101),
    v4(198, 19, 0, 11),
    v4(198, 19, 0, 12),
    v4(198, 19, 0, 13),
    v4(198, 19, 0, 200),
    v4(198, 19, 0, 201),
    v4(198, 18, 0, 1),
    v4(198, 19, 0, 1),
    v4(198, 18, 0, 10),
    v4(0, 0, 0, 0),
    v4(255, 255, 255, 255),
    v4(224, 0, 0, 1),
    v4(127, 0, 0, 1),
    v4(10, 9, 9, 9),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x101),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x11),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x12),
    v6(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x200),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10),
    v6(0, 0, 0, 0, 0, 0, 0, 0),
    v6(0, 0, 0, 0, 0, 0, 0, 1),
    v6(0xff02, 0, 0, 0, 0, 0, 0, 1),
    v6(0xfe80, 0, 0, 0, 0, 0, 0, 1),
    // IPv4-mapped (a NAT64 real server's key) and the NAT64 well-known prefix.
    v6(0, 0, 0, 0, 0, 0xffff, 0xc613, 0x000b),
    v6(0x64, 0xff9b, 0, 0, 0, 0, 0xc613, 0x000b),
];

const PORTS: [u16; 8] = [80, 53, 443, 0, 65535, 1, 8080, 5353];

/// Values that sit on the edges of the checks (weights, thresholds, timeouts, rates).
const NUMS: [u32; 17] = [
    0,
    1,
    2,
    3,
    5,
    10,
    60,
    300,
    900,
    65535,
    65536,
    100_000_000,
    100_000_001,
    1 << 24,
    1 << 31,
    u32::MAX - 1,
    u32::MAX,
];

#[derive(Debug, Clone, Copy)]
struct Ip(IpAddr);

impl<'a> Arbitrary<'a> for Ip {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Ip(match b {
            0..=223 => POOL[b as usize % POOL.len()],
            224..=239 => IpAddr::V4(u32::arbitrary(u)?.into()),
            _ => IpAddr::V6(u128::arbitrary(u)?.into()),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Port(u16);

impl<'a> Arbitrary<'a> for Port {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Port(if b < 224 { PORTS[b as usize % PORTS.len()] } else { u16::arbitrary(u)? }))
    }
}

#[derive(Debug, Clone, Copy)]
struct Num(u32);

impl<'a> Arbitrary<'a> for Num {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        Ok(Num(if b < 192 { NUMS[b as usize % NUMS.len()] } else { u32::arbitrary(u)? }))
    }
}

/// A short string of anything (scheduler names and flags that are not ours).
fn odd_string(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let s: &str = u.arbitrary()?;
    Ok(s.chars().take(24).collect())
}

#[derive(Debug, Clone)]
struct Sched(String);

impl<'a> Arbitrary<'a> for Sched {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const ODD: [&str; 6] = ["", "RR", "wlcx", "rr ", "r\0r", "mh\n"];
        let b = u8::arbitrary(u)?;
        Ok(Sched(match b {
            0..=229 => SCHEDULERS[b as usize % SCHEDULERS.len()].to_string(),
            230..=249 => ODD[b as usize % ODD.len()].to_string(),
            _ => odd_string(u)?,
        }))
    }
}

#[derive(Debug, Clone)]
struct SchedFlag(String);

impl<'a> Arbitrary<'a> for SchedFlag {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const ODD: [&str; 5] = ["", "sh-pot", "SH-PORT", "flag-3", "sh-port,mh-port"];
        let b = u8::arbitrary(u)?;
        Ok(SchedFlag(match b {
            0..=223 => SCHED_FLAGS[b as usize % SCHED_FLAGS.len()].to_string(),
            224..=249 => ODD[b as usize % ODD.len()].to_string(),
            _ => odd_string(u)?,
        }))
    }
}

/// A Maglev table size: none (the default, 65537), small primes, what is refused, any
/// 16-bit value (the check decides). No large prime: a 16 Mi-entry table per snapshot
/// would make every run slow without reaching anything new.
#[derive(Debug, Clone, Copy)]
struct MhSize(Option<u32>);

impl<'a> Arbitrary<'a> for MhSize {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const SIZES: [u32; 14] =
            [0, 1, 2, 3, 4, 5, 7, 251, 1021, 4093, 65521, MH_TABLE_MAX, MH_TABLE_MAX + 1, u32::MAX];
        let b = u8::arbitrary(u)?;
        Ok(MhSize(match b {
            0..=127 => None,
            128..=223 => Some(SIZES[b as usize % SIZES.len()]),
            _ => Some(u16::arbitrary(u)? as u32),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
struct PrefixLen(u8);

impl<'a> Arbitrary<'a> for PrefixLen {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const LENS: [u8; 14] = [0, 1, 8, 16, 24, 31, 32, 33, 64, 96, 127, 128, 129, 255];
        let b = u8::arbitrary(u)?;
        Ok(PrefixLen(if b < 224 { LENS[b as usize % LENS.len()] } else { u8::arbitrary(u)? }))
    }
}

/// A PROXY protocol version: none, 1, 2 or another byte.
#[derive(Debug, Clone, Copy)]
struct ProxyVersion(Option<u8>);

impl<'a> Arbitrary<'a> for ProxyVersion {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(ProxyVersion(match u8::arbitrary(u)? % 8 {
            0..=3 => None,
            4 | 5 => Some(1),
            6 => Some(2),
            _ => Some(u8::arbitrary(u)?),
        }))
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Key {
    udp: bool,
    ip: Ip,
    port: Port,
    /// An IPv6 address's scope id (as `[fe80::1%2]:80` carries it).
    scope: u8,
}

fn sockaddr(ip: Ip, port: Port, scope: u8) -> SocketAddr {
    let mut a = SocketAddr::new(ip.0, port.0);
    if let SocketAddr::V6(v6) = &mut a {
        if scope >= 248 {
            v6.set_scope_id(u32::from(scope & 3));
        }
    }
    a
}

impl Key {
    fn key(self) -> ServiceKey {
        let protocol = if self.udp { Protocol::Udp } else { Protocol::Tcp };
        ServiceKey { protocol, addr: sockaddr(self.ip, self.port, self.scope) }
    }
}

/// A prefix of an access list: host bits cleared, length within the family's.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Net {
    ip: Ip,
    len: u8,
}

impl Net {
    fn cidr(self) -> Cidr {
        let (addr, len) = match self.ip.0 {
            IpAddr::V4(a) => {
                let len = self.len % 33;
                let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
                (IpAddr::V4((u32::from(a) & m).into()), len)
            }
            IpAddr::V6(a) => {
                let len = self.len % 129;
                let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                (IpAddr::V6((u128::from(a) & m).into()), len)
            }
        };
        Cidr::new(addr, len).expect("a masked prefix")
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct Svc {
    key: Key,
    sched: Sched,
    local_addrs: Vec<Ip>,
    /// None: the defaults (most options given at random are refused by one check or another).
    options: Option<Opts>,
}

#[derive(Arbitrary, Debug, Clone)]
struct Opts {
    flags: Vec<SchedFlag>,
    persistence: Option<(Num, PrefixLen)>,
    syn_proxy: bool,
    toa: bool,
    proxy: ProxyVersion,
    proxy_on_connect: bool,
    expire_quiescent_template: bool,
    mh: MhSize,
    allow: Vec<Net>,
    deny: Vec<Net>,
    source_conn_rate: Option<(Num, Num)>,
    conn_rate: Option<(Num, Num)>,
    max_conns: Num,
}

impl Opts {
    fn options(self) -> ServiceOptions {
        let rate = |r: Option<(Num, Num)>| r.map(|(rate, burst)| RateLimit { rate: rate.0, burst: burst.0 });
        ServiceOptions {
            sched_flags: self.flags.into_iter().take(3).map(|f| f.0).collect(),
            persistence: self.persistence.map(|(t, p)| Persistence { timeout: t.0, prefix_len: p.0 }),
            syn_proxy: self.syn_proxy,
            toa: self.toa,
            proxy_protocol: self.proxy.0,
            proxy_on_connect: self.proxy_on_connect,
            expire_quiescent_template: self.expire_quiescent_template,
            mh_table_size: self.mh.0,
            allow: self.allow.iter().take(4).map(|n| n.cidr()).collect(),
            deny: self.deny.iter().take(4).map(|n| n.cidr()).collect(),
            source_conn_rate: rate(self.source_conn_rate),
            conn_rate: rate(self.conn_rate),
            max_conns: self.max_conns.0,
        }
    }
}

impl Svc {
    fn spec(self) -> ServiceSpec {
        ServiceSpec {
            key: self.key.key(),
            scheduler: self.sched.0,
            local_addrs: self.local_addrs.iter().take(4).map(|a| a.0).collect(),
            options: self.options.map(Opts::options).unwrap_or_default(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct Rs {
    ip: Ip,
    port: Port,
    scope: u8,
    weight: Num,
    method: u8,
    upper: Num,
    lower: Num,
    /// A GUE port: given to half the TUN servers, and now and then to another method's.
    tunnel: u8,
    tunnel_port: Port,
}

impl Rs {
    fn spec(self) -> RealSpec {
        let method =
            [ForwardMethod::FullNat, ForwardMethod::Nat, ForwardMethod::DirectRoute, ForwardMethod::Tunnel]
                [self.method as usize % 4];
        let gue = self.tunnel >= 240 || (method == ForwardMethod::Tunnel && self.tunnel >= 128);
        RealSpec {
            addr: sockaddr(self.ip, self.port, self.scope),
            weight: self.weight.0,
            method,
            thresholds: Thresholds { upper: self.upper.0, lower: self.lower.0 },
            tunnel: gue.then_some(TunnelEncap { port: self.tunnel_port.0 }),
        }
    }
}

/// Every command of the protocol.
#[derive(Arbitrary, Debug, Clone)]
enum Cmd {
    Ping,
    AddService(Svc),
    EditService(Svc),
    DelService(Key),
    AddReal(Key, Rs),
    EditReal(Key, Rs),
    DelReal(Key, Ip, Port, u8),
    AddLocalAddr(Key, Ip),
    DelLocalAddr(Key, Ip),
    Clear,
    ListServices,
    ListConns,
    SetTimeouts(Num, Num, Num),
    GetTimeouts,
    Stats,
    Zero(Option<Key>),
    Takeover(Vec<Ip>),
    Release(Vec<Ip>),
    Owned,
    SyncStatus,
    ClusterStatus,
    ClusterLeave,
}

impl Cmd {
    fn command(self) -> Command {
        let addrs = |v: Vec<Ip>| v.into_iter().take(6).map(|a| a.0).collect();
        match self {
            Cmd::Ping => Command::Ping,
            Cmd::AddService(s) => Command::AddService { spec: s.spec() },
            Cmd::EditService(s) => Command::EditService { spec: s.spec() },
            Cmd::DelService(k) => Command::DelService { key: k.key() },
            Cmd::AddReal(k, r) => Command::AddReal { service: k.key(), real: r.spec() },
            Cmd::EditReal(k, r) => Command::EditReal { service: k.key(), real: r.spec() },
            Cmd::DelReal(k, ip, port, scope) => {
                Command::DelReal { service: k.key(), addr: sockaddr(ip, port, scope) }
            }
            Cmd::AddLocalAddr(k, a) => Command::AddLocalAddr { service: k.key(), addr: a.0 },
            Cmd::DelLocalAddr(k, a) => Command::DelLocalAddr { service: k.key(), addr: a.0 },
            Cmd::Clear => Command::Clear,
            Cmd::ListServices => Command::ListServices,
            Cmd::ListConns => Command::ListConns,
            Cmd::SetTimeouts(tcp, tcp_fin, udp) => {
                Command::SetTimeouts { timeouts: Timeouts { tcp: tcp.0, tcp_fin: tcp_fin.0, udp: udp.0 } }
            }
            Cmd::GetTimeouts => Command::GetTimeouts,
            Cmd::Stats => Command::Stats,
            Cmd::Zero(k) => Command::Zero { service: k.map(Key::key) },
            Cmd::Takeover(a) => Command::Takeover { addrs: addrs(a) },
            Cmd::Release(a) => Command::Release { addrs: addrs(a) },
            Cmd::Owned => Command::Owned,
            Cmd::SyncStatus => Command::SyncStatus,
            Cmd::ClusterStatus => Command::ClusterStatus,
            Cmd::ClusterLeave => Command::ClusterLeave,
        }
    }
}

/// The protocol version a request carries: rvsd's, mostly.
#[derive(Debug, Clone, Copy)]
struct Version(u32);

impl<'a> Arbitrary<'a> for Version {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Version(if u8::arbitrary(u)? < 248 { PROTO_VERSION } else { u32::arbitrary(u)? }))
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// TCP flags of a segment: `Auto` is what a peer sends next (a SYN to start; SYN/ACK to a
/// SYN, ACK to a SYN/ACK, data or an ACK after).
#[derive(Debug, Clone, Copy)]
enum Flags {
    Auto,
    Is(u8),
}

impl<'a> Arbitrary<'a> for Flags {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const COMMON: [u8; 7] = [SYN, ACK, PSH | ACK, FIN | ACK, RST, SYN | ACK, RST | ACK];
        let b = u8::arbitrary(u)?;
        Ok(match b {
            0..=95 => Flags::Auto,
            96..=223 => Flags::Is(COMMON[b as usize % COMMON.len()]),
            _ => Flags::Is(u8::arbitrary(u)?),
        })
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Step {
    /// A control request.
    Request { cmd: Cmd, version: Version },
    /// A client's segment or datagram to a (virtual) address: from 198.18.0.10-13 or
    /// 2001:db8:1::10-13, whichever the address's family.
    Client { to: To, client: u8, flags: Flags, payload: u8 },
    /// An answer to one of the last frames the pipeline sent (0: the last), by whoever it
    /// was sent to: endpoints reversed, sequence numbers that follow it.
    Answer { which: u8, flags: Flags, payload: u8 },
    /// A whole connection: the client's SYN, then the answers that follow (the server's
    /// SYN/ACK or the client's ACK to a cookie, ...), with data.
    Connection { to: To, client: u8, payload: u8 },
    /// Time passing by milliseconds, timers run.
    Advance { ms: u16 },
    /// Time passing by seconds (up to u32::MAX: over a century), timers run.
    Jump { secs: Num },
}

/// Where a client sends to: one of the services the registry has (by position), or any
/// address.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum To {
    Service(u8),
    Addr(Key),
}

impl To {
    /// (protocol is UDP, address).
    fn resolve(self, reg: &Registry) -> (bool, SocketAddr) {
        if let To::Service(i) = self {
            let n = reg.list().count();
            if let Some((spec, _, _)) = reg.list().nth(i as usize % n.max(1)) {
                return (spec.key.protocol == Protocol::Udp, spec.key.addr);
            }
        }
        let key = match self {
            To::Addr(k) => k,
            To::Service(i) => Key { udp: i % 2 == 1, ip: Ip(POOL[0]), port: Port(80), scope: 0 },
        };
        (key.udp, key.key().addr)
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    expire_nodest_conn: bool,
    steps: Vec<Step>,
}

fn pipeline_config(expire_nodest_conn: bool) -> PipelineConfig {
    let mut routes = RouteTable::new();
    routes.add(Route {
        prefix: Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap(),
        port: 0,
        gateway: None,
    });
    routes.add(Route {
        prefix: Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap(),
        port: 1,
        gateway: None,
    });
    let a6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    PipelineConfig {
        worker: 0,
        workers: 1,
        ports: vec![
            PortInfo {
                mac: MAC_C,
                addrs: vec![(Ipv4Addr::new(198, 18, 0, 1), 24)],
                vlans: vec![],
                mtu: 1500,
            },
            PortInfo {
                mac: MAC_S,
                addrs: vec![(Ipv4Addr::new(198, 19, 0, 1), 24)],
                vlans: vec![],
                mtu: 1500,
            },
        ],
        routes,
        max_sessions: CAPACITY,
        local_port_range: (1025, 65535),
        timeouts: control::DEFAULT_TIMEOUTS,
        neigh: Default::default(),
        cookie_secrets: CookieSecrets::new(SecretKey::from_bytes([7; 16])),
        synproxy: Default::default(),
        expire_nodest_conn,
        exception_path: false,
        steering: Default::default(),
        v6: V6Config {
            addrs: vec![vec![(a6("2001:db8:1::1"), 64)], vec![(a6("2001:db8:2::1"), 64)]],
            routes: vec![],
        },
        mem_advice: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp4(
    smac: MacAddr,
    dmac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: usize,
) -> Vec<u8> {
    let mut b = vec![0u8; 14 + 20 + 20 + payload];
    rvs_core::testkit::eth_ip(&mut b, smac, dmac, src, dst, IpProtocol::TCP);
    for (i, x) in b[54..].iter_mut().enumerate() {
        *x = i as u8;
    }
    let mut t = TcpPacket::new_unchecked(&mut b[34..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_header_len(20);
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.set_flags(TcpFlags(flags));
    t.set_window(65535);
    t.fill_checksum(src, dst);
    b
}

/// Ethernet + IPv6 + TCP (`proto` 6) or UDP (17), checksum valid.
#[allow(clippy::too_many_arguments)]
fn l4v6(
    smac: MacAddr,
    dmac: MacAddr,
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    proto: u8,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: usize,
) -> Vec<u8> {
    let hl = if proto == 6 { 20 } else { 8 };
    let mut f = vec![0u8; 14 + 40 + hl + payload];
    f[0..6].copy_from_slice(&dmac.0);
    f[6..12].copy_from_slice(&smac.0);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    let plen = hl + payload;
    Ipv6Repr {
        src,
        dst,
        next_header: proto,
        payload_len: plen as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[14..]);
    let l4 = &mut f[54..];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[8..12].copy_from_slice(&ack.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = flags;
        l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
    } else {
        l4[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
    }
    for (i, x) in l4[hl..].iter_mut().enumerate() {
        *x = i as u8;
    }
    let mut c = ipv6::upper_checksum(src, dst, proto, l4);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[if proto == 6 { 16 } else { 6 }..][..2].copy_from_slice(&c.to_be_bytes());
    f
}

/// A client's frame to `to` (its family's client, on the client port).
fn client_frame(to: SocketAddr, udp: bool, client: u8, flags: Flags, payload: usize) -> Vec<u8> {
    let flags = match flags {
        Flags::Auto => SYN,
        Flags::Is(f) => f,
    };
    let sport = 40000 + u16::from(client / 4 % 8);
    match to {
        SocketAddr::V4(to) => {
            let src = Ipv4Addr::new(198, 18, 0, 10 + client % 4);
            if udp {
                let mut b = Vec::new();
                rvs_core::testkit::udp_frame_into(
                    &mut b,
                    CLIENT_MAC,
                    MAC_C,
                    src,
                    sport,
                    *to.ip(),
                    to.port(),
                    payload,
                );
                b
            } else {
                tcp4(CLIENT_MAC, MAC_C, src, sport, *to.ip(), to.port(), flags, 1000, 0, payload)
            }
        }
        SocketAddr::V6(to) => {
            let src = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10 + u16::from(client % 4));
            let proto = if udp { 17 } else { 6 };
            l4v6(CLIENT_MAC, MAC_C, src, sport, *to.ip(), to.port(), proto, flags, 1000, 0, payload)
        }
    }
}

/// Flags, seq and ack of the answer to a segment (`their` flags, seq, ack, payload length).
fn follow(their: u8, seq: u32, ack: u32, len: usize, want: Flags, payload: usize) -> Option<(u8, u32, u32)> {
    let consumed = len as u32 + u32::from(their & (SYN | FIN) != 0);
    let flags = match want {
        Flags::Is(f) => f,
        Flags::Auto if their & RST != 0 => return None,
        Flags::Auto if their & (SYN | ACK) == SYN => SYN | ACK,
        Flags::Auto if their & SYN != 0 => ACK,
        Flags::Auto if payload > 0 => PSH | ACK,
        Flags::Auto => ACK,
    };
    let my_seq = if their & ACK != 0 { ack } else { 7000 };
    Some((flags, my_seq, seq.wrapping_add(consumed)))
}

/// The answer to a frame the pipeline sent (TCP or UDP, either family), back in on the
/// port it left by.
fn answer(f: &[u8], want: Flags, payload: usize) -> Option<Vec<u8>> {
    if f.len() < 14 {
        return None;
    }
    // From whom it was sent to, to us.
    let smac = MacAddr(f[0..6].try_into().unwrap());
    let dmac = MacAddr(f[6..12].try_into().unwrap());
    match [f[12], f[13]] {
        [0x08, 0x00] => {
            let ip = Ipv4Packet::new_checked(&f[14..]).ok()?;
            if ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            let (src, dst) = (ip.dst_addr(), ip.src_addr());
            match ip.protocol() {
                IpProtocol::TCP => {
                    let t = TcpPacket::new_checked(ip.payload()).ok()?;
                    let (flags, seq, ack) = follow(
                        t.flags().0,
                        t.seq_number(),
                        t.ack_number(),
                        t.payload().len(),
                        want,
                        payload,
                    )?;
                    Some(tcp4(smac, dmac, src, t.dst_port(), dst, t.src_port(), flags, seq, ack, payload))
                }
                IpProtocol::UDP => {
                    let u = UdpPacket::new_checked(ip.payload()).ok()?;
                    let mut b = Vec::new();
                    rvs_core::testkit::udp_frame_into(
                        &mut b,
                        smac,
                        dmac,
                        src,
                        u.dst_port(),
                        dst,
                        u.src_port(),
                        payload,
                    );
                    Some(b)
                }
                _ => None,
            }
        }
        [0x86, 0xdd] => {
            let ip = Ipv6Packet::new_checked(&f[14..]).ok()?;
            let (src, dst, nh, l4) = (ip.dst_addr(), ip.src_addr(), ip.next_header(), ip.payload());
            let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
            match nh {
                6 if l4.len() >= 20 => {
                    let word = |at: usize| u32::from_be_bytes(l4[at..at + 4].try_into().unwrap());
                    let hl = usize::from(l4[12] >> 4) * 4;
                    let len = l4.len().saturating_sub(hl);
                    let (flags, seq, ack) = follow(l4[13], word(4), word(8), len, want, payload)?;
                    Some(l4v6(smac, dmac, src, port(2), dst, port(0), 6, flags, seq, ack, payload))
                }
                17 if l4.len() >= 8 => {
                    Some(l4v6(smac, dmac, src, port(2), dst, port(0), 17, 0, 0, 0, payload))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Checks one frame the pipeline sends out of `port`.
fn check_sent(f: &[u8], port: usize) {
    let mac = if port == 0 { MAC_C } else { MAC_S };
    assert!(f.len() >= 14, "a frame shorter than its Ethernet header");
    assert_eq!(&f[6..12], &mac.0, "a frame leaves with its port's MAC");
    match [f[12], f[13]] {
        [0x08, 0x00] => {
            let ip = Ipv4Packet::new_checked(&f[14..]).expect("a valid IPv4 header");
            assert!(ip.verify_checksum(), "IP checksum of a sent frame");
            if ip.more_frags() || ip.frag_offset() != 0 {
                return; // the L4 checksum covers the whole datagram
            }
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            match ip.protocol() {
                IpProtocol::TCP => assert!(
                    TcpPacket::new_checked(ip.payload()).unwrap().verify_checksum(src, dst),
                    "TCP checksum"
                ),
                IpProtocol::UDP => assert!(
                    UdpPacket::new_checked(ip.payload()).unwrap().verify_checksum(src, dst),
                    "UDP checksum"
                ),
                IpProtocol::ICMP => assert!(
                    Icmpv4Packet::new_checked(ip.payload()).unwrap().verify_checksum(),
                    "ICMP checksum"
                ),
                _ => {}
            }
        }
        [0x86, 0xdd] => {
            let ip = Ipv6Packet::new_checked(&f[14..]).expect("a valid IPv6 header");
            let nh = ip.next_header();
            if matches!(nh, 6 | 17 | 58) {
                assert!(
                    ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), nh, ip.payload()),
                    "IPv6 upper-layer checksum ({nh})"
                );
            }
        }
        _ => {}
    }
}

/// Checks and keeps what the pipeline sent (the last few frames, to be answered).
fn learn(out: &mut Output<Vec<u8>>, sent: &mut Vec<(u16, Vec<u8>)>) {
    for (port, frames) in out.tx.iter_mut().enumerate() {
        for f in frames.drain(..) {
            check_sent(&f, port);
            sent.push((port as u16, f));
        }
    }
    if sent.len() > 8 {
        sent.drain(..sent.len() - 8);
    }
    out.redirect.iter_mut().for_each(Vec::clear);
    out.learned.clear();
    out.learned6.clear();
    out.synced.clear();
    out.kernel.clear();
}

/// The latest time the harness reaches (times stay below 2^62 ns, as a monotonic clock's).
const LATEST: u64 = 1 << 61;

fuzz_target!(|input: Input| {
    let mut reg = Registry::new(MAX_SERVICES, MAX_REALS);
    let secrets = CookieSecrets::new(SecretKey::from_bytes([7; 16]));
    let mut cfg = WorkerConfig::new(Arc::new(reg.snapshot()), control::DEFAULT_TIMEOUTS, secrets);
    let counters = Arc::new(WorkerCounters::new(MAX_SERVICES, MAX_REALS));
    let mut now = Time::from_secs(1);
    let mut p: Pipeline<Vec<u8>> =
        Pipeline::new(pipeline_config(input.expire_nodest_conn), cfg.services.clone(), counters, now);
    p.set_config(&cfg);
    let mut out = Output::new(2, 1);
    let mut sent: Vec<(u16, Vec<u8>)> = Vec::new();

    // Neighbours: the clients, and the real servers of the pool.
    for c in 10..=13 {
        p.neigh_learned(Ipv4Addr::new(198, 18, 0, c), CLIENT_MAC.0, 0, now, &mut out);
        p.neigh6_learned(
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(c) + 6),
            CLIENT_MAC.0,
            0,
            now,
            &mut out,
        );
    }
    for r in 11..=13 {
        p.neigh_learned(Ipv4Addr::new(198, 19, 0, r), RS_MAC.0, 1, now, &mut out);
        p.neigh6_learned(
            Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, u16::from(r) + 6),
            RS_MAC.0,
            1,
            now,
            &mut out,
        );
    }
    learn(&mut out, &mut sent);

    let steps = input.steps.into_iter().take(48).flat_map(|step| match step {
        Step::Connection { to, client, payload } => {
            let next = |payload| Step::Answer { which: 0, flags: Flags::Auto, payload };
            vec![
                Step::Client { to, client, flags: Flags::Is(SYN), payload: 0 },
                next(0),
                next(0),
                next(0),
                next(payload),
                next(payload / 2),
            ]
        }
        other => vec![other],
    });
    for step in steps {
        let frame = match step {
            Step::Request { cmd, version } => {
                let req = Request { version: version.0, command: cmd.command() };
                // As a client writes it and rvsd reads it: the same request comes back.
                let mut line = Vec::new();
                rvs_proto::write_msg(&mut line, &req).expect("a request is written");
                let back: Request = rvs_proto::read_msg_limited(&mut &line[..], control::MAX_REQUEST)
                    .expect("a written request reads back");
                assert_eq!(back, req, "a request changed on its way through JSON");
                let before = (format!("{reg:?}"), cfg.timeouts, Arc::as_ptr(&cfg.services));
                match control::respond(&mut reg, &mut cfg, back) {
                    Err(e) => {
                        assert!(!e.is_empty(), "a refusal says why");
                        let after = (format!("{reg:?}"), cfg.timeouts, Arc::as_ptr(&cfg.services));
                        assert_eq!(before, after, "a refused request changed something: {e}");
                    }
                    Ok(effect) => {
                        if effect.publish {
                            p.set_config(&cfg);
                            assert!(Arc::ptr_eq(p.snapshot(), &cfg.services));
                            assert_eq!(p.timeouts(), cfg.timeouts);
                        }
                        if !effect.announce.is_empty() {
                            let v4: Vec<Ipv4Addr> = effect
                                .announce
                                .iter()
                                .filter_map(|a| match a {
                                    IpAddr::V4(a) => Some(*a),
                                    IpAddr::V6(_) => None,
                                })
                                .collect();
                            let v6: Vec<Ipv6Addr> = effect
                                .announce
                                .iter()
                                .filter_map(|a| match a {
                                    IpAddr::V6(a) => Some(*a),
                                    IpAddr::V4(_) => None,
                                })
                                .collect();
                            p.announce(&v4, now);
                            p.announce6(&v6, now);
                        }
                        if effect.dump {
                            // Both families' tables, each of `CAPACITY` at most.
                            assert!(p.dump_sessions(now).len() <= 2 * CAPACITY);
                        }
                    }
                }
                control::check(&reg, MAX_SERVICES, MAX_REALS);
                continue;
            }
            Step::Client { to, client, flags, payload } => {
                let (udp, addr) = to.resolve(&reg);
                (0, client_frame(addr, udp, client, flags, payload as usize))
            }
            Step::Answer { which, flags, payload } => {
                if sent.is_empty() {
                    continue;
                }
                let i = sent.len() - 1 - which as usize % sent.len();
                let (port, f) = &sent[i];
                let Some(frame) = answer(f, flags, payload as usize) else { continue };
                (*port, frame)
            }
            Step::Advance { ms } => {
                now = Time((now.0 + u64::from(ms) * 1_000_000).min(LATEST));
                p.poll(now, &mut VecAlloc, &mut out);
                learn(&mut out, &mut sent);
                continue;
            }
            Step::Jump { secs } => {
                now = Time(now.0.saturating_add(u64::from(secs.0) * 1_000_000_000).min(LATEST));
                p.poll(now, &mut VecAlloc, &mut out);
                learn(&mut out, &mut sent);
                continue;
            }
            Step::Connection { .. } => unreachable!("expanded above"),
        };
        let (port, frame) = frame;
        if frame.len() % 2 == 0 {
            let mut burst = vec![frame];
            p.handle_burst(port, &mut burst, now, &mut VecAlloc, &mut out);
        } else {
            p.handle(port, frame, now, &mut VecAlloc, &mut out);
        }
        learn(&mut out, &mut sent);
        assert!(p.sessions().len() <= CAPACITY, "table over capacity");
    }
});
