//! Session expiry: an idle session ends at its state's timeout and frees its local port;
//! a SYN on a closed session's tuple ends it and starts a new connection.

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::wire::tcp::TcpFlags;

#[test]
fn sessions_expire_and_free_their_ports() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 10, tcp_fin: 3, udp: 5 });
    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"q");
    h.rx(CLIENT_PORT, q);
    assert_eq!(h.p.sessions().len(), 1);
    let mut out = Output::new(2, 1);
    h.p.poll(h.now + std::time::Duration::from_secs(4), &mut VecAlloc, &mut out);
    assert_eq!(h.p.sessions().len(), 1, "not before its timeout");
    h.p.poll(h.now + std::time::Duration::from_secs(6), &mut VecAlloc, &mut out);
    assert_eq!(h.p.sessions().len(), 0);
    assert_eq!(h.p.counters().sessions_expired.get(), 1);
    let slot = h.p.snapshot().services[1].reals[0].slot as usize;
    assert_eq!(h.p.counters().reals[slot].inactive.get(), 0);
}

#[test]
fn syn_on_time_wait_session_starts_a_new_connection() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let c =
        |flags| tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, flags, b"");
    h.rx(CLIENT_PORT, c(TcpFlags::SYN));
    let first = endpoints(&h.take_tx(SERVER_PORT)[0]);
    h.rx(CLIENT_PORT, c(TcpFlags::RST));
    h.take_tx(SERVER_PORT);
    assert_eq!(h.p.dump_sessions(h.now)[0].state, "CLOSE");
    h.rx(CLIENT_PORT, c(TcpFlags::SYN));
    let second = endpoints(&h.take_tx(SERVER_PORT)[0]);
    assert_ne!(first.4, second.4, "rescheduled to the next real server");
    assert_eq!(h.p.sessions().len(), 1);
}
