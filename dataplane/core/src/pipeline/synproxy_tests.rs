//! The SYN proxy through the pipeline: cookie SYN/ACKs with no state, the server side
//! opened on a valid ACK and sequences translated, the server SYN resent on a timer,
//! ACK storms (forged cookies, repeated opening ACKs) not reflected, and the SYN/ACK's
//! MSS leaving room for what the session adds.

use super::tests::extensions::{client, open_proxied, server, tcp_view, with_options, SYN_OPTS};
use super::tests::extensions::{CIP, VIP};
use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::stats::Event;
use crate::wire::tcp::{TcpFlags, TcpOption};

/// The server-side SYN of a SYN-proxied session is resent on a timer, with time
/// passed in, even when the client stays silent; after the retries the client gets a
/// RST and the session is gone.
#[test]
fn synproxy_server_syn_is_resent_on_a_timer_then_the_client_is_reset() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| o.syn_proxy = true);
    let isn = 0x2000_0000u32;
    open_proxied(&mut h, isn);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the first server SYN");
    let start = h.now;
    let mut syns = 0;
    for ms in (100..=5000u64).step_by(100) {
        h.now = start + std::time::Duration::from_millis(ms);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        for f in h.take_tx(SERVER_PORT) {
            assert_eq!(tcp_view(&f).flags(), TcpFlags::SYN);
            syns += 1;
        }
    }
    assert_eq!(syns, 3, "resent up to the default 3 retries");
    let rst = h.take_tx(CLIENT_PORT);
    assert_eq!(rst.len(), 1, "then the client is told");
    assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
    assert_eq!(h.p.sessions().len(), 0);
    assert_eq!(h.p.counters().event_count(Event::SynProxyServerReset), 1);
}

/// DPVS's ACK-storm defence: on a SYN-proxied session the opening ACK repeated is
/// forwarded up to the threshold (10) of repeats, then dropped and counted; an ACK that
/// moves on passes again.
#[test]
fn synproxy_drops_a_storm_of_identical_acks() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| o.syn_proxy = true);
    let isn = 0x4000_0000u32;
    let (cookie, ts_opts) = open_proxied(&mut h, isn);
    let ssyn = h.take_tx(SERVER_PORT).pop().unwrap();
    let (_, _, _, lport, rip, _) = endpoints(&ssyn);
    h.rx(SERVER_PORT, server(rip, lport, 0x100, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the held ACK");
    let ack = || client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b"");
    for _ in 0..15 {
        h.rx(CLIENT_PORT, ack());
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 10, "10 repeats of the opening ACK");
    assert_eq!(h.drops(DropReason::SynProxyDupAck), 5);
    h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(2), TcpFlags::ACK, &ts_opts, b""));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "a new ACK number passes");
}

/// The SYN/ACK of a SYN-proxied service leaves room for what the session adds to
/// the client's stream, so a full-size segment still fits a 1500-byte MTU after the
/// PROXY header (v1, v2) and TOA go in.
#[test]
fn synproxy_mss_leaves_room_for_proxy_header_and_toa() {
    let mss_of = |f: &[u8]| {
        tcp_view(f).iter_options().find_map(|o| if let TcpOption::Mss(m) = o { Some(m) } else { None })
    };
    for (pp, toa, want) in [
        (None, false, 1452u16),
        (Some(2u8), false, 1460 - 28),
        (Some(1), true, 1460 - 8 - 46),
        (None, true, 1452),
    ] {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| {
            o.syn_proxy = true;
            o.proxy_protocol = pp;
            o.toa = toa;
        });
        h.rx(CLIENT_PORT, client(7, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        let tx = h.take_tx(CLIENT_PORT);
        assert_eq!(mss_of(&tx[0]), Some(want), "proxy {pp:?} toa {toa}");
    }
}

#[test]
fn synproxy_answers_syns_itself_and_opens_the_server_side_after_the_ack() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| o.syn_proxy = true);
    let isn = 0x1000_0000u32;
    h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &SYN_OPTS, b""));
    assert!(h.take_tx(SERVER_PORT).is_empty(), "no SYN reaches a server before the client's ACK");
    assert_eq!(h.p.sessions().len(), 0, "no state for a SYN");
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let synack = tcp_view(&tx[0]);
    assert_eq!(synack.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack.ack_number(), isn + 1);
    let cookie = synack.seq_number();
    let tsval = synack
        .iter_options()
        .find_map(|o| if let TcpOption::Timestamps(v, _) = o { Some(v) } else { None })
        .expect("timestamps offered");
    assert_eq!(EthernetFrame::new_checked(&tx[0][..]).unwrap().dst_addr(), CLIENT_MAC);

    // A forged ACK gets a RST and no session.
    h.rx(CLIENT_PORT, client(isn + 1, cookie ^ 0x5555, TcpFlags::ACK, &[], b""));
    let rst = h.take_tx(CLIENT_PORT);
    assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
    assert_eq!(h.drops(DropReason::SynProxyBadAck), 1);

    // The real ACK (echoing our timestamp) opens the server side.
    let ts_opts = [
        1,
        1,
        8,
        10,
        0,
        0,
        0,
        101,
        (tsval >> 24) as u8,
        (tsval >> 16) as u8,
        (tsval >> 8) as u8,
        tsval as u8,
    ];
    h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b""));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the server SYN");
    let (_, _, src, lport, rip, _) = endpoints(&tx[0]);
    assert_eq!(src, ip("198.19.0.200"));
    let ssyn = tcp_view(&tx[0]);
    assert_eq!(ssyn.flags(), TcpFlags::SYN);
    assert_eq!(ssyn.seq_number(), isn, "the server sees the client's ISN");

    // The server's SYN/ACK is absorbed; the held ACK completes its handshake.
    let server_isn = 0xffff_fff0u32; // across the 2^32 wrap
    h.rx(SERVER_PORT, server(rip, lport, server_isn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
    assert!(h.take_tx(CLIENT_PORT).is_empty(), "the client already had our SYN/ACK");
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the held ACK");
    // The server repeats its SYN/ACK: still not the client's business.
    h.rx(SERVER_PORT, server(rip, lport, server_isn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
    assert!(h.take_tx(CLIENT_PORT).is_empty(), "a repeated server SYN/ACK never reaches the client");
    let ack = tcp_view(&tx[0]);
    assert_eq!((ack.seq_number(), ack.ack_number()), (isn + 1, server_isn.wrapping_add(1)));

    // Data both ways, sequence numbers translated by the cookie/server ISN delta.
    h.rx(
        CLIENT_PORT,
        client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &ts_opts, b"GET /"),
    );
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tcp_view(&tx[0]).ack_number(), server_isn.wrapping_add(1));
    assert_eq!(tcp_view(&tx[0]).payload(), b"GET /");
    h.rx(
        SERVER_PORT,
        server(rip, lport, server_isn.wrapping_add(1), isn + 6, TcpFlags::ACK | TcpFlags::PSH, &[], b"200"),
    );
    let tx = h.take_tx(CLIENT_PORT);
    let data = tcp_view(&tx[0]);
    assert_eq!(data.seq_number(), cookie.wrapping_add(1), "server data continues our SYN/ACK's sequence");
    assert_eq!(data.payload(), b"200");
    let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, sport, dst, dport), (ip(VIP), 80, ip(CIP), 40000));
    assert_eq!(h.p.counters().event_count(Event::SynProxyAckAccepted), 1);
}

#[test]
fn synproxy_ack_storm_is_not_reflected_and_silent_servers_get_the_client_a_rst() {
    let mut cfg = config(0, 1);
    cfg.synproxy.rst_per_sec = 5;
    cfg.synproxy.syn_retries = 1;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    with_options(&mut h, |o| o.syn_proxy = true);
    // 50 ACKs with bad cookies: 5 RSTs, the rest dropped in silence.
    for i in 0..50u32 {
        h.rx(CLIENT_PORT, client(1000 + i, 0xdead_0000 + i, TcpFlags::ACK, &[], b""));
    }
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 5);
    assert_eq!(h.drops(DropReason::SynProxyAckStorm), 45);
    assert_eq!(h.p.sessions().len(), 0);

    // A real handshake whose server never answers.
    let isn = 7000;
    h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &[], b""));
    let cookie = tcp_view(&h.take_tx(CLIENT_PORT)[0]).seq_number();
    let ack = || client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &[], b"GET");
    h.rx(CLIENT_PORT, ack());
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "server SYN");
    h.rx(CLIENT_PORT, ack()); // at once: not a retransmission, no second SYN
    assert!(h.take_tx(SERVER_PORT).is_empty());
    h.now = h.now + std::time::Duration::from_secs(1);
    h.rx(CLIENT_PORT, ack()); // the client retransmits: SYN sent again
    assert_eq!(tcp_view(&h.take_tx(SERVER_PORT)[0]).flags(), TcpFlags::SYN);
    h.now = h.now + std::time::Duration::from_secs(2);
    h.rx(CLIENT_PORT, ack()); // retries exhausted: the client gets a RST
    assert!(h.take_tx(SERVER_PORT).is_empty());
    let rst = h.take_tx(CLIENT_PORT);
    assert_eq!(tcp_view(&rst[0]).flags() & TcpFlags::RST, TcpFlags::RST);
    assert_eq!(h.p.sessions().len(), 0);
}
