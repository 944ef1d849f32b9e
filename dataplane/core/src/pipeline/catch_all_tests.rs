//! LVS's port-0 service: a persistent service on port 0 of a VIP takes every port no
//! service of its own takes, one client's connections together on one real server, and a
//! real server of port 0 gets the port the client asked for (IPVS's rule).

use super::tests::*;
use super::*;
use crate::service::Registry;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Persistence, Protocol, RealSpec, ServiceKey, ServiceSpec};

const VIP: &str = "198.18.0.100";

fn real(addr: &str, method: ForwardMethod) -> RealSpec {
    RealSpec { thresholds: Default::default(), addr: addr.parse().unwrap(), weight: 1, method, tunnel: None }
}

/// TCP port 0 of the VIP (persistent, rr) to real servers .11 and .12 on port 0 with
/// `method`, and TCP port 22 of the same VIP, a service of its own, to .13:2222.
fn harness(method: ForwardMethod) -> Harness {
    let mut r = Registry::new(16, 64);
    let lips = vec!["198.19.0.200".parse().unwrap()];
    let any = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:0").parse().unwrap() };
    let mut spec =
        ServiceSpec { options: Default::default(), key: any, scheduler: "rr".into(), local_addrs: lips };
    // Without -p, refused as ipvsadm refuses it.
    let e = r.add_service(spec.clone()).unwrap_err().to_string();
    assert_eq!(e, "Zero port specified for non-persistent service");
    spec.options.persistence = Some(Persistence { timeout: 300, prefix_len: 32 });
    r.add_service(spec.clone()).unwrap();
    for rs in ["198.19.0.11:0", "198.19.0.12:0"] {
        r.add_real(&any, real(rs, method)).unwrap();
    }
    let ssh = ServiceKey { protocol: Protocol::Tcp, addr: format!("{VIP}:22").parse().unwrap() };
    spec.key = ssh;
    spec.options.persistence = None;
    r.add_service(spec).unwrap();
    r.add_real(&ssh, real("198.19.0.13:2222", ForwardMethod::FullNat)).unwrap();
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut h = Harness {
        p: Pipeline::new(config(0, 1), Arc::new(r.snapshot()), counters, Time::ZERO),
        out: Output::new(2, 1),
        now: Time::from_secs(1),
    };
    h.resolve_all();
    h
}

fn syn(sport: u16, dport: u16) -> Vec<u8> {
    tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip(VIP), dport, TcpFlags::SYN, b"")
}

#[test]
fn a_port_zero_service_takes_every_other_port_and_keeps_a_client_on_one_server() {
    let mut h = harness(ForwardMethod::FullNat);
    let mut servers = Vec::new();
    for (sport, dport) in [(40000, 80), (40001, 443), (40002, 8443), (40003, 80)] {
        h.rx(CLIENT_PORT, syn(sport, dport));
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tx.len(), 1, "port {dport}: balanced");
        let (_, _, src, lport, dst, rport) = endpoints(&tx[0]);
        assert_eq!((src, rport), (ip("198.19.0.200"), dport), "the real server gets the port asked for");
        servers.push(dst);
        // The server's SYN/ACK comes back from that port, to the client as VIP:dport.
        let mac = RS_MAC[if dst == ip("198.19.0.11") { 0 } else { 1 }];
        h.rx(SERVER_PORT, tcp_frame(mac, LB_S_MAC, dst, dport, src, lport, TcpFlags(0x12), b""));
        let back = h.take_tx(CLIENT_PORT);
        assert_eq!(back.len(), 1);
        let (_, _, bsrc, bsport, bdst, bdport) = endpoints(&back[0]);
        assert_eq!((bsrc, bsport, bdst, bdport), (ip(VIP), dport, ip("198.18.0.10"), sport));
    }
    assert!(servers.iter().all(|s| *s == servers[0]), "persistence: one server for the client, {servers:?}");
    // Port 22 has a service of its own, which the catch-all does not take.
    h.rx(CLIENT_PORT, syn(40010, 22));
    let (_, _, _, _, dst, rport) = endpoints(&h.take_tx(SERVER_PORT)[0]);
    assert_eq!((dst, rport), (ip("198.19.0.13"), 2222));
    // UDP has no port-0 service: dropped as no service.
    h.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip(VIP), 53, b"q"));
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.drops(DropReason::NoService), 1);
}

#[test]
fn a_port_zero_nat_server_answers_from_the_port_asked_for() {
    let mut h = harness(ForwardMethod::Nat);
    h.rx(CLIENT_PORT, syn(40000, 8080));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    let (_, dmac, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((src, sport, dport), (ip("198.18.0.10"), 40000, 8080), "NAT keeps the client and the port");
    // Its reply (RIP:8080 -> CIP:40000) is recognised as a NAT real server's and leaves
    // as VIP:8080.
    h.rx(SERVER_PORT, tcp_frame(dmac, LB_S_MAC, dst, 8080, src, 40000, TcpFlags(0x12), b""));
    let back = h.take_tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    let (_, _, bsrc, bsport, _, bdport) = endpoints(&back[0]);
    assert_eq!((bsrc, bsport, bdport), (ip(VIP), 8080, 40000));
}
