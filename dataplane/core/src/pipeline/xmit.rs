//! Forwarding a packet of a session: state, counters, the FULLNAT rewrite, next hop; and
//! `xmit`, where every frame leaves the pipeline for a TX queue.

use super::*;

impl<P: Frame> Pipeline<P> {
    /// Queues a frame whose (untagged) Ethernet header is final for transmission on
    /// interface `iface`: as it is on a port, tagged on a VLAN. The only place frames
    /// leave the pipeline for the wire, so the tag is pushed in one place.
    #[inline]
    pub(super) fn xmit(&self, iface: IfIndex, pkt: P, out: &mut Output<P>) {
        let i = iface as usize;
        if i < self.nports {
            out.tx[i].push(pkt);
        } else {
            self.xmit_tagged(i, pkt, out);
        }
    }

    #[cold]
    fn xmit_tagged(&self, i: usize, mut pkt: P, out: &mut Output<P>) {
        let Some(ifc) = self.ifaces.get(i) else {
            return self.drop_pkt(DropReason::NoRoute, pkt);
        };
        if !crate::frame::push_vlan(&mut pkt, ifc.vlan) {
            return self.drop_pkt(DropReason::NoMbuf, pkt);
        }
        if let Some(c) = self.counters.vlans.get(i - self.nports) {
            c.tx_packets.inc();
            c.tx_bytes.add(pkt.data().len() as u64);
        }
        out.tx[ifc.port as usize].push(pkt);
    }

    pub(super) fn server_packet(
        &mut self,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        // The local port says which worker owns the session: hand it over before any
        // lookup (a lookup here would be a guaranteed miss).
        let k = &info.key;
        let owner = self.laddrs.owner_of_reply(k.src, k.sport, k.dst, k.dport);
        if owner != self.worker {
            self.counters.redirected_out.inc();
            out.redirect[owner as usize].push(Handoff { pkt, info });
            return;
        }
        match self.sessions.lookup_hashed(info.hash, &info.key) {
            Some((id, Direction::FromServer)) => {
                self.forward(id, Direction::FromServer, pkt, info, now, alloc, out)
            }
            // Maybe a NAT64 session's reply (IPv6 client, `v6/nat64.rs`).
            _ => self.nat64_reply(pkt, info, now, alloc, out),
        }
    }

    /// Rewrites a packet of a session and sends it on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &mut self,
        id: SessionId,
        dir: Direction,
        mut pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        // What the fast path takes for granted (`established` makes no owner check): a
        // worker forwards, and so caches a next hop for, only its own sessions' replies.
        debug_assert!(dir == Direction::FromClient || self.owns_reply(id, &info.key), "{:?}", info.key);
        if self.sessions.get(id).flags & FLAG_INPUT_ONLY != 0 {
            return self.forward_input_only(id, dir, pkt, info, now, alloc, out);
        }
        if self.expire_nodest_conn
            && !self.real_present.get(self.sessions.get(id).real_slot as usize).copied().unwrap_or(true)
        {
            return self.expire_nodest(id, dir, pkt, info, now, alloc, out);
        }
        let mut info = info;
        if info.key.proto == PROTO_TCP
            && self.sessions.get(id).flags & (FLAG_EXT | FLAG_TOA | FLAG_TOA_PENDING) != 0
        {
            match self.tcp_extensions(id, dir, pkt, &mut info, now, alloc, out) {
                Some(p) => pkt = p,
                None => return,
            }
        }
        let pressure = self.sessions.under_pressure();
        let s = self.sessions.get_mut(id);
        let mut rearm = false;
        if info.key.proto == PROTO_TCP {
            let next = s.state.next_tcp(dir, info.tcp_flags);
            if next != s.state {
                if let Some(r) = self.counters.reals.get(s.real_slot as usize) {
                    r.state_moved(s.state.is_active(), next.is_active());
                }
                s.state = next;
                // Only a new state can shorten the timeout: the deadline may move earlier.
                rearm = true;
            }
        }
        // A nearly full table keeps half-open sessions short: an earlier deadline, relinked.
        rearm |= StateTimeouts::pressed(s.state, pressure);
        s.expires = self.timeouts.deadline_under(now, s.state, pressure);
        let (to, inbound) = (Endpoints::towards(s, dir), dir == Direction::FromClient);
        let real_slot = s.real_slot as usize;
        if rearm {
            self.sessions.rearm(id);
        }
        // NAT sessions too: their record names the client as the reply's destination.
        if inbound && self.sync.is_some() {
            self.sync_client_packet(id, now, out);
        }
        self.send_on::<false>(id, dir, to, real_slot, pkt, &info, now, alloc, out)
    }

    /// `forward` of the client packet that just created session `id` (`new_session`; TTL
    /// checked): the session is as `new_session` left it, in SYN_RECV (or UDP) with its
    /// deadline set and no next hop cached, so what remains is the counters, the rewrite
    /// and the next hop. Whatever else `forward` might do goes its way: a packet that
    /// moves the state (a SYN with FIN), TOA or a PROXY header to insert, a method that
    /// sees client packets only, `expire_nodest_conn`.
    pub(super) fn forward_first(
        &mut self,
        id: SessionId,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let s = self.sessions.get(id);
        // A segment without FIN, RST or ACK (a SYN) moves no state: `next_tcp` unasked.
        let moves = info.key.proto == PROTO_TCP
            && info.tcp_flags & (TCP_FIN | TCP_RST | TCP_ACK) != 0
            && s.state.next_tcp(Direction::FromClient, info.tcp_flags) != s.state;
        if moves
            || s.flags & (FLAG_INPUT_ONLY | FLAG_EXT | FLAG_TOA | FLAG_TOA_PENDING) != 0
            || self.expire_nodest_conn
        {
            return self.forward(id, Direction::FromClient, pkt, info, now, alloc, out);
        }
        let to = Endpoints::towards(s, Direction::FromClient);
        let real_slot = s.real_slot as usize;
        if StateTimeouts::pressed(s.state, self.sessions.under_pressure()) {
            // As `forward`: the table may have come under pressure with this very session.
            self.sessions.get_mut(id).expires =
                self.timeouts.deadline_under(now, SessionState::SynRecv, true);
            self.sessions.rearm(id);
        }
        if self.sync.is_some() {
            self.sync_client_packet(id, now, out);
        }
        self.send_on::<true>(id, Direction::FromClient, to, real_slot, pkt, &info, now, alloc, out)
    }

    /// The end of `forward`: counters, the rewrite to `to`, the next hop, TX. `FRESH`: a
    /// session just made, with no next hop cached yet.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn send_on<const FRESH: bool>(
        &mut self,
        id: SessionId,
        dir: Direction,
        to: Endpoints,
        real_slot: usize,
        mut pkt: P,
        info: &L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let inbound = dir == Direction::FromClient;
        let bytes = info.ip_len as u64;
        if let Some(r) = self.counters.reals.get(real_slot) {
            r.count(inbound, bytes);
        }
        let end = ETH_LEN + info.ip_len;
        // Bigger than the egress port's MTU (never on the fast path): answered or fragmented.
        let too_big = self.too_big(info, to.dst);
        if let Some(mtu) = too_big {
            if pkt.data()[ETH_LEN + 6] & 0x40 != 0 {
                return self.answer_too_big(pkt, info, mtu, now, alloc, out);
            }
        }
        let ip = &mut pkt.data_mut()[ETH_LEN..end];
        if ip[0] == 0x45 {
            // No IP options: the old addresses and ports are the flow key's, read already.
            nat::rewrite_classified(ip, info.key.proto == PROTO_UDP, &info.key, to);
        } else {
            nat::rewrite(ip, to);
        }
        if let Some(mtu) = too_big {
            return self.send_fragments(pkt, to.dst, mtu, now, alloc, out);
        }
        // The session's cached next hop, else (towards a real server) the one last
        // resolved for its real server: no route or neighbour lookup.
        let gen = self.neigh.generation();
        let cached = if FRESH { None } else { self.sessions.hop(id, dir, gen) };
        let hop = cached.or_else(|| {
            let h = self.real_hops.get(real_slot).filter(|h| inbound && h.gen == gen && h.dst == to.dst)?;
            self.sessions.set_hop(id, dir, Hop { gen, neigh: h.neigh });
            Some(h.neigh)
        });
        if let Some((mac, port)) = hop.and_then(|n| self.neigh.at(n)) {
            let d = pkt.data_mut();
            d[0..6].copy_from_slice(&mac);
            d[6..12].copy_from_slice(&self.ifaces[port as usize].mac.0);
            self.xmit(port, pkt, out);
            return;
        }
        self.route_out(pkt, to.dst, Some((id, dir)), now, alloc, out);
        if let (true, Some(neigh), Some(h)) =
            (inbound, self.sessions.hop(id, dir, gen), self.real_hops.get_mut(real_slot))
        {
            *h = RealHop { gen, neigh, dst: to.dst };
        }
    }

    /// Routes an IPv4 frame (IP header already final) and fills in its Ethernet header,
    /// or parks it until the next hop is resolved.
    pub(super) fn send_ip(
        &mut self,
        pkt: P,
        dst: Ipv4Addr,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        self.route_out(pkt, dst, None, now, alloc, out)
    }

    /// `send_ip`, caching the resolved next hop in session `cache` when one is given.
    pub(super) fn route_out(
        &mut self,
        mut pkt: P,
        dst: Ipv4Addr,
        cache: Option<(SessionId, Direction)>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(hop) = self.routes.lookup(dst) else {
            return self.drop_pkt(DropReason::NoRoute, pkt);
        };
        {
            let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
            eth.set_src_addr(self.ifaces[hop.port as usize].mac);
            eth.set_ethertype(EtherType::IPV4);
        }
        if let Some(n) = self.neigh.resolve(hop.port, hop.next_hop) {
            let (mac, neigh_port) = self.neigh.at(n).expect("resolved");
            EthernetFrame::new_unchecked(pkt.data_mut()).set_dst_addr(MacAddr(mac));
            // Cached only where the neighbour sits on the routed port (the cached path
            // sends out of the neighbour's port).
            if let (Some((id, dir)), true) = (cache, neigh_port == hop.port) {
                self.sessions.set_hop(id, dir, Hop { gen: self.neigh.generation(), neigh: n });
            }
            self.xmit(hop.port, pkt, out);
            return;
        }
        match self.neigh.hold(hop.next_hop, hop.port, pkt, now) {
            Hold::Queued => {}
            Hold::QueuedSendRequest => self.send_arp_request(hop.port, hop.next_hop, alloc, out),
            Hold::Full(pkt) => self.drop_pkt(DropReason::NeighQueueFull, pkt),
        }
    }

    /// Undoes what a session holds: its local port and its gauges.
    pub(super) fn retire(&mut self, s: &Session) {
        if s.flags & FLAG_NO_LADDR == 0 {
            self.laddrs.free(s.reply.dst, s.reply.dport);
        }
        let c = &self.counters;
        if let Some(r) = c.reals.get(s.real_slot as usize) {
            if s.state.is_active() {
                r.active.sub(1);
            } else {
                r.inactive.sub(1);
            }
            let conns = r.active.get().wrapping_add(r.inactive.get());
            self.overload.on_unbind(s.real_slot, conns, self.thresholds[s.real_slot as usize]);
        }
        if let Some(client) = s.persist_client.get() {
            self.persist.detach(&PersistKey { service: s.service_slot as u32, client: client.into() });
        }
        self.limits.closed(s.service_slot);
        if s.flags & FLAG_EXT != 0 {
            self.ext.remove(&s.client); // frees any held segments
        }
        if s.flags & FLAG_SYNCED != 0 {
            self.sync_forget(s);
        }
        self.counters.sessions_live.set(self.sessions.len() as u64);
    }
}

/// The next hop last resolved towards a real server: valid while the neighbour table's
/// generation is `gen` and the packet goes to `dst` (a slot may come to name another real
/// server with a new snapshot).
#[derive(Debug, Clone, Copy)]
pub(super) struct RealHop {
    gen: u16,
    neigh: u16,
    dst: Ipv4Addr,
}

impl RealHop {
    pub(super) const NONE: RealHop = RealHop { gen: 0, neigh: u16::MAX, dst: Ipv4Addr::UNSPECIFIED };
}
