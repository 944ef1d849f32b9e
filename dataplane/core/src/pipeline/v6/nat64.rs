//! NAT64 sessions on a worker's packet path: an IPv6 client's connection to an IPv6 VIP
//! served by an IPv4 real server (DPVS's nat64). CIP6:cport → VIP6:vport becomes
//! LIP4:lport → RIP4:rport; the headers are translated by `crate::nat64` (RFC 7915).
//!
//! The session lives in the IPv6 table (`session::v6`): its client flow is IPv6 (37 bytes,
//! more than the IPv4 table's 64-byte slots hold beside the rest) and its server flow is
//! keyed by the IPv4-mapped addresses, which no IPv6 packet on the wire carries, so the
//! two never meet. Its local port comes from the IPv4 pools (`laddr`), so the reply's
//! destination port names this worker exactly as for an IPv4 session (partition or RSS),
//! and the IPv4 path hands a reply to its owner before looking it up; an IPv4 packet to a
//! LIP that misses the IPv4 table is looked up here.
//!
//! TCP MSS: the server's segments grow by 20 bytes on their way to the client, so the
//! client's SYN says at most what our port towards the client carries less the IPv6
//! headers; the server's SYN/ACK says at most what our port towards the server carries
//! less the IPv4 headers and the TOA option the first ACK gets.

use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};

use super::conn::L4v6;
use super::{Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::nat64::icmp::{icmp4_error_to_v6, icmp6_error_to_v4, MtuAdjust};
use crate::nat64::{self, Flow4, Flow6, Nat64Error};
use crate::pipeline::L4Info;
use crate::service::Service6;
use crate::session::v6::{FlowKey6, Session6, FLAG6_TOA_PENDING};
use crate::session::{Direction, FlowKey, PROTO_TCP};
use crate::stats::{DropReason, Event};
use crate::time::Time;
use crate::toa;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6;
use crate::wire::tcp::TcpPacket;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// The IPv4 side of a NAT64 session's server flow (kept as mapped addresses).
fn v4_of(k: &FlowKey6) -> Option<Flow4> {
    Some(Flow4 { src: k.src.to_ipv4_mapped()?, dst: k.dst.to_ipv4_mapped()?, sport: k.sport, dport: k.dport })
}

fn flow6(k: &FlowKey6) -> Flow6 {
    Flow6 { src: k.src, dst: k.dst, sport: k.sport, dport: k.dport }
}

impl<P: Frame> Pipeline<P> {
    /// An IPv4 LIP of a NAT64 service and a local port of this worker's towards `rip`,
    /// from the IPv4 pools (the reply's port then names this worker). As a mapped address.
    pub(super) fn take_lip_nat64(
        &mut self,
        si: usize,
        svc: &Service6,
        rip: SocketAddrV4,
    ) -> Option<(std::net::Ipv6Addr, u16)> {
        let st = &mut self.v6.services[si];
        let (lip, port) =
            self.laddrs.alloc_for(&svc.local_addrs4, &mut st.lip4_cursor, *rip.ip(), rip.port()).ok()?;
        Some((nat64::mapped(lip), port))
    }

    /// The MTU of the port towards IPv6 address `a` (the client side).
    fn mtu_v6_towards(&self, a: std::net::Ipv6Addr) -> u16 {
        self.v6.routes.lookup(a).map_or(ipv6::MIN_MTU, |h| self.ifaces[h.port as usize].mtu)
    }

    /// The MTU of the port towards IPv4 address `a` (the real server side).
    fn mtu_v4_towards(&self, a: Ipv4Addr) -> u16 {
        self.routes.lookup(a).map_or(576, |h| self.ifaces[h.port as usize].mtu)
    }

    /// The next IPv4 identification of this worker (unique among the workers).
    fn next_ident(&mut self) -> u16 {
        let id = self.v6.ident4;
        self.v6.ident4 = id.wrapping_add(self.workers.max(1));
        id
    }

    /// A client packet of NAT64 session `s` (accounted already): translated to IPv4 and
    /// sent to the real server, with the TOA option on the client's first ACK.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_6to4(
        &mut self,
        id: u32,
        s: &Session6,
        mut pkt: P,
        l4: &L4v6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(to) =
            v4_of(&s.server).map(|f| Flow4 { src: f.dst, dst: f.src, sport: f.dport, dport: f.sport })
        else {
            return self.drop_pkt(DropReason::Nat64Untranslatable, pkt);
        };
        let tcp = l4.key.proto == PROTO_TCP;
        if tcp && l4.flags & TCP_SYN != 0 {
            // The server's segments grow by 20 bytes on their way to the client.
            let max = toa::mss_for_mtu(self.mtu_v6_towards(s.client.src), nat64::GROWTH as u16)
                .min(toa::mss_for_mtu(self.mtu_v4_towards(to.dst), 0));
            let seg = &mut pkt.data_mut()[l4.l4_at..l4.l4_at + l4.l4_len];
            toa::clamp_mss_within(&mut TcpPacket::new_unchecked(seg), 0, max);
        }
        let ident = self.next_ident();
        let (at, total) =
            match nat64::ipv6_to_ipv4(&mut pkt.data_mut()[ETH_LEN..], l4.l4_at - ETH_LEN, &to, ident) {
                Ok(r) => r,
                Err(Nat64Error::HopLimit) => return self.drop_pkt(DropReason::TtlExceeded, pkt),
                Err(_) => return self.drop_pkt(DropReason::Nat64Untranslatable, pkt),
            };
        // The IPv4 header ends where the IPv6 headers did: the frame starts `at` later.
        if !pkt.pull_front(at) || !pkt.set_len(ETH_LEN + total) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        let mut total = total;
        if tcp && s.flags & FLAG6_TOA_PENDING != 0 && l4.flags & (TCP_SYN | TCP_ACK) == TCP_ACK {
            self.v6.sessions.get_mut(id).flags &= !FLAG6_TOA_PENDING;
            let client = SocketAddrV6::new(s.client.src, s.client.sport, 0, 0);
            total = self.add_toa(&mut pkt, total, &toa::encode_v6(client));
        }
        if tcp && s.proxy != 0 && l4.flags & TCP_SYN == 0 {
            self.proxy_nat64_to_server(id, &mut pkt, total);
        }
        self.send_ip(pkt, to.dst, now, alloc, out);
    }

    /// Inserts TOA option `opt` into the IPv4 TCP segment of `pkt` (`total` bytes of IP).
    /// Returns the IP length.
    fn add_toa(&self, pkt: &mut P, total: usize, opt: &[u8]) -> usize {
        let end = ETH_LEN + total;
        if !pkt.set_len(end + opt.len()) {
            self.counters.event(Event::ToaNoRoom);
            return total;
        }
        match toa::insert_option_v4(&mut pkt.data_mut()[ETH_LEN..], opt) {
            Ok(n) => {
                pkt.set_len(ETH_LEN + n);
                self.counters.event(Event::ToaInserted);
                n
            }
            Err(_) => {
                pkt.set_len(end);
                self.counters.event(Event::ToaNoRoom);
                total
            }
        }
    }

    /// An IPv4 TCP/UDP packet to one of our LIPs that no IPv4 session has, on the worker
    /// its local port names: a NAT64 session's reply, translated to IPv6 and sent to the
    /// client; or nothing of ours (dropped, `no_session`).
    pub(in crate::pipeline) fn nat64_reply(
        &mut self,
        mut pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let k = info.key;
        let key6 = FlowKey6 {
            src: nat64::mapped(k.src),
            dst: nat64::mapped(k.dst),
            sport: k.sport,
            dport: k.dport,
            proto: k.proto,
        };
        let found = if self.v6.sessions.is_empty() { None } else { self.v6.sessions.lookup(&key6) };
        let Some((id, Direction::FromServer)) = found else {
            return self.drop_pkt(DropReason::NoSession, pkt);
        };
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        let s = self.account_v6(id, Direction::FromServer, k.proto, info.tcp_flags, info.ip_len, now);
        let to = flow6(&s.to_client());
        let ihl = usize::from(pkt.data()[ETH_LEN] & 0x0f) * 4;
        let l4_at = ETH_LEN + ihl;
        if k.proto == PROTO_TCP && info.tcp_flags & TCP_SYN != 0 {
            // The client's segments lose 20 bytes over IPv4 and gain what the session adds
            // (the TOA option, the PROXY header).
            let room = super::ext::growth_room(&s);
            let max = toa::mss_for_mtu(self.ifaces[info.port as usize].mtu, room)
                .min(toa::mss_for_mtu(self.mtu_v6_towards(to.dst), nat64::GROWTH as u16));
            let seg = &mut pkt.data_mut()[l4_at..ETH_LEN + info.ip_len];
            toa::clamp_mss_within(&mut TcpPacket::new_unchecked(seg), room, max);
        } else if k.proto == PROTO_TCP {
            Self::proxy_nat64_to_client(&s, &mut pkt.data_mut()[l4_at..ETH_LEN + info.ip_len]);
        }
        let Ok(front) = nat64::ipv6_front_len(&pkt.data()[ETH_LEN..]) else {
            return self.drop_pkt(DropReason::Nat64Untranslatable, pkt);
        };
        let len6 = info.ip_len - ihl + front;
        let mtu = usize::from(self.mtu_v6_towards(to.dst));
        if len6 > mtu {
            // Too big for the client's side once translated: as a router would, tell a
            // sender that set DF how much fits (less the 20 bytes IPv6 adds).
            if Ipv4Packet::new_unchecked(&pkt.data()[ETH_LEN..]).dont_frag() {
                let fits = mtu.saturating_sub(front.saturating_sub(ihl)) as u16;
                self.frag_needed(&pkt, &info, fits, now, alloc, out);
            }
            return self.drop_pkt(DropReason::Nat64TooBig, pkt);
        }
        let grow = front.saturating_sub(ihl);
        if grow > 0 && !pkt.push_front(grow) {
            return self.drop_pkt(DropReason::NoMbuf, pkt);
        }
        let (at, len) = match nat64::ipv4_to_ipv6(pkt.data_mut(), ETH_LEN + grow, &to) {
            Ok(r) => r,
            Err(Nat64Error::HopLimit) => return self.drop_pkt(DropReason::TtlExceeded, pkt),
            Err(_) => return self.drop_pkt(DropReason::Nat64Untranslatable, pkt),
        };
        if !pkt.pull_front(at - ETH_LEN) || !pkt.set_len(ETH_LEN + len) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        self.send_ipv6(pkt, to.dst, now, alloc, out);
    }

    /// An ICMPv4 error to one of our LIPs whose quoted flow, reversed, is `reverse` and in
    /// no IPv4 session: if it is a NAT64 session's, the error is translated to ICMPv6 for
    /// the client (port unreachable, packet too big with the MTU 20 bytes up) and None is
    /// returned; otherwise the packet comes back for the IPv4 path to go on with.
    pub(in crate::pipeline) fn nat64_icmp_error(
        &mut self,
        pkt: P,
        reverse: &FlowKey,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Option<P> {
        if self.v6.sessions.is_empty() {
            return Some(pkt);
        }
        let k = reverse;
        let key6 = FlowKey6 {
            src: nat64::mapped(k.src),
            dst: nat64::mapped(k.dst),
            sport: k.sport,
            dport: k.dport,
            proto: k.proto,
        };
        let Some((id, Direction::FromServer)) = self.v6.sessions.lookup(&key6) else {
            return Some(pkt);
        };
        let s = *self.v6.sessions.get(id);
        let outer = Ipv4Packet::new_unchecked(&pkt.data()[ETH_LEN..]);
        let (ihl, total) = (outer.header_len(), usize::from(outer.total_len()));
        let Some(icmp) = pkt.data().get(ETH_LEN + ihl..ETH_LEN + total) else {
            self.drop_pkt(DropReason::IcmpBadQuote, pkt);
            return None;
        };
        let (vip, client) = (s.client.dst, s.client.src);
        let adj = MtuAdjust {
            // The client's first ACK is still to grow by the TOA option.
            room: if s.flags & FLAG6_TOA_PENDING != 0 { toa::TOA_V6_LEN as u16 } else { 0 },
            cap: self.mtu_v6_towards(client),
        };
        let Some(mut f) = alloc.alloc(ETH_LEN + crate::nat64::icmp::MAX_ICMPV6_ERROR) else {
            self.drop_pkt(DropReason::NoMbuf, pkt);
            return None;
        };
        match icmp4_error_to_v6(icmp, &flow6(&s.client), vip, client, adj, &mut f.data_mut()[ETH_LEN..]) {
            Ok(n) if f.set_len(ETH_LEN + n) => {
                self.counters.event(Event::IcmpErrorForwarded);
                self.send_ipv6(f, client, now, alloc, out);
            }
            Ok(_) => self.drop_pkt(DropReason::NoMbuf, pkt),
            Err(Nat64Error::IcmpNotTranslated) => self.drop_pkt(DropReason::Nat64Untranslatable, pkt),
            Err(_) => self.drop_pkt(DropReason::IcmpBadQuote, pkt),
        }
        None
    }

    /// An ICMPv6 error from the client's side (`icmp` its bytes in the frame) about a
    /// packet of NAT64 session `id` we sent the client: translated to ICMPv4 for the real
    /// server (packet too big becomes fragmentation needed, 20 bytes down).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nat64_icmpv6_error(
        &mut self,
        id: u32,
        pkt: P,
        icmp: std::ops::Range<usize>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let s = *self.v6.sessions.get(id);
        let Some(server) = v4_of(&s.server) else {
            return self.drop_pkt(DropReason::Nat64Untranslatable, pkt);
        };
        let (lip, rip) = (server.dst, server.src);
        let cap = self.mtu_v4_towards(rip);
        let Some(mut f) = alloc.alloc(ETH_LEN + crate::nat64::icmp::MAX_ICMPV4_ERROR) else {
            return self.drop_pkt(DropReason::NoMbuf, pkt);
        };
        let Some(msg) = pkt.data().get(icmp) else {
            return self.drop_pkt(DropReason::IcmpBadQuote, pkt);
        };
        match icmp6_error_to_v4(msg, &server, lip, rip, cap, &mut f.data_mut()[ETH_LEN..]) {
            Ok(n) if f.set_len(ETH_LEN + n) => {
                self.counters.event(Event::IcmpErrorForwarded);
                self.send_ip(f, rip, now, alloc, out);
            }
            Ok(_) => self.drop_pkt(DropReason::NoMbuf, pkt),
            Err(Nat64Error::IcmpNotTranslated) => self.drop_pkt(DropReason::Nat64Untranslatable, pkt),
            Err(_) => self.drop_pkt(DropReason::IcmpBadQuote, pkt),
        }
    }
}
