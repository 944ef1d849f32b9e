//! ICMP echo for our addresses and VIPs/LIPs (ping the VIP: the first thing an
//! operator tries).

use super::{Destination, Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::route::PortIndex;
use crate::stats::DropReason;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmp::{Icmpv4Packet, ECHO_REPLY, ECHO_REQUEST};
use crate::wire::ipv4::Ipv4Packet;

/// TTL of the packets we originate.
const DEFAULT_TTL: u8 = 64;

impl<P: Frame> Pipeline<P> {
    /// Answers an echo request in place, back out of the port it came in on.
    /// Errors about packets of our sessions are translated and passed on
    /// (`icmp_error.rs`); errors to the host's own addresses are the kernel's.
    pub(super) fn handle_icmp(
        &mut self,
        port: PortIndex,
        mut pkt: P,
        now: crate::time::Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = pkt.data_mut();
        let (eth_hdr, rest) = data.split_at_mut(ETH_LEN);
        let mut ip = Ipv4Packet::new_unchecked(rest);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let Ok(mut icmp) = Icmpv4Packet::new_checked(ip.payload_mut()) else {
            return self.drop_pkt(DropReason::BadL4Header, pkt);
        };
        if !icmp.verify_checksum() {
            return self.drop_pkt(DropReason::BadL4Checksum, pkt);
        }
        let kind = self.addrs.get(dst);
        if super::icmp_error::is_error(icmp.msg_type()) {
            return match kind {
                Destination::Vip | Destination::Lip => self.handle_icmp_error(port, pkt, now, alloc, out),
                Destination::Former => self.handle_nat_icmp_error(port, pkt, now, alloc, out),
                _ => self.to_kernel(port, DropReason::IcmpIgnored, pkt, out),
            };
        }
        if kind == Destination::Former {
            // Not ours (we got here because NAT real servers exist): maybe the kernel's.
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if icmp.msg_type() != ECHO_REQUEST {
            return self.drop_pkt(DropReason::IcmpIgnored, pkt);
        }
        if !self.snapshot.owns(dst) && !self.ifaces.iter().any(|p| p.addrs.iter().any(|&(a, _)| a == dst)) {
            // A released VIP/LIP: the master answers.
            return self.drop_pkt(DropReason::NotOwner, pkt);
        }
        icmp.set_msg_type(ECHO_REPLY);
        icmp.set_code(0);
        icmp.fill_checksum();
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(DEFAULT_TTL);
        ip.fill_checksum();
        let mut eth = EthernetFrame::new_unchecked(eth_hdr);
        let peer = eth.src_addr();
        eth.set_dst_addr(peer);
        eth.set_src_addr(self.ifaces[port as usize].mac);
        self.xmit(port, pkt, out);
    }
}
