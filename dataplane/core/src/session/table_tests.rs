//! Tests of the session table (`table.rs`): lookups in both directions, a full table,
//! eviction of half-open sessions, the slot's size, expiry on the timer wheel (extended,
//! earlier and long deadlines, reused slots), cached next hops and readiness, hinted
//! lookups, the memory advice, and random operations against a map.

use super::super::{PersistClient, SessionState, PROTO_TCP};
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
        persist_client: PersistClient::NONE,
        flags: 0,
    }
}

#[test]
fn eviction_takes_the_oldest_half_open_session_and_skips_the_others() {
    let mut t = SessionTable::new(4, Time::ZERO);
    let ids: Vec<SessionId> = (0..4).map(|i| t.insert(session(40000 + i, 1025 + i, 30)).unwrap()).collect();
    for &id in &ids {
        t.note_embryonic(id);
    }
    t.get_mut(ids[0]).state = SessionState::Established; // completed its handshake
    t.remove(ids[1]); // ended
    let victim = t.evict_embryonic().expect("a half-open session");
    assert_eq!(victim.client.sport, 40002, "the oldest still half-open");
    assert_eq!(t.len(), 2);
    assert_eq!(t.evict_embryonic().map(|s| s.client.sport), Some(40003));
    assert_eq!(t.evict_embryonic(), None, "the established one is never taken");
    assert_eq!(t.len(), 1);
}

#[test]
fn both_directions_find_the_session() {
    let mut t = SessionTable::new(10, Time::ZERO);
    let s = session(40000, 1025, 30);
    let id = t.insert(s).unwrap();
    assert_eq!(t.lookup(&s.client), Some((id, Direction::FromClient)));
    assert_eq!(t.lookup(&s.reply), Some((id, Direction::FromServer)));
    assert_eq!(t.find_client(&s.client), Some(id));
    assert_eq!(t.find_reply(&s.reply), Some(id));
    assert_eq!(t.find_client(&s.reply), None, "a reply flow is not a client flow");
    assert_eq!(t.len(), 1);
    assert_eq!(t.remove(id), s);
    assert_eq!(t.lookup(&s.client), None);
    assert_eq!(t.lookup(&s.reply), None);
    assert!(t.is_empty());
    assert_eq!(t.filed(), 0);
}

#[test]
fn full_table_refuses_and_never_grows() {
    let mut t = SessionTable::new(2, Time::ZERO);
    let (reserved, positions) = (t.bytes_reserved(), t.slots.capacity());
    assert_eq!(positions, t.positions());
    let a = t.insert(session(1, 1, 5)).unwrap();
    t.insert(session(2, 2, 5)).unwrap();
    // Free positions are left (1.43 a session and whole lines of them), but no session.
    assert_eq!(t.insert(session(3, 3, 5)), Err(TableFull(2)));
    assert_eq!(t.lookup(&session(3, 3, 5).client), None, "nothing of the refused session is left");
    assert_eq!(t.slots.capacity(), positions, "no growth");
    assert_eq!(t.bytes_reserved(), reserved);
    t.remove(a);
    let c = t.insert(session(3, 3, 5)).unwrap();
    assert_eq!(t.lookup(&session(3, 3, 5).reply), Some((c, Direction::FromServer)));
    assert_eq!(t.slots.capacity(), positions, "no growth");
    assert_eq!(t.len(), 2);
}

#[test]
fn slot_is_one_cache_line_and_a_session_costs_under_128_bytes() {
    assert_eq!(std::mem::size_of::<Slot>(), 64);
    assert_eq!(std::mem::align_of::<Slot>(), 64);
    for cap in [1000usize, 100_000, 10_000_000] {
        let t = SessionTable::new(cap, Time::ZERO);
        let per = t.bytes_reserved() as f64 / cap as f64;
        assert!(per <= 128.0, "{per} bytes per session at {cap}");
    }
}

#[test]
fn lifecycle_expiry_honours_extended_deadlines() {
    let mut t = SessionTable::new(10, Time::ZERO);
    let a = t.insert(session(1, 1, 5)).unwrap();
    t.insert(session(2, 2, 5)).unwrap();
    // Traffic on `a` pushes its deadline to 20 s.
    t.get_mut(a).expires = Time::from_secs(20);
    t.rearm(a);
    let mut out = Vec::new();
    t.expire(Time::from_secs(4), 0, &mut out);
    assert!(out.is_empty());
    t.expire(Time::from_secs(6), 0, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].client.sport, 2);
    out.clear();
    t.expire(Time::from_secs(19), 0, &mut out);
    assert!(out.is_empty(), "filed again at its new deadline");
    t.expire(Time::from_secs(21), 0, &mut out);
    assert_eq!(out.len(), 1);
    assert!(t.is_empty());
}

#[test]
fn removed_session_slot_reuse_ignores_old_timer() {
    let mut t = SessionTable::new(10, Time::ZERO);
    let a = t.insert(session(1, 1, 1)).unwrap();
    t.remove(a);
    // The same client flow again: the same position of its line.
    let b = t.insert(session(1, 2, 100)).unwrap();
    assert_eq!(a, b, "slot reused");
    let mut out = Vec::new();
    t.expire(Time::from_secs(2), 0, &mut out);
    assert!(out.is_empty(), "the old deadline must not expire the new session");
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
    t.expire(Time::from_secs(10), 0, &mut out);
    assert!(out.is_empty());
    t.expire(Time::from_secs(12), 0, &mut out);
    assert_eq!(out.len(), 1, "gone at 11 s, not at 30 s");
}

#[test]
fn a_slot_is_filed_once_however_its_deadline_moves() {
    let mut t = SessionTable::new(10, Time::ZERO);
    let a = t.insert(session(1, 1, 100)).unwrap();
    for s in 1..50u64 {
        // Deadline bounces earlier and later; traffic keeps it alive.
        t.get_mut(a).expires = Time::from_secs(s + if s % 2 == 0 { 5 } else { 50 });
        t.rearm(a);
        let mut out = Vec::new();
        t.expire(Time::from_secs(s), 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(t.filed(), 1);
    }
    t.get_mut(a).expires = Time::from_secs(60);
    t.rearm(a);
    let mut out = Vec::new();
    t.expire(Time::from_secs(61), 0, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn long_timeouts_beyond_one_wheel_turn() {
    let mut t = SessionTable::new(10, Time::ZERO);
    t.insert(session(1, 1, 900)).unwrap();
    let mut out = Vec::new();
    for s in (0..900).step_by(7) {
        t.expire(Time::from_secs(s), 0, &mut out);
        assert!(out.is_empty(), "at {s}s");
    }
    t.expire(Time::from_secs(900), 0, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn many_sessions_expire_in_order_and_unlink_cleanly() {
    let mut t = SessionTable::new(1000, Time::ZERO);
    let ids: Vec<_> = (0..1000u16).map(|i| t.insert(session(i, i, 1 + (i % 20) as u64)).unwrap()).collect();
    // Remove every third from the middle of their wheel lists.
    for id in ids.iter().step_by(3) {
        t.remove(*id);
    }
    let mut out = Vec::new();
    for s in 1..=21 {
        t.expire(Time::from_secs(s), 0, &mut out);
        assert!(out.iter().all(|x| x.expires <= Time::from_secs(s)));
    }
    assert_eq!(out.len(), 1000 - 334);
    assert!(t.is_empty());
    assert_eq!(t.filed(), 0);
}

#[test]
fn hops_are_per_direction_and_per_generation() {
    let mut t = SessionTable::new(4, Time::ZERO);
    let a = t.insert(session(1, 1, 5)).unwrap();
    assert_eq!(t.hop(a, Direction::FromClient, 0), None);
    t.set_hop(a, Direction::FromClient, Hop { gen: 3, neigh: 7 });
    t.set_hop(a, Direction::FromServer, Hop { gen: 3, neigh: 9 });
    assert_eq!(t.hop(a, Direction::FromClient, 3), Some(7));
    assert_eq!(t.hop(a, Direction::FromServer, 3), Some(9));
    assert_eq!(t.hop(a, Direction::FromClient, 4), None, "a new generation invalidates");
    t.set_hop(a, Direction::FromClient, Hop { gen: 4, neigh: 1 });
    assert_eq!(t.hop(a, Direction::FromServer, 4), None, "the other direction was reset");
}

/// The fast path's checks of a session hold until it changes or the generation moves:
/// a new session is not ready, `set_ready` makes it so (with its deltas), `get_mut`
/// and a next hop of a new generation undo it; another generation finds nothing.
#[test]
fn readiness_lasts_until_the_session_or_the_generation_changes() {
    let mut t = SessionTable::new(4, Time::ZERO);
    let a = t.insert(session(1, 1, 5)).unwrap();
    let k = t.get(a).client;
    let (h, w) = (t.hash(&k), k.words());
    let ready = |t: &mut SessionTable, gen| t.find_mut(h, &w, Hint::NONE, gen).map(|f| f.ready());
    t.set_hop(a, Direction::FromClient, Hop { gen: 2, neigh: 7 });
    assert_eq!(ready(&mut t, 2), Some(false));
    let mut f = t.find_mut(h, &w, Hint::NONE, 2).unwrap();
    f.set_ready();
    let (s, delta) = (*f.session(), f.delta());
    assert_eq!((f.hop(), f.dir), (7, Direction::FromClient));
    assert_eq!(delta, RewriteDelta::between(&s.client, &s.reply));
    assert_eq!(ready(&mut t, 2), Some(true));
    assert_eq!(ready(&mut t, 3), None, "another generation");
    t.get_mut(a).state = SessionState::FinWait;
    assert_eq!(ready(&mut t, 2), Some(false), "changed");
    t.find_mut(h, &w, Hint::NONE, 2).unwrap().set_ready();
    t.set_hop(a, Direction::FromServer, Hop { gen: 2, neigh: 9 });
    assert_eq!(ready(&mut t, 2), Some(true), "a hop of the same generation keeps it");
    t.set_hop(a, Direction::FromServer, Hop { gen: 3, neigh: 9 });
    assert_eq!(ready(&mut t, 3), Some(false), "a new generation voids it");
}

/// The wheel's visit of a live slot forgets next hops half the generation count old
/// (which would name any neighbour once the count wraps) and keeps recent ones.
#[test]
fn the_wheel_forgets_next_hops_of_a_generation_long_past() {
    let mut t = SessionTable::new(4, Time::ZERO);
    let (old, recent) = (t.insert(session(1, 1, 900)).unwrap(), t.insert(session(2, 2, 900)).unwrap());
    let half = crate::neigh::GENERATIONS / 2;
    t.set_hop(old, Direction::FromClient, Hop { gen: 5, neigh: 7 });
    t.set_hop(recent, Direction::FromClient, Hop { gen: 6, neigh: 8 });
    let mut out = Vec::new();
    // A whole turn of the wheel visits (and refiles) both slots.
    t.expire(Time::from_secs(210), 5 + half, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.hop(old, Direction::FromClient, 5), None, "forgotten");
    assert_eq!(t.hop(old, Direction::FromClient, 5 + half), None);
    assert_eq!(t.hop(recent, Direction::FromClient, 6), Some(8), "kept");
}

/// A stage-1 hint is only a guess: one taken before the session went away, or one
/// pointing at another flow, must give what the full lookup gives.
#[test]
fn hinted_lookup_never_trusts_a_stale_or_wrong_hint() {
    let mut t = SessionTable::new(8, Time::ZERO);
    let a = t.insert(session(1, 1, 5)).unwrap();
    let b = t.insert(session(2, 2, 5)).unwrap();
    let (ka, kb) = (t.get(a).client, t.get(b).reply);
    let (ha, hb) = (t.hash(&ka), t.hash(&kb));
    let hint_a = t.hint(ha);
    assert_eq!(hint_a.hit().map(|h| h.slot), Some(a.0), "the home bucket's candidate");
    assert!(t.slot_addr(hint_a).is_some());
    assert_eq!(t.lookup_hinted(ha, &ka, hint_a), Some((a, Direction::FromClient)));
    // The other session's hint, or none: the probe still finds the flow.
    assert_eq!(t.lookup_hinted(ha, &ka, t.hint(hb)), Some((a, Direction::FromClient)));
    assert_eq!(t.lookup_hinted(hb, &kb, Hint::NONE), Some((b, Direction::FromServer)));
    // Removed after the hint was taken (a RST earlier in the burst): not found, though
    // the freed slot keeps the old addresses and ports (its protocol is 0).
    t.set_hop(a, Direction::FromClient, Hop { gen: 0, neigh: 1 });
    assert!(t.find_mut(ha, &ka.words(), hint_a, 0).is_some());
    t.remove(a);
    assert_eq!(t.lookup_hinted(ha, &ka, hint_a), None);
    assert!(t.find_mut(ha, &ka.words(), hint_a, 0).is_none());
    assert_eq!(t.lookup(&ka), None);
}

/// The advice hook sees the tags', the slots' and the index's whole regions (what the
/// edge asks huge pages for), before the table is used.
#[test]
fn memory_advice_covers_every_region() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    fn record(addr: *const u8, len: usize) {
        SEEN.lock().unwrap().push((addr as usize, len));
    }
    let t = SessionTable::with_advice(1000, Time::ZERO, 1, Some(record));
    let seen = SEEN.lock().unwrap().clone();
    let (s, g, i) = (t.slot_region(), t.tag_region(), t.index_region());
    assert_eq!(seen, vec![(g.0 as usize, g.1), (s.0 as usize, s.1), (i.0 as usize, i.1)]);
    assert!(s.1 >= 1000 * 10 / 7 * 64 && g.1 >= 1000 * 10 / 7 * 2 && i.1 >= 1000 / 6 * 64, "{seen:?}");
}

/// Sessions whose client flow found its line of tags full: placed in another line,
/// found through the index in both directions, and removed from it without a trace.
#[test]
fn a_session_whose_line_was_full_is_found_through_the_index() {
    let mut t = SessionTable::new(44, Time::ZERO);
    assert_eq!(t.positions(), 64, "two lines");
    // 34 client flows of line 0: the last two overflow into line 1.
    let line0: Vec<u16> =
        (1..u16::MAX).filter(|&p| t.tags.line(t.hash(&session(p, p, 5).client)) == 0).take(35).collect();
    let ids: Vec<SessionId> = line0[..34].iter().map(|&p| t.insert(session(p, p, 5)).unwrap()).collect();
    for (i, (&p, &id)) in line0.iter().zip(&ids).enumerate() {
        let s = session(p, p, 5);
        assert_eq!(t.lookup(&s.client), Some((id, Direction::FromClient)), "flow {i}");
        assert_eq!(t.lookup(&s.reply), Some((id, Direction::FromServer)), "flow {i}");
        assert_eq!(t.tags.overflowed(id.0 as usize), i >= 32, "flow {i}");
        assert_eq!((id.0 as usize) < 32, i < 32, "flow {i} at {}", id.0);
        assert_ne!(t.hint(t.hash(&s.client)), Hint::NONE, "flow {i}");
    }
    // An overflowed session leaves the index; its position comes free.
    let gone = session(line0[33], line0[33], 5);
    t.remove(ids[33]);
    assert_eq!(t.lookup(&gone.client), None);
    assert_eq!(t.lookup(&gone.reply), None);
    assert!(!t.tags.overflowed(ids[33].0 as usize));
    // A session of line 0 leaves: the next flow of line 0 takes its position, by its tag.
    t.remove(ids[5]);
    let next = t.insert(session(line0[34], line0[34], 5)).unwrap();
    assert_eq!(next, ids[5]);
    assert!(!t.tags.overflowed(next.0 as usize));
    assert_eq!(t.lookup(&session(line0[34], line0[34], 5).client), Some((next, Direction::FromClient)));
    assert_eq!(t.lookup(&session(line0[32], line0[32], 5).client), Some((ids[32], Direction::FromClient)));
    assert_eq!(t.len(), 33);
    assert_eq!(t.filed(), 33);
}

/// Against a map: random inserts, removals and expiries on a small table (two lines of
/// tags, so lines fill and sessions overflow into the index and come back), after each of
/// which every live session is found from both flows, by the plain and the hinted
/// lookups, and every removed one from neither.
mod against_a_map {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u8),
        Remove(u16),
        Expire(u8),
    }

    /// Flows by number: 0..80 of line 0 (more than its 32 positions), the rest anywhere.
    const FLOWS: u16 = 120;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..FLOWS, 1u8..200).prop_map(|(p, e)| Op::Insert(p, e)),
            2 => (0..FLOWS).prop_map(Op::Remove),
            1 => (0u8..20).prop_map(Op::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn every_live_session_is_found_from_both_flows(ops in proptest::collection::vec(op(), 1..300)) {
            let mut t = SessionTable::new(44, Time::ZERO);
            let of_line0 = |p: u16| t.tags.line(t.hash(&session(p, p + 1000, 0).client)) == 0;
            let line0 = (1000u16..).filter(|&p| of_line0(p)).take(80);
            let ports: Vec<u16> = line0.chain(3000..3040).collect();
            let mut live: HashMap<u16, SessionId> = HashMap::new();
            let mut expired = Vec::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Insert(p, e) => {
                        let s = session(ports[p as usize], ports[p as usize] + 1000, now + u64::from(e));
                        if live.contains_key(&p) {
                            continue;
                        }
                        match t.insert(s) {
                            Ok(id) => {
                                prop_assert!(live.values().all(|&o| o != id), "position {} given twice", id.0);
                                live.insert(p, id);
                            }
                            Err(_) => prop_assert_eq!(live.len(), 44),
                        }
                    }
                    Op::Remove(p) => {
                        if let Some(id) = live.remove(&p) {
                            prop_assert_eq!(t.remove(id).client.sport, ports[p as usize]);
                        }
                    }
                    Op::Expire(d) => {
                        now += u64::from(d);
                        expired.clear();
                        t.expire(Time::from_secs(now), 0, &mut expired);
                        for s in &expired {
                            let p = ports.iter().position(|&q| q == s.client.sport).unwrap() as u16;
                            prop_assert!(live.remove(&p).is_some());
                        }
                    }
                }
                prop_assert_eq!(t.len(), live.len());
                for p in 0..FLOWS {
                    let s = session(ports[p as usize], ports[p as usize] + 1000, 0);
                    let want = live.get(&p).copied();
                    let (hc, hr) = (t.hash(&s.client), t.hash(&s.reply));
                    prop_assert_eq!(t.lookup(&s.client), want.map(|id| (id, Direction::FromClient)), "client {}", p);
                    prop_assert_eq!(t.lookup(&s.reply), want.map(|id| (id, Direction::FromServer)), "reply {}", p);
                    let found = t.find_mut(hc, &s.client.words(), t.hint(hc), 0).map(|f| (f.id, f.dir));
                    prop_assert_eq!(found, want.map(|id| (id, Direction::FromClient)), "hinted client {}", p);
                    let found = t.find_mut(hr, &s.reply.words(), t.hint(hr), 0).map(|f| (f.id, f.dir));
                    prop_assert_eq!(found, want.map(|id| (id, Direction::FromServer)), "hinted reply {}", p);
                }
            }
        }
    }
}
