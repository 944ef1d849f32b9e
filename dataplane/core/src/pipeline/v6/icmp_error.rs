//! ICMPv6 errors that follow their IPv6 sessions, as `pipeline/icmp_error.rs` does for
//! IPv4 (IPVS's `ip_vs_in_icmp_v6` / `ip_vs_out_icmp_v6`): a "packet too big" from a router
//! on either path, or a real server's "port unreachable", arrives at the VIP or LIP we sent
//! the packet from, quoting it. The quoted flow, reversed, is a flow of the IPv6 session
//! table; the error is rewritten like the session (quoted addresses, ports and L4 checksum,
//! outer addresses, ICMPv6 checksum) and sent to the session's other end. IPv6 FULLNAT adds
//! no header, so a packet-too-big's MTU passes unchanged.

use std::net::Ipv6Addr;

use super::{Dest6, Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::pipeline::{classify::Destination, Handoff, L4Info};
use crate::route::IfIndex;
use crate::session::v6::FlowKey6;
use crate::session::{Direction, PROTO_TCP, PROTO_UDP};
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv6::{self, update_addr_v6, Ipv6Packet};
use crate::wire::{checksum, get_u16, put_u16};

/// Hop limit of the errors we pass on (a new packet of ours, as a router's would be).
const ERROR_HOP_LIMIT: u8 = 64;

/// The facts of an ICMPv6 error's quoted packet: offsets in the frame and its flow.
struct Quoted6 {
    icmp_at: usize,
    /// End of the ICMPv6 message in the frame.
    end: usize,
    inner_at: usize,
    l4_at: usize,
    key: FlowKey6,
}

impl Quoted6 {
    /// An ICMPv6 error (its header `off` bytes into the IPv6 payload) that quotes an IPv6
    /// TCP or UDP packet with at least its ports. None for anything shorter or other.
    fn parse(frame: &[u8], off: usize) -> Option<Quoted6> {
        let outer = Ipv6Packet::new_checked(frame.get(ETH_LEN..)?).ok()?;
        let icmp_at = ETH_LEN + ipv6::HEADER_LEN + off;
        let end = ETH_LEN + outer.total_len();
        let inner_at = icmp_at + icmpv6::HEADER_LEN;
        let inner = frame.get(inner_at..end)?;
        if inner.len() < ipv6::HEADER_LEN || inner[0] >> 4 != 6 {
            return None;
        }
        let addr = |at: usize| -> Option<Ipv6Addr> {
            let b: [u8; 16] = inner.get(at..at + 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(b))
        };
        // The quote is cut short: walk its extension headers over what is there.
        let chain = ipv6::walk_ext(inner[6], &inner[ipv6::HEADER_LEN..]).ok()?;
        let proto = chain.upper.0;
        if (proto != PROTO_TCP && proto != PROTO_UDP) || chain.fragment.is_some_and(|f| !f.is_first()) {
            return None;
        }
        let l4_at = inner_at + ipv6::HEADER_LEN + chain.offset;
        let ports = frame.get(l4_at..l4_at + 4).filter(|_| l4_at + 4 <= end)?;
        Some(Quoted6 {
            icmp_at,
            end,
            inner_at,
            l4_at,
            key: FlowKey6 {
                src: addr(8)?,
                dst: addr(24)?,
                sport: get_u16(ports, 0),
                dport: get_u16(ports, 2),
                proto,
            },
        })
    }
}

impl<P: Frame> Pipeline<P> {
    /// An ICMPv6 error to an IPv6 VIP or LIP (checksum verified by the caller): translated
    /// for the session it is about and sent on, or dropped and counted.
    pub(super) fn handle_icmpv6_error(
        &mut self,
        port: IfIndex,
        mut pkt: P,
        off: usize,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(q) = Quoted6::parse(pkt.data(), off) else {
            return self.drop_pkt(DropReason::IcmpBadQuote, pkt);
        };
        let k = q.key;
        let reverse = FlowKey6 { src: k.dst, dst: k.src, sport: k.dport, dport: k.sport, proto: k.proto };
        let Some((id, dir)) = self.v6.sessions.lookup(&reverse) else {
            // Another worker's session: a quote from a LIP names it by its local port,
            // else the workers look in turn (`next_worker`).
            let owner = (self.v6.get(k.src) == Some(Dest6::Lip)).then(|| self.v6.ports.owner(k.sport));
            let Some(w) = self.next_worker(owner) else {
                return self.drop_pkt(DropReason::IcmpNoSession, pkt);
            };
            self.counters.redirected_out.inc();
            let info = L4Info {
                port,
                dest: Destination::Ipv6,
                ttl: self.handoff_hops.saturating_add(1),
                ..L4Info::EMPTY
            };
            return out.redirect[w as usize].push(Handoff { pkt, info });
        };
        let s = self.v6.sessions.get(id);
        if s.flags & crate::session::v6::FLAG6_INPUT_ONLY != 0 {
            // DR/TUN: about what the real server sent from the VIP (`direct.rs`).
            let s = *s;
            return self.icmp_error_to_real_v6(&s, pkt, q.end, now, alloc, out);
        }
        if s.is_nat64() {
            // The server side is IPv4: an ICMPv4 error for it (`nat64.rs`).
            return self.nat64_icmpv6_error(id, pkt, q.icmp_at..q.end, now, alloc, out);
        }
        // The quoted packet was made from one the other end sent: the error quotes that
        // one now and goes back to its sender, from the address it talks to.
        let other = match dir {
            Direction::FromClient => s.server,
            Direction::FromServer => s.client,
        };
        rewrite_error(pkt.data_mut(), &q, &other);
        self.counters.event(crate::stats::Event::IcmpErrorForwarded);
        self.send_ipv6(pkt, other.src, now, alloc, out);
    }
}

/// Rewrites the error in `frame` for the flow `to` (what the recipient sent): the quoted
/// header becomes `to`, the error goes from `to.dst` to `to.src`.
fn rewrite_error(frame: &mut [u8], q: &Quoted6, to: &FlowKey6) {
    let k = q.key;
    // The quoted L4 checksum, where the quote holds it.
    let ck = if k.proto == PROTO_TCP { 16 } else { 6 };
    if q.l4_at + ck + 2 <= q.end {
        let at = q.l4_at + ck;
        let mut c = get_u16(frame, at);
        if !(k.proto == PROTO_UDP && c == 0) {
            c = update_addr_v6(c, k.src, to.src);
            c = update_addr_v6(c, k.dst, to.dst);
            c = checksum::update_u16(c, k.sport, to.sport);
            c = checksum::update_u16(c, k.dport, to.dport);
            if k.proto == PROTO_UDP && c == 0 {
                c = 0xffff;
            }
            put_u16(frame, at, c);
        }
    }
    put_u16(frame, q.l4_at, to.sport);
    put_u16(frame, q.l4_at + 2, to.dport);
    {
        let mut inner = Ipv6Packet::new_unchecked(&mut frame[q.inner_at..]);
        inner.set_src_addr(to.src);
        inner.set_dst_addr(to.dst);
    }
    {
        let mut outer = Ipv6Packet::new_unchecked(&mut frame[ETH_LEN..]);
        outer.set_src_addr(to.dst);
        outer.set_dst_addr(to.src);
        outer.set_hop_limit(ERROR_HOP_LIMIT);
    }
    Icmpv6Packet::new_unchecked(&mut frame[q.icmp_at..q.end]).fill_checksum(to.dst, to.src);
}
