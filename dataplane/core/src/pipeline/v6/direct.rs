//! IPv6 real servers that see the client's own address (IPVS's `-g`, `-m`, `-i`):
//!
//! - DR: the frame goes to the real server's MAC (resolved by our own Neighbor
//!   Solicitation), the IPv6 header untouched (hop limit too, as IPv4 DR leaves the TTL);
//!   the server holds the VIP on `lo` and answers the client directly.
//! - TUN: the client's packet inside an outer IPv6 header (next header 41, RFC 2473) from
//!   our address on the port towards the server; one that no longer fits that port's MTU
//!   is answered with ICMPv6 Packet Too Big (the MTU less the 40 bytes), as IPVS does.
//! - NAT: the destination becomes RIP:rport (`conn::rewrite`, the session's `server` key
//!   being the reply as it arrives: RIP:rport → CIP:cport); the real servers route through
//!   us, so their replies reach us addressed to the client (`not_local_v6`) and leave
//!   from VIP:vport.
//!
//! DR and TUN sessions see one direction: their TCP state follows IPVS's input-only table
//! and only the in counters move. NAT replies carry no local port naming a worker, so a
//! service with NAT real servers keeps each connection on the worker its client endpoint
//! names (`NatSteering6::owner`), both ways. A service with DR or TUN real servers does the
//! same with its client packets, so that a session synced from another director is found
//! on the worker every director agrees on.

use hashbrown::HashSet;
use std::net::Ipv6Addr;

use super::conn::{parse_l4, L4v6};
use super::{Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::pipeline::{classify::Destination, Handoff, L4Info};
use crate::route::IfIndex;
use crate::service::{Real6, Snapshot6};
use crate::session::v6::{Session6, FLAG6_DR, FLAG6_NAT, FLAG6_TUN};
use crate::session::Direction;
use crate::stats::{DropReason, Event};
use crate::time::Time;
use crate::wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{self, ExtChain, Ipv6Packet, Ipv6Repr, NH_ICMPV6};
use rvs_proto::ForwardMethod;

/// The outer IPv6 header of TUN.
const OUTER_LEN: usize = ipv6::HEADER_LEN;
/// IPv6-in-IPv6.
const NH_IPV6: u8 = 41;
/// Hop limit of the outer header and of the errors we originate (Linux's default).
const HOP_LIMIT: u8 = 64;

/// The session flag of a real server's method (0: FULLNAT, or NAT64 which is FULLNAT).
pub(super) fn method_flag(r: &Real6) -> u8 {
    if r.ipv4().is_some() {
        return 0;
    }
    match r.method {
        ForwardMethod::FullNat => 0,
        ForwardMethod::Nat => FLAG6_NAT,
        ForwardMethod::DirectRoute => FLAG6_DR,
        ForwardMethod::Tunnel => FLAG6_TUN,
    }
}

/// Which services have NAT, DR or TUN real servers (their client packets are steered to
/// the client endpoint's worker), and the NAT servers' endpoints and addresses.
#[derive(Debug, Default)]
pub(super) struct NatSteering6 {
    reals: HashSet<(Ipv6Addr, u16, u8), ahash::RandomState>,
    /// The addresses alone: their ICMPv6 errors to clients are translated too.
    addrs: HashSet<Ipv6Addr, ahash::RandomState>,
    services: Vec<bool>,
    /// Whether any service is steered.
    any_service: bool,
}

impl NatSteering6 {
    pub(super) fn new(snap: &Snapshot6) -> Self {
        let mut s = NatSteering6::default();
        for svc in &snap.services {
            for r in svc.reals.iter().filter(|r| method_flag(r) == FLAG6_NAT) {
                s.reals.insert((*r.addr.ip(), r.addr.port(), svc.proto));
                s.addrs.insert(*r.addr.ip());
            }
            let direct = svc.reals.iter().any(|r| method_flag(r) != 0);
            s.any_service |= direct;
            s.services.push(direct);
        }
        s
    }

    /// Whether RIP:rport is a NAT real server of a `proto` service (a port-0 one answers
    /// from whatever port its client asked for).
    pub(super) fn has_real(&self, rip: Ipv6Addr, rport: u16, proto: u8) -> bool {
        self.reals.contains(&(rip, rport, proto)) || self.reals.contains(&(rip, 0, proto))
    }

    /// The worker (of `workers`) owning the NAT sessions of client CIP:cport: a
    /// multiplicative hash of the endpoint, the same on every worker.
    pub(super) fn owner(cip: Ipv6Addr, cport: u16, workers: u16) -> u16 {
        crate::laddr::owner_of_client6(cip, cport, workers)
    }
}

impl<P: Frame> Pipeline<P> {
    /// The worker a client packet to an IPv6 VIP must go to: the owner of its client
    /// endpoint, when its service has NAT, DR or TUN real servers and that is another worker.
    #[inline]
    pub(super) fn nat6_client_owner(&self, k: &crate::session::v6::FlowKey6) -> Option<u16> {
        if self.workers < 2 || !self.v6.nat.any_service {
            return None;
        }
        let si = self.snapshot.v6.find(&(k.proto, k.dst, k.dport))? as usize;
        if !self.v6.nat.services.get(si).copied().unwrap_or(false) {
            return None;
        }
        let owner = NatSteering6::owner(k.src, k.sport, self.workers);
        (owner != self.worker).then_some(owner)
    }

    /// An IPv6 packet to none of our addresses: a NAT real server's reply to a client goes
    /// back through its session; anything else is the kernel's (or dropped).
    pub(super) fn not_local_v6(
        &mut self,
        port: IfIndex,
        pkt: P,
        chain: &ExtChain,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let upper = chain.upper.0;
        if self.v6.nat.reals.is_empty() || chain.fragment.is_some() {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if upper == NH_ICMPV6 {
            return self.nat_icmpv6_error(port, pkt, chain.offset, now, alloc, out);
        }
        if !(upper == 6 || upper == 17) {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        let Some(l4) = parse_l4(pkt.data(), chain.offset) else {
            return self.drop_pkt(DropReason::BadL4Header, pkt);
        };
        let k = l4.key;
        if !self.v6.nat.has_real(k.src, k.sport, k.proto) {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if self.workers > 1 {
            let owner = NatSteering6::owner(k.dst, k.dport, self.workers);
            if owner != self.worker {
                self.counters.redirected_out.inc();
                let info = L4Info { port, dest: Destination::Ipv6, ..L4Info::EMPTY };
                return out.redirect[owner as usize].push(Handoff { pkt, info });
            }
        }
        match self.v6.sessions.lookup(&k) {
            Some((id, Direction::FromServer)) => {
                self.forward_v6(id, Direction::FromServer, pkt, l4, now, alloc, out)
            }
            _ => self.drop_pkt(DropReason::NoSession, pkt),
        }
    }

    /// An ICMPv6 message routed through us: a NAT real server's error about a reply it got
    /// from a client (e.g. port unreachable) goes to the client translated like the
    /// session (`icmp_error.rs`); anything else is not ours.
    fn nat_icmpv6_error(
        &mut self,
        port: IfIndex,
        pkt: P,
        off: usize,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let ip = Ipv6Packet::new_unchecked(&pkt.data()[ETH_LEN..]);
        let (src, dst, hop_limit) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
        if !self.v6.nat.addrs.contains(&src) {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        let msg = &pkt.data()[ETH_LEN + ipv6::HEADER_LEN + off..ETH_LEN + ip.total_len()];
        let is_error = match Icmpv6Packet::new_checked(msg) {
            Ok(p) => matches!(
                Icmpv6Repr::parse(&p, src, dst, hop_limit),
                Ok(Icmpv6Repr::DstUnreachable { .. }
                    | Icmpv6Repr::PacketTooBig { .. }
                    | Icmpv6Repr::TimeExceeded { .. })
            ),
            Err(_) => false,
        };
        if !is_error {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        self.handle_icmpv6_error(port, pkt, off, now, alloc, out)
    }

    /// An ICMPv6 error about a DR/TUN session, e.g. "packet too big" from a router on the
    /// way to the client about a segment the real server sent from the VIP: it goes to the
    /// real server unchanged (inside IPv6 for TUN), as IPVS's `ip_vs_in_icmp_v6` does, so
    /// the server's path MTU discovery works through us. `end`: where the error ends.
    pub(super) fn icmp_error_to_real_v6(
        &mut self,
        s: &Session6,
        mut pkt: P,
        end: usize,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let rip = s.server.src;
        if pkt.data().len() > end && !pkt.set_len(end) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        let ip_len = end - ETH_LEN;
        if s.flags & FLAG6_TUN != 0 {
            if ip_len + OUTER_LEN > self.mtu6_towards(rip) {
                // No ICMP about an ICMP error (RFC 4443 §2.4): it goes no further.
                return self.drop_pkt(DropReason::TunTooBig, pkt);
            }
            if let Err(reason) = self.wrap_ipv6(&mut pkt, ip_len, rip) {
                return self.drop_pkt(reason, pkt);
            }
        }
        self.counters.event(Event::IcmpErrorForwarded);
        self.send_ipv6(pkt, rip, now, alloc, out);
    }

    /// Puts the `ip_len`-byte IPv6 packet of `pkt` inside an outer IPv6 header (next header
    /// 41) from our address on the way to `rip`; its traffic class and flow label copied.
    fn wrap_ipv6(&self, pkt: &mut P, ip_len: usize, rip: Ipv6Addr) -> Result<(), DropReason> {
        let src = self.v6.routes.lookup(rip).and_then(|h| self.v6.source_for(h.port, rip));
        let src = src.ok_or(DropReason::NoRoute)?;
        if !pkt.push_front(OUTER_LEN) {
            return Err(DropReason::NoMbuf);
        }
        let d = pkt.data_mut();
        let inner = Ipv6Packet::new_unchecked(&d[ETH_LEN + OUTER_LEN..]);
        let (tc, fl) = (inner.traffic_class(), inner.flow_label());
        Ipv6Repr {
            src,
            dst: rip,
            next_header: NH_IPV6,
            payload_len: ip_len as u16,
            hop_limit: HOP_LIMIT,
            traffic_class: tc,
            flow_label: fl,
        }
        .emit(&mut d[ETH_LEN..]);
        Ok(())
    }

    /// A client packet of a DR or TUN session (accounted already) to its real server.
    pub(super) fn forward_input_only_v6(
        &mut self,
        s: &Session6,
        mut pkt: P,
        l4: &L4v6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let rip = s.server.src;
        // Ethernet padding of a short frame goes: the server gets the IP packet.
        if pkt.data().len() > ETH_LEN + l4.ip_len && !pkt.set_len(ETH_LEN + l4.ip_len) {
            return self.drop_pkt(DropReason::Truncated, pkt);
        }
        if s.flags & FLAG6_TUN != 0 {
            let mtu = self.mtu6_towards(rip);
            if l4.ip_len + OUTER_LEN > mtu {
                // The client learns how much fits once wrapped (never below IPv6's minimum:
                // what cannot fit then is dropped, we do not fragment the outer packet).
                let fits = (mtu - OUTER_LEN).max(usize::from(ipv6::MIN_MTU));
                if fits < l4.ip_len {
                    self.packet_too_big(&pkt, l4.ip_len, s.client.src, fits as u32, now, alloc, out);
                    self.counters.event(Event::TunFragNeeded);
                }
                return self.drop_pkt(DropReason::TunTooBig, pkt);
            }
            if let Err(reason) = self.wrap_ipv6(&mut pkt, l4.ip_len, rip) {
                return self.drop_pkt(reason, pkt);
            }
        }
        self.send_ipv6(pkt, rip, now, alloc, out);
    }

    /// The MTU of the port our route to `a` leaves by.
    pub(super) fn mtu6_towards(&self, a: Ipv6Addr) -> usize {
        self.v6
            .routes
            .lookup(a)
            .map_or(usize::from(ipv6::MIN_MTU), |h| usize::from(self.ifaces[h.port as usize].mtu))
    }

    /// ICMPv6 Packet Too Big (RFC 4443 §3.2) with `mtu` to `client` about the `ip_len`-byte
    /// IPv6 packet in `pkt`, quoting as much of it as fits IPv6's minimum MTU.
    #[allow(clippy::too_many_arguments)]
    fn packet_too_big(
        &mut self,
        pkt: &P,
        ip_len: usize,
        client: Ipv6Addr,
        mtu: u32,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(src) = self.v6.routes.lookup(client).and_then(|h| self.v6.source_for(h.port, client)) else {
            return;
        };
        let quote_len = ip_len.min(usize::from(ipv6::MIN_MTU) - ipv6::HEADER_LEN - 8);
        let quote = &pkt.data()[ETH_LEN..ETH_LEN + quote_len];
        let msg = Icmpv6Repr::PacketTooBig { mtu, quote };
        let len = msg.buffer_len();
        let Some(mut f) = alloc.alloc(ETH_LEN + ipv6::HEADER_LEN + len) else {
            return self.counters.count_drop(DropReason::NoMbuf);
        };
        let d = f.data_mut();
        d.fill(0);
        Ipv6Repr {
            src,
            dst: client,
            next_header: NH_ICMPV6,
            payload_len: len as u16,
            hop_limit: HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut d[ETH_LEN..]);
        msg.emit(&mut d[ETH_LEN + ipv6::HEADER_LEN..], src, client);
        self.send_ipv6(f, client, now, alloc, out);
    }

    /// Persistence templates of this worker (IPv4 and IPv6), for tests.
    #[cfg(test)]
    pub(super) fn persist_templates(&self) -> usize {
        self.persist.len()
    }
}
