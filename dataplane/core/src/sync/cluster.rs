//! One member of a sync group as the sync thread runs it: its view of the other members
//! from their hellos, the view generation that moves with every change of that view, the
//! bulk sync it asks for when it (re)starts ([`InitialSync`]: ready once the group's table
//! is in), and, in an ECMP cluster of active directors (#11), its lifecycle (joining until
//! ready, active, leaving). Sans-IO: the sync thread feeds it authenticated messages, the
//! judgement of a finished transfer and the time, and sends the hellos and bulk requests
//! it returns.
//!
//! A cluster member joins as `Joining`: it asks the first member it hears for a bulk sync
//! and becomes `Active` when its start-up sync is ready (complete, incomplete after
//! retries, or alone: it heard nobody for a hold time). Every member holds every session,
//! so one answer is the whole table. Only an active member should be announced to the
//! router (rvs-ctrl's BIRD gate reads the state): a router that hashes flows onto a member
//! whose table is still empty would break them. `leave()` makes it `Leaving`: it keeps
//! serving, but its announcement is withdrawn so the router moves its flows to members
//! that already hold them. A plain sync peer (`[sync]` without `[cluster]`, e.g. a VRRP
//! pair) stays `Sync`; rvs-ctrl holds its VRRP instances back until [`Cluster::ready`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::bulk::{BulkEvent, BulkOutcome, BulkTracker};
use super::members::{MemberEvent, Members};
use super::ready::{AfterBulk, InitialSync};
use super::wire::{Control, Hello};
use super::{Body, Message};
use crate::time::Time;

/// A member's lifecycle state, as its hellos carry it (`Hello::state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MemberState {
    /// A sync peer that is not a cluster member (plain `[sync]`, e.g. a VRRP pair).
    Sync = 0,
    /// Waiting for its start-up sync: not to be announced yet.
    Joining = 1,
    /// Holds the table; announced.
    Active = 2,
    /// Withdrawn from the router, draining before it stops.
    Leaving = 3,
}

impl MemberState {
    pub fn from_u8(v: u8) -> Option<MemberState> {
        Some(match v {
            0 => MemberState::Sync,
            1 => MemberState::Joining,
            2 => MemberState::Active,
            3 => MemberState::Leaving,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MemberState::Sync => "sync",
            MemberState::Joining => "joining",
            MemberState::Active => "active",
            MemberState::Leaving => "leaving",
        }
    }

    /// The name of a state byte from a hello (an unknown value is shown, not refused).
    pub fn name_of(v: u8) -> &'static str {
        MemberState::from_u8(v).map_or("unknown", MemberState::name)
    }
}

/// What the sync thread must do after feeding the cluster a message or a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterAction {
    None,
    /// Send this bulk request.
    Request(Control),
}

/// One member's view of the cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    me: u32,
    state: MemberState,
    generation: u64,
    members: Members,
    tracker: BulkTracker,
    /// The start-up sync: `Joining` ends, and VRRP may take over, when it is ready.
    initial: InitialSync,
    port_slices: u8,
    hold: Duration,
    bulk_timeout: Duration,
    /// When the state last changed (for `rvsadm --cluster`).
    since: Time,
    /// The last complete (or accepted) bulk: from whom, how many records.
    pub last_bulk: Option<(u32, u64)>,
    /// Our table digest as our last hello said it.
    digest: u64,
    /// Members whose last hello's digest differed from ours, since when (in a row).
    differs: BTreeMap<u32, Time>,
}

impl Cluster {
    /// A cluster member (`cluster` true: starts `Joining`) or a plain sync peer (`Sync`).
    pub fn new(me: u32, epoch: u32, cluster: bool, port_slices: u8, hold: Duration, now: Time) -> Cluster {
        Cluster {
            me,
            state: if cluster { MemberState::Joining } else { MemberState::Sync },
            generation: 1,
            members: Members::new(),
            tracker: BulkTracker::new(me, epoch),
            // Alone once nobody spoke for a hold time: every member says hello within it
            // (a cluster member is usually told to wait longer: `with_alone_after`).
            initial: InitialSync::new(now).with_wait(Some(hold)),
            port_slices,
            hold,
            bulk_timeout: hold.max(Duration::from_secs(1)),
            since: now,
            last_bulk: None,
            digest: 0,
            differs: BTreeMap::new(),
        }
    }

    /// How long a member that hears nobody waits before it serves alone (the first member
    /// of a new cluster), or never. A member whose sync link is broken hears nobody
    /// either: until then it stays joining (not announced) rather than serve flows the
    /// router would move to it with an empty table.
    pub fn with_alone_after(mut self, after: Option<Duration>) -> Cluster {
        self.initial = self.initial.with_wait(after);
        self
    }

    /// A bulk sync with no progress for this long is asked for again (default: the hold
    /// time, at least a second).
    pub fn with_bulk_timeout(mut self, t: Duration) -> Cluster {
        self.bulk_timeout = t;
        self
    }

    pub fn me(&self) -> u32 {
        self.me
    }
    pub fn state(&self) -> MemberState {
        self.state
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
    pub fn members(&self) -> &Members {
        &self.members
    }
    pub fn tracker(&self) -> &BulkTracker {
        &self.tracker
    }
    /// The start-up sync.
    pub fn initial(&self) -> &InitialSync {
        &self.initial
    }
    /// The start-up sync is over: this member holds the group's table (or there was none
    /// to get). Stays true for the life of the process.
    pub fn ready(&self) -> bool {
        self.initial.ready()
    }
    pub fn hold(&self) -> Duration {
        self.hold
    }
    pub fn port_slices(&self) -> u8 {
        self.port_slices
    }
    /// When the state last changed.
    pub fn since(&self) -> Time {
        self.since
    }

    fn set_state(&mut self, s: MemberState, now: Time) {
        if self.state != s {
            self.state = s;
            self.since = now;
            self.generation += 1;
        }
    }

    /// Our hello, with our session count and table digest (the synced sessions, see
    /// `TableDigest`), which members compare with theirs.
    pub fn hello(&mut self, sessions: u64, digest: u64) -> Control {
        self.digest = digest;
        Control::Hello(Hello {
            generation: self.generation,
            sessions,
            digest,
            hold_ms: self.hold.as_millis().min(u32::MAX as u128) as u32,
            state: self.state as u8,
            port_slices: self.port_slices,
        })
    }

    /// Asks `target` (0: any member) for its table.
    pub fn request(&mut self, target: u32, now: Time) -> Control {
        self.initial.requested(target);
        self.tracker.request(target, now)
    }

    /// Follows one authenticated message: membership from hellos, our bulk transfer.
    /// Returns what changed in the membership, what the message meant to our transfer and
    /// what to send. A finished transfer is not judged here: the sync thread calls
    /// [`Cluster::judged`] once the workers installed its records.
    pub fn on_message(
        &mut self,
        msg: &Message<'_>,
        now: Time,
    ) -> (Option<MemberEvent>, BulkEvent, ClusterAction) {
        let mut action = ClusterAction::None;
        let ev = self.members.on_message(msg, now);
        if let Body::Control(Control::Hello(h)) = msg.body {
            if h.digest == self.digest {
                self.differs.remove(&msg.header.sender);
            } else {
                self.differs.entry(msg.header.sender).or_insert(now);
            }
        }
        if let Some(MemberEvent::Joined(m) | MemberEvent::Restarted(m)) = ev {
            self.generation += 1;
            // A member (re)joined: ask it for its table (it asks us for ours), unless we
            // are a cluster member already past joining (every active member has every
            // session: nothing to learn from a newcomer's bulk, it learns from ours).
            if matches!(self.state, MemberState::Sync | MemberState::Joining) {
                action = ClusterAction::Request(self.request(m, now));
            }
        }
        (ev, self.tracker.on_message(msg, now), action)
    }

    /// A finished transfer of ours, judged: `lost_here` says records were dropped or not
    /// installed on this side (a worker's ring was full, no such service yet). Returns
    /// whether to ask again (the sync thread waits a moment first: the usual cause is
    /// services not loaded yet).
    pub fn judged(&mut self, o: &BulkOutcome, lost_here: bool, now: Time) -> AfterBulk {
        let after = self.initial.finished(o, lost_here, now);
        if o.complete() && !lost_here || self.initial.ready() && self.state == MemberState::Joining {
            self.last_bulk = Some((o.from, o.received));
        }
        self.follow_ready(now);
        after
    }

    /// A joining member turns active once its start-up sync is ready.
    fn follow_ready(&mut self, now: Time) {
        if self.state == MemberState::Joining && self.initial.ready() {
            self.set_state(MemberState::Active, now);
        }
    }

    /// The periodic work (call it at each hello): expire silent members, end the start-up
    /// sync when nobody is there to give a table, ask again for a stalled bulk sync.
    pub fn tick(&mut self, now: Time, mut gone: impl FnMut(u32)) -> ClusterAction {
        let mut changed = false;
        let differs = &mut self.differs;
        self.members.expire(now, |e| {
            if let MemberEvent::Gone(m) = e {
                changed = true;
                differs.remove(&m);
                gone(m);
            }
        });
        if changed {
            self.generation += 1;
        }
        if !self.initial.ready() {
            // The first member (or the only one left): nothing to sync from.
            self.initial.tick(!self.members.is_empty(), now);
            self.follow_ready(now);
        }
        if self.tracker.stalled(now, self.bulk_timeout) {
            // Ask any member (the one we asked may be gone).
            return ClusterAction::Request(self.request(0, now));
        }
        ClusterAction::None
    }

    /// Our digest as our last hello said it.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// How long member `id`'s table digest has differed from ours (every hello of it in
    /// a row), or None when its last one agreed. Under traffic digests differ by the
    /// records in flight and expiry skew; a difference that outlasts a quiet period means
    /// the tables diverged (records lost beyond the refresh period).
    pub fn digest_differs(&self, id: u32, now: Time) -> Option<Duration> {
        self.differs.get(&id).map(|&t| now - t)
    }

    /// Graceful leave: withdrawn, still serving.
    pub fn leave(&mut self, now: Time) {
        if self.state != MemberState::Sync {
            self.set_state(MemberState::Leaving, now);
        }
    }

    /// Members alive at `now` in `state`, in id order (ourselves included when we are).
    pub fn in_state(&self, state: MemberState, now: Time) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .members
            .iter()
            .filter(|(_, m)| m.alive(now) && m.hello.state == state as u8)
            .map(|(id, _)| id)
            .collect();
        if self.state == state {
            v.push(self.me);
            v.sort_unstable();
        }
        v
    }

    /// Live members whose port partition differs from ours (they could take our ports).
    pub fn slice_mismatch(&self, now: Time) -> impl Iterator<Item = u32> + '_ {
        let ours = self.port_slices;
        self.members
            .iter()
            .filter(move |(_, m)| m.alive(now) && m.hello.state != 0 && m.hello.port_slices != ours)
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{BulkAnswer, ClusterKey, Receiver, ReceiverConfig, Sender, SenderConfig};

    fn key() -> ClusterKey {
        ClusterKey::from_config("a long test cluster passphrase").unwrap()
    }

    struct Peer {
        tx: Sender,
    }

    impl Peer {
        fn new(id: u32) -> Peer {
            Peer { tx: Sender::new(SenderConfig::new(1, id, 1), &key()).unwrap() }
        }
        fn send(&mut self, c: &Control) -> Vec<u8> {
            let mut b = [0u8; 128];
            let n = self.tx.control(c, &mut b).unwrap();
            b[..n].to_vec()
        }
        fn hello(&mut self, state: MemberState) -> Vec<u8> {
            self.hello_digest(state, 0)
        }
        fn hello_digest(&mut self, state: MemberState, digest: u64) -> Vec<u8> {
            self.send(&Control::Hello(Hello {
                generation: 1,
                sessions: 0,
                digest,
                hold_ms: 1000,
                state: state as u8,
                port_slices: 4,
            }))
        }
    }

    const HOLD: Duration = Duration::from_secs(1);

    #[test]
    fn a_member_that_hears_nobody_stays_joining_until_alone_after() {
        let t = Time::from_millis;
        // Its sync link is broken: it hears nobody. Not active after the hold time.
        let mut c = Cluster::new(3, 1, true, 4, HOLD, t(0)).with_alone_after(Some(Duration::from_secs(5)));
        for at in [1000, 2000, 4900] {
            c.tick(t(at), |_| {});
            assert_eq!((c.state(), c.ready()), (MemberState::Joining, false), "at {at} ms");
        }
        c.tick(t(5000), |_| {});
        assert_eq!(c.state(), MemberState::Active);
        assert_eq!(c.initial().state().name(), "alone");

        // Never alone: joining until a member answers, however long.
        let mut c = Cluster::new(3, 1, true, 4, HOLD, t(0)).with_alone_after(None);
        c.tick(t(3_600_000), |_| {});
        assert_eq!(c.state(), MemberState::Joining);
        let mut rx = Receiver::new(ReceiverConfig::new(1, 3), &key());
        let mut p1 = Peer::new(1);
        let at = t(3_600_100);
        let d = p1.hello(MemberState::Active);
        let (_, _, act) = c.on_message(&rx.receive(&d, at).unwrap(), at);
        let ClusterAction::Request(req) = act else { panic!("no bulk request") };
        let mut me = Sender::new(SenderConfig::new(1, 3, 1), &key()).unwrap();
        let mut b = [0u8; 128];
        let n = me.control(&req, &mut b).unwrap();
        let mut rx1 = Receiver::new(ReceiverConfig::new(1, 1), &key());
        let ans = BulkAnswer::for_request(&rx1.receive(&b[..n], at).unwrap(), 1).unwrap();
        for m in [ans.start(0, 0), ans.end(0)] {
            let d = p1.send(&m);
            if let (_, BulkEvent::Finished(o), _) = c.on_message(&rx.receive(&d, at).unwrap(), at) {
                c.judged(&o, false, at);
            }
        }
        assert_eq!(c.state(), MemberState::Active);
        assert_eq!(c.initial().state().name(), "complete");
    }

    #[test]
    fn first_member_becomes_active_after_a_hold_time_alone() {
        let t = Time::from_millis;
        let mut c = Cluster::new(1, 1, true, 4, HOLD, t(0));
        assert_eq!(c.state(), MemberState::Joining);
        assert_eq!(c.tick(t(500), |_| {}), ClusterAction::None);
        assert_eq!(c.state(), MemberState::Joining);
        c.tick(t(1000), |_| {});
        assert_eq!(c.state(), MemberState::Active);
        assert_eq!(c.in_state(MemberState::Active, t(1000)), [1]);
        let g = c.generation();
        c.leave(t(2000));
        assert_eq!((c.state(), c.generation()), (MemberState::Leaving, g + 1));
    }

    #[test]
    fn a_joiner_is_active_only_after_a_complete_bulk_sync() {
        let t = Time::from_millis;
        let mut rx = Receiver::new(ReceiverConfig::new(1, 3), &key());
        let mut c = Cluster::new(3, 1, true, 4, HOLD, t(0));
        let mut p1 = Peer::new(1);
        let d = p1.hello(MemberState::Active);
        let (ev, _, act) = c.on_message(&rx.receive(&d, t(10)).unwrap(), t(10));
        assert_eq!(ev, Some(MemberEvent::Joined(1)));
        let ClusterAction::Request(req) = act else { panic!("no bulk request") };
        // Member 1 answers: start, (no records), end with a count of 2 it did not send.
        let mut me = Sender::new(SenderConfig::new(1, 3, 1), &key()).unwrap();
        let mut b = [0u8; 128];
        let n = me.control(&req, &mut b).unwrap();
        let mut rx1 = Receiver::new(ReceiverConfig::new(1, 1), &key());
        let ans = BulkAnswer::for_request(&rx1.receive(&b[..n], t(11)).unwrap(), 1).unwrap();
        let start = p1.send(&ans.start(2, 0));
        c.on_message(&rx.receive(&start, t(12)).unwrap(), t(12));
        let mut short = ans;
        short.sent = 2;
        let end = p1.send(&short.end(0));
        let (_, ev, _) = c.on_message(&rx.receive(&end, t(13)).unwrap(), t(13));
        let BulkEvent::Finished(o) = ev else { panic!("not finished: {ev:?}") };
        assert!(!o.complete());
        // Judged once the workers installed what came: short, ask again.
        assert_eq!(c.judged(&o, false, t(14)), AfterBulk::AskAgain { from: 1 });
        assert_eq!(c.state(), MemberState::Joining);
        assert!(!c.ready());
        // Not alone (member 1 is alive): the hold time does not make it active.
        c.tick(t(900), |_| {});
        assert_eq!(c.state(), MemberState::Joining);
        // A complete answer to the second request, but a record could not be installed
        // here (services not loaded yet): still joining.
        let req2 = c.request(1, t(1000));
        let n = me.control(&req2, &mut b).unwrap();
        let ans = BulkAnswer::for_request(&rx1.receive(&b[..n], t(14)).unwrap(), 1).unwrap();
        let mut fin = None;
        for m in [ans.start(0, 0), ans.end(0)] {
            let d = p1.send(&m);
            if let (_, BulkEvent::Finished(o), _) = c.on_message(&rx.receive(&d, t(1001)).unwrap(), t(1001)) {
                fin = Some(o);
            }
        }
        let o = fin.expect("finished");
        assert!(o.complete());
        assert_eq!(c.judged(&o, true, t(1002)), AfterBulk::AskAgain { from: 1 });
        assert_eq!(c.state(), MemberState::Joining);
        // The third one lands.
        let req3 = c.request(1, t(1010));
        let n = me.control(&req3, &mut b).unwrap();
        let ans = BulkAnswer::for_request(&rx1.receive(&b[..n], t(15)).unwrap(), 1).unwrap();
        for m in [ans.start(0, 0), ans.end(0)] {
            let d = p1.send(&m);
            if let (_, BulkEvent::Finished(o), _) = c.on_message(&rx.receive(&d, t(1011)).unwrap(), t(1011)) {
                assert_eq!(c.judged(&o, false, t(1012)), AfterBulk::Done);
            }
        }
        assert_eq!(c.state(), MemberState::Active);
        assert!(c.ready());
        assert_eq!(c.last_bulk, Some((1, 0)));
        // Member 1's last hello was at 10 ms; its hold is 1 s.
        assert_eq!(c.in_state(MemberState::Active, t(900)), [1, 3]);
        // Member 1 falls silent: gone after its hold time, the generation moves.
        let g = c.generation();
        let mut gone = Vec::new();
        c.tick(t(1500), |m| gone.push(m));
        assert_eq!(gone, [1]);
        assert_eq!(c.generation(), g + 1);
        assert_eq!(c.slice_mismatch(t(1500)).count(), 0);
    }

    #[test]
    fn digests_are_compared_at_each_hello() {
        let t = Time::from_millis;
        let mut rx = Receiver::new(ReceiverConfig::new(1, 3), &key());
        let mut c = Cluster::new(3, 1, true, 4, HOLD, t(0));
        let _ = c.hello(10, 0xabc);
        assert_eq!(c.digest(), 0xabc);
        let mut p1 = Peer::new(1);
        let d = p1.hello_digest(MemberState::Active, 0xabc);
        c.on_message(&rx.receive(&d, t(10)).unwrap(), t(10));
        assert_eq!(c.digest_differs(1, t(10)), None);
        // It learnt a session we do not have: differs from then on, in a row.
        for at in [20, 320, 620] {
            let d = p1.hello_digest(MemberState::Active, 0xabd);
            c.on_message(&rx.receive(&d, t(at)).unwrap(), t(at));
        }
        assert_eq!(c.digest_differs(1, t(700)), Some(Duration::from_millis(680)));
        // We learn it too.
        let _ = c.hello(11, 0xabd);
        let d = p1.hello_digest(MemberState::Active, 0xabd);
        c.on_message(&rx.receive(&d, t(900)).unwrap(), t(900));
        assert_eq!(c.digest_differs(1, t(900)), None);
    }
}
