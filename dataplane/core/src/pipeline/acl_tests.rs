//! Source lists and admission limits on the new-connection path (`acl.rs`).

use super::tests::*;
use super::*;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{Protocol, RateLimit, ServiceKey, ServiceOptions, ServiceSpec};

fn svc_key(protocol: Protocol, port: u16) -> ServiceKey {
    ServiceKey { protocol, addr: format!("198.18.0.100:{port}").parse().unwrap() }
}

/// A harness whose services carry `tcp` and `udp` options.
fn harness(tcp: ServiceOptions, udp: ServiceOptions) -> Harness {
    let mut h = Harness::new(0, 1);
    let mut r = registry();
    for (proto, port, options) in [(Protocol::Tcp, 80, tcp), (Protocol::Udp, 53, udp)] {
        r.edit_service(ServiceSpec {
            key: svc_key(proto, port),
            scheduler: "rr".into(),
            local_addrs: vec![],
            options,
        })
        .unwrap();
    }
    h.p.set_snapshot(Arc::new(r.snapshot()));
    h.resolve_all();
    h
}

fn syn(src: &str, sport: u16) -> Vec<u8> {
    tcp_frame(CLIENT_MAC, LB_C_MAC, ip(src), sport, ip("198.18.0.100"), 80, TcpFlags::SYN, b"")
}

fn udp(src: &str, sport: u16) -> Vec<u8> {
    udp_frame(CLIENT_MAC, LB_C_MAC, ip(src), sport, ip("198.18.0.100"), 53, b"query")
}

fn cidrs(v: &[&str]) -> Vec<rvs_proto::Cidr> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn deny_and_allow_lists_refuse_new_connections_by_reason() {
    let tcp = ServiceOptions {
        allow: cidrs(&["198.18.0.0/24"]),
        deny: cidrs(&["198.18.0.20"]),
        ..Default::default()
    };
    let mut h = harness(tcp, ServiceOptions::default());
    h.rx(CLIENT_PORT, syn("198.18.0.20", 40000));
    assert!(h.take_tx(SERVER_PORT).is_empty() && h.take_tx(CLIENT_PORT).is_empty());
    assert_eq!(h.drops(DropReason::AclDenied), 1);
    h.rx(CLIENT_PORT, syn("198.18.1.9", 40000));
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.drops(DropReason::AclNotAllowed), 1);
    h.rx(CLIENT_PORT, syn("198.18.0.10", 40000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "an allowed client's SYN reaches a real server");
    assert_eq!(h.p.sessions().len(), 1);
    // The UDP service has no lists: the denied address is served there.
    h.rx(CLIENT_PORT, udp("198.18.0.20", 5000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
}

#[test]
fn a_denied_client_gets_no_syn_cookie() {
    let tcp = ServiceOptions { syn_proxy: true, deny: cidrs(&["198.18.0.0/28"]), ..Default::default() };
    let mut h = harness(tcp, ServiceOptions::default());
    h.rx(CLIENT_PORT, syn("198.18.0.10", 40000));
    assert!(h.take_tx(CLIENT_PORT).is_empty(), "no SYN/ACK to a denied source");
    assert_eq!(h.drops(DropReason::AclDenied), 1);
    h.rx(CLIENT_PORT, syn("198.18.0.30", 40000));
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "a cookie SYN/ACK to another");
}

#[test]
fn lists_apply_to_new_flows_only() {
    let mut h = harness(ServiceOptions::default(), ServiceOptions::default());
    h.rx(CLIENT_PORT, udp("198.18.0.10", 5000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
    // Deny the client: its flow keeps going, a new flow of it is refused.
    let mut r = registry();
    let udp_opts = ServiceOptions { deny: cidrs(&["198.18.0.10"]), ..Default::default() };
    r.edit_service(ServiceSpec {
        key: svc_key(Protocol::Udp, 53),
        scheduler: "rr".into(),
        local_addrs: vec![],
        options: udp_opts,
    })
    .unwrap();
    h.p.set_snapshot(Arc::new(r.snapshot()));
    h.rx(CLIENT_PORT, udp("198.18.0.10", 5000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the established flow");
    h.rx(CLIENT_PORT, udp("198.18.0.10", 5001));
    assert!(h.take_tx(SERVER_PORT).is_empty(), "a new flow");
    assert_eq!(h.drops(DropReason::AclDenied), 1);
}

#[test]
fn a_per_source_rate_limits_one_flooding_source_and_not_the_others() {
    let udp_opts =
        ServiceOptions { source_conn_rate: Some(RateLimit { rate: 10, burst: 20 }), ..Default::default() };
    let mut h = harness(ServiceOptions::default(), udp_opts);
    for sport in 0..1000 {
        h.rx(CLIENT_PORT, udp("198.18.0.66", 10_000 + sport));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 20, "the burst");
    assert_eq!(h.drops(DropReason::SourceRateLimited), 980);
    // Established flows of the flooder are not limited: the same 20 flows again.
    for sport in 0..20 {
        h.rx(CLIENT_PORT, udp("198.18.0.66", 10_000 + sport));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 20);
    // Another source is untouched.
    for sport in 0..15 {
        h.rx(CLIENT_PORT, udp("198.18.0.10", 20_000 + sport));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 15);
    // One second later, ten more for the flooder.
    h.now = h.now + std::time::Duration::from_secs(1);
    for sport in 1000..1100 {
        h.rx(CLIENT_PORT, udp("198.18.0.66", 10_000 + sport));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 10);
}

#[test]
fn a_service_rate_counts_every_source() {
    let tcp = ServiceOptions { conn_rate: Some(RateLimit { rate: 5, burst: 5 }), ..Default::default() };
    let mut h = harness(tcp, ServiceOptions::default());
    for i in 0..10u16 {
        h.rx(CLIENT_PORT, syn(&format!("198.18.0.{}", 10 + i), 40000));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 5);
    assert_eq!(h.drops(DropReason::ServiceRateLimited), 5);
}

#[test]
fn max_conns_refuses_while_full_and_admits_after_sessions_end() {
    let tcp = ServiceOptions { max_conns: 3, ..Default::default() };
    let mut h = harness(tcp, ServiceOptions::default());
    for sport in 0..5 {
        h.rx(CLIENT_PORT, syn("198.18.0.10", 40000 + sport));
    }
    assert_eq!(h.take_tx(SERVER_PORT).len(), 3);
    assert_eq!(h.drops(DropReason::MaxConns), 2);
    let slot = h.p.snapshot().services[0].slot;
    assert_eq!(h.p.limits.live(slot), 3);
    // The SYN_RECV sessions expire; the service has room again.
    h.now = h.now + std::time::Duration::from_secs(3600);
    h.p.poll(h.now, &mut crate::frame::VecAlloc, &mut h.out);
    assert_eq!(h.p.sessions().len(), 0);
    assert_eq!(h.p.limits.live(slot), 0);
    h.take_tx(SERVER_PORT);
    h.rx(CLIENT_PORT, syn("198.18.0.10", 41000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
}

#[test]
fn the_cap_is_split_exactly_between_workers() {
    let mut r = registry();
    let opts = ServiceOptions { max_conns: 5, ..Default::default() };
    r.edit_service(ServiceSpec {
        key: svc_key(Protocol::Tcp, 80),
        scheduler: "rr".into(),
        local_addrs: vec![],
        options: opts,
    })
    .unwrap();
    let snap = r.snapshot();
    let total: u32 = (0..3u16)
        .map(|w| {
            let mut l = acl::Limits::new(16);
            l.sync(&snap, w, 3);
            l.max_conns_share(0).unwrap()
        })
        .sum();
    assert_eq!(total, 5);
}
