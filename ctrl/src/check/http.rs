//! HTTP_GET's protocol side, pure: the request keepalived sends and the verdict on the
//! bytes that came back (status code, MD5 digest of the body, regex).

use super::md5::md5_hex;
use crate::keepalived::HttpUrl;
use std::net::SocketAddr;

/// Responses larger than this fail the check rather than grow without bound.
pub const MAX_RESPONSE: usize = 4 << 20;

/// The request line and headers keepalived's HTTP_GET sends: HTTP/1.0, or HTTP/1.1 with
/// `http_protocol 1.1`. `Connection: close` goes with both (keepalived's `1.0C` and `1.1`;
/// its plain `1.0` leaves it out, which an HTTP/1.0 server takes the same way).
pub fn request(url: &HttpUrl, default_vhost: Option<&str>, target: SocketAddr, http_1_1: bool) -> Vec<u8> {
    let host = match url.virtualhost.as_deref().or(default_vhost) {
        Some(h) => h.to_string(),
        None => match target {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    };
    format!(
        "GET {} HTTP/1.{}\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        url.path,
        u8::from(http_1_1)
    )
    .into_bytes()
}

/// Judges a complete response (read until the server closed). `Err` says why it failed.
pub fn judge(url: &HttpUrl, response: &[u8]) -> Result<(), String> {
    let head_end = find(response, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| find(response, b"\n\n").map(|i| (i, i + 2)))
        .ok_or("incomplete HTTP response header")?;
    let head = String::from_utf8_lossy(&response[..head_end.0]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/") {
        return Err(format!("not an HTTP response: {:?}", truncate(status_line)));
    }
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", truncate(status_line)))?;
    if !url.status.accepts(code) {
        return Err(format!("HTTP status {code}"));
    }
    if url.digest.is_none() && url.regex.is_none() {
        return Ok(());
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let raw = &response[head_end.1..];
    let dechunked;
    let body = if chunked {
        dechunked = dechunk(raw).ok_or("bad chunked body")?;
        &dechunked[..]
    } else {
        raw
    };
    if let Some(want) = &url.digest {
        let got = md5_hex(body);
        if &got != want {
            return Err(format!("MD5 digest {got} is not {want}"));
        }
    }
    if let Some(re) = &url.regex {
        let re = regex::bytes::Regex::new(re).map_err(|e| format!("regex: {e}"))?;
        let matched = re.is_match(body);
        if matched == url.regex_no_match {
            return Err(if matched {
                "body matches regex_no_match".into()
            } else {
                "body does not match regex".into()
            });
        }
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(raw, b"\r\n")?;
        let size_txt = std::str::from_utf8(&raw[..eol]).ok()?;
        let size = usize::from_str_radix(size_txt.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if raw.len() < size {
            return None;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keepalived::StatusCodes;

    fn url() -> HttpUrl {
        HttpUrl {
            path: "/health".into(),
            status: StatusCodes::default_2xx(),
            digest: None,
            regex: None,
            regex_no_match: false,
            virtualhost: None,
        }
    }

    #[test]
    fn request_like_keepalived() {
        let t: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        let r = String::from_utf8(request(&url(), None, t, false)).unwrap();
        assert_eq!(
            r,
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
        let r = String::from_utf8(request(&url(), Some("www.example.com"), t, false)).unwrap();
        assert!(r.contains("Host: www.example.com\r\n"));
        let r = String::from_utf8(request(&url(), None, t, true)).unwrap();
        assert!(r.starts_with("GET /health HTTP/1.1\r\n") && r.contains("Connection: close\r\n"), "{r}");
        let mut u = url();
        u.virtualhost = Some("api.example.com".into());
        let r = String::from_utf8(request(&u, Some("www.example.com"), t, false)).unwrap();
        assert!(r.contains("Host: api.example.com\r\n"));
    }

    #[test]
    fn status_codes() {
        assert_eq!(judge(&url(), b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"), Ok(()));
        assert_eq!(judge(&url(), b"HTTP/1.0 204 No Content\r\n\r\n"), Ok(()));
        assert_eq!(judge(&url(), b"HTTP/1.1 503 Busy\r\n\r\n"), Err("HTTP status 503".into()));
        let mut u = url();
        u.status = StatusCodes(vec![(301, 302)]);
        assert_eq!(judge(&u, b"HTTP/1.1 302 Found\r\n\r\n"), Ok(()));
        assert!(judge(&u, b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn malformed_responses_fail() {
        assert!(judge(&url(), b"HTTP/1.1 200 OK\r\nno end").unwrap_err().contains("incomplete"));
        assert!(judge(&url(), b"SSH-2.0-OpenSSH\r\n\r\n").unwrap_err().contains("not an HTTP"));
        assert!(judge(&url(), b"HTTP/1.1 abc\r\n\r\n").unwrap_err().contains("bad status"));
        assert!(judge(&url(), b"").is_err());
    }

    #[test]
    fn digest_of_body() {
        let mut u = url();
        u.digest = Some(md5_hex(b"hello\n"));
        assert_eq!(judge(&u, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"), Ok(()));
        assert!(judge(&u, b"HTTP/1.1 200 OK\r\n\r\nhellO\n").unwrap_err().contains("MD5 digest"));
        // Bare-LF servers.
        assert_eq!(judge(&u, b"HTTP/1.0 200 OK\nServer: x\n\nhello\n"), Ok(()));
    }

    #[test]
    fn digest_of_chunked_body() {
        let mut u = url();
        u.digest = Some(md5_hex(b"hello world"));
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(judge(&u, resp), Ok(()));
        assert!(judge(&u, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    #[test]
    fn regex_match_and_no_match() {
        let mut u = url();
        u.regex = Some("status: (ok|green)".into());
        assert_eq!(judge(&u, b"HTTP/1.1 200 OK\r\n\r\n{status: green}"), Ok(()));
        assert_eq!(
            judge(&u, b"HTTP/1.1 200 OK\r\n\r\n{status: red}"),
            Err("body does not match regex".into())
        );
        u.regex_no_match = true;
        assert_eq!(judge(&u, b"HTTP/1.1 200 OK\r\n\r\n{status: red}"), Ok(()));
        assert!(judge(&u, b"HTTP/1.1 200 OK\r\n\r\nstatus: ok").is_err());
    }
}
