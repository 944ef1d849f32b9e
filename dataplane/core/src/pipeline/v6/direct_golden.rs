//! Golden pcaps of IPv6 DR, TUN and NAT (see `pipeline/golden.rs`): the frames the real
//! servers and the client get, byte for byte. `RVS_BLESS=1 cargo test golden` rewrites
//! them; `tshark -r dataplane/core/tests/golden/v6_dr_tcp.out-server.pcap -V` shows them.

use std::sync::Arc;

use super::conn_tests::{a, icmp_error_frame, l4_frame, rs, ACK, CLIENT, SYN, VIP};
use super::golden::neighbours;
use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::golden::{at, run_case_with};
use crate::pipeline::tests::{config, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::service::Registry;
use crate::stats::WorkerCounters;
use crate::time::Time;
use crate::wire::icmpv6::Icmpv6Repr;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

const ETH: usize = 14;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;

/// TCP [VIP]:80 and UDP [VIP]:53 to three IPv6 real servers by `method` (rr).
fn pipeline(method: ForwardMethod) -> Pipeline<Vec<u8>> {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("[{VIP}]:{port}").parse().unwrap() };
        let spec =
            ServiceSpec { options: Default::default(), key, scheduler: "rr".into(), local_addrs: vec![] };
        r.add_service(spec).unwrap();
        for i in 0..3 {
            let addr = format!("[{}]:{rport}", rs(i)).parse().unwrap();
            let real = RealSpec { thresholds: Default::default(), addr, weight: 1, method, tunnel: None };
            r.add_real(&key, real).unwrap();
        }
    }
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
    Pipeline::new(cfg, Arc::new(r.snapshot()), counters, Time::ZERO)
}

/// The real server (index) a new flow's first packet goes to.
fn first_real(method: ForwardMethod, proto: u8, sport: u16, dport: u16) -> usize {
    let mut p = pipeline(method);
    let mut out = Output::new(2, 1);
    let now = Time::from_secs(1);
    for (i, m) in RS_MAC.iter().enumerate() {
        p.neigh6_learned(rs(i), m.0, SERVER_PORT, now, &mut out);
    }
    let flags = if proto == 6 { SYN } else { 0 };
    let f = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), sport, a(VIP), dport, proto, flags, b"x");
    p.handle(CLIENT_PORT, f, now, &mut VecAlloc, &mut out);
    let sent = &out.tx[SERVER_PORT as usize][0];
    RS_MAC.iter().position(|m| m.0 == sent[..6]).unwrap()
}

/// The client's side of a short HTTP exchange: SYN, ACK, request, FIN.
fn client_side(t: u64) -> Vec<(std::time::Duration, Vec<u8>)> {
    let f = |flags, data: &[u8]| l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 43210, a(VIP), 80, 6, flags, data);
    vec![
        (at(t), f(SYN, b"")),
        (at(t + 2), f(ACK, b"")),
        (at(t + 3), f(PSH | ACK, b"GET / HTTP/1.0\r\n\r\n")),
        (at(t + 4), f(FIN | ACK, b"")),
    ]
}

/// DR: the client's frames to the real server's MAC, IPv6 untouched (the SYN waits for the
/// server's advertisement); a router's packet too big about the server's reply goes to it.
#[test]
fn golden_v6_dr_tcp() {
    run_case_with(
        "v6_dr_tcp",
        || pipeline(ForwardMethod::DirectRoute),
        || {
            let i = first_real(ForwardMethod::DirectRoute, 6, 43210, 80);
            let mut v = neighbours(0);
            let mut c = client_side(1);
            v.insert(1, c.remove(0));
            v.extend(c);
            let reply = l4_frame(RS_MAC[i], CLIENT_MAC, a(VIP), 80, a(CLIENT), 43210, 6, ACK, &[9; 1400]);
            let ptb = Icmpv6Repr::PacketTooBig { mtu: 1280, quote: &reply[ETH..ETH + 1232] };
            v.push((at(6), icmp_error_frame(CLIENT_MAC, LB_C_MAC, a("2001:db8:1::fe"), a(VIP), &ptb)));
            v
        },
    );
}

/// TUN: the same exchange inside IPv6-in-IPv6, and a segment that no longer fits once
/// wrapped answered with packet too big (MTU 1460) to the client.
#[test]
fn golden_v6_tun_tcp() {
    run_case_with(
        "v6_tun_tcp",
        || pipeline(ForwardMethod::Tunnel),
        || {
            let mut v = neighbours(0);
            let mut c = client_side(1);
            v.insert(1, c.remove(0));
            v.extend(c);
            let big = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 43210, a(VIP), 80, 6, ACK, &[7; 1440]);
            v.push((at(6), big));
            v
        },
    );
}

/// NAT: the client's packets to [RIP]:80, the server's replies (routed to us, to the
/// client) from [VIP]:80; UDP to a port without listener and the server's port unreachable
/// translated for the client.
#[test]
fn golden_v6_nat_tcp_udp() {
    run_case_with(
        "v6_nat_tcp_udp",
        || pipeline(ForwardMethod::Nat),
        || {
            let i = first_real(ForwardMethod::Nat, 6, 43210, 80);
            let (c, r) = (a(CLIENT), rs(i));
            let s = |flags, data: &[u8]| l4_frame(RS_MAC[i], LB_S_MAC, r, 80, c, 43210, 6, flags, data);
            let mut v = neighbours(0);
            let mut cl = client_side(1);
            v.insert(1, cl.remove(0));
            v.push((at(3), s(SYN | ACK, b"")));
            v.extend(cl.drain(..2));
            v.push((at(5), s(FIN | PSH | ACK, b"HTTP/1.0 200 OK\r\n\r\nrs\n")));
            v.extend(cl);
            v.push((at(6), s(ACK, b"")));
            // UDP: the next real server in turn (rr over the UDP service's own position).
            let j = first_real(ForwardMethod::Nat, 17, 45000, 53);
            let q = l4_frame(CLIENT_MAC, LB_C_MAC, c, 45000, a(VIP), 53, 17, 0, b"query");
            // What the server got (client → [RIP]:5353), as its port unreachable quotes it.
            let got = l4_frame(LB_S_MAC, RS_MAC[j], c, 45000, rs(j), 5353, 17, 0, b"query");
            let unreach = Icmpv6Repr::DstUnreachable { code: 4, quote: &got[ETH..] };
            v.push((at(7), q));
            v.push((at(8), icmp_error_frame(RS_MAC[j], LB_S_MAC, rs(j), c, &unreach)));
            v
        },
    );
}
