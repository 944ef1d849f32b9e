//! A full session table: new connections are admitted by evicting half-open sessions
//! (IPVS's `drop_entry` defence), never established ones; half-open sessions made while
//! the table is nearly full get a short timeout (`secure_tcp`).

use super::tests::{
    config, endpoints, ip, open, tcp_frame, Harness, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, SERVER_PORT,
};
use super::*;
use crate::frame::VecAlloc;
use crate::stats::Event;
use crate::wire::tcp::TcpFlags;

fn small_table(max_sessions: usize) -> Harness {
    let mut cfg = config(0, 1);
    cfg.max_sessions = max_sessions;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    h
}

/// Opens and establishes (SYN, then the client's ACK) a connection from 198.18.0.10:`sport`.
fn establish(h: &mut Harness, sport: u16) {
    open(h, "198.18.0.10", sport).expect("SYN forwarded");
    h.rx(
        CLIENT_PORT,
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, TcpFlags::ACK, b""),
    );
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "ACK forwarded");
}

/// Sends a data segment of the established connection from `sport`; true if forwarded.
fn data_passes(h: &mut Harness, sport: u16) -> bool {
    let f = tcp_frame(
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        sport,
        ip("198.18.0.100"),
        80,
        TcpFlags::ACK | TcpFlags::PSH,
        b"GET / HTTP/1.1\r\n\r\n",
    );
    h.rx(CLIENT_PORT, f);
    let tx = h.take_tx(SERVER_PORT);
    tx.len() == 1 && endpoints(&tx[0]).5 == 80
}

#[test]
fn a_full_table_evicts_half_open_sessions_and_keeps_established_ones() {
    let mut h = small_table(64);
    for sport in [1000, 1001] {
        establish(&mut h, sport);
    }
    // A SYN flood from many sources, five times the table: every SYN is admitted.
    for i in 0..320u16 {
        let src = format!("198.18.{}.{}", 1 + i / 200, 1 + i % 200);
        assert!(open(&mut h, &src, 2000 + i).is_some(), "flood SYN {i} admitted");
    }
    assert_eq!(h.p.sessions().len(), 64);
    assert_eq!(h.drops(DropReason::SessionTableFull), 0);
    assert_eq!(h.p.counters().event_count(Event::EmbryonicEvicted), 320 - 62);
    assert!(h.p.counters().event_count(Event::SynRecvShortened) > 250, "short SYN_RECV once 7/8 full");
    // The established connections were never chosen.
    for sport in [1000, 1001] {
        assert!(data_passes(&mut h, sport), "established connection {sport} still forwards");
    }
    // The half-open sessions made under pressure are gone after their short timeout.
    let mut out = Output::new(2, 1);
    h.p.poll(h.now + std::time::Duration::from_secs(4), &mut VecAlloc, &mut out);
    assert!(
        h.p.sessions().len() < 64 - 50,
        "short-lived half-open sessions expired: {}",
        h.p.sessions().len()
    );
    for sport in [1000, 1001] {
        assert!(data_passes(&mut h, sport));
    }
}

#[test]
fn a_table_full_of_established_sessions_refuses_new_ones() {
    let mut h = small_table(16);
    let mut established = 0;
    for sport in 1000..1016 {
        establish(&mut h, sport);
        established += 1;
    }
    assert_eq!(h.p.sessions().len(), established);
    assert!(open(&mut h, "198.18.5.5", 3000).is_none(), "no half-open session to evict: refused");
    assert_eq!(h.drops(DropReason::SessionTableFull), 1);
    assert_eq!(h.p.counters().event_count(Event::EmbryonicEvicted), 0);
    assert_eq!(h.p.sessions().capacity(), 16, "the table never grows");
    for sport in 1000..1016 {
        assert!(data_passes(&mut h, sport));
    }
}

/// `[synproxy] auto`: once the table is 7/8 full, SYNs to a service without `--synproxy`
/// are answered with cookies and take no slot; a client completing the cookie handshake
/// gets its connection (the server side opened by the SYN proxy).
#[test]
fn auto_synproxy_answers_syns_with_cookies_while_the_table_is_nearly_full() {
    use super::tests::extensions::{open_proxied, CIP};
    let mut cfg = config(0, 1);
    cfg.max_sessions = 64;
    cfg.synproxy.auto = true;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    // Below 7/8: plain FULLNAT, each SYN forwarded to a real server.
    for i in 0..56u16 {
        assert!(open(&mut h, &format!("198.18.1.{}", 1 + i), 2000 + i).is_some(), "SYN {i} forwarded");
    }
    assert_eq!(h.p.sessions().len(), 56);
    // At 7/8: SYNs are answered by rvsd itself and take no slot.
    for i in 0..100u16 {
        assert!(
            open(&mut h, &format!("198.18.2.{}", 1 + i), 3000 + i).is_none(),
            "flood SYN {i} not forwarded"
        );
        let answer = h.take_tx(CLIENT_PORT);
        assert_eq!(answer.len(), 1, "a cookie SYN/ACK");
        assert_eq!(super::tests::extensions::tcp_view(&answer[0]).flags(), TcpFlags::SYN | TcpFlags::ACK);
    }
    assert_eq!(h.p.sessions().len(), 56);
    assert_eq!(h.p.counters().event_count(Event::SynProxyAuto), 100);
    // A real client completes the cookie handshake: its session opens towards the server.
    assert_ne!(CIP, "198.18.2.1");
    open_proxied(&mut h, 7000);
    let syn = h.take_tx(SERVER_PORT);
    assert_eq!(syn.len(), 1, "the server-side SYN");
    assert_eq!(super::tests::extensions::tcp_view(&syn[0]).flags(), TcpFlags::SYN);
    assert_eq!(h.p.sessions().len(), 57);
}
