//! Local ports and workers: a reply to a port of another worker's share is handed to it,
//! new sessions take ports from their own worker's share only, and a pool that runs dry
//! counts the refusal and takes new flows again once sessions expire.

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::wire::tcp::TcpFlags;

#[test]
fn reply_for_another_workers_port_is_redirected() {
    let mut h = Harness::new(0, 2);
    h.resolve_all();
    // Port 1027 belongs to worker 1 of 2.
    let r =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), 1027, TcpFlags::ACK, b"");
    h.rx(SERVER_PORT, r);
    assert_eq!(h.out.redirect[1].len(), 1);
    assert_eq!(h.p.counters().redirected_out.get(), 1);
    // Its own port with no session is dropped, not bounced.
    let r =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), 1026, TcpFlags::ACK, b"");
    h.rx(SERVER_PORT, r);
    assert_eq!(h.drops(DropReason::NoSession), 1);
}

#[test]
fn new_sessions_use_only_own_port_partition() {
    let mut h = Harness::new(1, 2);
    h.resolve_all();
    for i in 0..20 {
        let syn = tcp_frame(
            CLIENT_MAC,
            LB_C_MAC,
            ip("198.18.0.10"),
            30000 + i,
            ip("198.18.0.100"),
            80,
            TcpFlags::SYN,
            b"",
        );
        h.rx(CLIENT_PORT, syn);
    }
    for f in h.take_tx(SERVER_PORT) {
        assert_eq!(endpoints(&f).3 % 2, 1);
    }
}

#[test]
fn local_port_exhaustion_is_counted_and_recovers_on_expiry() {
    let mut cfg = config(0, 1);
    cfg.local_port_range = (2000, 2001);
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 10, tcp_fin: 3, udp: 5 });
    for sport in [5000, 5001, 5002] {
        h.rx(
            CLIENT_PORT,
            udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 53, b"q"),
        );
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 2);
    assert_eq!(h.drops(DropReason::NoLocalAddr), 1, "the third flow finds no local port");
    let mut out = Output::new(2, 1);
    h.p.poll(h.now + std::time::Duration::from_secs(6), &mut VecAlloc, &mut out);
    h.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5002, ip("198.18.0.100"), 53, b"q"));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "expired sessions give their ports back");
}
