//! Scheduling new connections: round robin over the real servers (TCP and UDP),
//! persistence pinning a client and its network to one server on every worker, and the
//! upper/lower connection thresholds of a real server.

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, RealSpec};

#[test]
fn round_robin_across_real_servers_and_udp() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let mut seen = Vec::new();
    for i in 0..6 {
        let syn = tcp_frame(
            CLIENT_MAC,
            LB_C_MAC,
            ip("198.18.0.10"),
            40000 + i,
            ip("198.18.0.100"),
            80,
            TcpFlags::SYN,
            b"",
        );
        h.rx(CLIENT_PORT, syn);
        let tx = h.take_tx(SERVER_PORT);
        seen.push(endpoints(&tx[0]).4);
    }
    let expect: Vec<_> =
        ["198.19.0.11", "198.19.0.12", "198.19.0.13"].iter().cycle().take(6).map(|s| ip(s)).collect();
    assert_eq!(seen, expect);

    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"query");
    h.rx(CLIENT_PORT, q);
    let tx = h.take_tx(SERVER_PORT);
    let (_, _, src, lport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, dst, dport), (ip("198.19.0.200"), ip("198.19.0.11"), 5353));
    let r = udp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 5353, ip("198.19.0.200"), lport, b"answer");
    h.rx(SERVER_PORT, r);
    let tx = h.take_tx(CLIENT_PORT);
    let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, sport, dst, dport), (ip("198.18.0.100"), 53, ip("198.18.0.10"), 5000));
    assert_eq!(h.p.dump_sessions(h.now).iter().filter(|c| c.state == "UDP").count(), 1);
}

#[test]
fn persistence_pins_a_client_and_its_network() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_snapshot(edit_registry(|r| {
        let mut spec = persistent_tcp_spec();
        spec.options.persistence = Some(rvs_proto::Persistence { timeout: 60, prefix_len: 24 });
        r.edit_service(spec).unwrap();
    }));
    let first = open(&mut h, "198.18.0.10", 1000).unwrap();
    for sport in 1001..1020 {
        assert_eq!(open(&mut h, "198.18.0.10", sport), Some(first), "same client, same server");
    }
    // Same /24: the same template.
    assert_eq!(open(&mut h, "198.18.0.11", 2000), Some(first));
    // Every worker makes the same first choice.
    let mut other = Harness::new(1, 2);
    other.resolve_all();
    other.p.set_snapshot(h.p.snapshot().clone());
    assert_eq!(open(&mut other, "198.18.0.10", 3001), Some(first));
}

#[test]
fn upper_threshold_caps_connections_until_below_lower() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.p.set_timeouts(Timeouts { tcp: 900, tcp_fin: 1, udp: 300 });
    h.p.set_snapshot(edit_registry(|r| {
        for (i, w) in [(11, 1), (12, 1), (13, 1)] {
            let upper = if i == 11 { 3 } else { 0 };
            let real = RealSpec {
                addr: format!("198.19.0.{i}:80").parse().unwrap(),
                weight: w,
                method: ForwardMethod::FullNat,
                tunnel: None,
                thresholds: rvs_proto::Thresholds { upper, lower: if i == 11 { 2 } else { 0 } },
            };
            r.edit_real(&tcp_key(), real).unwrap();
        }
    }));
    let mut on_11 = Vec::new();
    for sport in 1000..1030 {
        if open(&mut h, "198.18.0.10", sport) == Some(ip("198.19.0.11")) {
            on_11.push(sport);
        }
    }
    assert_eq!(on_11.len(), 3, "never above the upper threshold");
    // Reset one: 2 left, not below the lower threshold (2): still closed.
    let rst = |sport| {
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, TcpFlags::RST, b"")
    };
    h.rx(CLIENT_PORT, rst(on_11[0]));
    h.take_tx(SERVER_PORT);
    let mut out = Output::new(2, 1);
    h.now = h.now + std::time::Duration::from_secs(3);
    h.p.poll(h.now, &mut VecAlloc, &mut out);
    let more: Vec<_> = (2000..2006).filter_map(|s| open(&mut h, "198.18.0.10", s)).collect();
    assert!(!more.contains(&ip("198.19.0.11")), "2 conns is not below lower=2");
    h.rx(CLIENT_PORT, rst(on_11[1]));
    h.now = h.now + std::time::Duration::from_secs(3);
    h.p.poll(h.now, &mut VecAlloc, &mut out);
    let more: Vec<_> = (3000..3006).filter_map(|s| open(&mut h, "198.18.0.10", s)).collect();
    assert!(more.contains(&ip("198.19.0.11")), "below lower: open again");
}
