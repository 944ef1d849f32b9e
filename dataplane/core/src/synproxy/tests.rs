//! The SYN-proxy handshake end to end: client SYN → cookie SYN/ACK → client ACK → server SYN →
//! server SYN/ACK → translated connection.

use std::net::SocketAddrV4;

use proptest::prelude::*;

use super::cookie::{decode_ts_options, SecretKey, TsOptions};
use super::handshake::*;
use super::seq::{SeqDelta, WindowShift};
use super::testutil::{assert_checksums, build, tcp, tcp_mut, tcp_opts, Seg, LINUX_SYN_OPTS};
use super::CookieSecrets;
use crate::time::Time;
use crate::wire::tcp::{TcpFlags, TcpOption};

fn secrets() -> CookieSecrets {
    CookieSecrets::new(SecretKey::from_bytes(*b"0123456789abcdef"))
}

fn options(b: &[u8]) -> Vec<TcpOption<'_>> {
    tcp_opts(b)
}

fn lip() -> SocketAddrV4 {
    "198.19.0.200:1025".parse().unwrap()
}

fn rip() -> SocketAddrV4 {
    "198.19.0.11:8080".parse().unwrap()
}

/// A client SYN with `opts` in a buffer with room for the reply.
fn syn(isn: u32, opts: &[u8], flags: TcpFlags) -> Vec<u8> {
    build(&Seg { seq: isn, opts, flags, ..Seg::default() }, 40)
}

/// The client's ACK of our SYN/ACK in `synack`.
fn client_ack(synack: &[u8], tsval: Option<u32>, payload: &[u8], window: u16) -> Vec<u8> {
    let t = tcp(synack);
    let mut opts = Vec::new();
    if let Some(v) = tsval {
        let ecr = t.iter_options().find_map(|o| match o {
            TcpOption::Timestamps(v, _) => Some(v),
            _ => None,
        });
        opts.extend_from_slice(&[1, 1, 8, 10]);
        opts.extend_from_slice(&v.to_be_bytes());
        opts.extend_from_slice(&ecr.unwrap_or(0).to_be_bytes());
    }
    build(
        &Seg {
            seq: t.ack_number(),
            ack: t.seq_number().wrapping_add(1),
            flags: TcpFlags::ACK,
            window,
            opts: &opts,
            payload,
            ..Seg::default()
        },
        64,
    )
}

/// The server's SYN/ACK to our SYN in `server_syn`.
fn server_synack(server_syn: &[u8], isn: u32, opts: &[u8]) -> Vec<u8> {
    let t = tcp(server_syn);
    build(
        &Seg {
            src: *rip().ip(),
            dst: *lip().ip(),
            sport: rip().port(),
            dport: lip().port(),
            seq: isn,
            ack: t.seq_number().wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65160,
            opts,
            ..Seg::default()
        },
        0,
    )
}

#[test]
fn linux_client_full_handshake() {
    let cfg = SynProxyConfig::default();
    let s = secrets();
    let t0 = Time::from_secs(100_000);
    let isn = 0x1a2b3c4d;

    // 1. SYN -> SYN/ACK in place.
    let mut b = syn(isn, &LINUX_SYN_OPTS, TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, t0).unwrap();
    assert_eq!(n, 60);
    let synack = b[..n].to_vec();
    assert_checksums(&synack);
    let sa = tcp(&synack);
    assert_eq!((sa.src_port(), sa.dst_port()), (80, 54321));
    assert_eq!(sa.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa.ack_number(), isn + 1);
    assert_eq!(sa.window(), 65535);
    let cookie = sa.seq_number();
    let o = options(&synack);
    let TcpOption::Timestamps(our_ts, ecr) = o[2] else { panic!("{o:?}") };
    assert_eq!(ecr, 0x009a8b7c);
    assert_eq!(
        o,
        [
            TcpOption::Mss(1452),
            TcpOption::SackPermitted,
            TcpOption::Timestamps(our_ts, ecr),
            TcpOption::NoOp,
            TcpOption::WindowScale(7)
        ]
    );
    assert_eq!(decode_ts_options(our_ts), Ok(TsOptions { wscale: Some(7), sack: true, ecn: false }));
    assert!(our_ts <= ts_clock(t0) && ts_clock(t0) - our_ts < 64);
    {
        let ip = crate::wire::ipv4::Ipv4Packet::new_checked(&synack[..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.ttl()),
            ("10.0.0.1".parse().unwrap(), "192.168.1.10".parse().unwrap(), 64)
        );
        assert!(ip.dont_frag());
    }

    // 2. The client's ACK, 30 s later, with data.
    let ack = client_ack(&synack, Some(0x009a_9000), b"GET", 502);
    let v = validate_ack(&ack, &cfg, &s, t0 + std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(v.tuple.sport, 54321);
    assert_eq!(
        v.state,
        SynProxyState {
            client_isn: isn,
            cookie_isn: cookie,
            our_tsval: Some(our_ts),
            mss: 1460,
            client_wscale: Some(7),
            our_wscale: Some(7),
            sack: true,
            ecn: false,
        }
    );
    assert_eq!(v.client_tsval, Some(0x009a_9000));
    assert_eq!(std::mem::size_of::<SynProxyState>(), 24);

    // 3. The SYN to the real server.
    let mut out = [0u8; 60];
    let n = build_server_syn(&mut out, &v, lip(), rip(), 64).unwrap();
    let ssyn = out[..n].to_vec();
    assert_checksums(&ssyn);
    let t = tcp(&ssyn);
    assert_eq!((t.src_port(), t.dst_port(), t.seq_number(), t.flags()), (1025, 8080, isn, TcpFlags::SYN));
    assert_eq!(t.window(), 64256);
    assert_eq!(
        options(&ssyn),
        [
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps(0x009a_9000, 0),
            TcpOption::NoOp,
            TcpOption::WindowScale(7)
        ]
    );

    // 4. The server's SYN/ACK: ISN near the wrap, window scale 9, its own timestamp clock.
    let server_isn = 0xffff_fffe;
    let mut sopts = vec![2, 4, 5, 0x78, 4, 2, 8, 10, 0, 0, 0x30, 0x39];
    sopts.extend_from_slice(&0x009a_9000u32.to_be_bytes());
    sopts.extend_from_slice(&[1, 3, 3, 9]);
    let ssa = server_synack(&ssyn, server_isn, &sopts);
    let tr = on_server_synack(&ssa, &v.state).unwrap();
    assert_eq!(tr.server_seq, SeqDelta::between(server_isn, cookie));
    assert_eq!(tr.server_ts, SeqDelta::between(12345, our_ts));
    assert_eq!(tr.client_seq, SeqDelta::ZERO);
    assert_eq!(tr.to_client_window, WindowShift { from: 9, to: 7 });
    assert_eq!(tr.to_server_window, WindowShift { from: 7, to: 7 });

    // 5. The kept ACK completes the server's handshake.
    let mut fwd = ack.clone();
    crate::nat::rewrite(
        &mut fwd[..ack.len() - 64],
        crate::nat::Endpoints {
            src: *lip().ip(),
            sport: lip().port(),
            dst: *rip().ip(),
            dport: rip().port(),
        },
    );
    tr.to_server(&mut tcp_mut(&mut fwd));
    assert_checksums(&fwd);
    let t = tcp(&fwd);
    assert_eq!((t.seq_number(), t.ack_number()), (isn + 1, server_isn.wrapping_add(1)));
    assert_eq!(t.iter_options().nth(2), Some(TcpOption::Timestamps(0x009a_9000, 12345)));
    assert_eq!(t.payload(), b"GET");

    // 6. Server data to the client: seq in the cookie's space, TSval continuing ours, window
    // rescaled from shift 9 to 7.
    let mut d = build(
        &Seg {
            src: *rip().ip(),
            dst: *lip().ip(),
            sport: 8080,
            dport: 1025,
            seq: server_isn.wrapping_add(1),
            ack: isn + 4,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 100,
            opts: &[1, 1, 8, 10, 0, 0, 0x30, 0x40, 0, 0x9a, 0x90, 0],
            payload: b"HTTP/1.1 200 OK\r\n",
            ..Seg::default()
        },
        0,
    );
    tr.to_client(&mut tcp_mut(&mut d));
    assert_checksums(&d);
    let t = tcp(&d);
    assert_eq!((t.seq_number(), t.ack_number(), t.window()), (cookie.wrapping_add(1), isn + 4, 400));
    assert_eq!(t.iter_options().nth(2), Some(TcpOption::Timestamps(our_ts.wrapping_add(7), 0x009a_9000)));

    // 7. A client SACK of server data, in the cookie's space, reaches the server in its own.
    let mut sack = vec![1, 1, 5, 10];
    sack.extend_from_slice(&cookie.wrapping_add(1000).to_be_bytes());
    sack.extend_from_slice(&cookie.wrapping_add(2000).to_be_bytes());
    let mut c = build(
        &Seg {
            seq: isn + 4,
            ack: cookie.wrapping_add(500),
            flags: TcpFlags::ACK,
            opts: &sack,
            ..Seg::default()
        },
        0,
    );
    tr.to_server(&mut tcp_mut(&mut c));
    assert_checksums(&c);
    let t = tcp(&c);
    assert_eq!(t.ack_number(), server_isn.wrapping_add(500));
    let TcpOption::Sack(blocks) = t.iter_options().nth(2).unwrap() else { panic!() };
    assert_eq!(
        blocks.iter().collect::<Vec<_>>(),
        [(server_isn.wrapping_add(1000), server_isn.wrapping_add(2000))]
    );
}

#[test]
fn invalid_ack_gets_a_rst() {
    let cfg = SynProxyConfig::default();
    let s = secrets();
    let now = Time::from_secs(5000);
    let mut b = syn(7, &LINUX_SYN_OPTS, TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    let mut ack = client_ack(&b[..n], Some(1), b"", 100);
    // Tamper with the cookie.
    let a = tcp(&ack).ack_number();
    tcp_mut(&mut ack).rewrite_ack_number(a ^ 0x0100_0000);
    let e = validate_ack(&ack, &cfg, &s, now).unwrap_err();
    assert_eq!(e, HandshakeError::Cookie(crate::synproxy::CookieError::Invalid));
    let n = rst_reply(&mut ack, 64).unwrap();
    assert_eq!(n, 40);
    assert_checksums(&ack[..n]);
    let t = tcp(&ack[..n]);
    assert_eq!(
        (t.flags(), t.seq_number(), t.src_port(), t.dst_port()),
        (TcpFlags::RST, a ^ 0x0100_0000, 80, 54321)
    );
    // A RST is not answered; a segment without ACK gets RST|ACK acknowledging it.
    assert_eq!(rst_reply(&mut ack, 64), Err(HandshakeError::UnexpectedFlags(TcpFlags::RST)));
    let mut f = build(&Seg { seq: 10, flags: TcpFlags::FIN, payload: b"abc", ..Seg::default() }, 0);
    rst_reply(&mut f, 64).unwrap();
    let t = tcp(&f);
    assert_eq!((t.flags(), t.seq_number(), t.ack_number()), (TcpFlags::RST | TcpFlags::ACK, 0, 14));
}

#[test]
fn cookie_survives_rotation_and_expires() {
    let cfg = SynProxyConfig::default();
    let s0 = secrets();
    let now = Time::from_secs(64 * 1000 + 63);
    let mut b = syn(99, &LINUX_SYN_OPTS, TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s0, now).unwrap();
    let ack = client_ack(&b[..n], Some(1), b"", 100);
    let s1 = s0.rotate(SecretKey::from_bytes([7; 16]));
    let later = now + std::time::Duration::from_secs(1);
    assert!(validate_ack(&ack, &cfg, &s1, later).is_ok());
    assert!(validate_ack(&ack, &cfg, &s1.rotate(SecretKey::from_bytes([8; 16])), later).is_err());
    // Made at the end of period 1000: good through period 1001, gone in 1002.
    assert!(validate_ack(&ack, &cfg, &s0, now + std::time::Duration::from_secs(64)).is_ok());
    assert!(validate_ack(&ack, &cfg, &s0, now + std::time::Duration::from_secs(65)).is_err());
}

#[test]
fn client_without_timestamps_keeps_only_the_mss() {
    let cfg = SynProxyConfig::default();
    let s = secrets();
    let now = Time::from_secs(1);
    // MSS 1400, SACK-permitted and window scale, but no timestamps: only the MSS survives.
    let mut b = syn(1, &[2, 4, 5, 0x78, 1, 1, 4, 2, 1, 3, 3, 8], TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    assert_checksums(&b[..n]);
    assert_eq!(options(&b[..n]), [TcpOption::Mss(1452)]);
    let ack = client_ack(&b[..n], None, b"", 300);
    let v = validate_ack(&ack, &cfg, &s, now).unwrap();
    assert_eq!(
        (v.state.mss, v.state.client_wscale, v.state.our_wscale, v.state.sack, v.state.our_tsval),
        (1300, None, None, false, None)
    );
    let mut out = [0u8; 64];
    let n = build_server_syn(&mut out, &v, lip(), rip(), 64).unwrap();
    assert_eq!(options(&out[..n]), [TcpOption::Mss(1300)]);
    assert_eq!(tcp(&out[..n]).window(), 300);
    // The server offers window scaling anyway: it is not in effect on either side.
    let ssa = server_synack(&out[..n], 5, &[2, 4, 5, 0xb4, 1, 3, 3, 7]);
    let tr = on_server_synack(&ssa, &v.state).unwrap();
    assert_eq!((tr.to_client_window, tr.to_server_window), (WindowShift::IDENTITY, WindowShift::IDENTITY));
    assert_eq!(tr.server_ts, SeqDelta::ZERO);
    // No MSS option at all: 536.
    let mut b = syn(1, &[], TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    let v = validate_ack(&client_ack(&b[..n], None, b"", 1), &cfg, &s, now).unwrap();
    assert_eq!(v.state.mss, 536);
}

#[test]
fn config_variants() {
    let s = secrets();
    let now = Time::from_secs(1);
    // Timestamps off: the client's are ignored, only the MSS.
    let cfg = SynProxyConfig { timestamps: false, ..Default::default() };
    let mut b = syn(1, &LINUX_SYN_OPTS, TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    assert_eq!(options(&b[..n]), [TcpOption::Mss(1452)]);
    // No SACK, no window scale offered: NOP NOP TS.
    let cfg = SynProxyConfig { sack: false, wscale: None, ..Default::default() };
    let mut b = syn(1, &LINUX_SYN_OPTS, TcpFlags::SYN);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    assert_checksums(&b[..n]);
    let o = options(&b[..n]);
    assert_eq!(o.len(), 4);
    assert_eq!(&o[..3], [TcpOption::Mss(1452), TcpOption::NoOp, TcpOption::NoOp]);
    let v = validate_ack(&client_ack(&b[..n], Some(3), b"", 9), &cfg, &s, now).unwrap();
    assert_eq!((v.state.client_wscale, v.state.sack), (None, false));
    // ECN: ECE on the SYN/ACK, ECE|CWR on the server SYN.
    let cfg = SynProxyConfig { ecn: true, ..Default::default() };
    let mut b = syn(1, &LINUX_SYN_OPTS, TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    assert_eq!(tcp(&b[..n]).flags(), TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE);
    let v = validate_ack(&client_ack(&b[..n], Some(3), b"", 9), &cfg, &s, now).unwrap();
    assert!(v.state.ecn);
    let mut out = [0u8; 60];
    let n = build_server_syn(&mut out, &v, lip(), rip(), 64).unwrap();
    assert_eq!(tcp(&out[..n]).flags(), TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
}

#[test]
fn errors() {
    let cfg = SynProxyConfig::default();
    let s = secrets();
    let now = Time::from_secs(1);
    // A bare 40-byte SYN in a 40-byte buffer: the reply (with MSS) needs 44.
    let mut b = build(&Seg::default(), 0);
    assert_eq!(
        synack_from_syn(&mut b, &cfg, &s, now),
        Err(HandshakeError::BufferTooSmall { need: 44, have: 40 })
    );
    let mut b = build(&Seg { flags: TcpFlags::ACK, ..Seg::default() }, 40);
    assert_eq!(synack_from_syn(&mut b, &cfg, &s, now), Err(HandshakeError::UnexpectedFlags(TcpFlags::ACK)));
    let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
    let b = build(&Seg { flags: syn_ack, ..Seg::default() }, 0);
    assert_eq!(validate_ack(&b, &cfg, &s, now).unwrap_err(), HandshakeError::UnexpectedFlags(syn_ack));
    let mut u = build(&Seg::default(), 40);
    u[9] = 17;
    assert_eq!(synack_from_syn(&mut u, &cfg, &s, now), Err(HandshakeError::NotTcp));
    let mut f = build(&Seg::default(), 40);
    f[6] |= 0x20;
    assert_eq!(synack_from_syn(&mut f, &cfg, &s, now), Err(HandshakeError::Fragment));
    assert_eq!(
        synack_from_syn(&mut [0x45, 0, 0], &cfg, &s, now),
        Err(HandshakeError::Malformed(crate::wire::WireError::Truncated))
    );
    let st = SynProxyState {
        client_isn: 10,
        cookie_isn: 20,
        our_tsval: None,
        mss: 536,
        client_wscale: None,
        our_wscale: None,
        sack: false,
        ecn: false,
    };
    let ssa = build(&Seg { flags: syn_ack, ack: 12, ..Seg::default() }, 0);
    assert_eq!(on_server_synack(&ssa, &st), Err(HandshakeError::UnexpectedAck { expected: 11, got: 12 }));
    let rst = build(&Seg { flags: TcpFlags::RST | TcpFlags::ACK, ack: 11, ..Seg::default() }, 0);
    assert!(matches!(on_server_synack(&rst, &st), Err(HandshakeError::UnexpectedFlags(_))));
    let v = ValidatedAck {
        tuple: super::FourTuple { saddr: 1.into(), daddr: 2.into(), sport: 3, dport: 4 },
        state: st,
        client_tsval: None,
        window: 1,
    };
    assert_eq!(
        build_server_syn(&mut [0u8; 43], &v, lip(), rip(), 64),
        Err(HandshakeError::BufferTooSmall { need: 44, have: 43 })
    );
    // SYN with IP options: the reply has a plain 20-byte IP header.
    let mut b = build(&Seg { opts: &LINUX_SYN_OPTS, ip_opts: &[1, 1, 1, 0], ..Seg::default() }, 40);
    let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
    assert_eq!((n, b[0]), (60, 0x45));
    assert_checksums(&b[..n]);
}

proptest! {
    #[test]
    fn handshake_across_wraps(isn in any::<u32>(), server_isn in any::<u32>(), secs in 0u64..1u64 << 33,
                              client_ts in any::<u32>(), server_ts in any::<u32>(), key in any::<[u8; 16]>(),
                              delay in 0u64..64) {
        let cfg = SynProxyConfig::default();
        let s = CookieSecrets::new(SecretKey::from_bytes(key));
        let now = Time::from_secs(secs);
        let mut opts = LINUX_SYN_OPTS;
        opts[8..12].copy_from_slice(&client_ts.to_be_bytes());
        let mut b = syn(isn, &opts, TcpFlags::SYN);
        let n = synack_from_syn(&mut b, &cfg, &s, now).unwrap();
        let synack = b[..n].to_vec();
        let cookie = tcp(&synack).seq_number();
        let ack = client_ack(&synack, Some(client_ts.wrapping_add(1)), b"x", 1000);
        let v = validate_ack(&ack, &cfg, &s, now + std::time::Duration::from_secs(delay)).unwrap();
        prop_assert_eq!((v.state.client_isn, v.state.cookie_isn, v.state.mss), (isn, cookie, 1460));
        let mut out = [0u8; 60];
        let n = build_server_syn(&mut out, &v, lip(), rip(), 64).unwrap();
        let mut sopts = vec![1, 1, 8, 10];
        sopts.extend_from_slice(&server_ts.to_be_bytes());
        sopts.extend_from_slice(&client_ts.wrapping_add(1).to_be_bytes());
        let ssa = server_synack(&out[..n], server_isn, &sopts);
        let tr = on_server_synack(&ssa, &v.state).unwrap();
        let mut fwd = ack.clone();
        tr.to_server(&mut tcp_mut(&mut fwd));
        assert_checksums(&fwd);
        prop_assert_eq!(tcp(&fwd).ack_number(), server_isn.wrapping_add(1));
        prop_assert_eq!(tcp(&fwd).seq_number(), isn.wrapping_add(1));
        prop_assert_eq!(options(&fwd).get(2).copied(), Some(TcpOption::Timestamps(client_ts.wrapping_add(1), server_ts)));
        let mut back = build(&Seg { seq: server_isn.wrapping_add(1), ack: isn.wrapping_add(2), flags: TcpFlags::ACK,
                                    opts: &sopts, ..Seg::default() }, 0);
        tr.to_client(&mut tcp_mut(&mut back));
        assert_checksums(&back);
        prop_assert_eq!(tcp(&back).seq_number(), cookie.wrapping_add(1));
        let TcpOption::Timestamps(tv, _) = options(&back).get(2).copied().unwrap() else { panic!() };
        prop_assert_eq!(tv, v.state.our_tsval.unwrap());
    }

    #[test]
    fn never_panics_on_network_input(data in proptest::collection::vec(any::<u8>(), 0..100),
                                     syn_like in any::<bool>()) {
        let mut d = data;
        if syn_like && d.len() >= 40 {
            d[0] = 0x45;
            let l = d.len() as u16;
            d[2..4].copy_from_slice(&l.to_be_bytes());
            d[6] = 0;
            d[7] = 0;
            d[9] = 6;
            d[32] = (d[32] & 0xf0).max(0x50);
        }
        let cfg = SynProxyConfig::default();
        let s = secrets();
        let st = SynProxyState { client_isn: 0, cookie_isn: 0, our_tsval: Some(1), mss: 536,
                                 client_wscale: Some(3), our_wscale: Some(7), sack: true, ecn: true };
        let _ = validate_ack(&d, &cfg, &s, Time::ZERO);
        let _ = on_server_synack(&d, &st);
        let mut e = d.clone();
        e.resize(e.len() + 60, 0);
        let _ = synack_from_syn(&mut e, &cfg, &s, Time::ZERO);
        let _ = synack_from_syn(&mut d.clone(), &cfg, &s, Time::ZERO);
        let _ = rst_reply(&mut d, 64);
    }
}
