//! A new registry snapshot under live sessions: established flows survive a reload,
//! sessions of a removed real server are reset or rescheduled (`expire_nodest_conn`),
//! and a quiescent (weight 0) server gets no new connection but keeps its sessions.

use super::tests::*;
use super::*;
use crate::stats::Event;
use crate::wire::tcp::TcpFlags;
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ServiceKey};

#[test]
fn snapshot_swap_keeps_sessions_flowing() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40000, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    let (_, _, _, lport, rip, _) = endpoints(&h.take_tx(SERVER_PORT)[0]);
    let mut r = registry();
    r.clear();
    h.p.set_snapshot(Arc::new(r.snapshot()));
    let reply = tcp_frame(RS_MAC[0], LB_S_MAC, rip, 80, ip("198.19.0.200"), lport, TcpFlags(0x12), b"");
    h.rx(SERVER_PORT, reply);
    assert_eq!(h.take_tx(CLIENT_PORT).len(), 1, "established flows survive a reload");
    let syn =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 40001, ip("198.18.0.100"), 80, TcpFlags::SYN, b"");
    h.rx(CLIENT_PORT, syn);
    assert_eq!(h.drops(DropReason::NotLocal), 1, "the VIP is gone");
}

#[test]
fn expire_nodest_conn_resets_sessions_of_a_removed_server() {
    let mut cfg = config(0, 1);
    cfg.expire_nodest_conn = true;
    let mut h = Harness::with_config(cfg);
    h.resolve_all();
    assert_eq!(open(&mut h, "198.18.0.10", 1000), Some(ip("198.19.0.11")));
    let q = udp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 5000, ip("198.18.0.100"), 53, b"q");
    h.rx(CLIENT_PORT, q.clone());
    assert_eq!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, ip("198.19.0.11"));
    h.p.set_snapshot(edit_registry(|r| {
        r.del_real(&tcp_key(), "198.19.0.11:80".parse().unwrap()).unwrap();
        let udp = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        r.del_real(&udp, "198.19.0.11:5353".parse().unwrap()).unwrap();
    }));
    // TCP: the client's next segment gets it a RST, and the server one too.
    let data =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 1000, ip("198.18.0.100"), 80, TcpFlags::ACK, b"x");
    h.rx(CLIENT_PORT, data);
    let to_client = h.take_tx(CLIENT_PORT);
    let to_server = h.take_tx(SERVER_PORT);
    assert_eq!(to_client.len(), 1);
    assert_eq!(to_server.len(), 1);
    let flags = |f: &[u8]| TcpPacket::new_checked(&f[ETH_LEN + 20..]).unwrap().flags();
    assert!(flags(&to_client[0]).contains(TcpFlags::RST));
    assert!(flags(&to_server[0]).contains(TcpFlags::RST));
    let (_, _, src, _, dst, _) = endpoints(&to_server[0]);
    assert_eq!((src, dst), (ip("198.19.0.200"), ip("198.19.0.11")));
    // UDP: the next datagram is scheduled afresh.
    h.rx(CLIENT_PORT, q);
    assert_ne!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, ip("198.19.0.11"));
    assert_eq!(h.p.counters().event_count(Event::NoDestExpired), 2);
}

#[test]
fn quiescent_server_gets_no_new_connections_but_keeps_its_sessions() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let first = open(&mut h, "198.18.0.10", 1000).unwrap();
    assert_eq!(first, ip("198.19.0.11"));
    h.p.set_snapshot(edit_registry(|r| {
        let real = RealSpec {
            addr: "198.19.0.11:80".parse().unwrap(),
            weight: 0,
            method: ForwardMethod::FullNat,
            tunnel: None,
            thresholds: Default::default(),
        };
        r.edit_real(&tcp_key(), real).unwrap();
    }));
    for sport in 2000..2030 {
        assert_ne!(open(&mut h, "198.18.0.10", sport), Some(first));
    }
    // The established flow still goes through.
    let ack =
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip("198.18.0.10"), 1000, ip("198.18.0.100"), 80, TcpFlags::ACK, b"x");
    h.rx(CLIENT_PORT, ack);
    assert_eq!(endpoints(&h.take_tx(SERVER_PORT)[0]).4, first);
}

/// A service given the slot of one deleted in the same configuration (a `batch` that
/// deletes a service and adds one when the registry has no fresh slot left), or a service
/// deleted and added again, starts afresh: its clients do not follow the old one's
/// persistence templates, as they would not have if the changes had come one at a time.
#[test]
fn a_service_in_a_reused_slot_keeps_nothing_of_the_old_one() {
    let mut h = Harness::new(0, 1);
    h.resolve_all();
    let mut r = crate::service::Registry::new(1, 64);
    let add = |r: &mut crate::service::Registry, weights: &[(u8, u32)]| {
        r.add_service(persistent_tcp_spec()).unwrap();
        for &(i, weight) in weights {
            r.add_real(&tcp_key(), tcp_real(i, weight)).unwrap();
        }
    };
    add(&mut r, &[(11, 1)]);
    h.p.set_snapshot(Arc::new(r.snapshot()));
    assert_eq!(open(&mut h, "198.18.0.10", 1000), Some(ip("198.19.0.11")));
    // One configuration: the service deleted, a new one in its slot, where .11 takes no
    // new clients (weight 0): a template followed would still lead there.
    let old = r.snapshot();
    r.del_service(&tcp_key()).unwrap();
    add(&mut r, &[(11, 0), (12, 1)]);
    let new = r.snapshot();
    assert_eq!(new.services[0].slot, old.services[0].slot, "the slot is reused");
    assert_ne!(new.services[0].id, old.services[0].id);
    h.p.set_snapshot(Arc::new(new));
    assert_eq!(open(&mut h, "198.18.0.10", 1001), Some(ip("198.19.0.12")), "scheduled afresh");
    assert_eq!(open(&mut h, "198.18.0.10", 1002), Some(ip("198.19.0.12")), "and pinned there");
}
