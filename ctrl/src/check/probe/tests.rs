//! The I/O layer against real sockets and processes on 127.0.0.1.

use super::*;
use crate::keepalived::{Loc, Sni, StatusCodes};
use std::net::TcpListener;
use std::path::Path;
use std::thread;

pub(super) fn conf(kind: CheckKind, target: SocketAddr) -> CheckerConf {
    CheckerConf {
        loc: Loc { file: Path::new("t").into(), line: 1 },
        kind,
        target,
        bindto: None,
        bind_if: None,
        fwmark: None,
        connect_timeout: Duration::from_millis(500),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        delay_loop: Duration::from_secs(2),
        warmup: None,
        alpha: false,
    }
}

pub(super) const ID: CheckerId = CheckerId { vs: 0, rs: 0, ck: 0 };

pub(super) fn run(c: &CheckerConf) -> Outcome {
    let mut p = Prober::new();
    p.start(ID, c, Instant::now());
    let stop = Instant::now() + Duration::from_secs(10);
    loop {
        let mut r = p.poll(Instant::now() + Duration::from_millis(100), None);
        if let Some((id, o)) = r.pop() {
            assert_eq!(id, ID);
            assert_eq!(p.in_flight(), 0);
            return o;
        }
        assert!(Instant::now() < stop, "no outcome");
    }
}

/// `run` against a UDP port nobody listens on, until the kernel's ICMP port unreachable
/// comes back (at most 5 tries): the kernel sends it under a global rate limit
/// (`net.ipv4.icmp_msgs_per_sec`), loopback included, which the tests running beside this
/// one can use up. Returns the first "port unreachable", else the last outcome.
fn run_unreachable(c: &CheckerConf) -> Outcome {
    let mut o = run(c);
    for _ in 1..5 {
        if o == Outcome::Down("port unreachable".into()) {
            break;
        }
        thread::sleep(Duration::from_millis(200));
        o = run(c);
    }
    o
}

pub(super) fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Serves `n` connections: reads the request, answers `resp`; returns the requests seen.
fn http_server(resps: Vec<Vec<u8>>) -> (SocketAddr, thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        for resp in resps {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&b[..n]);
            }
            seen.push(String::from_utf8_lossy(&req).into_owned());
            s.write_all(&resp).unwrap();
        }
        seen
    });
    (addr, h)
}

fn url(path: &str, digest: Option<&str>) -> HttpUrl {
    HttpUrl {
        path: path.into(),
        status: StatusCodes::default_2xx(),
        digest: digest.map(str::to_string),
        regex: None,
        regex_no_match: false,
        virtualhost: None,
    }
}

#[test]
fn tcp_connect_up_and_refused() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(run(&conf(CheckKind::Tcp, l.local_addr().unwrap())), Outcome::Up);
    let o = run(&conf(CheckKind::Tcp, closed_port()));
    assert!(matches!(&o, Outcome::Down(m) if m.contains("refused")), "{o:?}");
}

#[test]
fn tcp_check_from_bindto_and_bind_port() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed_port().port();
    let mut c = conf(CheckKind::Tcp, l.local_addr().unwrap());
    c.bindto = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    // Twice: the first connection's TIME_WAIT must not fail the second.
    for _ in 0..2 {
        assert_eq!(run(&c), Outcome::Up);
        let (_, peer) = l.accept().unwrap();
        assert_eq!(peer, c.bindto.unwrap(), "the check's source address and port");
    }
}

#[test]
fn bind_if_and_fwmark_reach_the_socket() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = conf(CheckKind::Tcp, l.local_addr().unwrap());
    c.bind_if = Some("lo".into());
    assert_eq!(run(&c), Outcome::Up, "127.0.0.1 is on lo");
    c.bind_if = Some("rvsnosuchif0".into());
    let o = run(&c);
    assert!(matches!(&o, Outcome::Down(m) if m.starts_with("bind_if rvsnosuchif0: No such device")), "{o:?}");
    c.bind_if = None;
    c.fwmark = Some(7);
    // SO_MARK needs CAP_NET_ADMIN: taken as root, refused otherwise; never ignored.
    // SAFETY: geteuid only reads the process's id.
    let o = run(&c);
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(o, Outcome::Up);
    } else {
        assert!(
            matches!(&o, Outcome::Down(m) if m.starts_with("fwmark 7: Operation not permitted")),
            "{o:?}"
        );
    }
    // UDP checks take them too.
    let mut u = conf(
        CheckKind::Udp { payload: vec![1], require_reply: false, reply: vec![], reply_len: (0, 255) },
        c.target,
    );
    u.bind_if = Some("rvsnosuchif0".into());
    assert!(matches!(run(&u), Outcome::Down(m) if m.starts_with("bind_if rvsnosuchif0")));
}

/// PING_CHECK: the loopback addresses answer (through a ping socket where
/// ping_group_range allows one, else a raw socket, root's); its socket takes `bind_if`.
#[test]
fn ping_check_echo_answered() {
    // SAFETY: geteuid only reads the process's id.
    let root = unsafe { libc::geteuid() } == 0;
    for ip in ["127.0.0.1", "::1"] {
        let c = conf(CheckKind::Ping, SocketAddr::new(ip.parse().unwrap(), 0));
        let o = run(&c);
        if ip == "::1"
            && matches!(&o, Outcome::Down(m) if m.contains("Cannot assign") || m.contains("unreachable"))
        {
            continue; // a host without IPv6 loopback
        }
        if root {
            assert_eq!(o, Outcome::Up, "{ip}");
        } else {
            assert!(
                o == Outcome::Up || matches!(&o, Outcome::Down(m) if m.starts_with("ICMP socket")),
                "{o:?}"
            );
        }
    }
    let mut c = conf(CheckKind::Ping, SocketAddr::from(([127, 0, 0, 1], 0)));
    c.bind_if = Some("rvsnosuchif0".into());
    let o = run(&c);
    if root {
        assert!(matches!(&o, Outcome::Down(m) if m.starts_with("bind_if rvsnosuchif0")), "{o:?}");
    }
}

#[test]
fn http_get_speaks_http_1_1_when_asked() {
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend_from_slice(body);
    let (addr, srv) = http_server(vec![resp]);
    let digest = super::super::md5::md5_hex(b"hello");
    let kind = CheckKind::Http {
        urls: vec![url("/", Some(&digest))],
        virtualhost: None,
        tls: false,
        sni: Sni::Off,
        http_1_1: true,
    };
    assert_eq!(run(&conf(kind, addr)), Outcome::Up);
    let seen = srv.join().unwrap();
    assert!(
        seen[0].starts_with("GET / HTTP/1.1\r\n") && seen[0].contains("Connection: close\r\n"),
        "{seen:?}"
    );
}

#[test]
fn http_get_several_urls_from_one_bind_port() {
    // Each url is a connection from bindto:bind_port; the last one must be closed before
    // the next opens, or the kernel refuses the same connection twice.
    let (addr, srv) = http_server(vec![b"HTTP/1.0 200 OK\r\n\r\n".to_vec(); 3]);
    let mut c = conf(
        CheckKind::Http {
            urls: vec![url("/a", None), url("/b", None), url("/c", None)],
            virtualhost: None,
            tls: false,
            sni: Sni::Off,
            http_1_1: false,
        },
        addr,
    );
    c.bindto = Some(SocketAddr::from(([127, 0, 0, 1], closed_port().port())));
    assert_eq!(run(&c), Outcome::Up);
    assert_eq!(srv.join().unwrap().len(), 3);
}

#[test]
fn http_get_checks_every_url_with_digest() {
    let body = b"I am alive\n";
    let digest = super::super::md5::md5_hex(body);
    let ok = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\nI am alive\n", body.len()).into_bytes();
    let (addr, srv) = http_server(vec![ok.clone(), b"HTTP/1.0 204 No Content\r\n\r\n".to_vec()]);
    let kind = CheckKind::Http {
        urls: vec![url("/health", Some(&digest)), url("/ready", None)],
        virtualhost: Some("www.example.com".into()),
        tls: false,
        sni: Sni::Off,
        http_1_1: false,
    };
    assert_eq!(run(&conf(kind, addr)), Outcome::Up);
    let seen = srv.join().unwrap();
    assert!(seen[0].starts_with("GET /health HTTP/1.0\r\n") && seen[0].contains("Host: www.example.com"));
    assert!(seen[1].starts_with("GET /ready HTTP/1.0\r\n"));
}

#[test]
fn http_get_bad_status_or_digest_is_down() {
    let (addr, srv) = http_server(vec![b"HTTP/1.1 503 Unavailable\r\n\r\n".to_vec()]);
    let o = run(&conf(
        CheckKind::Http {
            urls: vec![url("/", None)],
            virtualhost: None,
            tls: false,
            sni: Sni::Off,
            http_1_1: false,
        },
        addr,
    ));
    assert_eq!(o, Outcome::Down("/: HTTP status 503".into()));
    srv.join().unwrap();
    let (addr, srv) = http_server(vec![b"HTTP/1.1 200 OK\r\n\r\nchanged".to_vec()]);
    let o = run(&conf(
        CheckKind::Http {
            urls: vec![url("/", Some("00000000000000000000000000000000"))],
            virtualhost: None,
            tls: false,
            sni: Sni::Off,
            http_1_1: false,
        },
        addr,
    ));
    assert!(matches!(&o, Outcome::Down(m) if m.contains("MD5 digest")), "{o:?}");
    srv.join().unwrap();
}

#[test]
fn http_get_silent_server_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = conf(
        CheckKind::Http {
            urls: vec![url("/", None)],
            virtualhost: None,
            tls: false,
            sni: Sni::Off,
            http_1_1: false,
        },
        l.local_addr().unwrap(),
    );
    c.connect_timeout = Duration::from_millis(200);
    let t = Instant::now();
    assert_eq!(run(&c), Outcome::Down("HTTP exchange timed out".into()));
    assert!(t.elapsed() >= Duration::from_millis(200));
}

fn tls_server_config() -> std::sync::Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    std::sync::Arc::new(cfg)
}

/// What an HTTPS test server saw on each connection: the request and the SNI sent.
type Seen = Vec<(String, Option<String>)>;

/// An HTTPS server with a self-signed certificate: serves `n` connections, each reads the
/// request and answers `resp` (then sends close_notify if `close_notify`); returns each
/// request seen with the SNI the client sent.
fn https_server(resps: Vec<Vec<u8>>, close_notify: bool) -> (SocketAddr, thread::JoinHandle<Seen>) {
    let cfg = tls_server_config();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        for resp in resps {
            let (s, _) = l.accept().unwrap();
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = tls.read(&mut b).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&b[..n]);
            }
            let sni = tls.conn.server_name().map(str::to_string);
            seen.push((String::from_utf8_lossy(&req).into_owned(), sni));
            tls.write_all(&resp).unwrap();
            if close_notify {
                tls.conn.send_close_notify();
            }
            tls.flush().unwrap();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock).unwrap();
            }
        }
        seen
    });
    (addr, h)
}

/// SSL_GET with `enable_sni`.
fn ssl_get(urls: Vec<HttpUrl>, virtualhost: Option<&str>) -> CheckKind {
    CheckKind::Http {
        urls,
        virtualhost: virtualhost.map(str::to_string),
        tls: true,
        sni: Sni::Virtualhost,
        http_1_1: false,
    }
}

#[test]
fn ssl_get_checks_every_url_with_digest_and_sni() {
    let body = b"I am alive over TLS\n";
    let digest = super::super::md5::md5_hex(body);
    let mut ok = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    ok.extend_from_slice(body);
    let (addr, srv) = https_server(vec![ok, b"HTTP/1.0 204 No Content\r\n\r\n".to_vec()], true);
    let kind = ssl_get(vec![url("/health", Some(&digest)), url("/ready", None)], Some("www.example.com"));
    assert_eq!(run(&conf(kind, addr)), Outcome::Up);
    let seen = srv.join().unwrap();
    assert!(seen[0].0.starts_with("GET /health HTTP/1.0\r\n") && seen[0].0.contains("Host: www.example.com"));
    assert_eq!(seen[0].1.as_deref(), Some("www.example.com"), "SNI from virtualhost");
    assert!(seen[1].0.starts_with("GET /ready HTTP/1.0\r\n"));
}

#[test]
fn ssl_get_bad_status_or_digest_is_down() {
    // No close_notify: the server just closes, as many do.
    let (addr, srv) = https_server(vec![b"HTTP/1.1 503 Unavailable\r\n\r\n".to_vec()], false);
    assert_eq!(
        run(&conf(ssl_get(vec![url("/", None)], None), addr)),
        Outcome::Down("/: HTTP status 503".into())
    );
    let seen = srv.join().unwrap();
    assert_eq!(seen[0].1, None, "no SNI without a virtualhost");
    assert!(seen[0].0.contains(&format!("Host: {addr}\r\n")));

    let (addr, srv) = https_server(vec![b"HTTP/1.1 200 OK\r\n\r\nchanged".to_vec()], false);
    let o = run(&conf(ssl_get(vec![url("/", Some("00000000000000000000000000000000"))], None), addr));
    assert!(matches!(&o, Outcome::Down(m) if m.contains("MD5 digest")), "{o:?}");
    srv.join().unwrap();

    // An IP address as virtualhost: Host header, but no SNI.
    let (addr, srv) = https_server(vec![b"HTTP/1.1 200 OK\r\n\r\n".to_vec()], true);
    assert_eq!(run(&conf(ssl_get(vec![url("/", None)], Some("127.0.0.1")), addr)), Outcome::Up);
    assert_eq!(srv.join().unwrap()[0].1, None);
}

#[test]
fn ssl_get_sends_sni_only_when_asked() {
    // keepalived sends no SNI unless enable_sni, even with a virtualhost.
    let resp = || b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    let (addr, srv) = https_server(vec![resp()], true);
    let mut kind = ssl_get(vec![url("/", None)], Some("www.example.com"));
    if let CheckKind::Http { sni, .. } = &mut kind {
        *sni = Sni::Off;
    }
    assert_eq!(run(&conf(kind, addr)), Outcome::Up);
    let seen = srv.join().unwrap();
    assert!(seen[0].0.contains("Host: www.example.com\r\n"));
    assert_eq!(seen[0].1, None, "virtualhost without enable_sni: no SNI");
    // sni_name wins over the url's and the checker's virtualhost.
    let (addr, srv) = https_server(vec![resp()], true);
    let mut u = url("/", None);
    u.virtualhost = Some("url.example.com".into());
    let kind = CheckKind::Http {
        urls: vec![u],
        virtualhost: Some("www.example.com".into()),
        tls: true,
        sni: Sni::Name("sni.example.com".into()),
        http_1_1: false,
    };
    assert_eq!(run(&conf(kind, addr)), Outcome::Up);
    let seen = srv.join().unwrap();
    assert!(seen[0].0.contains("Host: url.example.com\r\n"));
    assert_eq!(seen[0].1.as_deref(), Some("sni.example.com"));
}

#[test]
fn ssl_get_needs_tls() {
    // A plain HTTP server: its answer is no TLS record.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let srv = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
        s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").unwrap();
    });
    let o = run(&conf(ssl_get(vec![url("/", None)], None), addr));
    assert!(matches!(&o, Outcome::Down(m) if m.starts_with("/: TLS")), "{o:?}");
    srv.join().unwrap();

    // Closed during the handshake.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let srv = thread::spawn(move || drop(l.accept().unwrap()));
    let o = run(&conf(ssl_get(vec![url("/", None)], None), addr));
    assert!(matches!(&o, Outcome::Down(m) if m.contains("closed") || m.contains("reset")), "{o:?}");
    srv.join().unwrap();

    // A silent server.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = conf(ssl_get(vec![url("/", None)], None), l.local_addr().unwrap());
    c.connect_timeout = Duration::from_millis(200);
    assert_eq!(run(&c), Outcome::Down("TLS handshake timed out".into()));
}

#[test]
fn udp_check_reply_refused_and_silence() {
    let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = srv.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let mut b = [0u8; 64];
        let (n, from) = srv.recv_from(&mut b).unwrap();
        srv.send_to(&b[..n], from).unwrap();
        srv
    });
    let kind =
        CheckKind::Udp { payload: b"ping".to_vec(), require_reply: true, reply: vec![], reply_len: (0, 255) };
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Up);
    let silent = echo.join().unwrap(); // still bound, no longer answering
    let o = run(&conf(kind, addr));
    assert_eq!(o, Outcome::Down("no UDP reply".into()));
    let lenient =
        CheckKind::Udp { payload: vec![], require_reply: false, reply: vec![], reply_len: (0, 255) };
    assert_eq!(run(&conf(lenient.clone(), addr)), Outcome::Up, "silence is fine without require_reply");
    drop(silent);
    let o = run_unreachable(&conf(lenient, addr));
    assert_eq!(o, Outcome::Down("port unreachable".into()));
}

pub(super) fn sh(script: &str, dynamic: bool, timeout: Option<Duration>) -> CheckerConf {
    let argv = vec!["/bin/sh".into(), "-c".into(), script.into()];
    conf(CheckKind::Misc { argv, timeout, dynamic, user: None }, "127.0.0.1:1".parse().unwrap())
}

#[test]
fn many_checks_in_one_loop() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap();
    let down = closed_port();
    let mut p = Prober::new();
    let now = Instant::now();
    for i in 0..200 {
        let target = if i % 2 == 0 { up } else { down };
        p.start(CheckerId { vs: 0, rs: i, ck: 0 }, &conf(CheckKind::Tcp, target), now);
    }
    let mut results = Vec::new();
    let stop = Instant::now() + Duration::from_secs(10);
    while results.len() < 200 && Instant::now() < stop {
        results.extend(p.poll(Instant::now() + Duration::from_millis(50), None));
    }
    assert_eq!(results.len(), 200);
    for (id, o) in results {
        assert_eq!(o == Outcome::Up, id.rs % 2 == 0, "{id:?} {o:?}");
    }
}

#[test]
fn cancel_all_drops_everything() {
    let mut p = Prober::new();
    p.start(ID, &sh("sleep 5", false, None), Instant::now());
    p.start(ID, &conf(CheckKind::Tcp, closed_port()), Instant::now());
    p.cancel_all();
    assert_eq!(p.in_flight(), 0);
    assert!(p.poll(Instant::now(), None).is_empty());
}

#[test]
fn udp_reply_as_keepalived_judges_it() {
    let lim = (0, 255);
    assert_eq!(udp_reply(&[], lim, &[0; 1000]), Ok(()), "no pattern: any reply");
    assert_eq!(udp_reply(&[0xca, 0xfe], lim, &[0xca, 0xfe, 0x01]), Ok(()));
    assert_eq!(udp_reply(&[0xca, 0xfe], lim, &[0xca]), Ok(()), "a shorter reply on its own bytes");
    assert!(udp_reply(&[0xca, 0xfe], lim, &[0xca, 0xff]).unwrap_err().contains("does not start with cafe"));
    assert_eq!(
        udp_reply(&[0xca], lim, &[0xca; 256]),
        Err("UDP reply of 256 bytes, not 0 to 255".into()),
        "keepalived's default max_reply_length"
    );
    assert_eq!(udp_reply(&[0xca], (4, 600), &[0xca; 256]), Ok(()));
    assert!(udp_reply(&[0xca], (4, 600), &[0xca; 3]).is_err());
}

#[test]
fn udp_check_reply_longer_than_max_reply_length_fails() {
    let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = srv.local_addr().unwrap();
    let answer = move |len: usize| {
        let mut b = [0u8; 64];
        let (_, peer) = srv.recv_from(&mut b).unwrap();
        srv.send_to(&vec![0xca; len], peer).unwrap();
        srv
    };
    let kind = |max| CheckKind::Udp {
        payload: vec![1],
        require_reply: true,
        reply: vec![0xca],
        reply_len: (0, max),
    };
    let t = thread::spawn(move || answer(300));
    assert_eq!(run(&conf(kind(255), addr)), Outcome::Down("UDP reply of 300 bytes, not 0 to 255".into()));
    let srv = t.join().unwrap();
    let t = thread::spawn(move || {
        let mut b = [0u8; 64];
        let (_, peer) = srv.recv_from(&mut b).unwrap();
        srv.send_to(&[0xca; 300], peer).unwrap();
    });
    assert_eq!(run(&conf(kind(512), addr)), Outcome::Up);
    t.join().unwrap();
}

/// A DNS server on 127.0.0.1 that answers each query with the given flags, after first
/// sending a datagram with another id (which the check must ignore); returns the questions
/// (bytes after the header) it saw.
fn dns_server(flags: Vec<u16>) -> (SocketAddr, thread::JoinHandle<Vec<Vec<u8>>>) {
    let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = srv.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        for f in flags {
            let mut b = [0u8; 512];
            let (n, from) = srv.recv_from(&mut b).unwrap();
            let mut resp = b[..n].to_vec();
            seen.push(resp[12..].to_vec());
            resp[2..4].copy_from_slice(&f.to_be_bytes());
            let mut other = resp.clone();
            other[0] ^= 0xff;
            srv.send_to(&other, from).unwrap();
            srv.send_to(&resp, from).unwrap();
        }
        seen
    });
    (addr, h)
}

#[test]
fn dns_check_noerror_error_and_silence() {
    let (addr, h) = dns_server(vec![0x8180, 0x8183]);
    let kind = CheckKind::Dns { qtype: 1, name: "lab.test".into() };
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Up);
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Down("DNS response code 3 (NXDOMAIN)".into()));
    let seen = h.join().unwrap();
    assert_eq!(seen[0], b"\x03lab\x04test\x00\x00\x01\x00\x01");
    // Nobody answers: the timeout; nobody listens: port unreachable.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let o = run(&conf(kind.clone(), silent.local_addr().unwrap()));
    assert_eq!(o, Outcome::Down("no DNS response".into()));
    let gone = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(run_unreachable(&conf(kind, gone)), Outcome::Down("port unreachable".into()));
}

#[test]
fn dns_query_ids_vary() {
    let mut p = Prober::new();
    let ids: std::collections::HashSet<u16> = (0..100).map(|_| p.next_id()).collect();
    assert!(ids.len() > 90, "{}", ids.len());
}

#[test]
fn file_check_reads_the_file_each_run() {
    let dir = crate::testutil::TempDir::new("filecheck");
    let path = dir.path().join("weight");
    let plain = CheckKind::File { path: path.clone(), weight: 0, reverse: false };
    let weighted = CheckKind::File { path: path.clone(), weight: 10, reverse: false };
    let any: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert_eq!(run(&conf(plain.clone(), any)), Outcome::Up, "no file reads 0");
    std::fs::write(&path, "1\n").unwrap();
    assert_eq!(run(&conf(plain.clone(), any)), Outcome::Down("the tracked file reads 1".into()));
    assert_eq!(run(&conf(weighted.clone(), any)), Outcome::UpDelta(10));
    std::fs::write(&path, "0").unwrap();
    assert_eq!(run(&conf(plain, any)), Outcome::Up);
    assert_eq!(run(&conf(weighted, any)), Outcome::UpDelta(0));
}

/// A tracked file whose read never returns (a FIFO with no writer stands in for a hung
/// NFS mount): its check fails at its timeout, a TCP check started beside it ends at once,
/// and the next run of the same file fails at once without a second reading thread.
#[test]
fn a_hung_file_check_fails_alone() {
    let dir = crate::testutil::TempDir::new("filecheck-hung");
    let fifo = dir.path().join("hung");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let hung = conf(
        CheckKind::File { path: fifo.clone(), weight: 0, reverse: false },
        "127.0.0.1:1".parse().unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = conf(CheckKind::Tcp, l.local_addr().unwrap());
    let tcp_id = CheckerId { vs: 0, rs: 1, ck: 0 };

    let mut p = Prober::new();
    let t0 = Instant::now();
    p.start(ID, &hung, t0);
    p.start(tcp_id, &tcp, t0);
    let mut got = Vec::new();
    while got.len() < 2 && t0.elapsed() < Duration::from_secs(5) {
        for (id, o) in p.poll(Instant::now() + Duration::from_millis(50), None) {
            got.push((id, o, t0.elapsed()));
        }
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, &got[0].1), (tcp_id, &Outcome::Up), "the TCP check waited for the file: {got:?}");
    assert!(got[0].2 < Duration::from_millis(400), "{got:?}");
    assert_eq!(got[1].1, Outcome::Down("the tracked file's read timed out".into()));
    assert!(got[1].2 >= hung.connect_timeout, "{got:?}");

    p.start(ID, &hung, Instant::now());
    let o = p.poll(Instant::now(), None);
    assert_eq!(o.len(), 1);
    assert!(matches!(&o[0].1, Outcome::Down(m) if m.contains("has not returned")), "{o:?}");
    // The mount comes back: a writer lets the stuck read finish (EOF at its close), and
    // the path becomes a plain file reading 0.
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::fs::remove_file(&fifo).unwrap();
    std::fs::write(&fifo, "0\n").unwrap();
    drop(writer);
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        p.start(ID, &hung, Instant::now());
        let o = p.poll(Instant::now() + Duration::from_millis(50), None);
        if o.iter().any(|(_, o)| *o == Outcome::Up) {
            break;
        }
        assert!(Instant::now() < until, "the file's check did not recover: {o:?}");
        p.cancel_all();
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn udp_check_sends_the_payload_bytes_and_compares_the_reply() {
    // The server answers 0xcafe followed by what it got; the check sends 0a0b0c.
    let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = srv.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut b = [0u8; 64];
            let (n, from) = srv.recv_from(&mut b).unwrap();
            got.push(b[..n].to_vec());
            let mut answer = vec![0xca, 0xfe];
            answer.extend_from_slice(&b[..n]);
            srv.send_to(&answer, from).unwrap();
        }
        got
    });
    let payload = vec![0x0a, 0x0b, 0x0c];
    let good = CheckKind::Udp {
        payload: payload.clone(),
        require_reply: true,
        reply: vec![0xca, 0xfe],
        reply_len: (0, 255),
    };
    assert_eq!(run(&conf(good, addr)), Outcome::Up);
    let bad = CheckKind::Udp {
        payload: payload.clone(),
        require_reply: true,
        reply: vec![0xbe, 0xef],
        reply_len: (0, 255),
    };
    assert_eq!(run(&conf(bad, addr)), Outcome::Down("UDP reply cafe0a0b0c does not start with beef".into()));
    assert_eq!(echo.join().unwrap(), [payload.clone(), payload]);
}
