//! HTTP/1.1 as rvs-ctrl serves it, on `std::net`, its heads and chunk sizes parsed by
//! httparse: one thread per connection (at most [`Limits::max_connections`], and
//! [`Limits::max_per_peer`] of one client address) reads a
//! whole request within [`Limits::deadline`], so a client that sends a byte a second, or
//! nothing, or never reads its answer, holds its own thread only, never the others'
//! answers; the requests are then answered one at a time by [`super::serve`]'s loop. One
//! request per connection (`Connection: close`). (tiny_http, before, read each body on
//! the answering thread, with no deadline it could be given.)
//!
//! Every refusal is a JSON error with its status: 400 (malformed, or not UTF-8), 408 (too
//! slow), 413 (body over [`Limits::max_body`], refused before it is read), 417, 431 (head
//! over [`Limits::max_head`]), 501 (a transfer coding other than chunked), 503 (too many
//! connections, or too many of the client's), 505 (not HTTP/1.x). `HEAD` gets the `GET` answer's head.

use super::{error, Answer};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// How much a client may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// To send a whole request, head and body.
    pub deadline: Duration,
    /// To take the answer (each write).
    pub write_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections of one client address at once (of `max_connections`), so that one
    /// client's stalled connections leave the others room, Prometheus' scrapes among them.
    pub max_per_peer: usize,
    /// Request line and headers.
    pub max_head: usize,
    /// Request body.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_per_peer: 16,
            max_head: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// A request read whole.
#[derive(Debug)]
pub(super) struct Request {
    /// In capitals.
    pub method: String,
    pub target: String,
    pub body: String,
}

/// Why no request came: an answer to send, or nothing (the client went away).
#[derive(Debug)]
pub(super) enum NoRequest {
    Refuse(Answer),
    Gone,
}

/// The standard reason phrase of the statuses rvs-ctrl uses.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Reads from `s` into `buf` until `deadline`: Ok(0) at EOF; TimedOut past the deadline.
fn read_some(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        match s.read(buf) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(io::ErrorKind::TimedOut.into())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn too_slow() -> NoRequest {
    NoRequest::Refuse(error(408, "the request did not arrive in time"))
}

fn io_fail(e: io::Error) -> NoRequest {
    if e.kind() == io::ErrorKind::TimedOut {
        too_slow()
    } else {
        NoRequest::Gone
    }
}

fn bad(msg: impl Into<String>) -> NoRequest {
    NoRequest::Refuse(error(400, msg))
}

/// Headers a request may have (more: 431).
const MAX_HEADERS: usize = 64;

/// What rvs-ctrl reads of a request's head (httparse parses it).
struct Head {
    /// In capitals.
    method: String,
    target: String,
    /// Where the body starts in what was read.
    body_at: usize,
    length: Option<usize>,
    chunked: bool,
    authorization: Option<String>,
    expect: Option<String>,
}

/// The head at the start of `buf`, once it is whole (None: read more).
fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, NoRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let body_at = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(NoRequest::Refuse(error(431, format!("more than {MAX_HEADERS} headers"))))
        }
        Err(httparse::Error::Version) => {
            return Err(NoRequest::Refuse(error(505, "only HTTP/1.1 and HTTP/1.0 are served")))
        }
        Err(e) => {
            return Err(bad(format!("malformed request ({e}; the path must be percent-encoded ASCII)")))
        }
    };
    if body_at > limits.max_head {
        return Err(NoRequest::Refuse(error(431, "request head too large")));
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(bad("malformed request line (METHOD /path HTTP/1.1)"));
    };
    if !target.starts_with('/') {
        return Err(bad(format!("malformed path {target:?} (it must start with /)")));
    }
    let mut head = Head {
        method: method.to_ascii_uppercase(),
        target: target.to_string(),
        body_at,
        length: None,
        chunked: false,
        authorization: None,
        expect: None,
    };
    for h in req.headers.iter() {
        // Values may hold bytes that are not UTF-8 (obs-text); none that rvs-ctrl reads does.
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        match h.name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad(format!("bad Content-Length {value:?}")))?;
                if head.length.is_some_and(|l| l as u64 != n) {
                    return Err(bad("two different Content-Length headers"));
                }
                if n > limits.max_body as u64 {
                    let msg = format!("body too large ({n} bytes; at most {})", limits.max_body);
                    return Err(NoRequest::Refuse(error(413, msg)));
                }
                head.length = Some(n as usize);
            }
            "transfer-encoding" if value.eq_ignore_ascii_case("chunked") => head.chunked = true,
            "transfer-encoding" => {
                return Err(NoRequest::Refuse(error(
                    501,
                    format!("transfer coding {value:?} (only chunked)"),
                )))
            }
            "authorization" => head.authorization = Some(value.to_string()),
            "expect" => head.expect = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    if head.chunked && head.length.is_some() {
        return Err(bad("both Content-Length and Transfer-Encoding"));
    }
    Ok(Some(head))
}

/// Whether a request (method, path, Authorization header) may go on (else the refusal).
pub(super) type May<'a> = dyn Fn(&str, &str, Option<&str>) -> Result<(), Answer> + 'a;

/// Reads one request from `s`; `may` says whether its method and Authorization header may
/// go on (checked before the body is read: a refused change sends no body for nothing).
pub(super) fn read_request(s: &mut TcpStream, limits: &Limits, may: &May) -> Result<Request, NoRequest> {
    let deadline = Instant::now() + limits.deadline;
    let mut buf = Vec::with_capacity(1024);
    let head = loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(&buf, limits)? {
                break head;
            }
        }
        if buf.len() > limits.max_head {
            return Err(NoRequest::Refuse(error(431, "request head too large")));
        }
        match fill(s, &mut buf, deadline) {
            Err(NoRequest::Refuse(_)) if buf.is_empty() => return Err(NoRequest::Gone),
            r => r?,
        }
    };
    let Head { method, target, body_at, length, chunked, authorization, expect } = head;
    may(&method, &target, authorization.as_deref()).map_err(NoRequest::Refuse)?;
    match expect.as_deref() {
        None => {}
        Some("100-continue") if chunked || length.is_some_and(|l| l > 0) => {
            let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        Some("100-continue") => {}
        Some(other) => return Err(NoRequest::Refuse(error(417, format!("cannot meet Expect: {other}")))),
    }
    let rest = buf.split_off(body_at);
    let body = if chunked {
        read_chunked(s, rest, limits.max_body, deadline)?
    } else {
        let want = length.unwrap_or(0);
        let mut rest = rest;
        while rest.len() < want {
            fill(s, &mut rest, deadline)?;
        }
        rest.truncate(want);
        rest
    };
    let body = String::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    Ok(Request { method, target, body })
}

/// Reads more of the request into `have`.
fn fill(s: &mut TcpStream, have: &mut Vec<u8>, deadline: Instant) -> Result<(), NoRequest> {
    let mut chunk = [0u8; 4096];
    match read_some(s, &mut chunk, deadline) {
        Ok(0) => Err(NoRequest::Gone),
        Ok(n) => {
            have.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(io_fail(e)),
    }
}

/// A chunked body (RFC 9112 7.1), `have` being what came after the head; httparse reads
/// the chunk sizes and the trailers.
fn read_chunked(
    s: &mut TcpStream,
    mut have: Vec<u8>,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, NoRequest> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (consumed, size) = match httparse::parse_chunk_size(&have[at..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) if have.len() - at <= 1024 => {
                fill(s, &mut have, deadline)?;
                continue;
            }
            _ => return Err(bad("malformed chunk size")),
        };
        at += consumed;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(&have[at..], &mut trailers) {
                    Ok(httparse::Status::Complete(_)) => return Ok(body),
                    Ok(httparse::Status::Partial) if have.len() - at <= 16 * 1024 => {
                        fill(s, &mut have, deadline)?
                    }
                    _ => return Err(bad("malformed chunked body trailers")),
                }
            }
        }
        let size = usize::try_from(size).ok().filter(|n| body.len() + n <= max);
        let Some(size) = size else {
            return Err(NoRequest::Refuse(error(413, format!("body too large (at most {max} bytes)"))));
        };
        while have.len() - at < size + 2 {
            fill(s, &mut have, deadline)?;
        }
        body.extend_from_slice(&have[at..at + size]);
        if &have[at + size..at + size + 2] != b"\r\n" {
            return Err(bad("malformed chunked body"));
        }
        at += size + 2;
    }
}

/// The answer as sent: status line, headers, and the body unless `head_only`; a 405 names
/// the methods its path takes (`Allow`, RFC 9110 15.5.6).
fn render(a: &Answer, head_only: bool, allow: Option<&str>) -> String {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        a.status,
        reason(a.status),
        a.content_type,
        a.body.len()
    );
    if a.status == 401 {
        out.push_str("WWW-Authenticate: Bearer realm=\"rvs-ctrl\"\r\n");
    }
    if let Some(allow) = allow.filter(|_| a.status == 405) {
        out.push_str(&format!("Allow: {allow}\r\n"));
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&a.body);
    }
    out
}

/// Sends `a` (its head only for `HEAD`) and closes the connection, first reading what the
/// client still sends for a moment so that it gets the answer rather than a reset.
pub(super) fn send(mut s: TcpStream, a: &Answer, head_only: bool, allow: Option<&str>, limits: &Limits) {
    let _ = s.set_write_timeout(Some(limits.write_timeout));
    if let Err(e) = s.write_all(render(a, head_only, allow).as_bytes()).and_then(|()| s.flush()) {
        tracing::debug!(error = %e, "HTTP answer not sent");
        return;
    }
    let _ = s.shutdown(Shutdown::Write);
    let linger = Instant::now() + Duration::from_millis(500);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 1 << 20 {
        match read_some(&mut s, &mut sink, linger) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Sends `a` without waiting (into the socket's empty buffer) and closes: for the accept
/// thread, which must not wait on a client.
pub(super) fn send_now(mut s: TcpStream, a: &Answer) {
    let _ = s.set_nonblocking(true);
    let _ = s.write(render(a, false, None).as_bytes());
    let _ = s.shutdown(Shutdown::Write);
}
