//! TOA ("TCP option address"): the client's address in a TCP option (kind 254, length 8: the
//! port then the IPv4 address, network order), inserted into the first ACK/data segments a
//! FULLNAT connection sends to the real server, where the `toa` kernel module reads it back
//! for `getpeername()`. An IPv6 client's address (NAT64, or IPv6 FULLNAT) goes in the
//! 20-byte form DPVS and the Alibaba TOA module read: kind 254, length 20, the port, then
//! the 16-byte address ([`encode_v6`], [`TOA_V6_LEN`]).
//!
//! The option goes right after the 20-byte TCP header, so options after it keep their
//! alignment (8 is a multiple of 4) and an end-of-list option can never hide it. The segment
//! grows by 8 bytes: the caller's buffer must have the tailroom, and the TCP header must stay
//! within 60 bytes. Because the packet grows, the MSS the client may send with must leave room
//! for it: with SYN proxy that is the MSS rvsd advertises (`SynProxyConfig::mss`); otherwise
//! call [`clamp_mss`] with [`TOA_LEN`] on the SYN/ACK from the real server to the client (the
//! segment that tells the client how much it may send).

pub mod split;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::synproxy::seq::{find_option, write_option_bytes};
use crate::wire::checksum;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::{IpProtocol, WireError};

/// The TOA option kind.
pub const TOA_KIND: u8 = 254;
/// The TOA option length, and how much a segment grows.
pub const TOA_LEN: usize = 8;
/// Largest TCP header (data offset 15).
pub const MAX_TCP_HEADER_LEN: usize = 60;
/// [`clamp_mss`] never lowers an MSS below this (Linux `TCP_MIN_MSS`).
pub const MIN_MSS: u16 = 88;

/// Why the TOA option could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ToaError {
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    #[error("not a TCP packet")]
    NotTcp,
    #[error("IP fragment")]
    Fragment,
    /// The TCP header is already longer than 52 bytes: the option does not fit in 60.
    #[error("no room for the TOA option: the TCP header is {header_len} bytes, at most 52 allowed")]
    NoRoom { header_len: usize },
    /// The buffer has fewer than 8 bytes after the packet.
    #[error("no tailroom for the TOA option: {have} bytes after the packet, {TOA_LEN} needed")]
    NoTailroom { have: usize },
    /// The packet would exceed the 65535-byte IPv4 limit.
    #[error("packet too long for the TOA option")]
    TooLong,
}

impl From<WireError> for ToaError {
    fn from(e: WireError) -> Self {
        ToaError::Malformed(e)
    }
}

/// The option bytes: 254, 8, port, address.
#[inline]
pub fn encode(client: SocketAddrV4) -> [u8; TOA_LEN] {
    let p = client.port().to_be_bytes();
    let a = client.ip().octets();
    [TOA_KIND, TOA_LEN as u8, p[0], p[1], a[0], a[1], a[2], a[3]]
}

/// The length of the TOA option carrying an IPv6 client (and what a segment grows by).
pub const TOA_V6_LEN: usize = 20;

/// The IPv6 option bytes: 254, 20, port, address.
#[inline]
pub fn encode_v6(client: SocketAddrV6) -> [u8; TOA_V6_LEN] {
    let mut o = [0u8; TOA_V6_LEN];
    o[0] = TOA_KIND;
    o[1] = TOA_V6_LEN as u8;
    o[2..4].copy_from_slice(&client.port().to_be_bytes());
    o[4..].copy_from_slice(&client.ip().octets());
    o
}

/// The IPv6 client of the first well-formed 20-byte TOA option in `opts`.
pub fn find_v6(opts: &[u8]) -> Option<SocketAddrV6> {
    let (off, len) = find_option(opts, 0, TOA_KIND)?;
    if len != TOA_V6_LEN {
        return None;
    }
    let b = &opts[off..off + TOA_V6_LEN];
    let a: [u8; 16] = b[4..].try_into().ok()?;
    Some(SocketAddrV6::new(Ipv6Addr::from(a), u16::from_be_bytes([b[2], b[3]]), 0, 0))
}

/// Inserts the TCP option `opt` (a multiple of 4 bytes) right after the fixed header of the
/// TCP segment `buf[l4_at..l4_end]`, moving its options and payload up; the bytes after
/// `l4_end` are the tailroom. Updates the data offset and the TCP checksum (the option, the
/// data offset and the pseudo-header's length) but not the IP header's length, which is
/// the caller's (IPv4 or IPv6). On error nothing is changed.
pub fn insert_option(buf: &mut [u8], l4_at: usize, l4_end: usize, opt: &[u8]) -> Result<(), ToaError> {
    debug_assert!(opt.len().is_multiple_of(4));
    let tcp =
        TcpPacket::new_checked(buf.get(l4_at..l4_end).ok_or(ToaError::Malformed(WireError::Truncated))?)?;
    let hl = tcp.header_len();
    if hl + opt.len() > MAX_TCP_HEADER_LEN {
        return Err(ToaError::NoRoom { header_len: hl });
    }
    let have = buf.len() - l4_end;
    if have < opt.len() {
        return Err(ToaError::NoTailroom { have });
    }
    let (old_len, new_len) = (l4_end - l4_at, l4_end - l4_at + opt.len());
    if new_len > u16::MAX as usize {
        return Err(ToaError::TooLong);
    }
    let old_off_word = u16::from_be_bytes([buf[l4_at + 12], buf[l4_at + 13]]);
    let opts_at = l4_at + TcpPacket::<&[u8]>::MIN_HEADER_LEN;
    buf.copy_within(opts_at..l4_end, opts_at + opt.len());
    buf[opts_at..opts_at + opt.len()].copy_from_slice(opt);
    let mut tcp = TcpPacket::new_unchecked(&mut buf[l4_at..l4_end + opt.len()]);
    tcp.set_header_len(hl + opt.len());
    let new_off_word = u16::from_be_bytes([tcp.as_bytes()[12], tcp.as_bytes()[13]]);
    // The moved bytes moved by an even count: their sum is unchanged.
    let mut c = checksum::update_u16(tcp.checksum(), old_off_word, new_off_word);
    c = checksum::update_u16(c, old_len as u16, new_len as u16);
    for w in opt.chunks_exact(2) {
        c = checksum::update_u16(c, 0, u16::from_be_bytes([w[0], w[1]]));
    }
    tcp.set_checksum(c);
    Ok(())
}

/// [`insert_toa`] with any option: the IPv4 packet at the start of `buf` grows by
/// `opt.len()`; its total length and header checksum follow. Returns the new length.
pub fn insert_option_v4(buf: &mut [u8], opt: &[u8]) -> Result<usize, ToaError> {
    let ip = Ipv4Packet::new_checked(&buf[..])?;
    if ip.protocol() != IpProtocol::TCP {
        return Err(ToaError::NotTcp);
    }
    if ip.is_fragment() {
        return Err(ToaError::Fragment);
    }
    let (ihl, total) = (ip.header_len(), ip.total_len() as usize);
    let new_total = total + opt.len();
    if new_total > u16::MAX as usize {
        return Err(ToaError::TooLong);
    }
    insert_option(buf, ihl, total, opt)?;
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..new_total]);
    ip.set_total_len(new_total as u16);
    ip.set_checksum(checksum::update_u16(ip.checksum(), total as u16, new_total as u16));
    Ok(new_total)
}

/// The client address of the first well-formed TOA option in `opts` (TCP option bytes).
pub fn find(opts: &[u8]) -> Option<SocketAddrV4> {
    let (off, len) = find_option(opts, 0, TOA_KIND)?;
    if len != TOA_LEN {
        return None;
    }
    let b = &opts[off..off + TOA_LEN];
    Some(SocketAddrV4::new(Ipv4Addr::new(b[4], b[5], b[6], b[7]), u16::from_be_bytes([b[2], b[3]])))
}

/// Inserts the TOA option carrying `client` into the TCP segment of the IPv4 packet at the
/// start of `buf` (the bytes after the IP total length are tailroom), right after the fixed
/// TCP header. Moves the options and payload 8 bytes up and updates the data offset, the IP
/// total length and both checksums incrementally. Returns the new packet length. On error the
/// packet is unchanged.
pub fn insert_toa(buf: &mut [u8], client: SocketAddrV4) -> Result<usize, ToaError> {
    insert_option_v4(buf, &encode(client))
}

/// Lowers the MSS option of `tcp` (a SYN or SYN/ACK) by `reduce_by`, never below [`MIN_MSS`]
/// (an MSS already below it is left alone), checksum updated. Returns `(old, new)`, or None
/// when the segment has no MSS option (the peer then assumes 536, which leaves room).
pub fn clamp_mss<T: AsRef<[u8]> + AsMut<[u8]>>(tcp: &mut TcpPacket<T>, reduce_by: u16) -> Option<(u16, u16)> {
    clamp_mss_within(tcp, reduce_by, u16::MAX)
}

/// The MSS a peer may send with when the session adds `room` bytes to its segments and
/// they leave through a port of `mtu` bytes (IPv4 and TCP headers without options: the
/// MSS excludes options, RFC 6691).
pub fn mss_for_mtu(mtu: u16, room: u16) -> u16 {
    mtu.saturating_sub(40 + room).max(MIN_MSS)
}

/// [`clamp_mss`], and no higher than `max` either (what the egress MTU allows: see
/// [`mss_for_mtu`]): a server on a jumbo-frame network advertises more than a 1500-byte
/// port can carry once the session adds its bytes.
pub fn clamp_mss_within<T: AsRef<[u8]> + AsMut<[u8]>>(
    tcp: &mut TcpPacket<T>,
    reduce_by: u16,
    max: u16,
) -> Option<(u16, u16)> {
    let (off, len) = find_option(tcp.options(), 0, 2)?;
    if len != 4 {
        return None;
    }
    let o = tcp.options();
    let old = u16::from_be_bytes([o[off + 2], o[off + 3]]);
    let new = old.saturating_sub(reduce_by).min(max).max(MIN_MSS.min(old));
    if new != old {
        write_option_bytes(tcp, off + 2, &new.to_be_bytes());
    }
    Some((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synproxy::testutil::{arb_options, assert_checksums, build, layouts, tcp, tcp_mut, Seg};
    use crate::wire::tcp::{TcpFlags, TcpOptionIter};
    use proptest::prelude::*;

    fn client() -> SocketAddrV4 {
        "198.18.0.10:40000".parse().unwrap()
    }

    /// Inserts into a packet with `opts` and `payload`, checks everything, returns the packet.
    fn check_insert(opts: &[u8], payload: &[u8], ip_opts: &[u8]) -> Result<Vec<u8>, ToaError> {
        let s =
            Seg { flags: TcpFlags::ACK | TcpFlags::PSH, ack: 77, opts, payload, ip_opts, ..Seg::default() };
        let orig = build(&s, 16);
        let mut b = orig.clone();
        let n = match insert_toa(&mut b, client()) {
            Ok(n) => n,
            Err(e) => {
                assert_eq!(b, orig, "unchanged on error");
                return Err(e);
            }
        };
        let (ihl, total) = assert_checksums(&b);
        assert_eq!(total, n);
        assert_eq!(n, orig.len() - 16 + TOA_LEN);
        let t0 = tcp(&orig);
        let t1 = tcp(&b);
        assert_eq!(t1.header_len(), t0.header_len() + TOA_LEN);
        assert_eq!(&t1.options()[..TOA_LEN], &encode(client()));
        assert_eq!(&t1.options()[TOA_LEN..], t0.options());
        assert_eq!(t1.payload(), payload);
        assert_eq!(find(t1.options()), Some(client()));
        assert_eq!((t1.seq_number(), t1.ack_number(), t1.flags()), (t0.seq_number(), 77, t0.flags()));
        // The old options parse the same after the TOA.
        let a: Vec<_> = TcpOptionIter::new(t0.options()).collect();
        let c: Vec<_> = TcpOptionIter::new(&t1.options()[TOA_LEN..]).collect();
        assert_eq!(a, c);
        assert_eq!(&b[..ihl][20..], ip_opts);
        Ok(b)
    }

    #[test]
    fn every_layout() {
        for (name, opts) in layouts() {
            let r = check_insert(&opts, b"GET / HTTP/1.1\r\n\r\n", &[]);
            if opts.len() > 32 {
                assert_eq!(
                    r,
                    Err(ToaError::NoRoom { header_len: 20 + opts.len().div_ceil(4) * 4 }),
                    "{name}"
                );
            } else {
                assert!(r.is_ok(), "{name}: {r:?}");
            }
        }
        // Pure ACK, odd payload, IP options.
        check_insert(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], b"", &[]).unwrap();
        check_insert(&[], b"x", &[1, 1, 1, 0]).unwrap();
        check_insert(&[0; 32], b"abc", &[]).unwrap();
    }

    #[test]
    fn errors() {
        let s = Seg { flags: TcpFlags::ACK, ..Seg::default() };
        let mut b = build(&s, 7);
        assert_eq!(insert_toa(&mut b, client()), Err(ToaError::NoTailroom { have: 7 }));
        let mut u = build(&s, 8);
        u[9] = 17;
        assert_eq!(insert_toa(&mut u, client()), Err(ToaError::NotTcp));
        let mut f = build(&s, 8);
        f[6] = 0x20; // MF
        assert_eq!(insert_toa(&mut f, client()), Err(ToaError::Fragment));
        assert_eq!(insert_toa(&mut [0u8; 10], client()), Err(ToaError::Malformed(WireError::Truncated)));
        let full = build(&Seg { opts: &[1; 40], ..s.clone() }, 100);
        assert_eq!(insert_toa(&mut full.clone(), client()), Err(ToaError::NoRoom { header_len: 60 }));
        assert!(ToaError::NoRoom { header_len: 56 }.to_string().contains("56"));
        assert_eq!(find(&[1, 254, 6, 0, 0, 0, 0]), None);
        assert_eq!(find(&[]), None);
    }

    #[test]
    fn mss_clamp() {
        for (name, opts) in layouts() {
            let s = Seg { flags: TcpFlags::SYN | TcpFlags::ACK, opts: &opts, ..Seg::default() };
            let mut b = build(&s, 0);
            let had = tcp(&b).iter_options().find_map(|o| match o {
                crate::wire::tcp::TcpOption::Mss(m) => Some(m),
                _ => None,
            });
            let r = clamp_mss(&mut tcp_mut(&mut b), TOA_LEN as u16);
            assert_checksums(&b);
            assert_eq!(r, had.map(|m| (m, m - 8)), "{name}");
        }
        // An MSS at an odd offset, and the floor.
        let mut b = build(&Seg { opts: &[1, 2, 4, 0, 90, 0, 0, 0], ..Seg::default() }, 0);
        assert_eq!(clamp_mss(&mut tcp_mut(&mut b), 8), Some((90, 88)));
        assert_checksums(&b);
        let mut b = build(&Seg { opts: &[1, 2, 4, 0, 60, 0, 0, 0], ..Seg::default() }, 0);
        assert_eq!(clamp_mss(&mut tcp_mut(&mut b), 8), Some((60, 60)));
    }

    proptest! {
        #[test]
        fn insert_into_any_layout(opts in arb_options(), payload in proptest::collection::vec(any::<u8>(), 0..64),
                                  ip_opts in prop::sample::select(vec![0usize, 4, 8])) {
            let ipo = vec![1u8; ip_opts];
            let r = check_insert(&opts, &payload, &ipo);
            let hl = 20 + opts.len().div_ceil(4) * 4;
            if hl + TOA_LEN > 60 {
                prop_assert_eq!(r, Err(ToaError::NoRoom { header_len: hl }));
            } else {
                prop_assert!(r.is_ok());
            }
        }

        #[test]
        fn clamp_any_layout(opts in arb_options(), by in any::<u16>()) {
            let mut b = build(&Seg { opts: &opts, ..Seg::default() }, 0);
            if let Some((old, new)) = clamp_mss(&mut tcp_mut(&mut b), by) {
                prop_assert!(new <= old);
                prop_assert!(new >= MIN_MSS.min(old));
            }
            assert_checksums(&b);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut d = data;
            let _ = insert_toa(&mut d, client());
        }
    }
}
