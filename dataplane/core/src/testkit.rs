//! The test kit shared by unit tests, benchmarks and fuzz targets: the benchmark topology
//! (one service, three real servers, clients behind a router) and frame builders.

use std::net::Ipv4Addr;

use crate::neigh::NeighParams;
use crate::pipeline::{PipelineConfig, PortInfo};
use crate::route::{PortIndex, Prefix, Route, RouteTable};
use crate::service::Registry;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{TcpFlags, TcpPacket};
use crate::wire::udp::UdpPacket;
use crate::wire::{EtherType, IpProtocol, MacAddr};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec, Timeouts};

pub const CLIENT_PORT: PortIndex = 0;
pub const SERVER_PORT: PortIndex = 1;
pub const LB_C_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const LB_S_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 254]);
pub const RS_MAC: [MacAddr; 3] =
    [MacAddr([2, 0, 0, 0, 2, 11]), MacAddr([2, 0, 0, 0, 2, 12]), MacAddr([2, 0, 0, 0, 2, 13])];
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const LB_C_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const LB_S_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Clients live behind this router (198.18.128.0/17 via 198.18.0.254), so the
/// pipeline resolves one neighbour for all of them, as behind a real gateway.
pub const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
pub const RS_IP: [Ipv4Addr; 3] =
    [Ipv4Addr::new(198, 19, 0, 11), Ipv4Addr::new(198, 19, 0, 12), Ipv4Addr::new(198, 19, 0, 13)];
/// Local ports per LIP (range 1025..=65535, one worker).
pub const PORTS_PER_LIP: usize = 64511;
/// Client source ports per client address.
const PORTS_PER_CLIENT: u32 = 40000;

/// Client `i`: 198.18.128.0 + i/40000, port 20000 + i%40000.
pub fn client(i: u64) -> (Ipv4Addr, u16) {
    let base = u32::from(Ipv4Addr::new(198, 18, 128, 0));
    let ip = base + (i / PORTS_PER_CLIENT as u64) as u32;
    assert!(ip < u32::from(Ipv4Addr::new(198, 19, 0, 0)), "client {i} out of range");
    (Ipv4Addr::from(ip), 20000 + (i % PORTS_PER_CLIENT as u64) as u16)
}

/// LIP `k`: 198.19.1.1 upwards (none on the wire; the pipeline owns them).
pub fn lip(k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 1, 1)) + k as u32)
}

/// One TCP service VIP:80 and one UDP service VIP:53 (rr over the three real
/// servers, `lips` local addresses each).
pub fn registry(lips: usize) -> Registry {
    let mut r = Registry::new(16, 64);
    let local: Vec<std::net::IpAddr> = (0..lips.max(1)).map(|k| lip(k).into()).collect();
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("{VIP}:{port}").parse().unwrap() };
        r.add_service(ServiceSpec {
            key,
            scheduler: "rr".into(),
            local_addrs: local.clone(),
            options: Default::default(),
        })
        .unwrap();
        for rs in RS_IP {
            let real = RealSpec {
                addr: format!("{rs}:{rport}").parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
                thresholds: Default::default(),
            };
            r.add_real(&key, real).unwrap();
        }
    }
    r
}

pub fn routes() -> RouteTable {
    let mut t = RouteTable::new();
    t.add(Route {
        prefix: Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap(),
        port: CLIENT_PORT,
        gateway: None,
    });
    t.add(Route {
        prefix: Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap(),
        port: SERVER_PORT,
        gateway: None,
    });
    t.add(Route {
        prefix: Prefix::new(Ipv4Addr::new(198, 18, 128, 0), 17).unwrap(),
        port: CLIENT_PORT,
        gateway: Some(ROUTER_IP),
    });
    t
}

pub fn config(max_sessions: usize, c_mac: MacAddr, s_mac: MacAddr) -> PipelineConfig {
    PipelineConfig {
        worker: 0,
        workers: 1,
        ports: vec![
            PortInfo { mac: c_mac, addrs: vec![(LB_C_IP, 24)], vlans: vec![], mtu: 1500 },
            PortInfo { mac: s_mac, addrs: vec![(LB_S_IP, 24)], vlans: vec![], mtu: 1500 },
        ],
        routes: routes(),
        max_sessions,
        local_port_range: (1025, 65535),
        timeouts: Timeouts { tcp: 900, tcp_fin: 120, udp: 300 },
        neigh: NeighParams::default(),
        cookie_secrets: crate::synproxy::CookieSecrets::new(crate::synproxy::SecretKey::from_bytes([7; 16])),
        synproxy: Default::default(),
        expire_nodest_conn: false,
        exception_path: false,
        steering: Default::default(),
        v6: Default::default(),
        mem_advice: None,
    }
}

/// Ethernet and a 20-byte IPv4 header (valid checksum) over the whole of `b`, its
/// payload left as it is.
pub fn eth_ip(
    b: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
) {
    let total = b.len() - 14;
    {
        let mut eth = EthernetFrame::new_unchecked(&mut b[..]);
        eth.set_dst_addr(dst_mac);
        eth.set_src_addr(src_mac);
        eth.set_ethertype(EtherType::IPV4);
    }
    let mut ipp = Ipv4Packet::new_unchecked(&mut b[14..]);
    ipp.set_version(4);
    ipp.set_header_len(20);
    ipp.set_total_len(total as u16);
    ipp.set_ttl(64);
    ipp.set_protocol(proto);
    ipp.set_src_addr(src);
    ipp.set_dst_addr(dst);
    ipp.fill_checksum();
}

/// Ethernet + IPv4 + TCP with valid checksums, written into `b` (resized).
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame_into(
    b: &mut Vec<u8>,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    payload: usize,
) {
    b.clear();
    b.resize(14 + 20 + 20 + payload, 0);
    eth_ip(b, src_mac, dst_mac, src, dst, IpProtocol::TCP);
    let mut t = TcpPacket::new_unchecked(&mut b[34..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_header_len(20);
    t.set_seq_number(1000);
    t.set_ack_number(if flags.0 & 0x10 != 0 { 2000 } else { 0 });
    t.set_flags(flags);
    t.set_window(1000);
    t.fill_checksum(src, dst);
}

/// Ethernet + IPv4 + UDP with valid checksums, written into `b` (resized).
#[allow(clippy::too_many_arguments)]
pub fn udp_frame_into(
    b: &mut Vec<u8>,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: usize,
) {
    b.clear();
    b.resize(14 + 20 + 8 + payload, 0);
    eth_ip(b, src_mac, dst_mac, src, dst, IpProtocol::UDP);
    let mut u = UdpPacket::new_unchecked(&mut b[34..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len((8 + payload) as u16);
    u.fill_checksum(src, dst);
}

pub fn arp_reply(from_mac: MacAddr, from_ip: Ipv4Addr, to_mac: MacAddr, to_ip: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    crate::wire::arp::build_reply(&mut b, from_mac, from_ip, to_mac, to_ip).unwrap();
    b
}

/// (src, sport, dst, dport) of a TCP/UDP frame.
pub fn endpoints(f: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let l4 = ipp.payload();
    (ipp.src_addr(), u16::from_be_bytes([l4[0], l4[1]]), ipp.dst_addr(), u16::from_be_bytes([l4[2], l4[3]]))
}

/// splitmix64: deterministic pseudo-random numbers without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}
