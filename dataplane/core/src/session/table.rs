//! The session table of one worker, sized once at start.
//!
//! * Slots: one cache line each (the 48-byte session, its forward timer link, its cached
//!   next hops and its checksum deltas), all written at start, 1.43 for each session of
//!   `max_sessions`, so the packet path never reallocates. The backward timer links,
//!   which no packet reads, live apart (`prevs`).
//! * A session's slot is the position of its client flow's tag (`client_tags.rs`): a
//!   client packet's lookup reads a line of tags, which stays in the cache, and the slot.
//!   Reply flows, and client flows whose line was full, are in the flow index
//!   (`index.rs`): a reply's lookup reads a bucket and the slot. Which of the two a
//!   packet's lookup tries first is the caller's guess (`LookupSide`).
//! * The timer wheel is intrusive: each live slot sits in exactly one wheel bucket's
//!   doubly linked list. A packet that moves the deadline later touches nothing but the
//!   slot; when the bucket comes due the slot is either expired or filed again at its
//!   deadline (lazy re-arming). A deadline that moves earlier relinks the slot.
//!
//! Owned by one worker; no locks.

use super::client_tags::{ClientTags, Placed, NO_POSITION};
use super::embryonic::EmbryonicRing;
use super::index::{FlowHash, FlowIndex, Hint};
use super::{Direction, FlowKey, KeyWords, Session, SessionState};
use crate::nat::RewriteDelta;
use crate::time::Time;

/// Handle of a live session; stale after the session is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u32);

impl SessionId {
    pub fn index(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session table full ({0} sessions)")]
pub struct TableFull(pub usize);

const NIL: u32 = u32::MAX;
/// `Slot::bucket` of a slot that is not in the wheel, i.e. not live.
const NOT_FILED: u16 = u16::MAX;
/// `Slot::hop` entry with nothing cached.
const NO_HOP: u16 = u16::MAX;

/// Wheel geometry: 100 ms ticks, 2048 buckets (a turn is about 205 s).
const TICK_NS: u64 = 100_000_000;
const WHEEL_BUCKETS: usize = 2048;

/// A next hop cached in a session: an index into the worker's neighbour table, valid
/// while the worker's topology generation (routes and neighbour slots) is `gen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub gen: u16,
    pub neigh: u16,
}

/// The mark in `Slot::hop_gen`, above the generation (`neigh::GENERATIONS`): the session
/// has changed (`get_mut`) since the fast path last checked it (`Found::set_ready`).
const NOT_READY: u16 = crate::neigh::GENERATIONS;

/// What `find_mut` found: a session and which of its flows the packet is.
pub struct Found<'a> {
    pub id: SessionId,
    pub dir: Direction,
    slot: &'a mut Slot,
}

impl Found<'_> {
    #[inline(always)]
    pub fn session(&mut self) -> &mut Session {
        &mut self.slot.session
    }

    /// Whether the caller's checks of the session (`set_ready`) still hold: nothing has
    /// changed it through `get_mut` since, and the generation is the same.
    #[inline(always)]
    pub fn ready(&self) -> bool {
        self.slot.hop_gen & NOT_READY == 0
    }

    /// Notes that the session passed the caller's checks, which hold until it next
    /// changes (`get_mut`) or the generation moves; computes its rewrite's checksum
    /// deltas the first time, here rather than at the session's creation, which many a
    /// session (a SYN flood's) never needs. Flows never change once filed, nor do they.
    #[inline]
    pub fn set_ready(&mut self) {
        let slot = &mut *self.slot;
        if slot.delta == RewriteDelta::UNSET {
            slot.delta = RewriteDelta::between(&slot.session.client, &slot.session.reply);
        }
        slot.hop_gen &= !NOT_READY;
    }

    /// The neighbour index cached for this flow's packets under the current generation,
    /// or `u16::MAX` (none cached), which no neighbour table holds.
    #[inline(always)]
    pub fn hop(&self) -> u16 {
        self.slot.hop[dir_bit(self.dir)]
    }

    /// The checksum deltas of this flow's rewrite (`nat::rewrite_to_reverse`); set once
    /// the session is `ready`.
    #[inline(always)]
    pub fn delta(&self) -> RewriteDelta {
        match self.dir {
            Direction::FromClient => self.slot.delta,
            Direction::FromServer => self.slot.delta.reversed(),
        }
    }
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    session: Session,
    next: u32,
    bucket: u16,
    /// The generation of `hop`, with the `NOT_READY` mark.
    hop_gen: u16,
    /// Neighbour index towards the client (FromServer packets) and the server.
    hop: [u16; 2],
    /// The rewrite's checksum deltas for client packets (replies: `reversed`), or UNSET
    /// until the session is first ready (`Found::set_ready`).
    delta: RewriteDelta,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// What every slot holds until a session takes it, and again once it leaves.
const FREE_SLOT: Slot = {
    let nowhere = FlowKey {
        src: std::net::Ipv4Addr::UNSPECIFIED,
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        sport: 0,
        dport: 0,
        proto: 0,
    };
    Slot {
        session: Session {
            client: nowhere,
            reply: nowhere,
            state: SessionState::SynRecv,
            flags: 0,
            service_slot: 0,
            real_slot: 0,
            persist_client: super::PersistClient::NONE,
            expires: Time(0),
        },
        next: NIL,
        bucket: NOT_FILED,
        hop_gen: NOT_READY,
        hop: [NO_HOP; 2],
        delta: RewriteDelta::UNSET,
    }
};

/// Where a lookup looks first, the client flows' tags or the flow index: a guess made
/// for a burst's packets from what the burst before them found (`pipeline::fastpath`),
/// which costs a wait on memory when wrong, never an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum LookupSide {
    /// Client packets: the tags.
    Client = 0,
    /// Replies: the index.
    Reply = 1,
    /// Both kinds: both prefetched, the tags tried first.
    #[default]
    Both = 2,
}

impl LookupSide {
    /// The side numbered `n` (`as u8`), for a const generic: `Both` past the last.
    #[inline(always)]
    pub const fn of(n: u8) -> LookupSide {
        match n {
            0 => LookupSide::Client,
            1 => LookupSide::Reply,
            _ => LookupSide::Both,
        }
    }
}

impl Slot {
    /// Whether this slot is filed and its flow in direction `dir` is `key` (the key tells
    /// both).
    #[inline(always)]
    fn holds(&self, key: &KeyWords, dir: Direction) -> bool {
        let k = match dir {
            Direction::FromClient => &self.session.client,
            Direction::FromServer => &self.session.reply,
        };
        // A slot that is not filed holds protocol 0 (`release`), no flow's.
        k.words() == *key
    }
}

pub struct SessionTable {
    /// One per position of `tags`.
    slots: Vec<Slot>,
    tags: ClientTags,
    /// Each slot's previous entry in its wheel bucket's list plus one, 0 for none (the
    /// wheel alone reads it). Zeroed at start: pages untouched until slots are used.
    prevs: Vec<u32>,
    index: FlowIndex,
    len: usize,
    capacity: usize,
    heads: Vec<u32>,
    /// The last tick whose bucket has been drained.
    done: u64,
    /// Slots that held a new SYN_RECV session, oldest first: the candidates for eviction
    /// when the table is full (`evict_embryonic`). Entries go stale as sessions complete
    /// their handshake or end; they are skipped when met. Sized at start, never grows.
    embryonic: EmbryonicRing,
}

/// How many stale entries one eviction may skip before it gives up (bounded work per
/// packet even when every recent session completed its handshake).
const EVICT_SCAN: usize = 64;

#[inline]
fn dir_bit(dir: Direction) -> usize {
    matches!(dir, Direction::FromClient) as usize
}

impl SessionTable {
    /// A table for at most `capacity` sessions. `seed` keys the flow hash.
    pub fn new(capacity: usize, now: Time) -> Self {
        Self::with_seed(capacity, now, 0x5eed_0f5e_5510_7500 ^ capacity as u64)
    }

    pub fn with_seed(capacity: usize, now: Time, seed: u64) -> Self {
        Self::with_advice(capacity, now, seed, None)
    }

    /// `with_seed`, calling `advice` on the slots' and the index's memory between their
    /// allocation and their first write (for huge pages: `pipeline::MemAdvice`).
    pub fn with_advice(
        capacity: usize,
        now: Time,
        seed: u64,
        advice: Option<crate::pipeline::MemAdvice>,
    ) -> Self {
        let capacity = capacity.clamp(1, FlowIndex::MAX_SLOTS * 7 / 10);
        let tags = ClientTags::with_advice(capacity, advice);
        let positions = tags.positions();
        let mut slots: Vec<Slot> = Vec::with_capacity(positions);
        if let Some(advise) = advice {
            advise(slots.as_ptr() as *const u8, positions * std::mem::size_of::<Slot>());
        }
        slots.resize(positions, FREE_SLOT);
        SessionTable {
            slots,
            tags,
            prevs: vec![0; positions],
            // Every reply flow, and the client flows that overflowed their line (one in
            // hundreds; room for one in sixteen).
            index: FlowIndex::with_advice(capacity + capacity.div_ceil(16), seed, advice),
            len: 0,
            capacity,
            heads: vec![NIL; WHEEL_BUCKETS],
            done: now.0 / TICK_NS,
            embryonic: EmbryonicRing::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slot numbers (`SessionId::index`) are below this.
    pub fn positions(&self) -> usize {
        self.slots.len()
    }

    /// Bytes reserved for the table at full capacity (slots, tags and index).
    pub fn bytes_reserved(&self) -> usize {
        self.positions() * (std::mem::size_of::<Slot>() + std::mem::size_of::<u32>())
            + self.tags.bytes()
            + self.index.bytes()
            + self.embryonic.capacity() * std::mem::size_of::<u32>()
    }

    /// The flow hash the table files `key` under (burst stage 1).
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> FlowHash {
        self.index.hash(key)
    }

    /// `hash` of a flow as it lies in a header (`FlowIndex::hash_wire`).
    #[inline(always)]
    pub fn hash_wire(&self, addrs: [u8; 8], ports: [u8; 4], proto: u8) -> FlowHash {
        self.index.hash_wire(addrs, ports, proto)
    }

    /// Prefetches what a lookup of `h` reads first from `side` (burst stage 1a): the
    /// flow's line of tags, its index bucket, or both.
    #[inline(always)]
    pub fn prefetch_home(&self, h: FlowHash, side: LookupSide) {
        if side != LookupSide::Reply {
            rvs_cpu::prefetch(self.tags.line_addr(h));
        }
        if side != LookupSide::Client {
            rvs_cpu::prefetch(self.index.bucket_addr(h));
        }
    }

    /// Prefetches what a new session of client flow `h` will touch (burst stage 1b, for a
    /// SYN, once stage 1a's prefetch of its line of tags is in): the index bucket its
    /// lookup reads and the slot it would take.
    #[inline]
    pub fn prefetch_new(&self, h: FlowHash) {
        rvs_cpu::prefetch(self.index.bucket_addr(h));
        rvs_cpu::prefetch(self.slot_line(self.tags.first_free(h)));
    }

    /// The entry the flow most likely has (`hint_prefetching` looking in both structures,
    /// tags first), to hand to `lookup_hinted`.
    #[inline]
    pub fn hint(&self, h: FlowHash) -> Hint {
        self.hint_prefetching_and(h, LookupSide::Both, |_| ())
    }

    /// `hint` for a flow whose home bucket gave `Hint::FARTHER`: the next bucket's guess,
    /// which the caller prefetched (`next_bucket_addr`).
    #[inline]
    pub fn next_hint(&self, h: FlowHash) -> Hint {
        self.index.next_candidate(h)
    }

    /// Address of the bucket after the flow's home bucket, for a prefetch.
    #[inline]
    pub fn next_bucket_addr(&self, h: FlowHash) -> *const u8 {
        self.index.next_bucket_addr(h)
    }

    /// The entry the flow most likely has, from its line of tags or its index bucket
    /// (`side` first, which the caller prefetched: `prefetch_home`), with the guessed
    /// slot on its way into the cache (burst stage 1b). NONE only when the flow is in
    /// neither; FARTHER when the index's home bucket has no guess but entries passed it.
    #[inline(always)]
    pub fn hint_prefetching(&self, h: FlowHash, side: LookupSide) -> Hint {
        self.hint_prefetching_and(h, side, |_| {})
    }

    /// `hint_prefetching`, handing the guessed slot's number to `also` as well (for what
    /// else the packet will touch of that slot: an HA master's sync mark).
    #[inline(always)]
    pub fn hint_prefetching_and(&self, h: FlowHash, side: LookupSide, also: impl Fn(usize)) -> Hint {
        let by_tag = |pos: usize| {
            rvs_cpu::prefetch(self.slot_line(pos));
            also(pos);
            Hint::of(pos as u32, Direction::FromClient)
        };
        let from_index = || {
            self.index.first_candidate_then(h, |slot| {
                rvs_cpu::prefetch(self.slot_line(slot));
                also(slot)
            })
        };
        if side != LookupSide::Reply {
            let pos = self.tags.first(h);
            return if pos != NO_POSITION { by_tag(pos) } else { from_index() };
        }
        let hint = from_index();
        if hint.guess().is_some() {
            return hint;
        }
        match self.tags.first(h) {
            NO_POSITION => hint,
            pos => by_tag(pos),
        }
    }

    /// Address of slot `i`'s cache line, for a prefetch: an address, not a borrow, so no
    /// bounds check (a prefetch never faults, whatever `i` is).
    #[inline(always)]
    fn slot_line(&self, i: usize) -> *const u8 {
        self.slots.as_ptr().wrapping_add(i) as *const u8
    }

    /// Address of the slot a hint points at, for a prefetch.
    #[inline]
    pub fn slot_addr(&self, hint: Hint) -> Option<*const u8> {
        Some(self.slot_line(hint.guess()?.slot as usize))
    }

    /// `lookup_hashed`, trying the entry `hint` guessed first: a live slot whose flow in
    /// the hinted direction is `key` is the answer (a key is in the table at most once),
    /// anything else takes the full probe.
    #[inline(always)]
    pub fn lookup_hinted(&self, h: FlowHash, key: &FlowKey, hint: Hint) -> Option<(SessionId, Direction)> {
        if let Some(hit) = hint.hit() {
            if self.slots.get(hit.slot as usize).is_some_and(|s| s.holds(&key.words(), hit.dir)) {
                return Some((SessionId(hit.slot), hit.dir));
            }
        }
        self.lookup_hashed(h, key)
    }

    /// `lookup_hinted` for the fast path, which reads and moves the session at once: the
    /// session and which flow `key` is, with the next hop cached for that flow (one slot
    /// borrow for all). None as well when the slot's next hops are not of generation
    /// `gen`: the fast path does not take the packet (checked here, where the slot is at
    /// hand). The generation and the readiness mark are one word: a ready session of the
    /// current generation costs one compare.
    #[inline(always)]
    pub fn find_mut(&mut self, h: FlowHash, key: &KeyWords, hint: Hint, gen: u16) -> Option<Found<'_>> {
        debug_assert!(gen < crate::neigh::GENERATIONS);
        // The guessed entry first (the slot filed, the key the flow's: `Slot::holds`),
        // else the full probe.
        let hit =
            hint.hit().filter(|hit| self.slots.get(hit.slot as usize).is_some_and(|s| s.holds(key, hit.dir)));
        let (slot, id, dir) = match hit {
            Some(hit) => (&mut self.slots[hit.slot as usize], SessionId(hit.slot), hit.dir),
            None => {
                let (id, dir) = self.lookup_cold(h, key)?;
                (self.slots.get_mut(id.0 as usize)?, id, dir)
            }
        };
        if slot.hop_gen != gen && slot.hop_gen != gen | NOT_READY {
            return None;
        }
        Some(Found { id, dir, slot })
    }

    /// `lookup_hashed` out of line, for a guess that missed (`find_mut`): the fast path's
    /// loop keeps its registers.
    #[inline(never)]
    fn lookup_cold(&self, h: FlowHash, key: &KeyWords) -> Option<(SessionId, Direction)> {
        self.lookup_hashed(h, &key.key())
    }

    /// The session one of whose flows is `key`, and which flow it is.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(SessionId, Direction)> {
        self.lookup_hashed(self.index.hash(key), key)
    }

    /// The session one of whose flows is `key`, hashed `h`: a client flow at the position
    /// of its tag, else any flow in the index.
    #[inline(always)]
    pub fn lookup_hashed(&self, h: FlowHash, key: &FlowKey) -> Option<(SessionId, Direction)> {
        let slots = &self.slots;
        if let Some(pos) = self.tags.find(h, |pos| slots[pos].session.client == *key) {
            return Some((SessionId(pos as u32), Direction::FromClient));
        }
        self.index
            .find(h, |hit| {
                let s = &slots[hit.slot as usize].session;
                match hit.dir {
                    Direction::FromClient => s.client == *key,
                    Direction::FromServer => s.reply == *key,
                }
            })
            .map(|hit| (SessionId(hit.slot), hit.dir))
    }

    #[inline]
    pub fn find_client(&self, key: &FlowKey) -> Option<SessionId> {
        match self.lookup(key) {
            Some((id, Direction::FromClient)) => Some(id),
            _ => None,
        }
    }

    #[inline]
    pub fn find_reply(&self, key: &FlowKey) -> Option<SessionId> {
        match self.lookup(key) {
            Some((id, Direction::FromServer)) => Some(id),
            _ => None,
        }
    }

    /// Adds a session indexed by both flows. The caller has checked that neither flow
    /// is present. At capacity the table refuses; it never grows.
    pub fn insert(&mut self, session: Session) -> Result<SessionId, TableFull> {
        self.insert_hashed(session, self.index.hash(&session.client))
    }

    /// `insert` with the client flow's hash already known (`hash(&session.client)`).
    pub fn insert_hashed(&mut self, session: Session, hc: FlowHash) -> Result<SessionId, TableFull> {
        debug_assert_eq!(hc, self.index.hash(&session.client));
        if self.len >= self.capacity {
            return Err(TableFull(self.capacity));
        }
        // The position of the client flow's tag, else one its line left it (the client
        // flow then in the index too); kept only once the index entries are in.
        let hr = self.index.hash(&session.reply);
        let placed = self.tags.take(hc).ok_or(TableFull(self.capacity))?;
        let (idx, filed) = match placed {
            Placed::ByTag(p) => (p as u32, self.index.insert(hr, p as u32, Direction::FromServer)),
            Placed::Overflowed(p) => (p as u32, self.index.insert_pair(hc, hr, p as u32)),
        };
        if !filed {
            self.tags.free(idx as usize);
            return Err(TableFull(self.capacity));
        }
        // Written once, filed in the wheel at its deadline (`file`) as it is.
        let b = self.wheel_bucket(session.expires);
        let head = self.heads[b];
        // Not ready: the deltas wait for the fast path (`Found::set_ready`).
        let slot = Slot {
            session,
            next: head,
            bucket: b as u16,
            hop_gen: NOT_READY,
            hop: [NO_HOP; 2],
            delta: RewriteDelta::UNSET,
        };
        self.slots[idx as usize] = slot;
        if let Some(p) = self.prevs.get_mut(idx as usize) {
            *p = 0;
        }
        if let Some(p) = self.prevs.get_mut(head as usize) {
            *p = idx + 1;
        }
        self.heads[b] = idx;
        self.len += 1;
        Ok(SessionId(idx))
    }

    /// Notes a session just inserted in SYN_RECV as a candidate for eviction under table
    /// pressure. When the list is full its oldest entry makes room (the list never grows).
    pub fn note_embryonic(&mut self, id: SessionId) {
        self.embryonic.push_evicting(id.0);
    }

    /// Removes the oldest session still in SYN_RECV (a handshake that has not completed:
    /// the cheapest state to lose, what IPVS's `drop_entry` defence drops first) and
    /// returns it, or None when none is found within a bounded scan. Established sessions
    /// are never chosen.
    pub fn evict_embryonic(&mut self) -> Option<Session> {
        for _ in 0..EVICT_SCAN {
            let i = self.embryonic.pop_front()?;
            let slot = &self.slots[i as usize];
            if slot.bucket != NOT_FILED && slot.session.state == SessionState::SynRecv {
                return Some(self.remove(SessionId(i)));
            }
        }
        None
    }

    /// True when the table is at least 7/8 full: new half-open sessions then get a short
    /// timeout (`StateTimeouts::syn_recv_under_pressure`), as IPVS's `secure_tcp` does.
    pub fn under_pressure(&self) -> bool {
        self.len * 8 >= self.capacity * 7
    }

    /// Takes the session in slot `idx` out of the index and the tags, and frees its slot.
    fn release(&mut self, idx: u32, s: &Session) {
        if self.tags.overflowed(idx as usize) {
            self.index.remove(self.index.hash(&s.client), idx, Direction::FromClient);
        }
        self.index.remove(self.index.hash(&s.reply), idx, Direction::FromServer);
        self.tags.free(idx as usize);
        let slot = &mut self.slots[idx as usize];
        slot.bucket = NOT_FILED;
        // No key of a session (TCP or UDP) matches it now (`holds`).
        (slot.session.client.proto, slot.session.reply.proto) = (0, 0);
        slot.next = NIL;
    }

    #[inline]
    pub fn get(&self, id: SessionId) -> &Session {
        &self.slots[id.0 as usize].session
    }

    /// The session, to change: the fast path checks it again before it next takes one of
    /// its packets (`Found::ready`).
    #[inline]
    pub fn get_mut(&mut self, id: SessionId) -> &mut Session {
        let slot = &mut self.slots[id.0 as usize];
        slot.hop_gen |= NOT_READY;
        &mut slot.session
    }

    /// Call after moving a session's `expires`: a later deadline costs nothing (the slot
    /// is filed again when its bucket comes due), an earlier one relinks it.
    #[inline]
    pub fn rearm(&mut self, id: SessionId) {
        let slot = &self.slots[id.0 as usize];
        if slot.session.expires.0.div_ceil(TICK_NS) < self.fire_tick(slot.bucket) {
            self.unlink(id.0);
            self.file(id.0, self.slots[id.0 as usize].session.expires);
        }
    }

    /// The next hop cached for packets of `id` travelling in `dir`, if it is of
    /// generation `gen`.
    #[inline]
    pub fn hop(&self, id: SessionId, dir: Direction, gen: u16) -> Option<u16> {
        let slot = &self.slots[id.0 as usize];
        let h = slot.hop[dir_bit(dir)];
        (slot.hop_gen & !NOT_READY == gen && h != NO_HOP).then_some(h)
    }

    #[inline]
    pub fn set_hop(&mut self, id: SessionId, dir: Direction, hop: Hop) {
        let slot = &mut self.slots[id.0 as usize];
        if slot.hop_gen & !NOT_READY != hop.gen {
            // Of another generation: the fast path's checks of it are void too.
            slot.hop = [NO_HOP; 2];
            slot.hop_gen = hop.gen | NOT_READY;
        }
        slot.hop[dir_bit(dir)] = hop.neigh;
    }

    /// Removes a live session and returns it.
    pub fn remove(&mut self, id: SessionId) -> Session {
        let s = self.slots[id.0 as usize].session;
        debug_assert!(self.slots[id.0 as usize].bucket != NOT_FILED);
        self.unlink(id.0);
        self.release(id.0, &s);
        self.len -= 1;
        s
    }

    /// Removes every session whose `expires` is at or before `now`, appending them to
    /// `expired`. `gen` is the current generation of next hops: a live slot the wheel
    /// visits (every slot, at least once a turn) forgets next hops half the generations
    /// old, so that a session idle through a whole wrap of the 15-bit count does not
    /// trust a neighbour index that may name another neighbour by then.
    pub fn expire(&mut self, now: Time, gen: u16, expired: &mut Vec<Session>) {
        let n = WHEEL_BUCKETS as u64;
        let target = now.0 / TICK_NS;
        // After a long pause, a full turn drains everything once.
        let from = self.done.max(target.saturating_sub(n));
        for tick in from + 1..=target {
            self.done = tick;
            let b = (tick % n) as usize;
            let mut i = std::mem::replace(&mut self.heads[b], NIL);
            while i != NIL {
                let next = self.slots[i as usize].next;
                let slot = &mut self.slots[i as usize];
                slot.bucket = NOT_FILED;
                if slot.session.expires <= now {
                    expired.push(self.remove_unlinked(i));
                } else {
                    let age = gen.wrapping_sub(slot.hop_gen & !NOT_READY) % crate::neigh::GENERATIONS;
                    if age >= crate::neigh::GENERATIONS / 2 {
                        (slot.hop, slot.hop_gen) = ([NO_HOP; 2], gen | NOT_READY);
                    }
                    let at = slot.session.expires;
                    self.file(i, at);
                }
                i = next;
            }
        }
        self.done = self.done.max(target);
    }

    /// `remove` for a slot already taken out of the wheel.
    fn remove_unlinked(&mut self, i: u32) -> Session {
        let s = self.slots[i as usize].session;
        self.release(i, &s);
        self.len -= 1;
        s
    }

    /// The tick at which bucket `b` next comes due.
    #[inline]
    fn fire_tick(&self, b: u16) -> u64 {
        let n = WHEEL_BUCKETS as u64;
        let first = self.done + 1;
        first + (b as u64 + n - first % n) % n
    }

    /// The wheel bucket a deadline of `at` is filed in: the one of its tick, or of the
    /// furthest tick the wheel holds (to be filed again then).
    #[inline]
    fn wheel_bucket(&self, at: Time) -> usize {
        let n = WHEEL_BUCKETS as u64;
        let tick = at.0.div_ceil(TICK_NS).clamp(self.done + 1, self.done + n - 1);
        (tick % n) as usize
    }

    /// Files slot `i` to come due at `at` (`wheel_bucket`).
    fn file(&mut self, i: u32, at: Time) {
        let b = self.wheel_bucket(at);
        let head = self.heads[b];
        if let Some(p) = self.prevs.get_mut(head as usize) {
            *p = i + 1;
        }
        let slot = &mut self.slots[i as usize];
        slot.next = head;
        slot.bucket = b as u16;
        self.prevs[i as usize] = 0;
        self.heads[b] = i;
    }

    fn unlink(&mut self, i: u32) {
        let Slot { next, bucket, .. } = self.slots[i as usize];
        if bucket == NOT_FILED {
            return;
        }
        let prev = self.prevs[i as usize];
        if prev != 0 {
            self.slots[prev as usize - 1].next = next;
        } else {
            self.heads[bucket as usize] = next;
        }
        if let Some(p) = self.prevs.get_mut(next as usize) {
            *p = prev;
        }
        self.slots[i as usize].bucket = NOT_FILED;
    }

    #[cfg(test)]
    fn filed(&self) -> usize {
        let mut n = 0;
        for &h in &self.heads {
            let mut i = h;
            while i != NIL {
                n += 1;
                i = self.slots[i as usize].next;
            }
        }
        n
    }

    /// Every live session (for `ipvsadm -Lnc` and session sync).
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().filter(|s| s.bucket != NOT_FILED).map(|s| &s.session)
    }

    /// The live sessions from slot `from` on, with their slot numbers (a bulk sync walks
    /// the table a slice at a time).
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &Session)> {
        self.slots
            .iter()
            .enumerate()
            .skip(from)
            .filter(|(_, s)| s.bucket != NOT_FILED)
            .map(|(i, s)| (i, &s.session))
    }

    /// The memory behind the slots, for the edge to back with huge pages
    /// (`madvise(MADV_HUGEPAGE)`): (address, bytes).
    pub fn slot_region(&self) -> (*const u8, usize) {
        (self.slots.as_ptr() as *const u8, self.positions() * std::mem::size_of::<Slot>())
    }

    /// The client flows' tags' memory, likewise.
    pub fn tag_region(&self) -> (*const u8, usize) {
        self.tags.region()
    }

    /// The index's memory, likewise.
    pub fn index_region(&self) -> (*const u8, usize) {
        self.index.region()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
