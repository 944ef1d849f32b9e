//! The shared helpers of the pipeline's sans-IO tests (frames in, frames out, no DPDK):
//! the two-port configuration and registry the tests start from, frame builders, the
//! `Harness` around one worker, registry edits, and (`extensions`) the segments and
//! options of the TCP-extension tests. The tests themselves live in the sibling
//! `*_tests.rs` modules, one per concern.

use super::*;
use crate::frame::VecAlloc;
use crate::neigh::NeighParams;
use crate::route::{Prefix, Route};
use crate::service::Registry;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

pub(crate) const CLIENT_PORT: PortIndex = 0;
pub(crate) const SERVER_PORT: PortIndex = 1;
pub(crate) const LB_C_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub(crate) const LB_S_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub(crate) const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
pub(crate) const RS_MAC: [MacAddr; 3] =
    [MacAddr([2, 0, 0, 0, 2, 11]), MacAddr([2, 0, 0, 0, 2, 12]), MacAddr([2, 0, 0, 0, 2, 13])];

pub(crate) fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub(crate) fn registry() -> Registry {
    let mut r = Registry::new(16, 64);
    for (proto, port, rport) in [(Protocol::Tcp, 80, 80), (Protocol::Udp, 53, 5353)] {
        let key = ServiceKey { protocol: proto, addr: format!("198.18.0.100:{port}").parse().unwrap() };
        r.add_service(ServiceSpec {
            options: Default::default(),
            key,
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        })
        .unwrap();
        for i in 11..=13 {
            let real = RealSpec {
                thresholds: Default::default(),
                addr: format!("198.19.0.{i}:{rport}").parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
            };
            r.add_real(&key, real).unwrap();
        }
    }
    r
}

pub(crate) fn config(worker: u16, workers: u16) -> PipelineConfig {
    let mut routes = RouteTable::new();
    routes.add(Route {
        prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(),
        port: CLIENT_PORT,
        gateway: None,
    });
    routes.add(Route {
        prefix: Prefix::new(ip("198.19.0.0"), 24).unwrap(),
        port: SERVER_PORT,
        gateway: None,
    });
    PipelineConfig {
        worker,
        workers,
        ports: vec![
            PortInfo { mac: LB_C_MAC, addrs: vec![(ip("198.18.0.1"), 24)], vlans: vec![], mtu: 1500 },
            PortInfo { mac: LB_S_MAC, addrs: vec![(ip("198.19.0.1"), 24)], vlans: vec![], mtu: 1500 },
        ],
        routes,
        max_sessions: 1000,
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

pub(crate) fn pipeline(worker: u16, workers: u16) -> Pipeline<Vec<u8>> {
    let counters = Arc::new(WorkerCounters::new(16, 64));
    Pipeline::new(config(worker, workers), Arc::new(registry().snapshot()), counters, Time::ZERO)
}

/// Ethernet + IPv4 headers (valid checksum) in front of `l4_len` zeroed bytes; returns the
/// frame, for the caller to fill the transport header in at `ETH_LEN + 20`.
fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    l4_len: usize,
) -> Vec<u8> {
    let mut b = vec![0u8; ETH_LEN + 20 + l4_len];
    crate::testkit::eth_ip(&mut b, src_mac, dst_mac, src, dst, proto);
    b
}

/// An Ethernet + IPv4 + TCP frame with valid checksums.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_frame(src_mac, dst_mac, src, dst, IpProtocol::TCP, 20 + payload.len());
    let l4 = &mut b[ETH_LEN + 20..];
    l4[20..].copy_from_slice(payload);
    let mut t = TcpPacket::new_unchecked(l4);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_header_len(20);
    t.set_seq_number(1000);
    t.set_flags(flags);
    t.set_window(1000);
    t.fill_checksum(src, dst);
    b
}

pub(crate) fn udp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ipv4_frame(src_mac, dst_mac, src, dst, IpProtocol::UDP, 8 + payload.len());
    let l4 = &mut b[ETH_LEN + 20..];
    l4[8..].copy_from_slice(payload);
    let mut u = UdpPacket::new_unchecked(l4);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len((8 + payload.len()) as u16);
    u.fill_checksum(src, dst);
    b
}

pub(crate) fn arp_reply_frame(
    from_mac: MacAddr,
    from_ip: Ipv4Addr,
    to_mac: MacAddr,
    to_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    crate::wire::arp::build_reply(&mut b, from_mac, from_ip, to_mac, to_ip).unwrap();
    b
}

/// Parsed view of a sent TCP/UDP frame: (src mac, dst mac, src, sport, dst, dport).
pub(super) fn endpoints(f: &[u8]) -> (MacAddr, MacAddr, Ipv4Addr, u16, Ipv4Addr, u16) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ipp.verify_checksum(), "ip checksum of output");
    let (sp, dp) = match ipp.protocol() {
        IpProtocol::TCP => {
            let t = TcpPacket::new_checked(ipp.payload()).unwrap();
            assert!(t.verify_checksum(ipp.src_addr(), ipp.dst_addr()), "tcp checksum of output");
            (t.src_port(), t.dst_port())
        }
        _ => {
            let u = UdpPacket::new_checked(ipp.payload()).unwrap();
            assert!(u.verify_checksum(ipp.src_addr(), ipp.dst_addr()), "udp checksum of output");
            (u.src_port(), u.dst_port())
        }
    };
    (eth.src_addr(), eth.dst_addr(), ipp.src_addr(), sp, ipp.dst_addr(), dp)
}

pub(super) struct Harness {
    pub(super) p: Pipeline<Vec<u8>>,
    pub(super) out: Output<Vec<u8>>,
    pub(super) now: Time,
}

impl Harness {
    pub(super) fn new(worker: u16, workers: u16) -> Self {
        Harness {
            p: pipeline(worker, workers),
            out: Output::new(2, workers as usize),
            now: Time::from_secs(1),
        }
    }
    /// A single worker's harness with its own configuration (the real servers' MACs not
    /// learnt yet: `resolve_all`).
    pub(super) fn with_config(cfg: PipelineConfig) -> Self {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        Harness {
            p: Pipeline::new(cfg, Arc::new(registry().snapshot()), counters, Time::ZERO),
            out: Output::new(2, 1),
            now: Time::from_secs(1),
        }
    }
    pub(super) fn rx(&mut self, port: PortIndex, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    pub(super) fn take_tx(&mut self, port: PortIndex) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    pub(super) fn drops(&self, r: DropReason) -> u64 {
        self.p.counters().drop_count(r)
    }
    /// Teaches the pipeline the MACs of the real servers and the client.
    pub(super) fn resolve_all(&mut self) {
        for (i, mac) in RS_MAC.iter().enumerate() {
            let f = arp_reply_frame(*mac, ip(&format!("198.19.0.{}", 11 + i)), LB_S_MAC, ip("198.19.0.200"));
            self.rx(SERVER_PORT, f);
        }
        let f = arp_reply_frame(CLIENT_MAC, ip("198.18.0.10"), LB_C_MAC, ip("198.18.0.1"));
        self.rx(CLIENT_PORT, f);
        self.take_tx(CLIENT_PORT);
        self.take_tx(SERVER_PORT);
    }
}

pub(super) fn edit_registry(f: impl FnOnce(&mut Registry)) -> Arc<crate::service::Snapshot> {
    let mut r = registry();
    f(&mut r);
    Arc::new(r.snapshot())
}

/// The TCP service of `registry()` (rr, LIP .200), persistent for 300 s per client.
pub(super) fn persistent_tcp_spec() -> ServiceSpec {
    let mut spec = ServiceSpec {
        key: tcp_key(),
        scheduler: "rr".into(),
        local_addrs: vec!["198.19.0.200".parse().unwrap()],
        options: Default::default(),
    };
    spec.options.persistence = Some(rvs_proto::Persistence { timeout: 300, prefix_len: 32 });
    spec
}

/// FULLNAT real server 198.19.0.`i`:80 of the TCP service.
pub(super) fn tcp_real(i: u8, weight: u32) -> RealSpec {
    RealSpec {
        addr: format!("198.19.0.{i}:80").parse().unwrap(),
        weight,
        method: ForwardMethod::FullNat,
        thresholds: Default::default(),
        tunnel: None,
    }
}

pub(super) fn tcp_key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

/// A SYN from the client 198.18.0.10:`sport` to the VIP's port 80.
pub(super) fn client_syn(sport: u16) -> Vec<u8> {
    tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, TcpFlags::SYN, b"")
}

/// Opens a TCP connection from `client:sport` and returns the real server it went to.
pub(super) fn open(h: &mut Harness, client: &str, sport: u16) -> Option<Ipv4Addr> {
    let syn = tcp_frame(CLIENT_MAC, LB_C_MAC, ip(client), sport, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    h.take_tx(SERVER_PORT).first().map(|f| endpoints(f).4)
}

/// Helpers of the TCP-extension tests (SYN proxy, TOA, PROXY protocol): client and
/// server segments with options, a view of a sent segment, service options.
pub(super) mod extensions {
    use super::*;
    use crate::synproxy::testutil::{build, Seg};
    use crate::wire::tcp::TcpOption;

    pub(in crate::pipeline) const CIP: &str = "198.18.0.10";
    pub(in crate::pipeline) const VIP: &str = "198.18.0.100";

    /// An Ethernet frame around an IPv4 packet built by the synproxy test builder.
    pub(in crate::pipeline) fn frame(src_mac: MacAddr, dst_mac: MacAddr, seg: &Seg<'_>) -> Vec<u8> {
        let ip = build(seg, 0);
        let mut f = vec![0u8; ETH_LEN];
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(dst_mac);
        eth.set_src_addr(src_mac);
        eth.set_ethertype(EtherType::IPV4);
        f.extend_from_slice(&ip);
        f
    }

    pub(in crate::pipeline) fn client(
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let seg = Seg {
            src: ip(CIP),
            dst: ip(VIP),
            sport: 40000,
            dport: 80,
            seq,
            ack,
            flags,
            opts,
            payload,
            ..Default::default()
        };
        frame(CLIENT_MAC, LB_C_MAC, &seg)
    }

    pub(in crate::pipeline) fn server(
        rip: Ipv4Addr,
        lport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let seg = Seg {
            src: rip,
            dst: ip("198.19.0.200"),
            sport: 80,
            dport: lport,
            seq,
            ack,
            flags,
            opts,
            payload,
            ..Default::default()
        };
        frame(RS_MAC[0], LB_S_MAC, &seg)
    }

    pub(in crate::pipeline) fn tcp_view(f: &[u8]) -> TcpPacket<&[u8]> {
        let ipp = Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap();
        let hl = ipp.header_len();
        let total = ipp.total_len() as usize;
        TcpPacket::new_checked(&f[ETH_LEN + hl..ETH_LEN + total]).unwrap()
    }

    pub(in crate::pipeline) fn with_options(h: &mut Harness, f: impl FnOnce(&mut rvs_proto::ServiceOptions)) {
        h.p.set_snapshot(edit_registry(|r| {
            let mut spec = ServiceSpec {
                key: tcp_key(),
                scheduler: "rr".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap()],
                options: Default::default(),
            };
            f(&mut spec.options);
            r.edit_service(spec).unwrap();
        }));
    }

    /// MSS 1460, SACK permitted, timestamps, window scale 7: what Linux sends.
    pub(in crate::pipeline) const SYN_OPTS: [u8; 20] =
        [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 7];

    /// A client's SYN to a SYN-proxied service and its ACK echoing our cookie and
    /// timestamp: the server SYN is on its way. Returns the cookie and the ACK's options.
    pub(in crate::pipeline) fn open_proxied(h: &mut Harness, isn: u32) -> (u32, [u8; 12]) {
        h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        let synack = h.take_tx(CLIENT_PORT).pop().expect("our SYN/ACK");
        let t = tcp_view(&synack);
        let tsval =
            t.iter_options().find_map(|o| if let TcpOption::Timestamps(v, _) = o { Some(v) } else { None });
        let cookie = t.seq_number();
        let mut ts_opts = [1, 1, 8, 10, 0, 0, 0, 101, 0, 0, 0, 0];
        ts_opts[8..12].copy_from_slice(&tsval.expect("timestamps offered").to_be_bytes());
        h.rx(CLIENT_PORT, client(isn + 1, cookie.wrapping_add(1), TcpFlags::ACK, &ts_opts, b""));
        (cookie, ts_opts)
    }
}
