//! DR and TUN sessions are synced: a connection opened through one director (two
//! workers) is installed on the other director's worker that owns the client's endpoint,
//! and the client's next segment, wherever the NIC puts it, reaches the same real server
//! unchanged (DR) or inside IPIP (TUN), without a SYN. A director whose real server is
//! reached another way, or is gone, refuses the record by name.

use super::nat_tests::{client, port_owned_by, Pair, CIP, RIP};
use super::tests::*;
use super::*;
use crate::sync::{SyncParams, CONN_F_DR, CONN_F_METHOD, CONN_F_TUN};
use crate::wire::tcp::TcpFlags;
use rvs_proto::ForwardMethod;

/// A director of two workers with sync on.
fn director(m: ForwardMethod) -> Pair {
    let mut p = Pair::new(m);
    for w in 0..2 {
        let now = p.now;
        p.w[w].enable_sync(SyncParams::default(), now);
    }
    p
}

/// SYN, ACK, data from the client, each arriving on the worker that does not own the
/// client's endpoint: they are handed over, and the owner forwards all three.
fn open(p: &mut Pair, sport: u16, owner: usize) {
    for (flags, data) in [(TcpFlags::SYN, &b""[..]), (TcpFlags::ACK, b""), (TcpFlags::ACK, b"GET")] {
        let f = tcp_frame(CLIENT_MAC, LB_C_MAC, ip(CIP), sport, ip(VIP), 80, flags, data);
        p.rx(1 - owner, CLIENT_PORT, f);
        assert_eq!(p.rings(), 1, "handed to the client endpoint's worker");
    }
    assert_eq!(p.tx(owner, SERVER_PORT).len(), 3);
    assert_eq!(p.w[1 - owner].sessions().len(), 0);
}

const VIP: &str = super::methods_tests::VIP;

fn synced_then_forwarded(m: ForwardMethod, flag: u8) {
    for owner in [0u16, 1] {
        let sport = port_owned_by(owner, 41000);
        let o = owner as usize;
        let mut lb1 = director(m);
        open(&mut lb1, sport, o);
        let rec = lb1.out[o].synced.pop().expect("the third client packet syncs a DR/TUN session");
        assert!(lb1.out[1 - o].synced.is_empty());
        assert_eq!(rec.flags & CONN_F_METHOD, flag);
        assert_eq!((rec.state, rec.local, rec.real), (SessionState::Established, rec.client, rec.real));
        assert_eq!(rec.real, std::net::SocketAddr::from((ip(RIP), 80)));
        assert_eq!(rec.owner_worker_steered(2, &crate::laddr::Steering::Partition), o);

        // lb2 installs it on the same worker and forwards the client's next segment, which
        // the NIC gives to the other worker, to the same server without a handshake.
        let mut lb2 = director(m);
        assert_eq!(lb2.w[o].install_synced(&rec, lb2.now), Ok(Installed::New));
        let next = tcp_frame(CLIENT_MAC, LB_C_MAC, ip(CIP), sport, ip(VIP), 80, TcpFlags::ACK, b"more data");
        lb2.rx(1 - o, CLIENT_PORT, next.clone());
        assert_eq!(lb2.rings(), 1);
        let f = lb2.tx(o, SERVER_PORT).pop().expect("the owner forwards it");
        assert_eq!(f[0..6], RS_MAC[0].0, "to the session's real server");
        if m == ForwardMethod::DirectRoute {
            assert_eq!(f[12..], next[12..], "the IP packet unchanged");
        } else {
            let outer = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(outer.verify_checksum());
            assert_eq!((outer.protocol(), outer.dst_addr()), (IpProtocol(4), ip(RIP)));
            assert_eq!(outer.payload(), &next[14..], "the client's packet inside IPIP");
        }
        assert_eq!(lb2.w[0].counters().drop_count(DropReason::NoSession), 0);
        assert_eq!(lb2.w[1].counters().drop_count(DropReason::NoSession), 0);
        let c = lb2.w[o].dump_sessions(lb2.now).pop().unwrap();
        assert_eq!((c.state.as_str(), c.local), ("ESTABLISHED", "0.0.0.0:0".parse().unwrap()));
        // Installed as if just synced: lb2 does not echo it back at once.
        assert!(lb2.out[o].synced.is_empty());
        assert_eq!(lb2.w[o].sync_digest(), lb1.w[o].sync_digest());
    }
}

#[test]
fn a_dr_connection_is_synced_and_forwarded_unchanged_by_the_other_director() {
    synced_then_forwarded(ForwardMethod::DirectRoute, CONN_F_DR);
}

#[test]
fn a_tun_connection_is_synced_and_forwarded_in_ipip_by_the_other_director() {
    synced_then_forwarded(ForwardMethod::Tunnel, CONN_F_TUN);
}

/// Where the real server is reached by another method, or is not in the service, the
/// record is refused by name and nothing is installed.
#[test]
fn a_dr_record_is_refused_where_the_method_or_the_server_differs() {
    let sport = port_owned_by(1, 43000);
    let mut lb1 = director(ForwardMethod::DirectRoute);
    open(&mut lb1, sport, 1);
    let rec = lb1.out[1].synced.pop().unwrap();
    for m in [ForwardMethod::FullNat, ForwardMethod::Nat, ForwardMethod::Tunnel] {
        let mut other = director(m);
        assert_eq!(other.w[1].install_synced(&rec, other.now).unwrap_err().name(), "method", "{m:?}");
        assert_eq!(other.w[1].sessions().len(), 0);
    }
    let mut gone = rec;
    gone.real = std::net::SocketAddr::from((ip("198.19.0.99"), 80));
    let mut lb2 = director(ForwardMethod::DirectRoute);
    assert_eq!(lb2.w[1].install_synced(&gone, lb2.now).unwrap_err().name(), "no_real");
    assert_eq!(lb2.w[1].sessions().len(), 0);
    // Without the record, the same segment finds no session and is dropped, as before.
    let f = client(sport, TcpFlags::ACK);
    lb2.rx(1, CLIENT_PORT, f);
    assert!(lb2.tx(1, SERVER_PORT).is_empty());
    assert_eq!(lb2.w[1].counters().drop_count(DropReason::NoSession), 1);
}
