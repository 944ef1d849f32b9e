//! IPVS's input-only TCP state table, for DR and TUN sessions: the real server's replies
//! go straight to the client, so the director sees one direction and guesses the state
//! from the client's flags alone (ip_vs_proto_tcp.c, `TCP_DIR_INPUT_ONLY`). The timeouts
//! are the same as for the other methods (`StateTimeouts`).

use super::state::{SessionState, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};

impl SessionState {
    /// The state after a client segment with `flags` on a session whose replies bypass
    /// us. As IPVS, RST wins over SYN, SYN over FIN, FIN over ACK; a segment with none of
    /// them changes nothing.
    pub fn next_tcp_input_only(self, flags: u8) -> SessionState {
        use SessionState::*;
        if flags & TCP_RST != 0 {
            return match self {
                SynRecv => SynRecv,
                LastAck => LastAck,
                Udp => Udp,
                _ => Close,
            };
        }
        if flags & TCP_SYN != 0 {
            return match self {
                Established => Established,
                Udp => Udp,
                _ => SynRecv,
            };
        }
        if flags & TCP_FIN != 0 {
            return match self {
                Established => FinWait,
                SynRecv => TimeWait,
                s => s,
            };
        }
        if flags & TCP_ACK != 0 {
            return match self {
                SynRecv => Established,
                LastAck => Close,
                s => s,
            };
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::{TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};
    use super::SessionState::{self, *};

    fn run(from: SessionState, segs: &[u8]) -> Vec<SessionState> {
        let mut s = from;
        segs.iter()
            .map(|&f| {
                s = s.next_tcp_input_only(f);
                s
            })
            .collect()
    }

    #[test]
    fn client_view_of_a_whole_connection() {
        // SYN, ACK (handshake done), data, FIN+ACK, last ACK of the server's FIN.
        let seen = run(SynRecv, &[TCP_SYN, TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_ACK]);
        assert_eq!(seen, [SynRecv, Established, Established, FinWait, FinWait]);
    }

    #[test]
    fn the_table_of_ipvs_row_by_row() {
        // (state, [after syn, fin, ack, rst]) for the states a DR/TUN session can hold.
        let table = [
            (Established, [Established, FinWait, Established, Close]),
            (SynRecv, [SynRecv, TimeWait, Established, SynRecv]),
            (FinWait, [SynRecv, FinWait, FinWait, Close]),
            (TimeWait, [SynRecv, TimeWait, TimeWait, Close]),
            (Close, [SynRecv, Close, Close, Close]),
            (CloseWait, [SynRecv, CloseWait, CloseWait, Close]),
            (LastAck, [SynRecv, LastAck, Close, LastAck]),
        ];
        for (from, want) in table {
            for (flag, to) in [TCP_SYN, TCP_FIN, TCP_ACK, TCP_RST].into_iter().zip(want) {
                assert_eq!(from.next_tcp_input_only(flag), to, "{from:?} + {flag:#x}");
            }
        }
    }

    #[test]
    fn priorities_and_flagless_segments() {
        assert_eq!(Established.next_tcp_input_only(TCP_RST | TCP_ACK), Close, "RST over ACK");
        assert_eq!(Established.next_tcp_input_only(TCP_SYN | TCP_FIN), Established, "SYN over FIN");
        assert_eq!(FinWait.next_tcp_input_only(TCP_SYN | TCP_ACK), SynRecv, "SYN over ACK");
        assert_eq!(Established.next_tcp_input_only(TCP_FIN | TCP_ACK), FinWait, "FIN over ACK");
        assert_eq!(SynRecv.next_tcp_input_only(0x08), SynRecv, "PSH alone: unchanged");
        assert!(Established.is_active() && !FinWait.is_active());
    }
}
