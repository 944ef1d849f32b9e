//! NAT64 through the whole pipeline: an IPv6 client, an IPv6 VIP, IPv4 real servers and
//! LIPs. Translation both ways with every checksum recomputed in full, MSS clamps, the TOA
//! option with the client's IPv6 address, ICMP errors across the families, a reply that
//! lands on another worker, expiry giving the IPv4 port back, `-Lnc`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::tests::{
    config, tcp_frame, udp_frame, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT,
};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::service::Registry;
use crate::stats::{DropReason, Event, WorkerCounters};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmp::Icmpv4Packet;
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::tcp::{TcpFlags, TcpOption, TcpPacket};
use crate::wire::udp::UdpPacket;
use crate::wire::{get_u16, put_u16, EtherType};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec};

const ETH: usize = 14;
const VIP: &str = "2001:db8:1::100";
const CLIENT: &str = "2001:db8:1::10";
const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn rs(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 11 + i as u8)
}

fn registry64() -> Registry {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport, toa, pp) in [
        (Protocol::Tcp, 80, 80, true, None),
        (Protocol::Udp, 53, 5353, false, None),
        (Protocol::Tcp, 8081, 8081, false, Some(1)),
    ] {
        let key = ServiceKey { protocol: proto, addr: format!("[{VIP}]:{port}").parse().unwrap() };
        let spec = ServiceSpec {
            options: ServiceOptions { toa, proxy_protocol: pp, ..Default::default() },
            key,
            scheduler: "rr".into(),
            local_addrs: vec![LIP.into()],
        };
        r.add_service(spec).unwrap();
        for i in 0..3 {
            let real = RealSpec {
                thresholds: Default::default(),
                addr: format!("{}:{rport}", rs(i)).parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
            };
            r.add_real(&key, real).unwrap();
        }
    }
    r
}

struct H {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
}

impl H {
    fn new(worker: u16, workers: u16) -> H {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let cfg = PipelineConfig { v6: v6_config(), ..config(worker, workers) };
        let p = Pipeline::new(cfg, Arc::new(registry64().snapshot()), counters, Time::ZERO);
        let mut h = H { p, out: Output::new(2, workers as usize), now: Time::from_secs(1) };
        h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
        for (i, m) in RS_MAC.iter().enumerate() {
            h.p.neigh_learned(rs(i), m.0, SERVER_PORT, h.now, &mut h.out);
        }
        h
    }
    fn rx(&mut self, port: u16, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    fn tx(&mut self, port: u16) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
}

/// An Ethernet/IPv6 TCP or UDP frame from the client to the VIP, checksum valid.
fn client_frame(sport: u16, dport: u16, proto: u8, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = if proto == 6 { 20 + opts.len() } else { 8 };
    let mut f = vec![0u8; ETH + 40 + hl + payload.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_src_addr(CLIENT_MAC);
    eth.set_dst_addr(LB_C_MAC);
    eth.set_ethertype(EtherType::IPV6);
    Ipv6Repr {
        src: a(CLIENT),
        dst: a(VIP),
        next_header: proto,
        payload_len: (hl + payload.len()) as u16,
        hop_limit: 64,
        traffic_class: 0x20,
        flow_label: 7,
    }
    .emit(&mut f[ETH..]);
    let l4 = &mut f[ETH + 40..];
    put_u16(l4, 0, sport);
    put_u16(l4, 2, dport);
    if proto == 6 {
        // ISN 5000: the first byte after the SYN is 5001.
        let seq: u32 = if flags & SYN != 0 { 5000 } else { 5001 };
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[12] = ((hl / 4) as u8) << 4;
        l4[13] = flags;
        put_u16(l4, 14, 1000);
        l4[20..hl].copy_from_slice(opts);
    } else {
        put_u16(l4, 4, (hl + payload.len()) as u16);
    }
    l4[hl..].copy_from_slice(payload);
    let c = ipv6::upper_checksum(a(CLIENT), a(VIP), proto, l4);
    put_u16(l4, if proto == 6 { 16 } else { 6 }, c);
    f
}

/// The IPv4 packet of a frame we sent towards a real server, every checksum verified.
fn v4_sent(f: &[u8]) -> (Ipv4Addr, Ipv4Addr, u16, u16, Vec<u8>) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    assert_eq!(eth.ethertype(), EtherType::IPV4);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    let l4 = ip.payload();
    let ok = if ip.protocol().0 == 6 {
        TcpPacket::new_unchecked(l4).verify_checksum(ip.src_addr(), ip.dst_addr())
    } else {
        UdpPacket::new_unchecked(l4).verify_checksum(ip.src_addr(), ip.dst_addr())
    };
    assert!(ok, "L4 checksum over IPv4");
    (ip.src_addr(), ip.dst_addr(), get_u16(l4, 0), get_u16(l4, 2), l4.to_vec())
}

/// The IPv6 packet of a frame we sent the client, checksum verified.
fn v6_sent(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u16, u16, Vec<u8>) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    assert_eq!((eth.ethertype(), eth.dst_addr()), (EtherType::IPV6, CLIENT_MAC));
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    let l4 = ip.payload();
    assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), ip.next_header(), l4), "L4 checksum over IPv6");
    (ip.src_addr(), ip.dst_addr(), get_u16(l4, 0), get_u16(l4, 2), l4.to_vec())
}

fn mss(l4: &[u8]) -> Option<u16> {
    TcpPacket::new_unchecked(l4).iter_options().find_map(|o| match o {
        TcpOption::Mss(m) => Some(m),
        _ => None,
    })
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

#[test]
fn tcp_through_nat64_with_toa_and_mss() {
    let mut h = H::new(0, 1);
    // The client's SYN offers MSS 1460 (a 1500-byte IPv4 world would); the server's
    // segments grow by 20 bytes towards the client, so it is told 1440.
    h.rx(CLIENT_PORT, client_frame(40000, 80, 6, SYN, &[2, 4, 0x05, 0xb4], b""));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let (src, dst, lport, dport, l4) = v4_sent(&sent[0]);
    assert_eq!((src, dport), (LIP, 80));
    assert_eq!(mss(&l4), Some(1440));
    let i = (0..3).find(|&i| rs(i) == dst).expect("a real server");
    let ip = Ipv4Packet::new_checked(&sent[0][ETH..]).unwrap();
    assert_eq!((ip.dscp_ecn(), ip.ttl(), ip.dont_frag()), (0x20, 63, false));
    // The server's SYN/ACK (MSS 1460): the client's first ACK grows by the 20-byte TOA.
    let mut synack = tcp_frame(RS_MAC[i], LB_S_MAC, dst, 80, LIP, lport, TcpFlags::SYN | TcpFlags::ACK, b"");
    {
        // Add an MSS option: rebuild with a 24-byte TCP header.
        let mut f = synack[..ETH + 40].to_vec();
        f.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH..]);
        ip.set_total_len(44);
        ip.fill_checksum();
        let mut t = TcpPacket::new_unchecked(&mut f[ETH + 20..]);
        t.set_header_len(24);
        t.fill_checksum(dst, LIP);
        synack = f;
    }
    h.rx(SERVER_PORT, synack);
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    let (src, cdst, sport, cport, l4) = v6_sent(&back[0]);
    assert_eq!((src, cdst, sport, cport), (a(VIP), a(CLIENT), 80, 40000));
    assert_eq!(mss(&l4), Some(1440), "1500 - 40 - TOA 20");
    // The client's ACK carries the TOA option with its IPv6 address and port.
    h.rx(CLIENT_PORT, client_frame(40000, 80, 6, ACK, &[], b""));
    let (_, _, _, _, l4) = v4_sent(&h.tx(SERVER_PORT)[0]);
    let t = TcpPacket::new_unchecked(&l4[..]);
    assert_eq!(crate::toa::find_v6(t.options()), Some(std::net::SocketAddrV6::new(a(CLIENT), 40000, 0, 0)));
    assert_eq!(h.p.counters().event_count(Event::ToaInserted), 1);
    // Data flows on, without the option.
    h.rx(CLIENT_PORT, client_frame(40000, 80, 6, ACK | PSH, &[], b"GET / HTTP/1.0\r\n\r\n"));
    let (_, _, _, _, l4) = v4_sent(&h.tx(SERVER_PORT)[0]);
    assert!(l4.ends_with(b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(TcpPacket::new_unchecked(&l4[..]).header_len(), 20);
    let reply = tcp_frame(RS_MAC[i], LB_S_MAC, dst, 80, LIP, lport, TcpFlags::ACK | TcpFlags::PSH, b"rs1");
    h.rx(SERVER_PORT, reply);
    let (_, _, _, _, l4) = v6_sent(&h.tx(CLIENT_PORT)[0]);
    assert!(l4.ends_with(b"rs1"));
    // -Lnc: the IPv6 client and VIP, the IPv4 LIP and real server.
    let conns = h.p.dump_sessions(h.now);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "ESTABLISHED");
    assert_eq!(conns[0].client.to_string(), format!("[{CLIENT}]:40000"));
    assert_eq!(conns[0].local.to_string(), format!("{LIP}:{lport}"));
    assert_eq!(conns[0].real.to_string(), format!("{dst}:80"));
}

#[test]
fn udp_port_unreachable_reaches_the_ipv6_client() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, client_frame(50000, 53, 17, 0, &[], b"query"));
    let sent = h.tx(SERVER_PORT).pop().unwrap();
    let (src, dst, lport, dport, _) = v4_sent(&sent);
    assert_eq!((src, dport), (LIP, 5353));
    // The real server has no listener: port unreachable quoting our datagram.
    let quoted = &sent[ETH..];
    let mut f = vec![0u8; ETH + 20 + 8 + quoted.len()];
    crate::testkit::eth_ip(&mut f, RS_MAC[0], LB_S_MAC, dst, LIP, crate::wire::IpProtocol::ICMP);
    f[ETH + 28..].copy_from_slice(quoted);
    let mut icmp = Icmpv4Packet::new_unchecked(&mut f[ETH + 20..]);
    icmp.set_msg_type(3);
    icmp.set_code(3);
    icmp.fill_checksum();
    h.rx(SERVER_PORT, f);
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    let eth = EthernetFrame::new_checked(&back[0][..]).unwrap();
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (a(VIP), a(CLIENT), 58));
    let m = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(m.verify_checksum(a(VIP), a(CLIENT)));
    assert_eq!((m.msg_type(), m.code()), (1, 4));
    let q = Ipv6Packet::new_unchecked(m.payload());
    assert_eq!((q.src_addr(), q.dst_addr()), (a(CLIENT), a(VIP)));
    let ql4 = &m.payload()[40..];
    assert_eq!((get_u16(ql4, 0), get_u16(ql4, 2)), (50000, 53));
    assert!(ipv6::verify_upper(a(CLIENT), a(VIP), 17, ql4));
    assert_eq!(h.p.counters().event_count(Event::IcmpErrorForwarded), 1);
    // The reply path still works for the session, and an error about no session drops.
    let r = udp_frame(RS_MAC[0], LB_S_MAC, dst, 5353, LIP, lport, b"answer");
    h.rx(SERVER_PORT, r);
    assert_eq!(v6_sent(&h.tx(CLIENT_PORT)[0]).3, 50000);
    let stray = udp_frame(RS_MAC[0], LB_S_MAC, dst, 5353, LIP, lport + 2, b"x");
    h.rx(SERVER_PORT, stray);
    assert_eq!(h.p.counters().drop_count(DropReason::NoSession), 1);
}

#[test]
fn packet_too_big_from_the_client_side_reaches_the_server_20_bytes_down() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, client_frame(50001, 53, 17, 0, &[], b"q"));
    let (_, dst, lport, _, _) = v4_sent(&h.tx(SERVER_PORT).pop().unwrap());
    let r = udp_frame(RS_MAC[0], LB_S_MAC, dst, 5353, LIP, lport, &[5; 1300]);
    h.rx(SERVER_PORT, r);
    let reply = h.tx(CLIENT_PORT).pop().unwrap();
    // A router on the client's side: packet too big, MTU 1280, quoting our reply.
    let quoted = &reply[ETH..ETH + 600];
    let mut f = vec![0u8; ETH + 40 + 8 + quoted.len()];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_src_addr(CLIENT_MAC);
        eth.set_dst_addr(LB_C_MAC);
        eth.set_ethertype(EtherType::IPV6);
    }
    let router = a("2001:db8:1::fe");
    Ipv6Repr {
        src: router,
        dst: a(VIP),
        next_header: 58,
        payload_len: (8 + quoted.len()) as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    let m = &mut f[ETH + 40..];
    m[0] = 2;
    m[4..8].copy_from_slice(&1280u32.to_be_bytes());
    m[8..].copy_from_slice(quoted);
    let c = ipv6::upper_checksum(router, a(VIP), 58, m);
    put_u16(m, 2, c);
    h.p.neigh6_learned(router, CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
    h.rx(CLIENT_PORT, f);
    let err = h.tx(SERVER_PORT);
    assert_eq!(err.len(), 1, "{:?}", h.p.counters().drop_count(DropReason::IcmpBadQuote));
    let ip = Ipv4Packet::new_checked(&err[0][ETH..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LIP, dst));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()), (3, 4, 1260));
    let q = Ipv4Packet::new_unchecked(icmp.payload());
    assert_eq!((q.src_addr(), q.dst_addr()), (dst, LIP));
    assert_eq!(get_u16(&icmp.payload()[20..], 2), lport);
}

#[test]
fn a_reply_too_big_for_the_client_side_is_answered_with_frag_needed() {
    let mut cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
    cfg.ports[CLIENT_PORT as usize].mtu = 1280;
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let p = Pipeline::new(cfg, Arc::new(registry64().snapshot()), counters, Time::ZERO);
    let mut h = H { p, out: Output::new(2, 1), now: Time::from_secs(1) };
    h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
    for (i, m) in RS_MAC.iter().enumerate() {
        h.p.neigh_learned(rs(i), m.0, SERVER_PORT, h.now, &mut h.out);
    }
    h.rx(CLIENT_PORT, client_frame(50002, 53, 17, 0, &[], b"q"));
    let (_, dst, lport, _, _) = v4_sent(&h.tx(SERVER_PORT).pop().unwrap());
    let mut r = udp_frame(RS_MAC[0], LB_S_MAC, dst, 5353, LIP, lport, &[5; 1300]);
    r[ETH + 6] = 0x40; // DF
    Ipv4Packet::new_unchecked(&mut r[ETH..]).fill_checksum();
    h.rx(SERVER_PORT, r);
    assert!(h.tx(CLIENT_PORT).is_empty());
    assert_eq!(h.p.counters().drop_count(DropReason::Nat64TooBig), 1);
    let err = h.tx(SERVER_PORT);
    let ip = Ipv4Packet::new_checked(&err[0][ETH..]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((ip.dst_addr(), icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()), (dst, 3, 4, 1260));
    assert!(icmp.verify_checksum() && ip.verify_checksum());
}

#[test]
fn replies_on_another_worker_are_handed_over_and_expiry_gives_the_port_back() {
    let mut w = [H::new(0, 2), H::new(1, 2)];
    let free = w[0].p.laddrs.available(LIP);
    w[0].rx(CLIENT_PORT, client_frame(50003, 53, 17, 0, &[], b"q"));
    let (_, dst, lport, _, _) = v4_sent(&w[0].tx(SERVER_PORT).pop().unwrap());
    assert_eq!(lport % 2, 0, "a port of worker 0's");
    assert_eq!(w[0].p.laddrs.available(LIP), free - 1, "taken from the IPv4 pool");
    // The reply lands on worker 1: handed to worker 0 by its port, then translated.
    w[1].rx(SERVER_PORT, udp_frame(RS_MAC[0], LB_S_MAC, dst, 5353, LIP, lport, b"a"));
    let handed: Vec<_> = std::mem::take(&mut w[1].out.redirect[0]);
    assert_eq!(handed.len(), 1);
    for hd in handed {
        let now = w[0].now;
        w[0].p.handle_handoff(hd, now, &mut VecAlloc, &mut w[0].out);
    }
    assert_eq!(v6_sent(&w[0].tx(CLIENT_PORT)[0]).3, 50003);
    // Expiry: the session goes, and its IPv4 port with it.
    let later = w[0].now + std::time::Duration::from_secs(400);
    for _ in 0..4 {
        w[0].p.poll(later, &mut VecAlloc, &mut w[0].out);
    }
    assert!(w[0].p.dump_sessions(later).is_empty());
    assert_eq!(w[0].p.counters().sessions_expired.get(), 1);
    assert_eq!(w[0].p.laddrs.available(LIP), free);
}

#[test]
fn proxy_v1_header_with_ipv6_addresses_goes_before_the_first_data() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, client_frame(40001, 8081, 6, SYN, &[2, 4, 0x05, 0xa0], b""));
    let (_, dst, lport, _, _) = v4_sent(&h.tx(SERVER_PORT)[0]);
    let i = (0..3).find(|&i| rs(i) == dst).unwrap();
    let mut synack =
        tcp_frame(RS_MAC[i], LB_S_MAC, dst, 8081, LIP, lport, TcpFlags::SYN | TcpFlags::ACK, b"");
    {
        let mut f = synack[..ETH + 40].to_vec();
        f.extend_from_slice(&[2, 4, 0x05, 0xb4]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH..]);
        ip.set_total_len(44);
        ip.fill_checksum();
        let mut t = TcpPacket::new_unchecked(&mut f[ETH + 20..]);
        t.set_header_len(24);
        t.fill_checksum(dst, LIP);
        synack = f;
    }
    h.rx(SERVER_PORT, synack);
    let (_, _, _, _, l4) = v6_sent(&h.tx(CLIENT_PORT)[0]);
    let hdr = format!("PROXY TCP6 {CLIENT} {VIP} 40001 8081\r\n");
    assert_eq!(mss(&l4), Some(1460 - hdr.len() as u16), "room for the header");
    h.rx(CLIENT_PORT, client_frame(40001, 8081, 6, ACK, &[], b""));
    let (_, _, _, _, l4) = v4_sent(&h.tx(SERVER_PORT)[0]);
    assert_eq!(TcpPacket::new_unchecked(&l4[..]).seq_number(), 5001, "no shift before the header");
    // The first data: the header in front, at the client's first sequence number.
    h.rx(CLIENT_PORT, client_frame(40001, 8081, 6, ACK | PSH, &[], b"GET /"));
    let (_, _, _, _, l4) = v4_sent(&h.tx(SERVER_PORT)[0]);
    let t = TcpPacket::new_unchecked(&l4[..]);
    assert_eq!(t.seq_number(), 5001);
    assert_eq!(t.payload(), format!("{hdr}GET /").as_bytes());
    // The server acknowledges header and data; the client sees only its data acknowledged.
    let mut ack = tcp_frame(RS_MAC[i], LB_S_MAC, dst, 8081, LIP, lport, TcpFlags::ACK, b"");
    {
        let mut t = TcpPacket::new_unchecked(&mut ack[ETH + 20..]);
        t.set_ack_number(5001 + (hdr.len() + 5) as u32);
        t.fill_checksum(dst, LIP);
    }
    h.rx(SERVER_PORT, ack);
    let (_, _, _, _, l4) = v6_sent(&h.tx(CLIENT_PORT)[0]);
    assert_eq!(TcpPacket::new_unchecked(&l4[..]).ack_number(), 5006);
    // A later client segment is shifted by the header's length.
    let mut f = client_frame(40001, 8081, 6, ACK | PSH, &[], b"x");
    {
        let l4 = &mut f[ETH + 40..];
        l4[4..8].copy_from_slice(&5006u32.to_be_bytes());
        put_u16(l4, 16, 0);
        let c = ipv6::upper_checksum(a(CLIENT), a(VIP), 6, l4);
        put_u16(l4, 16, c);
    }
    h.rx(CLIENT_PORT, f);
    let (_, _, _, _, l4) = v4_sent(&h.tx(SERVER_PORT)[0]);
    assert_eq!(TcpPacket::new_unchecked(&l4[..]).seq_number(), 5006 + hdr.len() as u32);
    assert_eq!(h.p.counters().event_count(Event::ProxyHeaderInserted), 1);
}

/// IPv6 FULLNAT (IPv6 real servers) with TOA and PROXY v2: the option and the header in
/// the IPv6 segments towards the server, the shift on the replies.
#[test]
fn ipv6_fullnat_gets_toa_and_proxy_v2_too() {
    let mut r = Registry::new(16, 64);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("[{VIP}]:8082").parse().unwrap() };
    let options = ServiceOptions { toa: true, proxy_protocol: Some(2), ..Default::default() };
    let lip6 = a("2001:db8:2::200");
    r.add_service(ServiceSpec { options, key, scheduler: "rr".into(), local_addrs: vec![lip6.into()] })
        .unwrap();
    let rs6 = a("2001:db8:2::11");
    let real = RealSpec {
        thresholds: Default::default(),
        addr: format!("[{rs6}]:8082").parse().unwrap(),
        weight: 1,
        method: ForwardMethod::FullNat,
        tunnel: None,
    };
    r.add_real(&key, real).unwrap();
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
    let p = Pipeline::new(cfg, Arc::new(r.snapshot()), counters, Time::ZERO);
    let mut h = H { p, out: Output::new(2, 1), now: Time::from_secs(1) };
    h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
    h.p.neigh6_learned(rs6, RS_MAC[0].0, SERVER_PORT, h.now, &mut h.out);
    let sent6 = |f: &[u8]| {
        let ip = Ipv6Packet::new_checked(&f[ETH..]).unwrap();
        assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), 6, ip.payload()), "TCP checksum");
        (ip.src_addr(), ip.payload().to_vec())
    };
    h.rx(CLIENT_PORT, client_frame(40002, 8082, 6, SYN, &[2, 4, 0x05, 0xa0], b""));
    let (lip, l4) = sent6(&h.tx(SERVER_PORT)[0]);
    assert_eq!(lip, lip6);
    let lport = get_u16(&l4, 0);
    // The server's SYN/ACK (MSS 1440): room for TOA (20) and the v2 header (16 + 36).
    let mut sa = vec![0u8; ETH + 40 + 24];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut sa[..]);
        eth.set_src_addr(RS_MAC[0]);
        eth.set_dst_addr(LB_S_MAC);
        eth.set_ethertype(EtherType::IPV6);
    }
    Ipv6Repr {
        src: rs6,
        dst: lip6,
        next_header: 6,
        payload_len: 24,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut sa[ETH..]);
    {
        let t = &mut sa[ETH + 40..];
        put_u16(t, 0, 8082);
        put_u16(t, 2, lport);
        t[8..12].copy_from_slice(&5001u32.to_be_bytes());
        t[12] = 6 << 4;
        t[13] = SYN | ACK;
        put_u16(t, 14, 1000);
        t[20..24].copy_from_slice(&[2, 4, 0x05, 0xa0]);
        let c = ipv6::upper_checksum(rs6, lip6, 6, t);
        put_u16(t, 16, c);
    }
    h.rx(SERVER_PORT, sa);
    let (_, _, _, _, l4) = v6_sent(&h.tx(CLIENT_PORT)[0]);
    assert_eq!(mss(&l4), Some(1440 - 20 - 52));
    h.rx(CLIENT_PORT, client_frame(40002, 8082, 6, ACK | PSH, &[], b"hello"));
    let (_, l4) = sent6(&h.tx(SERVER_PORT)[0]);
    let t = TcpPacket::new_unchecked(&l4[..]);
    assert_eq!(crate::toa::find_v6(t.options()), Some(std::net::SocketAddrV6::new(a(CLIENT), 40002, 0, 0)));
    assert_eq!(t.seq_number(), 5001);
    let hdr = crate::proxyproto::parse(t.payload()).expect("a PROXY v2 header");
    assert_eq!(hdr.len, 52);
    assert_eq!(&t.payload()[52..], b"hello");
    assert_eq!(
        hdr.addrs,
        Some((format!("[{CLIENT}]:40002").parse().unwrap(), format!("[{VIP}]:8082").parse().unwrap()))
    );
}
