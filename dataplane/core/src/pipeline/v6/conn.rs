//! FULLNAT IPv6 → IPv6: a client's connection to VIP:vport becomes LIP:lport → RIP:rport,
//! and the replies are rewritten back, as for IPv4 (`conn_new.rs`, `xmit.rs`), over the
//! worker's IPv6 session table (`session::v6`).
//!
//! Replies reach the worker that owns their session by local port (`port % workers`, the
//! IPv4 partition); one that lands elsewhere is handed over unparsed. Real servers reached
//! by NAT, DR or TUN take no local address (`direct.rs`). No SYN proxy yet (refused by the
//! registry). FULLNAT, NAT64 and NAT sessions are synced to other directors as IPv4 ones
//! are (`sync.rs`); DR and TUN ones are not (yet).

use std::net::{IpAddr, Ipv6Addr};

use super::{Dest6, Output, Pipeline, ETH_LEN};
use crate::frame::{Frame, FrameAlloc};
use crate::persist::PersistKey;
use crate::pipeline::{classify::Destination, Handoff, L4Info};
use crate::route::IfIndex;
use crate::sched::{Candidates, SchedKey};
use crate::service::{Real6, Service6};
use crate::session::v6::{
    FlowKey6, InsertError6, Session6, FLAG6_DIRECT, FLAG6_INPUT_ONLY, FLAG6_TOA, FLAG6_TOA_PENDING,
};
use crate::session::{Direction, SessionState, PROTO_TCP, PROTO_UDP};
use crate::stats::{DropReason, RealCounters};
use crate::time::Time;
use crate::wire::ipv6::{self, update_addr_v6, Ipv6Packet};
use crate::wire::{checksum, get_u16, put_u16};

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The facts of an IPv6 TCP/UDP packet the session logic needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct L4v6 {
    pub key: FlowKey6,
    pub flags: u8,
    /// Offset of the TCP/UDP header in the frame.
    pub l4_at: usize,
    /// Bytes from the TCP/UDP header to the end of the IPv6 payload.
    pub l4_len: usize,
    /// Bytes of IPv6 packet (what IPVS counts).
    pub ip_len: usize,
    /// A first fragment: its TCP/UDP header is whole, its payload is not (`frag.rs`).
    pub frag: bool,
}

/// One IPv6 service's per-worker state.
pub(super) struct Svc6State {
    slot: u32,
    /// The registry entry it is the state of (`Service6::id`).
    id: u64,
    scheduler_name: String,
    sched_flags: crate::sched::SchedFlags,
    scheduler: crate::sched::Scheduler,
    lip_cursor: usize,
    /// Round-robin position in the IPv4 local addresses (NAT64).
    pub(super) lip4_cursor: usize,
}

impl Svc6State {
    pub(super) fn new(svc: &Service6, worker: u16, old: Option<Svc6State>) -> Svc6State {
        if let Some(st) = old.filter(|o| {
            o.id == svc.id && o.scheduler_name == svc.scheduler && o.sched_flags == svc.sched_flags
        }) {
            return st;
        }
        let params =
            crate::sched::SchedParams { flags: svc.sched_flags, seed: worker as u64, ..Default::default() };
        Svc6State {
            slot: svc.slot,
            id: svc.id,
            scheduler_name: svc.scheduler.clone(),
            sched_flags: svc.sched_flags,
            scheduler: crate::sched::Scheduler::with_params(&svc.scheduler, &params).unwrap_or_else(|| {
                crate::sched::Scheduler::new(crate::sched::DEFAULT).expect("default scheduler")
            }),
            lip_cursor: worker as usize,
            lip4_cursor: worker as usize,
        }
    }

    pub(super) fn slot(&self) -> u32 {
        self.slot
    }

    /// Whether this is the state of `svc` (not of another service in its slot).
    pub(super) fn is_of(&self, svc: &Service6) -> bool {
        self.id == svc.id
    }

    pub(super) fn sync(&mut self, svc: &Service6, counters: &[RealCounters], version: u64) {
        self.scheduler.sync(&RealSet6 { reals: &svc.reals, counters }, version);
    }
}

/// The IPv6 real servers of a service with this worker's connection gauges.
struct RealSet6<'a> {
    reals: &'a [Real6],
    counters: &'a [RealCounters],
}

impl Candidates for RealSet6<'_> {
    fn len(&self) -> usize {
        self.reals.len()
    }
    fn weight(&self, i: usize) -> u32 {
        self.reals[i].weight
    }
    fn active(&self, i: usize) -> u64 {
        self.counters.get(self.reals[i].slot as usize).map_or(0, |c| c.active.get())
    }
    fn inactive(&self, i: usize) -> u64 {
        self.counters.get(self.reals[i].slot as usize).map_or(0, |c| c.inactive.get())
    }
    fn overloaded(&self, _i: usize) -> bool {
        false
    }
    fn id(&self, i: usize) -> u64 {
        crate::sched::Candidate::id(&self.reals[i])
    }
}

impl<P: Frame> Pipeline<P> {
    /// A TCP/UDP packet to an IPv6 VIP or LIP, its L4 header `off` bytes into the payload.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_l4_v6(
        &mut self,
        port: IfIndex,
        pkt: P,
        off: usize,
        dest: Dest6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(l4) = parse_l4(pkt.data(), off) else {
            return self.drop_pkt(DropReason::BadL4Header, pkt);
        };
        if dest == Dest6::Vip {
            if let Some(owner) = self.nat6_client_owner(&l4.key) {
                // A service with NAT, DR or TUN real servers: the client endpoint names
                // the worker (`direct.rs`).
                self.counters.redirected_out.inc();
                let info = L4Info { port, dest: Destination::Ipv6, ..L4Info::EMPTY };
                return out.redirect[owner as usize].push(Handoff { pkt, info });
            }
        }
        if dest == Dest6::Lip {
            let owner = self.v6.ports.owner(l4.key.dport);
            if owner != self.worker {
                // The reply's local port names the worker that owns its session.
                let info = L4Info { port, dest: Destination::Ipv6, ..L4Info::EMPTY };
                return out.redirect[owner as usize].push(Handoff { pkt, info });
            }
            return match self.v6.sessions.lookup(&l4.key) {
                Some((id, Direction::FromServer)) => {
                    self.forward_v6(id, Direction::FromServer, pkt, l4, now, alloc, out)
                }
                _ => self.drop_pkt(DropReason::NoSession, pkt),
            };
        }
        match self.v6.sessions.lookup(&l4.key) {
            Some((id, Direction::FromClient)) => {
                let s = self.v6.sessions.get(id);
                let restart = l4.key.proto == PROTO_TCP
                    && l4.flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN
                    && s.state.allows_reuse();
                if !restart {
                    return self.forward_v6(id, Direction::FromClient, pkt, l4, now, alloc, out);
                }
                if let Some(old) = self.v6.sessions.remove(id) {
                    self.retire_v6(&old);
                }
                self.new_conn_v6(pkt, l4, now, alloc, out)
            }
            _ => self.new_conn_v6(pkt, l4, now, alloc, out),
        }
    }

    /// The first packet of a connection to an IPv6 VIP: schedules a real server, takes a
    /// local address and port, creates the session and forwards the packet.
    fn new_conn_v6(
        &mut self,
        pkt: P,
        l4: L4v6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let k = l4.key;
        if k.proto == PROTO_TCP && l4.flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN) != TCP_SYN {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        // A backup forwards its sessions (synced ones) but takes no new connection.
        if !self.snapshot.owns6(k.dst) {
            return self.drop_pkt(DropReason::NotOwner, pkt);
        }
        let snap = self.snapshot.v6.clone();
        let Some(si) = snap.find(&(k.proto, k.dst, k.dport)) else {
            return self.drop_pkt(DropReason::NoService, pkt);
        };
        let svc = &snap.services[si as usize];
        if !verify_l4(pkt.data(), &l4) {
            return self.drop_pkt(DropReason::BadL4Checksum, pkt);
        }
        let sk = SchedKey { src: IpAddr::V6(k.src), sport: k.sport, dst: IpAddr::V6(k.dst), dport: k.dport };
        let set = RealSet6 { reals: &svc.reals, counters: &self.counters.reals };
        let Some(st) = self.v6.services.get_mut(si as usize) else {
            return self.drop_pkt(DropReason::NoService, pkt);
        };
        let persist =
            svc.persistence.map(|p| (p, PersistKey::new(svc.slot, IpAddr::V6(k.src), &p.granularity)));
        let picked = match &persist {
            None => st.scheduler.pick(&set, &sk, now),
            // A client new to this worker is placed by rendezvous hashing of its masked
            // address, as for IPv4 (`conn_new.rs`): every worker pins it to the same server.
            Some((p, pk)) => {
                self.persist.pick(*pk, &set, now, p, || crate::persist::rendezvous(&set, pk)).map(|(i, _)| i)
            }
        };
        let Some(ri) = picked else {
            return self.drop_pkt(DropReason::NoRealServer, pkt);
        };
        if let Some((_, pk)) = &persist {
            self.persist.attach(pk);
        }
        let real = svc.reals[ri].clone();
        let direct = super::direct::method_flag(&real);
        let taken = match real.ipv4() {
            // NAT, DR, TUN: the real server sees the client, no local address is taken.
            _ if direct != 0 => Some((k.src, k.sport)),
            // NAT64: an IPv4 LIP and port of this worker's, from the IPv4 pools.
            Some(rip) => {
                let rip = std::net::SocketAddrV4::new(*rip.ip(), real.port_for(k.dport));
                self.take_lip_nat64(si as usize, svc, rip)
            }
            None => self.take_lip_v6(si as usize, svc, k.proto),
        };
        let Some((lip, lport)) = taken else {
            if let Some((_, pk)) = &persist {
                self.persist.detach(pk);
            }
            return self.drop_pkt(DropReason::NoLocalAddr, pkt);
        };
        let state = if k.proto == PROTO_TCP { SessionState::SynRecv } else { SessionState::Udp };
        let s = Session6 {
            client: k,
            server: FlowKey6 {
                src: *real.addr.ip(),
                dst: lip,
                sport: real.port_for(k.dport),
                dport: lport,
                proto: k.proto,
            },
            state,
            expires: self.timeouts.deadline(now, state),
            real_slot: real.slot,
            svc_slot: svc.slot,
            flags: if direct != 0 {
                direct
            } else if svc.toa && k.proto == PROTO_TCP {
                FLAG6_TOA | FLAG6_TOA_PENDING
            } else {
                0
            },
            proxy: match svc.proxy_protocol.filter(|_| k.proto == PROTO_TCP && direct == 0) {
                Some(crate::proxyproto::Version::V1) => 1,
                Some(crate::proxyproto::Version::V2) => 2,
                None => 0,
            },
            client_isn: crate::wire::get_u32(pkt.data(), l4.l4_at + 4),
            proxy_len: 0,
            persist: persist.map(|(p, _)| p.granularity.v6_prefix),
        };
        let id = match self.v6.sessions.insert(s) {
            Ok(id) => id,
            Err(e) => {
                self.give_lip_v6(&s);
                self.release_template_v6(&s);
                let reason = match e {
                    InsertError6::Full => DropReason::SessionTableFull,
                    InsertError6::Exists => DropReason::NoLocalAddr,
                };
                return self.drop_pkt(reason, pkt);
            }
        };
        self.sync_created_v6(id, now);
        let c = &self.counters;
        c.sessions_created.inc();
        c.sessions_live.set((self.sessions.len() + self.v6.sessions.len()) as u64);
        if let Some(sv) = c.services.get(svc.slot as usize) {
            sv.conns.inc();
        }
        if let Some(r) = c.reals.get(real.slot as usize) {
            r.traffic.conns.inc();
            r.inactive.inc();
        }
        self.forward_v6(id, Direction::FromClient, pkt, l4, now, alloc, out)
    }

    /// The next LIP of the service (round robin) with a free local port of ours.
    fn take_lip_v6(&mut self, si: usize, svc: &Service6, proto: u8) -> Option<(Ipv6Addr, u16)> {
        let n = svc.local_addrs.len();
        for _ in 0..n {
            let st = &mut self.v6.services[si];
            st.lip_cursor = st.lip_cursor.wrapping_add(1);
            let lip = svc.local_addrs[st.lip_cursor % n];
            if let Some(p) = self.v6.ports.take(lip, proto) {
                return Some((lip, p));
            }
        }
        None
    }

    /// Rewrites a packet of session `id` for its other end and sends it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_v6(
        &mut self,
        id: u32,
        dir: Direction,
        mut pkt: P,
        l4: L4v6,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let hop_limit = Ipv6Packet::new_unchecked(&pkt.data()[ETH_LEN..]).hop_limit();
        if hop_limit <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        let input_only = self.v6.sessions.get(id).flags & FLAG6_INPUT_ONLY != 0;
        if input_only && dir == Direction::FromServer {
            // A DR/TUN server's reply came back through us: its routing is wrong (the reply
            // must go straight to the client). We do not route it.
            return self.drop_pkt(DropReason::ReplyBypassed, pkt);
        }
        let s = self.account_v6(id, dir, l4.key.proto, l4.flags, l4.ip_len, now);
        // Every method's sessions are synced: DR and TUN ones name the client as the
        // reply's destination, as NAT ones do.
        if dir == Direction::FromClient && self.sync.is_some() {
            self.sync_client_packet_v6(id, now, out);
        }
        if input_only {
            return self.forward_input_only_v6(&s, pkt, &l4, now, alloc, out);
        }
        let to = if dir == Direction::FromClient { s.to_server() } else { s.to_client() };
        if s.is_nat64() {
            return self.forward_6to4(id, &s, pkt, &l4, now, alloc, out);
        }
        let mut l4 = l4;
        if s.flags & (FLAG6_TOA | FLAG6_TOA_PENDING) != 0 || s.proxy != 0 {
            pkt = self.tcp_ext_v6(id, &s, dir, pkt, &mut l4);
        }
        rewrite(pkt.data_mut(), &l4, &to);
        self.send_ipv6(pkt, to.dst, now, alloc, out);
    }

    /// What every packet of an IPv6 session does to it: the TCP state and the gauges,
    /// the deadline, the traffic counters. Returns the session as it is now.
    pub(super) fn account_v6(
        &mut self,
        id: u32,
        dir: Direction,
        proto: u8,
        flags: u8,
        ip_len: usize,
        now: Time,
    ) -> Session6 {
        let s = self.v6.sessions.get_mut(id);
        if proto == PROTO_TCP {
            let next = if s.flags & FLAG6_INPUT_ONLY != 0 {
                s.state.next_tcp_input_only(flags)
            } else {
                s.state.next_tcp(dir, flags)
            };
            if next != s.state {
                if let Some(r) = self.counters.reals.get(s.real_slot as usize) {
                    r.state_moved(s.state.is_active(), next.is_active());
                }
                s.state = next;
            }
        }
        s.expires = self.timeouts.deadline(now, s.state);
        let real_slot = s.real_slot as usize;
        let bytes = ip_len as u64;
        if let Some(r) = self.counters.reals.get(real_slot) {
            r.count(dir == Direction::FromClient, bytes);
        }
        *s
    }

    /// Lets go of the persistence template a session held (it may expire once none does).
    fn release_template_v6(&mut self, s: &Session6) {
        if let Some(prefix) = s.persist {
            let g = crate::persist::Granularity { v6_prefix: prefix, ..Default::default() };
            self.persist.detach(&PersistKey::new(s.svc_slot, IpAddr::V6(s.client.src), &g));
        }
    }

    /// Gives back the local port a session took.
    fn give_lip_v6(&mut self, s: &Session6) {
        if s.flags & FLAG6_DIRECT != 0 {
            return;
        }
        match s.server.dst.to_ipv4_mapped() {
            Some(lip4) => self.laddrs.free(lip4, s.server.dport),
            None => self.v6.ports.give(s.server.dst, s.server.proto, s.server.dport),
        }
    }

    /// Gives back what an ended IPv6 session held.
    pub(in crate::pipeline) fn retire_v6(&mut self, s: &Session6) {
        self.give_lip_v6(s);
        self.release_template_v6(s);
        self.sync_forget_v6(s);
        let c = &self.counters;
        if let Some(r) = c.reals.get(s.real_slot as usize) {
            if s.state.is_active() {
                r.active.sub(1);
            } else {
                r.inactive.sub(1);
            }
        }
        c.sessions_live.set((self.sessions.len() + self.v6.sessions.len()) as u64);
    }

    /// Every IPv6 session, for `ipvsadm -Lnc`.
    pub(in crate::pipeline) fn dump_sessions_v6(&self, now: Time, out: &mut Vec<rvs_proto::ConnInfo>) {
        use std::net::SocketAddrV6;
        // A NAT64 session's LIP and real server are IPv4 (kept mapped).
        let sock = |a: Ipv6Addr, p: u16| match a.to_ipv4_mapped() {
            Some(v4) => std::net::SocketAddr::new(IpAddr::V4(v4), p),
            None => std::net::SocketAddr::V6(SocketAddrV6::new(a, p, 0, 0)),
        };
        out.extend(self.v6.sessions.iter().map(|s| rvs_proto::ConnInfo {
            protocol: if s.client.proto == PROTO_TCP {
                rvs_proto::Protocol::Tcp
            } else {
                rvs_proto::Protocol::Udp
            },
            expires_in: now.until(s.expires).as_secs() as u32,
            state: s.state.name().to_string(),
            client: sock(s.client.src, s.client.sport),
            virtual_addr: sock(s.client.dst, s.client.dport),
            // NAT, DR and TUN sessions have no local address (IPVS prints the unspecified one).
            local: if s.flags & FLAG6_DIRECT != 0 {
                sock(Ipv6Addr::UNSPECIFIED, 0)
            } else {
                sock(s.server.dst, s.server.dport)
            },
            real: sock(s.server.src, s.server.sport),
            worker: self.worker as u32,
        }));
    }
}

/// The TCP/UDP header of the IPv6 packet in `frame`, `off` bytes into its payload.
pub(super) fn parse_l4(frame: &[u8], off: usize) -> Option<L4v6> {
    let ip = Ipv6Packet::new_unchecked(&frame[ETH_LEN..]);
    let (src, dst, nh) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let ip_len = ip.total_len();
    let l4_at = ETH_LEN + ipv6::HEADER_LEN + off;
    let l4 = frame.get(l4_at..ETH_LEN + ip_len)?;
    // The upper-layer protocol: the last Next Header of the chain.
    let (proto, frag) = if off == 0 { (nh, false) } else { upper_proto(ip.payload(), nh)? };
    let (flags, min) = match proto {
        PROTO_TCP => {
            let doff = (*l4.get(12)? >> 4) as usize * 4;
            if doff < 20 || doff > l4.len() {
                return None;
            }
            (l4[13], 20)
        }
        PROTO_UDP => {
            let ulen = get_u16(l4.get(..8)?, 4) as usize;
            if ulen < 8 || (ulen > l4.len() && !frag) {
                return None;
            }
            (0, 8)
        }
        _ => return None,
    };
    if l4.len() < min {
        return None;
    }
    Some(L4v6 {
        key: FlowKey6 { src, dst, sport: get_u16(l4, 0), dport: get_u16(l4, 2), proto },
        flags,
        l4_at,
        l4_len: l4.len(),
        ip_len,
        frag,
    })
}

/// The upper-layer protocol behind the extension headers, and whether it is a fragment's.
fn upper_proto(payload: &[u8], nh: u8) -> Option<(u8, bool)> {
    ipv6::walk_ext(nh, payload).ok().map(|c| (c.upper.0, c.fragment.is_some()))
}

/// Whether the TCP/UDP checksum of a new connection's first packet verifies. Over IPv6
/// a UDP checksum of zero is invalid (RFC 8200 §8.1).
fn verify_l4(frame: &[u8], l4: &L4v6) -> bool {
    if l4.frag {
        // The checksum covers the whole datagram: the end host checks it.
        return true;
    }
    let data = &frame[l4.l4_at..l4.l4_at + l4.l4_len];
    if l4.key.proto == PROTO_UDP && get_u16(data, 6) == 0 {
        return false;
    }
    ipv6::verify_upper(l4.key.src, l4.key.dst, l4.key.proto, data)
}

/// The FULLNAT rewrite: addresses, ports and the hop limit, the TCP/UDP checksum updated
/// incrementally (RFC 1624) for the pseudo-header's addresses and the ports.
pub(super) fn rewrite(frame: &mut [u8], l4: &L4v6, to: &FlowKey6) {
    let from = l4.key;
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut frame[ETH_LEN..]);
        ip.set_src_addr(to.src);
        ip.set_dst_addr(to.dst);
        ip.decrement_hop_limit();
    }
    let ck_at = l4.l4_at + if from.proto == PROTO_TCP { 16 } else { 6 };
    let mut c = get_u16(frame, ck_at);
    c = update_addr_v6(c, from.src, to.src);
    c = update_addr_v6(c, from.dst, to.dst);
    c = checksum::update_u16(c, from.sport, to.sport);
    c = checksum::update_u16(c, from.dport, to.dport);
    if from.proto == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    put_u16(frame, ck_at, c);
    put_u16(frame, l4.l4_at, to.sport);
    put_u16(frame, l4.l4_at + 2, to.dport);
}
