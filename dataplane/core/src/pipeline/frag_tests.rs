//! IPv4 fragments through the whole pipeline: steered to their session, in order and out of
//! order, across workers, and refused (tiny, overlapping, timed out, not ours).

use super::tests::{
    ip, tcp_frame, udp_frame, Harness, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT,
};
use super::*;
use crate::frame::VecAlloc;
use crate::stats::Event;
use crate::wire::tcp::TcpFlags;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

/// Splits the IPv4 frame `f` into fragments of `chunk` data bytes (a multiple of 8), all
/// with identification `id`, each with a valid header checksum.
pub(super) fn fragment(f: &[u8], chunk: usize, id: u16) -> Vec<Vec<u8>> {
    let data = &f[ETH_LEN + 20..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let n = chunk.min(data.len() - off);
        let mut g = f[..ETH_LEN + 20].to_vec();
        g.extend_from_slice(&data[off..off + n]);
        let mut ip = Ipv4Packet::new_unchecked(&mut g[ETH_LEN..]);
        ip.set_total_len((20 + n) as u16);
        ip.set_ident(id);
        ip.set_dont_frag(false);
        ip.set_more_frags(off + n < data.len());
        ip.set_frag_offset(off as u16);
        ip.fill_checksum();
        out.push(g);
        off += n;
    }
    out
}

/// The datagram the fragments in `frags` (any order) make: (src, dst, its L4 bytes); every
/// fragment's header checksum checked, and all of one identification.
pub(super) fn reassemble(frags: &[Vec<u8>]) -> (Ipv4Addr, Ipv4Addr, Vec<u8>) {
    let mut parts: Vec<(u16, Vec<u8>)> = Vec::new();
    let first = Ipv4Packet::new_checked(&frags[0][ETH_LEN..]).unwrap();
    for f in frags {
        let ip = Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap();
        assert!(ip.verify_checksum(), "fragment header checksum");
        assert_eq!(
            (ip.ident(), ip.src_addr(), ip.dst_addr()),
            (first.ident(), first.src_addr(), first.dst_addr())
        );
        parts.push((ip.frag_offset(), ip.payload().to_vec()));
    }
    parts.sort();
    let mut data = Vec::new();
    for (off, p) in parts {
        assert_eq!(off as usize, data.len(), "fragments cover the datagram without gaps");
        data.extend(p);
    }
    (first.src_addr(), first.dst_addr(), data)
}

fn udp_ok(src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> bool {
    UdpPacket::new_checked(l4).unwrap().verify_checksum(src, dst)
}

/// A 3,000-byte datagram in three fragments reaches a real server from the LIP, its UDP
/// checksum right over the whole datagram; the server's answer, fragmented and out of
/// order, reaches the client from the VIP.
#[test]
fn fragmented_datagrams_follow_their_session_both_ways() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let whole = udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40000, VIP, 53, &payload);
    for f in fragment(&whole, 1480, 777) {
        h.rx(CLIENT_PORT, f);
    }
    let sent = h.take_tx(SERVER_PORT);
    assert_eq!(sent.len(), 3);
    let (lip, rip, l4) = reassemble(&sent);
    assert_eq!(lip, ip("198.19.0.200"));
    assert!(udp_ok(lip, rip, &l4), "the whole datagram's checksum follows the rewrite");
    assert_eq!(&l4[8..], &payload[..]);
    let (lport, rport) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
    assert_eq!(rport, 5353);
    for f in &sent {
        assert_eq!(&f[0..6], &RS_MAC[(u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize].0);
        assert_eq!(Ipv4Packet::new_unchecked(&f[ETH_LEN..]).ttl(), 63);
    }

    let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
    let answer = udp_frame(RS_MAC[rs], LB_S_MAC, rip, 5353, lip, lport, &payload);
    let mut frags = fragment(&answer, 1176, 4242);
    frags.reverse(); // the last first: held until the first comes
    for f in frags {
        h.rx(SERVER_PORT, f);
    }
    let back = h.take_tx(CLIENT_PORT);
    assert_eq!(back.len(), 3);
    let (src, dst, l4) = reassemble(&back);
    assert_eq!((src, dst), (VIP, CLIENT));
    assert_eq!((u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]])), (53, 40000));
    assert!(udp_ok(src, dst, &l4));
    h.p.service_fold.fold(&h.p.counters);
    let c = h.p.counters();
    assert_eq!(c.event_count(Event::FragmentSteered), 4, "two later fragments each way");
    assert_eq!(c.sessions_created.get(), 1);
    assert!(h.p.frag.is_empty(), "both datagrams went through whole");
    let svc = &c.services[0..4].iter().map(|s| s.in_pkts.get() + s.out_pkts.get()).sum::<u64>();
    assert_eq!(*svc, 6, "every fragment counted as the service's traffic");
}

/// With two workers, a reply's fragments that land on the worker not owning the local port
/// are handed to the owner, later ones following the first.
#[test]
fn reply_fragments_are_handed_to_the_owner() {
    let mut owner = Harness::new(0, 2);
    let mut other = Harness::new(1, 2);
    owner.resolve_all();
    let payload = [5u8; 2000];
    let query = udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40001, VIP, 53, b"q");
    owner.rx(CLIENT_PORT, query);
    let fwd = owner.take_tx(SERVER_PORT).pop().expect("forwarded");
    let (_, _, lip, lport, rip, _) = super::tests::endpoints(&fwd);
    assert_eq!(lport % 2, 0, "worker 0's port");
    let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
    let answer = udp_frame(RS_MAC[rs], LB_S_MAC, rip, 5353, lip, lport, &payload);
    for f in fragment(&answer, 1480, 9) {
        other.rx(SERVER_PORT, f);
    }
    let handed = std::mem::take(&mut other.out.redirect[0]);
    assert_eq!(handed.len(), 2, "the first and the later fragment");
    for h in handed {
        owner.p.handle_handoff(h, owner.now, &mut VecAlloc, &mut owner.out);
    }
    let back = owner.take_tx(CLIENT_PORT);
    assert_eq!(back.len(), 2);
    let (src, dst, l4) = reassemble(&back);
    assert_eq!((src, dst), (VIP, CLIENT));
    assert!(udp_ok(src, dst, &l4));
}

/// Tiny first fragments, later ones overlapping the L4 header, fragments to our own
/// address, of TCP without a session and of a datagram whose first never came: all dropped
/// and counted.
#[test]
fn fragments_rvsd_cannot_follow_are_dropped_and_counted() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    // A TCP segment whose first fragment holds 8 bytes of its header.
    let seg = tcp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 41000, VIP, 80, TcpFlags::ACK, &[1u8; 64]);
    let frags = fragment(&seg, 8, 1);
    h.rx(CLIENT_PORT, frags[0].clone());
    assert_eq!(h.drops(DropReason::FragmentInvalid), 1);
    // One at offset 8 overlaps its header.
    h.rx(CLIENT_PORT, frags[1].clone());
    assert_eq!(h.drops(DropReason::FragmentInvalid), 2);
    // A well-formed fragmented TCP segment with no connection.
    for f in fragment(&seg, 24, 2) {
        h.rx(CLIENT_PORT, f);
    }
    assert!(h.drops(DropReason::Fragment) >= 1);
    // To rvsd's own address.
    let own = udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40000, ip("198.18.0.1"), 53, &[0u8; 100]);
    let before = h.drops(DropReason::Fragment);
    h.rx(CLIENT_PORT, fragment(&own, 48, 3)[0].clone());
    assert_eq!(h.drops(DropReason::Fragment), before + 1);
    // The later fragments of a datagram whose first never comes: held, then timed out.
    let lost = udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40002, VIP, 53, &[0u8; 3000]);
    for f in fragment(&lost, 1480, 4).into_iter().skip(1) {
        h.rx(CLIENT_PORT, f);
    }
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.p.frag.held(), 2);
    let later = h.now + frag::TIMEOUT;
    h.p.poll(later, &mut VecAlloc, &mut h.out);
    assert_eq!(h.drops(DropReason::FragmentTimeout), 2);
    assert!(h.p.frag.is_empty());
}

/// A pipeline whose client port takes jumbo frames (MTU 9000) and whose server port has 1500.
fn jumbo_client() -> Harness {
    let mut cfg = super::tests::config(0, 1);
    cfg.ports[0].mtu = 9000;
    let counters = std::sync::Arc::new(crate::stats::WorkerCounters::new(16, 64));
    let snap = std::sync::Arc::new(super::tests::registry().snapshot());
    let mut h = Harness::new(0, 1);
    h.p = Pipeline::new(cfg, snap, counters, Time::ZERO);
    h.resolve_all();
    h
}

/// A whole datagram bigger than the egress MTU with DF clear leaves as fragments that fit,
/// which make the datagram again (checksum right); the real server's reply of the same size
/// goes back whole to the jumbo side.
#[test]
fn too_big_without_df_is_fragmented_to_the_egress_mtu() {
    let mut h = jumbo_client();
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 3) as u8).collect();
    h.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40000, VIP, 53, &payload));
    let sent = h.take_tx(SERVER_PORT);
    assert_eq!(sent.len(), 3, "1480 + 1480 + 48 bytes of data");
    assert!(sent.iter().all(|f| f.len() - ETH_LEN <= 1500));
    let first = Ipv4Packet::new_checked(&sent[0][ETH_LEN..]).unwrap();
    assert!(first.more_frags() && first.frag_offset() == 0);
    let (lip, rip, l4) = reassemble(&sent);
    assert!(udp_ok(lip, rip, &l4));
    assert_eq!(&l4[8..], &payload[..]);
    assert_eq!(h.p.counters().event_count(Event::Fragmented), 1);
    let lport = u16::from_be_bytes([l4[0], l4[1]]);
    let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
    h.rx(SERVER_PORT, udp_frame(RS_MAC[rs], LB_S_MAC, rip, 5353, lip, lport, &[1u8; 1400]));
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1);
}

/// With DF set the sender is told the egress MTU and the packet dropped.
#[test]
fn too_big_with_df_is_answered_with_fragmentation_needed() {
    let mut h = jumbo_client();
    let mut big = udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 40000, VIP, 53, &[2u8; 4000]);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut big[ETH_LEN..]);
        ip.set_dont_frag(true);
        ip.fill_checksum();
    }
    h.rx(CLIENT_PORT, big);
    assert!(h.take_tx(SERVER_PORT).is_empty());
    let err = h.take_tx(CLIENT_PORT).pop().expect("fragmentation needed");
    let (src, dst, t, code, mtu, quoted, _) = super::icmp_error::tests::read(&err);
    assert_eq!((src, dst, t, code, mtu), (ip("198.18.0.1"), CLIENT, 3, 4, 1500));
    assert_eq!((quoted.src, quoted.dst, quoted.dport), (CLIENT, VIP, 53));
    assert_eq!(h.drops(DropReason::TooBig), 1);
}
