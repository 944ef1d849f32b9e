//! TCP extensions for IPv6 clients (IPv6 FULLNAT and NAT64 sessions):
//!
//! - TOA: the client's IPv6 address and port in a 20-byte TCP option (kind 254, DPVS's
//!   layout for IPv6 clients) on the client's first ACK towards the real server.
//! - PROXY protocol v1/v2 with the client's and the VIP's IPv6 addresses (`TCP6`,
//!   `AF_INET6`) in front of the client's first data byte (and of its retransmissions);
//!   from there the client's sequence space is shifted by the header's length
//!   (`synproxy::Translation`). The header goes with the client's first data only: a server
//!   that speaks first waits for it (`proxy_protocol_send on-connect` is IPv4-only yet).
//!
//! The MSS the server's SYN/ACK offers leaves room for both. NAT64 sessions apply them to
//! the IPv4 segment after translation (`nat64.rs`), IPv6 FULLNAT ones to the IPv6 segment
//! before the rewrite.

use std::net::{SocketAddr, SocketAddrV6};

use super::conn::L4v6;
use super::{Pipeline, ETH_LEN};
use crate::frame::Frame;
use crate::proxyproto::{self, Version};
use crate::session::v6::{Session6, FLAG6_TOA, FLAG6_TOA_PENDING};
use crate::session::{Direction, PROTO_TCP};
use crate::stats::Event;
use crate::synproxy::Translation;
use crate::toa::{self, TOA_V6_LEN};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::tcp::TcpPacket;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
/// Room for the longest PROXY header (v1 with two IPv6 addresses is 104 bytes).
const PROXY_HEADER_MAX: usize = 108;

/// The PROXY version of a session (`Session6::proxy`).
fn version(s: &Session6) -> Option<Version> {
    match s.proxy {
        1 => Some(Version::V1),
        2 => Some(Version::V2),
        _ => None,
    }
}

/// The client and VIP of a session, as the PROXY header names them.
fn proxy_addrs(s: &Session6) -> (SocketAddr, SocketAddr) {
    let c = &s.client;
    (SocketAddrV6::new(c.src, c.sport, 0, 0).into(), SocketAddrV6::new(c.dst, c.dport, 0, 0).into())
}

/// Bytes the session adds to the client's segments at most: the TOA option and the PROXY
/// header.
pub(super) fn growth_room(s: &Session6) -> u16 {
    let mut room = 0;
    if s.flags & FLAG6_TOA != 0 {
        room += TOA_V6_LEN as u16;
    }
    if let Some(v) = version(s) {
        let (src, dst) = proxy_addrs(s);
        room += proxyproto::encoded_len(v, src, dst) as u16;
    }
    room
}

/// The shift of the client's stream once the PROXY header went in.
fn shift(s: &Session6) -> Translation {
    Translation::default().with_client_insert(u32::from(s.proxy_len))
}

impl<P: Frame> Pipeline<P> {
    /// Applies the extensions to a packet of IPv6 FULLNAT session `id` (before its
    /// rewrite): the MSS of the server's SYN/ACK, TOA and the PROXY header on the client's
    /// segments (`l4` follows the growth), the sequence shift both ways.
    pub(super) fn tcp_ext_v6(
        &mut self,
        id: u32,
        s: &Session6,
        dir: Direction,
        mut pkt: P,
        l4: &mut L4v6,
    ) -> P {
        if l4.key.proto != PROTO_TCP {
            return pkt;
        }
        let syn = l4.flags & TCP_SYN != 0;
        if dir == Direction::FromServer {
            let seg = &mut pkt.data_mut()[l4.l4_at..l4.l4_at + l4.l4_len];
            let mut tcp = TcpPacket::new_unchecked(seg);
            if syn {
                // The client's segments, IPv6 headers (60 bytes) and what we add included,
                // must fit the port towards the server.
                let mtu = self
                    .v6
                    .routes
                    .lookup(s.server.src)
                    .map_or(ipv6::MIN_MTU, |h| self.ifaces[h.port as usize].mtu);
                let room = growth_room(s);
                toa::clamp_mss_within(&mut tcp, room, toa::mss_for_mtu(mtu, 20 + room));
            } else if s.proxy_len != 0 {
                shift(s).to_client(&mut tcp);
            }
            return pkt;
        }
        if syn {
            return pkt;
        }
        if s.flags & FLAG6_TOA_PENDING != 0 && l4.flags & TCP_ACK != 0 {
            self.v6.sessions.get_mut(id).flags &= !FLAG6_TOA_PENDING;
            let opt = toa::encode_v6(SocketAddrV6::new(s.client.src, s.client.sport, 0, 0));
            let end = l4.l4_at + l4.l4_len;
            let ok = pkt.set_len(end + TOA_V6_LEN)
                && toa::insert_option(pkt.data_mut(), l4.l4_at, end, &opt).is_ok();
            if ok {
                self.grown_v6(&mut pkt, l4, TOA_V6_LEN);
                self.counters.event(Event::ToaInserted);
            } else {
                pkt.set_len(end);
                self.counters.event(Event::ToaNoRoom);
            }
        }
        if let Some(v) = version(s) {
            let isn = s.client_isn;
            let first = proxyproto::is_first_data(
                &TcpPacket::new_unchecked(&pkt.data()[l4.l4_at..l4.l4_at + l4.l4_len]),
                isn,
            );
            if first {
                if let Some(len) = self.insert_proxy_v6(&mut pkt, l4, v, s) {
                    self.grown_v6(&mut pkt, l4, len);
                    self.v6.sessions.get_mut(id).proxy_len = len as u8;
                }
            }
            let s = *self.v6.sessions.get(id);
            if s.proxy_len != 0 {
                let seg = &mut pkt.data_mut()[l4.l4_at..l4.l4_at + l4.l4_len];
                shift(&s).to_server(&mut TcpPacket::new_unchecked(seg));
            }
        }
        pkt
    }

    /// The IPv6 packet of `pkt` grew by `n` bytes at its end: its payload length and `l4`.
    fn grown_v6(&self, pkt: &mut P, l4: &mut L4v6, n: usize) {
        let mut ip = Ipv6Packet::new_unchecked(&mut pkt.data_mut()[ETH_LEN..]);
        let plen = ip.payload_len() + n as u16;
        ip.set_payload_len(plen);
        l4.l4_len += n;
        l4.ip_len += n;
    }

    /// Inserts the PROXY header in front of the payload of the IPv6 TCP segment, its
    /// sequence number moved back by the header's length (the shift puts it back), the
    /// checksum recomputed (the payload may move by an odd count). Returns the length.
    fn insert_proxy_v6(&self, pkt: &mut P, l4: &L4v6, v: Version, s: &Session6) -> Option<usize> {
        let (src, dst) = proxy_addrs(s);
        let mut hdr = [0u8; PROXY_HEADER_MAX];
        let Ok(len) = proxyproto::encode(v, src, dst, &mut hdr) else {
            self.counters.event(Event::ProxyHeaderNoRoom);
            return None;
        };
        let end = l4.l4_at + l4.l4_len;
        if !pkt.set_len(end + len) {
            self.counters.event(Event::ProxyHeaderNoRoom);
            return None;
        }
        let d = pkt.data_mut();
        let at = l4.l4_at + TcpPacket::new_unchecked(&d[l4.l4_at..end]).header_len();
        d.copy_within(at..end, at + len);
        d[at..at + len].copy_from_slice(&hdr[..len]);
        let seg = &mut d[l4.l4_at..end + len];
        let mut tcp = TcpPacket::new_unchecked(&mut seg[..]);
        let seq = tcp.seq_number();
        tcp.set_seq_number(seq.wrapping_sub(len as u32));
        tcp.set_checksum(0);
        let c = ipv6::upper_checksum(l4.key.src, l4.key.dst, PROTO_TCP, seg);
        TcpPacket::new_unchecked(seg).set_checksum(c);
        self.counters.event(Event::ProxyHeaderInserted);
        Some(len)
    }

    /// The PROXY header and shift for a NAT64 client segment, already translated to the
    /// IPv4 packet of `pkt` (`total` bytes of IP). Returns the new IP length.
    pub(super) fn proxy_nat64_to_server(&mut self, id: u32, pkt: &mut P, total: usize) -> usize {
        let s = *self.v6.sessions.get(id);
        let Some(v) = version(&s) else { return total };
        let mut total = total;
        let ihl = usize::from(pkt.data()[ETH_LEN] & 0x0f) * 4;
        let seg_at = ETH_LEN + ihl;
        let first = proxyproto::is_first_data(
            &TcpPacket::new_unchecked(&pkt.data()[seg_at..ETH_LEN + total]),
            s.client_isn,
        );
        if first {
            let (src, dst) = proxy_addrs(&s);
            let mut hdr = [0u8; PROXY_HEADER_MAX];
            let inserted = proxyproto::encode(v, src, dst, &mut hdr).ok().and_then(|len| {
                pkt.set_len(ETH_LEN + total + len).then_some(())?;
                let n =
                    proxyproto::insert_before_payload(&mut pkt.data_mut()[ETH_LEN..], &hdr[..len]).ok()?;
                Some((len, n))
            });
            match inserted {
                Some((len, n)) => {
                    total = n;
                    self.v6.sessions.get_mut(id).proxy_len = len as u8;
                    self.counters.event(Event::ProxyHeaderInserted);
                }
                None => {
                    pkt.set_len(ETH_LEN + total);
                    self.counters.event(Event::ProxyHeaderNoRoom);
                }
            }
        }
        let s = *self.v6.sessions.get(id);
        if s.proxy_len != 0 {
            let seg = &mut pkt.data_mut()[seg_at..ETH_LEN + total];
            shift(&s).to_server(&mut TcpPacket::new_unchecked(seg));
        }
        total
    }

    /// The shift on a NAT64 server segment (IPv4, before translation; `seg` its TCP bytes).
    pub(super) fn proxy_nat64_to_client(s: &Session6, seg: &mut [u8]) {
        if s.proxy_len != 0 {
            shift(s).to_client(&mut TcpPacket::new_unchecked(seg));
        }
    }
}
