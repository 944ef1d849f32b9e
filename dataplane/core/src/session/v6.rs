//! IPv6 sessions of one worker, in a table of their own: the IPv4 table keeps its compact
//! 64-byte slots (an IPv6 flow alone is 37 bytes), and IPv6 pays for its addresses only
//! where it is used.
//!
//! A slab of sessions, one hash index for both flows of each (client → VIP, and real
//! server → LIP as the reply arrives), an incremental expiry sweep, and the local ports
//! of each LIP in use (this worker's share of them: `port % workers == worker`, so that a
//! reply's destination port names the worker that owns its session).

use hashbrown::HashMap;
use std::net::Ipv6Addr;

use super::index::FlowIndex;
use super::{Direction, SessionState};
use crate::time::Time;

/// One direction of an IPv6 TCP/UDP flow, as packets carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session6 {
    /// Client → VIP.
    pub client: FlowKey6,
    /// Real server → LIP (the reply as it arrives); real server → client for NAT, DR and
    /// TUN (`FLAG6_DIRECT`: no local address).
    pub server: FlowKey6,
    pub state: SessionState,
    pub expires: Time,
    /// Stat slots of the real server and the service.
    pub real_slot: u32,
    pub svc_slot: u32,
    /// `FLAG6_*`.
    pub flags: u8,
    /// PROXY protocol: the version to send (0: none), the client's ISN (its first data
    /// byte is ISN + 1), and the header's length once it went in front of that byte (the
    /// shift of the client's sequence space from then on; 0 before).
    pub proxy: u8,
    pub client_isn: u32,
    pub proxy_len: u8,
    /// Persistence: the prefix length of the client's template this session holds (IPVS
    /// `n_control`; given back when the session ends), or None.
    pub persist: Option<u8>,
}

/// The service inserts TOA: the MSS the server offers leaves room for the option.
pub const FLAG6_TOA: u8 = 1;
/// The client's first ACK towards the server is still to carry the TOA option.
pub const FLAG6_TOA_PENDING: u8 = 2;
/// Forwarded by NAT (`-m`): the destination rewritten to RIP:rport, the replies come back
/// through us; `server` is the reply as it arrives (RIP:rport → CIP:cport), no local port.
pub const FLAG6_NAT: u8 = 0x20;
/// Forwarded by TUN (`-i`): inside an outer IPv6 header to the real server.
pub const FLAG6_TUN: u8 = 0x40;
/// Forwarded by DR (`-g`): the frame to the real server's MAC, the IPv6 header untouched.
pub const FLAG6_DR: u8 = 0x80;
/// The replies bypass us (DR, TUN): IPVS's input-only TCP states.
pub const FLAG6_INPUT_ONLY: u8 = FLAG6_DR | FLAG6_TUN;
/// The client's address goes to the real server (NAT, DR, TUN): no local address taken.
pub const FLAG6_DIRECT: u8 = FLAG6_NAT | FLAG6_DR | FLAG6_TUN;
/// The session was synced (a record of it sent, or it came from one): it is in the
/// worker's table digest.
pub const FLAG6_SYNCED: u8 = 0x10;
/// The session came from another director's record (not created here).
pub const FLAG6_FROM_SYNC: u8 = 0x08;

impl Session6 {
    /// A NAT64 session: its real server and LIP are IPv4 (kept as IPv4-mapped addresses
    /// in `server`, whose one's complement sums are the IPv4 addresses').
    #[inline]
    pub fn is_nat64(&self) -> bool {
        self.server.src.to_ipv4_mapped().is_some()
    }

    /// What the client's packets become: LIP:lport → RIP:rport.
    pub fn to_server(&self) -> FlowKey6 {
        let s = &self.server;
        FlowKey6 { src: s.dst, dst: s.src, sport: s.dport, dport: s.sport, proto: s.proto }
    }

    /// What the server's packets become: VIP:vport → client.
    pub fn to_client(&self) -> FlowKey6 {
        let c = &self.client;
        FlowKey6 { src: c.dst, dst: c.src, sport: c.dport, dport: c.sport, proto: c.proto }
    }
}

/// Why a session was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError6 {
    Full,
    /// One of its flows is another session's.
    Exists,
}

pub struct SessionTable6 {
    slots: Vec<Option<Session6>>,
    free: Vec<u32>,
    /// The flow index of both directions (the IPv4 table's, `index.rs`): sized once by
    /// `reserve`, so the packet path never allocates or rehashes.
    index: Option<FlowIndex>,
    max: usize,
    seed: u64,
    /// Where the expiry sweep goes on.
    cursor: usize,
    len: usize,
}

impl SessionTable6 {
    /// A table of at most `max` sessions, its flow hash keyed by `seed`. Nothing is
    /// allocated until `reserve`: a director without IPv6 services pays nothing.
    pub fn new(max: usize, seed: u64) -> Self {
        SessionTable6 {
            slots: Vec::new(),
            free: Vec::new(),
            index: None,
            max: max.clamp(1, FlowIndex::MAX_SLOTS),
            seed,
            cursor: 0,
            len: 0,
        }
    }

    /// Sizes the table for `max` sessions, once (the control side calls it when the
    /// first IPv6 service arrives): the index is allocated, the slots and the free list
    /// reserved (their pages are touched only as sessions come).
    pub fn reserve(&mut self) {
        if self.index.is_none() {
            self.index = Some(FlowIndex::new(2 * self.max, self.seed));
            self.slots = Vec::with_capacity(self.max);
            self.free = Vec::with_capacity(self.max);
        }
    }

    /// Bytes held for the table (index and reserved slots).
    pub fn bytes(&self) -> usize {
        self.index.as_ref().map_or(0, FlowIndex::bytes)
            + self.slots.capacity() * std::mem::size_of::<Option<Session6>>()
            + self.free.capacity() * 4
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The most sessions the table holds (slot ids are below it).
    pub fn capacity(&self) -> usize {
        self.max
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn lookup(&self, key: &FlowKey6) -> Option<(u32, Direction)> {
        let index = self.index.as_ref()?;
        let slots = &self.slots;
        index
            .find(index.hash6(key), |hit| match &slots[hit.slot as usize] {
                Some(s) => match hit.dir {
                    Direction::FromClient => s.client == *key,
                    Direction::FromServer => s.server == *key,
                },
                None => false,
            })
            .map(|hit| (hit.slot, hit.dir))
    }

    #[inline]
    pub fn get(&self, id: u32) -> &Session6 {
        self.slots[id as usize].as_ref().expect("live session id")
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Session6 {
        self.slots[id as usize].as_mut().expect("live session id")
    }

    /// Adds a session indexed by both flows. At capacity (or before `reserve`) the
    /// table refuses; it never grows.
    pub fn insert(&mut self, s: Session6) -> Result<u32, InsertError6> {
        if self.len >= self.max || self.index.is_none() {
            return Err(InsertError6::Full);
        }
        if self.lookup(&s.client).is_some() || self.lookup(&s.server).is_some() {
            return Err(InsertError6::Exists);
        }
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                debug_assert!(self.slots.len() < self.slots.capacity(), "reserved for max");
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let index = self.index.as_mut().expect("reserved");
        let (hc, hs) = (index.hash6(&s.client), index.hash6(&s.server));
        if !index.insert(hc, id, Direction::FromClient) {
            self.free.push(id);
            return Err(InsertError6::Full);
        }
        if !index.insert(hs, id, Direction::FromServer) {
            index.remove(hc, id, Direction::FromClient);
            self.free.push(id);
            return Err(InsertError6::Full);
        }
        self.slots[id as usize] = Some(s);
        self.len += 1;
        Ok(id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Session6> {
        let s = self.slots.get_mut(id as usize)?.take()?;
        if let Some(index) = self.index.as_mut() {
            index.remove(index.hash6(&s.client), id, Direction::FromClient);
            index.remove(index.hash6(&s.server), id, Direction::FromServer);
        }
        self.free.push(id);
        self.len -= 1;
        Some(s)
    }

    /// Looks at up to `budget` slots from where the last sweep stopped and moves the
    /// sessions due by `now` into `out`.
    pub fn expire(&mut self, now: Time, budget: usize, out: &mut Vec<Session6>) {
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        for _ in 0..budget.min(n) {
            self.cursor = (self.cursor + 1) % n;
            let id = self.cursor as u32;
            if self.slots[self.cursor].as_ref().is_some_and(|s| s.expires <= now) {
                out.extend(self.remove(id));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session6> {
        self.slots.iter().flatten()
    }

    /// The live sessions from slot `from` on, with their ids (a bulk sync's walk).
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (u32, &Session6)> {
        self.slots.iter().enumerate().skip(from).filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }
}

/// The local ports of this worker's share in use, per (LIP, protocol).
pub struct PortPool6 {
    worker: u16,
    workers: u16,
    range: (u16, u16),
    used: HashMap<(Ipv6Addr, u8), PortSet, ahash::RandomState>,
}

/// 65,536 bits and a cursor.
struct PortSet {
    bits: Box<[u64; 1024]>,
    /// Where the next search starts: always one of this worker's ports.
    next: u32,
}

impl PortPool6 {
    pub fn new(worker: u16, workers: u16, range: (u16, u16)) -> Self {
        PortPool6 { worker, workers: workers.max(1), range, used: HashMap::default() }
    }

    /// The worker that owns local port `port` (the reply's destination port).
    #[inline]
    pub fn owner(&self, port: u16) -> u16 {
        port % self.workers
    }

    /// Makes the port sets of `lip` (TCP and UDP) ahead of traffic, so that its first
    /// connection allocates nothing.
    pub fn prepare(&mut self, lip: Ipv6Addr) {
        let first = self.first();
        for proto in [super::PROTO_TCP, super::PROTO_UDP] {
            self.used
                .entry((lip, proto))
                .or_insert_with(|| PortSet { bits: Box::new([0; 1024]), next: first });
        }
    }

    /// The first port of the range that is this worker's.
    fn first(&self) -> u32 {
        let (lo, n, w) = (self.range.0 as u32, self.workers as u32, self.worker as u32);
        lo + ((w + n - lo % n) % n)
    }

    /// A free port of this worker's share on `lip` for `proto`, marked used.
    pub fn take(&mut self, lip: Ipv6Addr, proto: u8) -> Option<u16> {
        let hi = self.range.1;
        let n = self.workers;
        let first = self.first();
        if first > hi as u32 {
            return None;
        }
        let count = (hi as u32 - first) / n as u32 + 1;
        let set = self
            .used
            .entry((lip, proto))
            .or_insert_with(|| PortSet { bits: Box::new([0; 1024]), next: first });
        let mut p = set.next;
        for _ in 0..count {
            if p < first || p > hi as u32 {
                p = first;
            }
            let (word, bit) = ((p / 64) as usize, p % 64);
            if set.bits[word] & (1 << bit) == 0 {
                set.bits[word] |= 1 << bit;
                set.next = p + n as u32;
                return Some(p as u16);
            }
            p += n as u32;
        }
        None
    }

    /// Marks `port` used for a session synced from another director: false when it is
    /// not this worker's or already in use. (The pool is made if `lip` had none.)
    pub fn reserve(&mut self, lip: Ipv6Addr, proto: u8, port: u16) -> bool {
        if self.owner(port) != self.worker {
            return false;
        }
        let first = self.first();
        let set = self
            .used
            .entry((lip, proto))
            .or_insert_with(|| PortSet { bits: Box::new([0; 1024]), next: first });
        let (word, bit) = (port as usize / 64, port % 64);
        if set.bits[word] & (1 << bit) != 0 {
            return false;
        }
        set.bits[word] |= 1 << bit;
        true
    }

    pub fn give(&mut self, lip: Ipv6Addr, proto: u8, port: u16) {
        if let Some(set) = self.used.get_mut(&(lip, proto)) {
            set.bits[port as usize / 64] &= !(1 << (port % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn session(cport: u16, lport: u16, expires: u64) -> Session6 {
        Session6 {
            client: FlowKey6 {
                src: a("2001:db8:1::10"),
                dst: a("2001:db8::100"),
                sport: cport,
                dport: 80,
                proto: 6,
            },
            server: FlowKey6 {
                src: a("2001:db8:2::11"),
                dst: a("2001:db8:2::200"),
                sport: 80,
                dport: lport,
                proto: 6,
            },
            state: SessionState::SynRecv,
            expires: Time::from_secs(expires),
            real_slot: 0,
            svc_slot: 0,
            flags: 0,
            proxy: 0,
            client_isn: 0,
            proxy_len: 0,
            persist: None,
        }
    }

    #[test]
    fn both_flows_find_the_session_and_removal_forgets_them() {
        let mut t = SessionTable6::new(2, 7);
        assert_eq!(t.insert(session(40000, 1026, 10)), Err(InsertError6::Full), "not reserved yet");
        t.reserve();
        let s = session(40000, 1026, 10);
        let id = t.insert(s).unwrap();
        assert_eq!(t.lookup(&s.client), Some((id, Direction::FromClient)));
        assert_eq!(t.lookup(&s.server), Some((id, Direction::FromServer)));
        assert_eq!(s.to_server().dst, a("2001:db8:2::11"));
        assert_eq!((s.to_client().src, s.to_client().dport), (a("2001:db8::100"), 40000));
        assert_eq!(t.insert(s), Err(InsertError6::Exists));
        t.insert(session(40001, 1028, 10)).unwrap();
        assert_eq!(t.insert(session(40002, 1030, 10)), Err(InsertError6::Full));
        assert_eq!(t.remove(id), Some(s));
        assert_eq!(t.lookup(&s.client), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().count(), 1);
        assert_eq!(t.iter_from(0).map(|(i, s)| (i, s.client.sport)).collect::<Vec<_>>(), vec![(1, 40001)]);
        assert_eq!(t.iter_from(2).count(), 0);
        assert_eq!(t.capacity(), 2);
    }

    #[test]
    fn the_sweep_expires_due_sessions_within_its_budget() {
        let mut t = SessionTable6::new(100, 7);
        t.reserve();
        for i in 0..10 {
            t.insert(session(40000 + i, 2000 + i, if i % 2 == 0 { 5 } else { 50 })).unwrap();
        }
        let mut out = Vec::new();
        t.expire(Time::from_secs(6), 4, &mut out);
        assert!(out.len() <= 4);
        t.expire(Time::from_secs(6), 100, &mut out);
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|s| s.expires == Time::from_secs(5)));
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn ports_are_this_workers_share_and_come_back() {
        let lip = a("2001:db8:2::200");
        let mut p = PortPool6::new(1, 2, (1025, 1030));
        let got: Vec<u16> = std::iter::from_fn(|| p.take(lip, 6)).collect();
        assert_eq!(got, vec![1025, 1027, 1029]);
        assert!(got.iter().all(|&x| p.owner(x) == 1));
        // Another protocol has its own ports.
        assert_eq!(p.take(lip, 17), Some(1025));
        p.give(lip, 6, 1027);
        assert_eq!(p.take(lip, 6), Some(1027));
        assert_eq!(p.take(lip, 6), None);
        // A synced session's port: taken only once, only on its owner, skipped by `take`.
        let mut w = PortPool6::new(1, 2, (1025, 1030));
        assert!(w.reserve(lip, 6, 1027));
        assert!(!w.reserve(lip, 6, 1027), "in use");
        assert!(!w.reserve(lip, 6, 1028), "worker 0's");
        assert_eq!(w.take(lip, 6), Some(1025));
        assert_eq!(w.take(lip, 6), Some(1029));
        w.give(lip, 6, 1027);
        assert_eq!(w.take(lip, 6), Some(1027));
        let mut w0 = PortPool6::new(0, 2, (1025, 1030));
        assert_eq!(w0.take(lip, 6), Some(1026));
        assert_eq!(PortPool6::new(0, 1, (65535, 65535)).take(lip, 6), Some(65535));
    }
}
