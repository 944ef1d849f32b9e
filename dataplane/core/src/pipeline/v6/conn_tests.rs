//! FULLNAT IPv6 → IPv6 through the whole pipeline: sessions, rewrite, checksums, hop
//! limit, replies on another worker's port, expiry, `-Lnc`.

use std::net::Ipv6Addr;
use std::sync::Arc;

use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::tests::{config, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::service::Registry;
use crate::stats::{DropReason, WorkerCounters};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6::{self, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::{get_u16, put_u16, EtherType, MacAddr};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

pub(super) fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const ETH: usize = 14;
pub(super) const VIP: &str = "2001:db8:1::100";
pub(super) const LIP: &str = "2001:db8:2::200";
pub(super) const CLIENT: &str = "2001:db8:1::10";

pub(super) fn rs(i: usize) -> Ipv6Addr {
    a(&format!("2001:db8:2::{}", 11 + i))
}

pub(super) fn registry6() -> Registry {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("[{VIP}]:{port}").parse().unwrap() };
        let spec = ServiceSpec {
            options: Default::default(),
            key,
            scheduler: "rr".into(),
            local_addrs: vec![LIP.parse().unwrap()],
        };
        r.add_service(spec).unwrap();
        for i in 0..3 {
            let real = RealSpec {
                thresholds: Default::default(),
                addr: format!("[{}]:{rport}", rs(i)).parse().unwrap(),
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
        let cfg = PipelineConfig { v6: v6_config(), ..config(worker, workers) };
        H::with(registry6(), cfg)
    }
    /// A pipeline of `r`'s services under `cfg`, its neighbours known.
    fn with(r: Registry, cfg: PipelineConfig) -> H {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let workers = cfg.workers as usize;
        let p = Pipeline::new(cfg, Arc::new(r.snapshot()), counters, Time::ZERO);
        let mut h = H { p, out: Output::new(2, workers), now: Time::from_secs(1) };
        // Neighbours known: the client and the three real servers.
        h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
        for (i, m) in RS_MAC.iter().enumerate() {
            h.p.neigh6_learned(rs(i), m.0, SERVER_PORT, h.now, &mut h.out);
        }
        h
    }
    fn rx(&mut self, port: u16, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    fn tx(&mut self, port: u16) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    fn drops(&self, r: DropReason) -> u64 {
        self.p.counters().drop_count(r)
    }
}

/// An Ethernet/IPv6/TCP or UDP frame with a valid checksum.
#[allow(clippy::too_many_arguments)]
pub(super) fn l4_frame(
    smac: MacAddr,
    dmac: MacAddr,
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    proto: u8,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let hl = if proto == 6 { 20 } else { 8 };
    let mut f = vec![0u8; ETH + 40 + hl + payload.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_src_addr(smac);
    eth.set_dst_addr(dmac);
    eth.set_ethertype(EtherType::IPV6);
    let plen = hl + payload.len();
    Ipv6Repr {
        src,
        dst,
        next_header: proto,
        payload_len: plen as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    let l4 = &mut f[ETH + 40..];
    put_u16(l4, 0, sport);
    put_u16(l4, 2, dport);
    if proto == 6 {
        l4[4..8].copy_from_slice(&1000u32.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = flags;
        put_u16(l4, 14, 1000);
    } else {
        put_u16(l4, 4, plen as u16);
    }
    l4[hl..].copy_from_slice(payload);
    let c = ipv6::upper_checksum(src, dst, proto, l4);
    put_u16(l4, if proto == 6 { 16 } else { 6 }, c);
    f
}

/// (src mac, dst mac, src, sport, dst, dport, hop limit) of a sent frame, its checksum verified.
fn parse(f: &[u8]) -> (MacAddr, MacAddr, Ipv6Addr, u16, Ipv6Addr, u16, u8) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    let l4 = ip.payload();
    assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), ip.next_header(), l4), "checksum");
    (
        eth.src_addr(),
        eth.dst_addr(),
        ip.src_addr(),
        get_u16(l4, 0),
        ip.dst_addr(),
        get_u16(l4, 2),
        ip.hop_limit(),
    )
}

pub(super) const SYN: u8 = 0x02;
pub(super) const ACK: u8 = 0x10;

#[test]
fn tcp_connection_is_rewritten_both_ways() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b""));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let (smac, dmac, src, lport, dst, dport, hl) = parse(&sent[0]);
    assert_eq!((smac, src, dport, hl), (LB_S_MAC, a(LIP), 80, 63));
    let i = RS_MAC.iter().position(|m| *m == dmac).expect("a real server's MAC");
    assert_eq!(dst, rs(i));
    // The reply comes back as VIP:80 → client:40000.
    h.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, rs(i), 80, a(LIP), lport, 6, SYN | ACK, b""));
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(parse(&back[0]), (LB_C_MAC, CLIENT_MAC, a(VIP), 80, a(CLIENT), 40000, 63));
    // The ACK establishes; data flows with the same session.
    h.rx(
        CLIENT_PORT,
        l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, ACK, b"GET / HTTP/1.0\r\n\r\n"),
    );
    assert_eq!(parse(&h.tx(SERVER_PORT)[0]).3, lport);
    let c = h.p.counters();
    assert_eq!(c.sessions_created.get(), 1);
    let slot = h.p.snapshot().v6.services[0].reals[i].slot as usize;
    assert_eq!((c.reals[slot].active.get(), c.reals[slot].inactive.get()), (1, 0));
    // -Lnc shows it with IPv6 addresses.
    let conns = h.p.dump_sessions(h.now);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "ESTABLISHED");
    assert_eq!(conns[0].virtual_addr.to_string(), format!("[{VIP}]:80"));
    assert_eq!(conns[0].local.to_string(), format!("[{LIP}]:{lport}"));
}

#[test]
fn udp_is_balanced_and_checksums_stay_valid() {
    let mut h = H::new(0, 1);
    let mut seen = std::collections::HashSet::new();
    for p in 0..3 {
        h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000 + p, a(VIP), 53, 17, 0, b"hello"));
        let (_, _, src, lport, dst, dport, _) = parse(&h.tx(SERVER_PORT)[0]);
        assert_eq!((src, dport), (a(LIP), 5353));
        seen.insert(dst);
        h.rx(SERVER_PORT, l4_frame(RS_MAC[0], LB_S_MAC, dst, 5353, a(LIP), lport, 17, 0, b"hello"));
        assert_eq!(parse(&h.tx(CLIENT_PORT)[0]).3, 53);
    }
    assert_eq!(seen.len(), 3, "rr over the three real servers");
}

#[test]
fn what_is_not_a_new_connection_is_dropped_and_counted() {
    let mut h = H::new(0, 1);
    // A mid-connection segment, a port without a service, a bad checksum, a reply to no session.
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, ACK, b""));
    assert_eq!(h.drops(DropReason::NoSession), 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 81, 6, SYN, b""));
    assert_eq!(h.drops(DropReason::NoService), 1);
    let mut f = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b"");
    f[ETH + 40 + 16] ^= 1;
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::BadL4Checksum), 1);
    h.rx(SERVER_PORT, l4_frame(RS_MAC[0], LB_S_MAC, rs(0), 80, a(LIP), 2000, 6, ACK, b""));
    assert_eq!(h.drops(DropReason::NoSession), 2);
    // Hop limit 1: not forwarded.
    let mut f = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40001, a(VIP), 80, 6, SYN, b"");
    f[ETH + 7] = 1;
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::TtlExceeded), 1);
    assert!(h.tx(SERVER_PORT).is_empty());
}

#[test]
fn replies_on_another_workers_port_are_handed_over() {
    let mut w0 = H::new(0, 2);
    let mut w1 = H::new(1, 2);
    w0.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b""));
    let (_, dmac, _, lport, dst, _, _) = parse(&w0.tx(SERVER_PORT)[0]);
    assert_eq!(lport % 2, 0, "worker 0's share of the ports");
    let i = RS_MAC.iter().position(|m| *m == dmac).unwrap();
    // The reply lands on worker 1, which hands it to worker 0 unparsed.
    w1.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, dst, 80, a(LIP), lport, 6, SYN | ACK, b""));
    assert!(w1.tx(CLIENT_PORT).is_empty());
    let h = w1.out.redirect[0].pop().expect("handed to worker 0");
    w0.p.handle_handoff(h, w0.now, &mut VecAlloc, &mut w0.out);
    assert_eq!(parse(&w0.tx(CLIENT_PORT)[0]).2, a(VIP));
}

#[test]
fn sessions_expire_and_give_their_port_back() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000, a(VIP), 53, 17, 0, b"x"));
    let lport = parse(&h.tx(SERVER_PORT)[0]).3;
    assert_eq!(h.p.dump_sessions(h.now).len(), 1);
    h.now = Time::from_secs(1000);
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    assert!(h.p.dump_sessions(h.now).is_empty());
    assert_eq!(h.p.counters().sessions_expired.get(), 1);
    // The same port is free again: the next session may take it.
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50001, a(VIP), 53, 17, 0, b"x"));
    let again = parse(&h.tx(SERVER_PORT)[0]).3;
    assert!(again >= 1025);
    assert_ne!(lport, 0);
}

#[test]
fn the_vip_answers_ping_and_solicitations_on_its_link() {
    let mut h = H::new(0, 1);
    let req = Icmpv6Repr::EchoRequest { ident: 5, seq_no: 1, data: b"ping" };
    let mut f = vec![0u8; ETH + 40 + req.buffer_len()];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_src_addr(CLIENT_MAC);
        eth.set_dst_addr(LB_C_MAC);
        eth.set_ethertype(EtherType::IPV6);
    }
    Ipv6Repr {
        src: a(CLIENT),
        dst: a(VIP),
        next_header: 58,
        payload_len: req.buffer_len() as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    req.emit(&mut f[ETH + 40..], a(CLIENT), a(VIP));
    h.rx(CLIENT_PORT, f);
    let sent = h.tx(CLIENT_PORT);
    let ip = Ipv6Packet::new_checked(&sent[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (a(VIP), a(CLIENT)));
    let p = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(matches!(
        Icmpv6Repr::parse(&p, a(VIP), a(CLIENT), 64),
        Ok(Icmpv6Repr::EchoReply { ident: 5, .. })
    ));
    // NS for the VIP on the client link is answered; for the LIP on the client link, not.
    for (target, port, answered) in
        [(VIP, CLIENT_PORT, true), (LIP, SERVER_PORT, true), (LIP, CLIENT_PORT, false)]
    {
        let t = a(target);
        let group = ipv6::solicited_node(t);
        let ns = Icmpv6Repr::NeighborSolicit { target: t, source_lladdr: Some(CLIENT_MAC) };
        let mut f = vec![0u8; ETH + 40 + ns.buffer_len()];
        {
            let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
            eth.set_src_addr(CLIENT_MAC);
            eth.set_dst_addr(ipv6::multicast_mac(group));
            eth.set_ethertype(EtherType::IPV6);
        }
        let from = if port == CLIENT_PORT { a(CLIENT) } else { rs(0) };
        Ipv6Repr {
            src: from,
            dst: group,
            next_header: 58,
            payload_len: ns.buffer_len() as u16,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut f[ETH..]);
        ns.emit(&mut f[ETH + 40..], from, group);
        h.rx(port, f);
        assert_eq!(h.tx(port).len(), answered as usize, "{target} on port {port}");
    }
}

/// An ICMPv6 error frame from `src` to `dst` quoting `quote` (an IPv6 packet's start).
pub(super) fn icmp_error_frame(
    smac: MacAddr,
    dmac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    err: &Icmpv6Repr<'_>,
) -> Vec<u8> {
    let len = err.buffer_len();
    let mut f = vec![0u8; ETH + 40 + len];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_src_addr(smac);
        eth.set_dst_addr(dmac);
        eth.set_ethertype(EtherType::IPV6);
    }
    Ipv6Repr {
        src,
        dst,
        next_header: 58,
        payload_len: len as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    err.emit(&mut f[ETH + 40..], src, dst);
    f
}

/// The quoted packet of an ICMPv6 error we sent: its flow and whether its L4 checksum
/// (complete in these tests) verifies.
fn quoted(f: &[u8]) -> (Ipv6Addr, u16, Ipv6Addr, u16, bool) {
    let ip = Ipv6Packet::new_checked(&f[ETH..]).unwrap();
    let inner = Ipv6Packet::new_checked(&ip.payload()[8..]).unwrap();
    let l4 = inner.payload();
    let ok = ipv6::verify_upper(inner.src_addr(), inner.dst_addr(), inner.next_header(), l4);
    (inner.src_addr(), get_u16(l4, 0), inner.dst_addr(), get_u16(l4, 2), ok)
}

#[test]
fn a_real_servers_port_unreachable_reaches_the_client_translated() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000, a(VIP), 53, 17, 0, b"anyone?"));
    let sent = h.tx(SERVER_PORT).pop().unwrap();
    let (_, dmac, _, lport, rip, _, _) = parse(&sent);
    // The real server quotes what it received (LIP:lport -> RIP:5353) to the LIP.
    let quote = &sent[ETH..];
    let err = Icmpv6Repr::DstUnreachable { code: icmpv6::CODE_PORT_UNREACHABLE, quote };
    h.rx(SERVER_PORT, icmp_error_frame(dmac, LB_S_MAC, rip, a(LIP), &err));
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    let ip = Ipv6Packet::new_checked(&back[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (a(VIP), a(CLIENT), 64));
    let p = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(p.verify_checksum(a(VIP), a(CLIENT)));
    assert_eq!((p.msg_type(), p.code()), (icmpv6::DEST_UNREACHABLE, icmpv6::CODE_PORT_UNREACHABLE));
    // It now quotes what the client sent: client:50000 -> VIP:53, checksum still valid.
    assert_eq!(quoted(&back[0]), (a(CLIENT), 50000, a(VIP), 53, true));
    assert_eq!(h.p.counters().event_count(crate::stats::Event::IcmpErrorForwarded), 1);
    assert_ne!(lport, 0);
}

#[test]
fn packet_too_big_on_the_client_path_reaches_the_real_server_with_its_mtu() {
    let mut h = H::new(0, 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b""));
    let (_, dmac, _, lport, rip, _, _) = parse(&h.tx(SERVER_PORT)[0]);
    let i = RS_MAC.iter().position(|m| *m == dmac).unwrap();
    h.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, rip, 80, a(LIP), lport, 6, SYN | ACK, b""));
    let to_client = h.tx(CLIENT_PORT).pop().unwrap();
    // A router on the client's side: too big for 1280, quoting VIP:80 -> client:40000.
    let router = a("2001:db8:1::fe");
    let err = Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &to_client[ETH..] };
    h.rx(CLIENT_PORT, icmp_error_frame(CLIENT_MAC, LB_C_MAC, router, a(VIP), &err));
    let fwd = h.tx(SERVER_PORT);
    assert_eq!(fwd.len(), 1);
    let ip = Ipv6Packet::new_checked(&fwd[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (a(LIP), rip));
    let p = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(p.verify_checksum(a(LIP), rip));
    assert_eq!((p.msg_type(), p.mtu()), (icmpv6::PACKET_TOO_BIG, 1280));
    assert_eq!(quoted(&fwd[0]), (rip, 80, a(LIP), lport, true));
}

#[test]
fn errors_about_no_session_or_without_ports_are_dropped_and_counted() {
    let mut h = H::new(0, 1);
    let stray = l4_frame(LB_S_MAC, RS_MAC[0], a(LIP), 3000, rs(0), 5353, 17, 0, b"x");
    let err = Icmpv6Repr::DstUnreachable { code: 4, quote: &stray[ETH..] };
    h.rx(SERVER_PORT, icmp_error_frame(RS_MAC[0], LB_S_MAC, rs(0), a(LIP), &err));
    assert_eq!(h.drops(DropReason::IcmpNoSession), 1);
    let err = Icmpv6Repr::DstUnreachable { code: 4, quote: &stray[ETH..ETH + 42] };
    h.rx(SERVER_PORT, icmp_error_frame(RS_MAC[0], LB_S_MAC, rs(0), a(LIP), &err));
    assert_eq!(h.drops(DropReason::IcmpBadQuote), 1);
    assert!(h.tx(CLIENT_PORT).is_empty());
}

#[test]
fn an_error_on_the_wrong_worker_reaches_the_sessions_owner() {
    let mut w0 = H::new(0, 2);
    let mut w1 = H::new(1, 2);
    w0.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000, a(VIP), 53, 17, 0, b"anyone?"));
    let sent = w0.tx(SERVER_PORT).pop().unwrap();
    let (_, dmac, _, _, rip, _, _) = parse(&sent);
    // The real server's port unreachable lands on worker 1: the quoted LIP port names
    // worker 0, which translates it.
    let err = Icmpv6Repr::DstUnreachable { code: icmpv6::CODE_PORT_UNREACHABLE, quote: &sent[ETH..] };
    w1.rx(SERVER_PORT, icmp_error_frame(dmac, LB_S_MAC, rip, a(LIP), &err));
    assert_eq!(w1.drops(DropReason::IcmpNoSession), 0);
    let h = w1.out.redirect[0].pop().expect("handed to worker 0");
    w0.p.handle_handoff(h, w0.now, &mut VecAlloc, &mut w0.out);
    assert_eq!(quoted(&w0.tx(CLIENT_PORT)[0]), (a(CLIENT), 50000, a(VIP), 53, true));
}

#[test]
fn a_client_side_error_goes_round_the_workers_once() {
    let mut w0 = H::new(0, 2);
    let mut w1 = H::new(1, 2);
    w0.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b""));
    let (_, dmac, _, lport, rip, _, _) = parse(&w0.tx(SERVER_PORT)[0]);
    let i = RS_MAC.iter().position(|m| *m == dmac).unwrap();
    w0.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, rip, 80, a(LIP), lport, 6, SYN | ACK, b""));
    let to_client = w0.tx(CLIENT_PORT).pop().unwrap();
    // A router's packet too big about VIP:80 -> client lands on worker 1, which cannot
    // tell the owner: it asks the next worker, which has the session.
    let router = a("2001:db8:1::fe");
    let err = Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &to_client[ETH..] };
    let frame = icmp_error_frame(CLIENT_MAC, LB_C_MAC, router, a(VIP), &err);
    w1.rx(CLIENT_PORT, frame.clone());
    let h = w1.out.redirect[0].pop().expect("handed to worker 0");
    w0.p.handle_handoff(h, w0.now, &mut VecAlloc, &mut w0.out);
    assert_eq!(quoted(&w0.tx(SERVER_PORT)[0]), (rip, 80, a(LIP), lport, true));
    // About no session anywhere: worker 0 passes it on, worker 1 (the last) drops it.
    let mut stray = to_client.clone();
    stray[ETH + 40 + 2..ETH + 40 + 4].copy_from_slice(&40001u16.to_be_bytes());
    let err = Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &stray[ETH..] };
    w0.rx(CLIENT_PORT, icmp_error_frame(CLIENT_MAC, LB_C_MAC, router, a(VIP), &err));
    let h = w0.out.redirect[1].pop().expect("handed to worker 1");
    w1.p.handle_handoff(h, w1.now, &mut VecAlloc, &mut w1.out);
    assert!(w1.out.redirect[0].is_empty(), "not round again");
    assert_eq!(w1.drops(DropReason::IcmpNoSession), 1);
}

/// Splits the IPv6 frame `f` (no extension headers) into fragments of `chunk` bytes of its
/// payload (a multiple of 8), identification `id`.
pub(super) fn fragment6(f: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
    let nh = f[ETH + 6];
    let data = &f[ETH + 40..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let n = chunk.min(data.len() - off);
        let mut g = f[..ETH + 40].to_vec();
        let mut fh = [0u8; 8];
        ipv6::FragmentRepr { next_header: nh, offset: off as u16, more: off + n < data.len(), ident: id }
            .emit(&mut fh);
        g.extend_from_slice(&fh);
        g.extend_from_slice(&data[off..off + n]);
        g[ETH + 6] = ipv6::NH_FRAGMENT;
        put_u16(&mut g, ETH + 4, (8 + n) as u16);
        out.push(g);
        off += n;
    }
    out
}

/// (src, dst, the upper-layer bytes) of the datagram the fragments make (any order).
fn reassemble6(frags: &[Vec<u8>]) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
    let mut parts = Vec::new();
    let first = Ipv6Packet::new_checked(&frags[0][ETH..]).unwrap();
    for f in frags {
        let ip = Ipv6Packet::new_checked(&f[ETH..]).unwrap();
        let c = ip.ext_chain().unwrap();
        let fr = c.fragment.expect("a fragment");
        assert_eq!((ip.src_addr(), ip.dst_addr()), (first.src_addr(), first.dst_addr()));
        assert_eq!(ip.hop_limit(), 63);
        parts.push((fr.offset, ip.payload()[8..].to_vec()));
    }
    parts.sort();
    let mut data = Vec::new();
    for (off, p) in parts {
        assert_eq!(off as usize, data.len(), "no gaps");
        data.extend(p);
    }
    (first.src_addr(), first.dst_addr(), data)
}

/// A 3,000-byte UDP datagram in fragments reaches a real server from the LIP (its checksum
/// right over the whole datagram); the server's fragmented answer, out of order, reaches
/// the client from the VIP.
#[test]
fn fragmented_udp_follows_its_session_both_ways() {
    let mut h = H::new(0, 1);
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let whole = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 45000, a(VIP), 53, 17, 0, &payload);
    for f in fragment6(&whole, 1448, 0xabcd) {
        h.rx(CLIENT_PORT, f);
    }
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 3);
    let (lip, rip, l4) = reassemble6(&sent);
    assert_eq!(lip, a(LIP));
    assert!(ipv6::verify_upper(lip, rip, 17, &l4), "the whole datagram's checksum follows the rewrite");
    assert_eq!((get_u16(&l4, 2), &l4[8..]), (5353, &payload[..]));
    let lport = get_u16(&l4, 0);
    let i = (0..3).find(|&i| rs(i) == rip).unwrap();
    let answer = l4_frame(RS_MAC[i], LB_S_MAC, rip, 5353, lip, lport, 17, 0, &payload);
    let mut frags = fragment6(&answer, 1232, 0x1234);
    frags.rotate_left(1); // the first fragment last
    for f in frags {
        h.rx(SERVER_PORT, f);
    }
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 3);
    let (src, dst, l4) = reassemble6(&back);
    assert_eq!((src, dst, get_u16(&l4, 0), get_u16(&l4, 2)), (a(VIP), a(CLIENT), 53, 45000));
    assert!(ipv6::verify_upper(src, dst, 17, &l4));
    assert_eq!(h.p.counters().event_count(crate::stats::Event::FragmentSteered), 4);
    assert_eq!(h.drops(DropReason::Fragment), 0);
}

/// With two workers, a reply's fragments on the wrong worker are handed to the owner.
#[test]
fn reply_fragments_reach_the_owning_worker() {
    let mut h0 = H::new(0, 2);
    let mut h1 = H::new(1, 2);
    h0.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 45001, a(VIP), 53, 17, 0, b"q"));
    let (_, _, lip, lport, rip, _, _) = parse(&h0.tx(SERVER_PORT)[0]);
    let i = (0..3).find(|&i| rs(i) == rip).unwrap();
    let answer = l4_frame(RS_MAC[i], LB_S_MAC, rip, 5353, lip, lport, 17, 0, &[9u8; 2000]);
    for f in fragment6(&answer, 1448, 77) {
        h1.rx(SERVER_PORT, f);
    }
    let handed = std::mem::take(&mut h1.out.redirect[0]);
    assert_eq!(handed.len(), 2);
    for x in handed {
        h0.p.handle_handoff(x, h0.now, &mut VecAlloc, &mut h0.out);
    }
    let (src, dst, l4) = reassemble6(&h0.tx(CLIENT_PORT));
    assert_eq!((src, dst), (a(VIP), a(CLIENT)));
    assert!(ipv6::verify_upper(src, dst, 17, &l4));
}

/// A first fragment without its whole UDP header, and fragments whose first never comes.
#[test]
fn bad_and_orphan_fragments_are_counted() {
    let mut h = H::new(0, 1);
    let whole = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 45002, a(VIP), 53, 17, 0, &[1u8; 100]);
    let mut tiny = fragment6(&whole, 48, 5)[0][..ETH + 40 + 8 + 4].to_vec();
    put_u16(&mut tiny, ETH + 4, 12);
    h.rx(CLIENT_PORT, tiny);
    assert_eq!(h.drops(DropReason::FragmentInvalid), 1);
    // Orphans time out.
    for g in fragment6(&whole, 48, 7).into_iter().skip(1) {
        h.rx(CLIENT_PORT, g);
    }
    assert!(h.tx(SERVER_PORT).is_empty());
    let later = h.now + crate::pipeline::frag::TIMEOUT;
    h.p.poll(later, &mut VecAlloc, &mut h.out);
    assert_eq!(h.drops(DropReason::FragmentTimeout), 2);
}

/// Adds TCP service `vip` (through LIP, with `options`) with the one real server `real`.
fn add_service(r: &mut Registry, vip: &str, options: rvs_proto::ServiceOptions, real: &str) {
    let key = ServiceKey { protocol: Protocol::Tcp, addr: vip.parse().unwrap() };
    let spec = ServiceSpec { options, key, scheduler: "rr".into(), local_addrs: vec![LIP.parse().unwrap()] };
    r.add_service(spec).unwrap();
    let real = RealSpec {
        thresholds: Default::default(),
        addr: real.parse().unwrap(),
        weight: 1,
        method: ForwardMethod::FullNat,
        tunnel: None,
    };
    r.add_real(&key, real).unwrap();
}

/// A service on one of the ports' own addresses (2001:db8:1::1, `v6_config`), as LVS
/// allows: its port is balanced, ssh to the same address stays the host's.
#[test]
fn a_service_on_an_own_address_takes_its_port_and_leaves_the_others_to_the_host() {
    const OWN: &str = "2001:db8:1::1";
    let mut r = Registry::new(16, 64);
    add_service(&mut r, &format!("[{OWN}]:80"), Default::default(), &format!("[{}]:80", rs(0)));
    let mut h = H::with(r, PipelineConfig { v6: v6_config(), exception_path: true, ..config(0, 1) });

    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(OWN), 80, 6, SYN, b""));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "the SYN to the service's port is balanced");
    let (_, dmac, src, lport, dst, dport, _) = parse(&sent[0]);
    assert_eq!((dmac, src, dst, dport), (RS_MAC[0], a(LIP), rs(0), 80));
    h.rx(SERVER_PORT, l4_frame(RS_MAC[0], LB_S_MAC, rs(0), 80, a(LIP), lport, 6, SYN | ACK, b""));
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(parse(&back[0]), (LB_C_MAC, CLIENT_MAC, a(OWN), 80, a(CLIENT), 40000, 63));
    assert!(h.out.kernel.is_empty());

    let ssh = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40001, a(OWN), 22, 6, SYN, b"");
    let udp = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40002, a(OWN), 80, 17, 0, b"x");
    h.rx(CLIENT_PORT, ssh.clone());
    h.rx(CLIENT_PORT, udp.clone());
    let k: Vec<(u16, Vec<u8>)> = std::mem::take(&mut h.out.kernel);
    assert_eq!(k, vec![(CLIENT_PORT, ssh), (CLIENT_PORT, udp)]);
    assert!(h.tx(SERVER_PORT).is_empty());
}

/// LVS's catch-all on an IPv6 VIP: a persistent port-0 service takes the ports without a
/// service of their own (80 and 53 have theirs), its port-0 real server gets the port the
/// client asked for.
#[test]
fn a_port_zero_service_takes_the_other_ports_of_the_vip() {
    let mut r = registry6();
    let options = rvs_proto::ServiceOptions {
        persistence: Some(rvs_proto::Persistence { timeout: 300, prefix_len: 128 }),
        ..Default::default()
    };
    add_service(&mut r, &format!("[{VIP}]:0"), options, &format!("[{}]:0", rs(2)));
    let mut h = H::with(r, PipelineConfig { v6: v6_config(), ..config(0, 1) });
    for (sport, dport) in [(40000, 8443), (40001, 25)] {
        h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), sport, a(VIP), dport, 6, SYN, b""));
        let sent = h.tx(SERVER_PORT);
        assert_eq!(sent.len(), 1, "port {dport}");
        let (_, dmac, src, lport, dst, rport, _) = parse(&sent[0]);
        assert_eq!((dmac, src, dst, rport), (RS_MAC[2], a(LIP), rs(2), dport));
        h.rx(SERVER_PORT, l4_frame(RS_MAC[2], LB_S_MAC, rs(2), dport, a(LIP), lport, 6, SYN | ACK, b""));
        assert_eq!(parse(&h.tx(CLIENT_PORT)[0]), (LB_C_MAC, CLIENT_MAC, a(VIP), dport, a(CLIENT), sport, 63));
    }
    // Port 80 keeps its own service (real servers 0 to 2 on port 80, round robin from 0).
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40002, a(VIP), 80, 6, SYN, b""));
    let (_, _, _, _, dst, rport, _) = parse(&h.tx(SERVER_PORT)[0]);
    assert_eq!((dst, rport), (rs(0), 80));
}

/// An IPv6 service given the slot of one deleted in the same configuration starts afresh:
/// no persistence template of the old one (the IPv4 case: `reload_tests.rs`).
#[test]
fn an_ipv6_service_in_a_reused_slot_keeps_nothing_of_the_old_one() {
    let mut r = Registry::new(1, 64);
    let options = rvs_proto::ServiceOptions {
        persistence: Some(rvs_proto::Persistence { timeout: 300, prefix_len: 128 }),
        ..Default::default()
    };
    let vip = format!("[{VIP}]:80");
    add_service(&mut r, &vip, options.clone(), &format!("[{}]:80", rs(0)));
    let mut h = H::with(r.clone(), PipelineConfig { v6: v6_config(), ..config(0, 1) });
    let open = |h: &mut H, sport| {
        h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), sport, a(VIP), 80, 6, SYN, b""));
        h.tx(SERVER_PORT).first().map(|f| parse(f).4)
    };
    assert_eq!(open(&mut h, 40000), Some(rs(0)));
    // The service deleted and another in its slot, where rs(0) takes no new clients.
    let key = ServiceKey { protocol: Protocol::Tcp, addr: vip.parse().unwrap() };
    r.del_service(&key).unwrap();
    add_service(&mut r, &vip, options, &format!("[{}]:80", rs(1)));
    let quiescent = RealSpec {
        thresholds: Default::default(),
        addr: format!("[{}]:80", rs(0)).parse().unwrap(),
        weight: 0,
        method: ForwardMethod::FullNat,
        tunnel: None,
    };
    r.add_real(&key, quiescent).unwrap();
    h.p.set_snapshot(Arc::new(r.snapshot()));
    assert_eq!(open(&mut h, 40001), Some(rs(1)), "scheduled afresh");
    assert_eq!(open(&mut h, 40002), Some(rs(1)), "and pinned there");
}
