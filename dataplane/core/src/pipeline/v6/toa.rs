//! TOA on IPv6 FULLNAT sessions: the client's IPv6 address and port in a 20-byte TCP
//! option (kind 254, DPVS's layout for IPv6 clients) on the client's first ACK towards the
//! real server; the MSS the server's SYN/ACK offers leaves room for it. (NAT64 sessions
//! insert the same option after translation, `nat64.rs`.)

use std::net::SocketAddrV6;

use super::conn::L4v6;
use super::{Pipeline, ETH_LEN};
use crate::frame::Frame;
use crate::session::v6::{Session6, FLAG6_TOA, FLAG6_TOA_PENDING};
use crate::session::{Direction, PROTO_TCP};
use crate::stats::Event;
use crate::toa::{self, TOA_V6_LEN};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::tcp::TcpPacket;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

impl<P: Frame> Pipeline<P> {
    /// Applies TOA to a packet of IPv6 session `id` (before its rewrite): clamps the MSS of
    /// the server's SYN/ACK, inserts the option into the client's first ACK (`l4` follows
    /// the growth).
    pub(super) fn toa_v6(&mut self, id: u32, s: &Session6, dir: Direction, mut pkt: P, l4: &mut L4v6) -> P {
        if l4.key.proto != PROTO_TCP {
            return pkt;
        }
        let syn = l4.flags & TCP_SYN != 0;
        if dir == Direction::FromServer && syn && s.flags & FLAG6_TOA != 0 {
            // The client's segments, IPv6 headers (60 bytes) and the option included, must
            // fit the port towards the server.
            let mtu = self
                .v6
                .routes
                .lookup(s.server.src)
                .map_or(ipv6::MIN_MTU, |h| self.ifaces[h.port as usize].mtu);
            let max = toa::mss_for_mtu(mtu, 20 + TOA_V6_LEN as u16);
            let seg = &mut pkt.data_mut()[l4.l4_at..l4.l4_at + l4.l4_len];
            toa::clamp_mss_within(&mut TcpPacket::new_unchecked(seg), TOA_V6_LEN as u16, max);
            return pkt;
        }
        if dir != Direction::FromClient
            || s.flags & FLAG6_TOA_PENDING == 0
            || l4.flags & (TCP_SYN | TCP_ACK) != TCP_ACK
        {
            return pkt;
        }
        self.v6.sessions.get_mut(id).flags &= !FLAG6_TOA_PENDING;
        let end = l4.l4_at + l4.l4_len;
        if !pkt.set_len(end + TOA_V6_LEN) {
            self.counters.event(Event::ToaNoRoom);
            return pkt;
        }
        let opt = toa::encode_v6(SocketAddrV6::new(s.client.src, s.client.sport, 0, 0));
        match toa::insert_option(pkt.data_mut(), l4.l4_at, end, &opt) {
            Ok(()) => {
                let mut ip = Ipv6Packet::new_unchecked(&mut pkt.data_mut()[ETH_LEN..]);
                let plen = ip.payload_len() + TOA_V6_LEN as u16;
                ip.set_payload_len(plen);
                l4.l4_len += TOA_V6_LEN;
                l4.ip_len += TOA_V6_LEN;
                self.counters.event(Event::ToaInserted);
            }
            Err(_) => {
                pkt.set_len(end);
                self.counters.event(Event::ToaNoRoom);
            }
        }
        pkt
    }
}
