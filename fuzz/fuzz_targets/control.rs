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
//! same — then answered by rvsd's own control code (`rvs_core::control::ControlState`,
//! which rvsd's control thread wraps), whose workers here are the one pipeline: it takes
//! each configuration published as a worker does (`Pipeline::set_config`), announces what
//! a takeover names, dumps its sessions for a listing, lists and changes its neighbour
//! tables (`rvsadm --neigh`, checked by rvsd's own `runtime_neighbour` against ports that
//! match the pipeline's).
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
use rvs_core::control::{ControlState, Workers};
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
    Cidr, Command, ForwardMethod, Persistence, Protocol, RateLimit, RealSpec, Reply, Request, ResponseResult,
    ServiceKey, ServiceOptions, ServiceSpec, Thresholds, Timeouts, TunnelEncap, PROTO_VERSION,
};

#[path = "common/control.rs"]
mod control;

include!("common/control_input.rs");

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

/// The one worker of the harness, as rvsd's control thread reaches its workers.
struct OneWorker<'a> {
    p: &'a mut Pipeline<Vec<u8>>,
    counters: &'a WorkerCounters,
    now: Time,
}

/// The pipeline's ports as rvsd.toml would configure them, for `runtime_neighbour`.
fn port_config() -> &'static [rvs_core::config::PortConfig] {
    static PORTS: std::sync::OnceLock<Vec<rvs_core::config::PortConfig>> = std::sync::OnceLock::new();
    PORTS.get_or_init(|| {
        let toml = "[dataplane]\nworkers = [1]\n\n\
                    [[port]]\nname = \"client\"\ndevice = \"net_ring0\"\naddresses = [\"198.18.0.1/24\", \"2001:db8:1::1/64\"]\n\n\
                    [[port]]\nname = \"server\"\ndevice = \"net_ring1\"\naddresses = [\"198.19.0.1/24\", \"2001:db8:2::1/64\"]\n";
        rvs_core::config::parse(std::path::Path::new("rvsd.toml"), toml).expect("the harness's ports").ports
    })
}

impl Workers for OneWorker<'_> {
    fn publish(&mut self, config: &Arc<WorkerConfig>) {
        self.p.set_config(config);
        assert!(Arc::ptr_eq(self.p.snapshot(), &config.services));
        assert_eq!(self.p.timeouts(), config.timeouts);
    }

    fn ownership_changed(&mut self, _addrs: &[IpAddr], owned: bool, announce: Vec<IpAddr>) {
        assert!(owned || announce.is_empty(), "a release announces nothing");
        let (mut v4, mut v6): (Vec<Ipv4Addr>, Vec<Ipv6Addr>) = (Vec::new(), Vec::new());
        for a in announce {
            match a {
                IpAddr::V4(a) => v4.push(a),
                IpAddr::V6(a) => v6.push(a),
            }
        }
        self.p.announce(&v4, self.now);
        self.p.announce6(&v6, self.now);
    }

    fn stats(&self) -> Vec<rvs_proto::WorkerStats> {
        vec![self.counters.snapshot(0, 0)]
    }

    fn neighbours(&mut self) -> Result<(Vec<String>, Vec<Vec<rvs_core::neigh::NeighEntry>>), String> {
        Ok((rvs_core::config::interface_names(port_config()), vec![self.p.neighbours()]))
    }

    /// As rvsd's control thread does it, then what the table must show after.
    fn neighbour_change(&mut self, change: &rvs_proto::NeighChange) -> Result<(), String> {
        use rvs_core::neigh::NeighState;
        match change {
            rvs_proto::NeighChange::Add { addr, mac, dev } => {
                let (mac, iface) = rvs_core::config::runtime_neighbour(port_config(), *addr, mac, dev.as_deref())?;
                assert!(iface < 2, "an interface of the two ports: {iface}");
                if !self.p.add_static_neighbour(*addr, mac, iface as u16) {
                    return Err("the neighbour table is full".into());
                }
                assert!(
                    self.p.neighbours().iter().any(|e| e.addr == *addr
                        && e.iface == iface as u16
                        && e.mac == Some(mac)
                        && e.state == NeighState::Permanent),
                    "{addr} pinned and not listed so"
                );
                Ok(())
            }
            rvs_proto::NeighChange::Del { addr, dev } => {
                let iface = match dev {
                    None => None,
                    Some(d) => Some(rvs_core::config::interface_named(port_config(), d)? as u16),
                };
                let removed = self.p.del_neighbour(*addr, iface);
                assert!(
                    !self.p.neighbours().iter().any(|e| e.addr == *addr && iface.is_none_or(|i| e.iface == i)),
                    "{addr} deleted and still listed"
                );
                if removed == 0 {
                    return Err(format!("no neighbour {addr}"));
                }
                Ok(())
            }
            rvs_proto::NeighChange::Flush { dev, nud } => {
                let iface = match dev {
                    None => None,
                    Some(d) => Some(rvs_core::config::interface_named(port_config(), d)? as u16),
                };
                let before = self.p.neighbours().len();
                let removed = self.p.flush_neighbours(iface, *nud);
                let flushed = |e: &rvs_core::neigh::NeighEntry| {
                    iface.is_none_or(|i| e.iface == i)
                        && match nud {
                            rvs_proto::FlushStates::Learned => e.state != NeighState::Permanent,
                            rvs_proto::FlushStates::Permanent => e.state == NeighState::Permanent,
                            rvs_proto::FlushStates::All => true,
                        }
                };
                assert!(!self.p.neighbours().iter().any(flushed), "an entry of the kind flushed is still listed");
                assert_eq!(self.p.neighbours().len(), before - removed, "what a flush counts is what went");
                Ok(())
            }
        }
    }

    fn conns(&mut self) -> Result<Vec<rvs_proto::ConnInfo>, String> {
        let conns = self.p.dump_sessions(self.now);
        // Both families' tables, each of `CAPACITY` at most.
        assert!(conns.len() <= 2 * CAPACITY);
        Ok(conns)
    }
}

fuzz_target!(|input: Input| {
    let (mut ctl, counters) = control::state(MAX_SERVICES, MAX_REALS);
    let mut now = Time::from_secs(1);
    let mut p: Pipeline<Vec<u8>> = Pipeline::new(
        pipeline_config(input.expire_nodest_conn),
        ctl.config().services.clone(),
        counters.clone(),
        now,
    );
    p.set_config(ctl.config());
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
                let seen = |c: &ControlState| {
                    (format!("{:?}", c.registry()), c.config().timeouts, Arc::as_ptr(&c.config().services))
                };
                let before = seen(&ctl);
                let batch = match &back.command {
                    Command::Batch { commands, stop_at_error } => Some((commands.len(), *stop_at_error)),
                    _ => None,
                };
                let mut w = OneWorker { p: &mut p, counters: &counters, now };
                match ctl.respond(back, &mut w) {
                    Err(e) => {
                        assert!(!e.is_empty(), "a refusal says why");
                        assert_eq!(before, seen(&ctl), "a refused request changed something: {e}");
                    }
                    // A batch: one result per command; if all were refused, nothing changed.
                    Ok(Reply::Batch { results }) => {
                        let (n, stop_at_error) = batch.expect("a batch reply to a batch");
                        assert_eq!(results.len(), n, "a result per command of the batch");
                        if stop_at_error {
                            // Nothing applied after the first refusal.
                            let first = results.iter().position(|r| matches!(r, ResponseResult::Error(_)));
                            for r in &results[first.map_or(n, |i| i + 1)..] {
                                assert!(
                                    matches!(r, ResponseResult::Error(e) if e == rvs_proto::NOT_APPLIED),
                                    "applied after a refusal: {r:?}"
                                );
                            }
                        }
                        if results.iter().all(|r| matches!(r, ResponseResult::Error(_))) {
                            assert_eq!(before, seen(&ctl), "a batch of refusals changed something");
                        }
                    }
                    Ok(_) => assert!(batch.is_none(), "a batch answered without its results"),
                }
                control::check(ctl.registry(), MAX_SERVICES, MAX_REALS);
                continue;
            }
            Step::Client { to, client, flags, payload } => {
                let (udp, addr) = to.resolve(ctl.registry());
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
