//! ICMP errors that follow their sessions (IPVS's `ip_vs_in_icmp` / `ip_vs_out_icmp`).
//!
//! A router or a real server that cannot deliver a packet we sent answers to the address
//! we sent it from: a VIP (for a packet towards a client) or a LIP (towards a real
//! server). The error quotes the start of that packet. We find the session from the
//! quoted flow and translate the error like the session: the quoted header becomes the
//! packet the other end really sent (its addresses and ports, before our rewrite), and the
//! error goes to that end from the address it talks to. So a "fragmentation needed" on
//! either path reaches the sender whose segments are too big (no PMTU black hole), and a
//! real server's "port unreachable" reaches the UDP client (ECONNREFUSED).
//!
//! Limits: the quoted TCP sequence numbers of SYN-proxied or PROXY-protocol sessions
//! (whose sequence spaces differ by a delta) are passed on untranslated; an error that
//! matches no session is dropped and counted.

use super::*;
use crate::wire::icmp::{Icmpv4Packet, CODE_FRAG_NEEDED, DEST_UNREACHABLE, TIME_EXCEEDED};

/// ICMP parameter problem.
const PARAM_PROBLEM: u8 = 12;
/// TTL of the errors we pass on (a new packet of ours, as a router's would be).
const ERROR_TTL: u8 = 64;

/// Whether an ICMP type is an error about a packet (what this room translates).
pub(super) fn is_error(msg_type: u8) -> bool {
    matches!(msg_type, DEST_UNREACHABLE | TIME_EXCEEDED | PARAM_PROBLEM)
}

impl<P: Frame> Pipeline<P> {
    /// An ICMP error to a VIP or a LIP (the outer headers were checked by the caller and
    /// the ICMP checksum verified). Translates it for the session it is about and sends
    /// it on, or drops it counted.
    pub(super) fn handle_icmp_error(
        &mut self,
        port: IfIndex,
        mut pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(q) = Quoted::parse(pkt.data()) else {
            return self.drop_pkt(DropReason::IcmpBadQuote, pkt);
        };
        // The quoted packet is one we sent; its reverse is a flow of our table.
        let reverse = FlowKey { src: q.dst, dst: q.src, sport: q.dport, dport: q.sport, proto: q.proto };
        let Some((id, dir)) = self.sessions.lookup(&reverse) else {
            // A NAT64 session's (IPv6 client): translated to ICMPv6 (`v6/nat64.rs`).
            let Some(pkt) = self.nat64_icmp_error(pkt, &reverse, now, alloc, out) else { return };
            let owner = self.icmp_owner(&q);
            return match self.next_worker(owner) {
                Some(w) => self.redirect_icmp(w, port, pkt, out),
                None => self.drop_pkt(DropReason::IcmpNoSession, pkt),
            };
        };
        let s = *self.sessions.get(id);
        if s.flags & FLAG_INPUT_ONLY != 0 {
            // DR/TUN: the real server sent the quoted packet itself (from the VIP).
            return self.icmp_error_to_real(id, pkt, now, alloc, out);
        }
        // The packet the quoted one was made from came from the session's other end:
        // its flow is what the error now quotes, and it goes back to that end.
        let other = match dir {
            Direction::FromClient => s.reply,
            Direction::FromServer => s.client,
        };
        // What we add to the client's segments on their way to the server (TOA on the
        // first ACK) must fit in the MTU the server side reported.
        let grows = if dir == Direction::FromServer && s.flags & FLAG_TOA_PENDING != 0 {
            crate::toa::TOA_LEN as u16
        } else {
            0
        };
        rewrite_error(&mut pkt.data_mut()[ETH_LEN..], &q, &other, grows);
        self.counters.event(crate::stats::Event::IcmpErrorForwarded);
        self.send_ip(pkt, other.src, now, alloc, out);
    }
}

impl<P: Frame> Pipeline<P> {
    /// An ICMP error to none of our addresses, while real servers are reached by NAT: a
    /// NAT real server (or a router on its side) answering a packet we forwarded to it
    /// from the client's own address (CIP:cport -> RIP:rport) sends the error to the
    /// client, through us (its route back). It is translated like the session's replies:
    /// from the VIP, quoting the client's packet to VIP:vport. Errors quoting anything
    /// else are the kernel's, as before.
    pub(super) fn handle_nat_icmp_error(
        &mut self,
        port: IfIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let to_nat_real =
            Quoted::parse(pkt.data()).is_some_and(|q| self.nat.has_real(q.dst, q.dport, q.proto));
        if !to_nat_real {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        self.handle_icmp_error(port, pkt, now, alloc, out)
    }

    /// The worker that owns the session an ICMP error is about, when the quote tells: a
    /// quoted packet from one of our LIPs names its owner by its local port (replies to
    /// that port reach that worker: `laddr::Steering`); one to or from a NAT real server
    /// names its client, whose hash places NAT sessions (`conn_direct::NatSteering`).
    /// None for a packet we sent to a client: its session lives where the NIC's hash put
    /// the client's flow, which the error's own headers do not tell.
    fn icmp_owner(&self, q: &Quoted) -> Option<u16> {
        if self.workers < 2 {
            return None;
        }
        if self.addrs.get(q.src) == Destination::Lip {
            return Some(self.laddrs.owner_of_reply(q.dst, q.dport, q.src, q.sport));
        }
        if self.nat.is_empty() {
            return None;
        }
        let (cip, cport) = if self.nat.has_real(q.dst, q.dport, q.proto) {
            (q.src, q.sport)
        } else if self.nat.has_real(q.src, q.sport, q.proto) {
            (q.dst, q.dport)
        } else {
            return None;
        };
        Some(super::conn_direct::NatSteering::owner(cip, cport, self.workers))
    }

    /// The worker an ICMP error whose session is not here goes to next (either family):
    /// its session's owner when the quote names one (and it is not this worker), else
    /// the next worker in turn until every worker has looked (`handoff_hops` counts the
    /// ones before), so an error about a client-side flow still finds its session.
    pub(super) fn next_worker(&self, owner: Option<u16>) -> Option<u16> {
        if self.workers < 2 {
            return None;
        }
        match owner {
            Some(w) => (w != self.worker).then_some(w),
            None => {
                (u16::from(self.handoff_hops) + 1 < self.workers).then(|| (self.worker + 1) % self.workers)
            }
        }
    }

    /// Hands an ICMP error to worker `w`, which takes it as if received on `port`
    /// (`handle_handoff` knows it by its protocol; `ttl` carries the hop count).
    fn redirect_icmp(&self, w: u16, port: IfIndex, pkt: P, out: &mut Output<P>) {
        let mut info = L4Info::EMPTY;
        info.port = port;
        info.key.proto = PROTO_ICMP;
        info.ttl = self.handoff_hops.saturating_add(1);
        self.redirect_to(w, pkt, info, out);
    }
}

/// The IP protocol number of ICMP, which marks an ICMP error handed to another worker.
pub(super) const PROTO_ICMP: u8 = 1;

/// The facts of an ICMP error's quoted packet.
struct Quoted {
    /// Offsets in the IP packet: the ICMP header, the quoted IP header, its L4 header.
    icmp_at: usize,
    inner_at: usize,
    l4_at: usize,
    /// Bytes of quoted L4 header present.
    l4_len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    proto: u8,
}

impl Quoted {
    /// Parses an Ethernet frame holding an IPv4 ICMP error that quotes a TCP or UDP packet
    /// with at least its ports. None for anything shorter or other.
    fn parse(frame: &[u8]) -> Option<Quoted> {
        let ip = frame.get(ETH_LEN..)?;
        let outer = Ipv4Packet::new_checked(ip).ok()?;
        let icmp_at = outer.header_len();
        let end = (outer.total_len() as usize).min(ip.len());
        let inner_at = icmp_at + Icmpv4Packet::<&[u8]>::HEADER_LEN;
        let inner = ip.get(inner_at..end)?;
        let (&vihl, &proto) = (inner.first()?, inner.get(9)?);
        let ihl = (vihl & 0x0f) as usize * 4;
        if vihl >> 4 != 4 || ihl < 20 || (proto != PROTO_TCP && proto != PROTO_UDP) {
            return None;
        }
        let l4 = inner.get(ihl..)?;
        let ports = l4.get(..4)?;
        let addr =
            |at: usize| Some(Ipv4Addr::new(*inner.get(at)?, inner[at + 1], inner[at + 2], inner[at + 3]));
        Some(Quoted {
            icmp_at,
            inner_at,
            l4_at: inner_at + ihl,
            l4_len: l4.len(),
            src: addr(12)?,
            dst: addr(16)?,
            sport: u16::from_be_bytes([ports[0], ports[1]]),
            dport: u16::from_be_bytes([ports[2], ports[3]]),
            proto,
        })
    }
}

/// Rewrites the error in `ip` (the outer IP packet) for the flow `to`: the quoted header
/// becomes `to`'s packet (addresses, ports, checksums), the outer one goes from `to.dst`
/// to `to.src`; a "fragmentation needed" MTU is lowered by `grows`.
fn rewrite_error(ip: &mut [u8], q: &Quoted, to: &FlowKey, grows: u16) {
    let end = {
        let outer = Ipv4Packet::new_unchecked(&ip[..]);
        (outer.total_len() as usize).min(ip.len())
    };
    // The quoted L4 checksum first (where the quote holds it): incremental, since the
    // quote is usually cut short of the payload it covers.
    let csum_at = match q.proto {
        PROTO_TCP => 16,
        _ => 6,
    };
    let l4 = q.l4_at;
    if q.l4_len >= csum_at + 2 {
        let old = u16::from_be_bytes([ip[l4 + csum_at], ip[l4 + csum_at + 1]]);
        if !(q.proto == PROTO_UDP && old == 0) {
            let mut c = old;
            c = crate::wire::checksum::update_addr_v4(c, q.src, to.src);
            c = crate::wire::checksum::update_addr_v4(c, q.dst, to.dst);
            c = crate::wire::checksum::update_u16(c, q.sport, to.sport);
            c = crate::wire::checksum::update_u16(c, q.dport, to.dport);
            if q.proto == PROTO_UDP && c == 0 {
                c = 0xffff;
            }
            ip[l4 + csum_at..l4 + csum_at + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
    ip[l4..l4 + 2].copy_from_slice(&to.sport.to_be_bytes());
    ip[l4 + 2..l4 + 4].copy_from_slice(&to.dport.to_be_bytes());
    {
        let mut inner = Ipv4Packet::new_unchecked(&mut ip[q.inner_at..l4]);
        inner.set_src_addr(to.src);
        inner.set_dst_addr(to.dst);
        inner.fill_checksum();
    }
    {
        let mut icmp = Icmpv4Packet::new_unchecked(&mut ip[q.icmp_at..end]);
        if icmp.msg_type() == DEST_UNREACHABLE && icmp.code() == CODE_FRAG_NEEDED && grows > 0 {
            let mtu = icmp.next_hop_mtu();
            icmp.set_next_hop_mtu(mtu.saturating_sub(grows).max(68));
        }
        icmp.fill_checksum();
    }
    let mut outer = Ipv4Packet::new_unchecked(&mut ip[..end]);
    outer.set_src_addr(to.dst);
    outer.set_dst_addr(to.src);
    outer.set_ttl(ERROR_TTL);
    outer.fill_checksum();
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::{
        endpoints, ip, tcp_frame, udp_frame, Harness, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, RS_MAC,
        SERVER_PORT,
    };
    use super::*;
    use crate::wire::icmp::Icmpv4Packet;
    use crate::wire::tcp::{TcpFlags, TcpPacket};
    use crate::wire::udp::UdpPacket;

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    /// A router on the way to a real server, and one on the client's side.
    const ROUTER_S: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
    const ROUTER_C: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

    /// An ICMP error from `from` to `to` quoting the first `quote` bytes of the IP packet
    /// in frame `about` (the outer and ICMP checksums valid).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::pipeline) fn icmp_error(
        mac: MacAddr,
        our_mac: MacAddr,
        from: Ipv4Addr,
        to: Ipv4Addr,
        t: u8,
        code: u8,
        mtu: u16,
        about: &[u8],
        quote: usize,
    ) -> Vec<u8> {
        let quoted = &about[ETH_LEN..ETH_LEN + quote.min(about.len() - ETH_LEN)];
        let mut f = vec![0u8; ETH_LEN + 20 + 8 + quoted.len()];
        f[ETH_LEN + 28..].copy_from_slice(quoted);
        crate::testkit::eth_ip(&mut f, mac, our_mac, from, to, IpProtocol::ICMP);
        let mut icmp = Icmpv4Packet::new_unchecked(&mut f[ETH_LEN + 20..]);
        icmp.set_msg_type(t);
        icmp.set_code(code);
        icmp.set_next_hop_mtu(mtu);
        icmp.fill_checksum();
        f
    }

    /// The outer addresses, ICMP type/code/MTU and quoted flow of an error we sent,
    /// checking every checksum it carries on the way.
    pub(in crate::pipeline) fn read(f: &[u8]) -> (Ipv4Addr, Ipv4Addr, u8, u8, u16, FlowKey, Option<bool>) {
        let outer = Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap();
        assert!(outer.verify_checksum(), "outer IP checksum");
        let icmp = Icmpv4Packet::new_checked(outer.payload()).unwrap();
        assert!(icmp.verify_checksum(), "ICMP checksum");
        let inner = Ipv4Packet::new_unchecked(icmp.payload());
        assert!(inner.verify_checksum(), "quoted IP checksum");
        let l4 = &icmp.payload()[inner.header_len()..];
        let key = FlowKey {
            src: inner.src_addr(),
            dst: inner.dst_addr(),
            sport: u16::from_be_bytes([l4[0], l4[1]]),
            dport: u16::from_be_bytes([l4[2], l4[3]]),
            proto: u8::from(inner.protocol()),
        };
        // Where the quote holds the whole segment, its L4 checksum must verify.
        let whole = l4.len() >= inner.total_len() as usize - inner.header_len();
        let l4_ok = whole.then(|| {
            let seg = &l4[..inner.total_len() as usize - inner.header_len()];
            if key.proto == PROTO_TCP {
                TcpPacket::new_unchecked(seg).verify_checksum(key.src, key.dst)
            } else {
                UdpPacket::new_unchecked(seg).verify_checksum(key.src, key.dst)
            }
        });
        (outer.src_addr(), outer.dst_addr(), icmp.msg_type(), icmp.code(), icmp.next_hop_mtu(), key, l4_ok)
    }

    /// A real server's "port unreachable" for a UDP datagram reaches the client as if the
    /// VIP had sent it, quoting the client's own datagram; with a whole quote the quoted
    /// UDP checksum still verifies.
    #[test]
    fn port_unreachable_from_a_real_server_reaches_the_udp_client() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        h.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 33000, VIP, 53, b"query"));
        let fwd = h.take_tx(SERVER_PORT).pop().expect("datagram forwarded");
        let (_, _, lip, lport, rip, rport) = endpoints(&fwd);
        let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
        h.rx(SERVER_PORT, icmp_error(RS_MAC[rs], LB_S_MAC, rip, lip, DEST_UNREACHABLE, 3, 0, &fwd, 576));
        let err = h.take_tx(CLIENT_PORT).pop().expect("error sent to the client");
        assert_eq!(&err[0..6], &CLIENT_MAC.0);
        let (src, dst, t, code, _, quoted, l4_ok) = read(&err);
        assert_eq!((src, dst, t, code), (VIP, CLIENT, DEST_UNREACHABLE, 3));
        assert_eq!(quoted, FlowKey { src: CLIENT, dst: VIP, sport: 33000, dport: 53, proto: PROTO_UDP });
        assert_eq!(l4_ok, Some(true), "the quoted UDP checksum follows the rewrite");
        assert_eq!(h.p.counters().event_count(crate::stats::Event::IcmpErrorForwarded), 1);
        let _ = (lport, rport);
    }

    /// A "fragmentation needed" from a router on the server side (quoting only the first
    /// 8 bytes of TCP, as old routers do) reaches the client with the MTU; one from a
    /// router on the client side reaches the real server from the LIP, quoting the
    /// server's own segment.
    #[test]
    fn fragmentation_needed_reaches_the_sender_on_either_side() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        h.rx(CLIENT_PORT, tcp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 41000, VIP, 80, TcpFlags::SYN, b""));
        let syn = h.take_tx(SERVER_PORT).pop().expect("SYN forwarded");
        let (_, _, lip, lport, rip, rport) = endpoints(&syn);
        let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
        let from_rs =
            |flags, data: &[u8]| tcp_frame(RS_MAC[rs], LB_S_MAC, rip, rport, lip, lport, flags, data);
        h.rx(SERVER_PORT, from_rs(TcpFlags::SYN | TcpFlags::ACK, b""));
        h.take_tx(CLIENT_PORT);
        h.rx(
            CLIENT_PORT,
            tcp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 41000, VIP, 80, TcpFlags::ACK, &[7u8; 1400]),
        );
        let big = h.take_tx(SERVER_PORT).pop().expect("segment forwarded");

        // Server side: the router quotes 20 + 8 bytes.
        h.rx(
            SERVER_PORT,
            icmp_error(
                RS_MAC[0],
                LB_S_MAC,
                ROUTER_S,
                lip,
                DEST_UNREACHABLE,
                CODE_FRAG_NEEDED,
                1400,
                &big,
                28,
            ),
        );
        let (src, dst, t, code, mtu, quoted, l4_ok) =
            read(&h.take_tx(CLIENT_PORT).pop().expect("to the client"));
        assert_eq!((src, dst, t, code, mtu), (VIP, CLIENT, DEST_UNREACHABLE, CODE_FRAG_NEEDED, 1400));
        assert_eq!(quoted, FlowKey { src: CLIENT, dst: VIP, sport: 41000, dport: 80, proto: PROTO_TCP });
        assert_eq!(l4_ok, None, "8 bytes of TCP quoted");

        // Client side: a reply too big for a router on the way to the client, quoted whole.
        h.rx(SERVER_PORT, from_rs(TcpFlags::ACK, &[9u8; 1400]));
        let reply = h.take_tx(CLIENT_PORT).pop().expect("reply forwarded");
        h.rx(
            CLIENT_PORT,
            icmp_error(
                CLIENT_MAC,
                LB_C_MAC,
                ROUTER_C,
                VIP,
                DEST_UNREACHABLE,
                CODE_FRAG_NEEDED,
                1280,
                &reply,
                1500,
            ),
        );
        let err = h.take_tx(SERVER_PORT).pop().expect("to the real server");
        assert_eq!(&err[0..6], &RS_MAC[rs].0);
        let (src, dst, _, _, mtu, quoted, l4_ok) = read(&err);
        assert_eq!((src, dst, mtu), (lip, rip, 1280));
        assert_eq!(quoted, FlowKey { src: rip, dst: lip, sport: rport, dport: lport, proto: PROTO_TCP });
        assert_eq!(l4_ok, Some(true), "the quoted TCP checksum follows the rewrite");
    }

    /// Errors about nobody's packets, and ones quoting too little, are dropped and counted.
    #[test]
    fn errors_without_a_session_or_a_whole_quote_are_dropped() {
        let mut h = Harness::new(0, 1);
        h.resolve_all();
        let stray = tcp_frame(LB_C_MAC, CLIENT_MAC, VIP, 80, CLIENT, 45000, TcpFlags::ACK, b"x");
        h.rx(
            CLIENT_PORT,
            icmp_error(CLIENT_MAC, LB_C_MAC, ROUTER_C, VIP, DEST_UNREACHABLE, 1, 0, &stray, 576),
        );
        assert_eq!(h.drops(DropReason::IcmpNoSession), 1);
        h.rx(CLIENT_PORT, icmp_error(CLIENT_MAC, LB_C_MAC, ROUTER_C, VIP, TIME_EXCEEDED, 0, 0, &stray, 22));
        assert_eq!(h.drops(DropReason::IcmpBadQuote), 1);
        assert!(h.take_tx(CLIENT_PORT).is_empty() && h.take_tx(SERVER_PORT).is_empty());
    }

    /// With two workers, an error that lands on the worker without the session reaches
    /// the one with it: by the quoted LIP port on the server side, by asking the other
    /// worker on the client side; an error about no session is dropped after one round.
    #[test]
    fn errors_on_the_wrong_worker_reach_the_sessions_owner() {
        let (mut w0, mut w1) = (Harness::new(0, 2), Harness::new(1, 2));
        w0.resolve_all();
        w1.resolve_all();
        w0.rx(CLIENT_PORT, udp_frame(CLIENT_MAC, LB_C_MAC, CLIENT, 33000, VIP, 53, b"query"));
        let fwd = w0.take_tx(SERVER_PORT).pop().expect("datagram forwarded");
        let (_, _, lip, lport, rip, rport) = endpoints(&fwd);
        let rs = (u32::from(rip) - u32::from(ip("198.19.0.11"))) as usize;
        w1.rx(SERVER_PORT, icmp_error(RS_MAC[rs], LB_S_MAC, rip, lip, DEST_UNREACHABLE, 3, 0, &fwd, 576));
        let h = w1.out.redirect[0].pop().expect("handed to the port's owner");
        w0.p.handle_handoff(h, w0.now, &mut crate::frame::VecAlloc, &mut w0.out);
        let (src, dst, ..) = read(&w0.take_tx(CLIENT_PORT).pop().expect("error sent to the client"));
        assert_eq!((src, dst), (VIP, CLIENT));

        // Client side: a reply too big for a router near the client, caught by worker 1.
        w0.rx(SERVER_PORT, udp_frame(RS_MAC[rs], LB_S_MAC, rip, rport, lip, lport, &[1u8; 1400]));
        let reply = w0.take_tx(CLIENT_PORT).pop().expect("reply forwarded");
        let err = icmp_error(
            CLIENT_MAC,
            LB_C_MAC,
            ROUTER_C,
            VIP,
            DEST_UNREACHABLE,
            CODE_FRAG_NEEDED,
            1280,
            &reply,
            1500,
        );
        w1.rx(CLIENT_PORT, err);
        let h = w1.out.redirect[0].pop().expect("asked the other worker");
        w0.p.handle_handoff(h, w0.now, &mut crate::frame::VecAlloc, &mut w0.out);
        let (src, dst, _, _, mtu, ..) = read(&w0.take_tx(SERVER_PORT).pop().expect("to the real server"));
        assert_eq!((src, dst, mtu), (lip, rip, 1280));

        // About nobody's flow: worker 0 asks worker 1, which drops it.
        let stray = udp_frame(LB_C_MAC, CLIENT_MAC, VIP, 53, CLIENT, 33999, b"x");
        w0.rx(
            CLIENT_PORT,
            icmp_error(CLIENT_MAC, LB_C_MAC, ROUTER_C, VIP, DEST_UNREACHABLE, 1, 0, &stray, 576),
        );
        let h = w0.out.redirect[1].pop().expect("asked the other worker");
        w1.p.handle_handoff(h, w1.now, &mut crate::frame::VecAlloc, &mut w1.out);
        assert!(w1.out.redirect[0].is_empty(), "not round again");
        assert_eq!(w1.drops(DropReason::IcmpNoSession), 1);
    }
}
