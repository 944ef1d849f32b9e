//! NAT with several workers: a session's owner is a function of the client's endpoint, so
//! the client's packets and the real server's replies reach it from any worker through the
//! redirect rings (`conn_direct::NatSteering`); ICMP errors of NAT sessions from the real
//! server's side reach the client.

use super::conn_direct::NatSteering;
use super::methods_tests::{registry_with, VIP};
use super::tests::*;
use super::*;
use crate::frame::VecAlloc;
use crate::wire::tcp::TcpFlags;
use rvs_proto::ForwardMethod;

pub(super) const CIP: &str = "198.18.0.10";
pub(super) const RIP: &str = "198.19.0.11";

/// Two workers of one director, each with its own output, sharing nothing but the rings.
pub(super) struct Pair {
    pub(super) w: [Pipeline<Vec<u8>>; 2],
    pub(super) out: [Output<Vec<u8>>; 2],
    pub(super) now: Time,
}

impl Pair {
    pub(super) fn new(m: ForwardMethod) -> Self {
        let mk = |w| {
            let counters = Arc::new(WorkerCounters::new(16, 64));
            Pipeline::new(config(w, 2), Arc::new(registry_with(m, None).snapshot()), counters, Time::ZERO)
        };
        let mut p =
            Pair { w: [mk(0), mk(1)], out: [Output::new(2, 2), Output::new(2, 2)], now: Time::from_secs(1) };
        for w in 0..2 {
            p.rx(w, CLIENT_PORT, arp_reply_frame(CLIENT_MAC, ip(CIP), LB_C_MAC, ip("198.18.0.1")));
            for (i, mac) in RS_MAC.iter().enumerate() {
                let rs = ip(&format!("198.19.0.{}", 11 + i));
                p.rx(w, SERVER_PORT, arp_reply_frame(*mac, rs, LB_S_MAC, ip("198.19.0.1")));
            }
            p.out[w].tx.iter_mut().for_each(Vec::clear);
            p.out[w].learned.clear();
        }
        p
    }

    pub(super) fn rx(&mut self, w: usize, port: PortIndex, f: Vec<u8>) {
        self.w[w].handle(port, f, self.now, &mut VecAlloc, &mut self.out[w]);
    }

    /// Delivers what each worker handed over to the other, as the rings do.
    pub(super) fn rings(&mut self) -> usize {
        let mut n = 0;
        for from in 0..2 {
            for to in 0..2 {
                for h in std::mem::take(&mut self.out[from].redirect[to]) {
                    n += 1;
                    self.w[to].handle_handoff(h, self.now, &mut VecAlloc, &mut self.out[to]);
                }
            }
        }
        n
    }

    pub(super) fn tx(&mut self, w: usize, port: PortIndex) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out[w].tx[port as usize])
    }
}

/// A client port whose NAT sessions worker `w` of two owns.
pub(super) fn port_owned_by(w: u16, from: u16) -> u16 {
    (from..).find(|&p| NatSteering::owner(ip(CIP), p, 2) == w).unwrap()
}

pub(super) fn client(sport: u16, flags: TcpFlags) -> Vec<u8> {
    tcp_frame(CLIENT_MAC, LB_C_MAC, ip(CIP), sport, ip(VIP), 80, flags, b"")
}

fn reply(sport: u16, flags: TcpFlags) -> Vec<u8> {
    tcp_frame(RS_MAC[0], LB_S_MAC, ip(RIP), 80, ip(CIP), sport, flags, b"")
}

#[test]
fn the_owner_spreads_clients_over_the_workers() {
    let mut n = [0usize; 4];
    for p in 1024..5120u16 {
        n[NatSteering::owner(ip(CIP), p, 4) as usize] += 1;
        assert_eq!(NatSteering::owner(ip(CIP), p, 1), 0);
    }
    assert!(n.iter().all(|&c| c > 800), "{n:?}");
}

/// Whichever worker the NIC gives each packet to, the connection lives on its client's
/// worker: a SYN and an ACK on the other worker and a reply on either are handed over,
/// rewritten both ways by the owner, and the other worker keeps no session.
#[test]
fn a_nat_connection_lives_on_its_clients_worker_whatever_the_queues() {
    let mut p = Pair::new(ForwardMethod::Nat);
    let sport = port_owned_by(1, 40000);
    p.rx(0, CLIENT_PORT, client(sport, TcpFlags::SYN));
    assert!(p.tx(0, SERVER_PORT).is_empty(), "worker 0 does not schedule it");
    assert_eq!(p.rings(), 1);
    let syn = p.tx(1, SERVER_PORT).pop().expect("the owner forwards the SYN");
    let (_, dmac, src, s, dst, d) = endpoints(&syn);
    assert_eq!((dmac, src, s, dst, d), (RS_MAC[0], ip(CIP), sport, ip(RIP), 80));

    // The server's SYN/ACK arrives on worker 0 first, then a retransmission on worker 1.
    for w in [0, 1] {
        p.rx(w, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
        p.rings();
        let f = p.tx(1, CLIENT_PORT).pop().expect("the owner sends it to the client");
        let (_, dmac, src, s, dst, d) = endpoints(&f);
        assert_eq!((dmac, src, s, dst, d), (CLIENT_MAC, ip(VIP), 80, ip(CIP), sport), "from the VIP");
        assert!(p.tx(0, CLIENT_PORT).is_empty());
    }
    p.rx(0, CLIENT_PORT, client(sport, TcpFlags::ACK));
    assert_eq!(p.rings(), 1);
    assert_eq!(p.tx(1, SERVER_PORT).len(), 1);
    assert_eq!(p.w[0].sessions().len(), 0);
    let c = p.w[1].dump_sessions(p.now).pop().unwrap();
    assert_eq!(c.state, "ESTABLISHED");
    assert_eq!(p.w[0].counters().redirected_out.get(), 3);
    assert_eq!(p.w[1].counters().redirected_out.get(), 0);
    for w in 0..2 {
        assert_eq!(p.w[w].counters().drop_count(DropReason::NotLocal), 0);
    }
}

/// A client the receiving worker owns is handled there, without a hand-over.
#[test]
fn the_owner_itself_hands_nothing_over() {
    let mut p = Pair::new(ForwardMethod::Nat);
    let sport = port_owned_by(0, 41000);
    p.rx(0, CLIENT_PORT, client(sport, TcpFlags::SYN));
    assert_eq!(p.tx(0, SERVER_PORT).len(), 1);
    p.rx(0, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
    assert_eq!(p.tx(0, CLIENT_PORT).len(), 1);
    assert_eq!(p.rings(), 0);
    assert_eq!(p.w[0].counters().redirected_out.get(), 0);
}

/// A DR service's client packets are steered like NAT's (so that a session synced from
/// another director is on the same worker there, `direct_sync_tests`), but its real
/// servers' replies are not: they should never come through us, and the owner drops them.
#[test]
fn dr_client_packets_are_steered_but_not_replies() {
    let mut p = Pair::new(ForwardMethod::DirectRoute);
    let sport = port_owned_by(1, 42000);
    p.rx(0, CLIENT_PORT, client(sport, TcpFlags::SYN));
    assert!(p.tx(0, SERVER_PORT).is_empty());
    assert_eq!(p.rings(), 1);
    assert_eq!(p.tx(1, SERVER_PORT).len(), 1, "the client endpoint's worker forwards it");
    p.rx(0, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
    assert_eq!(p.rings(), 0, "a reply is not handed over");
    p.rx(1, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
    assert_eq!(p.w[1].counters().drop_count(DropReason::ReplyBypassed), 1);
    assert!(p.tx(0, CLIENT_PORT).is_empty() && p.tx(1, CLIENT_PORT).is_empty());
}

mod icmp {
    use super::super::icmp_error::tests::{icmp_error, read};
    use super::*;
    use crate::wire::icmp::{CODE_FRAG_NEEDED, DEST_UNREACHABLE};

    /// A router on the real servers' side.
    const ROUTER_S: &str = "198.19.0.254";

    /// A client segment of 1400 bytes forwarded by the owner of `sport`'s session; the
    /// pair and the forwarded frame.
    fn big_segment(sport: u16) -> (Pair, Vec<u8>) {
        let mut p = Pair::new(ForwardMethod::Nat);
        let owner = NatSteering::owner(ip(CIP), sport, 2) as usize;
        p.rx(owner, CLIENT_PORT, client(sport, TcpFlags::SYN));
        p.tx(owner, SERVER_PORT);
        p.rx(owner, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
        p.tx(owner, CLIENT_PORT);
        let seg = tcp_frame(CLIENT_MAC, LB_C_MAC, ip(CIP), sport, ip(VIP), 80, TcpFlags::ACK, &[7u8; 1400]);
        p.rx(owner, CLIENT_PORT, seg);
        let fwd = p.tx(owner, SERVER_PORT).pop().expect("segment forwarded");
        assert_eq!(p.rings(), 0);
        (p, fwd)
    }

    /// "Fragmentation needed" from the server side about a client segment of a NAT session
    /// (addressed to the client, through us as the servers' gateway) reaches the client
    /// from the VIP, quoting its own segment to VIP:80; when it lands on the other worker
    /// it is handed to the session's.
    #[test]
    fn frag_needed_about_a_nat_segment_reaches_the_client_from_the_vip() {
        for owner in [0u16, 1] {
            let sport = port_owned_by(owner, 43000);
            let (mut p, fwd) = big_segment(sport);
            let other = 1 - owner as usize;
            let err = icmp_error(
                RS_MAC[0],
                LB_S_MAC,
                ip(ROUTER_S),
                ip(CIP),
                DEST_UNREACHABLE,
                CODE_FRAG_NEEDED,
                1300,
                &fwd,
                28,
            );
            p.rx(other, SERVER_PORT, err);
            assert_eq!(p.rings(), 1, "handed to the session's worker");
            let f = p.tx(owner as usize, CLIENT_PORT).pop().expect("the error goes to the client");
            assert_eq!(f[0..6], CLIENT_MAC.0);
            let (src, dst, t, code, mtu, quoted, _) = read(&f);
            assert_eq!(
                (src, dst, t, code, mtu),
                (ip(VIP), ip(CIP), DEST_UNREACHABLE, CODE_FRAG_NEEDED, 1300)
            );
            let want = FlowKey { src: ip(CIP), dst: ip(VIP), sport, dport: 80, proto: PROTO_TCP };
            assert_eq!(quoted, want, "the client's own segment, to the VIP");
            let ev = crate::stats::Event::IcmpErrorForwarded;
            assert_eq!(p.w[owner as usize].counters().event_count(ev), 1);
        }
    }

    /// The real server's own "port unreachable" (from RIP) is translated the same way; an
    /// error about a flow to no NAT real server is the kernel's business, as before, and
    /// one about a NAT server but no session is dropped and counted.
    #[test]
    fn other_errors_to_client_addresses_are_left_alone() {
        let sport = port_owned_by(0, 44000);
        let (mut p, fwd) = big_segment(sport);
        p.rx(
            0,
            SERVER_PORT,
            icmp_error(RS_MAC[0], LB_S_MAC, ip(RIP), ip(CIP), DEST_UNREACHABLE, 3, 0, &fwd, 48),
        );
        let (src, _, _, code, _, quoted, _) = read(&p.tx(0, CLIENT_PORT).pop().expect("to the client"));
        assert_eq!((src, code, quoted.dst, quoted.dport), (ip(VIP), 3, ip(VIP), 80));

        let elsewhere =
            tcp_frame(CLIENT_MAC, LB_S_MAC, ip(CIP), sport, ip("198.19.0.77"), 80, TcpFlags::ACK, b"");
        p.rx(
            0,
            SERVER_PORT,
            icmp_error(RS_MAC[0], LB_S_MAC, ip(ROUTER_S), ip(CIP), DEST_UNREACHABLE, 1, 0, &elsewhere, 48),
        );
        assert_eq!(p.w[0].counters().drop_count(DropReason::NotLocal), 1);

        let stale = tcp_frame(CLIENT_MAC, LB_S_MAC, ip(CIP), sport + 2, ip(RIP), 80, TcpFlags::ACK, b"");
        let to = NatSteering::owner(ip(CIP), sport + 2, 2) as usize;
        p.rx(
            to,
            SERVER_PORT,
            icmp_error(RS_MAC[0], LB_S_MAC, ip(ROUTER_S), ip(CIP), DEST_UNREACHABLE, 1, 0, &stale, 48),
        );
        assert_eq!(p.w[to].counters().drop_count(DropReason::IcmpNoSession), 1);
        assert!(p.tx(0, CLIENT_PORT).is_empty() && p.tx(1, CLIENT_PORT).is_empty());
    }
}

/// A NAT connection is synced like a FULLNAT one (its record names the client as the
/// reply's destination, flag NAT), installed on the other director's worker that owns
/// the client's endpoint, and forwarded there both ways without a handshake; a director
/// whose real server is reached by FULLNAT refuses it.
#[test]
fn a_nat_connection_is_synced_to_the_owner_worker_of_another_director() {
    use crate::sync::{SyncParams, CONN_F_NAT};
    let mut lb1 = Pair::new(ForwardMethod::Nat);
    for w in 0..2 {
        let now = lb1.now;
        lb1.w[w].enable_sync(SyncParams::default(), now);
    }
    let sport = port_owned_by(1, 42000);
    p_open(&mut lb1, sport);
    let rec = lb1.out[1].synced.pop().expect("the third client packet syncs a NAT session too");
    assert_eq!(rec.flags & CONN_F_NAT, CONN_F_NAT);
    assert_eq!(rec.local, rec.client, "the reply goes to the client");
    assert_eq!(rec.owner_worker_steered(2, &crate::laddr::Steering::Partition), 1);

    let mut lb2 = Pair::new(ForwardMethod::Nat);
    assert_eq!(lb2.w[1].install_synced(&rec, lb2.now), Ok(Installed::New));
    // A reply from the real server on either worker reaches the client from the VIP.
    for w in [0, 1] {
        lb2.rx(w, SERVER_PORT, reply(sport, TcpFlags::ACK));
        lb2.rings();
        let f = lb2.tx(1, CLIENT_PORT).pop().expect("the owner rewrites it");
        let (_, _, src, s, dst, d) = endpoints(&f);
        assert_eq!((src, s, dst, d), (ip(VIP), 80, ip(CIP), sport));
    }
    lb2.rx(0, CLIENT_PORT, client(sport, TcpFlags::ACK));
    lb2.rings();
    let f = lb2.tx(1, SERVER_PORT).pop().expect("the client's segment reaches the server");
    assert_eq!(endpoints(&f).4, ip(RIP));

    let mut fullnat = Pair::new(ForwardMethod::FullNat);
    assert_eq!(fullnat.w[1].install_synced(&rec, fullnat.now).unwrap_err().name(), "method");
    assert_eq!(fullnat.w[1].sessions().len(), 0);
}

/// SYN, the server's SYN/ACK, ACK and a data segment through the owner of `sport`.
fn p_open(p: &mut Pair, sport: u16) {
    let owner = NatSteering::owner(ip(CIP), sport, 2) as usize;
    p.rx(owner, CLIENT_PORT, client(sport, TcpFlags::SYN));
    p.rx(owner, SERVER_PORT, reply(sport, TcpFlags::SYN | TcpFlags::ACK));
    p.rx(owner, CLIENT_PORT, client(sport, TcpFlags::ACK));
    p.rx(
        owner,
        CLIENT_PORT,
        tcp_frame(CLIENT_MAC, LB_C_MAC, ip(CIP), sport, ip(VIP), 80, TcpFlags::ACK, b"GET"),
    );
    assert_eq!(p.tx(owner, SERVER_PORT).len(), 3);
    assert_eq!(p.tx(owner, CLIENT_PORT).len(), 1);
}
