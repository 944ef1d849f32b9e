//! PING_CHECK: one ICMP (ICMPv6) echo request to the checked address; the server is up
//! when its echo reply comes back within `connect_timeout`.
//!
//! keepalived opens ICMP datagram ("ping") sockets and widens `net.ipv4.ping_group_range`
//! so that it may. rvs-ctrl changes no sysctl: it opens a ping socket where the range
//! allows it, else a raw ICMP socket (root's, as keepalived runs). A ping socket gets only
//! the replies to its own identifier; a raw one gets every ICMP message the host
//! receives, so a reply is matched by source (the socket is connected), identifier,
//! sequence and the echoed payload.

use crate::keepalived::CheckerConf;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// What each echo carries after its identifier and sequence number (a reply echoes it).
const PAYLOAD: &[u8] = b"rvs-ctrl PING_CHECK";

/// One echo request sent, waiting for its reply.
pub struct Echo {
    sock: Socket,
    /// A raw socket: every ICMP message comes in (IPv4's with their IP header).
    raw: bool,
    v6: bool,
    ident: u16,
    seq: u16,
}

impl Echo {
    /// Sends an echo request to `conf`'s target (its port unused) from its `bindto`,
    /// `bind_if` and `fwmark`, with identifier `ident` (a ping socket uses its own).
    pub fn send(conf: &CheckerConf, ident: u16, seq: u16) -> io::Result<Echo> {
        let v6 = conf.target.is_ipv6();
        let (domain, proto) =
            if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
        // Nonblocking and close-on-exec from the start.
        let (sock, raw) = match Socket::new(domain, Type::DGRAM.nonblocking(), Some(proto)) {
            Ok(s) => (s, false),
            // Outside ping_group_range: a raw socket, which needs CAP_NET_RAW.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                let s = Socket::new(domain, Type::RAW.nonblocking(), Some(proto)).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("ICMP socket (neither a ping socket nor a raw one): {e}"),
                    )
                })?;
                (s, true)
            }
            Err(e) => return Err(e),
        };
        super::probe::sock_opts(SockRef::from(&sock), conf)?;
        if let Some(local) = conf.bindto {
            sock.bind(&SockAddr::from(SocketAddr::new(local.ip(), 0)))?;
        }
        // Connected: only the target's messages are received.
        sock.connect(&SockAddr::from(SocketAddr::new(conf.target.ip(), 0)))?;
        sock.send(&request(v6, ident, seq))?;
        Ok(Echo { sock, raw, v6, ident, seq })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Reads what has arrived: true once the reply is among it.
    pub fn reply_arrived(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 1500];
        loop {
            let n = match (&self.sock).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            if is_reply(&buf[..n], self.raw, self.v6, self.ident, self.seq) {
                return Ok(true);
            }
        }
    }
}

/// An echo request: type, code, checksum, identifier, sequence, payload. The checksum is
/// computed for IPv4 (the kernel fills in ICMPv6's, which covers the IPv6 addresses).
fn request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST }, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(PAYLOAD);
    if !v6 {
        let sum = checksum(&m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    m
}

/// The Internet checksum of `b` (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 =
        b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `got` (as the socket received it) is the reply to our request. A ping socket
/// has the kernel put its own identifier in, and passes it only its own replies: the
/// identifier is not compared there.
fn is_reply(got: &[u8], raw: bool, v6: bool, ident: u16, seq: u16) -> bool {
    // A raw IPv4 socket receives the IP header too.
    let icmp = if raw && !v6 {
        let ihl = usize::from(got.first().map_or(0, |b| b & 0x0f)) * 4;
        match got.get(ihl..) {
            Some(rest) if ihl >= 20 => rest,
            _ => return false,
        }
    } else {
        got
    };
    let Some((head, payload)) = icmp.split_first_chunk::<8>() else { return false };
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY };
    head[0] == want
        && head[1] == 0
        && (!raw || u16::from_be_bytes([head[4], head[5]]) == ident)
        && u16::from_be_bytes([head[6], head[7]]) == seq
        && payload == PAYLOAD
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as each kind of socket receives it is ours only with our sequence number
    /// and payload (and, on a raw socket, identifier); a request, or another's reply, is
    /// not.
    #[test]
    fn replies_are_matched() {
        let reply = |v6: bool, ident: u16, seq: u16| {
            let mut m = request(v6, ident, seq);
            m[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY };
            m
        };
        let mut ip = vec![0x45u8];
        ip.resize(20, 0);
        let with_ip = |m: &[u8]| [ip.as_slice(), m].concat();
        // Raw IPv4: the IP header first.
        assert!(is_reply(&with_ip(&reply(false, 7, 3)), true, false, 7, 3));
        assert!(!is_reply(&reply(false, 7, 3), true, false, 7, 3), "no IP header");
        assert!(!is_reply(&with_ip(&reply(false, 8, 3)), true, false, 7, 3), "another's identifier");
        assert!(!is_reply(&with_ip(&reply(false, 7, 4)), true, false, 7, 3), "another sequence");
        assert!(!is_reply(&with_ip(&request(false, 7, 3)), true, false, 7, 3), "our own request");
        // Ping sockets: the kernel's identifier, no IP header.
        assert!(is_reply(&reply(false, 999, 3), false, false, 7, 3));
        assert!(is_reply(&reply(true, 999, 3), false, true, 7, 3));
        // Raw IPv6: no IP header, the identifier compared.
        assert!(is_reply(&reply(true, 7, 3), true, true, 7, 3));
        assert!(!is_reply(&reply(true, 6, 3), true, true, 7, 3));
        let mut short = reply(false, 7, 3);
        short.truncate(10);
        assert!(!is_reply(&short, false, false, 7, 3), "payload cut");
        assert!(!is_reply(&[], false, false, 7, 3));
        assert!(!is_reply(&[0x4f], true, false, 7, 3));
    }

    /// The IPv4 request's checksum verifies (sums to all ones).
    #[test]
    fn request_checksum() {
        let m = request(false, 0x1234, 0xfffe);
        assert_eq!(checksum(&m), 0);
        assert_eq!(&m[..2], &[ECHO_REQUEST, 0]);
    }
}
