//! Golden tests, glb-director style: a pcap of frames goes in, the frames the pipeline
//! sends come out and must equal, byte for byte, a pcap kept under
//! `dataplane/tests/golden/`. Read them with `tshark -r FILE -V` to see what the
//! dataplane does on the wire.
//!
//! The ingress port of each input frame is told by its source MAC (the lab's client
//! MAC arrives on the client port, everything else on the server port). Each input
//! frame's pcap timestamp is the time handed to the pipeline.
//!
//! `RVS_BLESS=1 cargo test golden` rewrites inputs and expectations after an intended
//! change; review the diff with tshark before committing.

use std::path::PathBuf;
use std::time::Duration;

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::pcap::{read_all, PcapWriter};
use crate::wire::tcp::TcpFlags;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn bless() -> bool {
    std::env::var_os("RVS_BLESS").is_some()
}

fn write_pcap(path: &PathBuf, frames: &[(Duration, Vec<u8>)]) {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (t, f) in frames {
        w.write_packet(*t, f).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// Runs `name.in.pcap` through a 1-worker pipeline and compares with
/// `name.out-client.pcap` / `name.out-server.pcap`.
fn run_case(name: &str, make_input: impl Fn() -> Vec<(Duration, Vec<u8>)>) {
    run_case_with(name, || pipeline(0, 1), make_input)
}

/// `run_case` with the pipeline `make_pipeline` builds.
pub(super) fn run_case_with(
    name: &str,
    make_pipeline: impl Fn() -> Pipeline<Vec<u8>>,
    make_input: impl Fn() -> Vec<(Duration, Vec<u8>)>,
) {
    let input_path = dir().join(format!("{name}.in.pcap"));
    if bless() {
        std::fs::create_dir_all(dir()).unwrap();
        write_pcap(&input_path, &make_input());
    }
    let bytes = std::fs::read(&input_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with RVS_BLESS=1)", input_path.display()));
    // Frame by frame through `handle`, then in bursts through `handle_burst` (frames of
    // one port and one timestamp together): both must send the same bytes.
    let records = read_all(&bytes).unwrap();
    for burst in [false, true] {
        let mut p = make_pipeline();
        let mut out = Output::new(2, 1);
        let mut sent: [Vec<(Duration, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        let port_of =
            |d: &[u8]| if d.get(6..12) == Some(&CLIENT_MAC.0[..]) { CLIENT_PORT } else { SERVER_PORT };
        let mut i = 0;
        while i < records.len() {
            let rec = &records[i];
            let (port, ts) = (port_of(rec.data), rec.timestamp);
            let now = Time(ts.as_nanos() as u64);
            let mut frames = vec![rec.data.to_vec()];
            i += 1;
            if burst {
                while i < records.len() && port_of(records[i].data) == port && records[i].timestamp == ts {
                    frames.push(records[i].data.to_vec());
                    i += 1;
                }
                p.handle_burst(port, &mut frames, now, &mut VecAlloc, &mut out);
            } else {
                p.handle(port, frames.pop().unwrap(), now, &mut VecAlloc, &mut out);
            }
            p.poll(now, &mut VecAlloc, &mut out);
            for (i, tx) in out.tx.iter_mut().enumerate() {
                sent[i].extend(tx.drain(..).map(|f| (ts, f)));
            }
        }
        compare(name, &sent, burst);
    }
}

fn compare(name: &str, sent: &[Vec<(Duration, Vec<u8>)>; 2], burst: bool) {
    let name = if burst { format!("{name} (bursts)") } else { name.to_string() };
    for (i, side) in ["client", "server"].iter().enumerate() {
        let path = dir().join(format!("{}.out-{side}.pcap", name.trim_end_matches(" (bursts)")));
        if bless() {
            write_pcap(&path, &sent[i]);
            continue;
        }
        let want =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with RVS_BLESS=1)", path.display()));
        let want = read_all(&want).unwrap();
        assert_eq!(want.len(), sent[i].len(), "{name}: frame count out of the {side} port");
        for (n, (w, (_, got))) in want.iter().zip(&sent[i]).enumerate() {
            assert_eq!(w.data, &got[..], "{name}: frame {n} out of the {side} port differs");
        }
    }
}

pub(super) fn at(ms: u64) -> Duration {
    Duration::from_millis(1_700_000_000_000 + ms)
}

/// A whole HTTP-like TCP connection through FULLNAT, with ARP resolution of the real
/// server and of the client on the way.
#[test]
fn golden_fullnat_tcp_connection() {
    run_case("fullnat_tcp", || {
        let (c, v, rip, lip) = (ip("198.18.0.10"), ip("198.18.0.100"), ip("198.19.0.11"), ip("198.19.0.200"));
        // Worker 0 of 1 takes LIP .200 port 1025 first (see laddr).
        let lport = 1025;
        let mut arp_req = vec![0u8; 60];
        crate::wire::arp::build_request(&mut arp_req, CLIENT_MAC, c, v).unwrap();
        vec![
            (at(0), arp_req),
            (at(1), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::SYN, b"")),
            (at(2), arp_reply_frame(RS_MAC[0], rip, LB_S_MAC, ip("198.19.0.1"))),
            (at(3), tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, lip, lport, TcpFlags(0x12), b"")),
            (at(4), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags::ACK, b"")),
            (
                at(5),
                tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags(0x18), b"GET / HTTP/1.0\r\n\r\n"),
            ),
            (
                at(6),
                tcp_frame(
                    RS_MAC[0],
                    LB_S_MAC,
                    rip,
                    80,
                    lip,
                    lport,
                    TcpFlags(0x19),
                    b"HTTP/1.0 200 OK\r\n\r\nrs1\n",
                ),
            ),
            (at(7), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 43210, v, 80, TcpFlags(0x11), b"")),
            (at(8), tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, lip, lport, TcpFlags::ACK, b"")),
        ]
    });
}

/// UDP both ways, ICMP echo to the VIP, and frames that must be dropped in silence.
#[test]
fn golden_udp_icmp_and_drops() {
    run_case("udp_icmp_drops", || {
        let (c, v, rip, lip) = (ip("198.18.0.10"), ip("198.18.0.100"), ip("198.19.0.11"), ip("198.19.0.200"));
        let mut bad_csum = udp_frame(CLIENT_MAC, LB_C_MAC, c, 5001, v, 53, b"bad");
        let n = bad_csum.len();
        bad_csum[n - 1] ^= 0x55;
        vec![
            (at(0), arp_reply_frame(CLIENT_MAC, c, LB_C_MAC, ip("198.18.0.1"))),
            (at(1), arp_reply_frame(RS_MAC[0], rip, LB_S_MAC, ip("198.19.0.1"))),
            (at(2), udp_frame(CLIENT_MAC, LB_C_MAC, c, 5000, v, 53, b"query")),
            (at(3), udp_frame(RS_MAC[0], LB_S_MAC, rip, 5353, lip, 1025, b"answer")),
            (at(4), bad_csum),
            (at(5), tcp_frame(CLIENT_MAC, LB_C_MAC, c, 1, v, 81, TcpFlags::SYN, b"")),
            (at(6), {
                let mut f = udp_frame(CLIENT_MAC, LB_C_MAC, c, 5000, v, 53, b"ping");
                // Turn it into an ICMP echo request with a valid checksum.
                f[23] = 1;
                let total = f.len() - 14;
                let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
                ipp.fill_checksum();
                let mut icmp =
                    crate::wire::icmp::Icmpv4Packet::new_unchecked(&mut ipp.payload_mut()[..total - 20]);
                icmp.set_msg_type(8);
                icmp.set_code(0);
                icmp.fill_checksum();
                f
            }),
        ]
    });
}
