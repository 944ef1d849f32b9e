//! Session sync cost: a bulk sync of 1M sessions packed into 1500-MTU datagrams, sealed
//! (HMAC-SHA-256-128), then received (replay window, tag, parse of every record).
//!
//! Run: `cargo bench -p rvs-core --bench sync` (`-- --quick`: 100k sessions). Prints one
//! JSON object: the cost of one tag over a full datagram, ns per record to encode and to
//! decode + verify, bytes per session (sync payload, and on the wire with IPv4 + UDP
//! headers) and the 1M bulk time, for plain IPv4 sessions, SYN-proxied ones (translation
//! and PROXY options) and IPv6 ones. Each figure is the best of three runs.

use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use rvs_core::proxyproto::Version;
use rvs_core::session::{SessionState, PROTO_TCP};
use rvs_core::sync::{
    Body, ClusterKey, ConnRecord, Packer, ProxyState, Receiver, ReceiverConfig, Sender, SenderConfig,
    CONN_F_SYNPROXY, CONN_F_TOA,
};
use rvs_core::synproxy::{SeqDelta, Translation, WindowShift};
use rvs_core::time::Time;

#[derive(Clone, Copy)]
enum Mix {
    Ipv4,
    SynProxy,
    Ipv6,
}

fn record(i: u32, mix: Mix) -> ConnRecord {
    let b = i.to_be_bytes();
    let mut r = ConnRecord {
        proto: PROTO_TCP,
        state: SessionState::Established,
        client: SocketAddr::from(([10, b[1], b[2], b[3]], 1024 + (i % 60000) as u16)),
        virt: SocketAddr::from(([192, 0, 2, 1], 443)),
        local: SocketAddr::from(([198, 51, 100, 7], (i % 65536) as u16)),
        real: SocketAddr::from(([172, 16, 0, 1 + (i % 200) as u8], 8443)),
        timeout_ms: 900_000,
        flags: CONN_F_TOA,
        translation: None,
        proxy: None,
        persist: None,
    };
    match mix {
        Mix::Ipv4 => {}
        Mix::SynProxy => {
            r.flags |= CONN_F_SYNPROXY;
            r.translation = Some(Translation {
                client_seq: SeqDelta(0),
                server_seq: SeqDelta(i.wrapping_mul(2_654_435_761)),
                server_ts: SeqDelta(i),
                to_server_window: WindowShift { from: 7, to: 7 },
                to_client_window: WindowShift { from: 9, to: 7 },
            });
            r.proxy = Some(ProxyState { version: Version::V2, sent: true, client_isn: i });
        }
        Mix::Ipv6 => {
            let v6 = |last: u16, port: u16| {
                SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, last)),
                    port,
                )
            };
            r.client = v6(i as u16, r.client.port());
            r.virt = v6(1, 443);
            r.local = v6(7, r.local.port());
            r.real = v6(100 + (i % 200) as u16, 8443);
        }
    }
    r
}

struct Run {
    encode_ns: f64,
    decode_ns: f64,
    total_ms: f64,
    datagrams: usize,
    payload_per_session: f64,
    wire_per_session: f64,
}

fn run(n: u32, mix: Mix) -> Run {
    let key = ClusterKey::from_config("a long benchmark cluster passphrase").unwrap();
    let recs: Vec<ConnRecord> = (0..n).map(|i| record(i, mix)).collect();
    let mut packer = Packer::new(Sender::new(SenderConfig::new(51, 1, 1), &key).unwrap());
    let mut flat: Vec<u8> = Vec::with_capacity(n as usize * 100);
    let mut ends: Vec<usize> = Vec::with_capacity(n as usize / 10);

    let t0 = Instant::now();
    {
        let mut keep = |d: &[u8]| {
            flat.extend_from_slice(d);
            ends.push(flat.len());
        };
        for r in &recs {
            packer.push(black_box(r), &mut keep).unwrap();
        }
        packer.flush(&mut keep).unwrap();
    }
    let encode = t0.elapsed();

    let mut rx = Receiver::new(ReceiverConfig::new(51, 2), &key);
    let mut got = 0u64;
    let mut check = 0u64;
    let t1 = Instant::now();
    let mut start = 0;
    for &end in &ends {
        let m = rx.receive(&flat[start..end], Time::ZERO).expect("accepted");
        if let Body::Conns(c) = m.body {
            for r in c {
                got += 1;
                check = check.wrapping_add(r.local.port() as u64 + r.timeout_ms as u64);
            }
        }
        start = end;
    }
    let decode = t1.elapsed();
    black_box(check);
    assert_eq!(got, n as u64);
    let bytes = flat.len();
    Run {
        encode_ns: encode.as_nanos() as f64 / n as f64,
        decode_ns: decode.as_nanos() as f64 / n as f64,
        total_ms: (encode + decode).as_secs_f64() * 1e3,
        datagrams: ends.len(),
        payload_per_session: bytes as f64 / n as f64,
        wire_per_session: (bytes + ends.len() * 28) as f64 / n as f64,
    }
}

/// Runs per measurement; the fastest is reported.
const REPEAT: usize = 3;

/// ns to compute one tag over a full 1472-byte datagram.
fn tag_ns(iters: u32) -> f64 {
    let auth = ClusterKey::from_config("a long benchmark cluster passphrase").unwrap().authenticator();
    let mut msg = vec![0x5au8; 1472];
    let t = Instant::now();
    for i in 0..iters {
        msg[0] = i as u8;
        auth.seal(black_box(&mut msg));
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u32 = if quick { 100_000 } else { 1_000_000 };
    // Warm up (allocator, caches), then measure each mix.
    let _ = run(n / 10, Mix::Ipv4);
    let mut out = serde_json::Map::new();
    out.insert("sessions".into(), n.into());
    out.insert("mtu".into(), 1500.into());
    let t = (0..REPEAT).map(|_| tag_ns(if quick { 20_000 } else { 100_000 })).fold(f64::MAX, f64::min);
    out.insert("tag_ns_per_1472_byte_datagram".into(), ((t * 10.0).round() / 10.0).into());
    for (name, mix) in [("ipv4", Mix::Ipv4), ("synproxy_proxy", Mix::SynProxy), ("ipv6", Mix::Ipv6)] {
        // Best of three: the build machine is shared, the minimum is the least disturbed.
        let r = (0..REPEAT).map(|_| run(n, mix)).min_by(|a, b| a.total_ms.total_cmp(&b.total_ms)).unwrap();
        let round = |x: f64| (x * 100.0).round() / 100.0;
        out.insert(
            name.into(),
            serde_json::json!({
                "encode_ns_per_record": round(r.encode_ns),
                "decode_verify_ns_per_record": round(r.decode_ns),
                "bulk_ms": round(r.total_ms),
                "datagrams": r.datagrams,
                "payload_bytes_per_session": round(r.payload_per_session),
                "wire_bytes_per_session": round(r.wire_per_session),
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(out)).unwrap());
}
