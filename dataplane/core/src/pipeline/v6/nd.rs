//! ICMPv6 for our own addresses: echo, Neighbor Solicitation and Advertisement (RFC 4861)
//! as a host answers them, and our own solicitations for next hops.

use std::net::Ipv6Addr;

use super::{Dest6, Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmpv6::{self, Icmpv6Error, Icmpv6Packet, Icmpv6Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr, NH_ICMPV6};
use crate::wire::{EtherType, MacAddr, WireError};

/// Hop limit of the packets we originate (other than Neighbor Discovery's 255).
pub(crate) const DEFAULT_HOP_LIMIT: u8 = 64;
/// Neighbor Discovery travels with hop limit 255 so that receivers can tell it was not routed.
const ND_HOP_LIMIT: u8 = 255;
/// An NS or NA with a link-layer address option: Ethernet, IPv6, 24 + 8 bytes of ICMPv6.
pub(super) const ND_FRAME_LEN: usize = ETH_LEN + ipv6::HEADER_LEN + icmpv6::ND_LEN + 8;

impl<P: Frame> Pipeline<P> {
    /// An ICMPv6 message to one of our addresses (or a solicitation to a solicited-node
    /// group), its header `off` bytes into the IPv6 payload.
    pub(super) fn handle_icmpv6(
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
        let (start, end) = (ETH_LEN + ipv6::HEADER_LEN + off, ETH_LEN + ip.total_len());
        let eth_src = EthernetFrame::new_unchecked(pkt.data()).src_addr();
        let msg = &pkt.data()[start..end];
        let Ok(p) = Icmpv6Packet::new_checked(msg) else {
            return self.drop_pkt(DropReason::Icmpv6Invalid, pkt);
        };
        let is_nd = matches!(
            p.msg_type(),
            icmpv6::NEIGHBOR_SOLICIT | icmpv6::NEIGHBOR_ADVERT | icmpv6::ROUTER_ADVERT
        );
        let repr = match Icmpv6Repr::parse(&p, src, dst, hop_limit) {
            Ok(r) => r,
            Err(Icmpv6Error::Wire(WireError::Unsupported)) if !is_nd => {
                // Router solicitations, MLD, redirects...: the host's, if anyone's.
                return self.to_kernel(port, DropReason::IcmpIgnored, pkt, out);
            }
            Err(_) => return self.drop_pkt(DropReason::Icmpv6Invalid, pkt),
        };
        match repr {
            Icmpv6Repr::EchoRequest { .. } => {
                if matches!(self.v6.get(dst), Some(Dest6::Vip | Dest6::Lip)) && !self.snapshot.owns6(dst) {
                    // A released VIP/LIP: the master answers.
                    return self.drop_pkt(DropReason::NotOwner, pkt);
                }
                let len = end - start;
                self.echo_reply(port, pkt, start, len, src, dst, eth_src, out)
            }
            Icmpv6Repr::NeighborSolicit { target, source_lladdr } => {
                let ours = match self.v6.get(target) {
                    Some(Dest6::Own(p)) => p == port,
                    // A VIP or LIP inside this port's prefix (else routers announce it).
                    // A VIP or LIP we own (a backup leaves them to the master).
                    Some(Dest6::Vip | Dest6::Lip) => {
                        self.v6.routes.connected_port(target) == Some(port) && self.snapshot.owns6(target)
                    }
                    None => false,
                };
                if !ours {
                    // Another host's address (or the kernel's own): not ours to answer.
                    return self.to_kernel(port, DropReason::NotLocal, pkt, out);
                }
                if let (false, Some(mac)) = (src.is_unspecified(), source_lladdr) {
                    // RFC 4861 §7.2.3: the solicitation tells us the sender's address.
                    self.learn6(port, src, mac, now, true, out);
                }
                let to_mac = source_lladdr.unwrap_or(eth_src);
                self.send_na(port, pkt, target, src, to_mac, out)
            }
            Icmpv6Repr::NeighborAdvert { flags, target, target_lladdr } => {
                let mac = target_lladdr.unwrap_or(eth_src);
                // A solicited advertisement to one of our addresses answers a solicitation
                // of ours, maybe another worker's (the answer lands where the NIC hashes
                // it): learned and shared, as an ARP reply is. An unsolicited one updates
                // an entry we have and creates none (like Linux).
                let answer = flags & icmpv6::NA_SOLICITED != 0 && self.v6.get(dst).is_some();
                let known = self.v6.neigh.state(port, target).is_some();
                let on_link =
                    self.v6.routes.connected_port(target) == Some(port) || target.is_unicast_link_local();
                if (answer || known) && on_link && mac.is_unicast() {
                    self.learn6(port, target, mac, now, answer, out);
                }
                if self.exception_path {
                    self.to_kernel(port, DropReason::IcmpIgnored, pkt, out);
                }
            }
            Icmpv6Repr::DstUnreachable { .. }
            | Icmpv6Repr::PacketTooBig { .. }
            | Icmpv6Repr::TimeExceeded { .. }
                if matches!(self.v6.get(dst), Some(Dest6::Vip | Dest6::Lip)) =>
            {
                // About a packet one of our sessions sent (`icmp_error.rs`).
                self.handle_icmpv6_error(port, pkt, off, now, alloc, out)
            }
            // Router advertisements configure nothing here; errors about our own packets
            // and echo replies (the host's pings) are the kernel's.
            _ => self.to_kernel(port, DropReason::IcmpIgnored, pkt, out),
        }
    }

    /// Records `ip` at `mac` on `port` (creating the entry when `create`), releases what
    /// waited for it, and shares it with the other workers when it is new or moved.
    fn learn6(
        &mut self,
        port: IfIndex,
        ip: Ipv6Addr,
        mac: MacAddr,
        now: Time,
        create: bool,
        out: &mut Output<P>,
    ) {
        let had = self.v6.neigh.lookup(port, ip);
        let mut released = std::mem::take(&mut self.v6.released);
        if create {
            self.v6.neigh.learn(ip, mac.0, port, now, &mut released);
        } else {
            self.v6.neigh.refresh(ip, mac.0, port, now, &mut released);
        }
        if self.v6.neigh.lookup(port, ip).is_some() && had != Some(mac.0) {
            out.learned6.push((ip, mac.0, port));
        }
        self.flush_released(&mut released, mac.0, port, out);
        self.v6.released = released;
    }

    /// Turns the echo request in `pkt` (its message at `start`, `len` bytes) into the reply,
    /// in place, without the request's extension headers, back out of `port`.
    #[allow(clippy::too_many_arguments)]
    fn echo_reply(
        &mut self,
        port: IfIndex,
        mut pkt: P,
        start: usize,
        len: usize,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        peer: MacAddr,
        out: &mut Output<P>,
    ) {
        let at = ETH_LEN + ipv6::HEADER_LEN;
        if len > u16::MAX as usize {
            return self.drop_pkt(DropReason::Icmpv6Invalid, pkt);
        }
        pkt.data_mut().copy_within(start..start + len, at);
        if !pkt.set_len(at + len) {
            return self.drop_pkt(DropReason::NoMbuf, pkt);
        }
        let data = pkt.data_mut();
        Ipv6Repr {
            src: dst,
            dst: src,
            next_header: NH_ICMPV6,
            payload_len: len as u16,
            hop_limit: DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut data[ETH_LEN..]);
        let mut icmp = Icmpv6Packet::new_unchecked(&mut data[at..at + len]);
        icmp.set_msg_type(icmpv6::ECHO_REPLY);
        icmp.set_code(0);
        icmp.fill_checksum(dst, src);
        let mut eth = EthernetFrame::new_unchecked(data);
        eth.set_dst_addr(peer);
        eth.set_src_addr(self.ifaces[port as usize].mac);
        self.xmit(port, pkt, out);
    }

    /// Answers a solicitation for `target` from `to` (the unspecified address: duplicate
    /// address detection, answered to all nodes), reusing the solicitation's frame.
    fn send_na(
        &mut self,
        port: IfIndex,
        mut pkt: P,
        target: Ipv6Addr,
        to: Ipv6Addr,
        to_mac: MacAddr,
        out: &mut Output<P>,
    ) {
        if !pkt.set_len(ND_FRAME_LEN) {
            return self.drop_pkt(DropReason::NoMbuf, pkt);
        }
        let mac = self.ifaces[port as usize].mac;
        let (dst, dst_mac, flags) = if to.is_unspecified() {
            let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
            (all_nodes, ipv6::multicast_mac(all_nodes), icmpv6::NA_OVERRIDE)
        } else {
            (to, to_mac, icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE)
        };
        let na = Icmpv6Repr::NeighborAdvert { flags, target, target_lladdr: Some(mac) };
        emit_nd(pkt.data_mut(), mac, dst_mac, target, dst, &na);
        self.xmit(port, pkt, out);
    }

    /// Solicits `target`'s link-layer address on `port` (to its solicited-node group).
    pub(super) fn send_ns(
        &mut self,
        port: IfIndex,
        target: Ipv6Addr,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(src) = self.v6.source_for(port, target) else {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        };
        let Some(mut pkt) = alloc.alloc(ND_FRAME_LEN) else {
            self.counters.count_drop(DropReason::NoMbuf);
            return;
        };
        let mac = self.ifaces[port as usize].mac;
        let group = ipv6::solicited_node(target);
        let ns = Icmpv6Repr::NeighborSolicit { target, source_lladdr: Some(mac) };
        emit_nd(pkt.data_mut(), mac, ipv6::multicast_mac(group), src, group, &ns);
        self.xmit(port, pkt, out);
    }
}

/// Writes a whole Neighbor Discovery frame (`ND_FRAME_LEN` bytes) into `f`.
pub(super) fn emit_nd(
    f: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg: &Icmpv6Repr<'_>,
) {
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(dst_mac);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(EtherType::IPV6);
    let len = msg.buffer_len();
    Ipv6Repr {
        src,
        dst,
        next_header: NH_ICMPV6,
        payload_len: len as u16,
        hop_limit: ND_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut f[ETH_LEN..]);
    let at = ETH_LEN + ipv6::HEADER_LEN;
    msg.emit(&mut f[at..at + len], src, dst);
}
