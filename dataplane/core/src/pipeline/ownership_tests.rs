//! VIP/LIP ownership in the pipeline: a backup does not answer ARP or ping for released
//! addresses and takes no new connection to them, but forwards its sessions; taking
//! addresses over sends gratuitous ARPs.

use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::service::Ownership;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::tcp::TcpFlags;

fn set_owned(h: &mut Harness, owned: bool) {
    let snap = registry().snapshot().with_ownership(Ownership::all(owned));
    h.p.set_snapshot(Arc::new(snap));
}

fn arp_request(from_mac: MacAddr, from: &str, target: &str) -> Vec<u8> {
    let mut req = vec![0u8; 60];
    crate::wire::arp::build_request(&mut req, from_mac, ip(from), ip(target)).unwrap();
    req
}

#[test]
fn released_addresses_get_no_arp_answer_but_own_port_addresses_do() {
    let mut h = Harness::new(0, 1);
    set_owned(&mut h, false);
    h.rx(CLIENT_PORT, arp_request(CLIENT_MAC, "198.18.0.10", "198.18.0.100"));
    assert!(h.take_tx(CLIENT_PORT).is_empty(), "the VIP is the master's");
    h.rx(SERVER_PORT, arp_request(RS_MAC[0], "198.19.0.11", "198.19.0.200"));
    assert!(h.take_tx(SERVER_PORT).is_empty(), "the LIP is the master's");
    h.rx(CLIENT_PORT, arp_request(CLIENT_MAC, "198.18.0.10", "198.18.0.1"));
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "the port's own address is always ours");

    set_owned(&mut h, true);
    h.rx(CLIENT_PORT, arp_request(CLIENT_MAC, "198.18.0.10", "198.18.0.100"));
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1);
}

#[test]
fn a_backup_forwards_its_sessions_and_refuses_new_ones() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    h.rx(CLIENT_PORT, client_syn(40000));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1);

    set_owned(&mut h, false);
    let ack = tcp_frame(
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        40000,
        ip("198.18.0.100"),
        80,
        TcpFlags::ACK,
        b"more",
    );
    h.rx(CLIENT_PORT, ack);
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "an existing session is still forwarded");

    h.rx(CLIENT_PORT, client_syn(40001));
    assert!(h.take_tx(SERVER_PORT).is_empty());
    assert_eq!(h.drops(DropReason::NotOwner), 1);

    let mut ping = vec![0u8; ETH_LEN + 28];
    crate::testkit::eth_ip(
        &mut ping,
        CLIENT_MAC,
        LB_C_MAC,
        ip("198.18.0.10"),
        ip("198.18.0.100"),
        IpProtocol::ICMP,
    );
    let mut icmp = crate::wire::icmp::Icmpv4Packet::new_unchecked(&mut ping[ETH_LEN + 20..]);
    icmp.set_msg_type(crate::wire::icmp::ECHO_REQUEST);
    icmp.fill_checksum();
    h.rx(CLIENT_PORT, ping.clone());
    assert!(h.take_tx(CLIENT_PORT).is_empty(), "no echo reply for a released VIP");
    assert_eq!(h.drops(DropReason::NotOwner), 2);

    set_owned(&mut h, true);
    h.rx(CLIENT_PORT, ping);
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1);
    h.rx(CLIENT_PORT, client_syn(40001));
    assert_eq!(h.take_tx(SERVER_PORT).len(), 1, "taken over: new connections again");
}

#[test]
fn announce_sends_spaced_gratuitous_arps_out_of_the_subnets_ports() {
    let mut h = Harness::new(0, 1);
    let vip = ip("198.18.0.100");
    let lip = ip("198.19.0.200");
    let elsewhere = ip("198.18.7.1");
    assert_eq!(h.p.announce(&[vip, lip, elsewhere], h.now), 2, "no port holds 198.18.7.1");
    let mut per_port = [0usize; 2];
    let mut t = h.now;
    for _ in 0..60 {
        h.p.poll(t, &mut VecAlloc, &mut h.out);
        for port in [CLIENT_PORT, SERVER_PORT] {
            for f in h.take_tx(port) {
                let eth = EthernetFrame::new_checked(&f[..]).unwrap();
                assert!(eth.dst_addr().is_broadcast());
                let a = ArpPacket::new_checked(eth.payload()).unwrap();
                assert_eq!(a.operation(), ArpOperation::REQUEST);
                assert_eq!(a.sender_ip(), a.target_ip(), "gratuitous: from the address, for it");
                let want = if port == CLIENT_PORT { (vip, LB_C_MAC) } else { (lip, LB_S_MAC) };
                assert_eq!((a.sender_ip(), a.sender_hw()), want);
                per_port[port as usize] += 1;
            }
        }
        t = t + std::time::Duration::from_millis(100);
    }
    assert_eq!(per_port, [arp::GARP_SCHEDULE_MS.len(); 2]);
}

#[test]
fn gratuitous_arps_stop_when_the_address_is_released_again() {
    let mut h = Harness::new(0, 1);
    h.p.announce(&[ip("198.18.0.100")], h.now);
    h.p.poll(h.now, &mut VecAlloc, &mut h.out);
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1);
    set_owned(&mut h, false);
    h.p.poll(h.now + std::time::Duration::from_secs(10), &mut VecAlloc, &mut h.out);
    assert!(h.take_tx(CLIENT_PORT).is_empty());
}
