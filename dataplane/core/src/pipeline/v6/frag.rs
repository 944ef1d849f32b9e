//! IPv6 fragments to a VIP or LIP, steered by `pipeline/frag.rs`'s table as IPv4 ones are
//! (`frag_v4.rs`): the first through the ordinary session path (`conn.rs` reads its ports
//! and leaves its checksum, which covers the whole datagram, to the end host), the later
//! ones rewritten like it (addresses, hop limit; no checksum in the IPv6 header) or handed
//! to the worker it went to. Keyed by the Fragment header's identification and Next Header.

use super::{Dest6, Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::pipeline::classify::Destination;
use crate::pipeline::frag::{FragKey, Later, Piece, Steer};
use crate::pipeline::frag_v4::min_l4;
use crate::pipeline::{Handoff, L4Info};
use crate::route::IfIndex;
use crate::session::v6::FlowKey6;
use crate::session::{Direction, PROTO_TCP, PROTO_UDP};
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::get_u16;
use crate::wire::ipv6::{self, ExtChain, Ipv6Packet};

impl<P: Frame> Pipeline<P> {
    /// An IPv6 fragment (`chain` walked, its Fragment header found) to a VIP or LIP.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_fragment_v6(
        &mut self,
        port: IfIndex,
        pkt: P,
        chain: ExtChain,
        dest: Dest6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(f) = chain.fragment else { return self.drop_pkt(DropReason::Fragment, pkt) };
        let ip = Ipv6Packet::new_unchecked(&pkt.data()[ETH_LEN..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let payload_len = ip.payload_len() as usize;
        let key = FragKey { src: src.octets(), dst: dst.octets(), id: f.ident, proto: f.next_header };
        // The fragmentable part after the Fragment header (headers between it and TCP/UDP in
        // a first fragment are not counted: the entry then ends by its timeout).
        let len = payload_len.saturating_sub(chain.offset) as u32;
        let piece = Piece { offset: f.offset as u32, len, more: f.more };
        if !f.is_first() {
            if f.offset < min_l4(f.next_header) as u16 {
                return self.drop_pkt(DropReason::FragmentInvalid, pkt);
            }
            return match self.frag.later(key, piece, now, pkt) {
                Later::Steer(s, pkt) => self.steer_v6(s, port, pkt, now, alloc, out),
                Later::Held => {}
                Later::Refused(reason, pkt) => self.drop_pkt(reason, pkt),
            };
        }
        let proto = chain.upper.0;
        if proto != PROTO_TCP && proto != PROTO_UDP {
            return self.drop_pkt(DropReason::Fragment, pkt);
        }
        let l4_at = ETH_LEN + ipv6::HEADER_LEN + chain.offset;
        let Some(l4) = pkt.data().get(l4_at..ETH_LEN + ipv6::HEADER_LEN + payload_len) else {
            return self.drop_pkt(DropReason::FragmentInvalid, pkt);
        };
        if (l4.len() as u32) < min_l4(proto) || (proto == PROTO_TCP && (l4[12] >> 4) < 5) {
            return self.drop_pkt(DropReason::FragmentInvalid, pkt);
        }
        let flow = FlowKey6 { src, dst, sport: get_u16(l4, 0), dport: get_u16(l4, 2), proto };
        let steer = self.first_fragment_v6(port, pkt, chain.offset, flow, dest, now, alloc, out);
        let mut released = std::mem::take(&mut self.frag.scratch);
        self.frag.first(key, piece, steer, now, &mut released);
        for p in released.drain(..) {
            self.steer_v6(steer, port, p, now, alloc, out);
        }
        self.frag.scratch = released;
    }

    /// Sends a first fragment the ordinary way and says how its datagram's later fragments go.
    #[allow(clippy::too_many_arguments)]
    fn first_fragment_v6(
        &mut self,
        port: IfIndex,
        pkt: P,
        off: usize,
        flow: FlowKey6,
        dest: Dest6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Steer {
        if dest == Dest6::Lip {
            let owner = self.v6.ports.owner(flow.dport);
            if owner != self.worker {
                self.steer_v6(Steer::Redirect(owner), port, pkt, now, alloc, out);
                return Steer::Redirect(owner);
            }
        }
        // NAT64 translates whole packets; a fragmented datagram would need RFC 7915's
        // fragment translation, which is not built: dropped and counted.
        let nat64 = match self.v6.sessions.lookup(&flow) {
            Some((id, _)) => self.v6.sessions.get(id).is_nat64(),
            None => {
                let snap = &self.snapshot.v6;
                snap.find(&(flow.proto, flow.dst, flow.dport))
                    .is_some_and(|si| snap.services[si as usize].reals.iter().any(|r| r.ipv4().is_some()))
            }
        };
        if nat64 {
            self.drop_pkt(DropReason::Fragment, pkt);
            return Steer::Drop;
        }
        // A fragmented TCP segment only follows a connection there is (no fragmented SYNs).
        if flow.proto == PROTO_TCP && self.v6.sessions.lookup(&flow).is_none() {
            self.drop_pkt(DropReason::Fragment, pkt);
            return Steer::Drop;
        }
        self.handle_l4_v6(port, pkt, off, dest, now, alloc, out);
        match self.v6.sessions.lookup(&flow) {
            Some((id, dir)) => {
                let s = self.v6.sessions.get(id);
                let to = if dir == Direction::FromClient { s.to_server() } else { s.to_client() };
                Steer::Translate {
                    src: to.src.octets(),
                    dst: to.dst.octets(),
                    real: s.real_slot,
                    inbound: dir == Direction::FromClient,
                }
            }
            None => Steer::Drop,
        }
    }

    /// Sends a later fragment (or a first one being handed over) as `steer` says.
    fn steer_v6(
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
                // Handed over unparsed, as IPv6 always is (`conn.rs`).
                self.counters.redirected_out.inc();
                let info = L4Info { port, dest: Destination::Ipv6, ..L4Info::EMPTY };
                out.redirect[owner as usize].push(Handoff { pkt, info });
            }
            Steer::Translate { src, dst, real, inbound } => {
                let len = {
                    let mut ip = Ipv6Packet::new_unchecked(&mut pkt.data_mut()[ETH_LEN..]);
                    if ip.hop_limit() <= 1 {
                        return self.drop_pkt(DropReason::TtlExceeded, pkt);
                    }
                    ip.set_src_addr(src.into());
                    ip.set_dst_addr(dst.into());
                    ip.decrement_hop_limit();
                    ip.total_len() as u64
                };
                self.count_fragment(real, inbound, len);
                self.send_ipv6(pkt, dst.into(), now, alloc, out);
            }
        }
    }
}
