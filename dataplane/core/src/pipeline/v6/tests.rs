//! IPv6 for our own addresses: ND answered and asked, echo, malformed packets counted.

use std::net::Ipv6Addr;
use std::sync::Arc;

use super::V6Config;
use crate::frame::VecAlloc;
use crate::pipeline::tests::{
    config, registry, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT,
};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::route::v6::{Prefix6, Route6};
use crate::stats::{DropReason, WorkerCounters};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6::{self, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr, NH_DEST_OPTS, NH_ICMPV6};
use crate::wire::{EtherType, MacAddr};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const ETH: usize = 14;

pub(super) fn v6_config() -> V6Config {
    V6Config {
        addrs: vec![vec![(a("2001:db8:1::1"), 64)], vec![(a("2001:db8:2::1"), 64)]],
        routes: vec![Route6 {
            prefix: Prefix6::new(a("2001:db8:99::"), 48).unwrap(),
            port: SERVER_PORT,
            gateway: Some(a("2001:db8:2::fe")),
        }],
    }
}

struct H {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
}

impl H {
    fn with(cfg: PipelineConfig) -> H {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let p = Pipeline::new(cfg, Arc::new(registry().snapshot()), counters, Time::ZERO);
        H { p, out: Output::new(2, 1), now: Time::from_secs(1) }
    }
    fn new() -> H {
        H::with(PipelineConfig { v6: v6_config(), ..config(0, 1) })
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

/// An Ethernet/IPv6 frame carrying `ext` (extension headers, the first one's type in
/// `first_nh`, or none) and then the ICMPv6 message `msg`.
#[allow(clippy::too_many_arguments)]
fn frame(
    smac: MacAddr,
    dmac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    first_nh: u8,
    ext: &[u8],
    msg: &Icmpv6Repr<'_>,
) -> Vec<u8> {
    let mlen = msg.buffer_len();
    let mut f = vec![0u8; ETH + 40 + ext.len() + mlen];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_src_addr(smac);
    eth.set_dst_addr(dmac);
    eth.set_ethertype(EtherType::IPV6);
    let nh = if ext.is_empty() { NH_ICMPV6 } else { first_nh };
    Ipv6Repr {
        src,
        dst,
        next_header: nh,
        payload_len: (ext.len() + mlen) as u16,
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    f[ETH + 40..ETH + 40 + ext.len()].copy_from_slice(ext);
    msg.emit(&mut f[ETH + 40 + ext.len()..], src, dst);
    f
}

fn ns_for(target: Ipv6Addr, from: Ipv6Addr, hl: u8) -> Vec<u8> {
    let group = ipv6::solicited_node(target);
    let ns = Icmpv6Repr::NeighborSolicit { target, source_lladdr: Some(CLIENT_MAC) };
    frame(CLIENT_MAC, ipv6::multicast_mac(group), from, group, hl, 0, &[], &ns)
}

/// Parses an ICMPv6 frame we sent: its IPv6 header and message, checksum verified.
fn parse_sent(f: &[u8]) -> (MacAddr, MacAddr, Ipv6Repr, Vec<u8>) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    assert_eq!(eth.ethertype(), EtherType::IPV6);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    let r = Ipv6Repr::parse(&ip);
    assert_eq!(r.next_header, NH_ICMPV6);
    assert!(Icmpv6Packet::new_checked(ip.payload()).unwrap().verify_checksum(r.src, r.dst));
    (eth.src_addr(), eth.dst_addr(), r, ip.payload().to_vec())
}

#[test]
fn solicitation_for_our_address_is_advertised_and_the_sender_learned() {
    let mut h = H::new();
    h.rx(CLIENT_PORT, ns_for(a("2001:db8:1::1"), a("2001:db8:1::10"), 255));
    let sent = h.tx(CLIENT_PORT);
    assert_eq!(sent.len(), 1);
    let (smac, dmac, ip, msg) = parse_sent(&sent[0]);
    assert_eq!((smac, dmac), (LB_C_MAC, CLIENT_MAC));
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (a("2001:db8:1::1"), a("2001:db8:1::10"), 255));
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 255).unwrap(),
        Icmpv6Repr::NeighborAdvert {
            flags: icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE,
            target: a("2001:db8:1::1"),
            target_lladdr: Some(LB_C_MAC)
        }
    );
    assert_eq!(h.p.neigh6_lookup(CLIENT_PORT, a("2001:db8:1::10")), Some(CLIENT_MAC.0));
    assert_eq!(h.out.learned6, vec![(a("2001:db8:1::10"), CLIENT_MAC.0, CLIENT_PORT)]);

    // The port's link-local address is ours too; duplicate address detection (from ::)
    // is answered to all nodes, unsolicited.
    let ll = ipv6::link_local(LB_C_MAC);
    h.rx(CLIENT_PORT, {
        let group = ipv6::solicited_node(ll);
        let ns = Icmpv6Repr::NeighborSolicit { target: ll, source_lladdr: None };
        frame(CLIENT_MAC, ipv6::multicast_mac(group), Ipv6Addr::UNSPECIFIED, group, 255, 0, &[], &ns)
    });
    let (_, dmac, ip, msg) = parse_sent(&h.tx(CLIENT_PORT)[0]);
    assert_eq!((dmac.0[0], ip.dst, ip.src), (0x33, a("ff02::1"), ll));
    assert_eq!(msg[4], icmpv6::NA_OVERRIDE);
}

#[test]
fn solicitations_not_for_us_or_not_on_link_are_not_answered() {
    let mut h = H::new();
    // Another host's address; our server port's address asked on the client port.
    h.rx(CLIENT_PORT, ns_for(a("2001:db8:1::99"), a("2001:db8:1::10"), 255));
    h.rx(CLIENT_PORT, ns_for(a("2001:db8:2::1"), a("2001:db8:1::10"), 255));
    assert_eq!(h.drops(DropReason::NotLocal), 2);
    // Hop limit below 255: it crossed a router (RFC 4861 §7.1.1).
    h.rx(CLIENT_PORT, ns_for(a("2001:db8:1::1"), a("2001:db8:1::10"), 64));
    assert_eq!(h.drops(DropReason::Icmpv6Invalid), 1);
    assert!(h.tx(CLIENT_PORT).is_empty());
    assert_eq!(h.p.neigh6_lookup(CLIENT_PORT, a("2001:db8:1::10")), None);
}

#[test]
fn echo_to_our_address_is_answered_without_the_extension_headers() {
    let mut h = H::new();
    let req = Icmpv6Repr::EchoRequest { ident: 0x77, seq_no: 3, data: b"0123456789abcdef" };
    // A destination options header (PadN) in front of the request.
    let dopts = [NH_ICMPV6, 0, 1, 4, 0, 0, 0, 0];
    let f =
        frame(CLIENT_MAC, LB_C_MAC, a("2001:db8:1::10"), a("2001:db8:1::1"), 61, NH_DEST_OPTS, &dopts, &req);
    h.rx(CLIENT_PORT, f);
    let sent = h.tx(CLIENT_PORT);
    assert_eq!(sent.len(), 1);
    let (smac, dmac, ip, msg) = parse_sent(&sent[0]);
    assert_eq!((smac, dmac), (LB_C_MAC, CLIENT_MAC));
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (a("2001:db8:1::1"), a("2001:db8:1::10"), 64));
    assert_eq!(sent[0].len(), ETH + 40 + 8 + 16);
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 64).unwrap(),
        Icmpv6Repr::EchoReply { ident: 0x77, seq_no: 3, data: b"0123456789abcdef" }
    );
}

#[test]
fn malformed_ipv6_is_dropped_by_reason() {
    let mut h = H::new();
    let req = Icmpv6Repr::EchoRequest { ident: 1, seq_no: 1, data: b"x" };
    let good = frame(CLIENT_MAC, LB_C_MAC, a("2001:db8:1::10"), a("2001:db8:1::1"), 64, 0, &[], &req);
    // Payload length beyond the frame.
    let mut f = good.clone();
    f[ETH + 5] = 200;
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::BadIpv6Header), 1);
    // Shorter than a header.
    h.rx(CLIENT_PORT, good[..ETH + 30].to_vec());
    assert_eq!(h.drops(DropReason::Truncated), 1);
    // A hop-by-hop header after a destination options header.
    let ext = [0u8, 0, 1, 4, 0, 0, 0, 0, NH_ICMPV6, 0, 1, 4, 0, 0, 0, 0];
    let mut ext = ext.to_vec();
    ext[0] = 0; // dest opts -> next: hop-by-hop
    let f =
        frame(CLIENT_MAC, LB_C_MAC, a("2001:db8:1::10"), a("2001:db8:1::1"), 64, NH_DEST_OPTS, &ext, &req);
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::Ipv6ExtChain), 1);
    // A bad ICMPv6 checksum.
    let mut f = good.clone();
    *f.last_mut().unwrap() ^= 0xff;
    h.rx(CLIENT_PORT, f);
    assert_eq!(h.drops(DropReason::Icmpv6Invalid), 1);
    // A router advertisement (to all nodes): ignored without an exception path.
    let ra = Icmpv6Repr::RouterAdvert { hop_limit: 64, router_lifetime: 1800 };
    let all = a("ff02::1");
    h.rx(CLIENT_PORT, frame(CLIENT_MAC, ipv6::multicast_mac(all), a("fe80::1"), all, 255, 0, &[], &ra));
    assert_eq!(h.drops(DropReason::IcmpIgnored), 1);
    assert!(h.tx(CLIENT_PORT).is_empty());
    // The good one is answered.
    h.rx(CLIENT_PORT, good);
    assert_eq!(h.tx(CLIENT_PORT).len(), 1);
}

#[test]
fn router_advertisements_go_to_the_kernel_with_an_exception_path() {
    let mut h = H::with(PipelineConfig { v6: v6_config(), exception_path: true, ..config(0, 1) });
    let ra = Icmpv6Repr::RouterAdvert { hop_limit: 64, router_lifetime: 1800 };
    let all = a("ff02::1");
    h.rx(CLIENT_PORT, frame(CLIENT_MAC, ipv6::multicast_mac(all), a("fe80::1"), all, 255, 0, &[], &ra));
    assert_eq!(h.out.kernel.len(), 1);
    assert_eq!(h.drops(DropReason::IcmpIgnored), 0);
}

#[test]
fn without_ipv6_addresses_ipv6_is_not_ours() {
    let mut h = H::with(config(0, 1));
    let req = Icmpv6Repr::EchoRequest { ident: 1, seq_no: 1, data: b"x" };
    h.rx(CLIENT_PORT, frame(CLIENT_MAC, LB_C_MAC, a("2001:db8:1::10"), a("2001:db8:1::1"), 64, 0, &[], &req));
    h.rx(CLIENT_PORT, ns_for(a("2001:db8:1::1"), a("2001:db8:1::10"), 255));
    assert_eq!(h.drops(DropReason::UnknownEthertype), 2);
    assert!(h.tx(CLIENT_PORT).is_empty());
}

/// An IPv6 packet (Ethernet header to be filled by `send_ipv6`) to `dst`.
fn outgoing(dst: Ipv6Addr) -> Vec<u8> {
    let req = Icmpv6Repr::EchoRequest { ident: 9, seq_no: 9, data: b"out" };
    frame(MacAddr::ZERO, MacAddr::ZERO, a("2001:db8:2::1"), dst, 64, 0, &[], &req)
}

#[test]
fn next_hops_are_solicited_and_held_packets_released_by_the_advertisement() {
    let mut h = H::new();
    let rs = a("2001:db8:2::11");
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "one solicitation, the packet held");
    let (smac, dmac, ip, msg) = parse_sent(&sent[0]);
    assert_eq!((smac, dmac), (LB_S_MAC, MacAddr([0x33, 0x33, 0xff, 0, 0, 0x11])));
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (a("2001:db8:2::1"), a("ff02::1:ff00:11"), 255));
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 255).unwrap(),
        Icmpv6Repr::NeighborSolicit { target: rs, source_lladdr: Some(LB_S_MAC) }
    );
    // A second packet waits behind the same solicitation.
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    assert!(h.tx(SERVER_PORT).is_empty());
    // The advertisement releases both, addressed to the server's MAC.
    let na = Icmpv6Repr::NeighborAdvert {
        flags: icmpv6::NA_SOLICITED,
        target: rs,
        target_lladdr: Some(RS_MAC[0]),
    };
    h.rx(SERVER_PORT, frame(RS_MAC[0], LB_S_MAC, rs, a("2001:db8:2::1"), 255, 0, &[], &na));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 2);
    for f in &sent {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!((eth.src_addr(), eth.dst_addr()), (LB_S_MAC, RS_MAC[0]));
    }
    assert_eq!(h.out.learned6, vec![(rs, RS_MAC[0].0, SERVER_PORT)]);
    // Resolved: the next packet goes straight out.
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.tx(SERVER_PORT).len(), 1);
    // An unsolicited advertisement creates no entry.
    let other = a("2001:db8:2::12");
    let na = Icmpv6Repr::NeighborAdvert { flags: 0, target: other, target_lladdr: Some(RS_MAC[1]) };
    h.rx(SERVER_PORT, frame(RS_MAC[1], LB_S_MAC, other, a("2001:db8:2::1"), 255, 0, &[], &na));
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, other), None);
}

#[test]
fn static_routes_resolve_their_gateway_and_unroutable_packets_are_counted() {
    let mut h = H::new();
    let far = a("2001:db8:99::5");
    h.p.send_ipv6(outgoing(far), far, h.now, &mut VecAlloc, &mut h.out);
    let (_, _, _, msg) = parse_sent(&h.tx(SERVER_PORT)[0]);
    assert_eq!(Icmpv6Packet::new_checked(&msg[..]).unwrap().target_addr(), Some(a("2001:db8:2::fe")));
    let nowhere = a("2001:db8:77::1");
    h.p.send_ipv6(outgoing(nowhere), nowhere, h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.drops(DropReason::NoRoute), 1);
    // The gateway never answers: probes, then the held packet is dropped.
    for s in 2..8 {
        h.now = Time::from_secs(s);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    }
    assert_eq!(h.tx(SERVER_PORT).len(), 2, "two more solicitations (three in all)");
    assert_eq!(h.drops(DropReason::NeighTimeout), 1);
}

#[test]
fn neighbours_learned_by_another_worker_release_held_packets() {
    let mut h = H::new();
    let rs = a("2001:db8:2::12");
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    h.tx(SERVER_PORT);
    h.p.neigh6_learned(rs, RS_MAC[1].0, SERVER_PORT, h.now, &mut h.out);
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    assert_eq!(EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr(), RS_MAC[1]);
}

#[test]
fn a_solicited_advertisement_teaches_the_worker_it_lands_on_and_is_shared() {
    // Another worker asked; the answer lands here (the NIC's hash decides).
    let mut h = H::new();
    let rs = a("2001:db8:2::13");
    let na = Icmpv6Repr::NeighborAdvert {
        flags: icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE,
        target: rs,
        target_lladdr: Some(RS_MAC[2]),
    };
    h.rx(SERVER_PORT, frame(RS_MAC[2], LB_S_MAC, rs, a("2001:db8:2::1"), 255, 0, &[], &na));
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, rs), Some(RS_MAC[2].0));
    assert_eq!(h.out.learned6, vec![(rs, RS_MAC[2].0, SERVER_PORT)]);
    // Not for a neighbour off this link.
    let far = a("2001:db8:77::1");
    let na = Icmpv6Repr::NeighborAdvert {
        flags: icmpv6::NA_SOLICITED,
        target: far,
        target_lladdr: Some(RS_MAC[1]),
    };
    h.rx(SERVER_PORT, frame(RS_MAC[1], LB_S_MAC, far, a("2001:db8:2::1"), 255, 0, &[], &na));
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, far), None);
}

/// IPv6 on a VLAN of the server port (interface 2, VLAN 10, 2001:db8:10::1/64): its
/// solicitations and echoes are answered tagged, our own solicitation for a next hop on it
/// leaves tagged, and the answer comes back to that interface; the untagged port's IPv6
/// addresses are not the VLAN's.
#[test]
fn ipv6_on_a_vlan_is_answered_and_resolved_on_the_vlan() {
    use crate::frame::{pop_vlan, push_vlan};
    use crate::pipeline::VlanInfo;
    use crate::wire::vlan::VlanRepr;
    const VIF10: u16 = 2;
    let mut cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
    cfg.ports[SERVER_PORT as usize].vlans = vec![VlanInfo { id: 10, addrs: vec![], lips: vec![] }];
    cfg.v6.addrs.push(vec![(a("2001:db8:10::1"), 64)]);
    let counters = Arc::new(WorkerCounters::new(16, 64).with_vlans(1));
    let p = Pipeline::new(cfg, Arc::new(registry().snapshot()), counters, Time::ZERO);
    let mut h = H { p, out: Output::new(2, 1), now: Time::from_secs(1) };
    let tag = |mut f: Vec<u8>| {
        assert!(push_vlan(&mut f, 10));
        f
    };
    let untag = |f: &[u8]| {
        assert_eq!(VlanRepr::parse(f).map(|t| t.vid).ok(), Some(10), "sent tagged with VLAN 10");
        let mut v = f.to_vec();
        assert!(pop_vlan(&mut v));
        v
    };
    let (me, rs) = (a("2001:db8:10::1"), a("2001:db8:10::11"));
    // A solicitation for our VLAN address: advertised on the VLAN.
    let group = ipv6::solicited_node(me);
    let ns = Icmpv6Repr::NeighborSolicit { target: me, source_lladdr: Some(RS_MAC[0]) };
    h.rx(SERVER_PORT, tag(frame(RS_MAC[0], ipv6::multicast_mac(group), rs, group, 255, 0, &[], &ns)));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "one advertisement");
    let (smac, dmac, ip, msg) = parse_sent(&untag(&sent[0]));
    assert_eq!((smac, dmac, ip.src, ip.dst), (LB_S_MAC, RS_MAC[0], me, rs));
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert!(matches!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 255).unwrap(),
        Icmpv6Repr::NeighborAdvert { target, .. } if target == me
    ));
    assert_eq!(h.p.neigh6_lookup(VIF10, rs), Some(RS_MAC[0].0), "the sender learned on the VLAN");
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, rs), None, "not on the untagged port");
    // An echo to our VLAN address: answered on the VLAN.
    let req = Icmpv6Repr::EchoRequest { ident: 5, seq_no: 1, data: b"vlan" };
    h.rx(SERVER_PORT, tag(frame(RS_MAC[0], LB_S_MAC, rs, me, 64, 0, &[], &req)));
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1);
    let (_, dmac, ip, _) = parse_sent(&untag(&sent[0]));
    assert_eq!((dmac, ip.src, ip.dst), (RS_MAC[0], me, rs));
    // The untagged port's address asked on the VLAN is not ours there.
    let other = a("2001:db8:2::1");
    let group = ipv6::solicited_node(other);
    let ns = Icmpv6Repr::NeighborSolicit { target: other, source_lladdr: Some(RS_MAC[0]) };
    h.rx(SERVER_PORT, tag(frame(RS_MAC[0], ipv6::multicast_mac(group), rs, group, 255, 0, &[], &ns)));
    assert!(h.tx(SERVER_PORT).is_empty(), "2001:db8:2::1 is not the VLAN's");
    // A packet to a next hop on the VLAN: our solicitation leaves tagged, from the VLAN address.
    let next = a("2001:db8:10::12");
    let req = Icmpv6Repr::EchoRequest { ident: 9, seq_no: 9, data: b"out" };
    let f = frame(MacAddr::ZERO, MacAddr::ZERO, me, next, 64, 0, &[], &req);
    h.p.send_ipv6(f, next, h.now, &mut VecAlloc, &mut h.out);
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "one solicitation, the packet held");
    let (smac, _, ip, msg) = parse_sent(&untag(&sent[0]));
    assert_eq!((smac, ip.src), (LB_S_MAC, me));
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert!(matches!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 255).unwrap(),
        Icmpv6Repr::NeighborSolicit { target, .. } if target == next
    ));
}

/// A configured IPv6 neighbour: a packet to it leaves at once with its MAC (no
/// solicitation), and an unsolicited advertisement with another MAC does not move it.
#[test]
fn a_static_ipv6_neighbour_needs_no_solicitation_and_keeps_its_mac() {
    let mut h = H::new();
    let rs = a("2001:db8:2::12");
    assert!(h.p.add_static_neighbour(rs.into(), RS_MAC[1].0, SERVER_PORT));
    let na =
        Icmpv6Repr::NeighborAdvert { flags: icmpv6::NA_OVERRIDE, target: rs, target_lladdr: Some(RS_MAC[2]) };
    h.rx(SERVER_PORT, frame(RS_MAC[2], LB_S_MAC, rs, a("2001:db8:2::1"), 255, 0, &[], &na));
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, rs), Some(RS_MAC[1].0));
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "the packet, and no solicitation");
    assert_eq!(EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr(), RS_MAC[1]);
    // Listed with the IPv4 ones; deleted, the next packet solicits it again.
    let listed =
        h.p.neighbours()
            .iter()
            .any(|e| e.addr == std::net::IpAddr::V6(rs) && e.state == crate::neigh::NeighState::Permanent);
    assert!(listed, "{:?}", h.p.neighbours());
    assert_eq!(h.p.del_neighbour(rs.into(), None), 1);
    assert_eq!(h.p.neigh6_lookup(SERVER_PORT, rs), None);
    h.p.send_ipv6(outgoing(rs), rs, h.now, &mut VecAlloc, &mut h.out);
    let sent = h.tx(SERVER_PORT);
    assert_eq!(sent.len(), 1, "one solicitation, the packet held");
    let (_, _, ip, msg) = parse_sent(&sent[0]);
    let p = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    assert!(matches!(
        Icmpv6Repr::parse(&p, ip.src, ip.dst, 255).unwrap(),
        Icmpv6Repr::NeighborSolicit { target, .. } if target == rs
    ));
    // A pipeline without IPv6 refuses an IPv6 neighbour instead of keeping a dead entry.
    let mut h4 = super::super::tests::Harness::new(0, 1);
    assert!(!h4.p.add_static_neighbour(rs.into(), RS_MAC[1].0, SERVER_PORT));
    assert_eq!(h4.p.del_neighbour(rs.into(), None), 0);
}
