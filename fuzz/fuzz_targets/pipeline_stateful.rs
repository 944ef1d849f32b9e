//! Structure-aware, stateful fuzzing of one worker pipeline: each input is a sequence of
//! steps (client segments, server replies that answer what the pipeline really sent,
//! UDP, ICMP errors, ARP, time passing with timers and expiry, snapshot reloads, session
//! sync turned on as on an HA pair's master, with any of its parameters), built
//! as valid frames with correct checksums and then optionally mutated. So the session,
//! NAT, SYN-proxy (cookies answered with the right ACK), TOA and PROXY-protocol code is
//! reached, not only the header checks. Segments carry the TCP options real stacks send
//! (MSS, SACK, timestamps, window scale, a header full of options, a broken option) and
//! payloads up to the MTU, so TOA's insertion (and its no-room case), the MSS clamps and
//! the split of a segment that a PROXY header or TOA would grow past the MTU are reached.
//!
//! Invariants checked, beyond "no panic":
//! * the session table never holds more than its capacity;
//! * while no step was mutated, every IPv4 frame the pipeline sends has a valid IP header
//!   checksum and, for TCP, UDP and ICMP, a valid transport checksum;
//! * every frame sent leaves from the MAC of the port it leaves on.
#![no_main]
use std::net::Ipv4Addr;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline, PipelineConfig, PortInfo};
use rvs_core::route::{Prefix, Route, RouteTable};
use rvs_core::service::{Registry, Snapshot};
use rvs_core::stats::WorkerCounters;
use rvs_core::time::Time;
use rvs_core::wire::icmp::Icmpv4Packet;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::tcp::{TcpFlags, TcpPacket};
use rvs_core::wire::udp::UdpPacket;
use rvs_core::wire::{IpProtocol, MacAddr};
use rvs_proto::{Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec};

const MAC_C: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const MAC_S: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
const RS_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 11]);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
const CAPACITY: usize = 64;

/// Services: plain, SYN proxy + TOA, PROXY v2, SYN proxy + PROXY v1; UDP (with lists and limits
/// in odd variants).
const TCP_PORTS: [u16; 4] = [80, 81, 82, 83];

fn registry(variant: u8) -> Registry {
    let mut reg = Registry::new(16, 64);
    let opts = [
        ServiceOptions::default(),
        ServiceOptions { syn_proxy: true, toa: true, ..Default::default() },
        ServiceOptions { proxy_protocol: Some(2), ..Default::default() },
        ServiceOptions { syn_proxy: true, proxy_protocol: Some(1), ..Default::default() },
    ];
    let mut keys: Vec<ServiceKey> = TCP_PORTS
        .iter()
        .zip(opts)
        .map(|(&port, options)| {
            let key = ServiceKey { protocol: Protocol::Tcp, addr: (VIP, port).into() };
            let spec = ServiceSpec { key, scheduler: "rr".into(), local_addrs: vec![LIP.into()], options };
            reg.add_service(spec).unwrap();
            key
        })
        .collect();
    let udp = ServiceKey { protocol: Protocol::Udp, addr: (VIP, 53).into() };
    // Odd variants give the UDP service a deny list (one of the four clients), a
    // per-source rate and a cap, so reloads switch the admission checks on and off.
    let udp_options = if variant % 2 == 1 {
        ServiceOptions {
            deny: vec!["198.18.0.13".parse().unwrap()],
            source_conn_rate: Some(rvs_proto::RateLimit { rate: 5, burst: 3 }),
            conn_rate: Some(rvs_proto::RateLimit { rate: 50, burst: 10 }),
            max_conns: 8,
            ..Default::default()
        }
    } else {
        ServiceOptions::default()
    };
    reg.add_service(ServiceSpec { key: udp, scheduler: "rr".into(), local_addrs: vec![LIP.into()], options: udp_options })
        .unwrap();
    keys.push(udp);
    // Reloads change the real servers: some removed (expire_nodest_conn), weights moved.
    for key in keys {
        for i in 11..=13u8 {
            if variant % 4 == i % 4 {
                continue;
            }
            let real = RealSpec {
                addr: (Ipv4Addr::new(198, 19, 0, i), key.addr.port()).into(),
                weight: 1 + (variant as u32 % 3),
                method: Default::default(),
                thresholds: Default::default(),
                tunnel: None,
            };
            reg.add_real(&key, real).unwrap();
        }
    }
    reg
}

fn pipeline() -> Pipeline<Vec<u8>> {
    let mut routes = RouteTable::new();
    routes.add(Route { prefix: Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap(), port: 0, gateway: None });
    routes.add(Route { prefix: Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap(), port: 1, gateway: None });
    let cfg = PipelineConfig {
        worker: 0,
        workers: 1,
        ports: vec![
            PortInfo { mac: MAC_C, addrs: vec![(Ipv4Addr::new(198, 18, 0, 1), 24)], vlans: vec![], mtu: 1500 },
            PortInfo { mac: MAC_S, addrs: vec![(Ipv4Addr::new(198, 19, 0, 1), 24)], vlans: vec![], mtu: 1500 },
        ],
        routes,
        max_sessions: CAPACITY,
        local_port_range: (1025, 65535),
        timeouts: rvs_proto::Timeouts { tcp: 30, tcp_fin: 5, udp: 10 },
        neigh: Default::default(),
        cookie_secrets: rvs_core::synproxy::CookieSecrets::new(rvs_core::synproxy::SecretKey::from_bytes([7; 16])),
        synproxy: Default::default(),
        expire_nodest_conn: true,
        exception_path: false,
        steering: Default::default(),
        v6: Default::default(),
        mem_advice: None,
    };
    Pipeline::new(cfg, Arc::new(registry(0).snapshot()), Arc::new(WorkerCounters::new(16, 64)), Time::ZERO)
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Flip { at: u16, xor: u8 },
    Truncate { to: u16 },
}

/// A segment's size and TCP options.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Shape {
    /// Which options ([`OPTIONS`]).
    opts: u8,
    /// A full-size payload (near the MTU) rather than a small one.
    big: bool,
    payload: u8,
}

/// TCP option lists as stacks send them, and two that leave TOA no room or are broken.
const OPTIONS: [&[u8]; 7] = [
    &[],
    // MSS 1460
    &[2, 4, 0x05, 0xb4],
    // Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale 7
    &[2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7],
    // Data segment: NOP, NOP, timestamps
    &[1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1],
    // 40 bytes: timestamps and three SACK blocks (no room for TOA)
    &[1, 1, 8, 10, 0, 0, 0, 3, 0, 0, 0, 1, 1, 1, 5, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6],
    // MSS 536 (below what TOA's clamp may lower) and end of list
    &[2, 4, 0x02, 0x18, 0, 0, 0, 0],
    // A broken option: length 0, then one running past the header
    &[2, 0, 1, 1, 8, 40, 0, 0],
];

impl Shape {
    fn options(&self) -> &'static [u8] {
        OPTIONS[self.opts as usize % OPTIONS.len()]
    }
    fn payload_len(&self) -> usize {
        if self.big {
            1380 + self.payload as usize % 120
        } else {
            self.payload as usize % 64
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A client segment to one of the TCP services. `answer`: acknowledge the last
    /// SYN/ACK the client got (the cookie, under SYN proxy).
    Client { client: u8, sport: u8, service: u8, flags: u8, answer: bool, shape: Shape, mutate: Option<Mutation> },
    /// A real server's segment on a flow the pipeline opened towards it.
    Server { flow: u8, flags: u8, answer: bool, shape: Shape, mutate: Option<Mutation> },
    Udp { client: u8, sport: u8, reply: bool, payload: u8, mutate: Option<Mutation> },
    /// An ICMP error about the last frame sent on a side, quoting `quote` bytes of it.
    IcmpError { to_client_side: bool, code: u8, quote: u8, mtu: u16 },
    Arp { from_server_side: bool, who: u8 },
    Advance { ms: u16 },
    Reload { variant: u8 },
    /// Session sync on (again: the marks start afresh), as on an HA pair's master.
    Sync { threshold: u8, period: u8, refresh_s: u8, retries: u8 },
    /// A whole connection in one step, as real peers make it: the client's SYN (with
    /// `syn_opts`), the server's SYN/ACK to the flow the pipeline opened, the client's ACK
    /// (the cookie's, under SYN proxy), the server's SYN/ACK again (a SYN-proxied session
    /// reaches the server only now), the client's data (`data`: options and size), the
    /// server's answer. Gets every service's extensions (TOA, PROXY header, splits) past
    /// the handshake that random flags rarely complete.
    Connection { client: u8, sport: u8, service: u8, syn_opts: u8, data: Shape },
}

/// The server flow a [`Step::Server`] answers: `LAST_FLOW` is the one opened last.
const LAST_FLOW: u8 = u8::MAX;

/// [`Step::Connection`] as the single steps it is made of.
fn connection(client: u8, sport: u8, service: u8, syn_opts: u8, data: Shape) -> [Step; 6] {
    let (syn, ack, psh) = (0x02, 0x10, 0x08);
    let small = Shape { opts: 0, big: false, payload: 0 };
    let client_step = |flags, answer, shape| Step::Client { client, sport, service, flags, answer, shape, mutate: None };
    let server_step = |flags, shape| Step::Server { flow: LAST_FLOW, flags, answer: true, shape, mutate: None };
    [
        client_step(syn, false, Shape { opts: syn_opts, big: false, payload: 0 }),
        server_step(syn | ack, Shape { opts: syn_opts, ..small }),
        client_step(ack, true, small),
        server_step(syn | ack, Shape { opts: syn_opts, ..small }),
        client_step(psh | ack, true, data),
        server_step(psh | ack, Shape { opts: 3, big: false, payload: 40 }),
    ]
}

/// What the harness learned from the pipeline's output, to answer like real peers.
#[derive(Default)]
struct Peers {
    /// Server-side flows (RIP, rport, LIP, lport) with the last seq/ack they saw.
    server_flows: Vec<(Ipv4Addr, u16, Ipv4Addr, u16, u32, u32)>,
    /// The last SYN/ACK (or segment) each client flow got: (client, cport, vport) -> seq, ack.
    client_seen: Vec<((Ipv4Addr, u16, u16), u32, u32)>,
    last_to_client: Vec<u8>,
    last_to_server: Vec<u8>,
}

fn tcp(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8, seq: u32, ack: u32, shape: Shape) -> Vec<u8> {
    let opts = shape.options();
    let hl = 20 + opts.len().div_ceil(4) * 4;
    let mut b = vec![0u8; 14 + 20 + hl + shape.payload_len()];
    rvs_core::testkit::eth_ip(&mut b, src_mac, dst_mac, src, dst, IpProtocol::TCP);
    b[54..54 + opts.len()].copy_from_slice(opts);
    for (i, x) in b[54 + hl - 20..].iter_mut().enumerate() {
        *x = i as u8;
    }
    let mut t = TcpPacket::new_unchecked(&mut b[34..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_header_len(hl);
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.set_flags(TcpFlags(flags));
    t.set_window(65535);
    t.fill_checksum(src, dst);
    b
}

fn mutate(f: &mut Vec<u8>, m: &Option<Mutation>) -> bool {
    match m {
        None => false,
        Some(Mutation::Flip { at, xor }) => {
            if !f.is_empty() {
                let i = *at as usize % f.len();
                f[i] ^= xor;
            }
            true
        }
        Some(Mutation::Truncate { to }) => {
            f.truncate(*to as usize);
            true
        }
    }
}

/// Checks one frame the pipeline sends out of `port`.
fn check_sent(f: &[u8], port: usize, strict: bool) {
    let mac = if port == 0 { MAC_C } else { MAC_S };
    assert_eq!(&f[6..12], &mac.0, "a frame leaves with its port's MAC");
    if !strict || f.len() < 34 || f[12..14] != [8, 0] {
        return;
    }
    let ip = Ipv4Packet::new_checked(&f[14..]).expect("a valid IPv4 header");
    assert!(ip.verify_checksum(), "IP checksum of a sent frame");
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.more_frags() || ip.frag_offset() != 0 {
        // A fragment (a segment the PROXY header grew past the MTU, DF clear): its L4
        // checksum covers the whole datagram, which only the end host reassembles.
        return;
    }
    match ip.protocol() {
        IpProtocol::TCP => assert!(TcpPacket::new_checked(ip.payload()).unwrap().verify_checksum(src, dst), "TCP checksum"),
        IpProtocol::UDP => assert!(UdpPacket::new_checked(ip.payload()).unwrap().verify_checksum(src, dst), "UDP checksum"),
        IpProtocol::ICMP => assert!(Icmpv4Packet::new_checked(ip.payload()).unwrap().verify_checksum(), "ICMP checksum"),
        _ => {}
    }
}

fn learn(peers: &mut Peers, out: &mut Output<Vec<u8>>, strict: bool) {
    for (port, frames) in out.tx.iter_mut().enumerate() {
        for f in frames.drain(..) {
            check_sent(&f, port, strict);
            let Ok(ip) = Ipv4Packet::new_checked(f.get(14..).unwrap_or(&[])) else { continue };
            if ip.protocol() == IpProtocol::TCP {
                if let Ok(t) = TcpPacket::new_checked(ip.payload()) {
                    let (seq, ack) = (t.seq_number(), t.ack_number());
                    if port == 1 {
                        let key = (ip.dst_addr(), t.dst_port(), ip.src_addr(), t.src_port());
                        peers.server_flows.retain(|x| (x.0, x.1, x.2, x.3) != key);
                        peers.server_flows.push((key.0, key.1, key.2, key.3, seq, ack));
                        peers.server_flows.truncate(16);
                    } else {
                        let key = (ip.dst_addr(), t.dst_port(), t.src_port());
                        peers.client_seen.retain(|x| x.0 != key);
                        peers.client_seen.push((key, seq, ack));
                    }
                }
            }
            if port == 0 {
                peers.last_to_client = f;
            } else {
                peers.last_to_server = f;
            }
        }
    }
    out.redirect.iter_mut().for_each(Vec::clear);
    out.learned.clear();
    out.synced.clear();
    out.kernel.clear();
}

fuzz_target!(|steps: Vec<Step>| {
    let mut p = pipeline();
    let mut out = Output::new(2, 1);
    let mut now = Time::from_secs(1);
    let mut peers = Peers::default();
    let mut strict = true;
    // Neighbours first, as a live network has them.
    let arp = |mac, ip, to_mac, to_ip| rvs_core::testkit::arp_reply(mac, ip, to_mac, to_ip);
    p.handle(0, arp(CLIENT_MAC, Ipv4Addr::new(198, 18, 0, 10), MAC_C, Ipv4Addr::new(198, 18, 0, 1)), now, &mut VecAlloc, &mut out);
    for i in 11..=13 {
        p.handle(1, arp(RS_MAC, Ipv4Addr::new(198, 19, 0, i), MAC_S, Ipv4Addr::new(198, 19, 0, 1)), now, &mut VecAlloc, &mut out);
    }
    learn(&mut peers, &mut out, strict);
    let steps: Vec<Step> = steps
        .into_iter()
        .take(64)
        .flat_map(|step| match step {
            Step::Connection { client, sport, service, syn_opts, data } => {
                connection(client, sport, service, syn_opts, data).into_iter().collect::<Vec<_>>()
            }
            other => vec![other],
        })
        .collect();
    for step in steps.iter() {
        let (port, mut frame, m) = match step {
            Step::Client { client, sport, service, flags, answer, shape, mutate } => {
                let c = Ipv4Addr::new(198, 18, 0, 10 + client % 4);
                let (cport, vport) = (40000 + (*sport % 8) as u16, TCP_PORTS[*service as usize % 4]);
                let (seq, ack) = match peers.client_seen.iter().find(|x| x.0 == (c, cport, vport)) {
                    Some(&(_, s, a)) if *answer => (a, s.wrapping_add(1)),
                    _ => (1000, 0),
                };
                (0, tcp(CLIENT_MAC, MAC_C, c, cport, VIP, vport, *flags, seq, ack, *shape), mutate)
            }
            Step::Server { flow, flags, answer, shape, mutate } => {
                if peers.server_flows.is_empty() {
                    continue;
                }
                let n = peers.server_flows.len();
                let i = if *flow == LAST_FLOW { n - 1 } else { *flow as usize % n };
                let (rip, rport, lip, lport, s, a) = peers.server_flows[i];
                let (seq, ack) = if *answer { (a, s.wrapping_add(1)) } else { (5000, s) };
                (1, tcp(RS_MAC, MAC_S, rip, rport, lip, lport, *flags, seq, ack, *shape), mutate)
            }
            Step::Udp { client, sport, reply, payload, mutate } => {
                let mut b = Vec::new();
                if *reply {
                    let Some(f) = (!peers.last_to_server.is_empty()).then(|| peers.last_to_server.clone()) else { continue };
                    let Ok(ip) = Ipv4Packet::new_checked(&f[14..]) else { continue };
                    if ip.protocol() != IpProtocol::UDP || ip.payload().len() < 8 {
                        continue;
                    }
                    let u = UdpPacket::new_unchecked(ip.payload());
                    rvs_core::testkit::udp_frame_into(&mut b, RS_MAC, MAC_S, ip.dst_addr(), u.dst_port(), ip.src_addr(), u.src_port(), *payload as usize % 64);
                    (1, b, mutate)
                } else {
                    let c = Ipv4Addr::new(198, 18, 0, 10 + client % 4);
                    rvs_core::testkit::udp_frame_into(&mut b, CLIENT_MAC, MAC_C, c, 30000 + *sport as u16, VIP, 53, *payload as usize % 64);
                    (0, b, mutate)
                }
            }
            Step::IcmpError { to_client_side, code, quote, mtu } => {
                let about = if *to_client_side { &peers.last_to_client } else { &peers.last_to_server };
                if about.len() < 34 {
                    continue;
                }
                let ip = &about[14..];
                let q = &ip[..(*quote as usize).min(ip.len())];
                let (from, to_ip) = (Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]), Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
                let mut f = vec![0u8; 14 + 28 + q.len()];
                f[42..].copy_from_slice(q);
                let (mac, ours, port) = if *to_client_side { (CLIENT_MAC, MAC_C, 0) } else { (RS_MAC, MAC_S, 1) };
                rvs_core::testkit::eth_ip(&mut f, mac, ours, from, to_ip, IpProtocol::ICMP);
                let mut icmp = Icmpv4Packet::new_unchecked(&mut f[34..]);
                icmp.set_msg_type(if code % 2 == 0 { 3 } else { 11 });
                icmp.set_code(code % 16);
                icmp.set_next_hop_mtu(*mtu);
                icmp.fill_checksum();
                (port, f, &None)
            }
            Step::Arp { from_server_side, who } => {
                let (port, mac, ours, ip, our_ip) = if *from_server_side {
                    (1, RS_MAC, MAC_S, Ipv4Addr::new(198, 19, 0, 11 + who % 3), Ipv4Addr::new(198, 19, 0, 1))
                } else {
                    (0, CLIENT_MAC, MAC_C, Ipv4Addr::new(198, 18, 0, 10 + who % 4), Ipv4Addr::new(198, 18, 0, 1))
                };
                (port, arp(mac, ip, ours, our_ip), &None)
            }
            Step::Advance { ms } => {
                now = Time(now.0 + *ms as u64 * 10_000_000);
                p.poll(now, &mut VecAlloc, &mut out);
                learn(&mut peers, &mut out, strict);
                continue;
            }
            Step::Reload { variant } => {
                let snap: Snapshot = registry(*variant).snapshot();
                p.set_snapshot(Arc::new(snap));
                continue;
            }
            Step::Sync { threshold, period, refresh_s, retries } => {
                let params = rvs_core::sync::SyncParams {
                    threshold: *threshold as u32 % 8,
                    period: *period as u32 % 8,
                    refresh_period: std::time::Duration::from_secs(*refresh_s as u64 % 4),
                    ..Default::default()
                }
                .with_retries(*retries);
                p.enable_sync(params, now);
                continue;
            }
            Step::Connection { .. } => unreachable!("expanded above"),
        };
        if mutate(&mut frame, m) {
            strict = false;
        }
        if frame.len() % 3 == 0 {
            let mut burst = vec![frame];
            p.handle_burst(port, &mut burst, now, &mut VecAlloc, &mut out);
        } else {
            p.handle(port, frame, now, &mut VecAlloc, &mut out);
        }
        learn(&mut peers, &mut out, strict);
        assert!(p.sessions().len() <= CAPACITY, "table over capacity");
    }
});
