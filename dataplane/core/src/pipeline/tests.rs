//! Sans-IO tests of the whole pipeline: frames in, frames out, no DPDK.

use super::*;
use crate::frame::VecAlloc;
use crate::route::{Prefix, Route};
use crate::service::Registry;
use crate::stats::Event;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::icmp::Icmpv4Packet;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

pub(crate) const CLIENT_PORT: PortIndex = 0;
pub(crate) const SERVER_PORT: PortIndex = 1;
pub(crate) const LB_C_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub(crate) const LB_S_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub(crate) const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
pub(crate) const RS_MAC: [MacAddr; 3] =
    [MacAddr([2, 0, 0, 0, 2, 11]), MacAddr([2, 0, 0, 0, 2, 12]), MacAddr([2, 0, 0, 0, 2, 13])];

pub(crate) fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub(crate) fn registry() -> Registry {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("198.18.0.100:{port}").parse().unwrap() };
        r.add_service(ServiceSpec {
            options: Default::default(),
            key,
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        })
        .unwrap();
        for i in 11..=13 {
            let real = RealSpec {
                thresholds: Default::default(),
                addr: format!("198.19.0.{i}:{rport}").parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
            };
            r.add_real(&key, real).unwrap();
        }
    }
    r
}

pub(crate) fn config(worker: u16, workers: u16) -> PipelineConfig {
    let mut routes = RouteTable::new();
    routes.add(Route {
        prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(),
        port: CLIENT_PORT,
        gateway: None,
    });
    routes.add(Route {
        prefix: Prefix::new(ip("198.19.0.0"), 24).unwrap(),
        port: SERVER_PORT,
        gateway: None,
    });
    PipelineConfig {
        worker,
        workers,
        ports: vec![
            PortInfo { mac: LB_C_MAC, addrs: vec![(ip("198.18.0.1"), 24)], vlans: vec![], mtu: 1500 },
            PortInfo { mac: LB_S_MAC, addrs: vec![(ip("198.19.0.1"), 24)], vlans: vec![], mtu: 1500 },
        ],
        routes,
        max_sessions: 1000,
        local_port_range: (1025, 65535),
        timeouts: Timeouts { tcp: 900, tcp_fin: 120, udp: 300 },
        neigh: NeighParams::default(),
        cookie_secrets: crate::synproxy::CookieSecrets::new(crate::synproxy::SecretKey::from_bytes([7; 16])),
        synproxy: Default::default(),
        expire_nodest_conn: false,
        exception_path: false,
        steering: Default::default(),
        v6: Default::default(),
        mem_advice: None,
    }
}

pub(crate) fn pipeline(worker: u16, workers: u16) -> Pipeline<Vec<u8>> {
    let counters = Arc::new(WorkerCounters::new(16, 64));
    Pipeline::new(config(worker, workers), Arc::new(registry().snapshot()), counters, Time::ZERO)
}

/// Ethernet + IPv4 headers (valid checksum) in front of `l4_len` zeroed bytes; returns the
/// frame, for the caller to fill the transport header in at `ETH_LEN + 20`.
fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    l4_len: usize,
) -> Vec<u8> {
    let mut b = vec![0u8; ETH_LEN + 20 + l4_len];
    crate::testkit::eth_ip(&mut b, src_mac, dst_mac, src, dst, proto);
    b
}

/// An Ethernet + IPv4 + TCP frame with valid checksums.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_frame(src_mac, dst_mac, src, dst, IpProtocol::TCP, 20 + payload.len());
    let l4 = &mut b[ETH_LEN + 20..];
    l4[20..].copy_from_slice(payload);
    let mut t = TcpPacket::new_unchecked(l4);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_header_len(20);
    t.set_seq_number(1000);
    t.set_flags(flags);
    t.set_window(1000);
    t.fill_checksum(src, dst);
    b
}

pub(crate) fn udp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_frame(src_mac, dst_mac, src, dst, IpProtocol::UDP, 8 + payload.len());
    let l4 = &mut b[ETH_LEN + 20..];
    l4[8..].copy_from_slice(payload);
    let mut u = UdpPacket::new_unchecked(l4);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len((8 + payload.len()) as u16);
    u.fill_checksum(src, dst);
    b
}

pub(crate) fn arp_reply_frame(
    from_mac: MacAddr,
    from_ip: Ipv4Addr,
    to_mac: MacAddr,
    to_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    crate::wire::arp::build_reply(&mut b, from_mac, from_ip, to_mac, to_ip).unwrap();
    b
}

/// Parsed view of a sent TCP/UDP frame: (src mac, dst mac, src, sport, dst, dport).
pub(super) fn endpoints(f: &[u8]) -> (MacAddr, MacAddr, Ipv4Addr, u16, Ipv4Addr, u16) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ipp.verify_checksum(), "ip checksum of output");
    let (sp, dp) = match ipp.protocol() {
        IpProtocol::TCP => {
            let t = TcpPacket::new_checked(ipp.payload()).unwrap();
            assert!(t.verify_checksum(ipp.src_addr(), ipp.dst_addr()), "tcp checksum of output");
            (t.src_port(), t.dst_port())
        }
        _ => {
            let u = UdpPacket::new_checked(ipp.payload()).unwrap();
            assert!(u.verify_checksum(ipp.src_addr(), ipp.dst_addr()), "udp checksum of output");
            (u.src_port(), u.dst_port())
        }
    };
    (eth.src_addr(), eth.dst_addr(), ipp.src_addr(), sp, ipp.dst_addr(), dp)
}

pub(super) struct Harness {
    pub(super) p: Pipeline<Vec<u8>>,
    pub(super) out: Output<Vec<u8>>,
    pub(super) now: Time,
}

impl Harness {
    pub(super) fn new(worker: u16, workers: u16) -> Self {
        Harness {
            p: pipeline(worker, workers),
            out: Output::new(2, workers as usize),
            now: Time::from_secs(1),
        }
    }
    /// A single worker's harness with its own configuration (the real servers' MACs not
    /// learnt yet: `resolve_all`).
    pub(super) fn with_config(cfg: PipelineConfig) -> Self {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        Harness {
            p: Pipeline::new(cfg, Arc::new(registry().snapshot()), counters, Time::ZERO),
            out: Output::new(2, 1),
            now: Time::from_secs(1),
        }
    }
    pub(super) fn rx(&mut self, port: PortIndex, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    pub(super) fn take_tx(&mut self, port: PortIndex) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    pub(super) fn drops(&self, r: DropReason) -> u64 {
        self.p.counters().drop_count(r)
    }
    /// Teaches the pipeline the MACs of the real servers and the client.
    pub(super) fn resolve_all(&mut self) {
        for (i, mac) in RS_MAC.iter().enumerate() {
            let f = arp_reply_frame(*mac, ip(&format!("198.19.0.{}", 11 + i)), LB_S_MAC, ip("198.19.0.200"));
            self.rx(SERVER_PORT, f);
        }
        let f = arp_reply_frame(CLIENT_MAC, ip("198.18.0.10"), LB_C_MAC, ip("198.18.0.1"));
        self.rx(CLIENT_PORT, f);
        self.take_tx(CLIENT_PORT);
        self.take_tx(SERVER_PORT);
    }
}

#[test]
fn arp_request_for_vip_is_answered_and_sender_learned() {
    let mut h = Harness::new(0, 1);
    let mut req = vec![0u8; 60];
    crate::wire::arp::build_request(&mut req, CLIENT_MAC, ip("198.18.0.10"), ip("198.18.0.100")).unwrap();
    h.rx(CLIENT_PORT, req);
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let eth = EthernetFrame::new_checked(&tx[0][..]).unwrap();
    assert_eq!(eth.dst_addr(), CLIENT_MAC);
    assert_eq!(eth.src_addr(), LB_C_MAC);
    let a = ArpPacket::new_checked(eth.payload()).unwrap();
    assert_eq!(a.operation(), ArpOperation::REPLY);
    assert_eq!(a.sender_ip(), ip("198.18.0.100"));
    assert_eq!(a.sender_hw(), LB_C_MAC);
    assert_eq!(h.out.learned, vec![(ip("198.18.0.10"), CLIENT_MAC.0, CLIENT_PORT)]);

    // The LIP is answered on the server side only.
    let mut req = vec![0u8; 60];
    crate::wire::arp::build_request(&mut req, RS_MAC[0], ip("198.19.0.11"), ip("198.19.0.200")).unwrap();
    h.rx(CLIENT_PORT, req.clone());
    assert!(h.take_tx(CLIENT_PORT).is_empty());
    h.rx(SERVER_PORT, req);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);

    // Someone else's address is not ours to answer.
    let mut req = vec![0u8; 60];
    crate::wire::arp::build_request(&mut req, CLIENT_MAC, ip("198.18.0.10"), ip("198.18.0.77")).unwrap();
    h.rx(CLIENT_PORT, req);
    assert!(h.take_tx(CLIENT_PORT).is_empty());
    assert_eq!(h.drops(DropReason::ArpIgnored), 2, "the LIP asked on the client side, and .77");
}

#[test]
fn fullnat_round_trip_with_arp_resolution() {
    let mut h = Harness::new(0, 1);
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    // The real server is unknown: the SYN waits and an ARP request goes out.
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    let eth = EthernetFrame::new_checked(&tx[0][..]).unwrap();
    assert_eq!(eth.ethertype(), EtherType::ARP);
    let a = ArpPacket::new_checked(eth.payload()).unwrap();
    assert_eq!((a.sender_ip(), a.target_ip()), (ip("198.19.0.1"), ip("198.19.0.11")));

    h.rx(SERVER_PORT, arp_reply_frame(RS_MAC[0], ip("198.19.0.11"), LB_S_MAC, ip("198.19.0.1")));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the held SYN is released");
    let (smac, dmac, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((smac, dmac), (LB_S_MAC, RS_MAC[0]));
    assert_eq!((src, dst, dport), (ip("198.19.0.200"), ip("198.19.0.11"), 80));
    let lport = sport;

    // The SYN/ACK comes back to LIP:lport and leaves as VIP:80 → client.
    h.rx(CLIENT_PORT, arp_reply_frame(CLIENT_MAC, ip("198.18.0.10"), LB_C_MAC, ip("198.18.0.1")));
    let synack =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), lport, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, synack);
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let (smac, dmac, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((smac, dmac), (LB_C_MAC, CLIENT_MAC));
    assert_eq!((src, sport, dst, dport), (ip("198.18.0.100"), 80, ip("198.18.0.10"), 40000));

    // The client's ACK establishes the session.
    let ack = tcp_frame(
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        40000,
        ip("198.18.0.100"),
        80,
        TcpFlags::ACK,
        b"hi",
    );
    h.rx(CLIENT_PORT, ack);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
    let conns = h.p.dump_sessions(h.now);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "ESTABLISHED");
    assert_eq!(conns[0].local, format!("198.19.0.200:{lport}").parse().unwrap());
    let c = h.p.counters();
    let slot = h.p.snapshot().services[0].reals[0].slot as usize;
    assert_eq!(c.reals[slot].active.get(), 1);
    assert_eq!(c.reals[slot].inactive.get(), 0);
    assert_eq!(c.reals[slot].traffic.in_pkts.get(), 2);
    assert_eq!(c.reals[slot].traffic.out_pkts.get(), 1);
}

#[test]
fn round_robin_across_real_servers_and_udp() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let mut seen = Vec::new();
    for i in 0..6 {
        let syn = tcp_frame(
            CLIENT_MAC,
            LB_C_MAC,
            ip("198.18.0.10"),
            40000 + i,
            ip("198.18.0.100"),
            80,
            TcpFlags::SYN,
            b"",
        );
        h.rx(CLIENT_PORT, syn);
        let tx = h.take_tx(SERVER_PORT);
        seen.push(endpoints(&tx[0]).4);
    }
    let expect: Vec<_> =
        ["198.19.0.11", "198.19.0.12", "198.19.0.13"].iter().cycle().take(6).map(|s| ip(s)).collect();
    assert_eq!(seen, expect);

    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"query");
    h.rx(CLIENT_PORT, q);
    let tx = h.take_tx(SERVER_PORT);
    let (_, _, src, lport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, dst, dport), (ip("198.19.0.200"), ip("198.19.0.11"), 5353));
    let r = udp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 5353, ip("198.19.0.200"), lport, b"answer");
    h.rx(SERVER_PORT, r);
    let tx = h.take_tx(CLIENT_PORT);
    let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, sport, dst, dport), (ip("198.18.0.100"), 53, ip("198.18.0.10"), 5000));
    assert_eq!(h.p.dump_sessions(h.now).iter().filter(|c| c.state == "UDP").count(), 1);
}

#[test]
fn sessions_expire_and_free_their_ports() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 10, tcp_fin: 3, udp: 5 });
    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"q");
    h.rx(CLIENT_PORT, q);
    assert_eq!(h.p.sessions().len(), 1);
    let mut out = Output::new(2, 1);
    h.p.poll(h.now + std::time::Duration::from_secs(4), &mut VecAlloc, &mut out);
    assert_eq!(h.p.sessions().len(), 1, "not before its timeout");
    h.p.poll(h.now + std::time::Duration::from_secs(6), &mut VecAlloc, &mut out);
    assert_eq!(h.p.sessions().len(), 0);
    assert_eq!(h.p.counters().sessions_expired.get(), 1);
    let slot = h.p.snapshot().services[1].reals[0].slot as usize;
    assert_eq!(h.p.counters().reals[slot].inactive.get(), 0);
}

#[test]
fn reply_for_another_workers_port_is_redirected() {
    let mut h = Harness::new(0, 2);
    h.resolve_all();
    // Port 1027 belongs to worker 1 of 2.
    let r =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), 1027, TcpFlags::ACK, b"");
    h.rx(SERVER_PORT, r);
    assert_eq!(h.out.redirect[1].len(), 1);
    assert_eq!(h.p.counters().redirected_out.get(), 1);
    // Its own port with no session is dropped, not bounced.
    let r =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), 1026, TcpFlags::ACK, b"");
    h.rx(SERVER_PORT, r);
    assert_eq!(h.drops(DropReason::NoSession), 1);
}

#[test]
fn new_sessions_use_only_own_port_partition() {
    let mut h = Harness::new(1, 2);
    h.resolve_all();
    for i in 0..20 {
        let syn = tcp_frame(
            CLIENT_MAC,
            LB_C_MAC,
            ip("198.18.0.10"),
            30000 + i,
            ip("198.18.0.100"),
            80,
            TcpFlags::SYN,
            b"",
        );
        h.rx(CLIENT_PORT, syn);
    }
    for f in h.take_tx(SERVER_PORT) {
        assert_eq!(endpoints(&f).3 % 2, 1);
    }
}

#[test]
fn icmp_echo_to_vip_is_answered() {
    let mut h = Harness::new(0, 1);
    let mut f = vec![0u8; ETH_LEN + 20 + 8 + 4];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(LB_C_MAC);
        eth.set_src_addr(CLIENT_MAC);
        eth.set_ethertype(EtherType::IPV4);
    }
    {
        let mut ipp = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        ipp.set_version(4);
        ipp.set_header_len(20);
        ipp.set_total_len(32);
        ipp.set_ttl(64);
        ipp.set_protocol(IpProtocol::ICMP);
        ipp.set_src_addr(ip("198.18.0.10"));
        ipp.set_dst_addr(ip("198.18.0.100"));
        ipp.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(ipp.payload_mut());
        icmp.set_msg_type(8);
        icmp.set_echo_ident(7);
        icmp.set_echo_seq_no(1);
        icmp.fill_checksum();
    }
    h.rx(CLIENT_PORT, f);
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let eth = EthernetFrame::new_checked(&tx[0][..]).unwrap();
    assert_eq!(eth.dst_addr(), CLIENT_MAC);
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ipp.verify_checksum());
    assert_eq!((ipp.src_addr(), ipp.dst_addr()), (ip("198.18.0.100"), ip("198.18.0.10")));
    let icmp = Icmpv4Packet::new_checked(ipp.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.echo_ident()), (0, 7));
    assert!(icmp.verify_checksum());
}

#[test]
fn malformed_frames_are_dropped_by_reason() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let good = || {
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, TcpFlags::SYN, b"")
    };
    let cases: Vec<(DropReason, Vec<u8>)> = vec![
        (DropReason::Truncated, vec![1, 2, 3]),
        (DropReason::Truncated, good()[..14 + 12].to_vec()),
        (DropReason::UnknownEthertype, {
            let mut f = good();
            f[12] = 0x88;
            f[13] = 0xb5;
            f
        }),
        (DropReason::BadIpHeader, {
            let mut f = good();
            f[14] = 0x44; // IHL 4
            f
        }),
        (DropReason::BadIpHeader, {
            let mut f = good();
            f[16] = 0xff; // total length beyond the frame
            f
        }),
        (DropReason::BadIpChecksum, {
            let mut f = good();
            f[24] ^= 0xff;
            f
        }),
        (DropReason::BadL4Checksum, {
            let mut f = good();
            f[50] ^= 0xff;
            f
        }),
        (DropReason::BadL4Header, {
            let mut f = good();
            f.truncate(14 + 20 + 10);
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_total_len(30);
            ipp.fill_checksum();
            f
        }),
        (DropReason::Fragment, {
            let mut f = good();
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_more_frags(true);
            ipp.fill_checksum();
            f
        }),
        (DropReason::TtlExceeded, {
            let mut f = good();
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_ttl(1);
            ipp.fill_checksum();
            f
        }),
        (
            DropReason::NoService,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40000,
                ip("198.18.0.100"),
                81,
                TcpFlags::SYN,
                b"",
            ),
        ),
        (
            DropReason::NoSession,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40001,
                ip("198.18.0.100"),
                80,
                TcpFlags::ACK,
                b"",
            ),
        ),
        (
            DropReason::NotLocal,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40000,
                ip("198.18.0.99"),
                80,
                TcpFlags::SYN,
                b"",
            ),
        ),
        (
            DropReason::NotForUs,
            tcp_frame(
                CLIENT_MAC,
                MacAddr([2, 9, 9, 9, 9, 9]),
                ip("198.18.0.10"),
                1,
                ip("198.18.0.100"),
                80,
                TcpFlags::SYN,
                b"",
            ),
        ),
    ];
    for (reason, frame) in cases {
        let before = h.drops(reason);
        h.rx(CLIENT_PORT, frame);
        assert_eq!(h.drops(reason), before + 1, "{reason:?}");
        assert!(h.take_tx(SERVER_PORT).is_empty(), "{reason:?} must not be forwarded");
    }
    assert_eq!(h.p.sessions().len(), 0);
}

#[test]
fn syn_on_time_wait_session_starts_a_new_connection() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let c =
        |flags| tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, flags, b"");
    h.rx(CLIENT_PORT, c(TcpFlags::SYN));
    let first = endpoints(&h.take_tx(SERVER_PORT)[0]);
    h.rx(CLIENT_PORT, c(TcpFlags::RST));
    h.take_tx(SERVER_PORT);
    assert_eq!(h.p.dump_sessions(h.now)[0].state, "CLOSE");
    h.rx(CLIENT_PORT, c(TcpFlags::SYN));
    let second = endpoints(&h.take_tx(SERVER_PORT)[0]);
    assert_ne!(first.4, second.4, "rescheduled to the next real server");
    assert_eq!(h.p.sessions().len(), 1);
}

#[test]
fn snapshot_swap_keeps_sessions_flowing() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    let (_, _, _, lport, rip, _) = endpoints(&h.take_tx(SERVER_PORT)[0]);
    let mut r = registry();
    r.clear();
    h.p.set_snapshot(Arc::new(r.snapshot()));
    let reply = tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, ip("198.19.0.200"), lport, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, reply);
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "established flows survive a reload");
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40001, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    assert_eq!(h.drops(DropReason::NotLocal), 1, "the VIP is gone");
}

#[test]
fn local_port_exhaustion_is_counted_and_recovers_on_expiry() {
    let mut cfg = config(0, 1);
    cfg.local_port_range = (2000, 2001);
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 10, tcp_fin: 3, udp: 5 });
    for sport in [5000, 5001, 5002] {
        h.rx(
            CLIENT_PORT,
            udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 53, b"q"),
        );
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 2);
    assert_eq!(h.drops(DropReason::NoLocalAddr), 1, "the third flow finds no local port");
    let mut out = Output::new(2, 1);
    h.p.poll(h.now + std::time::Duration::from_secs(6), &mut VecAlloc, &mut out);
    h.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5002, ip("198.18.0.100"), 53, b"q"));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "expired sessions give their ports back");
}

#[test]
fn arbitrary_frames_never_panic() {
    use proptest::prelude::*;
    let h = std::cell::RefCell::new(Harness::new(0, 2));
    h.borrow_mut().resolve_all();
    let base = tcp_frame(
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        40000,
        ip("198.18.0.100"),
        80,
        TcpFlags::SYN,
        b"xy",
    );
    proptest!(ProptestConfig::with_cases(2000), |(
        flips in proptest::collection::vec((0usize..base.len(), any::<u8>()), 0..8),
        cut in 0usize..=base.len(),
        port in 0u16..2,
        raw in proptest::collection::vec(any::<u8>(), 0..80),
        use_raw in any::<bool>(),
    )| {
        let frame = if use_raw {
            raw
        } else {
            let mut f = base.clone();
            for (i, v) in flips {
                f[i] = v;
            }
            f.truncate(cut);
            f
        };
        let mut h = h.borrow_mut();
        h.rx(port, frame);
        h.out.tx.iter_mut().for_each(|v| v.clear());
        h.out.redirect.iter_mut().for_each(|v| v.clear());
    });
}

pub(super) fn edit_registry(f: impl FnOnce(&mut Registry)) -> Arc<crate::service::Snapshot> {
    let mut r = registry();
    f(&mut r);
    Arc::new(r.snapshot())
}

pub(super) fn tcp_key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

/// Opens a TCP connection from `client:sport` and returns the real server it went to.
pub(super) fn open(h: &mut Harness, client: &str, sport: u16) -> Option<Ipv4Addr> {
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip(client), sport, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    h.take_tx(SERVER_PORT).first().map(|f| endpoints(f).4)
}

#[test]
fn persistence_pins_a_client_and_its_network() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_snapshot(edit_registry(|r| {
        let mut spec = ServiceSpec {
            key: tcp_key(),
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            options: Default::default(),
        };
        spec.options.persistence = Some(rvs_proto::Persistence { timeout: 60, prefix_len: 24 });
        r.edit_service(spec).unwrap();
    }));
    let first = open(&mut h, "198.18.0.10", 1000).unwrap();
    for sport in 1001..1020 {
        assert_eq!(open(&mut h, "198.18.0.10", sport), Some(first), "same client, same server");
    }
    // Same /24: the same template.
    assert_eq!(open(&mut h, "198.18.0.11", 2000), Some(first));
    // Every worker makes the same first choice.
    let mut other = Harness::new(1, 2);
    other.resolve_all();
    other.p.set_snapshot(h.p.snapshot().clone());
    assert_eq!(open(&mut other, "198.18.0.10", 3001), Some(first));
}

#[test]
fn expire_nodest_conn_resets_sessions_of_a_removed_server() {
    let mut cfg = config(0, 1);
    cfg.expire_nodest_conn = true;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    assert_eq!(open(&mut h, "198.18.0.10", 1000), Some(ip("198.19.0.11")));
    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"q");
    h.rx(CLIENT_PORT, q.clone());
    assert_eq!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, ip("198.19.0.11"));
    h.p.set_snapshot(edit_registry(|r| {
        r.del_real(&tcp_key(), "198.19.0.11:80".parse().unwrap()).unwrap();
        let udp = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        r.del_real(&udp, "198.19.0.11:5353".parse().unwrap()).unwrap();
    }));
    // TCP: the client's next segment gets it a RST, and the server one too.
    let data =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 1000, ip("198.18.0.100"), 80, TcpFlags::ACK, b"x");
    h.rx(CLIENT_PORT, data);
    let to_client = h.take_tx(CLIENT_PORT);
    let to_server = h.take_tx(SERVER_PORT);
    assert_eq!(to_client.len(), 1);
    assert_eq!(to_server.len(), 1);
    let flags = |f: &[u8]| TcpPacket::new_checked(&f[ETH_LEN + 20..]).unwrap().flags();
    assert!(flags(&to_client[0]).contains(TcpFlags::RST));
    assert!(flags(&to_server[0]).contains(TcpFlags::RST));
    let (_, _, src, _, dst, _) = endpoints(&to_server[0]);
    assert_eq!((src, dst), (ip("198.19.0.200"), ip("198.19.0.11")));
    // UDP: the next datagram is scheduled afresh.
    h.rx(CLIENT_PORT, q);
    assert_ne!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, ip("198.19.0.11"));
    assert_eq!(h.p.counters().event_count(Event::NoDestExpired), 2);
}

#[test]
fn quiescent_server_gets_no_new_connections_but_keeps_its_sessions() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let first = open(&mut h, "198.18.0.10", 1000).unwrap();
    assert_eq!(first, ip("198.19.0.11"));
    h.p.set_snapshot(edit_registry(|r| {
        let real = RealSpec {
            addr: "198.19.0.11:80".parse().unwrap(),
            weight: 0,
            method: ForwardMethod::FullNat,
            tunnel: None,
            thresholds: Default::default(),
        };
        r.edit_real(&tcp_key(), real).unwrap();
    }));
    for sport in 2000..2030 {
        assert_ne!(open(&mut h, "198.18.0.10", sport), Some(first));
    }
    // The established flow still goes through.
    let ack =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 1000, ip("198.18.0.100"), 80, TcpFlags::ACK, b"x");
    h.rx(CLIENT_PORT, ack);
    assert_eq!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, first);
}

#[test]
fn upper_threshold_caps_connections_until_below_lower() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 900, tcp_fin: 1, udp: 300 });
    h.p.set_snapshot(edit_registry(|r| {
        for (i, w) in [(11, 1), (12, 1), (13, 1)] {
            let upper = if i == 11 { 3 } else { 0 };
            let real = RealSpec {
                addr: format!("198.19.0.{i}:80").parse().unwrap(),
                weight: w,
                method: ForwardMethod::FullNat,
                tunnel: None,
                thresholds: rvs_proto::Thresholds { upper, lower: if i == 11 { 2 } else { 0 } },
            };
            r.edit_real(&tcp_key(), real).unwrap();
        }
    }));
    let mut on_11 = Vec::new();
    for sport in 1000..1030 {
        if open(&mut h, "198.18.0.10", sport) == Some(ip("198.19.0.11")) {
            on_11.push(sport);
        }
    }
    assert_eq!(on_11.len(), 3, "never above the upper threshold");
    // Reset one: 2 left, not below the lower threshold (2): still closed.
    let rst = |sport| {
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, TcpFlags::RST, b"")
    };
    h.rx(CLIENT_PORT, rst(on_11[0]));
    h.take_tx(SERVER_PORT);
    let mut out = Output::new(2, 1);
    h.now = h.now + std::time::Duration::from_secs(3);
    h.p.poll(h.now, &mut VecAlloc, &mut out);
    let more: Vec<_> = (2000..2006).filter_map(|s| open(&mut h, "198.18.0.10", s)).collect();
    assert!(!more.contains(&ip("198.19.0.11")), "2 conns is not below lower=2");
    h.rx(CLIENT_PORT, rst(on_11[1]));
    h.now = h.now + std::time::Duration::from_secs(3);
    h.p.poll(h.now, &mut VecAlloc, &mut out);
    let more: Vec<_> = (3000..3006).filter_map(|s| open(&mut h, "198.18.0.10", s)).collect();
    assert!(more.contains(&ip("198.19.0.11")), "below lower: open again");
}

pub(super) mod extensions {
    use super::*;
    use crate::synproxy::testutil::{build, Seg};
    use crate::wire::tcp::TcpOption;

    pub(in crate::pipeline) const CIP: &str = "198.18.0.10";
    pub(in crate::pipeline) const VIP: &str = "198.18.0.100";

    /// An Ethernet frame around an IPv4 packet built by the synproxy test builder.
    pub(in crate::pipeline) fn frame(src_mac: MacAddr, dst_mac: MacAddr, seg: &Seg<'_>) -> Vec<u8> {
        let ip = build(seg, 0);
        let mut f = vec![0u8; ETH_LEN];
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(dst_mac);
        eth.set_src_addr(src_mac);
        eth.set_ethertype(EtherType::IPV4);
        f.extend_from_slice(&ip);
        f
    }

    pub(in crate::pipeline) fn client(
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let seg = Seg {
            src: ip(CIP),
            dst: ip(VIP),
            sport: 40000,
            dport: 80,
            seq,
            ack,
            flags,
            opts,
            payload,
            ..Default::default()
        };
        frame(CLIENT_MAC, LB_C_MAC, &seg)
    }

    pub(in crate::pipeline) fn server(
        rip: Ipv4Addr,
        lport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let seg = Seg {
            src: rip,
            dst: ip("198.19.0.200"),
            sport: 80,
            dport: lport,
            seq,
            ack,
            flags,
            opts,
            payload,
            ..Default::default()
        };
        frame(RS_MAC[0], LB_S_MAC, &seg)
    }

    pub(in crate::pipeline) fn tcp_view(f: &[u8]) -> TcpPacket<&[u8]> {
        let ipp = Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap();
        let hl = ipp.header_len();
        let total = ipp.total_len() as usize;
        TcpPacket::new_checked(&f[ETH_LEN + hl..ETH_LEN + total]).unwrap()
    }

    pub(in crate::pipeline) fn with_options(h: &mut Harness, f: impl FnOnce(&mut rvs_proto::ServiceOptions)) {
        h.p.set_snapshot(edit_registry(|r| {
            let mut spec = ServiceSpec {
                key: tcp_key(),
                scheduler: "rr".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap()],
                options: Default::default(),
            };
            f(&mut spec.options);
            r.edit_service(spec).unwrap();
        }));
    }

    /// MSS 1460, SACK permitted, timestamps, window scale 7: what Linux sends.
    pub(in crate::pipeline) const SYN_OPTS: [u8; 20] =
        [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 7];

    /// A client's SYN to a SYN-proxied service and its ACK echoing our cookie and
    /// timestamp: the server SYN is on its way. Returns the cookie and the ACK's options.
    pub(in crate::pipeline) fn open_proxied(h: &mut Harness, isn: u32) -> (u32, [u8; 12]) {
        h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        let synack = h.take_tx(CLIENT_PORT).pop().expect("our SYN/ACK");
        let t = tcp_view(&synack);
        let tsval =
            t.iter_options().find_map(|o| if let TcpOption::Timestamps(v, _) = o { Some(v) } else { None });
        let cookie = t.seq_number();
        let mut ts_opts = [1, 1, 8, 10, 0, 0, 0, 101, 0, 0, 0, 0];
        ts_opts[8..12].copy_from_slice(&tsval.expect("timestamps offered").to_be_bytes());
        h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b""));
        (cookie, ts_opts)
    }

    /// The server-side SYN of a SYN-proxied session is resent on a timer, with time
    /// passed in, even when the client stays silent; after the retries the client gets a
    /// RST and the session is gone.
    #[test]
    fn synproxy_server_syn_is_resent_on_a_timer_then_the_client_is_reset() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.syn_proxy = true);
        let isn = 0x2000_0000u32;
        open_proxied(&mut h, isn);
        assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the first server SYN");
        let start = h.now;
        let mut syns = 0;
        for ms in (100..=5000u64).step_by(100) {
            h.now = start + std::time::Duration::from_millis(ms);
            h.p.poll(h.now, &mut VecAlloc, &mut h.out);
            for f in h.take_tx(SERVER_PORT) {
                assert_eq!(tcp_view(&f).flags(), TcpFlags::SYN);
                syns += 1;
            }
        }
        assert_eq!(syns, 3, "resent up to the default 3 retries");
        let rst = h.take_tx(CLIENT_PORT);
        assert_eq!(rst.len(), 1, "then the client is told");
        assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
        assert_eq!(h.p.sessions().len(), 0);
        assert_eq!(h.p.counters().event_count(Event::SynProxyServerReset), 1);
    }

    /// expire_nodest_conn on a PROXY-protocol session: the RST to the server carries the
    /// sequence number the server expects (shifted by the header it was sent), so both
    /// ends are reset, not only the sender.
    #[test]
    fn expire_nodest_resets_both_ends_of_a_proxy_protocol_session() {
        let mut cfg = config(0, 1);
        cfg.expire_nodest_conn = true;
        let mut h = Harness::with_config(cfg);
        h.resolve_all();
        with_options(&mut h, |o| o.proxy_protocol = Some(2));
        let isn = 0x3000_0000u32;
        h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &[], b""));
        let syn = h.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
        let (_, _, _, lport, rip, _) = endpoints(&syn);
        let sisn = 0x7000_0000u32;
        h.rx(SERVER_PORT, server(rip, lport, sisn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &[], b""));
        h.rx(CLIENT_PORT, client(isn + 1, sisn + 1, TcpFlags::ACK, &[], b""));
        h.rx(CLIENT_PORT, client(isn + 1, sisn + 1, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET"));
        let sent = h.take_tx(SERVER_PORT);
        let first = tcp_view(sent.last().unwrap());
        let header = first.payload().len() - 3;
        assert_eq!(header, 28, "a v2 header for IPv4");
        h.take_tx(CLIENT_PORT);
        h.p.set_snapshot(edit_registry(|r| {
            let spec = ServiceSpec {
                key: tcp_key(),
                scheduler: "rr".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap()],
                options: rvs_proto::ServiceOptions { proxy_protocol: Some(2), ..Default::default() },
            };
            r.edit_service(spec).unwrap();
            r.del_real(&tcp_key(), std::net::SocketAddr::new(rip.into(), 80)).unwrap();
        }));
        h.rx(CLIENT_PORT, client(isn + 4, sisn + 1, TcpFlags::ACK | TcpFlags::PSH, &[], b"more"));
        let to_server = h.take_tx(SERVER_PORT);
        assert_eq!(to_server.len(), 1, "the server is reset too");
        let rst = tcp_view(&to_server[0]);
        assert!(rst.flags().contains(TcpFlags::RST));
        assert_eq!(rst.seq_number(), isn + 4 + header as u32, "in the server's sequence space");
        let (_, _, src, sport, dst, _) = endpoints(&to_server[0]);
        assert_eq!((src, sport, dst), (ip("198.19.0.200"), lport, rip));
        assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "and the client");
    }

    /// DPVS's ACK-storm defence: on a SYN-proxied session the opening ACK repeated is
    /// forwarded up to the threshold (10) of repeats, then dropped and counted; an ACK that
    /// moves on passes again.
    #[test]
    fn synproxy_drops_a_storm_of_identical_acks() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.syn_proxy = true);
        let isn = 0x4000_0000u32;
        let (cookie, ts_opts) = open_proxied(&mut h, isn);
        let ssyn = h.take_tx(SERVER_PORT).pop().unwrap();
        let (_, _, _, lport, rip, _) = endpoints(&ssyn);
        h.rx(SERVER_PORT, server(rip, lport, 0x100, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
        assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the held ACK");
        let ack = || client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b"");
        for _ in 0..15 {
            h.rx(CLIENT_PORT, ack());
        }
        assert_eq!(h.take_tx(SERVER_PORT).len(), 10, "10 repeats of the opening ACK");
        assert_eq!(h.drops(DropReason::SynProxyDupAck), 5);
        h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(2), TcpFlags::ACK, &ts_opts, b""));
        assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "a new ACK number passes");
    }

    /// The SYN/ACK of a SYN-proxied service leaves room for what the session adds to
    /// the client's stream, so a full-size segment still fits a 1500-byte MTU after the
    /// PROXY header (v1, v2) and TOA go in.
    #[test]
    fn synproxy_mss_leaves_room_for_proxy_header_and_toa() {
        let mss_of = |f: &[u8]| {
            tcp_view(f).iter_options().find_map(|o| if let TcpOption::Mss(m) = o { Some(m) } else { None })
        };
        for (pp, toa, want) in [
            (None, false, 1452u16),
            (Some(2u8), false, 1460 - 28),
            (Some(1), true, 1460 - 8 - 46),
            (None, true, 1452),
        ] {
            let mut h = Harness::new(0, 1);
            h.resolve_all();
            with_options(&mut h, |o| {
                o.syn_proxy = true;
                o.proxy_protocol = pp;
                o.toa = toa;
            });
            h.rx(CLIENT_PORT, client(7, 0, TcpFlags::SYN, &SYN_OPTS, b""));
            let tx = h.take_tx(CLIENT_PORT);
            assert_eq!(mss_of(&tx[0]), Some(want), "proxy {pp:?} toa {toa}");
        }
    }

    #[test]
    fn synproxy_answers_syns_itself_and_opens_the_server_side_after_the_ack() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.syn_proxy = true);
        let isn = 0x1000_0000u32;
        h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        assert!(h.take_tx(SERVER_PORT).is_empty(), "no SYN reaches a server before the client's ACK");
        assert_eq!(h.p.sessions().len(), 0, "no state for a SYN");
        let tx = h.take_tx(CLIENT_PORT);
        assert_eq!(tx.len(), 1);
        let synack = tcp_view(&tx[0]);
        assert_eq!(synack.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(synack.ack_number(), isn + 1);
        let cookie = synack.seq_number();
        let tsval = synack
            .iter_options()
            .find_map(|o| if let TcpOption::Timestamps(v, _) = o { Some(v) } else { None })
            .expect("timestamps offered");
        assert_eq!(EthernetFrame::new_checked(&tx[0][..]).unwrap().dst_addr(), CLIENT_MAC);

        // A forged ACK gets a RST and no session.
        h.rx(CLIENT_PORT, client(isn + 1, cookie ^ 0x5555, TcpFlags::ACK, &[], b""));
        let rst = h.take_tx(CLIENT_PORT);
        assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
        assert_eq!(h.drops(DropReason::SynProxyBadAck), 1);

        // The real ACK (echoing our timestamp) opens the server side.
        let ts_opts = [
            1,
            1,
            8,
            10,
            0,
            0,
            0,
            101,
            (tsval >> 24) as u8,
            (tsval >> 16) as u8,
            (tsval >> 8) as u8,
            tsval as u8,
        ];
        h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b""));
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tx.len(), 1, "the server SYN");
        let (_, _, src, lport, rip, _) = endpoints(&tx[0]);
        assert_eq!(src, ip("198.19.0.200"));
        let ssyn = tcp_view(&tx[0]);
        assert_eq!(ssyn.flags(), TcpFlags::SYN);
        assert_eq!(ssyn.seq_number(), isn, "the server sees the client's ISN");

        // The server's SYN/ACK is absorbed; the held ACK completes its handshake.
        let server_isn = 0xffff_fff0u32; // across the 2^32 wrap
        h.rx(
            SERVER_PORT,
            server(rip, lport, server_isn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""),
        );
        assert!(h.take_tx(CLIENT_PORT).is_empty(), "the client already had our SYN/ACK");
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tx.len(), 1, "the held ACK");
        // The server repeats its SYN/ACK: still not the client's business.
        h.rx(
            SERVER_PORT,
            server(rip, lport, server_isn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""),
        );
        assert!(h.take_tx(CLIENT_PORT).is_empty(), "a repeated server SYN/ACK never reaches the client");
        let ack = tcp_view(&tx[0]);
        assert_eq!((ack.seq_number(), ack.ack_number()), (isn + 1, server_isn.wrapping_add(1)));

        // Data both ways, sequence numbers translated by the cookie/server ISN delta.
        h.rx(
            CLIENT_PORT,
            client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &ts_opts, b"GET /"),
        );
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tcp_view(&tx[0]).ack_number(), server_isn.wrapping_add(1));
        assert_eq!(tcp_view(&tx[0]).payload(), b"GET /");
        h.rx(
            SERVER_PORT,
            server(
                rip,
                lport,
                server_isn.wrapping_add(1),
                isn + 6,
                TcpFlags::ACK | TcpFlags::PSH,
                &[],
                b"200",
            ),
        );
        let tx = h.take_tx(CLIENT_PORT);
        let data = tcp_view(&tx[0]);
        assert_eq!(data.seq_number(), cookie.wrapping_add(1), "server data continues our SYN/ACK's sequence");
        assert_eq!(data.payload(), b"200");
        let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
        assert_eq!((src, sport, dst, dport), (ip(VIP), 80, ip(CIP), 40000));
        assert_eq!(h.p.counters().event_count(Event::SynProxyAckAccepted), 1);
    }

    #[test]
    fn synproxy_ack_storm_is_not_reflected_and_silent_servers_get_the_client_a_rst() {
        let mut cfg = config(0, 1);
        cfg.synproxy.rst_per_sec = 5;
        cfg.synproxy.syn_retries = 1;
        let mut h = Harness::with_config(cfg);
        h.resolve_all();
        with_options(&mut h, |o| o.syn_proxy = true);
        // 50 ACKs with bad cookies: 5 RSTs, the rest dropped in silence.
        for i in 0..50u32 {
            h.rx(CLIENT_PORT, client(1000 + i, 0xdead_0000 + i, TcpFlags::ACK, &[], b""));
        }
        assert_eq!(h.take_tx(CLIENT_PORT).len(), 5);
        assert_eq!(h.drops(DropReason::SynProxyAckStorm), 45);
        assert_eq!(h.p.sessions().len(), 0);

        // A real handshake whose server never answers.
        let isn = 7000;
        h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &[], b""));
        let cookie = tcp_view(&h.take_tx(CLIENT_PORT)[0]).seq_number();
        let ack = || client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &[], b"GET");
        h.rx(CLIENT_PORT, ack());
        assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "server SYN");
        h.rx(CLIENT_PORT, ack()); // at once: not a retransmission, no second SYN
        assert!(h.take_tx(SERVER_PORT).is_empty());
        h.now = h.now + std::time::Duration::from_secs(1);
        h.rx(CLIENT_PORT, ack()); // the client retransmits: SYN sent again
        assert_eq!(tcp_view(&h.take_tx(SERVER_PORT)[0]).flags(), TcpFlags::SYN);
        h.now = h.now + std::time::Duration::from_secs(2);
        h.rx(CLIENT_PORT, ack()); // retries exhausted: the client gets a RST
        assert!(h.take_tx(SERVER_PORT).is_empty());
        let rst = h.take_tx(CLIENT_PORT);
        assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
        assert_eq!(h.p.sessions().len(), 0);
    }

    #[test]
    fn toa_goes_into_the_first_ack_and_the_server_mss_leaves_room() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.toa = true);
        h.rx(CLIENT_PORT, client(1000, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        let tx = h.take_tx(SERVER_PORT);
        let (_, _, _, lport, rip, _) = endpoints(&tx[0]);
        assert!(crate::toa::find(tcp_view(&tx[0]).options()).is_none(), "not in the SYN");
        h.rx(SERVER_PORT, server(rip, lport, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
        let tx = h.take_tx(CLIENT_PORT);
        let mss =
            tcp_view(&tx[0])
                .iter_options()
                .find_map(|o| if let TcpOption::Mss(m) = o { Some(m) } else { None });
        assert_eq!(mss, Some(1460 - 8));
        h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
        let tx = h.take_tx(SERVER_PORT);
        endpoints(&tx[0]); // checksums verified there
        let toa = crate::toa::find(tcp_view(&tx[0]).options());
        assert_eq!(toa, Some("198.18.0.10:40000".parse().unwrap()));
        // Only the first one.
        h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET"));
        let tx = h.take_tx(SERVER_PORT);
        assert!(crate::toa::find(tcp_view(&tx[0]).options()).is_none());
        assert_eq!(h.p.counters().event_count(Event::ToaInserted), 1);
    }

    #[test]
    fn proxy_protocol_header_precedes_the_first_byte_and_sequences_follow() {
        for version in [1u8, 2] {
            let mut h = Harness::new(0, 1);
            h.resolve_all();
            with_options(&mut h, |o| o.proxy_protocol = Some(version));
            h.rx(CLIENT_PORT, client(1000, 0, TcpFlags::SYN, &SYN_OPTS, b""));
            let tx = h.take_tx(SERVER_PORT);
            let (_, _, _, lport, rip, _) = endpoints(&tx[0]);
            assert_eq!(tcp_view(&tx[0]).seq_number(), 1000, "the SYN is not shifted");
            h.rx(SERVER_PORT, server(rip, lport, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
            assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).ack_number(), 1001);
            h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
            h.take_tx(SERVER_PORT);
            h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET /"));
            let tx = h.take_tx(SERVER_PORT);
            endpoints(&tx[0]);
            let seg = tcp_view(&tx[0]);
            assert_eq!(seg.seq_number(), 1001, "the header sits at the client's first byte");
            let hdr = crate::proxyproto::parse(seg.payload()).unwrap();
            assert_eq!(
                hdr.addrs,
                Some(("198.18.0.10:40000".parse().unwrap(), "198.18.0.100:80".parse().unwrap()))
            );
            assert_eq!(&seg.payload()[hdr.len..], b"GET /");
            let n = hdr.len as u32;
            // The server acknowledges header + request; the client sees only its bytes.
            h.rx(SERVER_PORT, server(rip, lport, 5001, 1006 + n, TcpFlags::ACK, &[], b""));
            assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).ack_number(), 1006);
            // The client's next segment is shifted by the header length.
            h.rx(CLIENT_PORT, client(1006, 5001, TcpFlags::ACK | TcpFlags::FIN, &[], b""));
            assert_eq!(tcp_view(&h.take_tx(SERVER_PORT)[0]).seq_number(), 1006 + n);
        }
    }
}
