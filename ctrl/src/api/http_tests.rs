//! The API as a client that misuses it sees it: the real server ([`bind`], [`serve`]) on a
//! loopback port, spoken to over TCP. Each refusal has its status and a JSON error, and
//! the server answers the next request.

use super::http::Limits;
use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

const TOKEN: &str = "0123456789abcdef";
const BASE: &str = "/api/v1/services/tcp/198.18.0.100:80";

/// A server on a loopback port, stopped when dropped.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // The server's own assertion (a clean stop) fails the test, unless it is
            // failing already.
            if let Err(e) = t.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(e);
                }
            }
        }
    }
}

fn start(auth: auth::Auth, limits: Limits) -> Running {
    let server = bind("127.0.0.1:0".parse().unwrap()).unwrap().with_limits(limits);
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let thread = std::thread::spawn(move || {
        assert_eq!(serve(&server, &super::tests::fake(), &auth, &st), Ended::Stopped);
    });
    Running { addr, stop, thread: Some(thread) }
}

fn with_token() -> Running {
    start(auth::Auth::with_token(TOKEN), Limits::default())
}

/// An answer: status, head, body.
#[derive(Debug)]
struct Got {
    status: u16,
    head: String,
    body: String,
}

impl Got {
    /// The body's `"error"`, which every refusal has.
    fn error(&self) -> String {
        let v: Value =
            serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"));
        v["error"].as_str().unwrap_or_else(|| panic!("no \"error\": {self:?}")).to_string()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads an answer to the end of the connection.
fn read_answer(mut s: TcpStream) -> Got {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no answer: {e}");
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    // An interim 100 Continue comes first when asked for.
    let text = text.strip_prefix("HTTP/1.1 100 Continue\r\n\r\n").unwrap_or(&text).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head:?}"));
    Got { status, head: head.to_string(), body: body.to_string() }
}

fn raw(addr: SocketAddr, bytes: &[u8]) -> Got {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    read_answer(s)
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Got {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nContent-Type: application/json\r\n\r\n{body}",
        body.len()
    );
    raw(addr, req.as_bytes())
}

fn get(addr: SocketAddr, path: &str) -> Got {
    call(addr, "GET", path, None, "")
}

/// A refusal: its status, a JSON error, and the server still answers.
fn refused(r: &Running, got: Got, status: u16) -> String {
    assert_eq!(got.status, status, "{got:?}");
    assert!(got.header("Content-Type").is_some_and(|t| t.starts_with("application/json")), "{got:?}");
    let e = got.error();
    assert_eq!(get(r.addr, "/api/v1/services").status, 200, "not served after {got:?}");
    e
}

#[test]
fn wrong_methods_and_paths_bad_bodies() {
    let r = with_token();
    let t = Some(TOKEN);
    assert_eq!(call(r.addr, "GET", "/metrics", None, "").status, 200);
    let post = call(r.addr, "POST", "/metrics", t, "");
    assert_eq!(post.header("Allow"), Some("GET, HEAD"), "{post:?}");
    refused(&r, post, 405);
    let delete = call(r.addr, "DELETE", "/api/v1/services", t, "");
    assert_eq!(delete.header("Allow"), Some("GET, HEAD, POST"), "{delete:?}");
    refused(&r, delete, 405);
    refused(&r, call(r.addr, "PATCH", "/api/v1/services", t, "{}"), 405);
    refused(&r, call(r.addr, "GET", &format!("{BASE}/reals/198.19.0.11:80"), None, ""), 405);
    refused(&r, call(r.addr, "GET", "/nope", None, ""), 404);
    refused(&r, call(r.addr, "GET", "/api/v2/services", None, ""), 404);
    refused(&r, call(r.addr, "GET", "/api/v1/services/tcp/198.18.0.9:80", None, ""), 404);
    refused(&r, call(r.addr, "POST", "/api/v1/services", t, "{"), 400);
    refused(&r, call(r.addr, "POST", &format!("{BASE}/reals"), t, "[1,2"), 400);
    refused(&r, call(r.addr, "PUT", &format!("{BASE}/reals/198.19.0.11:80"), t, "\"weight\""), 400);
    // A body that is not UTF-8.
    let mut req =
        format!("POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n")
            .into_bytes();
    req.extend_from_slice(&[0xff, 0xfe]);
    refused(&r, raw(r.addr, &req), 400);
    // A good change still goes through.
    assert_eq!(call(r.addr, "POST", &format!("{BASE}/reals/198.19.0.11:80/drain"), t, "").status, 200);
}

#[test]
fn tokens() {
    let r = with_token();
    let drain = format!("{BASE}/reals/198.19.0.11:80/drain");
    let none = call(r.addr, "POST", &drain, None, "");
    assert_eq!(none.header("WWW-Authenticate"), Some("Bearer realm=\"rvs-ctrl\""), "{none:?}");
    assert!(refused(&r, none, 401).contains("Authorization"));
    assert_eq!(
        refused(&r, call(r.addr, "POST", &drain, Some("0123456789abcdeX"), ""), 401),
        "wrong API token"
    );
    refused(&r, call(r.addr, "DELETE", &format!("{BASE}/reals/198.19.0.12:80"), Some("short"), ""), 401);
    // Refused before its body is read: a large body is not waited for.
    let t0 = Instant::now();
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.write_all(format!("POST {BASE}/reals HTTP/1.1\r\nContent-Length: 60000\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_answer(s).status, 401);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let ro = start(auth::Auth::read_only(), Limits::default());
    refused(&ro, call(ro.addr, "POST", &drain, Some(TOKEN), ""), 403);
    assert_eq!(call(ro.addr, "GET", "/api/v1/services", None, "").status, 200);
}

#[test]
fn huge_requests() {
    let r = with_token();
    // Refused from its Content-Length, before it is sent.
    let t0 = Instant::now();
    let mut s = TcpStream::connect(r.addr).unwrap();
    let head = format!(
        "POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    refused(&r, read_answer(s), 413);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Sent: refused all the same (the client gets the answer, not a reset).
    let mut big = head.replace("100000000", "70000").into_bytes();
    big.extend(std::iter::repeat_n(b' ', 70000));
    refused(&r, raw(r.addr, &big), 413);
    // Chunked, over the limit.
    let mut chunked = format!(
        "POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    chunked.extend_from_slice(b"20000\r\n");
    chunked.extend(std::iter::repeat_n(b' ', 0x20000));
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    refused(&r, raw(r.addr, &chunked), 413);
    // A head without end.
    let mut endless = b"GET /metrics HTTP/1.1\r\nX-A: ".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 64 * 1024));
    refused(&r, raw(r.addr, &endless), 431);
    // A chunked body within the limit is read.
    let body = r#"{"address":"198.19.0.20:80","weight":2}"#;
    let req = format!(
        "POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(raw(r.addr, req.as_bytes()).status, 201);
    // So is one sent after "Expect: 100-continue" (curl's way with larger bodies).
    let req = format!(
        "POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect(r.addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut cont = [0u8; 25];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.replace(".20:", ".21:").as_bytes()).unwrap();
    assert_eq!(read_answer(s).status, 201);
}

/// Slow and silent clients hold their own connection only.
#[test]
fn slow_clients_delay_nobody() {
    let limits = Limits { deadline: Duration::from_secs(6), ..Limits::default() };
    let r = start(auth::Auth::with_token(TOKEN), limits);
    // One sends its head a byte a second; one promises a body it never sends (a GET, which
    // needs no token); one sends its body a byte a second.
    let mut head = TcpStream::connect(r.addr).unwrap();
    head.write_all(b"G").unwrap();
    let mut stalled = TcpStream::connect(r.addr).unwrap();
    stalled.write_all(b"GET /metrics HTTP/1.1\r\nContent-Length: 10\r\n\r\n").unwrap();
    let mut body = TcpStream::connect(r.addr).unwrap();
    let req = format!(
        "POST {BASE}/reals HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 40\r\n\r\n{{"
    );
    body.write_all(req.as_bytes()).unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        head.write_all(b"E").unwrap();
        body.write_all(b" ").unwrap();
        let t = Instant::now();
        assert_eq!(get(r.addr, "/api/v1/services").status, 200);
        assert_eq!(get(r.addr, "/metrics").status, 200);
        assert!(t.elapsed() < Duration::from_millis(1500), "two answers took {:?}", t.elapsed());
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }
    // Past the deadline each is told so.
    for s in [head, stalled, body] {
        let got = read_answer(s);
        assert_eq!(got.status, 408, "{got:?}");
        got.error();
    }
    assert!(t0.elapsed() < Duration::from_secs(12));
}

#[test]
fn many_connections() {
    let limits = Limits { max_connections: 8, deadline: Duration::from_secs(30), ..Limits::default() };
    let r = start(auth::Auth::read_only(), limits);
    // Many at once, each served (4 clients: a client's last connection may still count
    // while its next one is accepted).
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let addr = r.addr;
            std::thread::spawn(move || (0..5).map(|_| get(addr, "/metrics").status).collect::<Vec<_>>())
        })
        .collect();
    for c in clients {
        let got = c.join().unwrap();
        assert!(got.iter().all(|s| *s == 200), "{got:?}");
    }
    // Idle ones up to the limit (the first clients' connections may still be closing):
    // the next is refused at once, with a JSON error...
    let mut idle = Vec::new();
    let over = loop {
        assert!(idle.len() <= 8, "{} idle connections and none refused", idle.len());
        let s = TcpStream::connect(r.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut b = [0u8; 1];
        match s.peek(&mut b) {
            Ok(_) => break read_answer(s),
            Err(_) => idle.push(s),
        }
    };
    assert_eq!(over.status, 503, "{over:?}");
    over.error();
    // ... and served again once they go.
    drop(idle);
    let t0 = Instant::now();
    while get(r.addr, "/metrics").status != 200 {
        assert!(t0.elapsed() < Duration::from_secs(5), "not served after the idle connections closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection from `from` (a loopback address of this host) to `to`.
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// One client's stalled connections take `max_per_peer` of the slots, not all: the
/// next of its own is refused, another client (address) is still served.
#[test]
fn one_client_cannot_take_every_connection() {
    let limits = Limits {
        max_connections: 8,
        max_per_peer: 3,
        deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    let r = start(auth::Auth::read_only(), limits);
    let idle: Vec<TcpStream> = (0..3).map(|_| connect_from([127, 0, 0, 2], r.addr)).collect();
    // Its fourth: refused at once.
    let over = read_answer(connect_from([127, 0, 0, 2], r.addr));
    assert_eq!(over.status, 503, "{over:?}");
    over.error();
    // Another address: served, while the stalled ones wait.
    assert_eq!(get(r.addr, "/metrics").status, 200);
    let mut s = connect_from([127, 0, 0, 3], r.addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(s).status, 200);
    // The first client is served again once its connections go.
    drop(idle);
    let t0 = Instant::now();
    loop {
        let mut s = connect_from([127, 0, 0, 2], r.addr);
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        if read_answer(s).status == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "not served after its connections closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn odd_paths_and_request_lines() {
    let r = with_token();
    // Raw bytes that are not UTF-8, and %-escapes that decode to none.
    refused(&r, raw(r.addr, b"GET /api/v1/services/\xff\xfe HTTP/1.1\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"GET /api/v1/services/tcp/%FF%FE:80 HTTP/1.1\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"GET /api/v1/%zz HTTP/1.1\r\n\r\n"), 400);
    // %-escaped addresses are read as the client meant them.
    assert_eq!(get(r.addr, "/api/v1/services/tcp/198.18.0.100%3A80").status, 200);
    assert_eq!(get(r.addr, "/api/v1/services/tcp/%5B2001%3Adb8%3A%3A1%5D%3A80").status, 404);
    // Malformed request lines and versions.
    refused(&r, raw(r.addr, b"GET\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"GET metrics HTTP/1.1\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
    refused(&r, raw(r.addr, b"GET /metrics HTTP/2.0\r\n\r\n"), 505);
    refused(&r, raw(r.addr, b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    refused(&r, raw(r.addr, b"GET /metrics HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
    refused(&r, raw(r.addr, b"GET /metrics HTTP/1.1\r\nContent-Length: +0\r\n\r\n"), 400);
    // Lines ending in LF alone, and a header value that is not UTF-8 (obs-text), are taken.
    assert_eq!(raw(r.addr, b"GET /metrics HTTP/1.1\nHost: x\n\n").status, 200);
    assert_eq!(raw(r.addr, b"GET /metrics HTTP/1.1\r\nUser-Agent: caf\xe9\r\n\r\n").status, 200);
    // HTTP/1.0 is answered.
    assert_eq!(raw(r.addr, b"GET /metrics HTTP/1.0\r\n\r\n").status, 200);
    // A connection closed without a request costs nothing.
    drop(TcpStream::connect(r.addr).unwrap());
    assert_eq!(get(r.addr, "/metrics").status, 200);
}

#[test]
fn head_is_get_without_the_body() {
    let r = with_token();
    for path in ["/metrics", "/api/v1/services", BASE] {
        let g = get(r.addr, path);
        let h = call(r.addr, "HEAD", path, None, "");
        assert_eq!((h.status, h.body.as_str()), (g.status, ""), "HEAD {path}: {h:?}");
        assert_eq!(g.status, 200, "{path}");
        assert_eq!(h.header("Content-Length"), Some(g.body.len().to_string().as_str()), "{path}");
        assert_eq!(h.header("Content-Type"), g.header("Content-Type"), "{path}");
    }
    let nope = call(r.addr, "HEAD", "/nope", None, "");
    assert_eq!((nope.status, nope.body.as_str()), (404, ""), "{nope:?}");
}

/// A stop is a stop whichever of the two threads sees it first: when the accept thread
/// ends first, `serve` used to report (and log) its end as a failure, one stop in five.
#[test]
fn a_stop_is_not_reported_as_the_accept_thread_failing() {
    let ended: Vec<Ended> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..48)
            .map(|i| {
                scope.spawn(move || {
                    let server = bind("127.0.0.1:0".parse().unwrap()).unwrap();
                    let stop = AtomicBool::new(false);
                    let auth = auth::Auth::with_token(TOKEN);
                    std::thread::scope(|inner| {
                        // Stops spread over the two threads' 250 ms waits.
                        let t = inner.spawn(|| serve(&server, &super::tests::fake(), &auth, &stop));
                        std::thread::sleep(Duration::from_millis(40 + 11 * i));
                        stop.store(true, Ordering::Relaxed);
                        t.join().unwrap()
                    })
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(ended.iter().all(|e| *e == Ended::Stopped), "{ended:?}");
}
