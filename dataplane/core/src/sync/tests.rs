//! Tests across the sync module: round trips, every refusal, truncation, packing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::proxyproto::Version;
use crate::session::{FlowKey, Session, SessionState, FLAG_TOA, FLAG_TOA_PENDING, PROTO_TCP, PROTO_UDP};
use crate::synproxy::{SeqDelta, Translation, WindowShift};
use crate::time::Time;

fn key() -> ClusterKey {
    ClusterKey::from_config("hex:000102030405060708090a0b0c0d0e0f").unwrap()
}

fn v4(a: [u8; 4], p: u16) -> SocketAddr {
    SocketAddr::from((a, p))
}

fn record(i: u32) -> ConnRecord {
    let b = i.to_be_bytes();
    ConnRecord {
        proto: PROTO_TCP,
        state: SessionState::Established,
        client: v4([10, b[1], b[2], b[3]], 1024 + (i % 60000) as u16),
        virt: v4([192, 0, 2, 1], 443),
        local: v4([198, 51, 100, 7], (i % 65536) as u16),
        real: v4([172, 16, 0, 1 + (i % 200) as u8], 8443),
        timeout_ms: 900_000,
        flags: CONN_F_TOA,
        translation: None,
        proxy: None,
        persist: None,
    }
}

fn sender(member: u32, epoch: u32) -> Sender {
    Sender::new(SenderConfig::new(51, member, epoch), &key()).unwrap()
}

fn receiver() -> Receiver {
    Receiver::new(ReceiverConfig::new(51, 2), &key())
}

/// One sealed `Conns` datagram with `recs`, from `s`.
fn datagram(s: &mut Sender, recs: &[ConnRecord]) -> Vec<u8> {
    let mut p = Packer::new(s.clone());
    let mut out = Vec::new();
    for r in recs {
        p.push(r, |d| out.push(d.to_vec())).unwrap();
    }
    p.flush(|d| out.push(d.to_vec())).unwrap();
    *s = p.sender().clone();
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

fn records_of(m: &Message<'_>) -> Vec<ConnRecord> {
    match m.body {
        Body::Conns(c) => c.iter().collect(),
        Body::Control(_) => panic!("not a Conns message"),
    }
}

fn arb_ip(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))).boxed()
    } else {
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
    }
}

fn arb_side() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    any::<bool>().prop_flat_map(|v6| {
        (arb_ip(v6), any::<u16>(), arb_ip(v6), any::<u16>())
            .prop_map(|(a, p, b, q)| (SocketAddr::new(a, p), SocketAddr::new(b, q)))
    })
}

fn arb_shift() -> impl Strategy<Value = WindowShift> {
    (0u8..=14, 0u8..=14).prop_map(|(from, to)| WindowShift { from, to })
}

fn arb_translation() -> impl Strategy<Value = Translation> {
    (any::<u32>(), any::<u32>(), any::<u32>(), arb_shift(), arb_shift()).prop_map(|(c, s, t, a, b)| {
        Translation {
            client_seq: SeqDelta(c),
            server_seq: SeqDelta(s),
            server_ts: SeqDelta(t),
            to_server_window: a,
            to_client_window: b,
        }
    })
}

fn arb_state() -> impl Strategy<Value = (u8, SessionState)> {
    use SessionState::*;
    prop_oneof![
        Just((PROTO_UDP, Udp)),
        prop::sample::select(vec![SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close])
            .prop_map(|s| (PROTO_TCP, s)),
    ]
}

prop_compose! {
    fn arb_record()(ps in arb_state(), (client, virt) in arb_side(), (local, real) in arb_side(),
                    timeout_ms in any::<u32>(), flags in 0u8..8,
                    method in prop::sample::select(vec![0, CONN_F_NAT, CONN_F_DR, CONN_F_TUN]),
                    translation in proptest::option::of(arb_translation()),
                    proxy in proptest::option::of((any::<bool>(), any::<bool>(), any::<u32>())),
                    persist in proptest::option::of(any::<bool>().prop_flat_map(arb_ip))) -> ConnRecord {
        // A NAT, DR or TUN record names the client as the reply's destination (one family
        // throughout).
        let direct = method != 0 && client.is_ipv4() == real.is_ipv4();
        let (local, flags) = if direct { (client, flags | method) } else { (local, flags) };
        ConnRecord {
            proto: ps.0, state: ps.1, client, virt, local, real, timeout_ms, flags, translation,
            proxy: proxy.map(|(v2, sent, client_isn)| ProxyState {
                version: if v2 { Version::V2 } else { Version::V1 }, sent, client_isn }),
            persist,
        }
    }
}

fn arb_control() -> impl Strategy<Value = Control> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(target, bulk_id)| Control::BulkRequest(BulkRequest { target, bulk_id })),
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(r, b, s, d, end)| {
                let m = BulkMarker { requester: r, bulk_id: b, sessions: s, digest: d };
                if end {
                    Control::BulkEnd(m)
                } else {
                    Control::BulkStart(m)
                }
            }
        ),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u8>(), any::<u8>()).prop_map(
            |(generation, sessions, digest, hold_ms, state, port_slices)| {
                Control::Hello(Hello { generation, sessions, digest, hold_ms, state, port_slices })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn record_round_trip(r in arb_record()) {
        let mut buf = [0u8; conn::CONN_MAX_LEN];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(n, r.buffer_len());
        let (back, m) = ConnRecord::parse(&buf[..n]).unwrap();
        prop_assert_eq!(m, n);
        prop_assert_eq!(back, r);
        // Every shorter prefix is refused.
        for k in 0..n {
            prop_assert!(ConnRecord::parse(&buf[..k]).is_err());
        }
    }

    #[test]
    fn message_round_trip_through_the_receiver(recs in proptest::collection::vec(arb_record(), 1..20),
                                               seq_skip in 0u64..5) {
        let mut s = sender(9, 1);
        for _ in 0..seq_skip {
            let _ = s.control(&Control::BulkRequest(BulkRequest { target: 0, bulk_id: 1 }), &mut [0u8; 64]);
        }
        let mut p = Packer::new(s);
        let mut out = Vec::new();
        for r in &recs {
            p.push(r, |d| out.push(d.to_vec())).unwrap();
        }
        p.flush(|d| out.push(d.to_vec())).unwrap();
        let mut rx = receiver();
        let mut got = Vec::new();
        for d in &out {
            prop_assert!(d.len() <= p.sender().config().max_message);
            let m = rx.receive(d, Time::ZERO).unwrap();
            prop_assert_eq!(m.header.sender, 9);
            got.extend(records_of(&m));
            // The unauthenticated parser agrees.
            prop_assert_eq!(records_of(&SyncMessage::parse(d).unwrap()), records_of(&m));
        }
        prop_assert_eq!(got, recs);
        prop_assert_eq!(rx.refused().total(), 0);
    }

    #[test]
    fn control_round_trip(c in arb_control(), member in 1u32.., epoch in any::<u32>()) {
        let mut s = sender(member, epoch);
        let mut buf = [0u8; 128];
        let n = s.control(&c, &mut buf).unwrap();
        prop_assert_eq!(n, c.message_len());
        let mut rx = Receiver::new(ReceiverConfig::new(51, 0), &key());
        let m = rx.receive(&buf[..n], Time::ZERO).unwrap();
        prop_assert_eq!(m.header.epoch, epoch);
        prop_assert_eq!(m.header.seq, 1);
        match m.body {
            Body::Control(back) => prop_assert_eq!(back, c),
            Body::Conns(_) => prop_assert!(false, "conns"),
        }
    }

    #[test]
    fn emit_then_parse_any_header(sync_id in any::<u8>(), sender_id in 1u32.., epoch in any::<u32>(),
                                  seq in any::<u64>(), bulk in any::<bool>(),
                                  recs in proptest::collection::vec(arb_record(), 0..5)) {
        let h = Header { kind: Kind::Conns, sync_id, flags: if bulk { FLAG_BULK } else { 0 },
                         sender: sender_id, epoch, seq, count: 0 };
        let mut buf = vec![0u8; 2048];
        let n = SyncMessage::emit(&h, &Outgoing::Conns(&recs), &key().authenticator(), &mut buf).unwrap();
        let m = SyncMessage::parse(&buf[..n]).unwrap();
        prop_assert_eq!(m.header, Header { count: recs.len() as u16, ..h });
        prop_assert_eq!(records_of(&m), recs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), magic in any::<bool>()) {
        let mut d = data;
        if magic && d.len() >= 8 {
            d[0] = b'R';
            d[1] = b'V';
            d[2] = 1;
            let n = d.len() as u16;
            d[6..8].copy_from_slice(&n.to_be_bytes());
        }
        let _ = SyncMessage::parse(&d);
        let mut rx = receiver();
        prop_assert!(rx.receive(&d, Time::ZERO).is_err());
        prop_assert_eq!(rx.refused().total(), 1);
        let _ = ConnRecord::parse(&d);
    }

    #[test]
    fn any_bit_flip_is_refused(recs in proptest::collection::vec(arb_record(), 1..4), bit in any::<prop::sample::Index>()) {
        let mut s = sender(9, 1);
        let mut d = datagram(&mut s, &recs);
        let i = bit.index(d.len() * 8);
        d[i / 8] ^= 1 << (i % 8);
        prop_assert!(receiver().receive(&d, Time::ZERO).is_err());
    }
}

#[test]
fn truncation_at_every_length_is_refused_and_counted() {
    let recs: Vec<_> = (0..5).map(record).collect();
    let mut s = sender(9, 1);
    let d = datagram(&mut s, &recs);
    let mut rx = receiver();
    for k in 0..d.len() {
        let r = rx.receive(&d[..k], Time::ZERO).unwrap_err();
        assert!(matches!(r, Refusal::Truncated(_)), "{k}: {r}");
    }
    assert_eq!(rx.refused().get(&Refusal::Truncated(Error::BadMagic)), d.len() as u64);
    // Shortened consistently (length field rewritten): the tag no longer matches.
    for k in wire::MIN_MESSAGE_LEN..d.len() {
        let mut t = d[..k].to_vec();
        t[6..8].copy_from_slice(&(k as u16).to_be_bytes());
        assert!(matches!(rx.receive(&t, Time::ZERO), Err(Refusal::BadTag(9))), "{k}");
    }
    // The whole message still goes through: nothing was recorded by the refusals.
    assert_eq!(records_of(&rx.receive(&d, Time::ZERO).unwrap()), recs);
    let mut long = d.clone();
    long.push(0);
    assert!(matches!(rx.receive(&long, Time::ZERO), Err(Refusal::Malformed(Error::TrailingBytes { .. }))));
}

#[test]
fn every_refusal_reason() {
    let recs = [record(1)];
    let mut rx =
        Receiver::new(ReceiverConfig { peers: Some(vec![9, 10]), ..ReceiverConfig::new(51, 2) }, &key());

    // Wrong key.
    let other = ClusterKey::from_config("another long cluster passphrase").unwrap();
    let mut s_wrong = Sender::new(SenderConfig::new(51, 9, 1), &other).unwrap();
    let d = datagram(&mut s_wrong, &recs);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::BadTag(9));

    // Unknown sender (not in the peer list), foreign sync id, our own id.
    let d = datagram(&mut sender(11, 1), &recs);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::UnknownSender(11));
    let mut s_foreign = Sender::new(SenderConfig::new(52, 9, 1), &key()).unwrap();
    let d = datagram(&mut s_foreign, &recs);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::ForeignSyncId(52));
    let d = datagram(&mut sender(2, 1), &recs);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::Loopback);

    // Accepted once, then replayed.
    let mut s = sender(9, 5);
    let first = datagram(&mut s, &recs);
    assert!(rx.receive(&first, Time::from_secs(1)).is_ok());
    assert_eq!(rx.receive(&first, Time::from_secs(1)).unwrap_err(), Refusal::Replayed { sender: 9, seq: 1 });

    // Too old: 1100 messages later, the first one's number left the window.
    let mut last = Vec::new();
    for _ in 0..1100 {
        last = datagram(&mut s, &recs);
    }
    assert!(rx.receive(&last, Time::from_secs(2)).is_ok());
    let mut s_old = sender(9, 5);
    let d = datagram(&mut s_old, &recs); // seq 1 again, a fresh tag: still too old
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::TooOld { sender: 9, seq: 1 });
    let _ = d;

    // An older epoch (a replay from a previous run) is refused; a newer one resets.
    let d = datagram(&mut sender(9, 4), &recs);
    assert_eq!(
        rx.receive(&d, Time::ZERO).unwrap_err(),
        Refusal::StaleEpoch { sender: 9, epoch: 4, current: 5 }
    );
    let d = datagram(&mut sender(9, 6), &recs);
    assert!(rx.receive(&d, Time::from_secs(3)).is_ok());
    assert_eq!(rx.peer(9).map(|p| (p.epoch, p.accepted, p.last_seen)), Some((6, 3, Time::from_secs(3))));
    // The previous epoch is now stale as a whole.
    assert!(matches!(rx.receive(&last, Time::ZERO), Err(Refusal::StaleEpoch { .. })));

    // Bad version and bad magic.
    let mut d = datagram(&mut sender(10, 1), &recs);
    d[2] = 2;
    assert!(matches!(rx.receive(&d, Time::ZERO), Err(Refusal::BadVersion(Error::BadVersion(2)))));
    d[0] = 0;
    assert!(matches!(rx.receive(&d, Time::ZERO), Err(Refusal::BadVersion(Error::BadMagic))));

    // Malformed under a valid tag (a member with a bug): a state that does not fit UDP.
    let mut s10 = sender(10, 1);
    let mut d = datagram(&mut s10, &recs);
    d[wire::HEADER_LEN + 2] = PROTO_UDP;
    key().authenticator().seal(&mut d);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::Malformed(Error::BadState(1)));
    // A malformed message does not burn its sequence number... but a good one with it is
    // a different message: the number is still free.
    assert_eq!(rx.peer(10), None);

    let c = rx.refused();
    let names: Vec<_> = c.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name}={n}")).collect();
    assert_eq!(
        names,
        [
            "bad_version=2",
            "malformed=1",
            "foreign_sync_id=1",
            "loopback=1",
            "unknown_sender=1",
            "bad_tag=1",
            "replayed=1",
            "too_old=1",
            "stale_epoch=2"
        ]
    );
    assert_eq!(rx.accepted(), 3);
}

#[test]
fn reordered_messages_are_accepted_once_each() {
    let mut s = sender(9, 1);
    let ds: Vec<_> = (0..10).map(|i| datagram(&mut s, &[record(i)])).collect();
    let mut rx = receiver();
    for i in [3, 1, 0, 9, 2, 8, 4, 7, 6, 5] {
        assert_eq!(records_of(&rx.receive(&ds[i], Time::ZERO).unwrap()), [record(i as u32)]);
    }
    for d in &ds {
        assert!(matches!(rx.receive(d, Time::ZERO), Err(Refusal::Replayed { .. })));
    }
}

#[test]
fn too_many_peers_without_a_peer_list() {
    let mut rx = Receiver::new(ReceiverConfig { max_peers: 2, ..ReceiverConfig::new(51, 1) }, &key());
    for m in [5, 6] {
        assert!(rx.receive(&datagram(&mut sender(m, 1), &[record(m)]), Time::ZERO).is_ok());
    }
    let d = datagram(&mut sender(7, 1), &[record(7)]);
    assert_eq!(rx.receive(&d, Time::ZERO).unwrap_err(), Refusal::TooManyPeers(2));
    rx.forget(5);
    assert!(rx.receive(&d, Time::ZERO).is_ok());
    assert_eq!(rx.peers().count(), 2);
}

#[test]
fn packer_fills_datagrams_to_the_mtu() {
    let s = sender(3, 1);
    assert_eq!(s.config().max_message, 1472);
    let mut p = Packer::new(s);
    let mut sizes = Vec::new();
    let n = 1000u32;
    for i in 0..n {
        p.push(&record(i), |d| sizes.push(d.len())).unwrap();
    }
    p.flush(|d| sizes.push(d.len())).unwrap();
    // 34-byte IPv4 records: (1472 - 28 - 16) / 34 = 42 per datagram, exactly 1472 bytes.
    assert_eq!(conn::CONN_V4_LEN, 34);
    assert_eq!(sizes.len(), 1000usize.div_ceil(42));
    assert!(sizes[..sizes.len() - 1].iter().all(|&l| l == 1472));
    assert_eq!(*sizes.last().unwrap(), 44 + 34 * (1000 % 42));
    let (msgs, recs, bytes) = p.sent();
    assert_eq!((msgs, recs, bytes), (sizes.len() as u64, n as u64, sizes.iter().sum::<usize>() as u64));
    // An IPv6 transport leaves 20 bytes less.
    assert_eq!(max_message_len(1500, true), 1452);
    assert_eq!(max_message_len(9000, false), 8972);
    assert!(Sender::new(SenderConfig { max_message: 100, ..SenderConfig::new(1, 1, 1) }, &key()).is_err());
    assert!(Sender::new(SenderConfig::new(1, 0, 1), &key()).is_err());
}

#[test]
fn bulk_flag_and_control_ordering() {
    let mut p = Packer::new(sender(3, 1));
    let mut out: Vec<Vec<u8>> = Vec::new();
    let marker = BulkMarker { requester: 2, bulk_id: 77, sessions: 2, digest: 0 };
    p.push(&record(1), |d| out.push(d.to_vec())).unwrap();
    p.set_bulk(true, |d| out.push(d.to_vec())).unwrap();
    p.control(&Control::BulkStart(marker), |d| out.push(d.to_vec())).unwrap();
    p.push(&record(2), |d| out.push(d.to_vec())).unwrap();
    p.push(&record(3), |d| out.push(d.to_vec())).unwrap();
    p.control(&Control::BulkEnd(marker), |d| out.push(d.to_vec())).unwrap();
    p.set_bulk(false, |d| out.push(d.to_vec())).unwrap();
    let mut rx = receiver();
    let got: Vec<_> = out
        .iter()
        .map(|d| {
            let m = rx.receive(d, Time::ZERO).unwrap();
            let what = match m.body {
                Body::Conns(c) => format!("conns{}", c.len()),
                Body::Control(c) => format!("{:?}", c.kind()),
            };
            (m.header.seq, m.header.flags, what)
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, 0, "conns1".to_string()),
            (2, 0, "BulkStart".to_string()),
            (3, FLAG_BULK, "conns2".to_string()),
            (4, 0, "BulkEnd".to_string())
        ]
    );
}

#[test]
fn bulk_sync_of_200k_sessions() {
    // The bench does 1M in release; this checks the same path end to end.
    let n = 200_000u32;
    let mut p = Packer::new(sender(3, 1));
    let mut rx = receiver();
    let mut digest_tx = TableDigest::new(&key());
    let mut digest_rx = TableDigest::new(&key());
    let mut got = 0u32;
    let mut bytes = 0usize;
    let mut handle = |d: &[u8]| {
        bytes += d.len();
        let m = rx.receive(d, Time::ZERO).unwrap();
        for r in records_of(&m) {
            assert_eq!(r, record(got));
            digest_rx.add(&r);
            got += 1;
        }
    };
    for i in 0..n {
        let r = record(i);
        digest_tx.add(&r);
        p.push(&r, &mut handle).unwrap();
    }
    p.flush(&mut handle).unwrap();
    assert_eq!(got, n);
    assert_eq!(digest_rx, digest_tx);
    let per_session = bytes as f64 / n as f64;
    assert!(per_session < 35.1, "{per_session} bytes per session");
}

#[test]
fn emit_refuses_what_the_wire_cannot_say() {
    let mut r = record(1);
    r.virt = SocketAddr::from((Ipv6Addr::LOCALHOST, 80));
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::FamilyMismatch));
    let mut r = record(1);
    r.proto = 1;
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadProtocol(1)));
    let mut r = record(1);
    r.state = SessionState::Udp;
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadState(7)));
    let mut r = record(1);
    r.flags = 0x80;
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadConnFlags(0x80)));
    // NAT: the local endpoint must be the client's.
    let mut r = record(1);
    r.flags = CONN_F_NAT;
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadConnFlags(CONN_F_NAT)));
    r.local = r.client;
    assert!(r.emit(&mut [0u8; 200]).is_ok());
    // DR and TUN likewise; one method at most.
    for f in [CONN_F_DR, CONN_F_TUN] {
        let mut r = record(1);
        r.flags = f;
        assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadConnFlags(f)));
        r.local = r.client;
        assert!(r.emit(&mut [0u8; 200]).is_ok());
        r.flags |= CONN_F_NAT;
        assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadConnFlags(f | CONN_F_NAT)));
    }
    let mut r = record(1);
    r.local = r.client;
    r.flags = CONN_F_DR | CONN_F_TUN;
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadConnFlags(CONN_F_DR | CONN_F_TUN)));
    let mut r = record(1);
    r.translation =
        Some(Translation { to_client_window: WindowShift { from: 15, to: 0 }, ..Translation::IDENTITY });
    assert_eq!(r.emit(&mut [0u8; 200]), Err(Error::BadOption { kind: conn::OPT_TRANSLATION }));
    assert_eq!(record(1).emit(&mut [0u8; 33]), Err(Error::BufferTooSmall { need: 34, have: 33 }));
    let h = Header { kind: Kind::Hello, sync_id: 1, flags: FLAG_BULK, sender: 1, epoch: 0, seq: 0, count: 0 };
    let c = Outgoing::Control(Control::Hello(Hello {
        generation: 1,
        sessions: 2,
        digest: 3,
        hold_ms: 4,
        state: 0,
        port_slices: 0,
    }));
    assert_eq!(
        SyncMessage::emit(&h, &c, &key().authenticator(), &mut [0u8; 100]),
        Err(Error::BadFlags(FLAG_BULK))
    );
}

#[test]
fn options_unknown_skippable_and_duplicate() {
    let mut r = record(1);
    r.proxy = Some(ProxyState { version: Version::V2, sent: false, client_isn: 5 });
    let mut buf = vec![0u8; 128];
    let n = r.emit(&mut buf).unwrap();
    // Append a skippable option (type 200) and fix the length: still parses, same value.
    let mut b = buf[..n].to_vec();
    b.extend_from_slice(&[200, 3, 1, 2, 3]);
    let l = b.len() as u16;
    b[0..2].copy_from_slice(&l.to_be_bytes());
    assert_eq!(ConnRecord::parse(&b).unwrap(), (r, b.len()));
    // A critical unknown option (type 99) refuses the record.
    b[n] = 99;
    assert_eq!(ConnRecord::parse(&b), Err(Error::BadOption { kind: 99 }));
    // The PROXY option twice.
    let mut d = buf[..n].to_vec();
    d.extend_from_slice(&buf[n - 8..n]);
    let l = d.len() as u16;
    d[0..2].copy_from_slice(&l.to_be_bytes());
    assert_eq!(ConnRecord::parse(&d), Err(Error::BadOption { kind: conn::OPT_PROXY }));
    // An option running past the record.
    let mut e = buf[..n].to_vec();
    e[n - 7] = 9;
    assert_eq!(ConnRecord::parse(&e), Err(Error::BadRecordLength));
    // Bad family nibble.
    let mut f = buf[..n].to_vec();
    f[4] = 0x45;
    assert_eq!(ConnRecord::parse(&f), Err(Error::BadFamily(0x45)));
}

#[test]
fn records_from_sessions_and_back_to_flow_keys() {
    let client = FlowKey {
        src: [10, 0, 0, 9].into(),
        dst: [192, 0, 2, 1].into(),
        sport: 5555,
        dport: 80,
        proto: PROTO_TCP,
    };
    let reply = FlowKey {
        src: [172, 16, 0, 3].into(),
        dst: [198, 51, 100, 7].into(),
        sport: 8080,
        dport: 41003,
        proto: PROTO_TCP,
    };
    let s = Session {
        client,
        reply,
        state: SessionState::FinWait,
        service_slot: 3,
        real_slot: 4,
        expires: Time::from_secs(100),
        persist_client: Some(std::net::Ipv4Addr::new(10, 0, 0, 0)).into(),
        flags: FLAG_TOA | FLAG_TOA_PENDING,
    };
    let r = ConnRecord::from_session(&s, Duration::from_millis(1234));
    assert_eq!(r.flags, CONN_F_TOA | CONN_F_TOA_PENDING);
    assert_eq!(r.persist, Some(IpAddr::V4([10, 0, 0, 0].into())));
    assert_eq!(r.flow_keys(), Some((client, reply)));
    assert_eq!(r.service_key(), Some((PROTO_TCP, Ipv4Addr::new(192, 0, 2, 1), 80)));
    assert_eq!(r.real, SocketAddr::V4(SocketAddrV4::new([172, 16, 0, 3].into(), 8080)));
    assert_eq!(r.owner_worker(4), 41003 % 4);
    assert_eq!(r.owner_worker(0), 0);
    assert_eq!(r.expires(Time::from_secs(10)), Time::from_millis(11_234));
    let mut six = r;
    six.client = SocketAddr::from((Ipv6Addr::LOCALHOST, 1));
    six.virt = SocketAddr::from((Ipv6Addr::LOCALHOST, 2));
    assert_eq!(six.flow_keys(), None);
    assert_eq!(six.service_key(), None);
    let long = ConnRecord::from_session(&s, Duration::from_secs(u64::MAX / 4));
    assert_eq!(long.timeout_ms, u32::MAX);
}

#[test]
fn cluster_keys_from_config() {
    let hex64 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let a = ClusterKey::from_config(hex64).unwrap();
    let b = ClusterKey::from_config(&format!("  hex:{}\n", hex64.to_uppercase())).unwrap();
    assert_eq!(a, b);
    // The same characters as a passphrase give another key.
    assert_ne!(ClusterKey::from_config(&hex64[..63]).unwrap(), a);
    assert_eq!(ClusterKey::from_config(" \n"), Err(KeyError::Empty));
    assert_eq!(ClusterKey::from_config("short"), Err(KeyError::PassphraseTooShort(5)));
    assert_eq!(ClusterKey::from_config("hex:0011"), Err(KeyError::TooShort(2)));
    assert!(matches!(ClusterKey::from_config("hex:001"), Err(KeyError::BadHex(_))));
    assert!(matches!(
        ClusterKey::from_config("hex:zz00112233445566778899aabbccddeeff"),
        Err(KeyError::BadHex(_))
    ));
    assert_eq!(format!("{a:?}"), "ClusterKey(..)");
    let dir = std::env::temp_dir().join(format!("rvs-sync-key-{}", std::process::id()));
    std::fs::write(&dir, format!("{hex64}\n")).unwrap();
    assert_eq!(ClusterKey::from_file(&dir).unwrap(), a);
    std::fs::remove_file(&dir).unwrap();
    assert!(matches!(ClusterKey::from_file(&dir), Err(KeyError::File(_))));
    // Different keys, different tags.
    let t1 = a.authenticator().tag(b"x");
    assert_ne!(
        t1,
        ClusterKey::from_config("hex:00000000000000000000000000000000").unwrap().authenticator().tag(b"x")
    );
    assert!(a.authenticator().verify(b"x", &t1));
    assert!(!a.authenticator().verify(b"y", &t1));
    assert!(!a.authenticator().verify(b"x", &t1[..15]));
}

#[test]
fn digest_is_order_independent_and_removable() {
    let k = key();
    let mut a = TableDigest::new(&k);
    let mut b = TableDigest::new(&k);
    for i in 0..100 {
        a.add(&record(i));
    }
    for i in (0..100).rev() {
        b.add(&record(i));
    }
    assert_eq!(a, b);
    assert_ne!(a.value(), 0);
    b.add(&record(500));
    assert_ne!(a.value(), b.value());
    b.remove(&record(500));
    assert_eq!((a.value(), a.count()), (b.value(), b.count()));
    // Keyed: another cluster computes another digest.
    let mut c = TableDigest::new(&ClusterKey::from_config("another long cluster passphrase").unwrap());
    c.add(&record(1));
    let mut d = TableDigest::new(&k);
    d.add(&record(1));
    assert_ne!(c.value(), d.value());
}

#[test]
fn refusals_are_logged_once_per_interval_and_reason() {
    let mut log = RefusalLog::new(Duration::from_secs(10));
    let tag = Refusal::BadTag(9);
    let old = Refusal::TooOld { sender: 9, seq: 1 };
    assert_eq!(log.should_log(&tag, Time::from_secs(1)), Some(0));
    assert_eq!(log.should_log(&tag, Time::from_secs(2)), None);
    assert_eq!(log.should_log(&tag, Time::from_secs(10)), None);
    // Another reason has its own interval.
    assert_eq!(log.should_log(&old, Time::from_secs(10)), Some(0));
    assert_eq!(log.should_log(&tag, Time::from_secs(11)), Some(2));
    assert_eq!(log.should_log(&tag, Time::from_secs(12)), None);
    assert_eq!(log.should_log(&tag, Time::from_secs(30)), Some(1));
}

#[test]
fn record_view_reads_the_fields_without_decoding() {
    let mut r = record(77);
    r.local = SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7), 4321));
    r.real = SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 8), 80));
    r.persist = Some(IpAddr::V4([10, 0, 0, 0].into()));
    let mut buf = [0u8; 200];
    let n = r.emit(&mut buf).unwrap();
    // The view takes a buffer with more behind the record and stops at its length.
    let e = conn::ConnEntry::new_checked(&buf[..]).unwrap();
    assert_eq!(e.len(), n);
    assert_eq!(e.as_bytes(), &buf[..n]);
    assert_eq!((e.protocol(), e.state_raw(), e.families(), e.flags()), (PROTO_TCP, 1, (4, 6), CONN_F_TOA));
    assert_eq!((e.client(), e.virt(), e.local(), e.real()), (r.client, r.virt, r.local, r.real));
    assert_eq!((e.lport(), e.timeout_ms()), (4321, 900_000));
    assert_eq!(e.options(), &[conn::OPT_PERSIST, 5, 4, 10, 0, 0, 0]);
    // A length too short for the families' addresses is refused by the view.
    let mut short = buf;
    short[0..2].copy_from_slice(&(conn::CONN_V4_LEN as u16).to_be_bytes());
    assert_eq!(conn::ConnEntry::new_checked(&short[..]).unwrap_err(), Error::BadRecordLength);
    assert_eq!(conn::ConnEntry::new_checked(&buf[..17]).unwrap_err(), Error::BadRecordLength);
}

#[test]
fn state_numbers_on_the_wire_are_fixed() {
    use SessionState::*;
    let states = [SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close];
    for (n, st) in states.into_iter().enumerate() {
        let mut r = record(1);
        r.state = st;
        let mut b = [0u8; 64];
        r.emit(&mut b).unwrap();
        assert_eq!(b[3] as usize, n, "{st:?}");
    }
    let mut r = record(1);
    r.proto = PROTO_UDP;
    r.state = Udp;
    let mut b = [0u8; 64];
    r.emit(&mut b).unwrap();
    assert_eq!(b[3], 7);
    b[3] = 8;
    assert_eq!(ConnRecord::parse(&b).unwrap_err(), Error::BadState(8));
}

/// A DR and a TUN session, IPv4 and IPv6, become records with their method flag and the
/// client as the local endpoint, and come back equal from the wire; bits no receiver
/// knows (0x40, 0x80) are still refused, as an older receiver refuses DR/TUN (0x10, 0x20).
#[test]
fn dr_and_tun_records_round_trip_and_unknown_flags_are_refused() {
    use crate::session::v6::{FlowKey6, Session6, FLAG6_DR, FLAG6_TUN};
    use crate::session::{FLAG_DR, FLAG_TUN};
    let client = FlowKey {
        src: Ipv4Addr::new(198, 18, 0, 10),
        dst: Ipv4Addr::new(198, 18, 0, 100),
        sport: 40000,
        dport: 80,
        proto: PROTO_TCP,
    };
    let reply =
        FlowKey { src: Ipv4Addr::new(198, 19, 0, 11), dst: client.src, sport: 80, dport: 40000, ..client };
    for (sf, rf) in [(FLAG_DR, CONN_F_DR), (FLAG_TUN, CONN_F_TUN)] {
        let s = Session {
            client,
            reply,
            state: SessionState::Established,
            service_slot: 1,
            real_slot: 2,
            expires: Time::from_secs(10),
            persist_client: None.into(),
            flags: sf,
        };
        let r = ConnRecord::from_session(&s, Duration::from_secs(10));
        assert_eq!((r.flags, r.local, r.real), (rf, r.client, SocketAddr::from(([198, 19, 0, 11], 80))));
        let mut buf = [0u8; conn::CONN_MAX_LEN];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(ConnRecord::parse(&buf[..n]), Ok((r, n)));
        assert_eq!(r.flow_keys(), Some((client, reply)), "the session's own keys");
        for unknown in [0x40u8, 0x80] {
            let mut b = buf;
            b[5] |= unknown;
            assert_eq!(ConnRecord::parse(&b[..n]), Err(Error::BadConnFlags(rf | unknown)));
        }
        // What a receiver that knew only bits 0-3 checked: DR and TUN are outside them.
        assert_ne!(rf & !0x0f, 0);
    }
    let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    for (sf, rf) in [(FLAG6_DR, CONN_F_DR), (FLAG6_TUN, CONN_F_TUN)] {
        let c = FlowKey6 {
            src: a("2001:db8:1::10"),
            dst: a("2001:db8:1::100"),
            sport: 5555,
            dport: 80,
            proto: 6,
        };
        let server = FlowKey6 { src: a("2001:db8:2::11"), dst: c.src, sport: 80, dport: 5555, proto: 6 };
        let s = Session6 {
            client: c,
            server,
            state: SessionState::Established,
            expires: Time::from_secs(10),
            real_slot: 1,
            svc_slot: 2,
            flags: sf,
            proxy: 0,
            client_isn: 0,
            proxy_len: 0,
            persist: None,
        };
        let r = ConnRecord::from_session6(&s, Duration::from_secs(10));
        assert_eq!((r.flags, r.local), (rf, r.client));
        let mut buf = [0u8; conn::CONN_MAX_LEN];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(ConnRecord::parse(&buf[..n]), Ok((r, n)));
        assert_eq!(r.flow_keys6(), Some((c, server)));
    }
}
