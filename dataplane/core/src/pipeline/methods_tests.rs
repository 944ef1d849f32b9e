//! NAT, DR and TUN through the whole pipeline: the rewrite (or its absence) on the wire,
//! the input-only state of DR/TUN sessions, the tunnel's MTU answer, and golden pcaps of
//! each method (`dr_tcp`, `ipip_tcp`, `nat_tcp`; see `golden.rs`).

use super::golden::{at, run_case_with};
use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::service::Registry;
use crate::wire::icmp::Icmpv4Packet;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Persistence, Protocol, RealSpec, ServiceKey, ServiceSpec};

pub(super) const VIP: &str = "198.18.0.100";

/// VIP:80/tcp (rr) over rs1..rs3, all with method `m`, and no local address.
pub(super) fn registry_with(m: ForwardMethod, persistence: Option<Persistence>) -> Registry {
    let mut r = Registry::new(16, 64);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:80").parse().unwrap() };
    let mut spec =
        ServiceSpec { options: Default::default(), key, scheduler: "rr".into(), local_addrs: vec![] };
    spec.options.persistence = persistence;
    r.add_service(spec).unwrap();
    for i in 11..=13 {
        let addr = format!("198.19.0.{i}:80").parse().unwrap();
        r.add_real(
            &key,
            RealSpec { thresholds: Default::default(), addr, weight: 1, method: m, tunnel: None },
        )
        .unwrap();
    }
    r
}

fn pipeline_with(m: ForwardMethod) -> Pipeline<Vec<u8>> {
    let counters = Arc::new(WorkerCounters::new(16, 64));
    Pipeline::new(config(0, 1), Arc::new(registry_with(m, None).snapshot()), counters, Time::ZERO)
}

struct H {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
}

impl H {
    fn new(p: Pipeline<Vec<u8>>) -> Self {
        let mut h = H { p, out: Output::new(2, 1), now: Time::from_secs(1) };
        // The neighbours are known: the client and the three real servers.
        h.rx(CLIENT_PORT, arp_reply_frame(CLIENT_MAC, ip("198.18.0.10"), LB_C_MAC, ip("198.18.0.1")));
        for (i, mac) in RS_MAC.iter().enumerate() {
            h.rx(
                SERVER_PORT,
                arp_reply_frame(*mac, ip(&format!("198.19.0.{}", 11 + i)), LB_S_MAC, ip("198.19.0.1")),
            );
        }
        h
    }
    fn rx(&mut self, port: PortIndex, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    fn tx(&mut self, port: PortIndex) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    fn client(&mut self, sport: u16, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        let f = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip(VIP), 80, flags, payload);
        self.rx(CLIENT_PORT, f.clone());
        f
    }
}

/// The index of the real server a frame sent to the server port went to (by MAC).
fn rs_of(f: &[u8]) -> usize {
    RS_MAC.iter().position(|m| f[0..6] == m.0).expect("to a real server's MAC")
}

#[test]
fn dr_sends_the_ip_packet_unchanged_to_the_servers_mac() {
    let mut h = H::new(pipeline_with(ForwardMethod::DirectRoute));
    let mut seen = [0usize; 3];
    for sport in 40000..40006 {
        let sent = h.client(sport, TcpFlags::SYN, b"");
        let out = h.tx(SERVER_PORT);
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f[6..12], LB_S_MAC.0, "from our server port");
        assert_eq!(f[12..], sent[12..], "ethertype and the whole IP packet untouched (TTL too)");
        seen[rs_of(f)] += 1;
    }
    assert_eq!(seen, [2, 2, 2], "rr over the three");
    // The handshake completes from the client's side alone.
    h.client(40000, TcpFlags::ACK, b"");
    let f = h.tx(SERVER_PORT).pop().unwrap();
    assert_eq!(rs_of(&f), 0, "the session's server, through the cached hop");
    let conns = h.p.dump_sessions(h.now);
    let c = conns.iter().find(|c| c.client.port() == 40000).unwrap();
    assert_eq!(c.state, "ESTABLISHED");
    assert_eq!(c.local, "0.0.0.0:0".parse().unwrap(), "no local address");
    assert_eq!(c.real, "198.19.0.11:80".parse().unwrap());
    let counters = h.p.counters().clone();
    let r = &counters.reals[h.p.snapshot().services[0].reals[0].slot as usize];
    assert_eq!((r.active.get(), r.inactive.get()), (1, 1));
    assert_eq!(r.traffic.in_pkts.get(), 3);
    assert_eq!(r.traffic.out_pkts.get(), 0, "replies never come through us");
    // FIN from the client: FIN_WAIT with the tcpfin timeout, as IPVS's input-only table.
    h.client(40000, TcpFlags(0x11), b"");
    let c = h.p.dump_sessions(h.now).into_iter().find(|c| c.client.port() == 40000).unwrap();
    assert_eq!((c.state.as_str(), c.expires_in), ("FIN_WAIT", 120));
    assert_eq!((r.active.get(), r.inactive.get()), (0, 2));
    // A DR server's reply routed through us is not ours to forward.
    let reply =
        tcp_frame(RS_MAC[1], LB_S_MAC, ip("198.19.0.12"), 80, ip("198.18.0.10"), 40001, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, reply);
    assert!(h.tx(CLIENT_PORT).is_empty());
    assert_eq!(h.p.counters().drop_count(DropReason::ReplyBypassed), 1);
}

#[test]
fn dr_keeps_persistence_and_strips_ethernet_padding() {
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let reg = registry_with(ForwardMethod::DirectRoute, Some(Persistence { timeout: 50, prefix_len: 32 }));
    let mut h = H::new(Pipeline::new(config(0, 1), Arc::new(reg.snapshot()), counters, Time::ZERO));
    let mut servers = std::collections::BTreeSet::new();
    for sport in 41000..41010 {
        let mut f =
            tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip(VIP), 80, TcpFlags::SYN, b"");
        f.resize(f.len() + 6, 0xee); // padding after the IP packet
        h.rx(CLIENT_PORT, f);
        let out = h.tx(SERVER_PORT).pop().unwrap();
        assert_eq!(out.len(), 14 + 40, "padding dropped");
        servers.insert(rs_of(&out));
    }
    assert_eq!(servers.len(), 1, "one client, one server: {servers:?}");
}

#[test]
fn dr_session_of_a_removed_server_ends_with_expire_nodest_conn() {
    let mut cfg = config(0, 1);
    cfg.expire_nodest_conn = true;
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut reg = registry_with(ForwardMethod::DirectRoute, None);
    let mut h = H::new(Pipeline::new(cfg, Arc::new(reg.snapshot()), counters, Time::ZERO));
    h.client(42000, TcpFlags::SYN, b"");
    assert_eq!(rs_of(&h.tx(SERVER_PORT)[0]), 0);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:80").parse().unwrap() };
    reg.del_real(&key, "198.19.0.11:80".parse().unwrap()).unwrap();
    h.p.set_snapshot(Arc::new(reg.snapshot()));
    h.client(42000, TcpFlags::ACK, b"");
    assert!(h.tx(SERVER_PORT).is_empty(), "no session: a mid-connection ACK goes nowhere");
    assert_eq!(h.p.counters().drop_count(DropReason::NoSession), 1);
    h.client(42000, TcpFlags::SYN, b"");
    assert_ne!(rs_of(&h.tx(SERVER_PORT)[0]), 0, "a new connection goes to a server that is there");
}

#[test]
fn tun_wraps_the_packet_in_ipip_from_the_director() {
    let mut h = H::new(pipeline_with(ForwardMethod::Tunnel));
    let sent = h.client(43000, TcpFlags::SYN, b"");
    let f = h.tx(SERVER_PORT).pop().unwrap();
    assert_eq!(f[0..6], RS_MAC[0].0);
    let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert!(outer.verify_checksum());
    assert_eq!(outer.protocol(), IpProtocol(4));
    assert_eq!(outer.src_addr(), ip("198.19.0.1"), "the director's address towards the server");
    assert_eq!(outer.dst_addr(), ip("198.19.0.11"));
    assert_eq!(outer.total_len() as usize, 20 + sent.len() - 14);
    assert_eq!(outer.ttl(), 64);
    assert_eq!(outer.payload(), &sent[14..], "the client's packet inside, untouched");
}

/// A full-size segment with DF: 1500 bytes of IP that no longer fit once wrapped.
fn big_df_segment(sport: u16) -> Vec<u8> {
    let mut f =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip(VIP), 80, TcpFlags(0x18), &[7u8; 1460]);
    let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
    ipp.set_dont_frag(true);
    ipp.fill_checksum();
    f
}

#[test]
fn tun_answers_too_big_with_frag_needed_and_the_mtu_minus_20() {
    let mut h = H::new(pipeline_with(ForwardMethod::Tunnel));
    h.client(43001, TcpFlags::SYN, b"");
    h.tx(SERVER_PORT);
    let big = big_df_segment(43001);
    h.rx(CLIENT_PORT, big.clone());
    assert!(h.tx(SERVER_PORT).is_empty(), "not sent, not fragmented");
    let icmp_frame = h.tx(CLIENT_PORT).pop().expect("an ICMP error to the client");
    assert_eq!(icmp_frame[0..6], CLIENT_MAC.0);
    let ipp = Ipv4Packet::new_checked(&icmp_frame[14..]).unwrap();
    assert!(ipp.verify_checksum());
    assert_eq!((ipp.src_addr(), ipp.dst_addr()), (ip("198.18.0.1"), ip("198.18.0.10")));
    let icmp = Icmpv4Packet::new_checked(ipp.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()), (3, 4, 1480));
    assert_eq!(icmp.payload(), &big[14..14 + 28], "the offending header and 8 bytes of TCP");
    assert_eq!(h.p.counters().drop_count(DropReason::TunTooBig), 1);
    // A 1480-byte packet fits exactly.
    let mut fits =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 43001, ip(VIP), 80, TcpFlags(0x18), &[7u8; 1440]);
    let mut ipp = Ipv4Packet::new_unchecked(&mut fits[14..]);
    ipp.set_dont_frag(true);
    ipp.fill_checksum();
    h.rx(CLIENT_PORT, fits);
    let f = h.tx(SERVER_PORT).pop().unwrap();
    assert_eq!(f.len(), 14 + 1500);
    assert_eq!(f[14 + 6] & 0x40, 0x40, "DF copied to the outer header");
}

/// The tunnel's room follows the MTU of the port towards the real servers: 1400 there
/// leaves 1380 for the client's packets; jumbo frames (9000) take full-size ones whole.
#[test]
fn tun_mtu_is_the_server_ports() {
    for (port_mtu, fits, answer) in [(1400u16, false, Some(1380u16)), (9000, true, None)] {
        let mut cfg = config(0, 1);
        cfg.ports[SERVER_PORT as usize].mtu = port_mtu;
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let reg = registry_with(ForwardMethod::Tunnel, None);
        let mut h = H::new(Pipeline::new(cfg, Arc::new(reg.snapshot()), counters, Time::ZERO));
        h.client(43002, TcpFlags::SYN, b"");
        h.tx(SERVER_PORT);
        h.rx(CLIENT_PORT, big_df_segment(43002));
        assert_eq!(h.tx(SERVER_PORT).len(), usize::from(fits), "port MTU {port_mtu}");
        let mtu = h.tx(CLIENT_PORT).pop().map(|f| {
            let ipp = Ipv4Packet::new_checked(&f[14..]).unwrap();
            Icmpv4Packet::new_checked(ipp.payload()).unwrap().next_hop_mtu()
        });
        assert_eq!(mtu, answer, "port MTU {port_mtu}");
    }
}

/// TUN over GUE (`--tun-type gue --tun-port 6080`): outer IPv4 (protocol UDP) from the
/// director, UDP to port 6080 without checksum, then the client's IP packet unchanged; the
/// source port is the same for every packet of the flow; 28 bytes of room taken.
#[test]
fn tun_gue_wraps_the_packet_in_udp_to_the_servers_port() {
    let mut r = registry_with(ForwardMethod::Tunnel, None);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:80").parse().unwrap() };
    for i in 11..=13 {
        let addr = format!("198.19.0.{i}:80").parse().unwrap();
        let tunnel = Some(rvs_proto::TunnelEncap { port: 6080 });
        let spec = RealSpec {
            thresholds: Default::default(),
            addr,
            weight: 1,
            method: ForwardMethod::Tunnel,
            tunnel,
        };
        r.edit_real(&key, spec).unwrap();
    }
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut h = H::new(Pipeline::new(config(0, 1), Arc::new(r.snapshot()), counters, Time::ZERO));
    let mut sports = Vec::new();
    for flags in [TcpFlags::SYN, TcpFlags::ACK] {
        let sent = h.client(43100, flags, b"data");
        let f = h.tx(SERVER_PORT).pop().expect("sent to the real server");
        assert_eq!(f[0..6], RS_MAC[0].0);
        let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(outer.verify_checksum());
        assert_eq!(
            (outer.src_addr(), outer.dst_addr(), outer.protocol(), outer.total_len() as usize),
            (ip("198.19.0.1"), ip("198.19.0.11"), IpProtocol::UDP, 28 + sent.len() - 14)
        );
        let udp = &outer.payload()[..8];
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 6080);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, 8 + sent.len() - 14);
        assert_eq!(udp[6..8], [0, 0], "no UDP checksum");
        sports.push(u16::from_be_bytes([udp[0], udp[1]]));
        assert_eq!(&outer.payload()[8..], &sent[14..], "the client's packet, unchanged");
    }
    assert!(sports[0] >= 49152 && sports[0] == sports[1], "{sports:?}");
    // 1460 bytes of TCP (a 1500-byte packet) no longer fit: MTU 1500 - 28.
    h.rx(CLIENT_PORT, big_df_segment(43100));
    let icmp_frame = h.tx(CLIENT_PORT).pop().expect("frag needed");
    let ipp = Ipv4Packet::new_checked(&icmp_frame[14..]).unwrap();
    assert_eq!(Icmpv4Packet::new_checked(ipp.payload()).unwrap().next_hop_mtu(), 1472);
}

#[test]
fn nat_rewrites_the_destination_and_the_replys_source() {
    let mut h = H::new(pipeline_with(ForwardMethod::Nat));
    h.client(44000, TcpFlags::SYN, b"");
    let f = h.tx(SERVER_PORT).pop().unwrap();
    let (smac, dmac, src, sport, dst, dport) = endpoints(&f);
    assert_eq!((smac, dmac), (LB_S_MAC, RS_MAC[0]));
    assert_eq!(
        (src, sport, dst, dport),
        (ip("198.18.0.10"), 44000, ip("198.19.0.11"), 80),
        "the client's address kept"
    );
    assert_eq!(f[14 + 8], 63, "TTL decremented: NAT routes");
    // The server's reply, through us (its default route), back from the VIP.
    let reply =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.18.0.10"), 44000, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, reply);
    let f = h.tx(CLIENT_PORT).pop().expect("reply forwarded");
    let (smac, dmac, src, sport, dst, dport) = endpoints(&f);
    assert_eq!((smac, dmac), (LB_C_MAC, CLIENT_MAC));
    assert_eq!((src, sport, dst, dport), (ip(VIP), 80, ip("198.18.0.10"), 44000));
    h.client(44000, TcpFlags::ACK, b"");
    let c = h.p.dump_sessions(h.now).pop().unwrap();
    assert_eq!((c.state.as_str(), c.local), ("ESTABLISHED", "0.0.0.0:0".parse().unwrap()));
    let r = &h.p.counters().reals[h.p.snapshot().services[0].reals[0].slot as usize];
    assert_eq!((r.traffic.in_pkts.get(), r.traffic.out_pkts.get()), (2, 1));
}

#[test]
fn mixed_methods_in_one_service() {
    let mut r = registry_with(ForwardMethod::DirectRoute, None);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:80").parse().unwrap() };
    for (i, m) in [(12, ForwardMethod::Tunnel), (13, ForwardMethod::Nat)] {
        let addr = format!("198.19.0.{i}:80").parse().unwrap();
        r.edit_real(
            &key,
            RealSpec { thresholds: Default::default(), addr, weight: 1, method: m, tunnel: None },
        )
        .unwrap();
    }
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut h = H::new(Pipeline::new(config(0, 1), Arc::new(r.snapshot()), counters, Time::ZERO));
    let mut protos = Vec::new();
    for sport in 45000..45003 {
        h.client(sport, TcpFlags::SYN, b"");
        let f = h.tx(SERVER_PORT).pop().unwrap();
        protos.push((rs_of(&f), f[14 + 9], Ipv4Packet::new_unchecked(&f[14..]).dst_addr()));
    }
    assert_eq!(
        protos,
        [(0, 6, ip(VIP)), (1, 4, ip("198.19.0.12")), (2, 6, ip("198.19.0.13"))],
        "DR keeps the VIP, TUN wraps, NAT rewrites"
    );
}

/// A DR connection: SYN (the server's MAC resolved by ARP on the way), ACK, request, FIN.
#[test]
fn golden_dr_tcp() {
    run_case_with(
        "dr_tcp",
        || pipeline_with(ForwardMethod::DirectRoute),
        || {
            let (c, v, rip) = (ip("198.18.0.10"), ip(VIP), ip("198.19.0.11"));
            vec![
                (at(1), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::SYN, b"")),
                (at(2), arp_reply_frame(RS_MAC[0], rip, LB_S_MAC, ip("198.19.0.1"))),
                (at(4), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::ACK, b"")),
                (
                    at(5),
                    tcp_frame(
                        CLIENT_MAC,
                        LB_C_MAC,
                        c,
                        43210,
                        v,
                        80,
                        TcpFlags(0x18),
                        b"GET / HTTP/1.0\r\n\r\n",
                    ),
                ),
                (at(7), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags(0x11), b"")),
            ]
        },
    );
}

/// A TUN connection: IPIP frames to the server, and a too-big segment answered with ICMP
/// fragmentation needed (MTU 1480) once the client's MAC is known.
#[test]
fn golden_ipip_tcp() {
    run_case_with(
        "ipip_tcp",
        || pipeline_with(ForwardMethod::Tunnel),
        || {
            let (c, v, rip) = (ip("198.18.0.10"), ip(VIP), ip("198.19.0.11"));
            vec![
                (at(0), arp_reply_frame(CLIENT_MAC, c, LB_C_MAC, ip("198.18.0.1"))),
                (at(1), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::SYN, b"")),
                (at(2), arp_reply_frame(RS_MAC[0], rip, LB_S_MAC, ip("198.19.0.1"))),
                (at(4), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::ACK, b"")),
                (
                    at(5),
                    tcp_frame(
                        CLIENT_MAC,
                        LB_C_MAC,
                        c,
                        43210,
                        v,
                        80,
                        TcpFlags(0x18),
                        b"GET / HTTP/1.0\r\n\r\n",
                    ),
                ),
                (at(6), big_df_segment(43210)),
            ]
        },
    );
}

/// A NAT connection both ways: the client's packets to RIP:80, the server's back from
/// VIP:80, with both neighbours resolved by ARP on the way.
#[test]
fn golden_nat_tcp() {
    run_case_with(
        "nat_tcp",
        || pipeline_with(ForwardMethod::Nat),
        || {
            let (c, v, rip) = (ip("198.18.0.10"), ip(VIP), ip("198.19.0.11"));
            vec![
                (at(1), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::SYN, b"")),
                (at(2), arp_reply_frame(RS_MAC[0], rip, LB_S_MAC, ip("198.19.0.1"))),
                (at(3), tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, c, 43210, TcpFlags(0x12), b"")),
                (at(4), arp_reply_frame(CLIENT_MAC, c, LB_C_MAC, ip("198.18.0.1"))),
                (
                    at(5),
                    tcp_frame(
                        CLIENT_MAC,
                        LB_C_MAC,
                        c,
                        43210,
                        v,
                        80,
                        TcpFlags(0x18),
                        b"GET / HTTP/1.0\r\n\r\n",
                    ),
                ),
                (
                    at(6),
                    tcp_frame(
                        RS_MAC[0],
                        LB_S_MAC,
                        rip,
                        80,
                        c,
                        43210,
                        TcpFlags(0x19),
                        b"HTTP/1.0 200 OK\r\n\r\nrs1\n",
                    ),
                ),
                (at(7), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags(0x11), b"")),
            ]
        },
    );
}

/// A router on the client's side reports "fragmentation needed" about a segment a DR
/// (then a TUN) real server sent from the VIP: the error reaches the server unchanged.
#[test]
fn icmp_errors_about_dr_and_tun_sessions_go_to_the_real_server_unchanged() {
    for m in [ForwardMethod::DirectRoute, ForwardMethod::Tunnel] {
        let mut h = H::new(pipeline_with(m));
        h.client(46000, TcpFlags::SYN, b"");
        h.tx(SERVER_PORT);
        // What the server sent the client directly: VIP:80 -> CIP:46000, 1500 bytes.
        let about = tcp_frame(
            RS_MAC[0],
            CLIENT_MAC,
            ip(VIP),
            80,
            ip("198.18.0.10"),
            46000,
            TcpFlags(0x10),
            &[0; 1460],
        );
        let quoted = &about[14..14 + 28];
        let mut f = vec![0u8; 14 + 20 + 8 + quoted.len()];
        f[14 + 28..].copy_from_slice(quoted);
        crate::testkit::eth_ip(&mut f, CLIENT_MAC, LB_C_MAC, ip("198.18.0.254"), ip(VIP), IpProtocol::ICMP);
        {
            let mut icmp = Icmpv4Packet::new_unchecked(&mut f[14 + 20..]);
            icmp.set_msg_type(3);
            icmp.set_code(4);
            icmp.set_next_hop_mtu(1400);
            icmp.fill_checksum();
        }
        h.rx(CLIENT_PORT, f.clone());
        let out = h.tx(SERVER_PORT).pop().unwrap_or_else(|| panic!("{m:?}: forwarded"));
        assert_eq!(out[0..6], RS_MAC[0].0, "{m:?}");
        let ip_at = if m == ForwardMethod::Tunnel {
            assert_eq!(out[14 + 9], 4, "wrapped in IPIP");
            14 + 20
        } else {
            14
        };
        assert_eq!(out[ip_at..], f[14..], "{m:?}: the error itself, untouched");
        assert_eq!(h.p.counters().event_count(crate::stats::Event::IcmpErrorForwarded), 1);
    }
}
