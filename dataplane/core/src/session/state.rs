//! Connection states with IPVS names, and their timeouts.
//!
//! The tracker follows IPVS: it watches flags in both directions without validating
//! sequence numbers (the end hosts do that); its job is to pick a timeout and to tell
//! the scheduler which connections are active.

use std::time::Duration;

use rvs_proto::Timeouts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → VIP.
    FromClient,
    /// Real server → LIP.
    FromServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SessionState {
    // Established and Udp, the states of the fast path, first: one compare tells them
    // (`is_steady`), or one mask (`STEADY_MASK`).
    Established,
    /// Any UDP flow.
    Udp,
    /// Client SYN forwarded, handshake not complete.
    SynRecv,
    /// The client sent the first FIN.
    FinWait,
    /// The server sent the first FIN.
    CloseWait,
    /// Server closed first, then the client's FIN.
    LastAck,
    /// Both sides sent FIN.
    TimeWait,
    /// Reset.
    Close,
}

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

impl SessionState {
    pub const COUNT: usize = 8;

    /// ESTABLISHED or UDP: the states whose packets change nothing but timers.
    #[inline(always)]
    pub fn is_steady(self) -> bool {
        self as u8 & Self::STEADY_MASK == 0
    }

    /// The bits of a state's number that only states other than ESTABLISHED and UDP have.
    pub const STEADY_MASK: u8 = !1;

    /// The name ipvsadm prints.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::SynRecv => "SYN_RECV",
            SessionState::Established => "ESTABLISHED",
            SessionState::FinWait => "FIN_WAIT",
            SessionState::CloseWait => "CLOSE_WAIT",
            SessionState::LastAck => "LAST_ACK",
            SessionState::TimeWait => "TIME_WAIT",
            SessionState::Close => "CLOSE",
            SessionState::Udp => "UDP",
        }
    }

    /// IPVS counts ESTABLISHED TCP sessions as active, everything else as inactive.
    pub fn is_active(self) -> bool {
        self == SessionState::Established
    }

    /// A state in which a new SYN from the client starts a new connection on the same
    /// ports (the old session is expired first, as IPVS's connection reuse does).
    pub fn allows_reuse(self) -> bool {
        matches!(self, SessionState::TimeWait | SessionState::Close)
    }

    /// The state after a TCP segment with `flags` travelling in `dir`.
    pub fn next_tcp(self, dir: Direction, flags: u8) -> SessionState {
        use Direction::*;
        use SessionState::*;
        if flags & TCP_RST != 0 {
            return Close;
        }
        let fin = flags & TCP_FIN != 0;
        match (self, dir) {
            (SynRecv, FromClient) if fin => FinWait,
            (SynRecv, FromClient) if flags & TCP_ACK != 0 && flags & TCP_SYN == 0 => Established,
            (SynRecv, FromServer) if fin => CloseWait,
            (Established, FromClient) if fin => FinWait,
            (Established, FromServer) if fin => CloseWait,
            (FinWait, FromServer) if fin => TimeWait,
            (CloseWait, FromClient) if fin => LastAck,
            (LastAck, FromServer) if flags & TCP_ACK != 0 => TimeWait,
            (s, _) => s,
        }
    }
}

/// Timeout per state, from ipvsadm's three knobs: `tcp` for ESTABLISHED, `tcpfin` for
/// every closing state (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE), `udp` for UDP.
/// SYN_RECV has a fixed 30 s so half-open connections do not linger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTimeouts {
    by_state: [Duration; SessionState::COUNT],
    /// The same in nanoseconds: what the packet path adds to `now`.
    nanos: [u64; SessionState::COUNT],
    knobs: Timeouts,
}

/// The longest timeout `deadline` adds, and the latest time it takes: 2^62 ns.
const MAX_TIMEOUT_NANOS: u64 = 1 << 62;

pub const SYN_RECV_TIMEOUT: Duration = Duration::from_secs(30);
/// SYN_RECV timeout for sessions created while the table is 7/8 full: a real client's
/// ACK comes within a round trip, a flood's never.
pub const SYN_RECV_PRESSURE_TIMEOUT: Duration = Duration::from_secs(3);

impl StateTimeouts {
    pub fn new(t: Timeouts) -> Self {
        let fin = Duration::from_secs(t.tcp_fin as u64);
        let mut by_state = [fin; SessionState::COUNT];
        by_state[SessionState::SynRecv as usize] = SYN_RECV_TIMEOUT;
        by_state[SessionState::Established as usize] = Duration::from_secs(t.tcp as u64);
        by_state[SessionState::Udp as usize] = Duration::from_secs(t.udp as u64);
        // At most 2^62 ns (146 years): added to a time that is below 2^62 too (a
        // monotonic count from boot or start), it cannot overflow (`deadline`).
        let nanos = by_state.map(|d| d.as_nanos().min(MAX_TIMEOUT_NANOS as u128) as u64);
        StateTimeouts { by_state, nanos, knobs: t }
    }

    /// When a session in state `s` seen at `now` expires.
    #[inline]
    pub fn deadline(&self, now: crate::time::Time, s: SessionState) -> crate::time::Time {
        // No saturation: both terms are below 2^62 (`new`), an add per packet and no more.
        debug_assert!(now.0 < MAX_TIMEOUT_NANOS, "a time of over 146 years");
        crate::time::Time(now.0 + self.nanos[s as usize])
    }

    /// Whether a session in state `s` gets the short SYN_RECV life: half-open while the
    /// table is under pressure (7/8 full; a flood's handshakes never complete).
    #[inline]
    pub fn pressed(s: SessionState, table_under_pressure: bool) -> bool {
        table_under_pressure && s == SessionState::SynRecv
    }

    /// `deadline`, or the short SYN_RECV life when `pressed`.
    #[inline]
    pub fn deadline_under(
        &self,
        now: crate::time::Time,
        s: SessionState,
        table_under_pressure: bool,
    ) -> crate::time::Time {
        if Self::pressed(s, table_under_pressure) {
            now + SYN_RECV_PRESSURE_TIMEOUT
        } else {
            self.deadline(now, s)
        }
    }

    #[inline]
    pub fn get(&self, s: SessionState) -> Duration {
        self.by_state[s as usize]
    }

    pub fn knobs(&self) -> Timeouts {
        self.knobs
    }
}

#[cfg(test)]
mod tests {
    use super::Direction::*;
    use super::SessionState::*;
    use super::*;

    /// The fast path's one compare takes ESTABLISHED and UDP, and no other state.
    #[test]
    fn steady_states_are_established_and_udp() {
        for s in [SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close, Udp] {
            assert_eq!(s.is_steady(), s == Established || s == Udp, "{}", s.name());
        }
    }

    #[test]
    fn client_closes_first() {
        let mut s = SynRecv;
        s = s.next_tcp(FromServer, TCP_SYN | TCP_ACK);
        assert_eq!(s, SynRecv);
        s = s.next_tcp(FromClient, TCP_ACK);
        assert_eq!(s, Established);
        s = s.next_tcp(FromClient, TCP_ACK | TCP_FIN);
        assert_eq!(s, FinWait);
        s = s.next_tcp(FromServer, TCP_ACK);
        assert_eq!(s, FinWait);
        s = s.next_tcp(FromServer, TCP_ACK | TCP_FIN);
        assert_eq!(s, TimeWait);
        assert!(s.allows_reuse());
    }

    #[test]
    fn server_closes_first() {
        let s = Established.next_tcp(FromServer, TCP_FIN | TCP_ACK);
        assert_eq!(s, CloseWait);
        let s = s.next_tcp(FromClient, TCP_FIN | TCP_ACK);
        assert_eq!(s, LastAck);
        assert_eq!(s.next_tcp(FromServer, TCP_ACK), TimeWait);
    }

    #[test]
    fn reset_from_anywhere_closes() {
        for st in [SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait] {
            assert_eq!(st.next_tcp(FromServer, TCP_RST), Close);
            assert_eq!(st.next_tcp(FromClient, TCP_RST | TCP_ACK), Close);
        }
    }

    #[test]
    fn retransmitted_syn_keeps_syn_recv() {
        assert_eq!(SynRecv.next_tcp(FromClient, TCP_SYN), SynRecv);
    }

    #[test]
    fn timeouts_follow_ipvsadm_knobs() {
        let t = StateTimeouts::new(Timeouts { tcp: 10, tcp_fin: 3, udp: 5 });
        assert_eq!(t.get(Established), Duration::from_secs(10));
        assert_eq!(t.get(TimeWait), Duration::from_secs(3));
        assert_eq!(t.get(Close), Duration::from_secs(3));
        assert_eq!(t.get(Udp), Duration::from_secs(5));
        assert_eq!(t.get(SynRecv), SYN_RECV_TIMEOUT);
    }
}
