//! The ARP neighbour table of one worker.
//!
//! Entries move Incomplete → Reachable → Stale → (probe) → Reachable or gone. Packets
//! for an unresolved next hop wait in a small bounded queue per entry; they are released
//! when the answer arrives and dropped (counted) when resolution fails. Every worker
//! keeps its own table; what one worker learns is sent to the others as a message
//! (see `worker`), so no table is shared between cores.

use hashbrown::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::route::PortIndex;
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
}

struct Entry<P> {
    mac: Mac,
    port: PortIndex,
    state: NeighState,
    /// Reachable: when it turns stale. Incomplete/Stale: when the next probe is due.
    deadline: Time,
    probes: u8,
    pending: Vec<P>,
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
pub struct Probe {
    pub port: PortIndex,
    pub ip: Ipv4Addr,
}

pub struct NeighTable<P> {
    entries: HashMap<Ipv4Addr, Entry<P>, ahash::RandomState>,
    params: NeighParams,
}

impl<P> NeighTable<P> {
    pub fn new(params: NeighParams) -> Self {
        NeighTable { entries: HashMap::default(), params }
    }

    /// The MAC for `ip` if known. A stale entry still answers (and is probed by `poll`).
    #[inline]
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<Mac> {
        match self.entries.get(&ip) {
            Some(e) if e.state != NeighState::Incomplete => Some(e.mac),
            _ => None,
        }
    }

    pub fn state(&self, ip: Ipv4Addr) -> Option<NeighState> {
        self.entries.get(&ip).map(|e| e.state)
    }

    /// Queues `pkt` until `ip` is resolved on `port`.
    pub fn hold(&mut self, ip: Ipv4Addr, port: PortIndex, pkt: P, now: Time) -> Hold<P> {
        let params = self.params;
        match self.entries.get_mut(&ip) {
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
                self.entries.insert(
                    ip,
                    Entry {
                        mac: [0; 6],
                        port,
                        state: NeighState::Incomplete,
                        deadline: now + params.retry_interval,
                        probes: 1,
                        pending,
                    },
                );
                Hold::QueuedSendRequest
            }
        }
    }

    /// Records `ip` at `mac` and hands back the packets that waited for it.
    pub fn learn(&mut self, ip: Ipv4Addr, mac: Mac, port: PortIndex, now: Time, released: &mut Vec<P>) {
        let deadline = now + self.params.reachable_time;
        let e = self.entries.entry(ip).or_insert_with(|| Entry {
            mac,
            port,
            state: NeighState::Reachable,
            deadline,
            probes: 0,
            pending: Vec::new(),
        });
        e.mac = mac;
        e.port = port;
        e.state = NeighState::Reachable;
        e.deadline = deadline;
        e.probes = 0;
        released.append(&mut e.pending);
    }

    /// Only refreshes an entry that exists (ARP traffic we merely overheard).
    pub fn refresh(&mut self, ip: Ipv4Addr, mac: Mac, port: PortIndex, now: Time, released: &mut Vec<P>) {
        if self.entries.contains_key(&ip) {
            self.learn(ip, mac, port, now, released);
        }
    }

    /// Advances timers: collects probes to send and packets whose resolution failed.
    pub fn poll(&mut self, now: Time, probes: &mut Vec<Probe>, failed: &mut Vec<P>) {
        let params = self.params;
        self.entries.retain(|&ip, e| {
            if now < e.deadline {
                return true;
            }
            match e.state {
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
            }
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        assert_eq!(t.lookup(IP), None);
        assert_eq!(t.hold(IP, 1, 10, now), Hold::QueuedSendRequest);
        assert_eq!(t.hold(IP, 1, 11, now), Hold::Queued);
        assert_eq!(t.hold(IP, 1, 12, now), Hold::Full(12));
        assert_eq!(t.lookup(IP), None, "incomplete entries do not answer");
        let mut out = Vec::new();
        t.learn(IP, MAC, 1, now, &mut out);
        assert_eq!(out, vec![10, 11]);
        assert_eq!(t.lookup(IP), Some(MAC));
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
        assert_eq!(t.state(IP), Some(NeighState::Stale));
        assert_eq!(t.lookup(IP), Some(MAC), "stale still forwards");
        assert_eq!(probes, vec![Probe { port: 1, ip: IP }]);
        t.learn(IP, MAC, 1, Time::from_secs(61), &mut v);
        assert_eq!(t.state(IP), Some(NeighState::Reachable));
        t.poll(Time::from_secs(122), &mut probes, &mut failed);
        t.poll(Time::from_secs(123), &mut probes, &mut failed);
        t.poll(Time::from_secs(124), &mut probes, &mut failed);
        t.poll(Time::from_secs(125), &mut probes, &mut failed);
        assert_eq!(t.lookup(IP), None, "no answer to probes: forgotten");
    }

    #[test]
    fn refresh_does_not_create() {
        let mut t = table();
        let mut v = Vec::new();
        t.refresh(IP, MAC, 0, Time::ZERO, &mut v);
        assert!(t.is_empty());
    }
}
