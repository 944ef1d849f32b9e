//! Every wire view (802.1Q tags included), the pcap reader, the PROXY header parser and
//! the segment split on arbitrary bytes: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rvs_core::wire::{arp::ArpPacket, ethernet::EthernetFrame, icmp::Icmpv4Packet, ipv4::Ipv4Packet};
use rvs_core::wire::{tcp::TcpPacket, udp::UdpPacket};

fuzz_target!(|data: &[u8]| {
    if let Ok(eth) = EthernetFrame::new_checked(data) {
        let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype());
        let _ = ArpPacket::new_checked(eth.payload()).map(|a| (a.operation(), a.sender_ip(), a.target_ip()));
    }
    if let Ok(ip) = Ipv4Packet::new_checked(data) {
        let _ = (ip.verify_checksum(), ip.src_addr(), ip.dst_addr(), ip.is_fragment());
        if let Ok(t) = TcpPacket::new_checked(ip.payload()) {
            let _ = t.verify_checksum(ip.src_addr(), ip.dst_addr());
            for o in t.iter_options() {
                let _ = o;
            }
        }
        let _ = UdpPacket::new_checked(ip.payload()).map(|u| u.verify_checksum(ip.src_addr(), ip.dst_addr()));
        let _ = Icmpv4Packet::new_checked(ip.payload()).map(|i| i.verify_checksum());
    }
    if let Ok(h) = rvs_core::wire::vlan::L2Header::parse(data) {
        assert!(h.header_len() <= data.len());
    }
    if let Ok(t) = rvs_core::wire::vlan::VlanRepr::parse(data) {
        let mut b = data.to_vec();
        t.emit(&mut b);
        assert_eq!(rvs_core::wire::vlan::VlanRepr::parse(&b), Ok(t));
    }
    let _ = rvs_core::pcap::read_all(data);
    let _ = rvs_core::proxyproto::parse(data);
    // Splitting a segment (what the pipeline does to one the session outgrows): at any
    // point, into a tail of any room; the first byte picks both.
    if let Some((&k, rest)) = data.split_first() {
        let mut head = rest.to_vec();
        let mut tail = vec![0u8; usize::from(k) * 8];
        let _ = rvs_core::toa::split::split_segment(&mut head, usize::from(k) * 6, &mut tail);
    }
});
