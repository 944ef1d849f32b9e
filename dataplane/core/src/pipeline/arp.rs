//! ARP: answering for our addresses, learning neighbours, asking for next hops.

use std::net::Ipv4Addr;

use super::{Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::route::PortIndex;
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::arp::{self, ArpOperation, ArpPacket, ARP_FRAME_LEN};

impl<P: Frame> Pipeline<P> {
    pub(super) fn handle_arp(
        &mut self,
        port: PortIndex,
        mut pkt: P,
        now: Time,
        _alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Ok(a) = ArpPacket::new_checked(&pkt.data()[ETH_LEN..]) else {
            return self.drop_pkt(DropReason::ArpInvalid, pkt);
        };
        let (op, sender_ip, sender_mac, target_ip) =
            (a.operation(), a.sender_ip(), a.sender_hw(), a.target_ip());
        if sender_mac.is_multicast() {
            return self.drop_pkt(DropReason::ArpInvalid, pkt);
        }
        let for_us = self.answers_arp_for(target_ip, port);
        let mut released = std::mem::take(&mut self.released);
        let learnable = !sender_ip.is_unspecified() && self.routes.connected_port(sender_ip) == Some(port);
        if learnable {
            // Like Linux: create an entry when the ARP is for us, otherwise only refresh.
            let had = self.neigh.lookup(port, sender_ip);
            if for_us {
                self.neigh.learn(sender_ip, sender_mac.0, port, now, &mut released);
            } else {
                self.neigh.refresh(sender_ip, sender_mac.0, port, now, &mut released);
            }
            if self.neigh.lookup(port, sender_ip).is_some() && had != Some(sender_mac.0) {
                out.learned.push((sender_ip, sender_mac.0, port));
            }
            self.flush_released(&mut released, sender_mac.0, port, out);
        }
        self.released = released;

        if !for_us {
            // Another address's ARP (the kernel's own, or nobody's): the kernel answers or
            // learns from it through the exception path; the dataplane has learned above.
            if op == ArpOperation::REQUEST || self.exception_path {
                return self.to_kernel(port, DropReason::ArpIgnored, pkt, out);
            }
            return;
        }
        if op != ArpOperation::REQUEST {
            // A reply to our own request has done its work above.
            return;
        }
        let mac = self.ifaces[port as usize].mac;
        if pkt.data().len() < ARP_FRAME_LEN && !pkt.set_len(ARP_FRAME_LEN) {
            return self.drop_pkt(DropReason::ArpInvalid, pkt);
        }
        match arp::build_reply(pkt.data_mut(), mac, target_ip, sender_mac, sender_ip) {
            Ok(len) => {
                pkt.set_len(len);
                self.xmit(port, pkt, out);
            }
            Err(_) => self.drop_pkt(DropReason::ArpInvalid, pkt),
        }
    }

    /// Broadcasts "who has `ip`?" on `port`.
    pub(super) fn send_arp_request(
        &mut self,
        port: PortIndex,
        ip: Ipv4Addr,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(src_ip) = self.source_addr_for(port, ip) else {
            self.counters.count_drop(DropReason::NoRoute);
            return;
        };
        let Some(mut pkt) = alloc.alloc(ARP_FRAME_LEN) else {
            self.counters.count_drop(DropReason::NoMbuf);
            return;
        };
        let mac = self.ifaces[port as usize].mac;
        match arp::build_request(pkt.data_mut(), mac, src_ip, ip) {
            Ok(_) => self.xmit(port, pkt, out),
            Err(_) => self.counters.count_drop(DropReason::NoMbuf),
        }
    }
}
