//! DR and TUN forwarding (IPVS's `-g` and `-i`): the client's packet goes to the real
//! server with its IP header untouched, either as is to the server's MAC (DR) or inside
//! an outer IPv4 header (TUN, `xmit_tun`). The server answers the client directly, so
//! these sessions see one direction: the TCP state follows IPVS's input-only table, and
//! only the in counters move.

use super::*;
use crate::session::FLAG_TUN;
use crate::stats::Event;

impl<P: Frame> Pipeline<P> {
    /// Forwards a packet of a DR or TUN session (`forward` sends them here).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_input_only(
        &mut self,
        id: SessionId,
        dir: Direction,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if dir == Direction::FromServer {
            // The real server's reply came back through us: its routing is wrong for DR
            // or TUN (the reply must go straight to the client). We do not route it.
            return self.drop_pkt(DropReason::ReplyBypassed, pkt);
        }
        let real_slot = self.sessions.get(id).real_slot;
        if self.expire_nodest_conn && !self.real_present.get(real_slot as usize).copied().unwrap_or(true) {
            // The server is gone: end the session; a new connection is scheduled afresh,
            // anything else finds no session (IPVS expire_nodest_conn drops it too).
            let s = self.sessions.remove(id);
            self.retire(&s);
            self.counters.event(Event::NoDestExpired);
            return self.client_packet(pkt, info, None, now, alloc, out);
        }
        let s = self.sessions.get_mut(id);
        let mut rearm = false;
        if info.key.proto == PROTO_TCP {
            let next = s.state.next_tcp_input_only(info.tcp_flags);
            if next != s.state {
                if let Some(r) = self.counters.reals.get(s.real_slot as usize) {
                    r.state_moved(s.state.is_active(), next.is_active());
                }
                s.state = next;
                rearm = true;
            }
        }
        s.expires = self.timeouts.deadline(now, s.state);
        let (rip, tun) = (s.reply.src, s.flags & FLAG_TUN != 0);
        if rearm {
            self.sessions.rearm(id);
        }
        // Synced like the other methods' sessions (its record names the client as the
        // reply's destination): a backup then forwards the connection to the same server.
        if self.sync.is_some() {
            self.sync_client_packet(id, now, out);
        }
        let bytes = info.ip_len as u64;
        if let Some(r) = self.counters.reals.get(real_slot as usize) {
            r.count(true, bytes);
        }
        let mut pkt = pkt;
        if tun {
            let gue = self.gue_ports.get(real_slot as usize).copied().unwrap_or(0);
            match self.encapsulate(pkt, &info, rip, gue, now, alloc, out) {
                Some(p) => pkt = p,
                None => return,
            }
        } else if pkt.data().len() > ETH_LEN + info.ip_len {
            // Ethernet padding of a short frame goes: the server gets the IP packet.
            pkt.set_len(ETH_LEN + info.ip_len);
        }
        // The session's cached next hop (the real server's MAC), else route and resolve.
        if let Some((mac, port)) =
            self.sessions.hop(id, dir, self.neigh.generation()).and_then(|n| self.neigh.at(n))
        {
            let port_mac = self.ifaces[port as usize].mac.0;
            let d = pkt.data_mut();
            d[0..6].copy_from_slice(&mac);
            d[6..12].copy_from_slice(&port_mac);
            self.xmit(port, pkt, out);
            return;
        }
        self.route_out(pkt, rip, Some((id, dir)), now, alloc, out);
    }

    /// An ICMP error about a DR/TUN session, e.g. "fragmentation needed" from a router on
    /// the way to the client about a segment the real server sent from the VIP: it goes to
    /// the real server unchanged (wrapped in IPIP for TUN), as IPVS's `ip_vs_in_icmp` does,
    /// so the server's PMTU discovery works through us.
    pub(super) fn icmp_error_to_real(
        &mut self,
        id: SessionId,
        mut pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let s = self.sessions.get(id);
        let (rip, tun) = (s.reply.src, s.flags & FLAG_TUN != 0);
        let gue = self.gue_ports.get(s.real_slot as usize).copied().unwrap_or(0);
        let d = pkt.data();
        let ip_len = u16::from_be_bytes([d[ETH_LEN + 2], d[ETH_LEN + 3]]) as usize;
        if tun {
            if ip_len + super::xmit_tun::outer_len(gue) > self.tun_mtu(rip) {
                // No ICMP about an ICMP error (RFC 1122): it goes no further.
                return self.drop_pkt(DropReason::TunTooBig, pkt);
            }
            match self.wrap_tunnel(pkt, ip_len, rip, gue) {
                Some(p) => pkt = p,
                None => return,
            }
        } else if d.len() > ETH_LEN + ip_len {
            pkt.set_len(ETH_LEN + ip_len);
        }
        self.counters.event(Event::IcmpErrorForwarded);
        self.send_ip(pkt, rip, now, alloc, out);
    }
}
