//! The neighbour table of one worker: ARP for IPv4, and (the same table over `Ipv6Addr`)
//! Neighbor Discovery for IPv6.
//!
//! Entries move Incomplete → Reachable → Stale → (probe) → Reachable or gone; static
//! entries from the configuration (`[[neighbour]]`, `ip neigh ... nud permanent`) stay
//! Permanent: never probed, never expired, never changed by ARP or NDP. Packets
//! for an unresolved next hop wait in a small bounded queue per entry; they are released
//! when the answer arrives and dropped (counted) when resolution fails. Every worker
//! keeps its own table; what one worker learns is sent to the others as a message
//! (see `worker`), so no table is shared between cores.
//!
//! Entries are keyed by (interface, address): a port's VLANs are separate broadcast
//! domains, so what is learned on one never answers for another.

use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::route::IfIndex;
use crate::time::Time;

pub type Mac = [u8; 6];

#[derive(Debug, Clone, Copy)]
pub struct NeighParams {
    /// How long an answer is trusted before the entry is re-probed.
    pub reachable_time: Duration,
    /// Interval between ARP requests for one address.
    pub retry_interval: Duration,
    /// Requests sent before giving up.
    pub max_probes: u8,
    /// Packets held per unresolved address.
    pub max_pending: usize,
}

impl Default for NeighParams {
    fn default() -> Self {
        NeighParams {
            reachable_time: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            max_probes: 3,
            max_pending: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    /// Configured: its MAC is what the configuration says, whatever the wire says.
    Permanent,
}

struct Entry<P> {
    mac: Mac,
    port: IfIndex,
    state: NeighState,
    /// Reachable: when it turns stale. Incomplete/Stale: when the next probe is due.
    deadline: Time,
    probes: u8,
    pending: Vec<P>,
}

/// One entry of a worker's tables as `rvsadm --neigh` lists it (IPv4 and IPv6 alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighEntry {
    pub addr: std::net::IpAddr,
    pub iface: IfIndex,
    /// None while incomplete.
    pub mac: Option<Mac>,
    pub state: NeighState,
    /// Packets waiting for the answer.
    pub queued: usize,
}

impl NeighState {
    /// As `rvsadm --neigh` prints it (the states of `ip neigh`, in lower case).
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "incomplete",
            NeighState::Reachable => "reachable",
            NeighState::Stale => "stale",
            NeighState::Permanent => "permanent",
        }
    }
}

/// What the caller must do after `hold`.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold<P> {
    /// Queued; send an ARP request for the address now.
    QueuedSendRequest,
    /// Queued behind a request already sent.
    Queued,
    /// The queue is full: the packet comes back to be dropped.
    Full(P),
}

/// A request the table wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe<A = Ipv4Addr> {
    pub port: IfIndex,
    pub ip: A,
}

/// What the fast path writes for a next hop: the frame's destination and source MACs
/// (the neighbour's, then its port's) and the port it leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthHop {
    pub macs: [u8; 12],
    pub port: IfIndex,
}

/// Entries live in slots with stable numbers, so a session can cache the number of its
/// next hop (`session::Hop`) and skip the route and neighbour lookups. The generation
/// changes whenever a slot is freed (its number may then name another address), which
/// invalidates every cached number at once.
pub struct NeighTable<P, A = Ipv4Addr> {
    slots: Vec<Option<(A, Entry<P>)>>,
    /// Per slot, the Ethernet header of an entry that answers (`eth_hop`): 16 bytes a
    /// slot, apart from the entries' queues, so the fast path reads one small line.
    eth: Vec<Option<EthHop>>,
    /// The MAC of each interface, for `eth`'s source half (`set_port_macs`).
    port_macs: Vec<Mac>,
    index: HashMap<(IfIndex, A), u16, ahash::RandomState>,
    free: Vec<u16>,
    generation: u16,
    params: NeighParams,
}

/// Generations count modulo this (15 bits): a session slot keeps its generation and a
/// mark of its own in one 16-bit word (`session::SessionTable::find_mut`).
pub const GENERATIONS: u16 = 0x8000;

/// At most this many neighbours per worker (slot numbers are 16-bit): `u16::MAX` is no
/// slot, which the session table's fast lookup relies on (`eth_hop` declines it).
const MAX_NEIGHBOURS: usize = u16::MAX as usize;

/// An address a neighbour table resolves: IPv4 (ARP) or IPv6 (Neighbor Discovery).
pub trait NeighAddr: Copy + Eq + std::hash::Hash {}
impl NeighAddr for Ipv4Addr {}
impl NeighAddr for std::net::Ipv6Addr {}

impl<P, A: NeighAddr> NeighTable<P, A> {
    pub fn new(params: NeighParams) -> Self {
        NeighTable {
            slots: Vec::new(),
            eth: Vec::new(),
            port_macs: Vec::new(),
            index: HashMap::default(),
            free: Vec::new(),
            generation: 0,
            params,
        }
    }

    /// The interfaces' MACs, by interface index: the source half of `eth_hop`.
    pub fn set_port_macs(&mut self, macs: Vec<Mac>) {
        self.port_macs = macs;
        for i in 0..self.slots.len() {
            self.refresh_eth(i);
        }
    }

    /// Brings slot `i`'s `eth` up to date with its entry.
    fn refresh_eth(&mut self, i: usize) {
        let hop = match &self.slots[i] {
            Some((_, e)) if e.state != NeighState::Incomplete => {
                let mut macs = [0; 12];
                macs[..6].copy_from_slice(&e.mac);
                macs[6..].copy_from_slice(self.port_macs.get(e.port as usize).unwrap_or(&[0; 6]));
                Some(EthHop { macs, port: e.port })
            }
            _ => None,
        };
        self.eth[i] = hop;
    }

    /// `at` as the fast path wants it: the Ethernet header for slot `i` and its port,
    /// while the entry answers.
    #[inline(always)]
    pub fn eth_hop(&self, i: u16) -> Option<&EthHop> {
        self.eth.get(i as usize)?.as_ref()
    }

    #[inline]
    fn entry(&self, port: IfIndex, ip: A) -> Option<&Entry<P>> {
        let &i = self.index.get(&(port, ip))?;
        self.slots[i as usize].as_ref().map(|(_, e)| e)
    }

    #[inline]
    fn entry_mut(&mut self, port: IfIndex, ip: A) -> Option<&mut Entry<P>> {
        let &i = self.index.get(&(port, ip))?;
        self.slots[i as usize].as_mut().map(|(_, e)| e)
    }

    /// The MAC for `ip` if known. A stale entry still answers (and is probed by `poll`).
    #[inline]
    pub fn lookup(&self, port: IfIndex, ip: A) -> Option<Mac> {
        self.resolve(port, ip).and_then(|i| self.at(i)).map(|(mac, _)| mac)
    }

    /// The slot number of `ip`'s entry, if it answers (for a session's next-hop cache).
    #[inline]
    pub fn resolve(&self, port: IfIndex, ip: A) -> Option<u16> {
        let &i = self.index.get(&(port, ip))?;
        match &self.slots[i as usize] {
            Some((_, e)) if e.state != NeighState::Incomplete => Some(i),
            _ => None,
        }
    }

    /// MAC and port of slot `i` while it answers. Valid for numbers that `resolve` gave
    /// under the current `generation`.
    #[inline]
    pub fn at(&self, i: u16) -> Option<(Mac, IfIndex)> {
        match self.slots.get(i as usize) {
            Some(Some((_, e))) if e.state != NeighState::Incomplete => Some((e.mac, e.port)),
            _ => None,
        }
    }

    /// Changes whenever a slot number may have come to name another neighbour, or the
    /// owner asks (`invalidate_cached_hops`).
    #[inline]
    pub fn generation(&self) -> u16 {
        self.generation
    }

    /// Moves the generation on: every next hop cached under the old one is stale.
    pub fn invalidate_cached_hops(&mut self) {
        self.generation = (self.generation + 1) % GENERATIONS;
    }

    pub fn state(&self, port: IfIndex, ip: A) -> Option<NeighState> {
        self.entry(port, ip).map(|e| e.state)
    }

    /// Files a new entry; gives it back when the table is full.
    fn insert(&mut self, ip: A, e: Entry<P>) -> Result<(), Entry<P>> {
        let i = match self.free.pop() {
            Some(i) => i,
            None if self.slots.len() < MAX_NEIGHBOURS => {
                self.slots.push(None);
                self.eth.push(None);
                (self.slots.len() - 1) as u16
            }
            None => return Err(e),
        };
        self.index.insert((e.port, ip), i);
        self.slots[i as usize] = Some((ip, e));
        self.refresh_eth(i as usize);
        Ok(())
    }

    /// Queues `pkt` until `ip` is resolved on `port`.
    pub fn hold(&mut self, ip: A, port: IfIndex, pkt: P, now: Time) -> Hold<P> {
        let params = self.params;
        match self.entry_mut(port, ip) {
            Some(e) => {
                if e.pending.len() >= params.max_pending {
                    return Hold::Full(pkt);
                }
                e.pending.push(pkt);
                Hold::Queued
            }
            None => {
                let mut pending = Vec::with_capacity(4);
                pending.push(pkt);
                let e = Entry {
                    mac: [0; 6],
                    port,
                    state: NeighState::Incomplete,
                    deadline: now + params.retry_interval,
                    probes: 1,
                    pending,
                };
                if let Err(Entry { mut pending, .. }) = self.insert(ip, e) {
                    return Hold::Full(pending.pop().expect("the packet just queued"));
                }
                Hold::QueuedSendRequest
            }
        }
    }

    /// Files `ip` on `port` at `mac` for good (a configured neighbour): it replaces what
    /// was learned. False when the table is full.
    pub fn add_permanent(&mut self, ip: A, mac: Mac, port: IfIndex) -> bool {
        let e = Entry {
            mac,
            port,
            state: NeighState::Permanent,
            deadline: Time::ZERO,
            probes: 0,
            pending: Vec::new(),
        };
        match self.index.get(&(port, ip)) {
            Some(&i) => {
                if let Some((_, old)) = &mut self.slots[i as usize] {
                    let pending = std::mem::take(&mut old.pending);
                    *old = Entry { pending, ..e };
                }
                self.refresh_eth(i as usize);
                // A session may cache this slot with the MAC it had.
                self.invalidate_cached_hops();
                true
            }
            None => self.insert(ip, e).is_ok(),
        }
    }

    /// Records `ip` at `mac` and hands back the packets that waited for it.
    pub fn learn(&mut self, ip: A, mac: Mac, port: IfIndex, now: Time, released: &mut Vec<P>) {
        let deadline = now + self.params.reachable_time;
        if !self.index.contains_key(&(port, ip)) {
            let e =
                Entry { mac, port, state: NeighState::Reachable, deadline, probes: 0, pending: Vec::new() };
            // A full table learns nothing new; the packets keep using the slow path.
            let _ = self.insert(ip, e);
            return;
        }
        let i = self.index[&(port, ip)] as usize;
        if let Some((_, e)) = &mut self.slots[i] {
            if e.state == NeighState::Permanent {
                // What the wire says does not move a configured entry (nor can a forged
                // ARP reply redirect its traffic).
                released.append(&mut e.pending);
                return;
            }
            e.mac = mac;
            e.state = NeighState::Reachable;
            e.deadline = deadline;
            e.probes = 0;
            released.append(&mut e.pending);
        }
        self.refresh_eth(i);
    }

    /// Only refreshes an entry that exists (ARP traffic we merely overheard).
    pub fn refresh(&mut self, ip: A, mac: Mac, port: IfIndex, now: Time, released: &mut Vec<P>) {
        if self.index.contains_key(&(port, ip)) {
            self.learn(ip, mac, port, now, released);
        }
    }

    /// Advances timers: collects probes to send and packets whose resolution failed.
    pub fn poll(&mut self, now: Time, probes: &mut Vec<Probe<A>>, failed: &mut Vec<P>) {
        let params = self.params;
        for i in 0..self.slots.len() {
            let Some((ip, e)) = &mut self.slots[i] else { continue };
            let ip = *ip;
            if now < e.deadline || e.state == NeighState::Permanent {
                continue;
            }
            let keep = match e.state {
                NeighState::Permanent => true,
                NeighState::Reachable => {
                    e.state = NeighState::Stale;
                    e.probes = 1;
                    e.deadline = now + params.retry_interval;
                    probes.push(Probe { port: e.port, ip });
                    true
                }
                NeighState::Incomplete | NeighState::Stale => {
                    if e.probes >= params.max_probes {
                        failed.append(&mut e.pending);
                        false
                    } else {
                        e.probes += 1;
                        e.deadline = now + params.retry_interval;
                        probes.push(Probe { port: e.port, ip });
                        true
                    }
                }
            };
            if !keep {
                let port = e.port;
                self.slots[i] = None;
                self.eth[i] = None;
                self.index.remove(&(port, ip));
                self.free.push(i as u16);
                self.generation = (self.generation + 1) % GENERATIONS;
            }
        }
    }

    /// Removes `ip`'s entry on `port` (`rvsadm --neigh del`, `ip neigh del`): the packets
    /// that waited for it come back, to be dropped. False when there was none.
    pub fn remove(&mut self, port: IfIndex, ip: A, dropped: &mut Vec<P>) -> bool {
        let Some(i) = self.index.remove(&(port, ip)) else { return false };
        if let Some((_, mut e)) = self.slots[i as usize].take() {
            dropped.append(&mut e.pending);
        }
        self.eth[i as usize] = None;
        self.free.push(i);
        // A session may cache this slot's number, which may come to name another.
        self.invalidate_cached_hops();
        true
    }

    /// Every entry: address, interface, MAC (None while incomplete), state and the
    /// packets waiting, in slot order (`rvsadm --neigh`).
    pub fn entries(&self) -> impl Iterator<Item = NeighEntry> + '_
    where
        A: Into<std::net::IpAddr>,
    {
        self.slots.iter().flatten().map(|(ip, e)| NeighEntry {
            addr: (*ip).into(),
            iface: e.port,
            mac: (e.state != NeighState::Incomplete).then_some(e.mac),
            state: e.state,
            queued: e.pending.len(),
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    const MAC: Mac = [2, 0, 0, 0, 0, 11];

    fn table() -> NeighTable<u32> {
        NeighTable::new(NeighParams { max_pending: 2, ..Default::default() })
    }

    #[test]
    fn hold_then_learn_releases_in_order() {
        let mut t = table();
        let now = Time::from_secs(1);
        assert_eq!(t.lookup(1, IP), None);
        assert_eq!(t.hold(IP, 1, 10, now), Hold::QueuedSendRequest);
        assert_eq!(t.hold(IP, 1, 11, now), Hold::Queued);
        assert_eq!(t.hold(IP, 1, 12, now), Hold::Full(12));
        assert_eq!(t.lookup(1, IP), None, "incomplete entries do not answer");
        let mut out = Vec::new();
        t.learn(IP, MAC, 1, now, &mut out);
        assert_eq!(out, vec![10, 11]);
        assert_eq!(t.lookup(1, IP), Some(MAC));
    }

    /// The fast path's copy of an entry (`eth_hop`) follows it: none while incomplete,
    /// the neighbour's MAC and its port's once learned, the new MAC when it changes, none
    /// once the slot is freed.
    #[test]
    fn eth_hop_follows_the_entry() {
        let mut t = table();
        t.set_port_macs(vec![[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]]);
        let mut v = Vec::new();
        t.hold(IP, 1, 10, Time::ZERO);
        let i = t.index[&(1, IP)];
        assert_eq!(t.eth_hop(i), None, "incomplete");
        t.learn(IP, MAC, 1, Time::ZERO, &mut v);
        let want = |m: Mac| {
            let mut macs = [0; 12];
            macs[..6].copy_from_slice(&m);
            macs[6..].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
            Some(EthHop { macs, port: 1 })
        };
        assert_eq!(t.eth_hop(i).copied(), want(MAC));
        assert_eq!(t.at(i), Some((MAC, 1)));
        let moved = [2, 0, 0, 0, 0, 99];
        t.learn(IP, moved, 1, Time::ZERO, &mut v);
        assert_eq!(t.eth_hop(i).copied(), want(moved), "a new MAC is seen at once");
        let (mut probes, mut failed) = (Vec::new(), Vec::new());
        for s in [61, 62, 63, 64] {
            t.poll(Time::from_secs(s), &mut probes, &mut failed);
        }
        assert!(t.is_empty(), "never reconfirmed: gone");
        assert_eq!(t.eth_hop(i), None);
    }

    #[test]
    fn unanswered_requests_fail_after_max_probes() {
        let mut t = table();
        t.hold(IP, 1, 10, Time::from_secs(0));
        let (mut probes, mut failed) = (Vec::new(), Vec::new());
        t.poll(Time::from_millis(500), &mut probes, &mut failed);
        assert!(probes.is_empty());
        t.poll(Time::from_secs(1), &mut probes, &mut failed);
        t.poll(Time::from_secs(2), &mut probes, &mut failed);
        assert_eq!(probes.len(), 2, "two retries after the first request");
        assert!(failed.is_empty());
        t.poll(Time::from_secs(3), &mut probes, &mut failed);
        assert_eq!(failed, vec![10]);
        assert!(t.is_empty());
    }

    #[test]
    fn reachable_goes_stale_then_is_reconfirmed_or_dropped() {
        let mut t = table();
        let mut v = Vec::new();
        t.learn(IP, MAC, 1, Time::ZERO, &mut v);
        let (mut probes, mut failed) = (Vec::new(), Vec::new());
        t.poll(Time::from_secs(61), &mut probes, &mut failed);
        assert_eq!(t.state(1, IP), Some(NeighState::Stale));
        assert_eq!(t.lookup(1, IP), Some(MAC), "stale still forwards");
        assert_eq!(probes, vec![Probe { port: 1, ip: IP }]);
        t.learn(IP, MAC, 1, Time::from_secs(61), &mut v);
        assert_eq!(t.state(1, IP), Some(NeighState::Reachable));
        t.poll(Time::from_secs(122), &mut probes, &mut failed);
        t.poll(Time::from_secs(123), &mut probes, &mut failed);
        t.poll(Time::from_secs(124), &mut probes, &mut failed);
        t.poll(Time::from_secs(125), &mut probes, &mut failed);
        assert_eq!(t.lookup(1, IP), None, "no answer to probes: forgotten");
    }

    /// A configured neighbour answers at once, is never probed nor forgotten, and keeps
    /// its MAC against ARP saying otherwise; it replaces a learned entry of its address
    /// (moving the generation, so cached next hops are looked up again).
    #[test]
    fn a_permanent_entry_is_never_probed_expired_or_moved() {
        let mut t = table();
        t.set_port_macs(vec![[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]]);
        let mut v = Vec::new();
        assert!(t.add_permanent(IP, MAC, 1));
        assert_eq!(t.state(1, IP), Some(NeighState::Permanent));
        let i = t.resolve(1, IP).expect("answers at once");
        assert_eq!(t.eth_hop(i).map(|h| h.macs[..6].to_vec()), Some(MAC.to_vec()));
        t.learn(IP, [2, 0, 0, 0, 0, 66], 1, Time::ZERO, &mut v);
        t.refresh(IP, [2, 0, 0, 0, 0, 67], 1, Time::ZERO, &mut v);
        assert_eq!(t.lookup(1, IP), Some(MAC), "a forged or moved ARP answer does not move it");
        let (mut probes, mut failed) = (Vec::new(), Vec::new());
        for s in [61, 62, 63, 64, 3600, 86_400] {
            t.poll(Time::from_secs(s), &mut probes, &mut failed);
        }
        assert!(probes.is_empty(), "never probed: {probes:?}");
        assert_eq!(t.lookup(1, IP), Some(MAC), "never forgotten");

        let other = Ipv4Addr::new(198, 19, 0, 12);
        t.learn(other, [2, 0, 0, 0, 0, 12], 1, Time::ZERO, &mut v);
        let g = t.generation();
        assert!(t.add_permanent(other, [2, 0, 0, 0, 0, 13], 1));
        assert_eq!(
            t.lookup(1, other),
            Some([2, 0, 0, 0, 0, 13]),
            "the configured MAC replaces the learned one"
        );
        assert_eq!(t.state(1, other), Some(NeighState::Permanent));
        assert_ne!(t.generation(), g, "cached next hops must be looked up again");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn interfaces_are_separate() {
        let mut t = table();
        let mut v = Vec::new();
        t.learn(IP, MAC, 2, Time::ZERO, &mut v);
        assert_eq!(t.lookup(2, IP), Some(MAC));
        assert_eq!(t.lookup(3, IP), None, "learned on VLAN interface 2 only");
        t.learn(IP, [2, 0, 0, 0, 0, 99], 3, Time::ZERO, &mut v);
        assert_eq!(t.lookup(2, IP), Some(MAC), "another VLAN's claim does not move it");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn refresh_does_not_create() {
        let mut t = table();
        let mut v = Vec::new();
        t.refresh(IP, MAC, 0, Time::ZERO, &mut v);
        assert!(t.is_empty());
    }

    #[test]
    fn removed_entries_are_gone_with_their_queue_and_their_slot_numbers() {
        let mut t = table();
        t.set_port_macs(vec![[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]]);
        let (now, mut v) = (Time::from_secs(1), Vec::new());
        let other = Ipv4Addr::new(198, 19, 0, 12);
        assert!(t.add_permanent(IP, MAC, 1));
        assert_eq!(t.hold(other, 1, 7, now), Hold::QueuedSendRequest);
        let mut rows: Vec<_> = t.entries().map(|e| (e.addr, e.iface, e.mac, e.state, e.queued)).collect();
        rows.sort_by_key(|r| r.0);
        assert_eq!(
            rows,
            vec![
                (IP.into(), 1, Some(MAC), NeighState::Permanent, 0),
                (other.into(), 1, None, NeighState::Incomplete, 1)
            ]
        );
        let slot = t.resolve(1, IP).unwrap();
        let g = t.generation();
        assert!(!t.remove(0, IP, &mut v), "another interface's: nothing to remove");
        assert!(t.remove(1, IP, &mut v));
        assert!(!t.remove(1, IP, &mut v), "gone");
        assert_eq!(t.lookup(1, IP), None);
        assert_eq!(t.eth_hop(slot), None, "the fast path's copy goes too");
        assert_ne!(t.generation(), g, "cached next hops must be looked up again");
        assert!(t.remove(1, other, &mut v));
        assert_eq!(v, vec![7], "the waiting packet comes back to be dropped");
        assert!(t.is_empty());
        // Learned again, into a freed slot, from the wire as before.
        t.learn(IP, [2, 0, 0, 0, 0, 66], 1, now, &mut v);
        assert_eq!(t.state(1, IP), Some(NeighState::Reachable));
        assert_eq!(t.lookup(1, IP), Some([2, 0, 0, 0, 0, 66]));
    }
}
