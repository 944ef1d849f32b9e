//! PROXY protocol (HAProxy, versions 1 and 2): the client's addresses sent to the real server
//! ahead of the client's first byte, so that a FULLNAT connection still tells the server who
//! the client is.
//!
//! rvsd inserts the header into the payload of the first client → server segment
//! ([`insert_before_payload`]); from then on every client sequence number the server sees is
//! shifted by the header length in both directions ([`seq_delta`], which the session adds to
//! its [`Translation`](crate::synproxy::Translation) with `with_client_insert`).
//!
//! Pipeline rule: insert into every client segment that starts at the client's first byte
//! ([`is_first_data`]: `seq == client_isn + 1`, with payload), retransmissions included, so a
//! lost first segment gets its header again; for server-speaks-first protocols (SMTP, MySQL)
//! also insert into the handshake's final ACK once. The segment grows by the header length:
//! leave room in the MSS the client is given (up to [`V1_MAX_LEN`] or [`V2_TCP4_LEN`] bytes).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::synproxy::seq::SeqDelta;
use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{TcpFlags, TcpPacket};
use crate::wire::{IpProtocol, WireError};

/// The 12-byte signature that starts a v2 header.
pub const V2_SIGNATURE: [u8; 12] = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/// Longest v1 header ("PROXY UNKNOWN" with IPv6 addresses), CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// Longest v1 TCP4 header.
pub const V1_TCP4_MAX_LEN: usize = 56;
/// A v2 TCP over IPv4 header without TLVs.
pub const V2_TCP4_LEN: usize = 16 + 12;
/// A v2 TCP over IPv6 header without TLVs.
pub const V2_TCP6_LEN: usize = 16 + 36;

/// Version 2, command PROXY.
const V2_PROXY: u8 = 0x21;
const V2_LOCAL: u8 = 0x20;
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

/// The v2 command (v1 headers are always `Proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The connection was made by the proxy itself (health checks); no addresses.
    Local,
    /// On behalf of a client.
    Proxy,
}

/// The transport of a v2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Unspec,
    Stream,
    Dgram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("buffer too small: {need} bytes needed, {have} available")]
    BufferTooSmall { need: usize, have: usize },
    #[error("source and destination address families differ")]
    FamilyMismatch,
    /// More bytes are needed to tell (a parser reading a stream waits for them).
    #[error("incomplete PROXY protocol header")]
    Incomplete,
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(&'static str),
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    #[error("not a TCP packet")]
    NotTcp,
    #[error("IP fragment")]
    Fragment,
    #[error("no tailroom for the PROXY header: {need} bytes needed, {have} available")]
    NoTailroom { need: usize, have: usize },
    #[error("packet too long for the PROXY header")]
    TooLong,
}

impl From<WireError> for ProxyError {
    fn from(e: WireError) -> Self {
        ProxyError::Malformed(e)
    }
}

/// A `fmt::Write` over a byte slice that fails when full.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl std::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes `PROXY TCP4 src dst sport dport\r\n` (TCP6 for IPv6) into `out`; returns its length.
pub fn encode_v1(src: SocketAddr, dst: SocketAddr, out: &mut [u8]) -> Result<usize, ProxyError> {
    let fam = match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
        (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
        _ => return Err(ProxyError::FamilyMismatch),
    };
    let need = v1_len(src, dst);
    if out.len() < need {
        return Err(ProxyError::BufferTooSmall { need, have: out.len() });
    }
    let mut w = SliceWriter { buf: out, len: 0 };
    write!(w, "PROXY {fam} {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port())
        .map_err(|_| ProxyError::BufferTooSmall { need, have: w.buf.len() })?;
    Ok(w.len)
}

/// Length of the v1 header for these addresses.
fn v1_len(src: SocketAddr, dst: SocketAddr) -> usize {
    struct Counter(usize);
    impl std::fmt::Write for Counter {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = write!(c, "PROXY TCP4 {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port());
    c.0
}

/// Writes a v2 header (command PROXY, TCP over IPv4 or IPv6, no TLVs) into `out`; returns its
/// length ([`V2_TCP4_LEN`] or [`V2_TCP6_LEN`]).
pub fn encode_v2(src: SocketAddr, dst: SocketAddr, out: &mut [u8]) -> Result<usize, ProxyError> {
    let (fam, addr_len) = match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => (V2_TCP4, 12usize),
        (SocketAddr::V6(_), SocketAddr::V6(_)) => (V2_TCP6, 36),
        _ => return Err(ProxyError::FamilyMismatch),
    };
    let need = 16 + addr_len;
    let have = out.len();
    let o = out.get_mut(..need).ok_or(ProxyError::BufferTooSmall { need, have })?;
    o[..12].copy_from_slice(&V2_SIGNATURE);
    o[12] = V2_PROXY;
    o[13] = fam;
    o[14..16].copy_from_slice(&(addr_len as u16).to_be_bytes());
    let mut at = 16;
    for ip in [src.ip(), dst.ip()] {
        match ip {
            IpAddr::V4(a) => {
                o[at..at + 4].copy_from_slice(&a.octets());
                at += 4;
            }
            IpAddr::V6(a) => {
                o[at..at + 16].copy_from_slice(&a.octets());
                at += 16;
            }
        }
    }
    o[at..at + 2].copy_from_slice(&src.port().to_be_bytes());
    o[at + 2..at + 4].copy_from_slice(&dst.port().to_be_bytes());
    Ok(need)
}

/// Writes a v2 LOCAL header (connection made by the proxy itself, e.g. a health check; no
/// addresses) into `out`; returns its length (16).
pub fn encode_v2_local(out: &mut [u8]) -> Result<usize, ProxyError> {
    let have = out.len();
    let o = out.get_mut(..16).ok_or(ProxyError::BufferTooSmall { need: 16, have })?;
    o[..12].copy_from_slice(&V2_SIGNATURE);
    o[12] = V2_LOCAL;
    o[13] = 0;
    o[14..16].copy_from_slice(&[0, 0]);
    Ok(16)
}

/// [`encode_v1`] or [`encode_v2`].
pub fn encode(
    version: Version,
    src: SocketAddr,
    dst: SocketAddr,
    out: &mut [u8],
) -> Result<usize, ProxyError> {
    match version {
        Version::V1 => encode_v1(src, dst, out),
        Version::V2 => encode_v2(src, dst, out),
    }
}

/// The length [`encode`] will write (the connection's sequence shift).
pub fn encoded_len(version: Version, src: SocketAddr, dst: SocketAddr) -> usize {
    match (version, src.is_ipv4()) {
        (Version::V1, _) => v1_len(src, dst),
        (Version::V2, true) => V2_TCP4_LEN,
        (Version::V2, false) => V2_TCP6_LEN,
    }
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub version: Version,
    pub command: Command,
    pub transport: Transport,
    /// (source, destination); None for `UNKNOWN`, `LOCAL`, UNSPEC and UNIX addresses.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// The v2 TLVs after the addresses (raw), empty for v1.
    pub tlvs: &'a [u8],
    /// Bytes the header takes at the start of the stream.
    pub len: usize,
}

/// Parses a v1 or v2 header at the start of `data`.
pub fn parse(data: &[u8]) -> Result<Header<'_>, ProxyError> {
    if data.starts_with(b"PROXY ") {
        return parse_v1(data);
    }
    let n = data.len().min(12);
    if data[..n] == V2_SIGNATURE[..n] {
        if n < 12 {
            return Err(ProxyError::Incomplete);
        }
        return parse_v2(data);
    }
    if b"PROXY ".starts_with(&data[..data.len().min(6)]) {
        return Err(ProxyError::Incomplete);
    }
    Err(ProxyError::Invalid("no PROXY protocol signature"))
}

fn parse_v1(data: &[u8]) -> Result<Header<'_>, ProxyError> {
    let window = &data[..data.len().min(V1_MAX_LEN)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return Err(if data.len() < V1_MAX_LEN {
            ProxyError::Incomplete
        } else {
            ProxyError::Invalid("v1 header longer than 107 bytes")
        });
    };
    let line = std::str::from_utf8(&data[6..end]).map_err(|_| ProxyError::Invalid("v1 header not ASCII"))?;
    let len = end + 2;
    let mut f = line.split(' ');
    let proto = f.next().unwrap_or("");
    let header = |addrs: Option<(SocketAddr, SocketAddr)>| Header {
        version: Version::V1,
        command: Command::Proxy,
        transport: if addrs.is_some() { Transport::Stream } else { Transport::Unspec },
        addrs,
        tlvs: &[],
        len,
    };
    let v6 = match proto {
        "UNKNOWN" => return Ok(header(None)),
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(ProxyError::Invalid("v1 protocol not TCP4, TCP6 or UNKNOWN")),
    };
    let (Some(s), Some(d), Some(sp), Some(dp), None) = (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Err(ProxyError::Invalid("v1 header needs exactly 4 address fields"));
    };
    let ip = |a: &str| -> Result<IpAddr, ProxyError> {
        let r =
            if v6 { a.parse::<Ipv6Addr>().map(IpAddr::V6) } else { a.parse::<Ipv4Addr>().map(IpAddr::V4) };
        r.map_err(|_| ProxyError::Invalid("v1 bad address"))
    };
    let port = |p: &str| -> Result<u16, ProxyError> {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        if !ok {
            return Err(ProxyError::Invalid("v1 bad port"));
        }
        p.parse().map_err(|_| ProxyError::Invalid("v1 bad port"))
    };
    let src = SocketAddr::new(ip(s)?, port(sp)?);
    let dst = SocketAddr::new(ip(d)?, port(dp)?);
    Ok(header(Some((src, dst))))
}

fn parse_v2(data: &[u8]) -> Result<Header<'_>, ProxyError> {
    if data.len() < 16 {
        return Err(ProxyError::Incomplete);
    }
    if data[12] >> 4 != 2 {
        return Err(ProxyError::Invalid("v2 version is not 2"));
    }
    let command = match data[12] & 0x0f {
        0 => Command::Local,
        1 => Command::Proxy,
        _ => return Err(ProxyError::Invalid("v2 unknown command")),
    };
    let transport = match data[13] & 0x0f {
        0 => Transport::Unspec,
        1 => Transport::Stream,
        2 => Transport::Dgram,
        _ => return Err(ProxyError::Invalid("v2 unknown transport")),
    };
    let block_len = u16::from_be_bytes([data[14], data[15]]) as usize;
    let len = 16 + block_len;
    let block = data.get(16..len).ok_or(ProxyError::Incomplete)?;
    let addr_len = match data[13] >> 4 {
        0 => 0,
        1 => 12,
        2 => 36,
        3 => 216,
        _ => return Err(ProxyError::Invalid("v2 unknown address family")),
    };
    if block_len < addr_len {
        return Err(ProxyError::Invalid("v2 length shorter than the addresses"));
    }
    let addrs = match (command, data[13] >> 4) {
        (Command::Proxy, 1) => {
            let s = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            let d = Ipv4Addr::new(block[4], block[5], block[6], block[7]);
            let (sp, dp) =
                (u16::from_be_bytes([block[8], block[9]]), u16::from_be_bytes([block[10], block[11]]));
            Some((SocketAddr::new(s.into(), sp), SocketAddr::new(d.into(), dp)))
        }
        (Command::Proxy, 2) => {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&block[..16]);
            d.copy_from_slice(&block[16..32]);
            let (sp, dp) =
                (u16::from_be_bytes([block[32], block[33]]), u16::from_be_bytes([block[34], block[35]]));
            Some((
                SocketAddr::new(Ipv6Addr::from(s).into(), sp),
                SocketAddr::new(Ipv6Addr::from(d).into(), dp),
            ))
        }
        _ => None,
    };
    Ok(Header { version: Version::V2, command, transport, addrs, tlvs: &block[addr_len..], len })
}

/// The shift of the client's sequence space once a header of `header_len` bytes is inserted.
#[inline]
pub fn seq_delta(header_len: usize) -> SeqDelta {
    SeqDelta(header_len as u32)
}

/// True for a client segment that starts at the client's first byte (`seq == client_isn + 1`)
/// and carries data: the one that gets the header (again, if it is a retransmission).
#[inline]
pub fn is_first_data<T: AsRef<[u8]>>(tcp: &TcpPacket<T>, client_isn: u32) -> bool {
    !tcp.flags().intersects(TcpFlags::SYN | TcpFlags::RST)
        && tcp.seq_number() == client_isn.wrapping_add(1)
        && !tcp.payload().is_empty()
}

/// Inserts `header` in front of the TCP payload of the IPv4 packet at the start of `buf` (the
/// bytes after the IP total length are tailroom): moves the payload up, sets the IP total
/// length and both checksums, and moves the sequence number back by the header length, so
/// that the connection's uniform client-side shift ([`seq_delta`], applied by
/// `Translation::to_server` after this call) puts the header at the client's first byte.
/// Returns the new packet length; on error the packet is unchanged.
pub fn insert_before_payload(buf: &mut [u8], header: &[u8]) -> Result<usize, ProxyError> {
    let ip = Ipv4Packet::new_checked(&buf[..])?;
    if ip.protocol() != IpProtocol::TCP {
        return Err(ProxyError::NotTcp);
    }
    if ip.is_fragment() {
        return Err(ProxyError::Fragment);
    }
    let (ihl, total) = (ip.header_len(), ip.total_len() as usize);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let hl = TcpPacket::new_checked(&buf[ihl..total])?.header_len();
    let have = buf.len() - total;
    if have < header.len() {
        return Err(ProxyError::NoTailroom { need: header.len(), have });
    }
    let new_total = total + header.len();
    if new_total > u16::MAX as usize {
        return Err(ProxyError::TooLong);
    }
    let at = ihl + hl;
    buf.copy_within(at..total, at + header.len());
    buf[at..at + header.len()].copy_from_slice(header);

    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..new_total]);
    ip.set_total_len(new_total as u16);
    ip.set_checksum(checksum::update_u16(ip.checksum(), total as u16, new_total as u16));
    let mut tcp = TcpPacket::new_unchecked(&mut buf[ihl..new_total]);
    let seq = tcp.seq_number();
    tcp.set_seq_number(seq.wrapping_sub(header.len() as u32));
    // The payload may have moved by an odd count: recompute (first segment only).
    tcp.fill_checksum(src, dst);
    Ok(new_total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synproxy::seq::Translation;
    use crate::synproxy::testutil::{assert_checksums, build, layouts, tcp, tcp_mut, Seg};
    use proptest::prelude::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_spec_examples() {
        // proxy-protocol.txt §2.1: the example and the worst cases.
        let mut b = [0u8; 128];
        let n = encode_v1(sa("192.168.0.1:56324"), sa("192.168.0.11:443"), &mut b).unwrap();
        assert_eq!(&b[..n], b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
        assert_eq!(n, encoded_len(Version::V1, sa("192.168.0.1:56324"), sa("192.168.0.11:443")));
        let n = encode_v1(sa("255.255.255.255:65535"), sa("255.255.255.255:65535"), &mut b).unwrap();
        assert_eq!(&b[..n], b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
        assert_eq!(n, V1_TCP4_MAX_LEN);
        let v6 = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        let n = encode_v1(sa(v6), sa(v6), &mut b).unwrap();
        assert_eq!(
            &b[..n],
            &b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"[..]
        );
        assert_eq!(n, 104);

        let h = parse(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n").unwrap();
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.addrs, Some((sa("192.168.0.1:56324"), sa("192.168.0.11:443"))));
        assert_eq!(h.len, 47);
        let h = parse(b"PROXY UNKNOWN\r\n").unwrap();
        assert_eq!((h.addrs, h.len), (None, 15));
        let unk = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(unk.len(), V1_MAX_LEN);
        assert_eq!(parse(unk).unwrap().len, V1_MAX_LEN);
        let h = parse(&b[..104]).unwrap();
        assert_eq!(h.addrs, Some((sa(v6), sa(v6))));
    }

    #[test]
    fn v1_errors() {
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), Err(ProxyError::Incomplete));
        assert_eq!(parse(b"PRO"), Err(ProxyError::Incomplete));
        assert_eq!(parse(b""), Err(ProxyError::Incomplete));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::Invalid(_))));
        assert!(matches!(parse(&[b'P'; 200]), Err(ProxyError::Invalid(_))));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.\xff 1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Err(ProxyError::Invalid(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(encode_v1(sa("1.2.3.4:5"), sa("[::1]:5"), &mut [0; 128]), Err(ProxyError::FamilyMismatch));
        assert_eq!(
            encode_v1(sa("1.2.3.4:5"), sa("1.2.3.4:6"), &mut [0; 20]),
            Err(ProxyError::BufferTooSmall { need: 32, have: 20 })
        );
    }

    #[test]
    fn v2_bytes() {
        // proxy-protocol.txt §2.2: signature, 0x21 (v2, PROXY), 0x11 (AF_INET, STREAM),
        // length 12, src addr, dst addr, src port, dst port, all network order.
        let mut b = [0u8; 64];
        let n = encode_v2(sa("192.168.0.1:56324"), sa("192.168.0.11:443"), &mut b).unwrap();
        assert_eq!(n, V2_TCP4_LEN);
        #[rustfmt::skip]
        let expect: [u8; 28] = [
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
            0x21, 0x11, 0x00, 0x0c,
            192, 168, 0, 1, 192, 168, 0, 11,
            0xdc, 0x04, 0x01, 0xbb,
        ];
        assert_eq!(&b[..n], &expect);
        assert_eq!(&V2_SIGNATURE, b"\r\n\r\n\0\r\nQUIT\n");
        let h = parse(&b[..n]).unwrap();
        assert_eq!((h.version, h.command, h.transport), (Version::V2, Command::Proxy, Transport::Stream));
        assert_eq!(h.addrs, Some((sa("192.168.0.1:56324"), sa("192.168.0.11:443"))));
        assert_eq!((h.len, h.tlvs), (28, &[][..]));

        let n = encode_v2(sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"), &mut b).unwrap();
        assert_eq!((n, b[13], b[15]), (V2_TCP6_LEN, 0x21, 36));
        assert_eq!(parse(&b[..n]).unwrap().addrs, Some((sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"))));
        assert_eq!(encoded_len(Version::V2, sa("[::1]:1"), sa("[::1]:1")), 52);

        // LOCAL with a TLV (PP2_TYPE_NOOP 0x04): no addresses, TLVs returned raw.
        let mut l = V2_SIGNATURE.to_vec();
        l.extend_from_slice(&[0x20, 0x00, 0x00, 0x04, 0x04, 0x00, 0x01, 0x00]);
        let h = parse(&l).unwrap();
        assert_eq!((h.command, h.addrs, h.tlvs, h.len), (Command::Local, None, &[4u8, 0, 1, 0][..], 20));
        // A TCP4 PROXY header with a trailing TLV.
        let mut t = expect.to_vec();
        t[15] = 12 + 4;
        t.extend_from_slice(&[0x04, 0x00, 0x01, 0xaa, b'G']);
        let h = parse(&t).unwrap();
        assert_eq!((h.len, h.tlvs), (32, &[4u8, 0, 1, 0xaa][..]));

        assert_eq!(parse(&expect[..5]), Err(ProxyError::Incomplete));
        assert_eq!(parse(&expect[..15]), Err(ProxyError::Incomplete));
        assert_eq!(parse(&expect[..27]), Err(ProxyError::Incomplete));
        for (i, v, why) in [
            (12, 0x11, "version"),
            (12, 0x22, "command"),
            (13, 0x13, "transport"),
            (13, 0x41, "family"),
            (15, 8, "short"),
        ] {
            let mut x = expect;
            x[i] = v;
            assert!(matches!(parse(&x), Err(ProxyError::Invalid(_))), "{why}");
        }
        assert_eq!(
            encode_v2(sa("1.2.3.4:5"), sa("1.2.3.4:6"), &mut [0; 27]),
            Err(ProxyError::BufferTooSmall { need: 28, have: 27 })
        );
        assert_eq!(encode_v2(sa("[::1]:5"), sa("1.2.3.4:6"), &mut [0; 64]), Err(ProxyError::FamilyMismatch));
        let n = encode_v2_local(&mut b).unwrap();
        let h = parse(&b[..n]).unwrap();
        assert_eq!((h.command, h.transport, h.addrs, h.len), (Command::Local, Transport::Unspec, None, 16));
        assert_eq!(encode_v2_local(&mut [0; 15]), Err(ProxyError::BufferTooSmall { need: 16, have: 15 }));
    }

    /// The first data segment: header in front, seq moved back so the connection's shift puts
    /// it at ISN + 1; later segments only shift.
    #[test]
    fn insert_into_first_segment_then_translate() {
        let client_isn = 0xffff_fff0u32; // wraps within the connection
        let (csrc, vip) = (sa("198.18.0.10:40000"), sa("198.18.0.100:80"));
        for version in [Version::V1, Version::V2] {
            let mut hdr = [0u8; V1_MAX_LEN];
            let hl = encode(version, csrc, vip, &mut hdr).unwrap();
            let hdr = &hdr[..hl];
            let tr = Translation::IDENTITY.with_client_insert(seq_delta(hl).0);
            for (name, opts) in layouts() {
                let payload = b"GET / HTTP/1.1\r\n\r\n";
                let s = Seg {
                    seq: client_isn.wrapping_add(1),
                    ack: 99,
                    flags: TcpFlags::ACK | TcpFlags::PSH,
                    opts: &opts,
                    payload,
                    ..Seg::default()
                };
                let orig = build(&s, 128);
                assert!(is_first_data(&tcp(&orig), client_isn));
                let mut b = orig.clone();
                let n = insert_before_payload(&mut b, hdr).unwrap();
                tr.to_server(&mut tcp_mut(&mut b));
                let (_, total) = assert_checksums(&b);
                assert_eq!(total, n);
                let t = tcp(&b);
                assert_eq!(t.seq_number(), client_isn.wrapping_add(1), "{name}");
                assert_eq!(&t.payload()[..hl], hdr);
                assert_eq!(&t.payload()[hl..], payload);
                assert_eq!(t.options(), tcp(&orig).options());
                assert_eq!(parse(t.payload()).unwrap().addrs, Some((csrc, vip)));
                // The next segment is shifted by the header length.
                let s2 = Seg {
                    seq: client_isn.wrapping_add(1 + payload.len() as u32),
                    payload: b"more",
                    ..s.clone()
                };
                let mut b2 = build(&s2, 0);
                assert!(!is_first_data(&tcp(&b2), client_isn));
                tr.to_server(&mut tcp_mut(&mut b2));
                assert_checksums(&b2);
                assert_eq!(tcp(&b2).seq_number(), client_isn.wrapping_add(1 + (payload.len() + hl) as u32));
                // The server's ACK of everything comes back as the client's byte count.
                let s3 = Seg {
                    src: s.dst,
                    dst: s.src,
                    sport: 80,
                    dport: 54321,
                    seq: 5,
                    ack: client_isn.wrapping_add(1 + (payload.len() + hl + 4) as u32),
                    flags: TcpFlags::ACK,
                    opts: &[],
                    payload: &[],
                    ..Seg::default()
                };
                let mut b3 = build(&s3, 0);
                tr.to_client(&mut tcp_mut(&mut b3));
                assert_checksums(&b3);
                assert_eq!(tcp(&b3).ack_number(), client_isn.wrapping_add(1 + payload.len() as u32 + 4));
            }
        }
    }

    #[test]
    fn insert_errors() {
        let s = Seg { flags: TcpFlags::ACK, payload: b"x", ..Seg::default() };
        let mut b = build(&s, 10);
        let orig = b.clone();
        assert_eq!(
            insert_before_payload(&mut b, &[0; 28]),
            Err(ProxyError::NoTailroom { need: 28, have: 10 })
        );
        assert_eq!(b, orig);
        b[9] = 17;
        assert_eq!(insert_before_payload(&mut b, &[0; 2]), Err(ProxyError::NotTcp));
        assert_eq!(
            insert_before_payload(&mut [0u8; 3], &[0; 2]),
            Err(ProxyError::Malformed(WireError::Truncated))
        );
        let mut f = build(&s, 10);
        f[7] = 1;
        assert_eq!(insert_before_payload(&mut f, &[0; 2]), Err(ProxyError::Fragment));
        let syn = build(&Seg { payload: b"x", ..Seg::default() }, 0);
        assert!(!is_first_data(&tcp(&syn), 0x1a2b3c4c));
    }

    proptest! {
        #[test]
        fn v1_round_trip(s in any::<u32>(), d in any::<u32>(), sp in any::<u16>(), dp in any::<u16>(),
                         s6 in any::<u128>(), d6 in any::<u128>(), v6 in any::<bool>(), v2 in any::<bool>()) {
            let (src, dst) = if v6 {
                (SocketAddr::new(Ipv6Addr::from(s6).into(), sp), SocketAddr::new(Ipv6Addr::from(d6).into(), dp))
            } else {
                (SocketAddr::new(Ipv4Addr::from(s).into(), sp), SocketAddr::new(Ipv4Addr::from(d).into(), dp))
            };
            let version = if v2 { Version::V2 } else { Version::V1 };
            let mut b = [0u8; 128];
            let n = encode(version, src, dst, &mut b).unwrap();
            prop_assert_eq!(n, encoded_len(version, src, dst));
            prop_assert!(n <= V1_MAX_LEN);
            let h = parse(&b[..n]).unwrap();
            prop_assert_eq!((h.version, h.addrs, h.len), (version, Some((src, dst)), n));
            for cut in 0..n {
                prop_assert_eq!(parse(&b[..cut]), Err(ProxyError::Incomplete));
            }
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128), v in 0u8..3) {
            let mut d = data;
            match v {
                0 => { d.splice(0..0, b"PROXY ".iter().copied()); }
                1 => { d.splice(0..0, V2_SIGNATURE.iter().copied()); }
                _ => {}
            }
            if let Ok(h) = parse(&d) {
                prop_assert!(h.len <= d.len());
            }
        }

        #[test]
        fn insert_keeps_checksums(payload in proptest::collection::vec(any::<u8>(), 0..100),
                                  hdr in proptest::collection::vec(any::<u8>(), 0..108),
                                  opts in crate::synproxy::testutil::arb_options(), seq in any::<u32>()) {
            let s = Seg { seq, flags: TcpFlags::ACK, opts: &opts, payload: &payload, ..Seg::default() };
            let mut b = build(&s, 108);
            let n = insert_before_payload(&mut b, &hdr).unwrap();
            let (_, total) = assert_checksums(&b);
            prop_assert_eq!(n, total);
            let t = tcp(&b);
            prop_assert_eq!(t.seq_number(), seq.wrapping_sub(hdr.len() as u32));
            prop_assert_eq!(&t.payload()[..hdr.len()], &hdr[..]);
            prop_assert_eq!(&t.payload()[hdr.len()..], &payload[..]);
        }
    }
}
