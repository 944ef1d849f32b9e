//! When a session is worth a sync record: IPVS's `ip_vs_sync_conn_needed` as a pure
//! function over the session's facts and a small per-session [`SyncMark`].
//!
//! The knobs are IPVS's sysctls, with their defaults:
//!
//! - `sync_threshold` (3) and `sync_period` (50): with a period, a session is synced when
//!   its client packet count `pkts` satisfies `pkts % period == threshold` (the 3rd packet,
//!   then every 50th: 3, 53, 103, ...). With period 0 and no refresh period, only the
//!   packet that reaches `threshold` syncs.
//! - `sync_refresh_period` (0 = off): a resync is skipped while the session's expiry
//!   moved by less than `min(refresh_period, max(timeout / 2, 10 s))` since the last sync,
//!   i.e. long-lived sessions are refreshed about once per refresh period, not every 50
//!   packets;
//! - `sync_retries` (0, at most 3): within that window, up to `retries` extra syncs are
//!   sent, no sooner than `refresh_period / 8` after the last one (against lost datagrams).
//!
//! TCP syncs only in ESTABLISHED, FIN_WAIT, CLOSE_WAIT, TIME_WAIT and CLOSE (not SYN_RECV:
//! half-open connections are not worth it, nor LAST_ACK, as in IPVS); a change into a
//! closing state syncs at once, whatever the counters. UDP has one state and syncs by the
//! counters only. Persistence templates sync by the counters except the period;
//! `sync_persist_mode` skips sessions controlled by a template (the template is synced
//! instead).

use std::time::Duration;

use crate::session::{SessionState, PROTO_TCP};
use crate::time::Time;

/// IPVS's sync sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncParams {
    pub threshold: u32,
    pub period: u32,
    pub refresh_period: Duration,
    pub retries: u8,
    pub persist_mode: bool,
}

impl Default for SyncParams {
    fn default() -> Self {
        SyncParams {
            threshold: 3,
            period: 50,
            refresh_period: Duration::ZERO,
            retries: 0,
            persist_mode: false,
        }
    }
}

impl SyncParams {
    /// `sync_retries` is clamped to 0..=3 as IPVS does.
    pub fn with_retries(mut self, r: u8) -> Self {
        self.retries = r.min(3);
        self
    }
}

/// What the session remembers of its last sync (IPVS `sync_endtime` and `old_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMark {
    /// The session's expiry as last synced (or at creation).
    pub end: Time,
    /// Retries sent since the expiry last moved enough.
    pub retries: u8,
    /// The state last synced (None: never).
    pub state: Option<SessionState>,
}

impl SyncMark {
    /// The mark of a session created at `now` (IPVS starts `sync_endtime` at creation).
    pub fn new(now: Time) -> SyncMark {
        SyncMark { end: now, retries: 0, state: None }
    }
}

/// The facts of the session, after the packet that may trigger a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncInput {
    pub proto: u8,
    pub state: SessionState,
    /// The session is a persistence template.
    pub template: bool,
    /// The session is controlled by a persistence template.
    pub in_persistence: bool,
    /// Client packets of the session so far, this one included.
    pub pkts: u32,
    /// The session's timeout in its current state.
    pub timeout: Duration,
    pub now: Time,
}

fn tcp_state_synced(s: SessionState) -> bool {
    use SessionState::*;
    matches!(s, Established | FinWait | CloseWait | TimeWait | Close)
}

/// A shortcut for the packet path: true when `should_sync` would surely say no to a
/// non-template session's packet number `pkts` in `state`, which is most packets under
/// the common parameters (no refresh period: only the packet count and a change of state
/// decide). False means "ask `should_sync`".
#[inline]
pub fn surely_not_due(p: &SyncParams, pkts: u32, state: SessionState, mark: &SyncMark) -> bool {
    QuickCheck::of(p).surely_not_due(pkts, state, mark)
}

/// `surely_not_due` with the parameters' part decided once, when sync is turned on: a
/// worker's packet path tests the packet count and the state, nothing of the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuickCheck {
    period: u32,
    threshold: u32,
}

impl QuickCheck {
    pub fn of(p: &SyncParams) -> QuickCheck {
        if p.refresh_period.is_zero() && p.period > 0 {
            QuickCheck { period: p.period, threshold: p.threshold }
        } else {
            // Where the count alone cannot say no: every packet number is "due" (any
            // number modulo 1 is 0), so every packet asks `should_sync`.
            QuickCheck { period: 1, threshold: 0 }
        }
    }

    #[inline(always)]
    pub fn surely_not_due(self, pkts: u32, state: SessionState, mark: &SyncMark) -> bool {
        mark.state == Some(state) && pkts % self.period != self.threshold
    }
}

/// Whether to sync the session now; on yes, `mark` is updated to what was synced.
pub fn should_sync(p: &SyncParams, s: &SyncInput, mark: &mut SyncMark) -> bool {
    let end = s.now + s.timeout;
    if s.template {
        // Templates: counters only (below), never forced.
    } else if p.persist_mode && s.in_persistence {
        return false;
    } else if s.proto == PROTO_TCP {
        if !tcp_state_synced(s.state) {
            return false;
        }
        // A change of state is forced through, except into ESTABLISHED, which waits for
        // the counters like IPVS (whose `force` only matters to its lock-free update).
        let changed = mark.state != Some(s.state);
        if changed && s.state != SessionState::Established {
            *mark = SyncMark { end, retries: 0, state: Some(s.state) };
            return true;
        }
    }
    let mut retries = 0;
    if !p.refresh_period.is_zero() {
        let moved = if end >= mark.end { end - mark.end } else { mark.end - end };
        let min_diff = (s.timeout / 2).max(Duration::from_secs(10));
        if moved < p.refresh_period.min(min_diff) {
            if mark.retries >= p.retries {
                return false;
            }
            // Last sync was at `mark.end - timeout`; retries come every refresh / 8.
            let last = Time(mark.end.0.saturating_sub(s.timeout.as_nanos() as u64));
            if s.now < last + p.refresh_period / 8 {
                return false;
            }
            retries = mark.retries + 1;
        }
    }
    if p.period > 0 {
        if !s.template && s.pkts % p.period != p.threshold {
            return false;
        }
    } else if p.refresh_period.is_zero() && s.pkts != p.threshold {
        return false;
    }
    *mark = SyncMark { end, retries, state: Some(s.state) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::PROTO_UDP;
    use SessionState::*;

    fn input(state: SessionState, pkts: u32, now_s: u64) -> SyncInput {
        SyncInput {
            proto: if state == Udp { PROTO_UDP } else { PROTO_TCP },
            state,
            template: false,
            in_persistence: false,
            pkts,
            timeout: Duration::from_secs(900),
            now: Time::from_secs(now_s),
        }
    }

    /// The packet counts at which a session in one state syncs, over `n` packets.
    fn synced_at(p: &SyncParams, state: SessionState, n: u32) -> Vec<u32> {
        let mut m = SyncMark::new(Time::ZERO);
        (1..=n).filter(|&k| should_sync(p, &input(state, k, k as u64), &mut m)).collect()
    }

    /// `surely_not_due` never says no where `should_sync` says yes, over every state,
    /// a range of packet counts, thresholds, periods and refresh periods.
    #[test]
    fn the_shortcut_never_hides_a_due_sync() {
        let states = [SynRecv, Established, FinWait, CloseWait, TimeWait, Close, Udp];
        for (threshold, period, refresh) in
            [(3, 50, 0), (0, 1, 0), (1, 0, 0), (3, 50, 5), (49, 50, 0), (0, 0, 0)]
        {
            let p = SyncParams {
                threshold,
                period,
                refresh_period: Duration::from_secs(refresh),
                ..SyncParams::default()
            };
            for last in states.iter().map(|&s| Some(s)).chain([None]) {
                for state in states {
                    for pkts in 1..=120 {
                        let mark = SyncMark { end: Time::from_secs(900), retries: 0, state: last };
                        if surely_not_due(&p, pkts, state, &mark) {
                            let mut m = mark;
                            assert!(
                                !should_sync(&p, &input(state, pkts, 1), &mut m),
                                "{p:?} {last:?} {state:?} {pkts}"
                            );
                            assert_eq!(m, mark, "a no leaves the mark alone");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn defaults_sync_the_third_packet_then_every_fiftieth() {
        let p = SyncParams::default();
        assert_eq!(synced_at(&p, Established, 200), vec![3, 53, 103, 153]);
        assert_eq!(synced_at(&p, Udp, 60), vec![3, 53]);
    }

    #[test]
    fn syn_recv_and_last_ack_never_sync() {
        let p = SyncParams::default();
        assert!(synced_at(&p, SynRecv, 200).is_empty());
        assert!(synced_at(&p, LastAck, 200).is_empty());
    }

    #[test]
    fn a_change_into_a_closing_state_syncs_at_once() {
        let p = SyncParams::default();
        let mut m = SyncMark::new(Time::ZERO);
        assert!(should_sync(&p, &input(Established, 3, 1), &mut m));
        assert!(!should_sync(&p, &input(Established, 4, 1), &mut m));
        // FIN from the client at packet 5: not a threshold packet, synced anyway, once.
        assert!(should_sync(&p, &input(FinWait, 5, 2), &mut m));
        assert_eq!(m.state, Some(FinWait));
        assert!(!should_sync(&p, &input(FinWait, 6, 2), &mut m));
        assert!(should_sync(&p, &input(TimeWait, 7, 3), &mut m));
        assert!(should_sync(&p, &input(Close, 8, 3), &mut m));
        assert!(!should_sync(&p, &input(Close, 9, 3), &mut m));
    }

    #[test]
    fn becoming_established_waits_for_the_threshold() {
        // As in IPVS: the change to ESTABLISHED is forced only through the counters.
        let p = SyncParams::default();
        let mut m = SyncMark::new(Time::ZERO);
        assert!(!should_sync(&p, &input(Established, 2, 1), &mut m));
        assert!(should_sync(&p, &input(Established, 3, 1), &mut m));
    }

    #[test]
    fn no_period_syncs_once_at_the_threshold() {
        let p = SyncParams { period: 0, ..SyncParams::default() };
        assert_eq!(synced_at(&p, Established, 500), vec![3]);
    }

    #[test]
    fn refresh_period_limits_long_lived_sessions() {
        // Refresh every 60 s, no period: sync when the expiry moved by >= 60 s.
        let p = SyncParams { period: 0, refresh_period: Duration::from_secs(60), ..SyncParams::default() };
        let mut m = SyncMark::new(Time::ZERO);
        // One packet per second for 200 s.
        let got: Vec<u64> =
            (1..=200u64).filter(|&t| should_sync(&p, &input(Established, t as u32, t), &mut m)).collect();
        // The first packet is a state change into ESTABLISHED (forced, but not into a
        // closing state, so it goes through the refresh check: expiry moved by 901 s).
        assert_eq!(got, vec![1, 61, 121, 181]);
    }

    #[test]
    fn retries_within_the_refresh_window() {
        let p = SyncParams { period: 0, refresh_period: Duration::from_secs(80), ..SyncParams::default() }
            .with_retries(2);
        let mut m = SyncMark::new(Time::ZERO);
        let got: Vec<u64> =
            (1..=120u64).filter(|&t| should_sync(&p, &input(Established, t as u32, t), &mut m)).collect();
        // Synced at 1; retries every 80 / 8 = 10 s after the last sync, two of them; then
        // the next refresh once the expiry moved 80 s past the last retry's, and its
        // first retry.
        assert_eq!(got, vec![1, 11, 21, 101, 111]);
        assert_eq!(m.retries, 1);
        assert_eq!(SyncParams::default().with_retries(9).retries, 3);
    }

    #[test]
    fn persist_mode_skips_controlled_sessions_and_templates_use_counters() {
        let p = SyncParams { persist_mode: true, ..SyncParams::default() };
        let mut m = SyncMark::new(Time::ZERO);
        let mut i = input(FinWait, 3, 1);
        i.in_persistence = true;
        assert!(!should_sync(&p, &i, &mut m));
        // A template syncs on every packet with a period (IPVS: templates skip the
        // period test), never forced by a state.
        let mut t = input(Udp, 7, 1);
        t.template = true;
        assert!(should_sync(&p, &t, &mut m));
        let p0 = SyncParams { period: 0, ..p };
        assert!(!should_sync(&p0, &t, &mut m));
        t.pkts = 3;
        assert!(should_sync(&p0, &t, &mut m));
    }
}
