//! What the first stage refuses: malformed frames (truncated, bad headers or checksums,
//! fragments, TTL 1) and frames for no service, no session, no address or MAC of ours,
//! each dropped and counted by its reason; arbitrary frames never panic.

use super::tests::*;
use super::*;
use crate::wire::tcp::TcpFlags;

#[test]
fn malformed_frames_are_dropped_by_reason() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let good = || {
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, TcpFlags::SYN, b"")
    };
    let cases: Vec<(DropReason, Vec<u8>)> = vec![
        (DropReason::Truncated, vec![1, 2, 3]),
        (DropReason::Truncated, good()[..14 + 12].to_vec()),
        (DropReason::UnknownEthertype, {
            let mut f = good();
            f[12] = 0x88;
            f[13] = 0xb5;
            f
        }),
        (DropReason::BadIpHeader, {
            let mut f = good();
            f[14] = 0x44; // IHL 4
            f
        }),
        (DropReason::BadIpHeader, {
            let mut f = good();
            f[16] = 0xff; // total length beyond the frame
            f
        }),
        (DropReason::BadIpChecksum, {
            let mut f = good();
            f[24] ^= 0xff;
            f
        }),
        (DropReason::BadL4Checksum, {
            let mut f = good();
            f[50] ^= 0xff;
            f
        }),
        (DropReason::BadL4Header, {
            let mut f = good();
            f.truncate(14 + 20 + 10);
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_total_len(30);
            ipp.fill_checksum();
            f
        }),
        (DropReason::Fragment, {
            let mut f = good();
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_more_frags(true);
            ipp.fill_checksum();
            f
        }),
        (DropReason::TtlExceeded, {
            let mut f = good();
            let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
            ipp.set_ttl(1);
            ipp.fill_checksum();
            f
        }),
        (
            DropReason::NoService,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40000,
                ip("198.18.0.100"),
                81,
                TcpFlags::SYN,
                b"",
            ),
        ),
        (
            DropReason::NoSession,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40001,
                ip("198.18.0.100"),
                80,
                TcpFlags::ACK,
                b"",
            ),
        ),
        (
            DropReason::NotLocal,
            tcp_frame(
                CLIENT_MAC,
                LB_C_MAC,
                ip("198.18.0.10"),
                40000,
                ip("198.18.0.99"),
                80,
                TcpFlags::SYN,
                b"",
            ),
        ),
        (
            DropReason::NotForUs,
            tcp_frame(
                CLIENT_MAC,
                MacAddr([2, 9, 9, 9, 9, 9]),
                ip("198.18.0.10"),
                1,
                ip("198.18.0.100"),
                80,
                TcpFlags::SYN,
                b"",
            ),
        ),
    ];
    for (reason, frame) in cases {
        let before = h.drops(reason);
        h.rx(CLIENT_PORT, frame);
        assert_eq!(h.drops(reason), before + 1, "{reason:?}");
        assert!(h.take_tx(SERVER_PORT).is_empty(), "{reason:?} must not be forwarded");
    }
    assert_eq!(h.p.sessions().len(), 0);
}

#[test]
fn arbitrary_frames_never_panic() {
    use proptest::prelude::*;
    let h = std::cell::RefCell::new(Harness::new(0, 2));
    h.borrow_mut().resolve_all();
    let base = tcp_frame(
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        40000,
        ip("198.18.0.100"),
        80,
        TcpFlags::SYN,
        b"xy",
    );
    proptest!(ProptestConfig::with_cases(2000), |(
        flips in proptest::collection::vec((0usize..base.len(), any::<u8>()), 0..8),
        cut in 0usize..=base.len(),
        port in 0u16..2,
        raw in proptest::collection::vec(any::<u8>(), 0..80),
        use_raw in any::<bool>(),
    )| {
        let frame = if use_raw {
            raw
        } else {
            let mut f = base.clone();
            for (i, v) in flips {
                f[i] = v;
            }
            f.truncate(cut);
            f
        };
        let mut h = h.borrow_mut();
        h.rx(port, frame);
        h.out.tx.iter_mut().for_each(|v| v.clear());
        h.out.redirect.iter_mut().for_each(|v| v.clear());
    });
}

/// A new connection's SYN with IP options (the full way takes it): its TCP checksum is
/// checked over the segment after the options, so a good one opens the session and a
/// corrupted one is dropped as `bad_l4_checksum`.
#[test]
fn a_syn_with_ip_options_is_checked_after_them() {
    let with_options = |sport: u16, corrupt: bool| {
        let f = client_syn(sport);
        // NOP, NOP, NOP, end of options: IHL 6.
        let mut g = [&f[..34], &[1, 1, 1, 0][..], &f[34..]].concat();
        let mut ipp = Ipv4Packet::new_unchecked(&mut g[14..]);
        ipp.set_header_len(24);
        let total = ipp.total_len();
        ipp.set_total_len(total + 4);
        ipp.fill_checksum();
        if corrupt {
            g[38 + 16] ^= 0x5a; // the TCP checksum
        }
        g
    };
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.rx(CLIENT_PORT, with_options(40000, false));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the SYN opened a session and left");
    assert_eq!(h.drops(DropReason::BadL4Checksum), 0);
    h.rx(CLIENT_PORT, with_options(40001, true));
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.drops(DropReason::BadL4Checksum), 1);
}
