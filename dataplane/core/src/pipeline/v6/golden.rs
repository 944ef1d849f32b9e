//! Golden pcaps of the frames the IPv6 pipeline builds (see `pipeline/golden.rs`): FULLNAT
//! both ways with Neighbor Discovery on the way, fragments steered both ways, and ICMPv6
//! packet-too-big translated for either side. `RVS_BLESS=1 cargo test golden` rewrites them;
//! `tshark -r dataplane/core/tests/golden/v6_*.pcap -V` shows them.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use super::conn_tests::{
    a, fragment6, icmp_error_frame, l4_frame, registry6, rs, ACK, CLIENT, LIP, SYN, VIP,
};
use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::golden::{at, run_case_with};
use crate::pipeline::tests::{config, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT};
use crate::pipeline::{Output, Pipeline, PipelineConfig};
use crate::stats::WorkerCounters;
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6::Icmpv6Repr;
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::{get_u16, EtherType, MacAddr};

const ETH: usize = 14;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;

fn pipeline6() -> Pipeline<Vec<u8>> {
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
    Pipeline::new(cfg, Arc::new(registry6().snapshot()), counters, Time::ZERO)
}

/// A Neighbor Discovery frame (hop limit 255).
fn nd_frame(smac: MacAddr, dmac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, msg: &Icmpv6Repr<'_>) -> Vec<u8> {
    let len = msg.buffer_len();
    let mut f = vec![0u8; ETH + 40 + len];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_src_addr(smac);
        eth.set_dst_addr(dmac);
        eth.set_ethertype(EtherType::IPV6);
    }
    Ipv6Repr {
        src,
        dst,
        next_header: 58,
        payload_len: len as u16,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    msg.emit(&mut f[ETH + 40..], src, dst);
    f
}

/// The client's solicitation for the VIP, and the three real servers' advertisements to
/// rvsd's server-side address (each learned; the one rvsd solicited releases its packets).
pub(super) fn neighbours(t: u64) -> Vec<(Duration, Vec<u8>)> {
    let group = ipv6::solicited_node(a(VIP));
    let ns = Icmpv6Repr::NeighborSolicit { target: a(VIP), source_lladdr: Some(CLIENT_MAC) };
    let mut v = vec![(at(t), nd_frame(CLIENT_MAC, ipv6::multicast_mac(group), a(CLIENT), group, &ns))];
    for (i, m) in RS_MAC.iter().enumerate() {
        let na = Icmpv6Repr::NeighborAdvert { flags: 0x60, target: rs(i), target_lladdr: Some(*m) };
        v.push((at(t + 2), nd_frame(*m, LB_S_MAC, rs(i), a("2001:db8:2::1"), &na)));
    }
    v
}

/// Where the pipeline sends a new flow's first packet: (real server index, local port).
fn first_hop(proto: u8, sport: u16, dport: u16) -> (usize, u16) {
    let mut p = pipeline6();
    let mut out = Output::new(2, 1);
    let now = Time::from_secs(1);
    for (i, m) in RS_MAC.iter().enumerate() {
        p.neigh6_learned(rs(i), m.0, SERVER_PORT, now, &mut out);
    }
    let flags = if proto == 6 { SYN } else { 0 };
    let f = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), sport, a(VIP), dport, proto, flags, b"x");
    p.handle(CLIENT_PORT, f, now, &mut VecAlloc, &mut out);
    let sent = &out.tx[SERVER_PORT as usize][0];
    let ip = Ipv6Packet::new_checked(&sent[ETH..]).unwrap();
    let i = (0..3).find(|&i| rs(i) == ip.dst_addr()).unwrap();
    (i, get_u16(ip.payload(), 0))
}

/// A TCP connection through an IPv6 VIP: the client's solicitation answered, the real
/// server solicited and its advertisement releasing the held SYN, then both ways to FIN.
#[test]
fn golden_v6_fullnat_tcp() {
    run_case_with("v6_fullnat_tcp", pipeline6, || {
        let (i, lport) = first_hop(6, 43210, 80);
        let (c, v, r, l) = (a(CLIENT), a(VIP), rs(i), a(LIP));
        let mut v6 = neighbours(0);
        v6.insert(1, (at(1), l4_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, 6, SYN, b"")));
        v6.extend([
            (at(3), l4_frame(RS_MAC[i], LB_S_MAC, r, 80, l, lport, 6, SYN | ACK, b"")),
            (at(4), l4_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, 6, ACK, b"")),
            (at(5), l4_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, 6, PSH | ACK, b"GET / HTTP/1.0\r\n\r\n")),
            (
                at(6),
                l4_frame(
                    RS_MAC[i],
                    LB_S_MAC,
                    r,
                    80,
                    l,
                    lport,
                    6,
                    FIN | PSH | ACK,
                    b"HTTP/1.0 200 OK\r\n\r\nrs\n",
                ),
            ),
            (at(7), l4_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, 6, FIN | ACK, b"")),
            (at(8), l4_frame(RS_MAC[i], LB_S_MAC, r, 80, l, lport, 6, ACK, b"")),
        ]);
        v6
    });
}

/// A 3,000-byte UDP datagram in three fragments to the VIP, and the real server's answer in
/// fragments, last first (held until its first fragment comes).
#[test]
fn golden_v6_udp_fragments() {
    run_case_with("v6_udp_fragments", pipeline6, || {
        let (i, lport) = first_hop(17, 45000, 53);
        let payload: Vec<u8> = (0..3000u32).map(|n| (n % 251) as u8).collect();
        let query = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 45000, a(VIP), 53, 17, 0, &payload);
        let answer = l4_frame(RS_MAC[i], LB_S_MAC, rs(i), 5353, a(LIP), lport, 17, 0, &payload);
        let mut v = neighbours(0);
        v.extend(fragment6(&query, 1448, 0xfeed).into_iter().map(|f| (at(3), f)));
        v.extend(fragment6(&answer, 1232, 0xbeef).into_iter().rev().map(|f| (at(4), f)));
        v
    });
}

/// Packet too big from a router on each side: the server side's reaches the client from the
/// VIP quoting the client's segment, the client side's reaches the real server from the LIP
/// quoting the server's, each with the router's MTU (IPv6 FULLNAT adds no header).
#[test]
fn golden_v6_packet_too_big() {
    run_case_with("v6_packet_too_big", pipeline6, || {
        let (i, lport) = first_hop(6, 43211, 80);
        let (c, v, r, l) = (a(CLIENT), a(VIP), rs(i), a(LIP));
        let mut f = neighbours(0);
        let seg = l4_frame(CLIENT_MAC, LB_C_MAC, c, 43211, v, 80, 6, ACK, &[7u8; 1400]);
        // What rvsd sends the real server for `seg` (LIP:lport -> RIP:80), as the server-side
        // router quotes it.
        let fwd = l4_frame(LB_S_MAC, RS_MAC[i], l, lport, r, 80, 6, ACK, &[7u8; 1400]);
        let reply = l4_frame(LB_C_MAC, CLIENT_MAC, v, 80, c, 43211, 6, ACK, &[9u8; 1400]);
        let rtr_s = a("2001:db8:2::fe");
        let rtr_c = a("2001:db8:1::fe");
        fn ptb(mtu: u32, quote: &[u8]) -> Icmpv6Repr<'_> {
            Icmpv6Repr::PacketTooBig { mtu, quote: &quote[ETH..ETH + 1232] }
        }
        f.extend([
            (at(1), l4_frame(CLIENT_MAC, LB_C_MAC, c, 43211, v, 80, 6, SYN, b"")),
            (at(3), l4_frame(RS_MAC[i], LB_S_MAC, r, 80, l, lport, 6, SYN | ACK, b"")),
            (at(4), seg.clone()),
            (at(5), icmp_error_frame(RS_MAC[i], LB_S_MAC, rtr_s, l, &ptb(1280, &fwd))),
            (at(6), l4_frame(RS_MAC[i], LB_S_MAC, r, 80, l, lport, 6, ACK, &[9u8; 1400])),
            (at(7), icmp_error_frame(CLIENT_MAC, LB_C_MAC, rtr_c, v, &ptb(1280, &reply))),
        ]);
        f
    });
}
