//! ARP: answering for our addresses, learning neighbours, asking for next hops.

use std::net::Ipv4Addr;

use super::{Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::route::{IfIndex, PortIndex};
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::arp::{self, ArpOperation, ArpPacket, ARP_FRAME_LEN};

/// When the gratuitous ARPs for an address taken over go out, after `announce`. Several,
/// spaced, as keepalived sends them after becoming MASTER: a peer whose entry changed less
/// than a second ago (Linux's `locktime`) ignores one, a switch may drop one.
pub const GARP_SCHEDULE_MS: [u64; 5] = [0, 500, 1000, 2000, 5000];

/// One gratuitous ARP still to send.
#[derive(Debug, Clone, Copy)]
pub(super) struct Garp {
    due: Time,
    /// The interface (port, VLAN) whose connected subnet holds `ip`.
    iface: IfIndex,
    ip: Ipv4Addr,
}

impl<P: Frame> Pipeline<P> {
    /// A configured neighbour (`[[neighbour]]`): `addr` is at `mac` on interface `iface`
    /// for good: never asked for, never expired, never moved by ARP or NDP. False when the
    /// neighbour table is full, or for IPv6 when the pipeline has no IPv6.
    pub fn add_static_neighbour(
        &mut self,
        addr: std::net::IpAddr,
        mac: crate::neigh::Mac,
        iface: IfIndex,
    ) -> bool {
        match addr {
            std::net::IpAddr::V4(a) => self.neigh.add_permanent(a, mac, iface),
            std::net::IpAddr::V6(a) => self.add_static_neighbour6(a, mac, iface),
        }
    }

    /// This worker's neighbours, IPv4 then IPv6, in table order (`rvsadm --neigh`).
    pub fn neighbours(&self) -> Vec<crate::neigh::NeighEntry> {
        self.neigh.entries().chain(self.neighbours6()).collect()
    }

    /// Removes `addr`'s entries (learned or configured) on interface `iface`, or on every
    /// interface (`rvsadm --neigh del`, `ip neigh del`); packets that waited for one are
    /// dropped as unresolved. How many went. A learned neighbour is asked for again by the
    /// next packet that needs it; a session that cached one looks its next hop up again.
    pub fn del_neighbour(&mut self, addr: std::net::IpAddr, iface: Option<IfIndex>) -> usize {
        let ifaces: Vec<IfIndex> = match (iface, addr) {
            (Some(i), _) => vec![i],
            (None, std::net::IpAddr::V4(_)) => {
                self.neigh.entries().filter(|e| e.addr == addr).map(|e| e.iface).collect()
            }
            (None, std::net::IpAddr::V6(_)) => {
                self.neighbours6().filter(|e| e.addr == addr).map(|e| e.iface).collect()
            }
        };
        let mut dropped = Vec::new();
        let removed = ifaces
            .into_iter()
            .filter(|&i| match addr {
                std::net::IpAddr::V4(a) => self.neigh.remove(i, a, &mut dropped),
                std::net::IpAddr::V6(a) => self.del_neighbour6(a, i, &mut dropped),
            })
            .count();
        for pkt in dropped {
            self.drop_pkt(DropReason::NeighTimeout, pkt);
        }
        removed
    }

    /// Removes the entries of kind `states` on interface `iface`, or on every interface
    /// (`rvsadm --neigh flush`, `ip neigh flush`), as `del_neighbour` removes one. How many
    /// went.
    pub fn flush_neighbours(&mut self, iface: Option<IfIndex>, states: rvs_proto::FlushStates) -> usize {
        use crate::neigh::NeighState::Permanent;
        let chosen: Vec<_> = self
            .neighbours()
            .into_iter()
            .filter(|e| iface.is_none_or(|i| e.iface == i))
            .filter(|e| match states {
                rvs_proto::FlushStates::Learned => e.state != Permanent,
                rvs_proto::FlushStates::Permanent => e.state == Permanent,
                rvs_proto::FlushStates::All => true,
            })
            .collect();
        chosen.into_iter().map(|e| self.del_neighbour(e.addr, Some(e.iface))).sum()
    }

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

    /// Announces addresses this director has just taken over: gratuitous ARPs (a request
    /// for the address from the address, to the broadcast MAC) out of the interface (port,
    /// or VLAN, tagged) whose connected subnet holds each, on `GARP_SCHEDULE_MS`; `poll` sends them. An address
    /// in no connected subnet (announced by routing instead) gets none. Returns how many
    /// addresses will be announced. A second call replaces the schedule of the same
    /// addresses.
    pub fn announce(&mut self, addrs: &[Ipv4Addr], now: Time) -> usize {
        self.garps.retain(|g| !addrs.contains(&g.ip));
        let mut n = 0;
        for &ip in addrs {
            let Some(iface) = self.routes.connected_port(ip) else { continue };
            n += 1;
            for ms in GARP_SCHEDULE_MS {
                let due = now + std::time::Duration::from_millis(ms);
                self.garps.push(Garp { due, iface, ip });
            }
        }
        n
    }

    pub(super) fn send_due_garps(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        let mut i = 0;
        while i < self.garps.len() {
            let g = self.garps[i];
            if g.due > now {
                i += 1;
                continue;
            }
            self.garps.swap_remove(i);
            if !self.snapshot.owns(g.ip) {
                continue; // released again meanwhile
            }
            let Some(mut pkt) = alloc.alloc(ARP_FRAME_LEN) else {
                self.counters.count_drop(DropReason::NoMbuf);
                continue;
            };
            let Some(mac) = self.ifaces.get(g.iface as usize).map(|i| i.mac) else {
                self.drop_pkt(DropReason::NoRoute, pkt);
                continue;
            };
            match arp::build_request(pkt.data_mut(), mac, g.ip, g.ip) {
                Ok(_) => self.xmit(g.iface, pkt, out),
                Err(_) => self.counters.count_drop(DropReason::NoMbuf),
            }
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
