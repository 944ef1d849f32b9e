//! Stage one of the packet path: what a frame is and whom it is for.
//!
//! Ethernet, IPv4 and TCP/UDP headers are checked; the destination address is looked up
//! once in the table of our addresses (the ports' own, VIPs, LIPs); the frame then goes to
//! the client side (VIP), the server side (LIP), a former address's sessions, ARP, ICMP,
//! or the kernel.

use super::*;

impl<P: Frame> Pipeline<P> {
    /// Handles one received frame from `port`.
    pub fn handle(
        &mut self,
        port: PortIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = pkt.data();
        let Ok(eth) = EthernetFrame::new_checked(data) else {
            return self.drop_pkt(DropReason::Truncated, pkt);
        };
        let dst = eth.dst_addr();
        if dst != self.ports[port as usize].mac && !dst.is_broadcast() {
            // Multicast (OSPF, VRRP, IPv6 ND) is the kernel's; unicast to another MAC is
            // nobody's.
            if dst.is_multicast() {
                return self.to_kernel(port, DropReason::NotForUs, pkt, out);
            }
            return self.drop_pkt(DropReason::NotForUs, pkt);
        }
        // 802.1Q tags will be stripped here (or by the NIC) when VLANs arrive.
        match eth.ethertype() {
            EtherType::IPV4 => self.handle_ipv4(port, pkt, now, alloc, out),
            EtherType::ARP => self.handle_arp(port, pkt, now, alloc, out),
            _ => self.to_kernel(port, DropReason::UnknownEthertype, pkt, out),
        }
    }

    pub(super) fn handle_ipv4(
        &mut self,
        port: PortIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = &pkt.data()[ETH_LEN..];
        let Ok(ip) = Ipv4Packet::new_checked(data) else {
            // Too short for any IPv4 header is truncation; anything else is a bad header.
            let reason = if data.len() < 20 { DropReason::Truncated } else { DropReason::BadIpHeader };
            return self.drop_pkt(reason, pkt);
        };
        let ip_ok = match pkt.ip_checksum_ok() {
            Some(ok) => ok,
            None => ip.verify_checksum(),
        };
        if !ip_ok {
            return self.drop_pkt(DropReason::BadIpChecksum, pkt);
        }
        if ip.is_fragment() {
            return self.drop_pkt(DropReason::Fragment, pkt);
        }
        let dst = ip.dst_addr();
        let kind = if self.own.contains_key(&dst) { None } else { Some(self.snapshot.local_kind(dst)) };
        let kind = match kind {
            None => Destination::Own,
            Some(Some(LocalKind::Vip)) => Destination::Vip,
            Some(Some(LocalKind::Lip)) => Destination::Lip,
            // Not (or no longer) configured: sessions of a removed service or local
            // address still flow until they expire.
            Some(None) => Destination::Former,
        };
        let proto = ip.protocol();
        if proto == IpProtocol::ICMP {
            if kind == Destination::Former {
                // Not ours: maybe the kernel's own address.
                return self.to_kernel(port, DropReason::NotLocal, pkt, out);
            }
            return self.handle_icmp(port, pkt, out);
        }
        if proto != IpProtocol::TCP && proto != IpProtocol::UDP {
            // OSPF, VRRP, GRE...: the kernel's business.
            return self.to_kernel(port, DropReason::UnsupportedProtocol, pkt, out);
        }
        if kind == Destination::Former && self.sessions.is_empty() {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if kind == Destination::Own {
            // ssh, BGP and friends to our own addresses: the host's.
            return self.to_kernel(port, DropReason::ToHost, pkt, out);
        }
        let Some(mut info) = self.parse_l4(&pkt, &ip) else {
            return;
        };
        info.port = port;
        match kind {
            Destination::Vip => self.client_packet(pkt, info, now, alloc, out),
            Destination::Lip => self.server_packet(pkt, info, now, alloc, out),
            Destination::Former => {
                if let Some(id) = self.sessions.find_client(&info.key) {
                    self.forward(id, Direction::FromClient, pkt, info, now, alloc, out)
                } else if let Some(id) = self.sessions.find_reply(&info.key) {
                    self.forward(id, Direction::FromServer, pkt, info, now, alloc, out)
                } else {
                    self.to_kernel(port, DropReason::NotLocal, pkt, out)
                }
            }
            Destination::Own => self.drop_pkt(DropReason::ToHost, pkt),
        }
    }

    /// Validates the TCP/UDP header and checksum; counts and returns None when bad.
    pub(super) fn parse_l4(&self, pkt: &P, ip: &Ipv4Packet<&[u8]>) -> Option<L4Info> {
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let verify = pkt.l4_checksum_ok();
        let (sport, dport, flags, proto, csum_ok) = if ip.protocol() == IpProtocol::TCP {
            let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            let ok = verify.unwrap_or_else(|| tcp.verify_checksum(src, dst));
            (tcp.src_port(), tcp.dst_port(), tcp.flags().bits(), PROTO_TCP, ok)
        } else {
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            let ok = verify.unwrap_or_else(|| udp.verify_checksum(src, dst));
            (udp.src_port(), udp.dst_port(), 0, PROTO_UDP, ok)
        };
        if !csum_ok {
            self.counters.count_drop(DropReason::BadL4Checksum);
            return None;
        }
        Some(L4Info {
            port: 0,
            key: FlowKey { src, dst, sport, dport, proto },
            tcp_flags: flags,
            ttl: ip.ttl(),
            ip_len: ip.total_len() as usize,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Destination {
    Own,
    Vip,
    Lip,
    /// None of ours now; maybe a VIP or LIP that was removed while sessions live.
    Former,
}
