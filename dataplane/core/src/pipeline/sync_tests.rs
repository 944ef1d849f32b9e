//! Sync hooks: records of due sessions go out, a record installed on another pipeline
//! forwards that connection's packets both ways, bulk export walks the table.

use super::tests::*;
use super::*;
use crate::sync::SyncParams;
use crate::wire::tcp::TcpFlags;

fn client_seg(flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, flags, payload)
}

/// A connection through `h` (SYN, ACK, data): returns its local port.
fn open(h: &mut Harness) -> u16 {
    h.rx(CLIENT_PORT, client_seg(TcpFlags::SYN, b""));
    let lport = endpoints(&h.take_tx(SERVER_PORT)[0]).3;
    h.rx(CLIENT_PORT, client_seg(TcpFlags::ACK, b""));
    h.rx(CLIENT_PORT, client_seg(TcpFlags::ACK, b"GET /"));
    h.take_tx(SERVER_PORT);
    lport
}

#[test]
fn sync_off_produces_no_records() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    open(&mut h);
    assert!(h.out.synced.is_empty());
}

#[test]
fn the_third_client_packet_syncs_and_the_record_works_on_another_director() {
    let mut lb1 = Harness::new(0, 1);
    lb1.p.enable_sync(SyncParams::default(), lb1.now);
    lb1.resolve_all();
    let lport = open(&mut lb1);
    assert_eq!(lb1.out.synced.len(), 1, "packet 3 of 3, then 53, 103...");
    let rec = lb1.out.synced.pop().unwrap();
    assert_eq!(rec.state, SessionState::Established);
    assert_eq!(rec.local.port(), lport);
    assert!(rec.timeout_ms > 800_000, "ESTABLISHED's 900 s, less nothing: {}", rec.timeout_ms);

    // lb2: same services, installs it, and forwards both ways without a SYN.
    let mut lb2 = Harness::new(0, 1);
    lb2.p.enable_sync(SyncParams::default(), lb2.now);
    lb2.resolve_all();
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::Refreshed));
    assert_eq!(lb2.p.sessions().len(), 1);
    lb2.rx(CLIENT_PORT, client_seg(TcpFlags::ACK, b"more"));
    let tx = lb2.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    assert_eq!(endpoints(&tx[0]).2, ip("198.19.0.200"));
    assert_eq!(endpoints(&tx[0]).3, lport);
    let reply = tcp_frame(
        RS_MAC[0],
        LB_S_MAC,
        ip("198.19.0.11"),
        80,
        ip("198.19.0.200"),
        lport,
        TcpFlags::ACK,
        b"data",
    );
    lb2.rx(SERVER_PORT, reply);
    let tx = lb2.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, sport, dst, dport), (ip("198.18.0.100"), 80, ip("198.18.0.10"), 40000));
    assert!(lb2.out.synced.is_empty(), "an installed session is not echoed back");

    // The synced session's local port is not handed to a new connection on lb2.
    for sport in 41000..41200u16 {
        let syn = tcp_frame(
            CLIENT_MAC,
            LB_C_MAC,
            ip("198.18.0.11"),
            sport,
            ip("198.18.0.100"),
            80,
            TcpFlags::SYN,
            b"",
        );
        lb2.rx(CLIENT_PORT, syn);
        for f in lb2.take_tx(SERVER_PORT) {
            assert_ne!(endpoints(&f).3, lport);
        }
    }
}

#[test]
fn state_changes_sync_at_once_and_expiry_continues_on_the_receiver() {
    let mut lb1 = Harness::new(0, 1);
    lb1.p.enable_sync(SyncParams::default(), lb1.now);
    lb1.resolve_all();
    open(&mut lb1);
    lb1.out.synced.clear();
    lb1.rx(CLIENT_PORT, client_seg(TcpFlags(0x11), b"")); // FIN|ACK
    assert_eq!(lb1.out.synced.len(), 1);
    let rec = lb1.out.synced.pop().unwrap();
    assert_eq!(rec.state, SessionState::FinWait);

    let mut lb2 = Harness::new(0, 1);
    lb2.resolve_all();
    lb2.p.install_synced(&rec, lb2.now).unwrap();
    let t = lb2.now + std::time::Duration::from_millis(rec.timeout_ms as u64 + 2000);
    lb2.p.poll(t, &mut crate::frame::VecAlloc, &mut lb2.out);
    assert_eq!(lb2.p.sessions().len(), 0, "expired on the receiver");
}

#[test]
fn a_record_for_an_unknown_service_or_real_is_refused() {
    let mut lb1 = Harness::new(0, 1);
    lb1.p.enable_sync(SyncParams::default(), lb1.now);
    lb1.resolve_all();
    open(&mut lb1);
    let mut rec = lb1.out.synced.pop().unwrap();
    let mut lb2 = Harness::new(0, 1);
    rec.real = "198.19.0.99:80".parse().unwrap();
    assert_eq!(lb2.p.install_synced(&rec, lb2.now).unwrap_err().name(), "no_real");
    rec.virt = "198.18.0.101:80".parse().unwrap();
    assert_eq!(lb2.p.install_synced(&rec, lb2.now).unwrap_err().name(), "no_service");
    assert_eq!(lb2.p.sessions().len(), 0);
}

#[test]
fn bulk_export_walks_the_table_in_slices() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    for sport in 42000..42010u16 {
        for flags in [TcpFlags::SYN, TcpFlags::ACK] {
            let f =
                tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, flags, b"");
            h.rx(CLIENT_PORT, f);
        }
    }
    let mut got = Vec::new();
    let mut from = Some(0);
    let mut calls = 0;
    while let Some(f) = from {
        from = h.p.export_sessions(f, 3, h.now, |r| got.push(r));
        calls += 1;
    }
    assert_eq!(got.len(), 10);
    assert_eq!(calls, 4);
    let mut ports: Vec<u16> = got.iter().map(|r| r.client.port()).collect();
    ports.sort_unstable();
    assert_eq!(ports, (42000..42010).collect::<Vec<_>>());
}

#[test]
fn bursts_of_established_client_packets_count_towards_the_sync_period() {
    let mut h = Harness::new(0, 1);
    h.p.enable_sync(SyncParams::default(), h.now);
    h.resolve_all();
    open(&mut h);
    assert_eq!(h.out.synced.len(), 1, "packet 3");
    h.out.synced.clear();
    // Packets 4..=53 in bursts, as the worker hands them over: packet 53 syncs again.
    let mut frames: Vec<Vec<u8>> = (4..=53).map(|_| client_seg(TcpFlags::ACK, b"x")).collect();
    h.p.handle_burst(CLIENT_PORT, &mut frames, h.now, &mut crate::frame::VecAlloc, &mut h.out);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 50);
    assert_eq!(h.out.synced.len(), 1, "packet 53 = 3 + 50");
}

/// A harness for worker `w` of `n` whose local ports are chosen by RSS (`rss`).
fn rss_harness(w: u16, n: u16, rss: &Arc<crate::laddr::rss::Rss>) -> Harness {
    let cfg = PipelineConfig { steering: crate::laddr::Steering::Rss(rss.clone()), ..config(w, n) };
    let mut h = Harness::new(w, n);
    h.p = Pipeline::new(
        cfg,
        Arc::new(registry().snapshot()),
        Arc::new(WorkerCounters::new(16, 64)),
        Time::ZERO,
    );
    h.out = Output::new(2, n as usize);
    h.p.enable_sync(SyncParams::default(), h.now);
    h.resolve_all();
    h
}

/// Under RSS steering a worker's local ports are not `port % workers`: the record goes to
/// the worker the receiver's NIC gives the real server's reply to, which installs it and
/// forwards the reply itself; the partition's choice would have handed the reply off to a
/// worker without the session.
#[test]
fn a_synced_record_goes_to_the_worker_its_reply_reaches_under_rss() {
    use crate::laddr::rss::{Rss, DEFAULT_KEY};
    let rss = Arc::new(Rss::round_robin(&DEFAULT_KEY, 128, 2).unwrap());
    let steering = crate::laddr::Steering::Rss(rss.clone());
    // lb1: connections on each worker until one has a local port the partition would
    // give to the other worker.
    let mut found = None;
    'search: for w in 0..2u16 {
        let mut lb1 = rss_harness(w, 2, &rss);
        for sport in 40000..40064u16 {
            let seg = |flags, payload: &[u8]| {
                tcp_frame(
                    CLIENT_MAC,
                    LB_C_MAC,
                    ip("198.18.0.10"),
                    sport,
                    ip("198.18.0.100"),
                    80,
                    flags,
                    payload,
                )
            };
            lb1.rx(CLIENT_PORT, seg(TcpFlags::SYN, b""));
            lb1.rx(CLIENT_PORT, seg(TcpFlags::ACK, b""));
            lb1.rx(CLIENT_PORT, seg(TcpFlags::ACK, b"GET /"));
            lb1.take_tx(SERVER_PORT);
            if let Some(rec) = lb1.out.synced.pop() {
                if rec.owner_worker(2) != w as usize {
                    found = Some((w, rec));
                    break 'search;
                }
            }
        }
    }
    let (w, rec) = found.expect("some RSS-chosen port is not the partition's");
    assert_eq!(rec.owner_worker_steered(2, &steering), w as usize);
    assert_ne!(rec.owner_worker(2), w as usize);
    // Under the partition both agree.
    let part = crate::laddr::Steering::Partition;
    assert_eq!(rec.owner_worker_steered(2, &part), rec.owner_worker(2));

    // lb2, same NIC setup: its worker w installs the record and forwards the reply itself.
    let mut lb2 = rss_harness(w, 2, &rss);
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
    let (std::net::SocketAddr::V4(local), std::net::SocketAddr::V4(real)) = (rec.local, rec.real) else {
        unreachable!("IPv4 lab addresses")
    };
    let reply_from = |h: &mut Harness| {
        let f = tcp_frame(
            RS_MAC[0],
            LB_S_MAC,
            *real.ip(),
            real.port(),
            *local.ip(),
            local.port(),
            TcpFlags::ACK,
            b"data",
        );
        h.rx(SERVER_PORT, f);
    };
    reply_from(&mut lb2);
    assert_eq!(lb2.take_tx(CLIENT_PORT).len(), 1, "worker {w} forwards the reply to the client");
    assert!(lb2.out.redirect.iter().all(|r| r.is_empty()));
    // The worker the partition names would hand the reply over to w.
    let mut other = rss_harness(1 - w, 2, &rss);
    reply_from(&mut other);
    assert!(other.take_tx(CLIENT_PORT).is_empty());
    assert_eq!(other.out.redirect[w as usize].len(), 1);
}

#[test]
fn table_digests_agree_once_every_synced_session_arrived_and_follow_expiry() {
    let key = crate::sync::ClusterKey::from_config("a long test cluster passphrase").unwrap();
    let new = || {
        let mut h = Harness::new(0, 1);
        h.p.enable_sync(SyncParams::default(), h.now);
        h.p.set_sync_digest_key(&key);
        h.resolve_all();
        h
    };
    let (mut lb1, mut lb2) = (new(), new());
    assert_eq!(lb1.p.sync_digest(), (0, 0));
    // Three connections through lb1; a fourth too short to be synced (one SYN).
    let mut recs = Vec::new();
    for sport in [40000u16, 40002, 40003] {
        for (flags, data) in [(TcpFlags::SYN, &b""[..]), (TcpFlags::ACK, b""), (TcpFlags::ACK, b"GET /")] {
            let f = tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                sport,
                ip("198.18.0.100"),
                80,
                flags,
                data,
            );
            lb1.rx(CLIENT_PORT, f);
        }
        recs.append(&mut lb1.out.synced);
    }
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40009, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    lb1.rx(CLIENT_PORT, syn);
    assert_eq!(recs.len(), 3);
    let (d1, n1) = lb1.p.sync_digest();
    assert_eq!(n1, 3, "the unsynced half-open session is not in it");
    assert_ne!(d1, 0);
    // lb2 got two of the three records: the digests differ.
    for r in &recs[..2] {
        lb2.p.install_synced(r, lb2.now).unwrap();
    }
    assert_ne!(lb2.p.sync_digest().0, d1);
    // The third, and a refresh of the first: equal, whatever the order.
    lb2.p.install_synced(&recs[2], lb2.now).unwrap();
    lb2.p.install_synced(&recs[0], lb2.now).unwrap();
    assert_eq!(lb2.p.sync_digest(), (d1, 3));
    // More packets on lb1 (a re-sync of the same sessions) leave it as it was.
    lb1.rx(CLIENT_PORT, client_seg(TcpFlags(0x11), b""));
    assert_eq!(lb1.out.synced.len(), 1, "FIN: the state change is synced");
    assert_eq!(lb1.p.sync_digest(), (d1, 3));
    // Everything expires on both: back to the empty table's digest.
    let later = lb1.now + std::time::Duration::from_secs(3600);
    lb1.p.poll(later, &mut crate::frame::VecAlloc, &mut lb1.out);
    lb2.p.poll(later, &mut crate::frame::VecAlloc, &mut lb2.out);
    assert_eq!(lb1.p.sessions().len(), 0);
    assert_eq!(lb1.p.sync_digest(), (0, 0));
    assert_eq!(lb2.p.sync_digest(), (0, 0));
}
