//! A virtual service on one of the ports' own addresses, as LVS allows (`ipvsadm -A -t
//! <the director's address>:80`): the service's port is balanced, every other port of
//! the address stays the host's (ssh, routing daemons).

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::service::Registry;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

/// The client port's own address, 198.18.0.1 (`config`).
const OWN: &str = "198.18.0.1";
const CLIENT: &str = "198.18.0.10";

/// A pipeline with an exception path whose one service is TCP port 80 of the client
/// port's own address, to real server 198.19.0.11 through LIP 198.19.0.200.
fn own_vip_harness() -> Harness {
    let mut r = Registry::new(16, 64);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: format!("{OWN}:80").parse().unwrap() };
    let spec = ServiceSpec {
        options: Default::default(),
        key,
        scheduler: "rr".into(),
        local_addrs: vec!["198.19.0.200".parse().unwrap()],
    };
    r.add_service(spec).unwrap();
    let real = RealSpec {
        thresholds: Default::default(),
        addr: "198.19.0.11:80".parse().unwrap(),
        weight: 1,
        method: ForwardMethod::FullNat,
        tunnel: None,
    };
    r.add_real(&key, real).unwrap();
    let cfg = PipelineConfig { exception_path: true, ..config(0, 1) };
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut h = Harness {
        p: Pipeline::new(cfg, Arc::new(r.snapshot()), counters, Time::ZERO),
        out: Output::new(2, 1),
        now: Time::from_secs(1),
    };
    h.resolve_all();
    h
}

#[test]
fn a_service_on_an_own_address_takes_its_port_and_leaves_the_others_to_the_host() {
    let mut h = own_vip_harness();
    let (own, client) = (ip(OWN), ip(CLIENT));
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, own, 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the SYN to the service's port is balanced");
    let (_, dmac, src, lport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((dmac, src, dst, dport), (RS_MAC[0], ip("198.19.0.200"), ip("198.19.0.11"), 80));
    let synack =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 80, ip("198.19.0.200"), lport, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, synack);
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let (_, dmac, src, sport, dst, dport) = endpoints(&tx[0]);
    assert_eq!((dmac, src, sport, dst, dport), (CLIENT_MAC, own, 80, client, 40000));
    // The client's ACK and data through the burst stages: the session's fast path.
    let mut burst = vec![
        tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, own, 80, TcpFlags::ACK, b""),
        tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40000, own, 80, TcpFlags::ACK, b"GET / HTTP/1.0\r\n\r\n"),
    ];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 2);
    assert!(tx.iter().all(|f| endpoints(f).3 == lport));
    assert!(h.out.kernel.is_empty(), "nothing of the service's reached the host");

    // ssh to the same address, a UDP datagram to port 80 (the service is TCP's) and a
    // SYN to port 81, in a burst and one by one: the host's, as they came.
    let ssh = tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40001, own, 22, TcpFlags::SYN, b"");
    let ssh_ack = tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40001, own, 22, TcpFlags::ACK, b"");
    let udp = udp_frame(CLIENT_MAC, LB_C_MAC, client, 40002, own, 80, b"x");
    let other = tcp_frame(CLIENT_MAC, LB_C_MAC, client, 40003, own, 81, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, ssh.clone());
    let mut burst = vec![ssh_ack.clone(), udp.clone(), other.clone()];
    h.p.handle_burst(CLIENT_PORT, &mut burst, h.now, &mut VecAlloc, &mut h.out);
    let k: Vec<(IfIndex, Vec<u8>)> = std::mem::take(&mut h.out.kernel);
    assert_eq!(k, vec![(CLIENT_PORT, ssh), (CLIENT_PORT, ssh_ack), (CLIENT_PORT, udp), (CLIENT_PORT, other)]);
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.p.counters().sessions_created.get(), 1);
}
