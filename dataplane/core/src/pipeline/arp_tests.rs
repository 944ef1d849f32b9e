//! ARP through the pipeline: requests for a VIP or a LIP answered on the right port
//! (and nobody else's address), the sender learnt; a SYN held while its real server's
//! MAC is asked for and released by the reply, then the FULLNAT round trip it opens.

use super::tests::*;
use super::*;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::tcp::TcpFlags;

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

/// A harness whose client answered ARP and whose three real servers are configured
/// neighbours.
fn with_static_reals() -> Harness {
    let mut h = Harness::new(0, 1);
    h.rx(CLIENT_PORT, arp_reply_frame(CLIENT_MAC, ip("198.18.0.10"), LB_C_MAC, ip("198.18.0.1")));
    h.take_tx(CLIENT_PORT);
    for i in 0..3u8 {
        let rs = std::net::IpAddr::V4(ip(&format!("198.19.0.{}", 11 + i)));
        assert!(h.p.add_static_neighbour(rs, RS_MAC[i as usize].0, SERVER_PORT));
    }
    h
}

/// A configured neighbour (`[[neighbour]]`): the first SYN to it leaves at once with its
/// MAC, no ARP request is ever sent for it (not even after the reachable time), and an
/// ARP reply claiming its address for another MAC (forged, or a moved server) changes
/// nothing.
#[test]
fn a_static_neighbour_needs_no_arp_and_ignores_forged_replies() {
    let mut h = with_static_reals();
    h.rx(CLIENT_PORT, client_syn(40000));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the SYN, and no ARP request");
    let (smac, dmac, _, _, dst, _) = endpoints(&tx[0]);
    assert_eq!((smac, dmac, dst), (LB_S_MAC, RS_MAC[0], ip("198.19.0.11")));

    let forged = MacAddr([2, 0, 0, 0, 6, 6]);
    for i in 0..3u8 {
        let rs = ip(&format!("198.19.0.{}", 11 + i));
        h.rx(SERVER_PORT, arp_reply_frame(forged, rs, LB_S_MAC, ip("198.19.0.1")));
    }
    let mut dsts = Vec::new();
    for (n, secs) in [(1u16, 2u64), (2, 65), (3, 200), (4, 3600)] {
        h.now = Time::from_secs(secs);
        h.p.poll(h.now, &mut crate::frame::VecAlloc, &mut h.out);
        h.rx(CLIENT_PORT, client_syn(40000 + n));
        for f in h.take_tx(SERVER_PORT) {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_ne!(
                eth.ethertype(),
                EtherType::ARP,
                "an ARP request for a configured neighbour at {secs} s"
            );
            dsts.push(endpoints(&f).1);
        }
    }
    assert_eq!(dsts.len(), 4);
    assert!(dsts.iter().all(|m| RS_MAC.contains(m)), "a forged reply moved a configured neighbour: {dsts:?}");
}

/// `rvsadm --neigh`: the worker lists what it learned and what was configured; a deleted
/// neighbour is asked for again by the next packet to it, the others stay as they were.
#[test]
fn neighbours_are_listed_and_a_deleted_one_is_asked_for_again() {
    use crate::neigh::NeighState;
    let mut h = with_static_reals();
    let mut rows: Vec<_> = h.p.neighbours().iter().map(|e| (e.addr.to_string(), e.iface, e.state)).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        rows,
        [
            ("198.18.0.10".into(), CLIENT_PORT, NeighState::Reachable),
            ("198.19.0.11".into(), SERVER_PORT, NeighState::Permanent),
            ("198.19.0.12".into(), SERVER_PORT, NeighState::Permanent),
            ("198.19.0.13".into(), SERVER_PORT, NeighState::Permanent),
        ]
    );
    let rs1 = std::net::IpAddr::V4(ip("198.19.0.11"));
    assert_eq!(h.p.del_neighbour(rs1, Some(CLIENT_PORT)), 0, "not on that interface");
    assert_eq!(h.p.del_neighbour(rs1, None), 1);
    assert_eq!(h.p.neighbours().len(), 3);
    let (mut arps, mut syns) = (Vec::new(), Vec::new());
    for sport in 40000..40003 {
        h.rx(CLIENT_PORT, client_syn(sport));
        for f in h.take_tx(SERVER_PORT) {
            if EthernetFrame::new_checked(&f[..]).unwrap().ethertype() == EtherType::ARP {
                arps.push(ArpPacket::new_checked(&f[ETH_LEN..]).unwrap().target_ip());
            } else {
                syns.push(endpoints(&f).4);
            }
        }
    }
    assert_eq!(arps, [ip("198.19.0.11")], "asked for again, the only one asked for");
    syns.sort();
    assert_eq!(syns, [ip("198.19.0.12"), ip("198.19.0.13")], "the others still sent to at once");
    let rs1_state = h.p.neighbours().iter().find(|e| e.addr == rs1).map(|e| (e.state, e.queued));
    assert_eq!(rs1_state, Some((NeighState::Incomplete, 1)), "its SYN waits for the answer");
}

/// `rvsadm --neigh flush`, as `ip neigh flush`: the learned entries go and the pinned ones
/// stay unless asked for; an unresolved one's waiting packet is dropped as unresolved.
#[test]
fn a_flush_takes_the_learned_entries_and_keeps_the_pinned_ones_unless_asked() {
    use crate::neigh::NeighState;
    use rvs_proto::FlushStates;
    let mut h = with_static_reals();
    let rs1 = std::net::IpAddr::V4(ip("198.19.0.11"));
    assert_eq!(h.p.del_neighbour(rs1, None), 1);
    h.rx(CLIENT_PORT, client_syn(40000));
    let _ = h.take_tx(SERVER_PORT);
    let states = |h: &Harness| {
        let mut rows: Vec<_> = h.p.neighbours().iter().map(|e| (e.addr.to_string(), e.state)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    assert_eq!(states(&h).len(), 4, "the client, rs1 incomplete, rs2 and rs3 pinned");
    let timeouts = h.drops(DropReason::NeighTimeout);
    assert_eq!(h.p.flush_neighbours(Some(SERVER_PORT), FlushStates::Learned), 1, "rs1 only");
    assert_eq!(h.drops(DropReason::NeighTimeout), timeouts + 1, "its SYN");
    assert_eq!(
        states(&h),
        [
            ("198.18.0.10".into(), NeighState::Reachable),
            ("198.19.0.12".into(), NeighState::Permanent),
            ("198.19.0.13".into(), NeighState::Permanent),
        ],
        "the client's is on another interface"
    );
    assert_eq!(h.p.flush_neighbours(None, FlushStates::Permanent), 2);
    assert_eq!(states(&h), [("198.18.0.10".into(), NeighState::Reachable)]);
    assert_eq!(h.p.flush_neighbours(None, FlushStates::Learned), 1);
    assert_eq!(h.p.flush_neighbours(None, FlushStates::All), 0, "nothing left");
}
