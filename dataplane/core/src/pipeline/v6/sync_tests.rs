//! Sync of IPv6 sessions: an IPv6 FULLNAT and a NAT64 connection on one director are
//! synced on the same packets as IPv4 ones, installed on another director that then
//! forwards both ways without a handshake, counted in the digest, exported in bulk, and
//! expired on the receiver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::tests::v6_config;
use crate::frame::VecAlloc;
use crate::pipeline::tests::{
    config, udp_frame, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC, SERVER_PORT,
};
use crate::pipeline::{Installed, Output, Pipeline, PipelineConfig};
use crate::service::Registry;
use crate::session::SessionState;
use crate::stats::WorkerCounters;
use crate::sync::{ClusterKey, ConnRecord, SyncMessage, SyncParams, CONN_F_TOA};
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::{get_u16, put_u16, EtherType};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceOptions, ServiceSpec};

const ETH: usize = 14;
const VIP: &str = "2001:db8:1::100";
const CLIENT: &str = "2001:db8:1::10";
const LIP6: &str = "2001:db8:2::200";
const LIP4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn rs6(i: usize) -> Ipv6Addr {
    a(&format!("2001:db8:2::{}", 11 + i))
}

fn rs4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 11 + i as u8)
}

/// TCP [VIP]:80 → IPv6 real servers (FULLNAT, TOA); TCP [VIP]:8081 → IPv4 real servers
/// (NAT64, TOA); UDP [VIP]:53 → IPv4 real servers (NAT64); TCP [VIP]:8088 → IPv6 real
/// servers by NAT, 8089 by DR, 8090 by TUN.
fn registry() -> Registry {
    let mut r = Registry::new(16, 64);
    let services: [(Protocol, u16, bool); 6] = [
        (Protocol::Tcp, 80, false),
        (Protocol::Tcp, 8081, true),
        (Protocol::Udp, 53, true),
        (Protocol::Tcp, 8088, false),
        (Protocol::Tcp, 8089, false),
        (Protocol::Tcp, 8090, false),
    ];
    for (proto, port, nat64) in services {
        let method = match port {
            8088 => ForwardMethod::Nat,
            8089 => ForwardMethod::DirectRoute,
            8090 => ForwardMethod::Tunnel,
            _ => ForwardMethod::FullNat,
        };
        let nat = method != ForwardMethod::FullNat;
        let key = ServiceKey { protocol: proto, addr: format!("[{VIP}]:{port}").parse().unwrap() };
        let lip: IpAddr = if nat64 { LIP4.into() } else { a(LIP6).into() };
        let spec = ServiceSpec {
            options: ServiceOptions { toa: proto == Protocol::Tcp && !nat, ..Default::default() },
            key,
            scheduler: "rr".into(),
            local_addrs: vec![lip],
        };
        r.add_service(spec).unwrap();
        for i in 0..3 {
            let addr: SocketAddr = if nat64 { (rs4(i), port).into() } else { (rs6(i), port).into() };
            let real = RealSpec { thresholds: Default::default(), addr, weight: 1, method, tunnel: None };
            r.add_real(&key, real).unwrap();
        }
    }
    r
}

struct H {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
}

impl H {
    fn new(sync: bool) -> H {
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
        let p = Pipeline::new(cfg, Arc::new(registry().snapshot()), counters, Time::ZERO);
        let mut h = H { p, out: Output::new(2, 1), now: Time::from_secs(1) };
        if sync {
            h.p.enable_sync(SyncParams::default(), h.now);
            h.p.set_sync_digest_key(&ClusterKey::from_config("a long test cluster passphrase").unwrap());
        }
        h.p.neigh6_learned(a(CLIENT), CLIENT_MAC.0, CLIENT_PORT, h.now, &mut h.out);
        for (i, m) in RS_MAC.iter().enumerate() {
            h.p.neigh6_learned(rs6(i), m.0, SERVER_PORT, h.now, &mut h.out);
            h.p.neigh_learned(rs4(i), m.0, SERVER_PORT, h.now, &mut h.out);
        }
        h
    }
    fn rx(&mut self, port: u16, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    fn tx(&mut self, port: u16) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    fn ipv6_sessions(&self) -> usize {
        self.p.dump_sessions(self.now).iter().filter(|c| c.client.is_ipv6()).count()
    }
}

/// An IPv6 TCP/UDP frame, checksum valid (`seq` is the TCP sequence number).
#[allow(clippy::too_many_arguments)]
fn frame6(
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    proto: u8,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let hl = if proto == 6 { 20 } else { 8 };
    let mut f = vec![0u8; ETH + 40 + hl + payload.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    let (smac, dmac) = if src == a(CLIENT) { (CLIENT_MAC, LB_C_MAC) } else { (RS_MAC[0], LB_S_MAC) };
    eth.set_src_addr(smac);
    eth.set_dst_addr(dmac);
    eth.set_ethertype(EtherType::IPV6);
    Ipv6Repr {
        src,
        dst,
        next_header: proto,
        payload_len: (hl + payload.len()) as u16,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH..]);
    let l4 = &mut f[ETH + 40..];
    put_u16(l4, 0, sport);
    put_u16(l4, 2, dport);
    if proto == 6 {
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = flags;
        put_u16(l4, 14, 1000);
    } else {
        put_u16(l4, 4, (hl + payload.len()) as u16);
    }
    l4[hl..].copy_from_slice(payload);
    let c = ipv6::upper_checksum(src, dst, proto, l4);
    put_u16(l4, if proto == 6 { 16 } else { 6 }, c);
    f
}

fn client(sport: u16, dport: u16, proto: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let seq = if flags & SYN != 0 { 5000 } else { 5001 };
    frame6(a(CLIENT), sport, a(VIP), dport, proto, flags, seq, payload)
}

/// (src, sport, dst, dport) of an IPv6 or IPv4 frame we sent.
fn sent(f: &[u8]) -> (IpAddr, u16, IpAddr, u16) {
    let eth = EthernetFrame::new_checked(f).unwrap();
    if eth.ethertype() == EtherType::IPV6 {
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let l4 = ip.payload();
        assert!(ipv6::verify_upper(ip.src_addr(), ip.dst_addr(), ip.next_header(), l4), "checksum");
        (ip.src_addr().into(), get_u16(l4, 0), ip.dst_addr().into(), get_u16(l4, 2))
    } else {
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        let l4 = ip.payload();
        (ip.src_addr().into(), get_u16(l4, 0), ip.dst_addr().into(), get_u16(l4, 2))
    }
}

/// SYN, the server's SYN/ACK, ACK, data through `h`: returns (real, local) as sent.
fn open(h: &mut H, sport: u16, dport: u16) -> (SocketAddr, SocketAddr) {
    h.rx(CLIENT_PORT, client(sport, dport, 6, SYN, b""));
    let (lip, lport, rip, rport) = sent(&h.tx(SERVER_PORT)[0]);
    let synack = match (rip, lip) {
        (IpAddr::V6(r), IpAddr::V6(l)) => frame6(r, rport, l, lport, 6, SYN | ACK, 9000, b""),
        (IpAddr::V4(r), IpAddr::V4(l)) => crate::pipeline::tests::tcp_frame(
            RS_MAC[0],
            LB_S_MAC,
            r,
            rport,
            l,
            lport,
            crate::wire::tcp::TcpFlags(SYN | ACK),
            b"",
        ),
        _ => unreachable!(),
    };
    h.rx(SERVER_PORT, synack);
    assert_eq!(h.tx(CLIENT_PORT).len(), 1);
    h.rx(CLIENT_PORT, client(sport, dport, 6, ACK, b""));
    h.rx(CLIENT_PORT, client(sport, dport, 6, ACK, b"GET /"));
    assert_eq!(h.tx(SERVER_PORT).len(), 2);
    (SocketAddr::new(rip, rport), SocketAddr::new(lip, lport))
}

/// The record goes through the wire format (sealed, parsed) as the sync thread sends it.
fn over_the_wire(rec: &ConnRecord) -> ConnRecord {
    let key = ClusterKey::from_config("a long test cluster passphrase").unwrap();
    let mut packer = crate::sync::Packer::new(
        crate::sync::Sender::new(crate::sync::SenderConfig::new(51, 1, 1), &key).unwrap(),
    );
    let mut wire = Vec::new();
    packer.push(rec, |d| wire.push(d.to_vec())).unwrap();
    packer.flush(|d| wire.push(d.to_vec())).unwrap();
    let m = SyncMessage::parse(&wire[0]).unwrap();
    let crate::sync::Body::Conns(recs) = m.body else { panic!("conns expected") };
    recs.iter().next().unwrap()
}

#[test]
fn an_ipv6_fullnat_connection_moves_to_another_director() {
    let mut lb1 = H::new(true);
    let (real, local) = open(&mut lb1, 40000, 80);
    assert_eq!(lb1.out.synced.len(), 1, "the third client packet syncs, as for IPv4");
    let rec = over_the_wire(&lb1.out.synced.pop().unwrap());
    assert_eq!(rec.state, SessionState::Established);
    assert_eq!((rec.client, rec.virt), ((a(CLIENT), 40000).into(), (a(VIP), 80).into()));
    assert_eq!((rec.real, rec.local), (real, local));
    assert_eq!(rec.flags, CONN_F_TOA, "TOA went in with the first ACK: no longer pending");
    assert!(rec.timeout_ms > 800_000);
    assert_eq!(rec.owner_worker(1), 0);

    let mut lb2 = H::new(true);
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::Refreshed));
    assert_eq!(lb2.ipv6_sessions(), 1);
    let slot = lb2.p.snapshot().v6.services[0].reals.iter().find(|r| *r.addr.ip() == real.ip()).unwrap().slot;
    assert_eq!(lb2.p.counters().reals[slot as usize].active.get(), 1);
    assert_eq!(lb2.p.sync_digest(), lb1.p.sync_digest(), "both hold the same synced session");
    // lb2 forwards the client's data to the same real server from the same LIP:lport,
    // without TOA (the server had it), and the reply back to the client.
    lb2.rx(CLIENT_PORT, client(40000, 80, 6, ACK, b"more"));
    let tx = lb2.tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    let (lip, lport, rip, rport) = sent(&tx[0]);
    assert_eq!((SocketAddr::new(lip, lport), SocketAddr::new(rip, rport)), (local, real));
    assert_eq!(tx[0].len(), ETH + 40 + 20 + 4, "no TOA option added again");
    let IpAddr::V6(rip6) = rip else { panic!() };
    let IpAddr::V6(lip6) = lip else { panic!() };
    lb2.rx(SERVER_PORT, frame6(rip6, rport, lip6, lport, 6, ACK, 9001, b"data"));
    let back = lb2.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(sent(&back[0]), (a(VIP).into(), 80, a(CLIENT).into(), 40000));
    assert!(lb2.out.synced.is_empty(), "an installed session is not echoed back");

    // The synced session's local port is not handed to a new connection on lb2.
    for sport in 41000..41100u16 {
        lb2.rx(CLIENT_PORT, client(sport, 80, 6, SYN, b""));
        for f in lb2.tx(SERVER_PORT) {
            assert_ne!((sent(&f).0, sent(&f).1), (local.ip(), local.port()));
        }
    }
}

#[test]
fn a_nat64_connection_moves_with_its_ipv4_local_port() {
    let mut lb1 = H::new(true);
    let (real, local) = open(&mut lb1, 40001, 8081);
    assert!(real.is_ipv4() && local.is_ipv4());
    let rec = over_the_wire(&lb1.out.synced.pop().unwrap());
    assert_eq!((rec.real, rec.local), (real, local), "the IPv4 side travels as IPv4");
    // Under the port partition its owner is the one of its IPv4 local port.
    assert_eq!(rec.owner_worker_steered(2, &crate::laddr::Steering::Partition), local.port() as usize % 2);

    let mut lb2 = H::new(true);
    let free = lb2.p.laddrs.available(LIP4);
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
    assert_eq!(lb2.p.laddrs.available(LIP4), free - 1, "the IPv4 port is reserved");
    lb2.rx(CLIENT_PORT, client(40001, 8081, 6, ACK, b"more"));
    let tx = lb2.tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    let (lip, lport, rip, rport) = sent(&tx[0]);
    assert_eq!((SocketAddr::new(lip, lport), SocketAddr::new(rip, rport)), (local, real));
    let (IpAddr::V4(r4), IpAddr::V4(l4)) = (rip, lip) else { panic!("IPv4 towards the server") };
    let reply = crate::pipeline::tests::tcp_frame(
        RS_MAC[0],
        LB_S_MAC,
        r4,
        rport,
        l4,
        lport,
        crate::wire::tcp::TcpFlags(ACK),
        b"data",
    );
    lb2.rx(SERVER_PORT, reply);
    let back = lb2.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(sent(&back[0]), (a(VIP).into(), 8081, a(CLIENT).into(), 40001));

    // A FIN from the client syncs at once; expiry continues on lb2 and frees the port.
    lb1.rx(CLIENT_PORT, client(40001, 8081, 6, FIN | ACK, b""));
    let fin = lb1.out.synced.pop().expect("a state change syncs at once");
    assert_eq!(fin.state, SessionState::FinWait);
    assert_eq!(lb2.p.install_synced(&fin, lb2.now), Ok(Installed::Refreshed));
    let later = lb2.now + std::time::Duration::from_millis(fin.timeout_ms as u64 + 2000);
    for _ in 0..4 {
        lb2.p.poll(later, &mut VecAlloc, &mut lb2.out);
    }
    assert_eq!(lb2.ipv6_sessions(), 0);
    assert_eq!(lb2.p.laddrs.available(LIP4), free);
    assert_eq!(lb2.p.sync_digest().1, 0, "out of the digest");
}

#[test]
fn udp_nat64_syncs_and_bulk_export_walks_both_tables() {
    let mut lb1 = H::new(true);
    for sport in 50000..50010u16 {
        for _ in 0..3 {
            lb1.rx(CLIENT_PORT, client(sport, 53, 17, 0, b"q"));
        }
    }
    // The IPv4 table is empty here: the walk goes past its slots into the IPv6 table's.
    assert_eq!(lb1.out.synced.len(), 10, "UDP syncs on its third packet too");
    let mut got = Vec::new();
    let mut from = Some(0);
    let mut calls = 0;
    while let Some(f) = from {
        from = lb1.p.export_sessions(f, 3, lb1.now, |r| got.push(r));
        calls += 1;
    }
    assert_eq!(got.len(), 10);
    assert_eq!(calls, 4, "slices of 3");
    let mut lb2 = H::new(true);
    for r in &got {
        assert_eq!(lb2.p.install_synced(&over_the_wire(r), lb2.now), Ok(Installed::New));
    }
    assert_eq!(lb2.ipv6_sessions(), 10);
    assert_eq!(lb2.p.sync_digest(), lb1.p.sync_digest());
    assert_eq!(lb2.p.counters().sessions_live.get(), 10);
    // A reply on lb2 reaches the client.
    let r = &got[4];
    let (SocketAddr::V4(rip), SocketAddr::V4(lip)) = (r.real, r.local) else { panic!() };
    lb2.rx(SERVER_PORT, udp_frame(RS_MAC[0], LB_S_MAC, *rip.ip(), rip.port(), *lip.ip(), lip.port(), b"a"));
    let back = lb2.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(sent(&back[0]).3, r.client.port());
}

#[test]
fn records_this_director_cannot_hold_are_refused_and_counted_by_name() {
    let mut lb1 = H::new(true);
    open(&mut lb1, 40002, 80);
    let rec = lb1.out.synced.pop().unwrap();
    let lb2 = &mut H::new(true);
    let mut r = rec;
    r.virt = (a(VIP), 81).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "no_service");
    let mut r = rec;
    r.real = (rs6(7), 80).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "no_real");
    let mut r = rec;
    r.local = (a("2001:db8:2::201"), rec.local.port()).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "no_local");
    let mut r = rec;
    r.flags |= crate::sync::CONN_F_SYNPROXY;
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "unsupported");
    assert_eq!(lb2.ipv6_sessions(), 0);
    // The same server flow under another client: the one we had is stale and goes.
    lb2.p.install_synced(&rec, lb2.now).unwrap();
    let mut r = rec;
    r.client = (a(CLIENT), 40003).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now), Ok(Installed::New));
    let conns = lb2.p.dump_sessions(lb2.now);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].client.port(), 40003);
    // A local port one of lb2's own connections holds (towards another real server):
    // refused, nothing installed.
    lb2.rx(CLIENT_PORT, client(45000, 80, 6, SYN, b""));
    let (lip, lport, rip, _) = sent(&lb2.tx(SERVER_PORT)[0]);
    let mut r = rec;
    r.client = (a(CLIENT), 40004).into();
    r.local = SocketAddr::new(lip, lport);
    r.real = ((0..3).map(rs6).find(|x| IpAddr::V6(*x) != rip).unwrap(), 80).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "port_in_use");
    assert_eq!(lb2.ipv6_sessions(), 2);
    // The same LIP:lport to the same real server as that live connection of lb2's (IPv6
    // ports have no per-member slices): refused, lb2's own session kept.
    r.real = SocketAddr::new(rip, 80);
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "port_in_use");
    assert_eq!(lb2.ipv6_sessions(), 2);
    assert!(lb2.p.dump_sessions(lb2.now).iter().any(|c| c.client.port() == 45000));
}

#[test]
fn an_ipv6_nat_connection_moves_without_a_local_port() {
    let mut lb1 = H::new(true);
    let (real, local) = open(&mut lb1, 40005, 8088);
    assert_eq!(local, SocketAddr::from((a(CLIENT), 40005)), "NAT: the server sees the client");
    let rec = over_the_wire(&lb1.out.synced.pop().expect("a NAT session syncs too"));
    assert_eq!(rec.flags & crate::sync::CONN_F_NAT, crate::sync::CONN_F_NAT);
    assert_eq!((rec.real, rec.local), (real, rec.client));
    let mut lb2 = H::new(true);
    assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
    lb2.rx(CLIENT_PORT, client(40005, 8088, 6, ACK, b"more"));
    let tx = lb2.tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    assert_eq!(sent(&tx[0]), (a(CLIENT).into(), 40005, real.ip(), real.port()));
    let IpAddr::V6(rip) = real.ip() else { panic!() };
    lb2.rx(SERVER_PORT, frame6(rip, real.port(), a(CLIENT), 40005, 6, ACK, 9001, b"data"));
    let back = lb2.tx(CLIENT_PORT);
    assert_eq!(back.len(), 1);
    assert_eq!(sent(&back[0]), (a(VIP).into(), 8088, a(CLIENT).into(), 40005));
    assert_eq!(lb2.p.sync_digest(), lb1.p.sync_digest());
    // Where that real server is FULLNAT, the record is refused.
    let mut r = rec;
    r.virt = (a(VIP), 80).into();
    r.real = (rip, 80).into();
    assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "method");
}

/// IPv6 DR and TUN sessions are synced: lb2 installs the record (no local port) and sends
/// the client's next segment, without a SYN, to the same real server: the frame unchanged
/// to its MAC (DR), or inside an outer IPv6 header (TUN).
#[test]
fn ipv6_dr_and_tun_connections_move_to_another_director() {
    for (port, flag) in [(8089u16, crate::sync::CONN_F_DR), (8090, crate::sync::CONN_F_TUN)] {
        let mut lb1 = H::new(true);
        for flags in [SYN, ACK, ACK] {
            let data: &[u8] = if flags == SYN { b"" } else { b"GET" };
            lb1.rx(CLIENT_PORT, client(40007, port, 6, flags, data));
        }
        assert_eq!(lb1.tx(SERVER_PORT).len(), 3);
        let rec = over_the_wire(&lb1.out.synced.pop().expect("the third client packet syncs DR/TUN"));
        assert_eq!(rec.flags & crate::sync::CONN_F_METHOD, flag);
        assert_eq!((rec.state, rec.local), (SessionState::Established, rec.client));
        let mut lb2 = H::new(true);
        assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::New));
        assert_eq!(lb2.p.install_synced(&rec, lb2.now), Ok(Installed::Refreshed));
        let next = client(40007, port, 6, ACK, b"more");
        lb2.rx(CLIENT_PORT, next.clone());
        let tx = lb2.tx(SERVER_PORT);
        assert_eq!(tx.len(), 1, "forwarded without a handshake");
        let f = &tx[0];
        let IpAddr::V6(rip) = rec.real.ip() else { panic!("an IPv6 real server") };
        let i = (0..3).find(|&i| rs6(i) == rip).unwrap();
        assert_eq!(f[0..6], RS_MAC[i].0, "to the session's real server");
        if port == 8089 {
            assert_eq!(f[12..], next[12..], "the IPv6 packet unchanged");
        } else {
            let outer = Ipv6Packet::new_checked(&f[ETH..]).unwrap();
            assert_eq!((outer.next_header(), outer.dst_addr()), (41, rip));
            assert_eq!(outer.payload(), &next[ETH..], "the client's packet inside");
        }
        assert!(lb2.out.synced.is_empty(), "installed as if just synced");
        assert_eq!(lb2.p.sync_digest(), lb1.p.sync_digest());
        // A bulk export carries it too.
        let mut bulk = Vec::new();
        lb2.p.export_sessions(0, 100, lb2.now, |r| bulk.push(r));
        assert_eq!(bulk.len(), 1);
        assert_eq!(bulk[0].flags & crate::sync::CONN_F_METHOD, flag);
        // Where that real server is reached otherwise, the record is refused.
        for other in [if port == 8089 { 8090 } else { 8089 }, 8088] {
            let mut r = rec;
            r.virt = (a(VIP), other).into();
            r.real = (rip, other).into();
            assert_eq!(lb2.p.install_synced(&r, lb2.now).unwrap_err().name(), "method");
        }
        let mut gone = rec;
        gone.real = (a("2001:db8:2::99"), port).into();
        assert_eq!(lb2.p.install_synced(&gone, lb2.now).unwrap_err().name(), "no_real");
    }
}
