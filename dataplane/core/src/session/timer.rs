//! A hashed timing wheel with lazy re-arming.
//!
//! A packet only moves its session's `expires` forward; it never touches the wheel.
//! When a slot comes due, each entry is checked: if its session has really expired
//! it goes, otherwise it is filed again at its new expiry. Per packet that is O(1) and
//! free of list surgery; each live session is revisited about once per wheel turn.

use crate::time::Time;

/// (slot index in the session table, generation of that slot).
pub type TimerEntry = (u32, u32);

pub struct TimerWheel {
    slots: Vec<Vec<TimerEntry>>,
    tick_ns: u64,
    /// The last tick whose slot has been drained.
    done: u64,
}

impl TimerWheel {
    pub fn new(slots: usize, tick_ns: u64, now: Time) -> Self {
        assert!(slots >= 2 && tick_ns > 0);
        TimerWheel { slots: vec![Vec::new(); slots], tick_ns, done: now.0 / tick_ns }
    }

    /// Files `entry` to come due at `at` (or at the furthest tick the wheel holds, to be
    /// re-filed then). Returns when it will actually fire.
    pub fn schedule(&mut self, entry: TimerEntry, at: Time) -> Time {
        let n = self.slots.len() as u64;
        let tick = (at.0.div_ceil(self.tick_ns)).clamp(self.done + 1, self.done + n - 1);
        self.slots[(tick % n) as usize].push(entry);
        Time(tick * self.tick_ns)
    }

    /// Entries pending.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.slots.iter().map(Vec::len).sum()
    }

    /// Moves every entry due by `now` into `due`.
    pub fn advance(&mut self, now: Time, due: &mut Vec<TimerEntry>) {
        let n = self.slots.len() as u64;
        let target = now.0 / self.tick_ns;
        // After a long pause, a full turn drains everything once.
        let from = self.done.max(target.saturating_sub(n));
        for tick in from + 1..=target {
            due.append(&mut self.slots[(tick % n) as usize]);
        }
        self.done = self.done.max(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_at_or_after_deadline_never_before() {
        let mut w = TimerWheel::new(8, 100, Time(0));
        w.schedule((1, 0), Time(250));
        w.schedule((2, 0), Time(100));
        let mut due = Vec::new();
        w.advance(Time(99), &mut due);
        assert!(due.is_empty());
        w.advance(Time(100), &mut due);
        assert_eq!(due, vec![(2, 0)]);
        due.clear();
        w.advance(Time(299), &mut due);
        assert!(due.is_empty());
        w.advance(Time(300), &mut due);
        assert_eq!(due, vec![(1, 0)]);
    }

    #[test]
    fn far_deadlines_are_parked_in_the_last_slot() {
        let mut w = TimerWheel::new(4, 10, Time(0));
        w.schedule((7, 1), Time(1_000));
        let mut due = Vec::new();
        w.advance(Time(30), &mut due);
        assert_eq!(due, vec![(7, 1)], "comes back early for re-filing");
    }

    #[test]
    fn past_deadline_fires_next_tick() {
        let mut w = TimerWheel::new(4, 10, Time(100));
        w.schedule((1, 0), Time(5));
        let mut due = Vec::new();
        w.advance(Time(110), &mut due);
        assert_eq!(due, vec![(1, 0)]);
    }

    #[test]
    fn long_pause_drains_everything_once() {
        let mut w = TimerWheel::new(4, 10, Time(0));
        for i in 0..3 {
            w.schedule((i, 0), Time(10 + 10 * i as u64));
        }
        let mut due = Vec::new();
        w.advance(Time(10_000), &mut due);
        due.sort();
        assert_eq!(due, vec![(0, 0), (1, 0), (2, 0)]);
    }
}
