//! Tests of the staged fast path: bursts, hand-over between workers, checksums on the
//! forwarding path, table capacity, RSS steering.

use super::tests::{
    config, endpoints, ip, registry, tcp_frame, Harness, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC,
    SERVER_PORT,
};
use super::*;
use crate::frame::VecAlloc;
use crate::session::Hint;

use crate::wire::tcp::TcpFlags;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

/// A reply that reached the wrong worker is handed over parsed, and the owner forwards it
/// without parsing it again: the whole FULLNAT round trip across two workers.
#[test]
fn handed_over_reply_is_forwarded_by_its_owner() {
    let (mut w0, mut w1) = (Harness::new(0, 2), Harness::new(1, 2));
    w0.resolve_all();
    w1.resolve_all();
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::SYN, b"");
    w1.rx(CLIENT_PORT, syn);
    let out = w1.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
    let (_, _, lip, lport, rip, rport) = endpoints(&out);
    assert_eq!(owner_of(lport, 2), 1);
    // The server's SYN/ACK lands on worker 0.
    let synack = tcp_frame(RS_MAC[0], LB_S_MAC, rip, rport, lip, lport, TcpFlags::SYN | TcpFlags::ACK, b"");
    let rs =
        [ip("198.19.0.11"), ip("198.19.0.12"), ip("198.19.0.13")].iter().position(|&r| r == rip).unwrap();
    let synack = {
        let mut f = synack;
        f[6..12].copy_from_slice(&RS_MAC[rs].0);
        f
    };
    w0.rx(SERVER_PORT, synack);
    let h = w0.out.redirect[1].pop().expect("handed to worker 1");
    assert!(w0.take_tx(CLIENT_PORT).is_empty());
    w1.p.handle_handoff(h, w1.now, &mut VecAlloc, &mut w1.out);
    let back = w1.take_tx(CLIENT_PORT).pop().expect("forwarded to the client by the owner");
    let (_, dmac, src, sport, dst, dport) = endpoints(&back);
    assert_eq!((dmac, src, sport, dst, dport), (CLIENT_MAC, VIP, 80, ip("198.18.0.10"), 40000));
    // The client's ACK establishes the session; the server's data, landing on worker 0
    // again, is handed over and forwarded by the owner's fast path exactly as if it had
    // come to the owner's own queue.
    w1.rx(
        CLIENT_PORT,
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b""),
    );
    assert_eq!(w1.take_tx(SERVER_PORT).len(), 1);
    let data =
        || tcp_frame(RS_MAC[rs], LB_S_MAC, rip, rport, lip, lport, TcpFlags::ACK | TcpFlags::PSH, b"data");
    w0.p.handle_burst(SERVER_PORT, &mut vec![data()], w0.now, &mut VecAlloc, &mut w0.out);
    let h = w0.out.redirect[1].pop().expect("handed to worker 1");
    w1.p.handle_handoff(h, w1.now, &mut VecAlloc, &mut w1.out);
    let handed = w1.take_tx(CLIENT_PORT).pop().expect("forwarded by the owner");
    w1.p.handle_burst(SERVER_PORT, &mut vec![data()], w1.now, &mut VecAlloc, &mut w1.out);
    let direct = w1.take_tx(CLIENT_PORT).pop().expect("forwarded from the owner's own queue");
    assert_eq!(handed, direct);
    let out_pkts: u64 = w1.p.counters().reals.iter().map(|r| r.traffic.out_pkts.get()).sum();
    assert_eq!(out_pkts, 3, "the SYN/ACK and both data segments");
}

fn owner_of(port: u16, workers: u16) -> u16 {
    crate::laddr::owner_of_port(port, workers)
}

/// A SYN and the client's ACK in one burst: stage 2 runs in arrival order, so the ACK
/// finds the session the SYN created; the outputs equal frame-by-frame handling.
#[test]
fn a_burst_keeps_arrival_order_and_matches_frame_by_frame() {
    let frames = || {
        let mut v = Vec::new();
        for sport in 40000..40010u16 {
            v.push(tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b""));
            v.push(tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::ACK, b"hi"));
        }
        v
    };
    let mut a = Harness::new(0, 1);
    a.resolve_all();
    for f in frames() {
        a.rx(CLIENT_PORT, f);
    }
    let mut b = Harness::new(0, 1);
    b.resolve_all();
    let mut burst = frames();
    b.p.handle_burst(CLIENT_PORT, &mut burst, b.now, &mut VecAlloc, &mut b.out);
    assert!(burst.is_empty(), "drained");
    let (ta, tb) = (a.take_tx(SERVER_PORT), b.take_tx(SERVER_PORT));
    assert_eq!(ta.len(), 20);
    assert_eq!(ta, tb);
    assert_eq!(b.drops(DropReason::NoSession), 0);
}

/// A full table, where some reply flows' index entries overflowed past their home bucket
/// (stage 1b guesses them from the next one): bursts of every session's data, client's
/// and server's, in a shuffled order, come out as frame-by-frame handling gives them, and
/// none is dropped. Each port learns where its flows are: the client port's in the tags,
/// the server port's in the index.
#[test]
fn bursts_over_a_full_table_match_frame_by_frame() {
    const N: u16 = 1000;
    let data =
        |sport: u16| tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::ACK, b"d");
    let (mut a, mut b) = (Harness::new(0, 1), Harness::new(0, 1));
    for h in [&mut a, &mut b] {
        h.resolve_all();
        for sport in 20000..20000 + N {
            h.rx(
                CLIENT_PORT,
                tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b""),
            );
            h.rx(CLIENT_PORT, data(sport));
        }
        assert_eq!(h.p.sessions().len(), N as usize);
        h.take_tx(SERVER_PORT);
    }
    let t = b.p.sessions();
    let key =
        |sport| crate::session::FlowKey { src: ip("198.18.0.10"), dst: VIP, sport, dport: 80, proto: 6 };
    let replies: Vec<crate::session::FlowKey> =
        (20000..20000 + N).map(|p| t.get(t.find_client(&key(p)).unwrap()).reply).collect();
    let farther = replies.iter().filter(|k| t.hint(t.hash(k)) == Hint::FARTHER).count();
    assert!(farther > 0, "some entries overflowed (the test's point)");
    let rs_mac = |k: &crate::session::FlowKey| {
        let rs = [ip("198.19.0.11"), ip("198.19.0.12"), ip("198.19.0.13")].iter().position(|&r| r == k.src);
        RS_MAC[rs.unwrap()]
    };
    let reply = |i: usize| {
        let k = replies[i];
        tcp_frame(rs_mac(&k), LB_S_MAC, k.src, k.sport, k.dst, k.dport, TcpFlags::ACK, b"r")
    };
    let mut order: Vec<u16> = (20000..20000 + N).collect();
    let mut r = 0x9e37_79b9_u32;
    for i in (1..order.len()).rev() {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        order.swap(i, r as usize % (i + 1));
    }
    for chunk in order.chunks(32) {
        for &sport in chunk {
            a.rx(CLIENT_PORT, data(sport));
        }
        for &sport in chunk {
            a.rx(SERVER_PORT, reply((sport - 20000) as usize));
        }
    }
    for chunk in order.chunks(32) {
        let mut burst: Vec<_> = chunk.iter().map(|&p| data(p)).collect();
        b.p.handle_burst(CLIENT_PORT, &mut burst, b.now, &mut VecAlloc, &mut b.out);
        let mut burst: Vec<_> = chunk.iter().map(|&p| reply((p - 20000) as usize)).collect();
        b.p.handle_burst(SERVER_PORT, &mut burst, b.now, &mut VecAlloc, &mut b.out);
    }
    assert_eq!(b.p.lookup_side(CLIENT_PORT), crate::session::LookupSide::Client);
    assert_eq!(b.p.lookup_side(SERVER_PORT), crate::session::LookupSide::Reply);
    let (ta, tb) = (a.take_tx(CLIENT_PORT), b.take_tx(CLIENT_PORT));
    assert_eq!(ta.len(), N as usize);
    assert_eq!(ta, tb);
    let (ta, tb) = (a.take_tx(SERVER_PORT), b.take_tx(SERVER_PORT));
    assert_eq!(ta.len(), N as usize);
    assert_eq!(ta, tb);
}

/// Forwarding does not verify L4 checksums: a corrupted segment of a live session goes
/// on with its checksum still wrong by the same amount (the end host drops it), while a
/// corrupted SYN costs no session.
#[test]
fn forwarding_keeps_a_bad_checksum_bad_and_a_bad_syn_is_refused() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::SYN, b"");
    let mut bad_syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40001, VIP, 80, TcpFlags::SYN, b"");
    bad_syn[ETH_LEN + 20 + 16] ^= 0x55;
    h.rx(CLIENT_PORT, bad_syn);
    assert_eq!(h.drops(DropReason::BadL4Checksum), 1);
    assert_eq!(h.p.sessions().len(), 0);
    h.rx(CLIENT_PORT, syn);
    h.take_tx(SERVER_PORT);
    let mut data = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b"data");
    let at = ETH_LEN + 20 + 16;
    let good_in = u16::from_be_bytes([data[at], data[at + 1]]);
    data[at] ^= 0x55;
    let bad_in = u16::from_be_bytes([data[at], data[at + 1]]);
    let mut burst = vec![data];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    let out = h.take_tx(SERVER_PORT).pop().expect("forwarded");
    let ipp = Ipv4Packet::new_checked(&out[ETH_LEN..]).unwrap();
    assert!(ipp.verify_checksum(), "the IP header is ours and valid");
    let t = TcpPacket::new_checked(ipp.payload()).unwrap();
    assert!(!t.verify_checksum(ipp.src_addr(), ipp.dst_addr()), "still bad");
    // Wrong by as much as it was: the flipped bits of the field come out of the
    // difference between what it carries and what a full recomputation gives.
    let mut fixed = ipp.payload().to_vec();
    TcpPacket::new_unchecked(&mut fixed[..]).fill_checksum(ipp.src_addr(), ipp.dst_addr());
    let right = u16::from_be_bytes([fixed[16], fixed[17]]);
    let ones_diff = |a: u16, b: u16| crate::wire::checksum::fold(u64::from(a) + u64::from(!b));
    assert_eq!(ones_diff(t.checksum(), right), ones_diff(bad_in, good_in), "wrong by what the client sent");
}

/// At capacity, with no half-open session to evict (`pressure_tests.rs`), new sessions
/// are refused and counted; old ones keep flowing.
#[test]
fn a_full_table_refuses_new_sessions_and_keeps_old_ones() {
    let cfg = PipelineConfig { max_sessions: 4, ..config(0, 1) };
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    for sport in 40000..40006u16 {
        let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b"");
        h.rx(CLIENT_PORT, syn);
        let ack = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::ACK, b"");
        h.rx(CLIENT_PORT, ack);
    }
    assert_eq!(h.p.sessions().len(), 4);
    assert_eq!(h.drops(DropReason::SessionTableFull), 2);
    assert_eq!(h.p.sessions().capacity(), 4);
    h.take_tx(SERVER_PORT);
    let ack = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b"x");
    h.rx(CLIENT_PORT, ack);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "an old session still flows");
}

/// Under RSS steering the pipeline chooses local ports whose reply the NIC would put on
/// this worker's queue, and hands a misdelivered reply to the worker the hash names.
#[test]
fn rss_steering_places_replies_on_the_owner() {
    use crate::laddr::rss::{Rss, DEFAULT_KEY};
    use crate::laddr::Steering;
    let rss = Arc::new(Rss::round_robin(&DEFAULT_KEY, 128, 4).unwrap());
    for w in 0..4u16 {
        let cfg = PipelineConfig { steering: Steering::Rss(rss.clone()), ..config(w, 4) };
        let mut h = Harness::new(w, 4);
        h.p = Pipeline::new(
            cfg,
            Arc::new(registry().snapshot()),
            Arc::new(WorkerCounters::new(16, 64)),
            Time::ZERO,
        );
        h.out = Output::new(2, 4);
        h.resolve_all();
        for sport in 40000..40020u16 {
            let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b"");
            h.rx(CLIENT_PORT, syn);
        }
        for f in h.take_tx(SERVER_PORT) {
            let (_, _, lip, lport, rip, rport) = endpoints(&f);
            assert_eq!(rss.queue(rss.hash_v4(rip, lip, rport, lport)), w);
        }
        // A reply the hash gives to another worker goes there.
        let (rip, lip) = (ip("198.19.0.11"), ip("198.19.0.200"));
        let lport = (1025..2000u16).find(|&p| rss.queue(rss.hash_v4(rip, lip, 80, p)) != w).unwrap();
        let owner = rss.queue(rss.hash_v4(rip, lip, 80, lport));
        h.rx(SERVER_PORT, tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, lip, lport, TcpFlags::ACK, b""));
        assert_eq!(h.out.redirect[owner as usize].len(), 1);
    }
}

/// mh: workers take the Maglev table the snapshot carries (built once, off every packet
/// thread) and keep scheduling with it; an edit brings a new table with the snapshot.
#[test]
fn maglev_table_comes_prebuilt_with_the_snapshot() {
    let mut reg = registry();
    let key = rvs_proto::ServiceKey {
        protocol: rvs_proto::Protocol::Tcp,
        addr: "198.18.0.100:80".parse().unwrap(),
    };
    let mut spec = reg.list().find(|(s, _, _)| s.key == key).map(|(s, _, _)| s.clone()).unwrap();
    spec.scheduler = "mh".into();
    reg.edit_service(spec).unwrap();
    let snap = Arc::new(reg.snapshot());
    let idx = snap.services.iter().position(|s| s.scheduler == "mh").unwrap();
    let table = snap.services[idx].maglev.clone().expect("built with the snapshot");
    let before = Arc::strong_count(&table);
    let mut h = Harness::new(0, 1);
    h.p.set_snapshot(snap.clone());
    assert!(Arc::strong_count(&table) > before, "the worker holds the snapshot's table");
    h.resolve_all();
    for sport in 40000..40030u16 {
        let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b"");
        h.rx(CLIENT_PORT, syn);
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 30, "scheduled with the shared table");
}

/// A whole connection (handshake, data both ways, FIN from each side, a late ACK) sent
/// through `handle_burst` one frame per burst ends exactly as `handle` frame by frame:
/// the same frames out, the same service and real-server counters, the same
/// active/inactive gauges and session state. The established fast path takes the data
/// segments; every state change goes the full way.
#[test]
fn the_established_fast_path_counts_and_tracks_like_the_full_path() {
    fast_path_equals_full_path(false);
}

/// The same with TOA: once the option is in (the client's first ACK, the full way), the
/// session's data segments take the fast path with nothing left to add.
#[test]
fn the_fast_path_takes_toa_sessions_once_the_option_is_in() {
    fast_path_equals_full_path(true);
}

fn fast_path_equals_full_path(toa: bool) {
    let client = ip("198.18.0.10");
    let run = |burst: bool| {
        let mut h = Harness::new(0, 1);
        if toa {
            let mut reg = registry();
            let mut spec =
                reg.list().find(|(s, _, _)| s.key.protocol == rvs_proto::Protocol::Tcp).unwrap().0.clone();
            spec.options.toa = true;
            reg.edit_service(spec).unwrap();
            h.p.set_snapshot(Arc::new(reg.snapshot()));
        }
        h.resolve_all();
        let send = |h: &mut Harness, port: PortIndex, f: Vec<u8>| {
            if burst {
                let mut v = vec![f];
                h.p.handle_burst(port, &mut v, h.now, &mut VecAlloc, &mut h.out);
            } else {
                h.rx(port, f);
            }
        };
        let mut seen = Vec::new();
        send(
            &mut h,
            CLIENT_PORT,
            tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, VIP, 80, TcpFlags::SYN, b""),
        );
        let syn = h.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
        let (_, _, lip, lport, rip, rport) = endpoints(&syn);
        let rs =
            [ip("198.19.0.11"), ip("198.19.0.12"), ip("198.19.0.13")].iter().position(|&r| r == rip).unwrap();
        let from_rs =
            |flags, data: &[u8]| tcp_frame(RS_MAC[rs], LB_S_MAC, rip, rport, lip, lport, flags, data);
        let from_client =
            |flags, data: &[u8]| tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, VIP, 80, flags, data);
        let steps: Vec<(PortIndex, Vec<u8>)> = vec![
            (SERVER_PORT, from_rs(TcpFlags::SYN | TcpFlags::ACK, b"")),
            (CLIENT_PORT, from_client(TcpFlags::ACK, b"")),
            (CLIENT_PORT, from_client(TcpFlags::ACK | TcpFlags::PSH, b"GET / HTTP/1.0\r\n\r\n")),
            (SERVER_PORT, from_rs(TcpFlags::ACK, b"HTTP/1.0 200 OK\r\n\r\nrs")),
            (CLIENT_PORT, from_client(TcpFlags::ACK, b"")),
            (SERVER_PORT, from_rs(TcpFlags::FIN | TcpFlags::ACK, b"")),
            (CLIENT_PORT, from_client(TcpFlags::ACK, b"")),
            (CLIENT_PORT, from_client(TcpFlags::FIN | TcpFlags::ACK, b"")),
            (SERVER_PORT, from_rs(TcpFlags::ACK, b"")),
        ];
        for (port, f) in steps {
            send(&mut h, port, f);
            let id = h.p.sessions().lookup(&FlowKey {
                src: client,
                dst: VIP,
                sport: 40000,
                dport: 80,
                proto: PROTO_TCP,
            });
            let state = id.map(|(id, _)| h.p.sessions().get(id).state);
            let r = &h.p.counters().reals;
            let gauges: Vec<(u64, u64)> = r.iter().map(|c| (c.active.get(), c.inactive.get())).collect();
            seen.push((h.take_tx(CLIENT_PORT), h.take_tx(SERVER_PORT), state, gauges));
        }
        // The timer folds the real servers' traffic into their services'.
        h.p.service_fold.fold(&h.p.counters);
        let c = h.p.counters();
        let traffic = |t: &crate::stats::TrafficCounters| {
            (t.conns.get(), t.in_pkts.get(), t.out_pkts.get(), t.in_bytes.get(), t.out_bytes.get())
        };
        let svc: Vec<_> = c.services.iter().map(traffic).collect();
        let reals: Vec<_> = c.reals.iter().map(|r| traffic(&r.traffic)).collect();
        (seen, svc, reals)
    };
    let (full, fast) = (run(false), run(true));
    assert_eq!(full.0.len(), 9);
    assert!(full.0.iter().all(|(c, s, _, _)| c.len() + s.len() == 1), "every segment forwarded");
    assert_eq!(full.0.last().unwrap().2, Some(SessionState::TimeWait));
    assert_eq!(full, fast);
    assert_eq!(full.1.iter().map(|t| t.1).sum::<u64>(), 6, "client segments counted in");
    // With TOA, the client's first ACK carries the option and nothing after it does.
    let toa_len = |f: &Vec<u8>| (crate::wire::tcp::TcpPacket::new_unchecked(&f[34..]).header_len() - 20) / 8;
    let to_server: Vec<usize> = full.0.iter().flat_map(|(_, s, _, _)| s.iter().map(toa_len)).collect();
    assert_eq!(to_server, if toa { vec![1, 0, 0, 0, 0] } else { vec![0; 5] });
}

/// The IPv4 header checksum is not verified for a packet of an established session (the
/// incremental update keeps a wrong one wrong by as much, and the next hop drops it), but
/// is before anything that creates state: a SYN with a bad header checksum in a burst is
/// dropped and counted, and costs no session.
#[test]
fn the_header_checksum_is_checked_before_state_and_kept_wrong_when_forwarded() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let mut bad_syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40001, VIP, 80, TcpFlags::SYN, b"");
    bad_syn[ETH_LEN + 10] ^= 0x21;
    let mut burst = vec![bad_syn];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.drops(DropReason::BadIpChecksum), 1);
    assert_eq!(h.p.sessions().len(), 0);
    assert!(h.take_tx(SERVER_PORT).is_empty());
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::SYN, b"");
    let mut burst = vec![syn];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
    let mut ack = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b"");
    let mut burst = vec![ack.clone()];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "ESTABLISHED now");
    // A data segment of the live session with a corrupted header checksum: forwarded by the
    // fast path, its header checksum still wrong by the same amount.
    ack = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b"data");
    let good_in = u16::from_be_bytes([ack[ETH_LEN + 10], ack[ETH_LEN + 11]]);
    ack[ETH_LEN + 10] ^= 0x21;
    let bad_in = u16::from_be_bytes([ack[ETH_LEN + 10], ack[ETH_LEN + 11]]);
    let mut burst = vec![ack];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    let out = h.take_tx(SERVER_PORT).pop().expect("forwarded");
    let ipp = Ipv4Packet::new_unchecked(&out[ETH_LEN..]);
    assert!(!ipp.verify_checksum(), "still wrong: the real server's kernel drops it");
    let mut hdr = out[ETH_LEN..ETH_LEN + 20].to_vec();
    let mut fixed = Ipv4Packet::new_unchecked(&mut hdr[..]);
    fixed.fill_checksum();
    let ones_diff = |a: u16, b: u16| crate::wire::checksum::fold(u64::from(a) + u64::from(!b));
    assert_eq!(ones_diff(ipp.checksum(), fixed.checksum()), ones_diff(bad_in, good_in));
    assert_eq!(h.drops(DropReason::BadIpChecksum), 1, "not counted: forwarded");
}

/// A new connection's first packet takes the next hop last resolved for its real server
/// (`xmit::RealHop`) only while the neighbour table has not renumbered: after every
/// neighbour expired and came back with new MACs in another order, each SYN still goes to
/// its real server's new MAC.
#[test]
fn a_real_servers_cached_next_hop_follows_the_neighbour_table() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let rs_ips = [ip("198.19.0.11"), ip("198.19.0.12"), ip("198.19.0.13")];
    let syn = |h: &mut Harness, sport: u16| {
        let f = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, VIP, 80, TcpFlags::SYN, b"");
        h.rx(CLIENT_PORT, f);
        h.take_tx(SERVER_PORT).pop().expect("SYN forwarded")
    };
    let mac_to = |rs: Ipv4Addr, new: bool| {
        let i = rs_ips.iter().position(|&r| r == rs).expect("a real server");
        let mut m = RS_MAC[i];
        if new {
            m.0[5] ^= 0x40;
        }
        m
    };
    for sport in 41000..41006 {
        let f = syn(&mut h, sport);
        assert_eq!(f[0..6], mac_to(endpoints(&f).4, false).0);
    }
    // Nobody answers the re-probes: every entry goes (the table renumbers), then the
    // real servers come back with new MACs, in the reverse order.
    for _ in 0..10 {
        h.now = h.now + std::time::Duration::from_secs(60);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    }
    h.take_tx(SERVER_PORT);
    h.take_tx(CLIENT_PORT);
    for &rs in rs_ips.iter().rev() {
        let f = super::tests::arp_reply_frame(mac_to(rs, true), rs, LB_S_MAC, ip("198.19.0.200"));
        h.rx(SERVER_PORT, f);
    }
    h.take_tx(SERVER_PORT);
    for sport in 42000..42006 {
        let f = syn(&mut h, sport);
        assert_eq!(f[0..6], mac_to(endpoints(&f).4, true).0, "SYN to {}", endpoints(&f).4);
    }
}

/// An LVS/DR connection sent through `handle_burst` one frame per burst ends exactly as
/// through `handle`: the same frames to the real server (IP packet untouched, padding
/// dropped), the same in counters and states, and a reply routed through us still dropped.
/// The established data segments take the fast path.
#[test]
fn the_fast_path_takes_dr_sessions_like_the_full_path() {
    let full = direct_method_fast_path_equals_full_path(rvs_proto::ForwardMethod::DirectRoute);
    let to_server: Vec<usize> = full.0.iter().flat_map(|(_, s, _)| s.iter().map(|f| f.len())).collect();
    assert_eq!(to_server, [54, 54, 72, 54, 54], "every client segment, padding dropped");
    assert_eq!(full.2, 1, "the reply routed through us is dropped");
    assert_eq!(full.0[3].2.as_deref(), Some("ESTABLISHED"));
}

/// The same for NAT (masquerading): the real server's replies, addressed to the client,
/// take the fast path too, back from the VIP.
#[test]
fn the_fast_path_takes_nat_replies_like_the_full_path() {
    let full = direct_method_fast_path_equals_full_path(rvs_proto::ForwardMethod::Nat);
    let to_client: Vec<_> = full.0.iter().flat_map(|(c, _, _)| c.iter().map(|f| endpoints(f).2)).collect();
    assert_eq!(to_client, [VIP], "the reply, from the VIP");
    assert_eq!(full.2, 0);
}

/// One connection of a service whose real servers use `method`, through `handle` and
/// through `handle_burst` one frame at a time: asserts both end alike and returns what was
/// seen (frames to the client and the server, and the session's state, per step), the real
/// servers' in counters and the bypassed replies.
#[allow(clippy::type_complexity)]
fn direct_method_fast_path_equals_full_path(
    method: rvs_proto::ForwardMethod,
) -> (Vec<(Vec<Vec<u8>>, Vec<Vec<u8>>, Option<String>)>, Vec<(u64, u64, u64)>, u64) {
    let frame = tcp_frame;
    let client = ip("198.18.0.10");
    let run = |burst: bool| {
        let reg = super::methods_tests::registry_with(method, None);
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let mut h = Harness::new(0, 1);
        h.p = Pipeline::new(config(0, 1), Arc::new(reg.snapshot()), counters, Time::ZERO);
        // The neighbours, learned on the ports' own addresses (no LIP here).
        for (i, mac) in RS_MAC.iter().enumerate() {
            let rs = ip(&format!("198.19.0.{}", 11 + i));
            h.rx(SERVER_PORT, super::tests::arp_reply_frame(*mac, rs, LB_S_MAC, ip("198.19.0.1")));
        }
        h.rx(CLIENT_PORT, super::tests::arp_reply_frame(CLIENT_MAC, client, LB_C_MAC, ip("198.18.0.1")));
        let mut seen = Vec::new();
        let from_client = |flags, data: &[u8], pad: usize| {
            let mut f = frame(CLIENT_MAC, LB_C_MAC, client, 40000, VIP, 80, flags, data);
            f.resize(f.len() + pad, 0xee);
            f
        };
        let from_rs = |flags, data: &[u8]| {
            frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, client, 40000, flags, data)
        };
        let steps = [
            (CLIENT_PORT, from_client(TcpFlags::SYN, b"", 0)),
            (CLIENT_PORT, from_client(TcpFlags::ACK, b"", 6)),
            (CLIENT_PORT, from_client(TcpFlags::ACK | TcpFlags::PSH, b"GET / HTTP/1.0\r\n\r\n", 0)),
            (CLIENT_PORT, from_client(TcpFlags::ACK, b"", 6)),
            (SERVER_PORT, from_rs(TcpFlags::ACK, b"")),
            (CLIENT_PORT, from_client(TcpFlags::FIN | TcpFlags::ACK, b"", 0)),
        ];
        for (port, f) in steps {
            if burst {
                h.p.handle_burst(port, &mut vec![f], h.now, &mut VecAlloc, &mut h.out);
            } else {
                h.rx(port, f);
            }
            let state = h.p.dump_sessions(h.now).first().map(|c| c.state.clone());
            seen.push((h.take_tx(CLIENT_PORT), h.take_tx(SERVER_PORT), state));
        }
        let c = h.p.counters();
        let reals: Vec<_> = c
            .reals
            .iter()
            .map(|r| (r.traffic.in_pkts.get(), r.traffic.in_bytes.get(), r.traffic.out_pkts.get()))
            .collect();
        (seen, reals, c.drop_count(DropReason::ReplyBypassed))
    };
    let (full, fast) = (run(false), run(true));
    assert_eq!(full, fast);
    full
}

/// A SYN-proxied connection (timestamps, window scaling) sent through `handle_burst` one
/// frame per burst ends exactly as through `handle`: once the server's handshake is done,
/// data both ways takes the fast path with the sequence, acknowledgement and timestamp
/// translation; an ACK storm is counted and dropped alike (the fast path keeps the count,
/// the full way drops past the threshold).
#[test]
fn the_fast_path_takes_syn_proxied_sessions_like_the_full_path() {
    use super::tests::extensions::{client, open_proxied, server, with_options, SYN_OPTS};
    let run = |burst: bool| {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.syn_proxy = true);
        let isn = 0x4000_0000u32;
        let (cookie, ts) = open_proxied(&mut h, isn);
        let ssyn = h.take_tx(SERVER_PORT).pop().expect("the server SYN");
        let (_, _, _, lport, rip, _) = endpoints(&ssyn);
        let send = |h: &mut Harness, port: PortIndex, f: Vec<u8>| {
            if burst {
                h.p.handle_burst(port, &mut vec![f], h.now, &mut VecAlloc, &mut h.out);
            } else {
                h.rx(port, f);
            }
            (h.take_tx(CLIENT_PORT), h.take_tx(SERVER_PORT))
        };
        let sisn = 0x100u32;
        let sts = [1, 1, 8, 10, 0, 0, 0, 200, 0, 0, 0, 101];
        let mut seen = vec![send(
            &mut h,
            SERVER_PORT,
            server(rip, lport, sisn, isn + 1, TcpFlags(0x12), &SYN_OPTS, b""),
        )];
        let (c1, s1) = (cookie.wrapping_add(1), sisn + 1);
        seen.push(send(
            &mut h,
            CLIENT_PORT,
            client(isn + 1, c1, TcpFlags(0x18), &ts, b"GET / HTTP/1.0\r\n\r\n"),
        ));
        seen.push(send(
            &mut h,
            SERVER_PORT,
            server(rip, lport, s1, isn + 19, TcpFlags(0x18), &sts, b"HTTP/1.0 200 OK\r\n"),
        ));
        seen.push(send(
            &mut h,
            SERVER_PORT,
            server(rip, lport, s1 + 17, isn + 19, TcpFlags(0x18), &sts, b"body"),
        ));
        for _ in 0..13 {
            seen.push(send(&mut h, CLIENT_PORT, client(isn + 19, c1 + 21, TcpFlags::ACK, &ts, b"")));
        }
        seen.push(send(&mut h, CLIENT_PORT, client(isn + 19, c1 + 22, TcpFlags::ACK, &ts, b"")));
        let c = h.p.counters();
        let reals: Vec<_> =
            c.reals.iter().map(|r| (r.traffic.in_pkts.get(), r.traffic.out_pkts.get())).collect();
        (seen, reals, c.drop_count(DropReason::SynProxyDupAck))
    };
    let (full, fast) = (run(false), run(true));
    assert_eq!(full, fast);
    assert_eq!(full.2, 2, "one ACK 13 times: the first and 10 repeats pass, 2 dropped");
    let to_client = full.0.iter().map(|(c, _)| c.len()).sum::<usize>();
    assert_eq!(to_client, 2, "both data segments of the server");
}

/// The fast path does not look up what a packet's destination is: the next hop cached
/// for its direction vouches that the full way forwarded that direction with the
/// addresses as they are. A snapshot that changes what an address is moves the
/// generation on, so the next packet of a live session goes the full way and meets what
/// the full way does now: here the VIP has become a local address of another service,
/// and the client's segment is not forwarded.
#[test]
fn a_changed_address_sends_established_packets_the_full_way() {
    use rvs_proto::{Protocol, ServiceKey, ServiceSpec};
    let snap = super::tests::edit_registry(|r| {
        for (protocol, port) in [(Protocol::Tcp, 80), (Protocol::Udp, 53)] {
            r.del_service(&ServiceKey { protocol, addr: format!("{VIP}:{port}").parse().unwrap() }).unwrap();
        }
        r.add_service(ServiceSpec {
            key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.50:80".parse().unwrap() },
            scheduler: "rr".into(),
            local_addrs: vec![VIP.into()],
            options: Default::default(),
        })
        .unwrap();
    });
    let client = ip("198.18.0.10");
    let seg = |flags| tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, VIP, 80, flags, b"data");
    let run = |burst: bool| {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        h.rx(CLIENT_PORT, seg(TcpFlags::SYN));
        h.rx(CLIENT_PORT, seg(TcpFlags::ACK));
        h.p.handle_burst(CLIENT_PORT, &mut vec![seg(TcpFlags::ACK)], h.now, &mut VecAlloc, &mut h.out);
        assert_eq!(h.take_tx(SERVER_PORT).len(), 3, "SYN, ACK and data forwarded");
        h.p.set_snapshot(snap.clone());
        if burst {
            h.p.handle_burst(CLIENT_PORT, &mut vec![seg(TcpFlags::ACK)], h.now, &mut VecAlloc, &mut h.out);
        } else {
            h.rx(CLIENT_PORT, seg(TcpFlags::ACK));
        }
        (h.take_tx(SERVER_PORT), h.take_tx(CLIENT_PORT), h.p.counters().dropped.get())
    };
    let (staged, one_by_one) = (run(true), run(false));
    assert_eq!(staged, one_by_one);
    assert!(staged.0.is_empty(), "the VIP is a local address now: nothing goes to the server");
}

/// Stage 1's classification reads the MAC, the ethertype with the IP version and header
/// length, and the fragment bits as whole words: each field still decides on its own, and
/// the bytes the words mask off (TOS, DF) decide nothing.
#[test]
fn the_fast_classification_tells_each_header_field_apart() {
    let h = Harness::new(0, 1);
    let base = tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, VIP, 80, TcpFlags::ACK, b"hi");
    let takes = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = base.clone();
        edit(&mut f);
        let mut info = L4Info::EMPTY;
        h.p.classify_fast(CLIENT_PORT, &f, &mut info)
    };
    assert!(takes(&|_| {}), "a plain TCP segment for our MAC");
    assert!(takes(&|f| f[15] = 0xb8), "any TOS (DSCP EF)");
    assert!(takes(&|f| f[20] = 0x40), "DF set");
    assert!(!takes(&|f| f[20] |= 0x20), "MF set");
    assert!(!takes(&|f| f[21] = 1), "a fragment offset (low byte)");
    assert!(!takes(&|f| f[20] = 0x01), "a fragment offset (high bits)");
    assert!(!takes(&|f| f[14] = 0x46), "an IP option");
    assert!(!takes(&|f| f[14] = 0x65), "not version 4");
    assert!(!takes(&|f| f[12..14].copy_from_slice(&[0x86, 0xdd])), "IPv6's ethertype");
    assert!(!takes(&|f| f[13] = 0x06), "ARP's ethertype");
    for byte in 0..6 {
        assert!(!takes(&|f| f[byte] ^= 0x80), "another MAC (byte {byte})");
    }
    assert!(!takes(&|f| f[..6].copy_from_slice(&[0xff; 6])), "broadcast");
    // The source MAC's bytes next to the destination's are no part of the match.
    assert!(takes(&|f| f[6..12].copy_from_slice(&[0xff; 6])), "any source MAC");
}

/// Under `expire_nodest_conn`, removing a session's real server ends the session at its
/// next packet (a RST each way), though the fast path had taken its packets before and
/// kept its checks of the session since (`Found::ready`): the change of real servers
/// voids them.
#[test]
fn a_removed_real_server_ends_a_session_the_fast_path_took() {
    let snap = super::tests::edit_registry(|r| {
        r.del_real(&super::tests::tcp_key(), "198.19.0.11:80".parse().unwrap()).unwrap();
    });
    let client = ip("198.18.0.10");
    let seg = |flags| tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, VIP, 80, flags, b"data");
    let run = |burst: bool| {
        let mut cfg = config(0, 1);
        cfg.expire_nodest_conn = true;
        let mut h = Harness::with_config(cfg);
        h.resolve_all();
        h.rx(CLIENT_PORT, seg(TcpFlags::SYN));
        h.rx(CLIENT_PORT, seg(TcpFlags::ACK));
        for _ in 0..2 {
            h.p.handle_burst(CLIENT_PORT, &mut vec![seg(TcpFlags::ACK)], h.now, &mut VecAlloc, &mut h.out);
        }
        let sent = h.take_tx(SERVER_PORT);
        assert_eq!(sent.len(), 4, "SYN, ACK and data forwarded");
        assert_eq!(endpoints(&sent[3]).4, ip("198.19.0.11"));
        h.p.set_snapshot(snap.clone());
        if burst {
            h.p.handle_burst(CLIENT_PORT, &mut vec![seg(TcpFlags::ACK)], h.now, &mut VecAlloc, &mut h.out);
        } else {
            h.rx(CLIENT_PORT, seg(TcpFlags::ACK));
        }
        (
            h.take_tx(SERVER_PORT),
            h.take_tx(CLIENT_PORT),
            h.p.counters().event_count(crate::stats::Event::NoDestExpired),
        )
    };
    let (staged, one_by_one) = (run(true), run(false));
    assert_eq!(staged, one_by_one);
    let rst = |f: &[u8]| TcpPacket::new_checked(&f[ETH_LEN + 20..]).unwrap().flags().contains(TcpFlags::RST);
    assert!(staged.0.len() == 1 && rst(&staged.0[0]), "a RST to the server, not the data");
    assert!(staged.1.len() == 1 && rst(&staged.1[0]), "a RST to the client");
    assert_eq!(staged.2, 1);
}
