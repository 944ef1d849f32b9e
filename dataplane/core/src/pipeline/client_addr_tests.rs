//! Telling the real server the client's address: TOA in the first ACK (and the server's
//! MSS leaving room for it), the PROXY header in front of the client's first byte with
//! sequences shifted after it, and both ends of a PROXY-protocol session reset with the
//! server's sequence numbers when its server is removed (`expire_nodest_conn`).

use super::tests::extensions::{client, server, tcp_view, with_options, SYN_OPTS};
use super::tests::*;
use crate::stats::Event;
use crate::wire::tcp::{TcpFlags, TcpOption};
use rvs_proto::ServiceSpec;

/// expire_nodest_conn on a PROXY-protocol session: the RST to the server carries the
/// sequence number the server expects (shifted by the header it was sent), so both
/// ends are reset, not only the sender.
#[test]
fn expire_nodest_resets_both_ends_of_a_proxy_protocol_session() {
    let mut cfg = config(0, 1);
    cfg.expire_nodest_conn = true;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    with_options(&mut h, |o| o.proxy_protocol = Some(2));
    let isn = 0x3000_0000u32;
    h.rx(CLIENT_PORT, client(isn, 0, TcpFlags::SYN, &[], b""));
    let syn = h.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
    let (_, _, _, lport, rip, _) = endpoints(&syn);
    let sisn = 0x7000_0000u32;
    h.rx(SERVER_PORT, server(rip, lport, sisn, isn + 1, TcpFlags::SYN | TcpFlags::ACK, &[], b""));
    h.rx(CLIENT_PORT, client(isn + 1, sisn + 1, TcpFlags::ACK, &[], b""));
    h.rx(CLIENT_PORT, client(isn + 1, sisn + 1, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET"));
    let sent = h.take_tx(SERVER_PORT);
    let first = tcp_view(sent.last().unwrap());
    let header = first.payload().len() - 3;
    assert_eq!(header, 28, "a v2 header for IPv4");
    h.take_tx(CLIENT_PORT);
    h.p.set_snapshot(edit_registry(|r| {
        let spec = ServiceSpec {
            key: tcp_key(),
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            options: rvs_proto::ServiceOptions { proxy_protocol: Some(2), ..Default::default() },
        };
        r.edit_service(spec).unwrap();
        r.del_real(&tcp_key(), std::net::SocketAddr::new(rip.into(), 80)).unwrap();
    }));
    h.rx(CLIENT_PORT, client(isn + 4, sisn + 1, TcpFlags::ACK | TcpFlags::PSH, &[], b"more"));
    let to_server = h.take_tx(SERVER_PORT);
    assert_eq!(to_server.len(), 1, "the server is reset too");
    let rst = tcp_view(&to_server[0]);
    assert!(rst.flags().contains(TcpFlags::RST));
    assert_eq!(rst.seq_number(), isn + 4 + header as u32, "in the server's sequence space");
    let (_, _, src, sport, dst, _) = endpoints(&to_server[0]);
    assert_eq!((src, sport, dst), (ip("198.19.0.200"), lport, rip));
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "and the client");
}

#[test]
fn toa_goes_into_the_first_ack_and_the_server_mss_leaves_room() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    with_options(&mut h, |o| o.toa = true);
    h.rx(CLIENT_PORT, client(1000, 0, TcpFlags::SYN, &SYN_OPTS, b""));
    let tx = h.take_tx(SERVER_PORT);
    let (_, _, _, lport, rip, _) = endpoints(&tx[0]);
    assert!(crate::toa::find(tcp_view(&tx[0]).options()).is_none(), "not in the SYN");
    h.rx(SERVER_PORT, server(rip, lport, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
    let tx = h.take_tx(CLIENT_PORT);
    let mss =
        tcp_view(&tx[0]).iter_options().find_map(|o| if let TcpOption::Mss(m) = o { Some(m) } else { None });
    assert_eq!(mss, Some(1460 - 8));
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
    let tx = h.take_tx(SERVER_PORT);
    endpoints(&tx[0]); // checksums verified there
    let toa = crate::toa::find(tcp_view(&tx[0]).options());
    assert_eq!(toa, Some("198.18.0.10:40000".parse().unwrap()));
    // Only the first one.
    h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET"));
    let tx = h.take_tx(SERVER_PORT);
    assert!(crate::toa::find(tcp_view(&tx[0]).options()).is_none());
    assert_eq!(h.p.counters().event_count(Event::ToaInserted), 1);
}

#[test]
fn proxy_protocol_header_precedes_the_first_byte_and_sequences_follow() {
    for version in [1u8, 2] {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        with_options(&mut h, |o| o.proxy_protocol = Some(version));
        h.rx(CLIENT_PORT, client(1000, 0, TcpFlags::SYN, &SYN_OPTS, b""));
        let tx = h.take_tx(SERVER_PORT);
        let (_, _, _, lport, rip, _) = endpoints(&tx[0]);
        assert_eq!(tcp_view(&tx[0]).seq_number(), 1000, "the SYN is not shifted");
        h.rx(SERVER_PORT, server(rip, lport, 5000, 1001, TcpFlags::SYN | TcpFlags::ACK, &SYN_OPTS, b""));
        assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).ack_number(), 1001);
        h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK, &[], b""));
        h.take_tx(SERVER_PORT);
        h.rx(CLIENT_PORT, client(1001, 5001, TcpFlags::ACK | TcpFlags::PSH, &[], b"GET /"));
        let tx = h.take_tx(SERVER_PORT);
        endpoints(&tx[0]);
        let seg = tcp_view(&tx[0]);
        assert_eq!(seg.seq_number(), 1001, "the header sits at the client's first byte");
        let hdr = crate::proxyproto::parse(seg.payload()).unwrap();
        assert_eq!(
            hdr.addrs,
            Some(("198.18.0.10:40000".parse().unwrap(), "198.18.0.100:80".parse().unwrap()))
        );
        assert_eq!(&seg.payload()[hdr.len..], b"GET /");
        let n = hdr.len as u32;
        // The server acknowledges header + request; the client sees only its bytes.
        h.rx(SERVER_PORT, server(rip, lport, 5001, 1006 + n, TcpFlags::ACK, &[], b""));
        assert_eq!(tcp_view(&h.take_tx(CLIENT_PORT)[0]).ack_number(), 1006);
        // The client's next segment is shifted by the header length.
        h.rx(CLIENT_PORT, client(1006, 5001, TcpFlags::ACK | TcpFlags::FIN, &[], b""));
        assert_eq!(tcp_view(&h.take_tx(SERVER_PORT)[0]).seq_number(), 1006 + n);
    }
}
