//! TCP (RFC 9293) segments and options.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use super::checksum;
use super::{get_u16, get_u32, put_u16, put_u32, IpProtocol, Result, WireError};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The TCP flags byte (byte 13: CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// All flags of `other` are set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `SYN|ACK`, or `-` when empty.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        if self.0 == 0 {
            return f.write_str("-");
        }
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A view of a TCP segment. The buffer is exactly the segment (the IPv4 payload): its length
/// is the TCP length of the pseudo header.
///
/// Invariant (established by [`TcpPacket::new_checked`]): `20 <= header_len() <= buffer
/// length <= 65535`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const MIN_HEADER_LEN: usize = 20;

    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks the invariant. Errors: [`WireError::Truncated`] when the buffer is shorter than
    /// 20 bytes or than the data offset; [`WireError::BadDataOffset`] for a data offset below 5;
    /// [`WireError::BadLength`] for a segment longer than 65535 bytes (impossible in IPv4).
    pub fn check(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if len > u16::MAX as usize {
            return Err(WireError::BadLength);
        }
        let hl = self.header_len();
        if hl < Self::MIN_HEADER_LEN {
            return Err(WireError::BadDataOffset);
        }
        if hl > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole segment.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize) * 4
    }

    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    #[inline]
    pub fn window(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn urgent(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The raw options bytes (20..header_len), possibly empty.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// The parsed options; see [`TcpOptionIter`].
    #[inline]
    pub fn iter_options(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Segment length as the pseudo header counts it.
    #[inline]
    fn seg_len(&self) -> u16 {
        self.buffer.as_ref().len() as u16
    }

    /// True when the checksum over the pseudo header (`src`, `dst`) and the whole segment is
    /// right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let s = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, self.seg_len())
            + checksum::sum(self.buffer.as_ref());
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ, v);
    }

    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the data offset to `len / 4` (`len` a multiple of 4 in 20..=60); keeps the
    /// reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    #[inline]
    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }

    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    /// The whole buffer, for writers that lay out bytes the setters do not name.
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[Self::MIN_HEADER_LEN..hl]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// Computes the checksum over the pseudo header and the whole segment.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let s = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, self.seg_len())
            + checksum::sum(self.buffer.as_ref());
        self.set_checksum(!checksum::fold(s));
    }

    /// Sets both ports and updates the checksum incrementally.
    #[inline]
    pub fn rewrite_ports(&mut self, new_src: u16, new_dst: u16) {
        let (old_src, old_dst) = (self.src_port(), self.dst_port());
        self.set_src_port(new_src);
        self.set_dst_port(new_dst);
        let c = checksum::update_u16(self.checksum(), old_src, new_src);
        self.set_checksum(checksum::update_u16(c, old_dst, new_dst));
    }

    /// Updates the checksum for a change of the pseudo-header addresses (call it with the IP
    /// header's old and new addresses when NAT rewrites them). Changes nothing else.
    #[inline]
    pub fn update_pseudo_addrs(
        &mut self,
        old_src: Ipv4Addr,
        old_dst: Ipv4Addr,
        new_src: Ipv4Addr,
        new_dst: Ipv4Addr,
    ) {
        let c = checksum::update_addr_v4(self.checksum(), old_src, new_src);
        self.set_checksum(checksum::update_addr_v4(c, old_dst, new_dst));
    }

    /// Sets the sequence number and updates the checksum incrementally (SYN-proxy translation).
    #[inline]
    pub fn rewrite_seq_number(&mut self, new: u32) {
        let old = self.seq_number();
        self.set_seq_number(new);
        self.set_checksum(checksum::update_u32(self.checksum(), old, new));
    }

    /// Sets the acknowledgment number and updates the checksum incrementally.
    #[inline]
    pub fn rewrite_ack_number(&mut self, new: u32) {
        let old = self.ack_number();
        self.set_ack_number(new);
        self.set_checksum(checksum::update_u32(self.checksum(), old, new));
    }
}

/// SACK blocks as they are on the wire: `(left edge, right edge)` pairs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SackBlocks<'a> {
    data: &'a [u8],
}

impl<'a> SackBlocks<'a> {
    /// Wraps raw blocks; None unless `data.len()` is a nonzero multiple of 8.
    pub fn new(data: &'a [u8]) -> Option<SackBlocks<'a>> {
        (!data.is_empty() && data.len().is_multiple_of(8)).then_some(SackBlocks { data })
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.data.len() / 8
    }

    /// Always false for a value from [`SackBlocks::new`] or the parser.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.data.chunks_exact(8).map(|c| (get_u32(c, 0), get_u32(c, 4)))
    }
}

impl fmt::Debug for SackBlocks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0; the iterator stops after it.
    EndOfList,
    /// Kind 1.
    NoOp,
    /// Kind 2, length 4.
    Mss(u16),
    /// Kind 3, length 3: the shift count.
    WindowScale(u8),
    /// Kind 4, length 2.
    SackPermitted,
    /// Kind 5, length 2 + 8n (n >= 1).
    Sack(SackBlocks<'a>),
    /// Kind 8, length 10: (TSval, TSecr).
    Timestamps(u32, u32),
    /// Any other kind, or a known kind with a wrong length; `data` excludes kind and length.
    Unknown { kind: u8, data: &'a [u8] },
}

impl TcpOption<'_> {
    /// Bytes the option takes on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOp => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(b) => 2 + b.data.len(),
            TcpOption::Timestamps(..) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length. Errors with
    /// [`WireError::Truncated`] when `buf` is too short, [`WireError::BadLength`] when the
    /// option is longer than a length byte can say.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.buffer_len();
        if n > u8::MAX as usize {
            return Err(WireError::BadLength);
        }
        let buf = buf.get_mut(..n).ok_or(WireError::Truncated)?;
        let (kind, body): (u8, &[u8]) = match self {
            TcpOption::EndOfList => {
                buf[0] = 0;
                return Ok(1);
            }
            TcpOption::NoOp => {
                buf[0] = 1;
                return Ok(1);
            }
            TcpOption::Mss(v) => {
                buf[2..4].copy_from_slice(&v.to_be_bytes());
                (2, &[])
            }
            TcpOption::WindowScale(s) => {
                buf[2] = *s;
                (3, &[])
            }
            TcpOption::SackPermitted => (4, &[]),
            TcpOption::Sack(b) => (5, b.data),
            TcpOption::Timestamps(v, e) => {
                put_u32(buf, 2, *v);
                put_u32(buf, 6, *e);
                (8, &[])
            }
            TcpOption::Unknown { kind, data } => (*kind, data),
        };
        buf[0] = kind;
        buf[1] = n as u8;
        if !body.is_empty() {
            buf[2..].copy_from_slice(body);
        }
        Ok(n)
    }
}

/// Iterates over TCP options. Tolerant of malformed input: a missing length byte, a length
/// below 2 or beyond the remaining bytes ends the iteration (the rest is ignored); a known
/// kind with an unexpected length is returned as [`TcpOption::Unknown`]. `EndOfList` is
/// returned once and ends the iteration. Never panics.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    data: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        TcpOptionIter { data }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<TcpOption<'a>> {
        let data = self.data;
        let (&kind, rest) = data.split_first()?;
        match kind {
            0 => {
                self.data = &[];
                Some(TcpOption::EndOfList)
            }
            1 => {
                self.data = rest;
                Some(TcpOption::NoOp)
            }
            _ => {
                let len = rest.first().map_or(0, |&l| l as usize);
                if len < 2 || len > data.len() {
                    self.data = &[];
                    return None;
                }
                let body = &data[2..len];
                self.data = &data[len..];
                Some(match (kind, len) {
                    (2, 4) => TcpOption::Mss(get_u16(body, 0)),
                    (3, 3) => TcpOption::WindowScale(body[0]),
                    (4, 2) => TcpOption::SackPermitted,
                    (5, _) if len >= 10 && (len - 2).is_multiple_of(8) => {
                        TcpOption::Sack(SackBlocks { data: body })
                    }
                    (8, 10) => TcpOption::Timestamps(get_u32(body, 0), get_u32(body, 4)),
                    _ => TcpOption::Unknown { kind, data: body },
                })
            }
        }
    }
}

impl std::iter::FusedIterator for TcpOptionIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::EthernetFrame;
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::EtherType;
    use proptest::prelude::*;

    /// A Linux SYN, 192.168.1.10:54321 -> 10.0.0.1:80, with MSS 1460, SACK permitted,
    /// timestamps, NOP, window scale 7.
    #[rustfmt::skip]
    const SYN: [u8; 74] = [
        // Ethernet
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x0c, 0x29, 0x3e, 0x5c, 0x7a, 0x08, 0x00,
        // IPv4
        0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x5c, 0xd5,
        0xc0, 0xa8, 0x01, 0x0a, 0x0a, 0x00, 0x00, 0x01,
        // TCP: ports, seq, ack, data offset 10, SYN, window 64240, checksum, urgent
        0xd4, 0x31, 0x00, 0x50, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00,
        0xa0, 0x02, 0xfa, 0xf0, 0xca, 0x4b, 0x00, 0x00,
        // options: MSS 1460, SACK permitted, TS 0x009a8b7c/0, NOP, WS 7
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9a, 0x8b, 0x7c, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parse_syn() {
        let eth = EthernetFrame::new_checked(&SYN[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::IPV4);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.protocol(), IpProtocol::TCP);
        assert_eq!(ip.total_len(), 60);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(tcp.src_port(), 54321);
        assert_eq!(tcp.dst_port(), 80);
        assert_eq!(tcp.seq_number(), 0x1a2b3c4d);
        assert_eq!(tcp.ack_number(), 0);
        assert_eq!(tcp.header_len(), 40);
        assert_eq!(tcp.flags(), TcpFlags::SYN);
        assert!(
            tcp.flags().contains(TcpFlags::SYN) && !tcp.flags().intersects(TcpFlags::ACK | TcpFlags::RST)
        );
        assert_eq!(tcp.window(), 64240);
        assert_eq!(tcp.checksum(), 0xca4b);
        assert_eq!(tcp.urgent(), 0);
        assert_eq!(tcp.options().len(), 20);
        assert!(tcp.payload().is_empty());
        assert!(tcp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert!(!tcp.verify_checksum(ip.src_addr(), Ipv4Addr::new(10, 0, 0, 2)));
        let opts: Vec<_> = tcp.iter_options().collect();
        assert_eq!(
            opts,
            [
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps(0x009a8b7c, 0),
                TcpOption::NoOp,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn sack_blocks_and_emit() {
        let mut opts = [0u8; 40];
        let mut n = 0;
        let blocks = [0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10];
        for o in [
            TcpOption::NoOp,
            TcpOption::NoOp,
            TcpOption::Sack(SackBlocks::new(&blocks).unwrap()),
            TcpOption::Unknown { kind: 30, data: &[9, 9] },
            TcpOption::EndOfList,
        ] {
            n += o.emit(&mut opts[n..]).unwrap();
        }
        assert_eq!(n, 2 + 18 + 4 + 1);
        let parsed: Vec<_> = TcpOptionIter::new(&opts).collect();
        assert_eq!(parsed.len(), 5);
        let TcpOption::Sack(s) = parsed[2] else { panic!("{:?}", parsed[2]) };
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), [(1, 2), (0xfffffff0, 0x10)]);
        assert_eq!(parsed[3], TcpOption::Unknown { kind: 30, data: &[9, 9] });
        assert_eq!(parsed[4], TcpOption::EndOfList);
        assert_eq!(TcpOption::Mss(1).emit(&mut [0u8; 3]), Err(WireError::Truncated));
        assert_eq!(SackBlocks::new(&[0; 7]), None);
        assert_eq!(SackBlocks::new(&[]), None);
        let big = [0u8; 254];
        assert_eq!(
            TcpOption::Unknown { kind: 99, data: &big }.emit(&mut [0u8; 300]),
            Err(WireError::BadLength)
        );
        for o in [
            TcpOption::Mss(1460),
            TcpOption::WindowScale(9),
            TcpOption::SackPermitted,
            TcpOption::Timestamps(7, 8),
        ] {
            let mut b = [0u8; 10];
            let n = o.emit(&mut b).unwrap();
            assert_eq!(n, o.buffer_len());
            assert_eq!(TcpOptionIter::new(&b[..n]).collect::<Vec<_>>(), [o]);
        }
    }

    #[test]
    fn malformed_options() {
        fn it(b: &[u8]) -> Vec<TcpOption<'_>> {
            TcpOptionIter::new(b).collect()
        }
        // Missing length byte, zero and one length, length beyond the end: stop.
        assert_eq!(it(&[1, 2]), [TcpOption::NoOp]);
        assert_eq!(it(&[2, 0, 5, 0xb4]), []);
        assert_eq!(it(&[2, 1, 5, 0xb4]), []);
        assert_eq!(it(&[1, 8, 10, 0, 0]), [TcpOption::NoOp]);
        // Known kinds with a wrong length become Unknown.
        assert_eq!(it(&[2, 3, 5]), [TcpOption::Unknown { kind: 2, data: &[5] }]);
        assert_eq!(it(&[5, 2]), [TcpOption::Unknown { kind: 5, data: &[] }]);
        assert_eq!(it(&[5, 6, 0, 0, 0, 0]), [TcpOption::Unknown { kind: 5, data: &[0; 4] }]);
        // Nothing after EndOfList.
        assert_eq!(it(&[0, 2, 4, 5, 0xb4]), [TcpOption::EndOfList]);
        assert_eq!(it(&[]), []);
    }

    #[test]
    fn malformed_segments() {
        let tcp = &SYN[34..];
        assert!(TcpPacket::new_checked(tcp).is_ok());
        assert_eq!(TcpPacket::new_checked(&tcp[..19]), Err(WireError::Truncated));
        // Data offset 10 but only 39 bytes.
        assert_eq!(TcpPacket::new_checked(&tcp[..39]), Err(WireError::Truncated));
        for off in 0..5u8 {
            let mut b = tcp.to_vec();
            b[12] = off << 4;
            assert_eq!(TcpPacket::new_checked(&b[..]), Err(WireError::BadDataOffset));
        }
        let mut b = tcp.to_vec();
        b[12] = 0xf0;
        assert_eq!(TcpPacket::new_checked(&b[..]), Err(WireError::Truncated));
        b.resize(60, 0);
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().options().len(), 40);
        assert_eq!(TcpPacket::new_checked(&vec![0x50u8; 65536][..]), Err(WireError::BadLength));
    }

    #[test]
    fn setters_and_flags() {
        let mut b = [0u8; 24];
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.set_seq_number(3);
        t.set_ack_number(4);
        t.set_header_len(24);
        t.set_flags(TcpFlags::SYN | TcpFlags::ACK);
        t.set_window(5);
        t.set_urgent(6);
        t.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        let (s, d) = (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2));
        t.fill_checksum(s, d);
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()), (1, 2, 3, 4));
        assert_eq!((t.header_len(), t.window(), t.urgent()), (24, 5, 6));
        assert_eq!(t.flags().to_string(), "SYN|ACK");
        assert_eq!(TcpFlags::empty().to_string(), "-");
        assert!(t.verify_checksum(s, d));
        let mut f = TcpFlags::FIN;
        f |= TcpFlags::PSH;
        f.insert(TcpFlags::CWR);
        f.remove(TcpFlags::FIN);
        assert_eq!(f, TcpFlags::PSH | TcpFlags::CWR);
        assert_eq!((f & TcpFlags::PSH).bits(), 0x08);
    }

    prop_compose! {
        fn arb_segment()(doff in 5u8..=15, hdr in proptest::collection::vec(any::<u8>(), 60),
                         payload in proptest::collection::vec(any::<u8>(), 0..100)) -> Vec<u8> {
            let hl = doff as usize * 4;
            let mut b = hdr[..hl].to_vec();
            b[12] = (doff << 4) | (b[12] & 0x0f);
            b.extend_from_slice(&payload);
            b
        }
    }

    proptest! {
        #[test]
        fn incremental_checksum(mut seg in arb_segment(), src in any::<u32>(), dst in any::<u32>(),
                                nsrc in any::<u32>(), ndst in any::<u32>(), sport in any::<u16>(),
                                dport in any::<u16>(), seq in any::<u32>(), ack in any::<u32>()) {
            let (src, dst, nsrc, ndst) = (src.into(), dst.into(), nsrc.into(), ndst.into());
            let mut t = TcpPacket::new_checked(&mut seg[..]).unwrap();
            t.fill_checksum(src, dst);
            prop_assert!(t.verify_checksum(src, dst));
            t.update_pseudo_addrs(src, dst, nsrc, ndst);
            t.rewrite_ports(sport, dport);
            t.rewrite_seq_number(seq);
            t.rewrite_ack_number(ack);
            let inc = t.checksum();
            prop_assert!(t.verify_checksum(nsrc, ndst));
            t.fill_checksum(nsrc, ndst);
            prop_assert_eq!(inc, t.checksum());
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(t) = TcpPacket::new_checked(&data[..]) {
                let _ = (t.src_port(), t.flags(), t.header_len(), t.payload().len(), t.options().len());
                let _ = t.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
                prop_assert!(t.iter_options().count() <= 40);
            }
        }

        #[test]
        fn options_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut total = 0;
            for o in TcpOptionIter::new(&data) {
                total += o.buffer_len();
                let mut b = [0u8; 64];
                let n = o.emit(&mut b).unwrap();
                prop_assert_eq!(TcpOptionIter::new(&b[..n]).next(), Some(o));
            }
            prop_assert!(total <= data.len());
        }
    }
}
