//! ECMP cluster sync at scale (issue 11, must-show 6): what the full-mesh sync of new
//! connections costs on the wire and on a receiving member.
//!
//! Run: `cargo bench -p rvs-core --bench cluster_sync` (`-- --conns N`, default 100000;
//! `bench/cluster-sync.sh` runs it and keeps the JSON). Each connection is a short HTTP
//! exchange through a cluster member's pipeline (member 1 of 4 port slices, Maglev
//! placement, `[sync]` defaults): client SYN, server SYN/ACK, client ACK, request, response,
//! client FIN, server FIN, client ACK. Every record the pipeline produces (ESTABLISHED at
//! the third client packet, FIN_WAIT and the closing states at once) is packed and sealed
//! into 1500-MTU datagrams as the sync thread does. Reported per 100k new connections/s:
//! records, datagrams and bytes per second a member sends (multicast: once for all
//! members; unicast peers: once per peer). On the receiving side, per record: the
//! `Receiver` (replay window, HMAC) and `Pipeline::install_synced` on another member's
//! pipeline, i.e. the receiver's CPU per synced session. Prints one JSON object.

use std::sync::Arc;
use std::time::Instant;

use rvs_core::frame::VecAlloc;
use rvs_core::pipeline::{Output, Pipeline};
use rvs_core::service::ClusterPlacement;
use rvs_core::stats::WorkerCounters;
use rvs_core::sync::{Body, ClusterKey, Packer, Receiver, ReceiverConfig, Sender, SenderConfig, SyncParams};
use rvs_core::testkit::*;
use rvs_core::time::Time;
use rvs_core::wire::tcp::TcpFlags;
use serde_json::json;

const SLICES: u16 = 4;

fn member(index: u16, max: usize, now: Time, out: &mut Output<Vec<u8>>) -> Pipeline<Vec<u8>> {
    let lips = max / PORTS_PER_LIP * SLICES as usize + 1;
    let mut reg = registry(lips);
    reg.set_cluster(Some(ClusterPlacement { maglev: true, own_lips: vec![] }));
    let counters = Arc::new(WorkerCounters::new(16, 64));
    let mut p = Pipeline::new(config(max, LB_C_MAC, LB_S_MAC), Arc::new(reg.snapshot()), counters, now);
    p.set_member_slice(index, SLICES);
    p.handle(CLIENT_PORT, arp_reply(ROUTER_MAC, ROUTER_IP, LB_C_MAC, LB_C_IP), now, &mut VecAlloc, out);
    for (mac, ip) in RS_MAC.iter().zip(RS_IP) {
        p.handle(SERVER_PORT, arp_reply(*mac, ip, LB_S_MAC, LB_S_IP), now, &mut VecAlloc, out);
    }
    out.learned.clear();
    p.enable_sync(SyncParams::default(), now);
    p
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conns = args
        .iter()
        .position(|a| a == "--conns")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000usize);
    let now = Time::from_secs(10);
    let key = ClusterKey::from_config("cluster-sync bench passphrase, not a secret").expect("key");
    let mut out = Output::new(2, 1);
    let mut m1 = member(0, conns + 1024, now, &mut out);
    let mut packer = Packer::new(Sender::new(SenderConfig::new(11, 1, 1), &key).expect("sender"));
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let mut records = 0u64;
    let mut b = Vec::with_capacity(256);
    let t0 = Instant::now();
    for i in 0..conns as u64 {
        let (cip, cport) = client(i);
        let mut c = |flags: TcpFlags, len: usize, p: &mut Pipeline<Vec<u8>>, out: &mut Output<Vec<u8>>| {
            tcp_frame_into(&mut b, ROUTER_MAC, LB_C_MAC, cip, cport, VIP, 80, flags, len);
            p.handle(CLIENT_PORT, b.clone(), now, &mut VecAlloc, out);
        };
        c(TcpFlags::SYN, 0, &mut m1, &mut out);
        let syn = out.tx[SERVER_PORT as usize].pop().expect("the SYN went to a real server");
        let (lip, lport, rip, rport) = endpoints(&syn);
        let mac = RS_MAC[RS_IP.iter().position(|r| *r == rip).expect("a real server")];
        let s = |flags: TcpFlags, len: usize, p: &mut Pipeline<Vec<u8>>, out: &mut Output<Vec<u8>>| {
            let mut f = Vec::with_capacity(256);
            tcp_frame_into(&mut f, mac, LB_S_MAC, rip, rport, lip, lport, flags, len);
            p.handle(SERVER_PORT, f, now, &mut VecAlloc, out);
        };
        s(TcpFlags(0x12), 0, &mut m1, &mut out);
        c(TcpFlags::ACK, 0, &mut m1, &mut out);
        c(TcpFlags(0x18), 100, &mut m1, &mut out);
        s(TcpFlags(0x18), 500, &mut m1, &mut out);
        c(TcpFlags(0x11), 0, &mut m1, &mut out);
        s(TcpFlags(0x11), 0, &mut m1, &mut out);
        c(TcpFlags::ACK, 0, &mut m1, &mut out);
        for t in &mut out.tx {
            t.clear();
        }
        for r in out.synced.drain(..) {
            records += 1;
            packer.push(&r, |d| datagrams.push(d.to_vec())).expect("push");
        }
    }
    packer.flush(|d| datagrams.push(d.to_vec())).expect("flush");
    let sender_ns = t0.elapsed().as_nanos() as f64 / conns as f64;
    let (msgs, recs, bytes) = packer.sent();
    assert_eq!(recs, records);

    // The receiving member: verify, parse, install.
    let mut out2 = Output::new(2, 1);
    let mut m2 = member(1, conns + 1024, now, &mut out2);
    let mut rx = Receiver::new(ReceiverConfig::new(11, 2), &key);
    let (mut installed, mut failed) = (0u64, 0u64);
    let t0 = Instant::now();
    for d in &datagrams {
        let msg = rx.receive(d, now).expect("an authentic datagram");
        if let Body::Conns(cs) = msg.body {
            for rec in cs {
                match m2.install_synced(&rec, now) {
                    Ok(_) => installed += 1,
                    Err(_) => failed += 1,
                }
            }
        }
    }
    let rx_ns_per_record = t0.elapsed().as_nanos() as f64 / records as f64;
    let per_conn = |x: u64| x as f64 / conns as f64;
    let rate = 100_000.0;
    println!(
        "{}",
        json!({
            "conns": conns,
            "exchange": "SYN, SYN/ACK, ACK, request, response, FIN, FIN, ACK; sync_threshold 3, sync_period 50",
            "records_per_conn": per_conn(records),
            "datagrams_per_conn": per_conn(msgs),
            "bytes_per_conn_payload": per_conn(bytes),
            "per_100k_new_conns_per_s": {
                "records_per_s": per_conn(records) * rate,
                "datagrams_per_s": per_conn(msgs) * rate,
                "bytes_per_s_payload": per_conn(bytes) * rate,
                "bytes_per_s_with_ip_udp": (per_conn(bytes) + per_conn(msgs) * 28.0) * rate,
                "note": "sent once with multicast; once per peer with unicast peers",
            },
            "sender_ns_per_conn_pipeline_and_packing": sender_ns,
            "receiver_ns_per_record_verify_parse_install": rx_ns_per_record,
            "receiver_ns_per_session": rx_ns_per_record * per_conn(records),
            "receiver_cpu_share_at_100k_conns_per_s": rx_ns_per_record * per_conn(records) * rate / 1e9,
            "installed_or_refreshed": installed,
            "install_failed": failed,
        })
    );
}
