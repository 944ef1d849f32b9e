//! Pipeline tests of what sessions add to the client's stream: MSS and MTU (the split of a
//! segment that outgrows the egress port), the PROXY header on its own for
//! server-speaks-first protocols, and persistent clients of a quiescent server.

use super::tests::extensions::{client, open_proxied, server, tcp_view, with_options, SYN_OPTS};
use super::tests::{
    config, edit_registry, endpoints, ip, open, persistent_tcp_spec, tcp_key, tcp_real, Harness,
};
use super::tests::{CLIENT_PORT, SERVER_PORT};
use super::*;
use crate::frame::VecAlloc;
use crate::stats::Event;
use crate::wire::tcp::{TcpFlags, TcpOption};
use std::time::Duration;

fn mss_of(f: &[u8]) -> Option<u16> {
    tcp_view(f).iter_options().find_map(|o| if let TcpOption::Mss(m) = o { Some(m) } else { None })
}

fn ip_len(f: &[u8]) -> usize {
    Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap().total_len() as usize
}

/// A harness whose port towards the real servers has `mtu`.
fn harness_with_server_mtu(mtu: u16) -> Harness {
    let mut cfg = config(0, 1);
    cfg.ports[SERVER_PORT as usize].mtu = mtu;
    Harness::with_config(cfg)
}

/// Client SYN, server SYN/ACK (with `server_opts`), back to the client. Returns the real
/// server, the local port and the SYN/ACK the client got.
fn handshake(h: &mut Harness, isn: u32, sisn: u32, server_opts: &[u8]) -> (Ipv4Addr, u16, Vec<u8>) {
    h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &SYN_OPTS, b""));
    let syn = h.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
    let (_, _, _, lport, rip, _) = endpoints(&syn);
    h.rx(SERVER_PORT, server(rip, lport, sisn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, server_opts, b""));
    let synack = h.take_tx(CLIENT_PORT).pop().expect("SYN/ACK to the client");
    (rip, lport, synack)
}

/// MSS option bytes of `mss`.
fn mss_opt(mss: u16) -> [u8; 4] {
    let b = mss.to_be_bytes();
    [2, 4, b[0], b[1]]
}

/// Without SYN proxy, the server's SYN/ACK tells the client an MSS that leaves room for
/// all the session adds (TOA and PROXY v2: 8 + 28 bytes, their sum), and never more than
/// the egress MTU allows (a jumbo-frame server's 8960 is cut to what 1500 carries).
#[test]
fn server_mss_is_clamped_for_toa_plus_proxy_and_the_egress_mtu() {
    for (toa, pp, server_mss, want) in [
        (true, Some(2u8), 1460u16, 1460 - 8 - 28),
        (true, None, 1460, 1452),
        (false, Some(2), 1460, 1432),
        (true, Some(2), 8960, 1460 - 36),
        (true, Some(2), 1000, 1000 - 36),
    ] {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| {
            o.toa = toa;
            o.proxy_protocol = pp;
        });
        let (_, _, synack) = handshake(&mut h, 1000, 5000, &mss_opt(server_mss));
        endpoints(&synack);
        assert_eq!(mss_of(&synack), Some(want), "toa {toa} proxy {pp:?} server mss {server_mss}");
    }
}

/// A client that sends a full 1500-byte segment as its first data anyway (it ignored the
/// MSS, or its path MTU is larger than ours): the PROXY header and TOA would make it 1536
/// bytes. It leaves as two segments, each within the MTU, that carry the header and every
/// byte in order; the server's acknowledgement of both maps back to the client's bytes.
#[test]
fn a_segment_outgrowing_the_mtu_is_split_in_two() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| {
        o.toa = true;
        o.proxy_protocol = Some(2);
    });
    let (rip, lport, _) = handshake(&mut h, 1000, 5000, &SYN_OPTS);
    let data: Vec<u8> = (0..1460u32).map(|i| (i * 7) as u8).collect();
    // The first segment after the handshake: data, so TOA and the header both go in.
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], &data));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 2, "split in two");
    let mut stream = Vec::new();
    let mut next = 1001;
    for f in &tx {
        endpoints(f); // checksums
        assert!(ip_len(f) <= 1500, "{} bytes over the MTU", ip_len(f));
        let t = tcp_view(f);
        assert_eq!(t.seq_number(), next, "contiguous");
        next += t.payload().len() as u32;
        stream.extend_from_slice(t.payload());
    }
    assert!(crate::toa::find(tcp_view(&tx[0]).options()).is_some(), "TOA in the first part");
    assert!(crate::toa::find(tcp_view(&tx[1]).options()).is_none());
    assert!(!tcp_view(&tx[0]).flags().contains(TcpFlags::PSH));
    assert!(tcp_view(&tx[1]).flags().contains(TcpFlags::PSH), "PSH on the last part");
    let hdr = crate::proxyproto::parse(&stream).unwrap();
    assert_eq!(hdr.addrs.unwrap().0, "198.18.0.10:40000".parse().unwrap());
    assert_eq!(&stream[hdr.len..], &data[..], "every byte, in order");
    assert_eq!(h.p.counters().event_count(Event::SegmentSplit), 1);
    // The server acknowledges all of it; the client sees its own 1460 bytes acknowledged.
    h.rx(SERVER_PORT, server(rip, lport, 5001, next, TcpFlags::ACK, &[], b""));
    assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).ack_number(), 1001 + 1460);
    // A retransmission of the first segment gets the header again and is split again
    // (at another point: TOA went only into the first), the same bytes at the same place.
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], &data));
    let again = h.take_tx(SERVER_PORT);
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|f| ip_len(f) <= 1500));
    assert_eq!(tcp_view(&again[0]).seq_number(), 1001);
    let resent: Vec<u8> = again.iter().flat_map(|f| tcp_view(f).payload().to_vec()).collect();
    assert_eq!(resent, stream);
}

/// The egress MTU is the port's own: a 1400-byte port towards the servers splits a
/// first segment that the PROXY header grows past 1400.
#[test]
fn the_egress_ports_mtu_decides_the_split() {
    let mut h = harness_with_server_mtu(1400);
    h.resolve_all();
    with_options(&mut h, |o| o.proxy_protocol = Some(1));
    let (_, _, synack) = handshake(&mut h, 1000, 5000, &SYN_OPTS);
    let hdr_len = 46; // v1, TCP4, these addresses
    assert_eq!(mss_of(&synack), Some(1400 - 40 - hdr_len), "the MSS fits the smaller port");
    let data = vec![b'x'; 1380];
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
    h.take_tx(SERVER_PORT);
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], &data));
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 2);
    assert!(tx.iter().all(|f| ip_len(f) <= 1400));
    let total: usize = tx.iter().map(|f| tcp_view(f).payload().len()).sum();
    assert_eq!(total, 1380 + hdr_len as usize);
}

/// `proxy_protocol_send = "on-connect"`: the header goes to the server as a segment of its
/// own right after the handshake (the next poll), before the client says anything; the
/// banner reaches the client with its acknowledgement mapped back; the client's first
/// bytes follow the header without a second one; an unacknowledged header is resent.
#[test]
fn proxy_header_on_connect_goes_alone_and_is_resent_until_acknowledged() {
    for version in [1u8, 2] {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| {
            o.proxy_protocol = Some(version);
            o.proxy_on_connect = true;
            o.toa = true;
        });
        let (rip, lport, _) = handshake(&mut h, 1000, 5000, &SYN_OPTS);
        h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
        let ack = h.take_tx(SERVER_PORT);
        assert_eq!(ack.len(), 1, "the ACK first");
        assert!(tcp_view(&ack[0]).payload().is_empty());
        assert!(crate::toa::find(tcp_view(&ack[0]).options()).is_some(), "TOA in the handshake's ACK");
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tx.len(), 1, "then the header");
        let (_, _, src, sport, dst, dport) = endpoints(&tx[0]);
        assert_eq!((src, sport, dst, dport), (ip("198.19.0.200"), lport, rip, 80));
        let t = tcp_view(&tx[0]);
        assert_eq!((t.seq_number(), t.ack_number()), (1001, 5001));
        let hdr = crate::proxyproto::parse(t.payload()).unwrap();
        assert_eq!(hdr.len, t.payload().len(), "nothing but the header");
        assert_eq!(hdr.addrs.unwrap().0, "198.18.0.10:40000".parse().unwrap());
        let n = hdr.len as u32;
        let first = tx[0].clone();
        // Not acknowledged within a second: sent again, the same bytes.
        h.now = h.now + Duration::from_millis(1100);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        let again = h.take_tx(SERVER_PORT);
        assert_eq!(again.len(), 1);
        assert_eq!(tcp_view(&again[0]).payload(), tcp_view(&first).payload());
        assert_eq!(h.p.counters().event_count(Event::ProxyHeaderResent), 1);
        // The server's banner acknowledges the header: the client sees ack 1001.
        h.rx(
            SERVER_PORT,
            server(rip, lport, 5001, 1001 + n, TcpFlags::ACK | TcpFlags::PSH, &[], b"220 hi\r\n"),
        );
        let banner = h.take_tx(CLIENT_PORT);
        assert_eq!(tcp_view(&banner[0]).payload(), b"220 hi\r\n");
        assert_eq!(tcp_view(&banner[0]).ack_number(), 1001);
        h.now = h.now + Duration::from_secs(5);
        h.p.poll(h.now, &mut VecAlloc, &mut h.out);
        assert!(h.take_tx(SERVER_PORT).is_empty(), "acknowledged: not sent again");
        // The client's first bytes: shifted by the header, no second header.
        h.rx(CLIENT_PORT, client(1001, 5009, TcpFlags::ACK | TcpFlags::PSH, &[], b"EHLO x\r\n"));
        let tx = h.take_tx(SERVER_PORT);
        assert_eq!(tcp_view(&tx[0]).seq_number(), 1001 + n);
        assert_eq!(tcp_view(&tx[0]).payload(), b"EHLO x\r\n");
        assert_eq!(h.p.counters().event_count(Event::ProxyHeaderAlone), 1);
    }
}

/// Without on-connect, a server that speaks first (its data arrives before the client
/// sent any) has the header sent on its own at once: the banner still reaches the client.
#[test]
fn proxy_header_goes_alone_when_the_server_speaks_first() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| o.proxy_protocol = Some(2));
    let (rip, lport, _) = handshake(&mut h, 1000, 5000, &SYN_OPTS);
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    assert!(h.take_tx(SERVER_PORT).is_empty(), "the header waits for the client's data");
    h.rx(SERVER_PORT, server(rip, lport, 5001, 1001, TcpFlags::ACK | TcpFlags::PSH, &[], b"SSH-2.0-x\r\n"));
    assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).payload(), b"SSH-2.0-x\r\n");
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1, "the header, on its own");
    let t = tcp_view(&tx[0]);
    assert_eq!(t.seq_number(), 1001);
    let hdr = crate::proxyproto::parse(t.payload()).unwrap();
    assert_eq!(hdr.len, 28);
    h.rx(CLIENT_PORT, client(1001, 5012, TcpFlags::ACK | TcpFlags::PSH, &[], b"SSH-2.0-c\r\n"));
    let t = h.take_tx(SERVER_PORT);
    assert_eq!(tcp_view(&t[0]).seq_number(), 1001 + 28);
    assert_eq!(tcp_view(&t[0]).payload(), b"SSH-2.0-c\r\n");
}

/// SYN proxy + on-connect: the header follows the released opening ACK, in the server's
/// sequence space (its acknowledgement number is the server's ISN + 1, not the cookie's).
#[test]
fn proxy_header_on_connect_behind_the_syn_proxy() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| {
        o.syn_proxy = true;
        o.proxy_protocol = Some(1);
        o.proxy_on_connect = true;
    });
    let isn = 0x5000_0000u32;
    open_proxied(&mut h, isn);
    let ssyn = h.take_tx(SERVER_PORT).pop().unwrap();
    let (_, _, _, lport, rip, _) = endpoints(&ssyn);
    let sisn = 0x9000_0000u32;
    h.rx(SERVER_PORT, server(rip, lport, sisn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "the held ACK");
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    let tx = h.take_tx(SERVER_PORT);
    assert_eq!(tx.len(), 1);
    endpoints(&tx[0]);
    let t = tcp_view(&tx[0]);
    assert_eq!((t.seq_number(), t.ack_number()), (isn + 1, sisn + 1));
    assert!(t.payload().starts_with(b"PROXY TCP4 198.18.0.10 198.18.0.100 40000 80\r\n"));
}

/// `expire_quiescent_template`: a persistent client of a server set to weight 0 is placed
/// on another server at its next connection; without it, it stays (IPVS's default).
#[test]
fn expire_quiescent_template_moves_returning_clients_of_a_weight_0_server() {
    for expire in [false, true] {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        let spec = |weight_11: Option<u32>| {
            move |r: &mut crate::service::Registry| {
                let mut spec = persistent_tcp_spec();
                spec.options.expire_quiescent_template = expire;
                r.edit_service(spec).unwrap();
                for i in 11..=13 {
                    let weight = if i == 11 { weight_11.unwrap_or(1) } else { 1 };
                    r.edit_real(&tcp_key(), tcp_real(i, weight)).unwrap();
                }
            }
        };
        h.p.set_snapshot(edit_registry(spec(None)));
        // Find a client that lands on rs1 (198.19.0.11).
        let c = (10..30)
            .map(|n| format!("198.18.0.{n}"))
            .find(|c| open(&mut h, c, 1000) == Some(ip("198.19.0.11")))
            .expect("some client on rs1");
        assert_eq!(open(&mut h, &c, 1001), Some(ip("198.19.0.11")), "persistent");
        h.p.set_snapshot(edit_registry(spec(Some(0))));
        let next: Vec<_> = (2000..2010).map(|p| open(&mut h, &c, p)).collect();
        if expire {
            assert!(next.iter().all(|r| r.is_some() && *r != Some(ip("198.19.0.11"))), "{next:?}");
            assert!(next.windows(2).all(|w| w[0] == w[1]), "pinned to its new server: {next:?}");
        } else {
            assert!(next.iter().all(|r| *r == Some(ip("198.19.0.11"))), "stays without the flag");
        }
    }
}
