//! ICMP echo through the pipeline: a ping to the VIP is answered from the VIP.

use super::tests::*;
use super::*;
use crate::wire::icmp::Icmpv4Packet;

#[test]
fn icmp_echo_to_vip_is_answered() {
    let mut h = Harness::new(0, 1);
    let mut f = vec![0u8; ETH_LEN + 20 + 8 + 4];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(LB_C_MAC);
        eth.set_src_addr(CLIENT_MAC);
        eth.set_ethertype(EtherType::IPV4);
    }
    {
        let mut ipp = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        ipp.set_version(4);
        ipp.set_header_len(20);
        ipp.set_total_len(32);
        ipp.set_ttl(64);
        ipp.set_protocol(IpProtocol::ICMP);
        ipp.set_src_addr(ip("198.18.0.10"));
        ipp.set_dst_addr(ip("198.18.0.100"));
        ipp.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(ipp.payload_mut());
        icmp.set_msg_type(8);
        icmp.set_echo_ident(7);
        icmp.set_echo_seq_no(1);
        icmp.fill_checksum();
    }
    h.rx(CLIENT_PORT, f);
    let tx = h.take_tx(CLIENT_PORT);
    assert_eq!(tx.len(), 1);
    let eth = EthernetFrame::new_checked(&tx[0][..]).unwrap();
    assert_eq!(eth.dst_addr(), CLIENT_MAC);
    let ipp = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ipp.verify_checksum());
    assert_eq!((ipp.src_addr(), ipp.dst_addr()), (ip("198.18.0.100"), ip("198.18.0.10")));
    let icmp = Icmpv4Packet::new_checked(ipp.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.echo_ident()), (0, 7));
    assert!(icmp.verify_checksum());
}
