//! Whether a director that just started has the group's table yet: the bulk sync it asks
//! its peers for when it (re)starts, followed to an end. A VRRP master that comes back
//! must not take the VIP before this ends, or it would drop every connection its peer
//! carried meanwhile; rvs-ctrl holds its VRRP instances back until [`InitialSync::ready`]
//! (`docs/vrrp.md`, "Failback after a bulk sync").
//!
//! The states, in order: `waiting` (no peer heard yet) → `syncing` (a bulk sync asked
//! for) → `complete` (every record the peer sent arrived), or `alone` (no peer spoke
//! within [`InitialSync::WAIT`] of the start, or every peer went away), or `incomplete`
//! (records were still missing or could not be installed after
//! [`InitialSync::MAX_ATTEMPTS`] transfers; incremental sync fills in). A restarted rvsd
//! gets its services from rvs-ctrl a moment after it starts: records that arrive before
//! them cannot be installed (`no_service`), and the sync thread asks again a second later. Each end is ready, and stays so for the life of the process: a later
//! bulk sync (a peer that restarts) never makes a master step back.

use super::BulkOutcome;
use crate::time::Time;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Waiting,
    Syncing { from: u32, attempt: u32 },
    Complete { from: u32, records: u64 },
    Alone,
    Incomplete { from: u32, records: u64, sent: u64 },
}

impl InitialState {
    /// The name `rvsadm --sync` and `/metrics` show.
    pub fn name(&self) -> &'static str {
        match self {
            InitialState::Waiting => "waiting",
            InitialState::Syncing { .. } => "syncing",
            InitialState::Complete { .. } => "complete",
            InitialState::Alone => "alone",
            InitialState::Incomplete { .. } => "incomplete",
        }
    }
}

/// What the sync thread should do after a finished transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterBulk {
    /// Nothing: the start-up sync is over (or this was a later one).
    Done,
    /// Records are missing: ask `from` again.
    AskAgain { from: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialSync {
    started: Time,
    /// No peer heard for this long from the start: alone (None: never).
    wait: Option<Duration>,
    state: InitialState,
    /// When it became ready.
    ended: Option<Time>,
}

impl InitialSync {
    /// How long a director that hears no peer waits before it calls itself alone: peers
    /// say hello every second, so three are missed by then.
    pub const WAIT: Duration = Duration::from_millis(3500);
    /// Transfers tried before an incomplete one is accepted (about a second apart: enough
    /// for rvs-ctrl, which retries a restarted rvsd with a backoff of up to 5 s).
    pub const MAX_ATTEMPTS: u32 = 8;

    pub fn new(now: Time) -> InitialSync {
        InitialSync { started: now, wait: Some(Self::WAIT), state: InitialState::Waiting, ended: None }
    }

    /// Calls itself alone after `wait` without a peer, or never (None: a cluster member
    /// told to wait for its peers however long it takes).
    pub fn with_wait(mut self, wait: Option<Duration>) -> InitialSync {
        self.wait = wait;
        self
    }

    pub fn state(&self) -> InitialState {
        self.state
    }

    pub fn ready(&self) -> bool {
        self.ended.is_some()
    }

    /// How long it took (ready), or has been going on.
    pub fn elapsed(&self, now: Time) -> Duration {
        self.ended.unwrap_or(now) - self.started
    }

    fn end(&mut self, state: InitialState, now: Time) {
        self.state = state;
        self.ended = Some(now);
    }

    /// A bulk sync was asked of `from` (0: any member).
    pub fn requested(&mut self, from: u32) {
        match self.state {
            InitialState::Waiting => self.state = InitialState::Syncing { from, attempt: 1 },
            InitialState::Syncing { attempt, .. } => {
                self.state = InitialState::Syncing { from, attempt: attempt + 1 }
            }
            _ => {}
        }
    }

    /// A transfer of ours finished; `lost_here` says records were dropped or not installed
    /// on this side (a worker's ring was full, no such service yet), which makes it
    /// incomplete however the counts look.
    pub fn finished(&mut self, o: &BulkOutcome, lost_here: bool, now: Time) -> AfterBulk {
        let InitialState::Syncing { attempt, .. } = self.state else { return AfterBulk::Done };
        if o.complete() && !lost_here {
            self.end(InitialState::Complete { from: o.from, records: o.received }, now);
            AfterBulk::Done
        } else if attempt >= Self::MAX_ATTEMPTS {
            self.end(InitialState::Incomplete { from: o.from, records: o.received, sent: o.sent }, now);
            AfterBulk::Done
        } else {
            AfterBulk::AskAgain { from: o.from }
        }
    }

    /// Called now and then with whether any peer is alive: no peer within the wait
    /// ([`Self::WAIT`] unless set) of the start, or none left while syncing, means there is nothing to wait for.
    pub fn tick(&mut self, peers_alive: bool, now: Time) {
        match self.state {
            InitialState::Waiting | InitialState::Syncing { .. }
                if !peers_alive && self.wait.is_some_and(|w| now - self.started >= w) =>
            {
                self.end(InitialState::Alone, now)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(sent: u64, received: u64) -> BulkOutcome {
        BulkOutcome { from: 2, bulk_id: 1, announced: sent, sent, received, digest: 0 }
    }

    #[test]
    fn complete_after_a_full_transfer_and_stays_ready() {
        let t0 = Time::from_secs(10);
        let mut s = InitialSync::new(t0);
        assert!(!s.ready());
        s.tick(false, t0 + Duration::from_secs(1));
        assert_eq!(s.state(), InitialState::Waiting);
        s.requested(2);
        assert_eq!(s.state(), InitialState::Syncing { from: 2, attempt: 1 });
        assert!(!s.ready());
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(s.finished(&outcome(40, 40), false, t1), AfterBulk::Done);
        assert!(s.ready());
        assert_eq!(s.state(), InitialState::Complete { from: 2, records: 40 });
        assert_eq!(s.elapsed(t1 + Duration::from_secs(9)), Duration::from_millis(1500));
        // A later bulk (the peer restarted) does not make it unready.
        s.requested(2);
        assert_eq!(s.finished(&outcome(5, 1), false, t1), AfterBulk::Done);
        s.tick(false, t1 + Duration::from_secs(60));
        assert!(s.ready());
        assert_eq!(s.state().name(), "complete");
    }

    #[test]
    fn missing_records_ask_again_then_give_up() {
        let t0 = Time::from_secs(1);
        let mut s = InitialSync::new(t0);
        s.requested(2);
        assert_eq!(s.finished(&outcome(40, 39), false, t0), AfterBulk::AskAgain { from: 2 });
        s.requested(2);
        // The counts agree but a worker's ring dropped some here.
        assert_eq!(s.finished(&outcome(40, 40), true, t0), AfterBulk::AskAgain { from: 2 });
        assert!(!s.ready());
        for attempt in 3..InitialSync::MAX_ATTEMPTS {
            s.requested(2);
            assert_eq!(s.state(), InitialState::Syncing { from: 2, attempt });
            assert_eq!(s.finished(&outcome(40, 40), true, t0), AfterBulk::AskAgain { from: 2 });
        }
        s.requested(2);
        assert_eq!(s.finished(&outcome(40, 30), false, t0), AfterBulk::Done);
        assert_eq!(s.state(), InitialState::Incomplete { from: 2, records: 30, sent: 40 });
        assert!(s.ready());
    }

    #[test]
    fn alone_when_no_peer_speaks() {
        let t0 = Time::from_secs(1);
        let mut s = InitialSync::new(t0);
        s.tick(false, t0 + Duration::from_secs(3));
        assert!(!s.ready());
        // A peer is alive (heard) but has not been asked yet: keep waiting.
        s.tick(true, t0 + Duration::from_secs(5));
        assert!(!s.ready());
        s.tick(false, t0 + Duration::from_secs(5));
        assert_eq!(s.state(), InitialState::Alone);
        assert!(s.ready());

        // The peer that was asked went away before answering.
        let mut s = InitialSync::new(t0);
        s.requested(2);
        s.tick(true, t0 + Duration::from_secs(5));
        assert!(!s.ready());
        s.tick(false, t0 + Duration::from_secs(6));
        assert_eq!(s.state().name(), "alone");
    }
}
