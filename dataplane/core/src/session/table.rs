//! The session table of one worker: a slab of sessions, two hash indexes (client flow
//! and reply flow) and a timer wheel. Owned by one worker; no locks.

use hashbrown::HashMap;

use super::timer::{TimerEntry, TimerWheel};
use super::{FlowKey, Session};
use crate::time::Time;

/// Handle of a live session; stale after the session is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session table full ({0} sessions)")]
pub struct TableFull(pub usize);

struct Slot {
    session: Session,
    generation: u32,
    live: bool,
    /// When this slot's tracked wheel entry fires. Other entries for the slot (left
    /// behind when the deadline moved earlier) are recognised and dropped.
    scheduled: Time,
}

type Index = HashMap<FlowKey, u32, ahash::RandomState>;

pub struct SessionTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_client: Index,
    by_reply: Index,
    wheel: TimerWheel,
    capacity: usize,
    due: Vec<TimerEntry>,
}

/// Wheel geometry: 100 ms ticks, 2048 slots (a turn is about 205 s).
const TICK_NS: u64 = 100_000_000;
const WHEEL_SLOTS: usize = 2048;

impl SessionTable {
    pub fn new(capacity: usize, now: Time) -> Self {
        let initial = capacity.min(1 << 16);
        SessionTable {
            slots: Vec::with_capacity(initial),
            free: Vec::new(),
            by_client: Index::with_capacity_and_hasher(initial, Default::default()),
            by_reply: Index::with_capacity_and_hasher(initial, Default::default()),
            wheel: TimerWheel::new(WHEEL_SLOTS, TICK_NS, now),
            capacity,
            due: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds a session indexed by both flows. The caller has checked that neither flow
    /// is present.
    pub fn insert(&mut self, session: Session) -> Result<SessionId, TableFull> {
        debug_assert!(!self.by_client.contains_key(&session.client));
        debug_assert!(!self.by_reply.contains_key(&session.reply));
        let idx = match self.free.pop() {
            Some(i) => {
                let slot = &mut self.slots[i as usize];
                slot.session = session;
                slot.live = true;
                i
            }
            None => {
                if self.slots.len() >= self.capacity {
                    return Err(TableFull(self.capacity));
                }
                self.slots.push(Slot { session, generation: 0, live: true, scheduled: Time::ZERO });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_client.insert(session.client, idx);
        self.by_reply.insert(session.reply, idx);
        let slot = &mut self.slots[idx as usize];
        slot.scheduled = self.wheel.schedule((idx, slot.generation), session.expires);
        Ok(SessionId(idx))
    }

    /// Call after moving a session's `expires`: a later deadline costs nothing (the
    /// timer is re-filed when it fires), an earlier one files an extra timer.
    #[inline]
    pub fn rearm(&mut self, id: SessionId) {
        let slot = &mut self.slots[id.0 as usize];
        if slot.session.expires < slot.scheduled {
            slot.scheduled = self.wheel.schedule((id.0, slot.generation), slot.session.expires);
        }
    }

    #[inline]
    pub fn find_client(&self, key: &FlowKey) -> Option<SessionId> {
        self.by_client.get(key).map(|&i| SessionId(i))
    }

    #[inline]
    pub fn find_reply(&self, key: &FlowKey) -> Option<SessionId> {
        self.by_reply.get(key).map(|&i| SessionId(i))
    }

    #[inline]
    pub fn get(&self, id: SessionId) -> &Session {
        &self.slots[id.0 as usize].session
    }

    #[inline]
    pub fn get_mut(&mut self, id: SessionId) -> &mut Session {
        &mut self.slots[id.0 as usize].session
    }

    /// Removes a live session and returns it.
    pub fn remove(&mut self, id: SessionId) -> Session {
        let slot = &mut self.slots[id.0 as usize];
        debug_assert!(slot.live);
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        let s = slot.session;
        self.by_client.remove(&s.client);
        self.by_reply.remove(&s.reply);
        self.free.push(id.0);
        s
    }

    /// Removes every session whose `expires` is at or before `now`, appending them to
    /// `expired`.
    pub fn expire(&mut self, now: Time, expired: &mut Vec<Session>) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.advance(now, &mut due);
        for (idx, generation) in due.drain(..) {
            let slot = &self.slots[idx as usize];
            if !slot.live || slot.generation != generation {
                continue; // removed earlier; the timer entry is stale
            }
            if slot.session.expires <= now {
                expired.push(self.remove(SessionId(idx)));
            } else if slot.scheduled <= now {
                // The tracked entry: follow the deadline to its new place.
                let at = slot.session.expires;
                let fire = self.wheel.schedule((idx, generation), at);
                self.slots[idx as usize].scheduled = fire;
            }
            // Otherwise a duplicate left by `rearm`: the tracked entry is still pending.
        }
        self.due = due;
    }

    #[cfg(test)]
    fn wheel_len(&self) -> usize {
        self.wheel.pending()
    }

    /// Every live session (for `ipvsadm -Lnc` and, later, cluster sync).
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().filter(|s| s.live).map(|s| &s.session)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SessionState, PROTO_TCP};
    use super::*;
    use std::net::Ipv4Addr;

    fn session(cport: u16, lport: u16, expires: u64) -> Session {
        Session {
            client: FlowKey {
                src: Ipv4Addr::new(198, 18, 0, 10),
                dst: Ipv4Addr::new(198, 18, 0, 100),
                sport: cport,
                dport: 80,
                proto: PROTO_TCP,
            },
            reply: FlowKey {
                src: Ipv4Addr::new(198, 19, 0, 11),
                dst: Ipv4Addr::new(198, 19, 0, 200),
                sport: 80,
                dport: lport,
                proto: PROTO_TCP,
            },
            state: SessionState::SynRecv,
            service_slot: 0,
            real_slot: 0,
            expires: Time::from_secs(expires),
            persist_client: None,
            flags: 0,
        }
    }

    #[test]
    fn both_directions_find_the_session() {
        let mut t = SessionTable::new(10, Time::ZERO);
        let s = session(40000, 1025, 30);
        let id = t.insert(s).unwrap();
        assert_eq!(t.find_client(&s.client), Some(id));
        assert_eq!(t.find_reply(&s.reply), Some(id));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(id), s);
        assert_eq!(t.find_client(&s.client), None);
        assert_eq!(t.find_reply(&s.reply), None);
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_is_an_error() {
        let mut t = SessionTable::new(2, Time::ZERO);
        t.insert(session(1, 1, 5)).unwrap();
        t.insert(session(2, 2, 5)).unwrap();
        assert_eq!(t.insert(session(3, 3, 5)), Err(TableFull(2)));
    }

    #[test]
    fn lifecycle_expiry_honours_extended_deadlines() {
        let mut t = SessionTable::new(10, Time::ZERO);
        let a = t.insert(session(1, 1, 5)).unwrap();
        t.insert(session(2, 2, 5)).unwrap();
        // Traffic on `a` pushes its deadline to 20 s.
        t.get_mut(a).expires = Time::from_secs(20);
        let mut out = Vec::new();
        t.expire(Time::from_secs(4), &mut out);
        assert!(out.is_empty());
        t.expire(Time::from_secs(6), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client.sport, 2);
        out.clear();
        t.expire(Time::from_secs(19), &mut out);
        assert!(out.is_empty(), "re-filed at its new deadline");
        t.expire(Time::from_secs(21), &mut out);
        assert_eq!(out.len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn removed_session_slot_reuse_ignores_old_timer() {
        let mut t = SessionTable::new(10, Time::ZERO);
        let a = t.insert(session(1, 1, 1)).unwrap();
        t.remove(a);
        let b = t.insert(session(2, 2, 100)).unwrap();
        assert_eq!(a, b, "slot reused");
        let mut out = Vec::new();
        t.expire(Time::from_secs(2), &mut out);
        assert!(out.is_empty(), "the old timer entry must not expire the new session");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn an_earlier_deadline_is_honoured() {
        let mut t = SessionTable::new(10, Time::ZERO);
        // SYN_RECV's 30 s, then ESTABLISHED with a 10 s timeout set at 1 s.
        let a = t.insert(session(1, 1, 30)).unwrap();
        t.get_mut(a).expires = Time::from_secs(11);
        t.rearm(a);
        let mut out = Vec::new();
        t.expire(Time::from_secs(10), &mut out);
        assert!(out.is_empty());
        t.expire(Time::from_secs(12), &mut out);
        assert_eq!(out.len(), 1, "gone at 11 s, not at 30 s");
    }

    #[test]
    fn rearm_duplicates_do_not_multiply() {
        let mut t = SessionTable::new(10, Time::ZERO);
        let a = t.insert(session(1, 1, 100)).unwrap();
        for s in 1..50u64 {
            // Deadline bounces earlier and later; traffic keeps it alive.
            t.get_mut(a).expires = Time::from_secs(s + if s % 2 == 0 { 5 } else { 50 });
            t.rearm(a);
            let mut out = Vec::new();
            t.expire(Time::from_secs(s), &mut out);
            assert!(out.is_empty());
        }
        let pending: usize = t.wheel_len();
        assert!(pending <= 60, "{pending} timer entries for one session");
        t.get_mut(a).expires = Time::from_secs(60);
        t.rearm(a);
        let mut out = Vec::new();
        t.expire(Time::from_secs(61), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn long_timeouts_beyond_one_wheel_turn() {
        let mut t = SessionTable::new(10, Time::ZERO);
        t.insert(session(1, 1, 900)).unwrap();
        let mut out = Vec::new();
        for s in (0..900).step_by(7) {
            t.expire(Time::from_secs(s), &mut out);
            assert!(out.is_empty(), "at {s}s");
        }
        t.expire(Time::from_secs(900), &mut out);
        assert_eq!(out.len(), 1);
    }
}
