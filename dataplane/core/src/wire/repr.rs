//! Owned, high-level forms of the IPv4 and TCP headers rvsd builds (smoltcp's `Repr`s).
//!
//! A view (`Ipv4Packet`, `TcpPacket`) reads and rewrites a header in place, field by
//! field: that is what forwarding does. A frame rvsd originates (a SYN/ACK with a cookie,
//! the SYN to a real server, a RST) is instead described as a `Repr` and written by its
//! `emit`, so every such frame comes from one place, with every field set and both
//! checksums computed in full. `parse` is the inverse, used by tests (a frame we built
//! parses back to what we meant) and by code that wants the header as values.

use std::net::Ipv4Addr;

use super::ipv4::Ipv4Packet;
use super::tcp::{TcpFlags, TcpPacket};
use super::{IpProtocol, Result, WireError};

/// An IPv4 header without options, as rvsd originates them: DSCP 0, identification 0, not
/// a fragment. Options and fragment fields of a parsed header are not represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes after the header.
    pub payload_len: usize,
    pub ttl: u8,
    pub dont_frag: bool,
}

impl Ipv4Repr {
    pub const HEADER_LEN: usize = 20;

    /// Reads a checked packet. Errors: [`WireError::BadChecksum`] when the header checksum
    /// is wrong, [`WireError::Unsupported`] for a fragment (a Repr describes whole datagrams).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        if !p.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if p.is_fragment() {
            return Err(WireError::Unsupported);
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.payload().len(),
            ttl: p.ttl(),
            dont_frag: p.dont_frag(),
        })
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header, checksum included, at the start of `p`'s buffer (which
    /// must hold at least the header; the payload is the caller's). Errors with
    /// [`WireError::Truncated`] when the buffer is shorter than the header, and
    /// [`WireError::BadTotalLen`] when the total length does not fit in 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) -> Result<()> {
        let total = u16::try_from(self.buffer_len()).map_err(|_| WireError::BadTotalLen)?;
        let hdr = p.as_mut_bytes().get_mut(..Self::HEADER_LEN).ok_or(WireError::Truncated)?;
        hdr.fill(0);
        p.set_version(4);
        p.set_header_len(Self::HEADER_LEN);
        p.set_total_len(total);
        p.set_dont_frag(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
        Ok(())
    }
}

/// A TCP segment header with its options (raw, already laid out: a multiple of 4 bytes, at
/// most 40) and payload. Urgent pointer 0, reserved bits 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads a checked segment whose checksum must be right for `src` → `dst`.
    pub fn parse(p: &TcpPacket<&'a [u8]>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpRepr<'a>> {
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let b: &'a [u8] = p.into_inner();
        let hl = p.header_len();
        Ok(TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
            options: &b[20..hl],
            payload: &b[hl..],
        })
    }

    pub fn header_len(&self) -> usize {
        20 + self.options.len()
    }

    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment into `p`'s buffer, which must be exactly `buffer_len()` bytes
    /// (the checksum covers the whole buffer), with the checksum for `src` → `dst`. Errors:
    /// [`WireError::BadDataOffset`] for options that are not a multiple of 4 or longer than
    /// 40 bytes, [`WireError::BadLength`] when the buffer is not `buffer_len()` long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<()> {
        if !self.options.len().is_multiple_of(4) || self.options.len() > 40 {
            return Err(WireError::BadDataOffset);
        }
        let hl = self.header_len();
        let b = p.as_mut_bytes();
        if b.len() != self.buffer_len() {
            return Err(WireError::BadLength);
        }
        b[..20].fill(0);
        b[20..hl].copy_from_slice(self.options);
        b[hl..].copy_from_slice(self.payload);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq);
        p.set_ack_number(self.ack);
        p.set_header_len(hl);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.fill_checksum(src, dst);
        Ok(())
    }
}

/// Writes an IPv4/TCP packet (no link header) for `ip` and `tcp` at the start of `buf`;
/// `ip.payload_len` is taken from `tcp`. Returns the packet length. Errors with
/// [`WireError::Truncated`] (nothing written) when `buf` is too short.
pub fn emit_ipv4_tcp(buf: &mut [u8], ip: Ipv4Repr, tcp: &TcpRepr<'_>) -> Result<usize> {
    let ip = Ipv4Repr { payload_len: tcp.buffer_len(), protocol: IpProtocol::TCP, ..ip };
    let total = ip.buffer_len();
    let pkt = buf.get_mut(..total).ok_or(WireError::Truncated)?;
    let (hdr, seg) = pkt.split_at_mut(Ipv4Repr::HEADER_LEN);
    tcp.emit(&mut TcpPacket::new_unchecked(seg), ip.src, ip.dst)?;
    ip.emit(&mut Ipv4Packet::new_unchecked(hdr))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_ipv4() -> impl Strategy<Value = Ipv4Repr> {
        (any::<u32>(), any::<u32>(), any::<u8>(), 0usize..1400, any::<u8>(), any::<bool>()).prop_map(
            |(s, d, proto, payload_len, ttl, dont_frag)| Ipv4Repr {
                src: s.into(),
                dst: d.into(),
                protocol: IpProtocol(proto),
                payload_len,
                ttl,
                dont_frag,
            },
        )
    }

    proptest! {
        #[test]
        fn ipv4_emit_then_parse_round_trips(r in arb_ipv4()) {
            let mut buf = vec![0xa5u8; r.buffer_len()];
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])).unwrap();
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
        }

        #[test]
        fn tcp_emit_then_parse_round_trips(
            sport in any::<u16>(), dport in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(),
            flags in any::<u8>(), window in any::<u16>(), words in 0usize..=10,
            opt_byte in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..64),
            src in any::<u32>(), dst in any::<u32>(), ttl in 1u8..,
        ) {
            let options = vec![opt_byte; words * 4];
            let tcp = TcpRepr {
                src_port: sport, dst_port: dport, seq, ack, flags: TcpFlags(flags), window,
                options: &options, payload: &payload,
            };
            let ip = Ipv4Repr {
                src: src.into(), dst: dst.into(), protocol: IpProtocol::TCP, payload_len: 0, ttl,
                dont_frag: true,
            };
            let mut buf = vec![0xa5u8; 200];
            let n = emit_ipv4_tcp(&mut buf, ip, &tcp).unwrap();
            prop_assert_eq!(n, 40 + words * 4 + payload.len());
            let p = Ipv4Packet::new_checked(&buf[..n]).unwrap();
            let parsed_ip = Ipv4Repr::parse(&p).unwrap();
            prop_assert_eq!(parsed_ip, Ipv4Repr { payload_len: n - 20, ..ip });
            let seg = TcpPacket::new_checked(&buf[20..n]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&seg, ip.src, ip.dst).unwrap(), tcp);
        }
    }

    #[test]
    fn refuses_what_it_cannot_write_and_bad_checksums() {
        let tcp = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: TcpFlags::SYN,
            window: 5,
            options: &[1, 1, 1],
            payload: &[],
        };
        let ip = Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: IpProtocol::TCP,
            payload_len: 0,
            ttl: 64,
            dont_frag: true,
        };
        assert_eq!(emit_ipv4_tcp(&mut [0u8; 100], ip, &tcp), Err(WireError::BadDataOffset));
        let tcp = TcpRepr { options: &[], ..tcp };
        assert_eq!(emit_ipv4_tcp(&mut [0u8; 39], ip, &tcp), Err(WireError::Truncated));
        let mut buf = [0u8; 40];
        emit_ipv4_tcp(&mut buf, ip, &tcp).unwrap();
        buf[30] ^= 1; // the window: the TCP checksum no longer matches
        let seg = TcpPacket::new_checked(&buf[20..]).unwrap();
        assert_eq!(TcpRepr::parse(&seg, ip.src, ip.dst), Err(WireError::BadChecksum));
        buf[8] ^= 1; // the TTL: nor does the IP header's
        assert_eq!(Ipv4Repr::parse(&Ipv4Packet::new_checked(&buf[..]).unwrap()), Err(WireError::BadChecksum));
    }
}
