//! The pipeline with 802.1Q VLANs on the server port: VLAN 10 (198.19.10.0/24, LIP pool
//! .10.200) and VLAN 20 (198.19.20.0/24, LIP pool .20.200), one real server on each, one
//! service over both; plus the golden pcap of a connection to each VLAN.

use super::golden::{at, run_case_with};
use super::tests::*;
use super::*;
use crate::frame::{push_vlan, VecAlloc};
use crate::route::{Prefix, Route};
use crate::service::Registry;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::tcp::TcpFlags;
use crate::wire::vlan::{VlanRepr, TPID_8021AD};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey, ServiceSpec};

const VIF10: IfIndex = 2;
const VIF20: IfIndex = 3;
const RS10: &str = "198.19.10.11";
const RS20: &str = "198.19.20.12";

fn vlan_pipeline(exception_path: bool) -> Pipeline<Vec<u8>> {
    let mut cfg = config(0, 1);
    cfg.ports[SERVER_PORT as usize].vlans = vec![
        VlanInfo { id: 10, addrs: vec![(ip("198.19.10.1"), 24)], lips: vec![ip("198.19.10.200")] },
        VlanInfo { id: 20, addrs: vec![(ip("198.19.20.1"), 24)], lips: vec![ip("198.19.20.200")] },
    ];
    for (net, iface) in [("198.19.10.0", VIF10), ("198.19.20.0", VIF20)] {
        cfg.routes.add(Route { prefix: Prefix::new(ip(net), 24).unwrap(), port: iface, gateway: None });
    }
    cfg.exception_path = exception_path;
    let mut r = Registry::new(16, 64);
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    // No local address of its own: the VLANs' pools serve it.
    r.add_service(ServiceSpec {
        options: Default::default(),
        key,
        scheduler: "rr".into(),
        local_addrs: vec![],
    })
    .unwrap();
    for rs in [RS10, RS20] {
        let real = RealSpec {
            thresholds: Default::default(),
            addr: format!("{rs}:80").parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            tunnel: None,
        };
        r.add_real(&key, real).unwrap();
    }
    let counters = Arc::new(WorkerCounters::new(16, 64).with_vlans(2));
    Pipeline::new(cfg, Arc::new(r.snapshot()), counters, Time::ZERO)
}

fn tagged(mut f: Vec<u8>, vid: u16) -> Vec<u8> {
    assert!(push_vlan(&mut f, vid));
    f
}

/// The VLAN id of a sent frame (None: untagged).
fn vid_of(f: &[u8]) -> Option<u16> {
    VlanRepr::parse(f).ok().map(|t| t.vid)
}

/// A sent frame without its tag.
fn untag(f: &[u8]) -> Vec<u8> {
    let mut v = f.to_vec();
    if vid_of(f).is_some() {
        assert!(crate::frame::pop_vlan(&mut v));
    }
    v
}

struct H {
    p: Pipeline<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Time,
}

impl H {
    fn new(exception: bool) -> H {
        let mut h = H { p: vlan_pipeline(exception), out: Output::new(2, 1), now: Time::from_secs(1) };
        // The client asks for the VIP: the pipeline learns the client's MAC.
        let mut req = vec![0u8; 60];
        crate::wire::arp::build_request(&mut req, CLIENT_MAC, ip("198.18.0.10"), ip("198.18.0.100")).unwrap();
        h.rx(CLIENT_PORT, req);
        h.tx(CLIENT_PORT);
        h
    }
    fn rx(&mut self, port: PortIndex, f: Vec<u8>) {
        self.p.handle(port, f, self.now, &mut VecAlloc, &mut self.out);
    }
    fn tx(&mut self, port: PortIndex) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port as usize])
    }
    fn vlan(&self, i: usize) -> (u64, u64, u64) {
        let c = &self.p.counters().vlans[i];
        (c.rx_packets.get(), c.tx_packets.get(), c.drops.get())
    }
}

/// A client SYN to the VIP; what leaves the server port, untagged, with its VLAN.
fn syn(h: &mut H, sport: u16) -> Vec<(Option<u16>, Vec<u8>)> {
    let f =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), sport, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, f);
    h.tx(SERVER_PORT).iter().map(|f| (vid_of(f), untag(f))).collect()
}

#[test]
fn each_vlan_gets_its_tag_its_arp_and_its_lip() {
    let mut h = H::new(false);
    for (sport, vid, rs, lip, gw, mac) in [
        (40001, 10, RS10, "198.19.10.200", "198.19.10.1", RS_MAC[0]),
        (40002, 20, RS20, "198.19.20.200", "198.19.20.1", RS_MAC[1]),
    ] {
        // The SYN waits for ARP: the request leaves tagged, from the VLAN's own address.
        let sent = syn(&mut h, sport);
        assert_eq!(sent.len(), 1, "one ARP request");
        assert_eq!(sent[0].0, Some(vid));
        let a = ArpPacket::new_checked(&sent[0].1[ETH_LEN..]).unwrap();
        assert_eq!((a.operation(), a.sender_ip(), a.target_ip()), (ArpOperation::REQUEST, ip(gw), ip(rs)));
        // The answer comes back tagged; the SYN follows, tagged, from the VLAN's LIP.
        h.rx(SERVER_PORT, tagged(arp_reply_frame(mac, ip(rs), LB_S_MAC, ip(gw)), vid));
        let sent = h.tx(SERVER_PORT);
        assert_eq!(sent.len(), 1);
        assert_eq!(vid_of(&sent[0]), Some(vid));
        let (src_mac, dst_mac, src, _, dst, dport) = endpoints(&untag(&sent[0]));
        assert_eq!((src_mac, dst_mac, src, dst, dport), (LB_S_MAC, mac, ip(lip), ip(rs), 80));
    }
    // The server's SYN/ACK, tagged on its VLAN, reaches the client untagged.
    let sent = syn(&mut h, 40003);
    assert_eq!(sent[0].0, Some(10), "rr: back to VLAN 10, neighbour known");
    let lport = endpoints(&sent[0].1).3;
    let synack =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip(RS10), 80, ip("198.19.10.200"), lport, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, tagged(synack, 10));
    let c = h.tx(CLIENT_PORT);
    assert_eq!(c.len(), 1);
    assert_eq!(vid_of(&c[0]), None);
    assert_eq!(endpoints(&c[0]).2, ip("198.18.0.100"));
    // Counted per VLAN: rx ARP reply + SYN/ACK on 10, ARP reply on 20; tx ARP + 2 SYNs on 10.
    assert_eq!(h.vlan(0), (2, 3, 0));
    assert_eq!(h.vlan(1), (1, 2, 0));
}

#[test]
fn unknown_vlan_and_qinq_are_dropped_and_counted() {
    let mut h = H::new(true);
    let f = tcp_frame(RS_MAC[0], LB_S_MAC, ip(RS10), 80, ip("198.19.10.200"), 1025, TcpFlags::ACK, b"");
    h.rx(SERVER_PORT, tagged(f.clone(), 99));
    h.rx(CLIENT_PORT, tagged(f.clone(), 10)); // the client port has no VLAN 10
    let mut ad = tagged(tagged(f.clone(), 10), 100);
    ad[12..14].copy_from_slice(&TPID_8021AD.to_be_bytes());
    h.rx(SERVER_PORT, ad);
    h.rx(SERVER_PORT, tagged(tagged(f, 10), 20));
    let c = h.p.counters();
    assert_eq!(c.drop_count(DropReason::UnknownVlan), 2);
    assert_eq!(c.drop_count(DropReason::VlanQinQ), 2);
    assert!(h.tx(SERVER_PORT).is_empty() && h.tx(CLIENT_PORT).is_empty() && h.out.kernel.is_empty());
    assert_eq!((h.vlan(0), h.vlan(1)), ((0, 0, 0), (0, 0, 0)), "not counted on a known VLAN");
}

#[test]
fn arp_is_answered_on_the_right_vlan_only() {
    let mut h = H::new(false);
    let req = |target: &str| {
        let mut b = vec![0u8; 60];
        crate::wire::arp::build_request(&mut b, RS_MAC[1], ip("198.19.20.12"), ip(target)).unwrap();
        b
    };
    // VLAN 20's LIP and own address, asked on VLAN 20: answered, tagged 20.
    for target in ["198.19.20.200", "198.19.20.1"] {
        h.rx(SERVER_PORT, tagged(req(target), 20));
        let sent = h.tx(SERVER_PORT);
        assert_eq!(sent.len(), 1, "{target}");
        assert_eq!(vid_of(&sent[0]), Some(20));
        let a = ArpPacket::new_checked(&untag(&sent[0])[ETH_LEN..]).unwrap().sender_ip();
        assert_eq!(a, ip(target));
    }
    // VLAN 10's LIP or the untagged port's address asked on VLAN 20, or VLAN 20's LIP
    // untagged: not ours there.
    h.rx(SERVER_PORT, tagged(req("198.19.10.200"), 20));
    h.rx(SERVER_PORT, tagged(req("198.19.0.1"), 20));
    h.rx(SERVER_PORT, req("198.19.20.200"));
    assert!(h.tx(SERVER_PORT).is_empty());
    assert_eq!(h.p.counters().drop_count(DropReason::ArpIgnored), 3);
    assert_eq!(h.vlan(1), (4, 2, 2), "the VLAN's drops: the two ignored requests");
}

#[test]
fn exception_frames_go_to_their_vlans_kernel_interface_untagged() {
    let mut h = H::new(true);
    // OSPF on VLAN 20, ssh to VLAN 10's own address, a broadcast ARP for a kernel
    // address on VLAN 10, and ssh to the port's untagged address.
    let mut ospf = tcp_frame(RS_MAC[1], LB_S_MAC, ip(RS20), 1, ip("198.19.20.1"), 2, TcpFlags::ACK, b"");
    ospf[ETH_LEN + 9] = 89;
    crate::wire::ipv4::Ipv4Packet::new_unchecked(&mut ospf[ETH_LEN..]).fill_checksum();
    let ssh10 = tcp_frame(RS_MAC[0], LB_S_MAC, ip(RS10), 50000, ip("198.19.10.1"), 22, TcpFlags::SYN, b"");
    let mut arp = vec![0u8; 60];
    crate::wire::arp::build_request(&mut arp, RS_MAC[0], ip(RS10), ip("198.19.10.2")).unwrap();
    let ssh0 =
        tcp_frame(RS_MAC[0], LB_S_MAC, ip("198.19.0.11"), 50000, ip("198.19.0.1"), 22, TcpFlags::SYN, b"");
    h.rx(SERVER_PORT, tagged(ospf.clone(), 20));
    h.rx(SERVER_PORT, tagged(ssh10.clone(), 10));
    h.rx(SERVER_PORT, tagged(arp.clone(), 10));
    h.rx(SERVER_PORT, ssh0.clone());
    let k: Vec<(IfIndex, Vec<u8>)> = std::mem::take(&mut h.out.kernel);
    assert_eq!(k, vec![(VIF20, ospf), (VIF10, ssh10), (VIF10, arp), (SERVER_PORT, ssh0)]);
    assert!(h.tx(SERVER_PORT).is_empty());
}

/// Tagged frames in and out: a TCP connection to the real server on VLAN 10 and one to
/// the real server on VLAN 20, ARP on each VLAN, and a frame of an unknown VLAN (dropped).
#[test]
fn golden_vlan_fullnat_tcp() {
    run_case_with(
        "vlan_fullnat_tcp",
        || vlan_pipeline(false),
        || {
            let (c, v) = (ip("198.18.0.10"), ip("198.18.0.100"));
            let mut frames = Vec::new();
            let mut t = 0;
            let mut next = |f: Vec<u8>, frames: &mut Vec<(std::time::Duration, Vec<u8>)>| {
                frames.push((at(t), f));
                t += 1;
            };
            // The client is on its port's subnet: answer the pipeline's ARP up front.
            let mut creq = vec![0u8; 60];
            crate::wire::arp::build_request(&mut creq, CLIENT_MAC, c, v).unwrap();
            next(creq, &mut frames);
            for (sport, vid, rs, lip, gw, mac) in [
                (43210, 10, RS10, "198.19.10.200", "198.19.10.1", RS_MAC[0]),
                (43211, 20, RS20, "198.19.20.200", "198.19.20.1", RS_MAC[1]),
            ] {
                let (rs, lip) = (ip(rs), ip(lip));
                // Worker 0 of 1 takes each LIP's port 1025 first.
                let lport = 1025;
                next(tcp_frame(CLIENT_MAC, LB_C_MAC, c, sport, v, 80, TcpFlags::SYN, b""), &mut frames);
                next(tagged(arp_reply_frame(mac, rs, LB_S_MAC, ip(gw)), vid), &mut frames);
                next(
                    tagged(tcp_frame(mac, LB_S_MAC, rs, 80, lip, lport, TcpFlags(0x12), b""), vid),
                    &mut frames,
                );
                next(
                    tcp_frame(
                        CLIENT_MAC,
                        LB_C_MAC,
                        c,
                        sport,
                        v,
                        80,
                        TcpFlags::ACK,
                        b"GET / HTTP/1.0\r\n\r\n",
                    ),
                    &mut frames,
                );
                next(
                    tagged(
                        tcp_frame(
                            mac,
                            LB_S_MAC,
                            rs,
                            80,
                            lip,
                            lport,
                            TcpFlags(0x18),
                            b"HTTP/1.0 200 OK\r\n\r\n",
                        ),
                        vid,
                    ),
                    &mut frames,
                );
            }
            // VLAN 99 is not configured: nothing comes out.
            next(
                tagged(
                    tcp_frame(
                        RS_MAC[0],
                        LB_S_MAC,
                        ip(RS10),
                        80,
                        ip("198.19.10.200"),
                        1025,
                        TcpFlags::ACK,
                        b"",
                    ),
                    99,
                ),
                &mut frames,
            );
            frames
        },
    );
}

/// A burst path's VLAN frames lose their tag in stage 1 and may take the fast path: a
/// connection through VLAN 10 (data both ways, FIN), ARP on a VLAN, a priority-tagged
/// frame, an unknown VLAN and a QinQ frame, each sent through `handle_burst` one frame at
/// a time, end exactly as through `handle`: the same frames out (tags included), the same
/// VLAN counters (received, sent, drops) and drop reasons.
#[test]
fn vlan_frames_in_bursts_end_as_through_handle() {
    let run = |burst: bool| {
        let mut h = H::new(false);
        let send = |h: &mut H, port: PortIndex, f: Vec<u8>| {
            if burst {
                h.p.handle_burst(port, &mut vec![f], h.now, &mut VecAlloc, &mut h.out);
            } else {
                h.rx(port, f);
            }
            (h.tx(CLIENT_PORT), h.tx(SERVER_PORT))
        };
        let mut seen = Vec::new();
        let (c, v) = (ip("198.18.0.10"), ip("198.18.0.100"));
        let from_client = |flags, data: &[u8]| tcp_frame(CLIENT_MAC, LB_C_MAC, c, 40001, v, 80, flags, data);
        seen.push(send(&mut h, CLIENT_PORT, from_client(TcpFlags::SYN, b"")));
        seen.push(send(
            &mut h,
            SERVER_PORT,
            tagged(arp_reply_frame(RS_MAC[0], ip(RS10), LB_S_MAC, ip("198.19.10.1")), 10),
        ));
        let lport = endpoints(&untag(&seen[1].1[0])).3;
        let from_rs = |flags, data: &[u8]| {
            tagged(tcp_frame(RS_MAC[0], LB_S_MAC, ip(RS10), 80, ip("198.19.10.200"), lport, flags, data), 10)
        };
        seen.push(send(&mut h, SERVER_PORT, from_rs(TcpFlags(0x12), b"")));
        seen.push(send(&mut h, CLIENT_PORT, from_client(TcpFlags::ACK, b"")));
        for _ in 0..3 {
            seen.push(send(&mut h, CLIENT_PORT, from_client(TcpFlags(0x18), b"GET / HTTP/1.0\r\n\r\n")));
            seen.push(send(&mut h, SERVER_PORT, from_rs(TcpFlags(0x18), b"HTTP/1.0 200 OK\r\n\r\n")));
        }
        seen.push(send(&mut h, SERVER_PORT, from_rs(TcpFlags(0x11), b"")));
        // A priority tag (VLAN 0) is the port's own: the reply on the untagged LIP finds nothing.
        let untagged_lip =
            tcp_frame(RS_MAC[0], LB_S_MAC, ip(RS10), 80, ip("198.19.10.200"), lport, TcpFlags::ACK, b"");
        seen.push(send(&mut h, SERVER_PORT, tagged(untagged_lip.clone(), 0)));
        seen.push(send(&mut h, SERVER_PORT, tagged(untagged_lip.clone(), 99)));
        let mut ad = tagged(tagged(untagged_lip, 10), 100);
        ad[12..14].copy_from_slice(&TPID_8021AD.to_be_bytes());
        seen.push(send(&mut h, SERVER_PORT, ad));
        let mut req = vec![0u8; 60];
        crate::wire::arp::build_request(&mut req, RS_MAC[1], ip(RS20), ip("198.19.20.200")).unwrap();
        seen.push(send(&mut h, SERVER_PORT, tagged(req, 20)));
        let cnt = h.p.counters();
        let vlans: Vec<_> = cnt
            .vlans
            .iter()
            .map(|c| {
                (c.rx_packets.get(), c.rx_bytes.get(), c.tx_packets.get(), c.tx_bytes.get(), c.drops.get())
            })
            .collect();
        let drops: Vec<_> = [DropReason::UnknownVlan, DropReason::VlanQinQ, DropReason::NoSession]
            .iter()
            .map(|&r| cnt.drop_count(r))
            .collect();
        (seen, vlans, drops)
    };
    let (full, fast) = (run(false), run(true));
    assert_eq!(full, fast);
    // Every data segment crossed, tagged 10 towards the server, untagged towards the client.
    let to_server: Vec<Option<u16>> =
        full.0[4..10].iter().flat_map(|(_, s)| s.iter().map(|f| vid_of(f))).collect();
    assert_eq!(to_server, [Some(10); 3]);
    assert_eq!(full.0[4..10].iter().map(|(c, _)| c.len()).sum::<usize>(), 3);
    assert_eq!(full.1[0].0, 6, "VLAN 10: the ARP reply, the SYN/ACK, 3 data segments, the FIN");
    assert_eq!(full.2[..2], [1, 1], "the unknown VLAN and the QinQ frame");
}
