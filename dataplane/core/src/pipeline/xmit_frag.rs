//! An IPv4 packet of a session bigger than the MTU of the port it leaves by, as a router
//! treats it: with DF set it is answered with ICMP "fragmentation needed" carrying that MTU
//! (the sender lowers its path MTU); with DF clear it is sent as fragments that fit.
//!
//! Such packets come from a port with a larger MTU than the egress one (jumbo frames on one
//! side), or whole from a kernel that reassembled them before rvsd (af_packet's fanout
//! defrag). They never take the fast path (`classify_fast` leaves anything above the
//! smallest port MTU to the full path), so the check costs the established path nothing.

use super::*;
use crate::stats::Event;

impl<P: Frame> Pipeline<P> {
    /// The MTU of the port (or VLAN) the route to `dst` leaves by; None without a route.
    pub(super) fn egress_mtu(&self, dst: Ipv4Addr) -> Option<usize> {
        let hop = self.routes.lookup(dst)?;
        self.ifaces.get(hop.port as usize).map(|i| usize::from(i.mtu))
    }

    /// Whether a packet of `info` (not yet rewritten) going to `dst` is too big for its
    /// egress port, and if so that port's MTU.
    #[inline]
    pub(super) fn too_big(&self, info: &L4Info, dst: Ipv4Addr) -> Option<usize> {
        if info.ip_len <= self.max_fast_ip {
            return None;
        }
        self.egress_mtu(dst).filter(|&mtu| info.ip_len > mtu)
    }

    /// A too-big packet with DF set: "fragmentation needed" with `mtu` to its sender, and
    /// dropped (`too_big`).
    pub(super) fn answer_too_big(
        &mut self,
        pkt: P,
        info: &L4Info,
        mtu: usize,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        self.frag_needed(&pkt, info, mtu as u16, now, alloc, out);
        self.counters.event(Event::FragNeededSent);
        self.drop_pkt(DropReason::TooBig, pkt);
    }

    /// Sends the (rewritten, Ethernet header still to be written) IPv4 packet `pkt` to `dst`
    /// as fragments of at most `mtu` bytes. The packet may itself be a fragment: offsets
    /// and the last one's MF follow it. Packets with IP options are dropped (`too_big`:
    /// which options each fragment copies is not worth the rare case).
    pub(super) fn send_fragments(
        &mut self,
        mut pkt: P,
        dst: Ipv4Addr,
        mtu: usize,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let (total, base, more) = {
            let ip = Ipv4Packet::new_unchecked(&pkt.data()[ETH_LEN..]);
            if ip.header_len() != 20 || mtu < 28 {
                return self.drop_pkt(DropReason::TooBig, pkt);
            }
            (ip.total_len() as usize, ip.frag_offset() as usize, ip.more_frags())
        };
        let chunk = (mtu - 20) & !7;
        let data = total - 20;
        // The others are built first (the first is cut from the packet), then the first is
        // sent before them, as a host would.
        let mut rest = std::mem::take(&mut self.frag.scratch);
        let mut off = chunk;
        while off < data {
            let n = chunk.min(data - off);
            let Some(mut f) = alloc.alloc(ETH_LEN + 20 + n) else {
                // The datagram cannot be whole at the other end: send none of it.
                rest.clear();
                self.frag.scratch = rest;
                return self.drop_pkt(DropReason::NoMbuf, pkt);
            };
            {
                let d = f.data_mut();
                d[..ETH_LEN + 20].copy_from_slice(&pkt.data()[..ETH_LEN + 20]);
                d[ETH_LEN + 20..].copy_from_slice(&pkt.data()[ETH_LEN + 20 + off..ETH_LEN + 20 + off + n]);
                let mut ip = Ipv4Packet::new_unchecked(&mut d[ETH_LEN..]);
                ip.set_total_len((20 + n) as u16);
                ip.set_frag_offset((base + off) as u16);
                ip.set_more_frags(off + n < data || more);
                ip.fill_checksum();
            }
            rest.push(f);
            off += n;
        }
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut pkt.data_mut()[ETH_LEN..]);
            ip.set_total_len((20 + chunk) as u16);
            ip.set_more_frags(true);
            ip.fill_checksum();
        }
        pkt.set_len(ETH_LEN + 20 + chunk);
        self.counters.event(Event::Fragmented);
        self.route_out(pkt, dst, None, now, alloc, out);
        for f in rest.drain(..) {
            self.route_out(f, dst, None, now, alloc, out);
        }
        self.frag.scratch = rest;
    }
}
