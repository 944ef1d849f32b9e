//! IPv4 fragments to a VIP or LIP, steered by `frag.rs`'s table: the first through the
//! ordinary session path, the later ones rewritten like it (addresses, TTL, header
//! checksum) or handed to the worker it went to.

use super::frag::{self, FragKey, Later, Piece, Steer};
use super::*;

/// Marks an IPv4 fragment handed to the worker that owns its session (`handle_handoff`
/// takes it through `handle_ipv4` again). The protocol number of IPv6-Frag: never a
/// flow's protocol here.
pub(super) const HANDOFF_FRAG: u8 = 44;

/// The smallest L4 header the first fragment must hold whole, and below which a later
/// fragment's offset would overlap it (RFC 1858's tiny and overlapping fragments).
pub(super) fn min_l4(proto: u8) -> u32 {
    if proto == PROTO_TCP {
        20
    } else {
        8
    }
}

/// Session flags whose packets are not plain FULLNAT rewrites (NAT/DR/TUN, SYN proxy, TOA,
/// PROXY protocol): their later fragments cannot be rewritten like the first.
const NOT_PLAIN: u8 = FLAG_INPUT_ONLY | FLAG_NO_LADDR | FLAG_EXT | FLAG_TOA | FLAG_TOA_PENDING;

impl<P: Frame> Pipeline<P> {
    /// An IPv4 fragment whose header checksum verified, from interface `port`.
    pub(super) fn handle_fragment(
        &mut self,
        port: IfIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let ip = Ipv4Packet::new_unchecked(&pkt.data()[ETH_LEN..]);
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), u8::from(ip.protocol()));
        let dest = self.addrs.get(dst);
        if !matches!(dest, Destination::Vip | Destination::Lip) || (proto != PROTO_TCP && proto != PROTO_UDP)
        {
            return self.drop_pkt(DropReason::Fragment, pkt);
        }
        let hl = ip.header_len();
        let total = ip.total_len() as usize;
        let piece =
            Piece { offset: ip.frag_offset() as u32, len: (total - hl) as u32, more: ip.more_frags() };
        let key = FragKey { src: frag::v4(src), dst: frag::v4(dst), id: ip.ident() as u32, proto };
        if piece.offset > 0 {
            if piece.offset < min_l4(proto) {
                return self.drop_pkt(DropReason::FragmentInvalid, pkt);
            }
            return match self.frag.later(key, piece, now, pkt) {
                Later::Steer(s, pkt) => self.steer_v4(s, port, pkt, now, alloc, out),
                Later::Held => {}
                Later::Refused(reason, pkt) => self.drop_pkt(reason, pkt),
            };
        }
        // The first fragment: it carries the ports.
        let l4 = ip.payload();
        if (l4.len() as u32) < min_l4(proto) || (proto == PROTO_TCP && (l4[12] >> 4) < 5) {
            return self.drop_pkt(DropReason::FragmentInvalid, pkt);
        }
        let flow = FlowKey {
            src,
            dst,
            sport: u16::from_be_bytes([l4[0], l4[1]]),
            dport: u16::from_be_bytes([l4[2], l4[3]]),
            proto,
        };
        let info = L4Info {
            port,
            key: flow,
            tcp_flags: if proto == PROTO_TCP { l4[13] } else { 0 },
            ttl: ip.ttl(),
            ip_len: total,
            dest,
            hash: self.sessions.hash(&flow),
        };
        let steer = self.first_fragment_v4(pkt, info, now, alloc, out);
        let mut released = std::mem::take(&mut self.frag.scratch);
        self.frag.first(key, piece, steer, now, &mut released);
        for p in released.drain(..) {
            self.steer_v4(steer, port, p, now, alloc, out);
        }
        self.frag.scratch = released;
    }

    /// Sends a first fragment the ordinary way and says how its datagram's later fragments go.
    fn first_fragment_v4(
        &mut self,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Steer {
        let k = info.key;
        if info.dest == Destination::Lip {
            let owner = self.laddrs.owner_of_reply(k.src, k.sport, k.dst, k.dport);
            if owner != self.worker {
                self.steer_v4(Steer::Redirect(owner), info.port, pkt, now, alloc, out);
                return Steer::Redirect(owner);
            }
        }
        // A fragmented TCP segment only follows a connection there is (no fragmented SYNs).
        let plain = |p: &Self| {
            p.sessions
                .lookup_hashed(info.hash, &k)
                .is_some_and(|(id, _)| p.sessions.get(id).flags & NOT_PLAIN == 0)
        };
        if k.proto == PROTO_TCP && !plain(self) {
            self.drop_pkt(DropReason::Fragment, pkt);
            return Steer::Drop;
        }
        self.dispatch(pkt, info, now, alloc, out);
        match self.sessions.lookup_hashed(info.hash, &k) {
            Some((id, dir)) if self.sessions.get(id).flags & NOT_PLAIN == 0 => {
                let s = self.sessions.get(id);
                let to = nat::Endpoints::towards(s, dir);
                Steer::Translate {
                    src: frag::v4(to.src),
                    dst: frag::v4(to.dst),
                    real: s.real_slot,
                    inbound: dir == Direction::FromClient,
                }
            }
            _ => Steer::Drop,
        }
    }

    /// Sends a later fragment (or a first one being handed over) as `steer` says.
    fn steer_v4(
        &mut self,
        steer: Steer,
        port: IfIndex,
        mut pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        match steer {
            Steer::Drop => self.drop_pkt(DropReason::Fragment, pkt),
            Steer::Redirect(owner) => {
                let mut info = L4Info::EMPTY;
                info.port = port;
                info.key.proto = HANDOFF_FRAG;
                self.redirect_to(owner, pkt, info, out);
            }
            Steer::Translate { src, dst, real, inbound } => {
                let len = {
                    let mut ip = Ipv4Packet::new_unchecked(&mut pkt.data_mut()[ETH_LEN..]);
                    if ip.ttl() <= 1 {
                        return self.drop_pkt(DropReason::TtlExceeded, pkt);
                    }
                    ip.rewrite_addrs(frag::to_v4(&src), frag::to_v4(&dst));
                    ip.decrement_ttl();
                    ip.total_len() as u64
                };
                self.count_fragment(real, inbound, len);
                self.route_out(pkt, frag::to_v4(&dst), None, now, alloc, out);
            }
        }
    }

    /// A later fragment's traffic, counted as its session's.
    pub(super) fn count_fragment(&self, real: u32, inbound: bool, bytes: u64) {
        let c = &self.counters;
        c.event(crate::stats::Event::FragmentSteered);
        if let Some(r) = c.reals.get(real as usize) {
            r.count(inbound, bytes);
        }
    }

    /// Ends fragment entries whose time is up; their held fragments are dropped, counted.
    pub(super) fn expire_fragments(&mut self, now: Time) {
        let mut expired = std::mem::take(&mut self.frag.scratch);
        self.frag.expire(now, &mut expired);
        for p in expired.drain(..) {
            self.drop_pkt(DropReason::FragmentTimeout, p);
        }
        self.frag.scratch = expired;
    }
}
