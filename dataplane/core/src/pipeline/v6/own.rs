//! Taking over IPv6 VIPs and LIPs: unsolicited Neighbor Advertisements (RFC 4861 §7.2.6,
//! override flag, to all nodes), IPv6's gratuitous ARP, so that clients and real servers
//! move their neighbour entries to this director at once instead of after their
//! reachability timers. Sent on the gratuitous ARPs' schedule, from `poll`. Ownership
//! itself is per address, as for IPv4 (`service::Ownership`).

use std::net::Ipv6Addr;

use super::nd::{emit_nd, ND_FRAME_LEN};
use super::{Dest6, Output, Pipeline};
use crate::frame::{Frame, FrameAlloc};
use crate::pipeline::arp::GARP_SCHEDULE_MS;
use crate::route::IfIndex;
use crate::stats::DropReason;
use crate::time::Time;
use crate::wire::icmpv6::{self, Icmpv6Repr};
use crate::wire::ipv6;

/// One unsolicited advertisement to send.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unsolicited {
    due: Time,
    port: IfIndex,
    ip: Ipv6Addr,
}

impl<P: Frame> Pipeline<P> {
    /// Announces IPv6 addresses this director has just taken over: unsolicited
    /// advertisements for each of `addrs` that is one of our VIPs/LIPs, owned, in a
    /// connected prefix (one announced by routing gets none), on the gratuitous ARPs'
    /// schedule, replacing any schedule already there. Returns how many will be announced.
    pub fn announce6(&mut self, addrs: &[Ipv6Addr], now: Time) -> usize {
        if !self.v6.enabled() {
            return 0;
        }
        self.v6.unsolicited.retain(|u| !addrs.contains(&u.ip));
        let mut n = 0;
        for &ip in addrs {
            let ours = matches!(self.v6.get(ip), Some(Dest6::Vip | Dest6::Lip)) && self.snapshot.owns6(ip);
            let Some(port) = self.v6.routes.connected_port(ip).filter(|_| ours) else { continue };
            n += 1;
            for ms in GARP_SCHEDULE_MS {
                let due = now + std::time::Duration::from_millis(ms);
                self.v6.unsolicited.push(Unsolicited { due, port, ip });
            }
        }
        n
    }

    /// Sends the advertisements that are due (those of addresses released meanwhile are
    /// dropped from the schedule).
    pub(super) fn send_due_nas(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        let mut i = 0;
        while i < self.v6.unsolicited.len() {
            let u = self.v6.unsolicited[i];
            if u.due > now {
                i += 1;
                continue;
            }
            self.v6.unsolicited.swap_remove(i);
            if !self.snapshot.owns6(u.ip) {
                continue;
            }
            let Some(mut pkt) = alloc.alloc(ND_FRAME_LEN) else {
                self.counters.count_drop(DropReason::NoMbuf);
                continue;
            };
            let Some(mac) = self.ifaces.get(u.port as usize).map(|i| i.mac) else {
                self.drop_pkt(DropReason::NoRoute, pkt);
                continue;
            };
            let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
            let na = Icmpv6Repr::NeighborAdvert {
                flags: icmpv6::NA_OVERRIDE,
                target: u.ip,
                target_lladdr: Some(mac),
            };
            emit_nd(pkt.data_mut(), mac, ipv6::multicast_mac(all_nodes), u.ip, all_nodes, &na);
            self.xmit(u.port, pkt, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::conn_tests::{a, l4_frame, registry6, CLIENT, LIP, SYN, VIP};
    use super::super::tests::v6_config;
    use crate::frame::VecAlloc;
    use crate::pipeline::tests::{config, CLIENT_MAC, CLIENT_PORT, LB_C_MAC, LB_S_MAC, SERVER_PORT};
    use crate::pipeline::{Output, Pipeline, PipelineConfig};
    use crate::stats::{DropReason, WorkerCounters};
    use crate::time::Time;
    use crate::wire::ethernet::EthernetFrame;
    use crate::wire::icmpv6::{self, Icmpv6Packet, Icmpv6Repr};
    use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr, NH_ICMPV6};
    use crate::wire::EtherType;

    fn ns(target: std::net::Ipv6Addr) -> Vec<u8> {
        let (src, group) = (a(CLIENT), ipv6::solicited_node(target));
        let msg = Icmpv6Repr::NeighborSolicit { target, source_lladdr: Some(CLIENT_MAC) };
        let mut f = vec![0u8; 14 + 40 + msg.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_src_addr(CLIENT_MAC);
        eth.set_dst_addr(ipv6::multicast_mac(group));
        eth.set_ethertype(EtherType::IPV6);
        Ipv6Repr {
            src,
            dst: group,
            next_header: NH_ICMPV6,
            payload_len: msg.buffer_len() as u16,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut f[14..]);
        msg.emit(&mut f[54..], src, group);
        f
    }

    /// A backup neither answers solicitations for the IPv6 VIP nor takes new connections
    /// to it; once it takes the VIP and LIP over it announces the VIP (client side) and the
    /// LIP (server side) with unsolicited advertisements, answers, and takes connections.
    #[test]
    fn a_backup_leaves_ipv6_addresses_to_the_master_until_it_takes_over() {
        let mut reg = registry6();
        reg.set_ownership(&[], false);
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let cfg = PipelineConfig { v6: v6_config(), ..config(0, 1) };
        let mut p = Pipeline::new(cfg, Arc::new(reg.snapshot()), counters, Time::ZERO);
        let mut out = Output::new(2, 1);
        let now = Time::from_secs(1);
        p.handle(CLIENT_PORT, ns(a(VIP)), now, &mut VecAlloc, &mut out);
        assert!(out.tx[CLIENT_PORT as usize].is_empty(), "no advertisement from a backup");
        let syn = l4_frame(CLIENT_MAC, LB_C_MAC, a(CLIENT), 40000, a(VIP), 80, 6, SYN, b"");
        p.handle(CLIENT_PORT, syn.clone(), now, &mut VecAlloc, &mut out);
        assert!(out.tx[SERVER_PORT as usize].is_empty());
        assert_eq!(p.counters().drop_count(DropReason::NotOwner), 1);

        // Taking the IPv4 addresses leaves the IPv6 ones to the master.
        reg.set_ownership(&["198.18.0.100".parse().unwrap()], true);
        p.set_snapshot(Arc::new(reg.snapshot()));
        p.handle(CLIENT_PORT, ns(a(VIP)), now, &mut VecAlloc, &mut out);
        assert!(out.tx[CLIENT_PORT as usize].is_empty());
        reg.set_ownership(&[a(VIP).into(), a(LIP).into()], true);
        p.set_snapshot(Arc::new(reg.snapshot()));
        let other = a("2001:db8:1::999");
        assert_eq!(p.announce6(&[a(VIP), a(LIP), other], now), 2, "the VIP and the LIP, not a stranger");
        p.poll(now, &mut VecAlloc, &mut out);
        for (port, target, mac) in [(CLIENT_PORT, a(VIP), LB_C_MAC), (SERVER_PORT, a(LIP), LB_S_MAC)] {
            let sent = std::mem::take(&mut out.tx[port as usize]);
            assert_eq!(sent.len(), 1, "the first of the schedule at once");
            let eth = EthernetFrame::new_checked(&sent[0][..]).unwrap();
            assert_eq!(eth.src_addr(), mac);
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
            assert!(icmp.verify_checksum(ip.src_addr(), ip.dst_addr()));
            let repr = Icmpv6Repr::parse(&icmp, ip.src_addr(), ip.dst_addr(), ip.hop_limit()).unwrap();
            assert_eq!(
                repr,
                Icmpv6Repr::NeighborAdvert { flags: icmpv6::NA_OVERRIDE, target, target_lladdr: Some(mac) }
            );
            assert_eq!((ip.dst_addr(), ip.hop_limit()), ("ff02::1".parse().unwrap(), 255));
        }
        // The rest of the schedule follows (0.5, 1, 2, 5 s).
        p.poll(now + std::time::Duration::from_secs(6), &mut VecAlloc, &mut out);
        assert_eq!(out.tx[CLIENT_PORT as usize].len(), 4);
        out.tx.iter_mut().for_each(Vec::clear);
        p.handle(CLIENT_PORT, ns(a(VIP)), now, &mut VecAlloc, &mut out);
        assert_eq!(out.tx[CLIENT_PORT as usize].len(), 1, "the master answers");
        p.handle(CLIENT_PORT, syn, now, &mut VecAlloc, &mut out);
        assert_eq!(out.tx[SERVER_PORT as usize].len(), 1, "and takes the connection");
    }
}
