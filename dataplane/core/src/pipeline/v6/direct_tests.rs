//! IPv6 DR, TUN and NAT through the whole pipeline (`direct.rs`): what reaches the real
//! server, what comes back, the input-only states, Packet Too Big, NAT steering, `-Lnc`,
//! and the NAT checksum update against recomputation.

use std::net::Ipv6Addr;
use std::sync::Arc;

use proptest::prelude::*;

use super::conn::{parse_l4, rewrite};
use super::conn_tests::{a, icmp_error_frame, l4_frame, rs, ACK, CLIENT, SYN, VIP};
use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::tests::{config, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::service::Registry;
use crate::session::v6::FlowKey6;
use crate::stats::{DropReason, Event, WorkerCounters};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6::{self, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::{get_u16, put_u16};
use rvs_proto::{ForwardMethod, Persistence, Protocol, RealSpec, ServiceKey, ServiceSpec};

const ETH: usize = 14;
const FIN: u8 = 0x01;
/// rvsd's address on the server side (`v6_config`).
const LB_S6: &str = "2001:db8:2::1";

/// TCP [VIP]:80 → rs:80 and UDP [VIP]:53 → rs:5353, three real servers by `method`.
fn registry(method: ForwardMethod) -> Registry {
    registry_with(method, None)
}

/// `registry` with persistence (and a local address when the method is FULLNAT).
fn registry_with(method: ForwardMethod, persistence: Option<Persistence>) -> Registry {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("[{VIP}]:{port}").parse().unwrap() };
        let options = rvs_proto::ServiceOptions { persistence, ..Default::default() };
        let local_addrs = match method {
            ForwardMethod::FullNat => vec![super::conn_tests::LIP.parse().unwrap()],
            _ => vec![],
        };
        let spec = ServiceSpec { options, key, scheduler: "rr".into(), local_addrs };
        r.add_service(spec).unwrap();
        for i in 0..3 {
            let real = RealSpec {
                thresholds: Default::default(),
                addr: format!("[{}]:{rport}", rs(i)).parse().unwrap(),
                weight: 1,
                method,
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
    fn new(method: ForwardMethod, worker: u16, workers: u16) -> H {
        H::with(registry(method), worker, workers)
    }
    fn with(reg: Registry, worker: u16, workers: u16) -> H {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let cfg = PipelineConfig { v6: v6_config(), ..config(worker, workers) };
        let p = Pipeline::new(cfg, Arc::new(reg.snapshot()), counters, Time::ZERO);
        let mut h = H { p, out: Output::new(2, workers as usize), now: Time::from_secs(1) };
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
    /// (InPkts, OutPkts) of the TCP service.
    fn svc_pkts(&mut self) -> (u64, u64) {
        self.p.service_fold.fold(&self.p.counters);
        let slot = self.p.snapshot().v6.services[0].slot as usize;
        let s = &self.p.counters().services[slot];
        (s.in_pkts.get(), s.out_pkts.get())
    }
}

fn client_tcp(sport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), sport, a(VIP), 80, 6, flags, payload)
}

fn rs_index(mac: &[u8]) -> usize {
    RS_MAC.iter().position(|m| m.0 == mac[..6]).expect("a real server's MAC")
}

#[test]
fn dr_sends_the_packet_untouched_to_the_real_servers_mac() {
    let mut h = H::new(ForwardMethod::DirectRoute, 0, 1);
    let syn = client_tcp(40000, SYN, b"");
    h.rx(CLIENT_PORT, syn.clone());
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let i = rs_index(&sent[0]);
    assert_eq!(&sent[0][6..12], &LB_S_MAC.0, "from our server-side port");
    assert_eq!(get_u16(&sent[0], 12), 0x86dd);
    assert_eq!(&sent[0][ETH..], &syn[ETH..], "IPv6 header (hop limit too) and TCP untouched");
    // Input-only states: the client's ACK establishes, its FIN moves to FIN_WAIT; the
    // same real server every time.
    let mut ack = client_tcp(40000, ACK, b"GET / HTTP/1.0\r\n\r\n");
    ack.extend_from_slice(&[0; 4]); // Ethernet padding goes
    h.rx(CLIENT_PORT, ack.clone());
    let sent = h.tx(SERVER_PORT);
    assert_eq!((rs_index(&sent[0]), sent[0].len()), (i, ack.len() - 4));
    let conns = h.p.dump_sessions(h.now);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].state, "ESTABLISHED");
    assert_eq!(conns[0].client.to_string(), format!("[{CLIENT}]:40000"));
    assert_eq!(conns[0].real.to_string(), format!("[{}]:80", rs(i)));
    assert_eq!(conns[0].local.to_string(), "[::]:0", "no local address");
    h.rx(CLIENT_PORT, client_tcp(40000, FIN | ACK, b""));
    assert_eq!(h.tx(SERVER_PORT).len(), 1);
    assert_eq!(h.p.dump_sessions(h.now)[0].state, "FIN_WAIT");
    assert_eq!(h.svc_pkts(), (3, 0), "only the in counters move");
    let slot = h.p.snapshot().v6.services[0].reals[i].slot as usize;
    let c = Arc::clone(h.p.counters());
    let r = &c.reals[slot];
    assert_eq!((r.active.get(), r.inactive.get()), (0, 1));
    // Nothing of a local port was taken: expiry gives nothing back and nothing breaks.
    h.now = Time::from_secs(1000);
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    assert!(h.p.dump_sessions(h.now).is_empty());
    assert_eq!((r.active.get(), r.inactive.get()), (0, 0));
}

#[test]
fn dr_reply_through_us_is_not_routed_and_hop_limit_one_is_dropped() {
    let mut h = H::new(ForwardMethod::DirectRoute, 0, 1);
    h.rx(CLIENT_PORT, client_tcp(40000, SYN, b""));
    let i = rs_index(&h.tx(SERVER_PORT)[0]);
    // A reply sent to us (a server whose default route points at the director): the
    // client is none of our addresses, there is no NAT server: not ours to route.
    h.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, a(VIP), 80, a(CLIENT), 40000, 6, SYN | ACK, b""));
    assert!(h.tx(CLIENT_PORT).is_empty());
    assert_eq!(h.drops(DropReason::NotLocal), 1);
    let mut f = client_tcp(40001, SYN, b"");
    f[ETH + 7] = 1;
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::TtlExceeded), 1);
    assert!(h.tx(SERVER_PORT).is_empty());
}

#[test]
fn tun_wraps_in_ipv6_from_our_address_to_the_real_server() {
    let mut h = H::new(ForwardMethod::Tunnel, 0, 1);
    let syn = client_tcp(40000, SYN, b"");
    h.rx(CLIENT_PORT, syn.clone());
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let i = rs_index(&sent[0]);
    let outer = Ipv6Packet::new_checked(&sent[0][ETH..]).unwrap();
    assert_eq!((outer.src_addr(), outer.dst_addr()), (a(LB_S6), rs(i)));
    assert_eq!((outer.next_header(), outer.hop_limit()), (41, 64));
    assert_eq!(outer.payload(), &syn[ETH..], "the client's packet inside, untouched");
    h.rx(CLIENT_PORT, client_tcp(40000, ACK, b"x"));
    assert_eq!(h.p.dump_sessions(h.now)[0].state, "ESTABLISHED");
    assert_eq!(h.svc_pkts(), (2, 0));
}

#[test]
fn tun_answers_what_no_longer_fits_with_packet_too_big() {
    let mut h = H::new(ForwardMethod::Tunnel, 0, 1);
    h.rx(CLIENT_PORT, client_tcp(40000, SYN, b""));
    h.tx(SERVER_PORT);
    // 1440 bytes of payload: a 1500-byte IPv6 packet, 1540 once wrapped.
    let big = client_tcp(40000, ACK, &[7u8; 1440]);
    h.rx(CLIENT_PORT, big.clone());
    assert!(h.tx(SERVER_PORT).is_empty());
    assert_eq!(h.drops(DropReason::TunTooBig), 1);
    assert_eq!(h.p.counters().event_count(Event::TunFragNeeded), 1);
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    let eth = EthernetFrame::new_checked(&back[0][..]).unwrap();
    assert_eq!((eth.src_addr(), eth.dst_addr()), (LB_C_MAC, CLIENT_MAC));
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.next_header()), (a("2001:db8:1::1"), a(CLIENT), 58));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&icmp, ip.src_addr(), ip.dst_addr(), ip.hop_limit()).unwrap() {
        Icmpv6Repr::PacketTooBig { mtu, quote } => {
            assert_eq!(mtu, 1460);
            assert_eq!(quote.len(), 1232, "as much as fits IPv6's minimum MTU");
            assert_eq!(quote, &big[ETH..ETH + 1232]);
        }
        other => panic!("not packet too big: {other:?}"),
    }
    assert_eq!(icmpv6::PACKET_TOO_BIG, icmp.msg_type());
    // What fits goes through.
    h.rx(CLIENT_PORT, client_tcp(40000, ACK, &[7u8; 1400]));
    assert_eq!(h.tx(SERVER_PORT).len(), 1);
}

#[test]
fn nat_rewrites_the_destination_and_the_replies_source() {
    let mut h = H::new(ForwardMethod::Nat, 0, 1);
    h.rx(CLIENT_PORT, client_tcp(40000, SYN, b""));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let i = rs_index(&sent[0]);
    let ip = Ipv6Packet::new_checked(&sent[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (a(CLIENT), rs(i), 63));
    assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), 6, ip.payload()));
    assert_eq!((get_u16(ip.payload(), 0), get_u16(ip.payload(), 2)), (40000, 80));
    // The reply, routed to us towards the client, leaves as VIP:80.
    h.rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, rs(i), 80, a(CLIENT), 40000, 6, SYN | ACK, b""));
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(&back[0][..12], &[CLIENT_MAC.0, LB_C_MAC.0].concat()[..]);
    let ip = Ipv6Packet::new_checked(&back[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (a(VIP), a(CLIENT), 63));
    assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), 6, ip.payload()));
    assert_eq!((get_u16(ip.payload(), 0), get_u16(ip.payload(), 2)), (80, 40000));
    h.rx(CLIENT_PORT, client_tcp(40000, ACK, b""));
    assert_eq!(h.tx(SERVER_PORT).len(), 1);
    let conns = h.p.dump_sessions(h.now);
    assert_eq!((conns[0].state.as_str(), conns[0].local.to_string()), ("ESTABLISHED", "[::]:0".into()));
    assert_eq!(h.svc_pkts(), (2, 1));
    // UDP too; a packet from a NAT server to a client it has no session with is dropped.
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000, a(VIP), 53, 17, 0, b"q"));
    let sent = h.tx(SERVER_PORT);
    let j = rs_index(&sent[0]);
    h.rx(SERVER_PORT, l4_frame(RS_MAC[j], LB_S_MAC, rs(j), 5353, a(CLIENT), 50000, 17, 0, b"a"));
    let ip = Ipv6Packet::new_checked(&h.tx(CLIENT_PORT)[0][ETH..]).unwrap().into_inner().to_vec();
    let ip = Ipv6Packet::new_checked(&ip[..]).unwrap();
    assert_eq!((ip.src_addr(), get_u16(ip.payload(), 0)), (a(VIP), 53));
    assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), 17, ip.payload()));
    h.rx(SERVER_PORT, l4_frame(RS_MAC[j], LB_S_MAC, rs(j), 5353, a(CLIENT), 50001, 17, 0, b"a"));
    assert_eq!(h.drops(DropReason::NoSession), 1);
    // Anything else not for us stays the kernel's business.
    h.rx(SERVER_PORT, l4_frame(RS_MAC[j], LB_S_MAC, rs(j), 9999, a(CLIENT), 50001, 17, 0, b"a"));
    assert_eq!(h.drops(DropReason::NotLocal), 1);
}

#[test]
fn nat_connections_live_on_the_worker_their_client_endpoint_names() {
    let mut w = [H::new(ForwardMethod::Nat, 0, 2), H::new(ForwardMethod::Nat, 1, 2)];
    // Find a client port owned by worker 1, send its SYN to worker 0.
    let sport = (40000..41000).find(|&p| super::direct::NatSteering6::owner(a(CLIENT), p, 2) == 1).unwrap();
    w[0].rx(CLIENT_PORT, client_tcp(sport, SYN, b""));
    assert!(w[0].tx(SERVER_PORT).is_empty());
    let hand = w[0].out.redirect[1].pop().expect("handed to worker 1");
    let now = w[1].now;
    w[1].p.handle_handoff(hand, now, &mut VecAlloc, &mut w[1].out);
    let sent = w[1].tx(SERVER_PORT);
    let i = rs_index(&sent[0]);
    // The reply lands on worker 0 too: handed over, then rewritten by worker 1.
    w[0].rx(SERVER_PORT, l4_frame(RS_MAC[i], LB_S_MAC, rs(i), 80, a(CLIENT), sport, 6, SYN | ACK, b""));
    let hand = w[0].out.redirect[1].pop().expect("reply handed to worker 1");
    w[1].p.handle_handoff(hand, now, &mut VecAlloc, &mut w[1].out);
    let back = w[1].tx(CLIENT_PORT);
    assert_eq!(Ipv6Packet::new_checked(&back[0][ETH..]).unwrap().src_addr(), a(VIP));
    assert_eq!(w[0].drops(DropReason::NoSession) + w[1].drops(DropReason::NoSession), 0);
}

#[test]
fn the_owner_spreads_client_endpoints() {
    let mut n = [0u32; 4];
    for p in 0..4000u16 {
        n[usize::from(super::direct::NatSteering6::owner(a(CLIENT), 1024 + p, 4))] += 1;
    }
    assert!(n.iter().all(|&c| (700..1300).contains(&c)), "{n:?}");
}

#[test]
fn persistence_pins_a_client_prefix_to_one_real_server() {
    for method in [ForwardMethod::DirectRoute, ForwardMethod::FullNat] {
        let p = Persistence { timeout: 60, prefix_len: 64 };
        let mut h = H::with(registry_with(method, Some(p)), 0, 1);
        // The real server a client's SYN goes to (the destination MAC of what is sent).
        let server_of = |h: &mut H, src: &str, sport: u16| {
            h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(src), sport, a(VIP), 80, 6, SYN, b""));
            let sent = h.tx(SERVER_PORT);
            assert_eq!(sent.len(), 1, "{method:?} {src}");
            rs_index(&sent[0])
        };
        // rr alone would go round the three; the template keeps one /64 on one server.
        let first = server_of(&mut h, CLIENT, 40000);
        for (i, src) in ["2001:db8:1::10", "2001:db8:1::77", "2001:db8:1::ffff"].iter().enumerate() {
            assert_eq!(server_of(&mut h, src, 40001 + i as u16), first, "{method:?}: {src} in the same /64");
        }
        // Other /64s are placed by rendezvous hashing: all three servers get some.
        let mut seen = std::collections::HashSet::new();
        for n in 1..31u16 {
            seen.insert(server_of(&mut h, &format!("2001:db8:1:{n:x}::10"), 41000 + n));
        }
        assert_eq!(seen.len(), 3, "{method:?}: other prefixes spread");
        assert_eq!(h.p.persist_templates(), 31, "one template per /64");
        // Every session ends (SYN_RECV times out), then the templates (60 s after): the
        // /64 is scheduled afresh, and rendezvous hashing places it the same way.
        h.now = Time::from_secs(100);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        assert!(h.p.dump_sessions(h.now).is_empty(), "{method:?}");
        h.now = Time::from_secs(200);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        assert_eq!(h.p.persist_templates(), 0, "{method:?}: the templates went with their sessions");
        // (The neighbours went stale meanwhile: known again, the probes dropped.)
        for (i, m) in RS_MAC.iter().enumerate() {
            h.p.neigh6_learned(rs(i), m.0, SERVER_PORT, h.now, &mut h.out);
        }
        h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
        h.tx(SERVER_PORT);
        h.tx(CLIENT_PORT);
        assert_eq!(server_of(&mut h, CLIENT, 42000), first, "{method:?}: placed the same way again");
    }
}

#[test]
fn icmpv6_errors_follow_direct_sessions() {
    // NAT: a real server's port unreachable to the client (routed through us) reaches the
    // client from the VIP, quoting what the client sent (CIP → VIP:53).
    let mut h = H::new(ForwardMethod::Nat, 0, 1);
    h.rx(CLIENT_PORT, l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 50000, a(VIP), 53, 17, 0, b"q"));
    let sent = h.tx(SERVER_PORT).remove(0);
    let j = rs_index(&sent);
    let quote = &sent[ETH..];
    let err = Icmpv6Repr::DstUnreachable { code: 4, quote };
    h.rx(SERVER_PORT, icmp_error_frame(RS_MAC[j], LB_S_MAC, rs(j), a(CLIENT), &err));
    let back = h.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1, "translated for the client");
    let ip = Ipv6Packet::new_checked(&back[0][ETH..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (a(VIP), a(CLIENT)));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&icmp, ip.src_addr(), ip.dst_addr(), ip.hop_limit()).unwrap() {
        Icmpv6Repr::DstUnreachable { code: 4, quote } => {
            let q = Ipv6Packet::new_checked(quote).unwrap();
            assert_eq!((q.src_addr(), q.dst_addr()), (a(CLIENT), a(VIP)));
            assert_eq!((get_u16(q.payload(), 0), get_u16(q.payload(), 2)), (50000, 53));
            assert!(ipv6::verify_upper(q.src_addr(), q.dst_addr(), 17, q.payload()), "quoted checksum");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.p.counters().event_count(Event::IcmpErrorForwarded), 1);
    // An error from a host that is no NAT real server is not ours.
    let err = Icmpv6Repr::DstUnreachable { code: 4, quote };
    h.rx(SERVER_PORT, icmp_error_frame(RS_MAC[j], LB_S_MAC, a("2001:db8:2::99"), a(CLIENT), &err));
    assert!(h.tx(CLIENT_PORT).is_empty());
    assert_eq!(h.drops(DropReason::NotLocal), 1);

    // DR and TUN: a router's packet too big about what a real server sent from the VIP
    // (VIP:80 → client) goes to that server unchanged, inside IPv6 for TUN.
    for method in [ForwardMethod::DirectRoute, ForwardMethod::Tunnel] {
        let mut h = H::new(method, 0, 1);
        h.rx(CLIENT_PORT, client_tcp(40000, SYN, b""));
        let i = rs_index(&h.tx(SERVER_PORT)[0]);
        let reply = l4_frame(RS_MAC[i], CLIENT_MAC, a(VIP), 80, a(CLIENT), 40000, 6, ACK, &[1; 1300]);
        let router = a("2001:db8:1::fe");
        let err = Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &reply[ETH..ETH + 1232] };
        let frame = icmp_error_frame(CLIENT_MAC, LB_C_MAC, router, a(VIP), &err);
        h.rx(CLIENT_PORT, frame.clone());
        let sent = h.tx(SERVER_PORT);
        assert_eq!(sent.len(), 1, "{method:?}");
        assert_eq!(rs_index(&sent[0]), i, "{method:?}: to the session's server");
        let inner = match method {
            ForwardMethod::Tunnel => {
                let outer = Ipv6Packet::new_checked(&sent[0][ETH..]).unwrap();
                assert_eq!((outer.src_addr(), outer.dst_addr(), outer.next_header()), (a(LB_S6), rs(i), 41));
                outer.payload().to_vec()
            }
            _ => sent[0][ETH..].to_vec(),
        };
        assert_eq!(inner, &frame[ETH..], "{method:?}: the error unchanged");
        assert_eq!(h.p.counters().event_count(Event::IcmpErrorForwarded), 1);
    }
}

/// A TCP or UDP frame from `src`:`sport` to `dst`:`dport` with `payload`, its session
/// facts as `handle_l4_v6` parses them.
fn frame_of(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, udp: bool, payload: &[u8]) -> Vec<u8> {
    let proto = if udp { 17 } else { 6 };
    l4_frame(CLIENT_MAC, LB_C_MAC, src, sport, dst, dport, proto, ACK, payload)
}

fn addr6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

proptest! {
    /// The NAT rewrite's incremental checksum (RFC 1624 over the pseudo-header's addresses
    /// and the ports) equals a checksum computed afresh over the new pseudo-header.
    #[test]
    fn nat_checksum_update_matches_recomputation(
        src in addr6(), dst in addr6(), to_src in addr6(), to_dst in addr6(),
        sport in any::<u16>(), dport in any::<u16>(), to_sport in any::<u16>(), to_dport in any::<u16>(),
        udp in any::<bool>(), payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut f = frame_of(src, sport, dst, dport, udp, &payload);
        let l4 = parse_l4(&f, 0).unwrap();
        let proto = if udp { 17 } else { 6 };
        let to = FlowKey6 { src: to_src, dst: to_dst, sport: to_sport, dport: to_dport, proto };
        rewrite(&mut f, &l4, &to);
        let ip = Ipv6Packet::new_checked(&f[ETH..]).unwrap();
        prop_assert_eq!((ip.src_addr(), ip.dst_addr()), (to_src, to_dst));
        let mut seg = ip.payload().to_vec();
        let at = if udp { 6 } else { 16 };
        let got = get_u16(&seg, at);
        put_u16(&mut seg, at, 0);
        let mut want = ipv6::upper_checksum(to_src, to_dst, proto, &seg);
        if udp && want == 0 {
            want = 0xffff;
        }
        // 0x0000 and 0xffff are the same one's complement sum (TCP may carry either).
        prop_assert!(got == want || (!udp && got ^ want == 0xffff && (got == 0 || want == 0)),
            "incremental {:#06x}, recomputed {:#06x}", got, want);
        prop_assert!(ipv6::verify_upper(to_src, to_dst, proto, ip.payload()));
    }
}
