//! rvs-flood: a DPDK flood generator for the flood bench (`bench/flood.sh`).
//!
//! It sends spoofed TCP SYNs, TCP ACKs (with random, hence forged, SYN-cookie numbers) or
//! UDP datagrams as fast as one core and its port allow (or at `--pps`), from random
//! source addresses in `--src-net` (or from `--sources N` fixed ones, each with random
//! ports), to `--dst IP:PORT` behind `--dst-mac`. Each frame has valid IP and transport
//! checksums, so the device under test spends on it what it spends on real traffic.
//! TCP segments carry the window `FLOOD_WINDOW` (7911), by which a capture at a real
//! server tells a flood SYN that got through from a legitimate one.
//!
//! ```text
//! rvs-flood --eal "--no-huge -m 256 --file-prefix fl --no-pci -l 0 --vdev net_af_packet0,iface=c0"
//!           --kind syn|ack|udp --dst 198.18.0.100:80 --dst-mac 02:..:.. [--src-net 198.18.64.0/18]
//!           [--sources N] [--seconds 10] [--pps 0] [--size 0]
//! ```
//!
//! Any DPDK port works (net_af_packet on a veth, net_memif, a real NIC); the first port is
//! used. At the end it prints one JSON line: frames offered and sent, the port's own
//! counters, and the rate.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rvs_dataplane::dpdk::{Eal, Mbuf, Mempool, Port, DEFAULT_DATA_ROOM, SOCKET_ANY};
use rvs_dataplane::testkit::eth_ip;
use rvs_dataplane::wire::tcp::{TcpFlags, TcpPacket};
use rvs_dataplane::wire::udp::UdpPacket;
use rvs_dataplane::wire::{IpProtocol, MacAddr};

/// The TCP window of every flood segment (a marker for captures).
const FLOOD_WINDOW: u16 = 7911;
const BURST: usize = 32;
const ETH: usize = 14;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syn,
    Ack,
    Udp,
}

struct Args {
    eal: Vec<String>,
    kind: Kind,
    dst: Ipv4Addr,
    dport: u16,
    dst_mac: MacAddr,
    src_mac: Option<MacAddr>,
    src_net: (u32, u32),
    sources: u32,
    seconds: f64,
    pps: u64,
    size: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!("rvs-flood: {msg}");
    eprintln!(
        "usage: rvs-flood --eal \"EAL ARGS\" --kind syn|ack|udp --dst IP:PORT --dst-mac MAC \
         [--src-mac MAC] [--src-net A.B.C.D/N] [--sources N] [--seconds S] [--pps N] [--size BYTES]"
    );
    std::process::exit(2)
}

fn mac(s: &str) -> MacAddr {
    let b: Vec<u8> = s.split(':').filter_map(|x| u8::from_str_radix(x, 16).ok()).collect();
    match <[u8; 6]>::try_from(b) {
        Ok(a) => MacAddr(a),
        Err(_) => usage(&format!("bad MAC {s:?}")),
    }
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).cloned();
    let num = |name: &str, default: &str| -> f64 {
        get(name).as_deref().unwrap_or(default).parse().unwrap_or_else(|_| usage(&format!("bad {name}")))
    };
    let kind = match get("--kind").as_deref() {
        Some("syn") => Kind::Syn,
        Some("ack") => Kind::Ack,
        Some("udp") => Kind::Udp,
        _ => usage("--kind syn|ack|udp"),
    };
    let dst = get("--dst").unwrap_or_else(|| usage("--dst IP:PORT"));
    let (ip, port) = dst.split_once(':').unwrap_or_else(|| usage("--dst IP:PORT"));
    let net = get("--src-net").unwrap_or_else(|| "198.18.64.0/18".into());
    let (a, len) = net.split_once('/').unwrap_or_else(|| usage("--src-net A.B.C.D/N"));
    let a: Ipv4Addr = a.parse().unwrap_or_else(|_| usage("--src-net A.B.C.D/N"));
    let len: u32 =
        len.parse().ok().filter(|l| (1..=32).contains(l)).unwrap_or_else(|| usage("--src-net A.B.C.D/N"));
    let mask = u32::MAX << (32 - len);
    Args {
        eal: get("--eal")
            .unwrap_or_else(|| usage("--eal \"EAL ARGS\""))
            .split_whitespace()
            .map(String::from)
            .collect(),
        kind,
        dst: ip.parse().unwrap_or_else(|_| usage("--dst IP:PORT")),
        dport: port.parse().unwrap_or_else(|_| usage("--dst IP:PORT")),
        dst_mac: mac(&get("--dst-mac").unwrap_or_else(|| usage("--dst-mac MAC"))),
        src_mac: get("--src-mac").map(|m| mac(&m)),
        src_net: (u32::from(a) & mask, !mask),
        sources: num("--sources", "0") as u32,
        seconds: num("--seconds", "10"),
        pps: num("--pps", "0") as u64,
        size: num("--size", "0") as usize,
    }
}

/// xorshift64*: fast, and good enough to spread sources and ports.
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Writes one flood frame into `b` (Ethernet, IPv4, TCP or UDP, checksums filled).
fn build(b: &mut [u8], a: &Args, src_mac: MacAddr, src: Ipv4Addr, sport: u16, r: u64) {
    b.fill(0);
    let proto = if a.kind == Kind::Udp { IpProtocol::UDP } else { IpProtocol::TCP };
    eth_ip(b, src_mac, a.dst_mac, src, a.dst, proto);
    let l4 = b.len() - ETH - 20;
    let seg = &mut b[ETH + 20..];
    if a.kind == Kind::Udp {
        let mut u = UdpPacket::new_unchecked(seg);
        u.set_src_port(sport);
        u.set_dst_port(a.dport);
        u.set_len(l4 as u16);
        u.fill_checksum(src, a.dst);
    } else {
        let mut t = TcpPacket::new_unchecked(seg);
        t.set_src_port(sport);
        t.set_dst_port(a.dport);
        t.set_header_len(20);
        t.set_seq_number((r >> 32) as u32);
        let flags = if a.kind == Kind::Syn {
            t.set_ack_number(0);
            TcpFlags::SYN
        } else {
            t.set_ack_number(r as u32);
            TcpFlags::ACK
        };
        t.set_flags(flags);
        t.set_window(FLOOD_WINDOW);
        t.fill_checksum(src, a.dst);
    }
}

fn main() {
    let a = parse_args();
    let _eal = Eal::init(&a.eal).unwrap_or_else(|e| usage(&format!("EAL: {e}")));
    if Port::count() == 0 {
        usage("no DPDK port (give a --vdev or an -a device in --eal)");
    }
    let port = Port::from_id(0).expect("port 0");
    let pool = Mempool::new("flood_pkt", 16383, 256, DEFAULT_DATA_ROOM, SOCKET_ANY).expect("mempool");
    port.configure(1, 1, 1024, 1024, &pool).expect("port configure");
    let src_mac = a.src_mac.unwrap_or(MacAddr(port.mac()));
    let l4 = if a.kind == Kind::Udp { 8 } else { 20 };
    let len = ETH + 20 + l4 + a.size; // NICs pad short frames on the wire

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let fixed: Vec<Ipv4Addr> =
        (0..a.sources).map(|_| Ipv4Addr::from(a.src_net.0 | (rng.next() as u32 & a.src_net.1))).collect();
    let mut batch: Vec<Mbuf> = Vec::with_capacity(BURST);
    let (mut offered, mut sent, mut no_mbuf) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.seconds);
    let before = port.stats().ok();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if a.pps > 0 {
            let due = (now - start).as_secs_f64() * a.pps as f64;
            if (offered as f64) >= due {
                std::hint::spin_loop();
                continue;
            }
        }
        if !pool.alloc_bulk(&mut batch, BURST) {
            no_mbuf += 1;
            continue;
        }
        for m in batch.iter_mut() {
            let r = rng.next();
            // Independent bits for the source (16-47 or 48-63) and the port (0-15).
            let src = if fixed.is_empty() {
                Ipv4Addr::from(a.src_net.0 | ((r >> 16) as u32 & a.src_net.1))
            } else {
                fixed[((r >> 48) % fixed.len() as u64) as usize]
            };
            let sport = 1024 + (r as u16 % 64_000);
            m.set_len(len);
            build(m.data_mut(), &a, src_mac, src, sport, rng.next());
        }
        offered += batch.len() as u64;
        sent += port.tx_burst(0, &mut batch) as u64;
        batch.clear(); // frees what the port did not take
    }
    let secs = start.elapsed().as_secs_f64();
    let after = port.stats().ok();
    let port_tx = match (before, after) {
        (Some(b), Some(a)) => serde_json::json!({
            "opackets": a.opackets.saturating_sub(b.opackets),
            "oerrors": a.oerrors.saturating_sub(b.oerrors),
        }),
        _ => serde_json::Value::Null,
    };
    let kind = match a.kind {
        Kind::Syn => "syn",
        Kind::Ack => "ack",
        Kind::Udp => "udp",
    };
    println!(
        "{}",
        serde_json::json!({
            "kind": kind,
            "seconds": secs,
            "frame_bytes": len,
            "offered": offered,
            "sent": sent,
            "sent_pps": (sent as f64 / secs).round(),
            "tx_full": offered - sent,
            "no_mbuf_rounds": no_mbuf,
            "port": port_tx,
            "sources": if a.sources == 0 { serde_json::json!("random") } else { serde_json::json!(a.sources) },
        })
    );
    let _ = port.stop();
}
