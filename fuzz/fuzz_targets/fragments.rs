//! Fragment steering (`pipeline/frag.rs`): sequences of IPv4 and IPv6 fragments with
//! colliding identifications, overlapping and repeated offsets, missing firsts, tiny first
//! fragments, both directions, time passing, and bytes flipped, into one pipeline with UDP
//! and TCP services of both families. Never a panic; every frame sent is a well-formed IP
//! packet (IPv4 header checksum right), and after the fragment timeout nothing is held
//! (what was held is dropped and counted, so drops grow by it).
#![no_main]
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline, PipelineConfig, PortInfo, V6Config};
use rvs_core::route::{Prefix, Route, RouteTable};
use rvs_core::service::Registry;
use rvs_core::stats::{DropReason, WorkerCounters};
use rvs_core::time::Time;
use rvs_core::wire::ipv4::Ipv4Packet;
use rvs_core::wire::ipv6::Ipv6Packet;
use rvs_core::wire::MacAddr;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

const MAC: [MacAddr; 2] = [MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])];
const PEER: [MacAddr; 2] = [MacAddr([2, 0, 0, 0, 1, 10]), MacAddr([2, 0, 0, 0, 2, 11])];

fn pipeline() -> Pipeline<Vec<u8>> {
    let mut reg = Registry::new(16, 64);
    for (proto, vip, lip, rip) in [
        (Protocol::Udp, "198.18.0.100:53", "198.19.0.200", "198.19.0.11:5353"),
        (Protocol::Tcp, "198.18.0.100:80", "198.19.0.200", "198.19.0.11:80"),
        (Protocol::Udp, "[2001:db8:1::100]:53", "2001:db8:2::200", "[2001:db8:2::11]:5353"),
        (Protocol::Tcp, "[2001:db8:1::100]:80", "2001:db8:2::200", "[2001:db8:2::11]:80"),
    ] {
        let key = ServiceKey { protocol: proto, addr: vip.parse().unwrap() };
        let spec =
            ServiceSpec { key, scheduler: "rr".into(), local_addrs: vec![lip.parse().unwrap()], options: Default::default() };
        reg.add_service(spec).unwrap();
        let real = RealSpec {
            addr: rip.parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            thresholds: Default::default(),
            tunnel: None,
        };
        reg.add_real(&key, real).unwrap();
    }
    let mut routes = RouteTable::new();
    let ip = |s: &str| s.parse().unwrap();
    routes.add(Route { prefix: Prefix::new(ip("198.18.0.0"), 24).unwrap(), port: 0, gateway: None });
    routes.add(Route { prefix: Prefix::new(ip("198.19.0.0"), 24).unwrap(), port: 1, gateway: None });
    let a6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let cfg = PipelineConfig {
        worker: 0,
        workers: 2,
        ports: vec![
            PortInfo { mac: MAC[0], addrs: vec![(ip("198.18.0.1"), 24)], vlans: vec![], mtu: 1500 },
            PortInfo { mac: MAC[1], addrs: vec![(ip("198.19.0.1"), 24)], vlans: vec![], mtu: 1500 },
        ],
        routes,
        max_sessions: 4096,
        local_port_range: (1025, 65535),
        timeouts: rvs_proto::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 },
        neigh: Default::default(),
        cookie_secrets: rvs_core::synproxy::CookieSecrets::new(rvs_core::synproxy::SecretKey::from_bytes([7; 16])),
        synproxy: Default::default(),
        expire_nodest_conn: false,
        exception_path: false,
        steering: Default::default(),
        v6: V6Config {
            addrs: vec![vec![(a6("2001:db8:1::1"), 64)], vec![(a6("2001:db8:2::1"), 64)]],
            routes: vec![],
        },
        mem_advice: None,
    };
    Pipeline::new(cfg, Arc::new(reg.snapshot()), Arc::new(WorkerCounters::new(16, 64)), Time::ZERO)
}

/// One fragment described by 8 input bytes.
fn frame(op: &[u8]) -> (u16, Vec<u8>) {
    let (flags, id) = (op[0], op[1] & 7);
    let (v6, server, tcp, more) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, flags & 8 != 0);
    let offset = (u16::from_be_bytes([op[2], op[3]]) % 400) * 8;
    let len = (u16::from_be_bytes([op[4], op[5]]) % 1400) as usize;
    let port = server as u16;
    let proto = if tcp { 6u8 } else { 17 };
    let (sport, dport) = if server {
        (if tcp { 80 } else { 5353 }, 1025 + (op[6] as u16 % 8) * 2)
    } else {
        (40000 + (op[6] as u16 % 4), if tcp { 80 } else { 53 })
    };
    let mut data = vec![0u8; len];
    // A first fragment starts with the ports (a TCP header's offset too), if it has room.
    if offset == 0 && len >= 14 {
        data[0..2].copy_from_slice(&sport.to_be_bytes());
        data[2..4].copy_from_slice(&dport.to_be_bytes());
        data[12] = 5 << 4;
        data[13] = 0x10;
    }
    let mut f = vec![0u8; 14];
    f[0..6].copy_from_slice(&MAC[port as usize].0);
    f[6..12].copy_from_slice(&PEER[port as usize].0);
    if v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let (src, dst): (Ipv6Addr, Ipv6Addr) = if server {
            ("2001:db8:2::11".parse().unwrap(), "2001:db8:2::200".parse().unwrap())
        } else {
            ("2001:db8:1::10".parse().unwrap(), "2001:db8:1::100".parse().unwrap())
        };
        let mut h = vec![0u8; 48];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
        h[6] = 44;
        h[7] = 64;
        h[8..24].copy_from_slice(&src.octets());
        h[24..40].copy_from_slice(&dst.octets());
        h[40] = proto;
        h[42..44].copy_from_slice(&(offset | more as u16).to_be_bytes());
        h[44..48].copy_from_slice(&(id as u32).to_be_bytes());
        f.extend(h);
    } else {
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let (src, dst): (Ipv4Addr, Ipv4Addr) =
            if server { ([198, 19, 0, 11].into(), [198, 19, 0, 200].into()) } else { ([198, 18, 0, 10].into(), [198, 18, 0, 100].into()) };
        let mut h = vec![0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&(id as u16).to_be_bytes());
        h[6..8].copy_from_slice(&((offset >> 3) | if more { 0x2000 } else { 0 }).to_be_bytes());
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&src.octets());
        h[16..20].copy_from_slice(&dst.octets());
        Ipv4Packet::new_unchecked(&mut h[..]).fill_checksum();
        f.extend(h);
    }
    f.extend(data);
    // Flip a byte now and then (headers included: checksums may break, as on the wire).
    if flags & 0x20 != 0 {
        let at = op[7] as usize % f.len();
        f[at] ^= op[6] | 1;
    }
    (port, f)
}

fuzz_target!(|data: &[u8]| {
    let mut p = pipeline();
    let mut out = Output::new(2, 2);
    let mut now = Time::from_secs(1);
    p.neigh_learned([198, 18, 0, 10].into(), PEER[0].0, 0, now, &mut out);
    p.neigh_learned([198, 19, 0, 11].into(), PEER[1].0, 1, now, &mut out);
    p.neigh6_learned("2001:db8:1::10".parse().unwrap(), PEER[0].0, 0, now, &mut out);
    p.neigh6_learned("2001:db8:2::11".parse().unwrap(), PEER[1].0, 1, now, &mut out);
    for op in data.chunks_exact(8) {
        if op[0] & 0x10 != 0 {
            now = Time(now.0 + (op[7] as u64) * 50_000_000);
        }
        let (port, f) = frame(op);
        p.handle(port, f, now, &mut VecAlloc, &mut out);
        p.poll(now, &mut VecAlloc, &mut out);
        for tx in out.tx.iter_mut() {
            for f in tx.drain(..) {
                let ip = &f[14..];
                match u16::from_be_bytes([f[12], f[13]]) {
                    0x0800 => assert!(Ipv4Packet::new_checked(ip).unwrap().verify_checksum()),
                    0x86dd => {
                        Ipv6Packet::new_checked(ip).unwrap();
                    }
                    0x0806 => {} // a flipped client address is resolved first
                    t => panic!("ethertype {t:#x} sent"),
                }
            }
        }
        out.redirect.iter_mut().for_each(Vec::clear);
    }
    // Past every entry's timeout nothing stays held: a first that never came is counted.
    let before = p.counters().drop_count(DropReason::FragmentTimeout);
    p.poll(Time(now.0 + 6_000_000_000), &mut VecAlloc, &mut out);
    let after = p.counters().drop_count(DropReason::FragmentTimeout);
    assert!(after >= before);
    let again = p.counters().drop_count(DropReason::FragmentTimeout);
    p.poll(Time(now.0 + 12_000_000_000), &mut VecAlloc, &mut out);
    assert_eq!(p.counters().drop_count(DropReason::FragmentTimeout), again, "nothing left held");
});
