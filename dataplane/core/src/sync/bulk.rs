//! Bulk sync, both ends, as state machines over authenticated messages.
//!
//! The member that (re)joins asks ([`BulkTracker::request`]); the member that answers
//! sends a start marker, its whole table as `BULK` records, and an end marker
//! ([`BulkAnswer`] keeps the counts). The requester follows one transfer at a time and
//! reports its outcome: how many records the sender said it sent against how many arrived
//! (datagrams may be lost: a shortfall means ask again, or rely on incremental sync).

use super::wire::{BulkMarker, BulkRequest, Control, Kind, FLAG_BULK};
use super::{Body, Message};
use crate::time::Time;

/// Where the requester is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkPhase {
    Idle,
    /// Asked at `at`; no start marker yet.
    Requested {
        at: Time,
    },
    /// The start marker from `from` arrived.
    Receiving {
        from: u32,
        announced: u64,
        received: u64,
        at: Time,
    },
}

/// The result of a finished transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkOutcome {
    pub from: u32,
    pub bulk_id: u32,
    /// Sessions the sender had when it started.
    pub announced: u64,
    /// Records the sender says it sent.
    pub sent: u64,
    /// Records that arrived.
    pub received: u64,
    /// The sender's table digest at the end.
    pub digest: u64,
}

impl BulkOutcome {
    /// Every record the sender sent arrived.
    pub fn complete(&self) -> bool {
        self.received >= self.sent
    }
}

/// What a message meant to the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkEvent {
    /// Not part of our transfer (incremental sync, another member's bulk, a hello).
    None,
    Started {
        from: u32,
        announced: u64,
    },
    /// Bulk records of our transfer arrived (install them like any others).
    Records(u64),
    Finished(BulkOutcome),
}

/// The requester's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkTracker {
    me: u32,
    bulk_id: u32,
    phase: BulkPhase,
}

impl BulkTracker {
    /// For member `me`; bulk ids start after `first_id` (e.g. the epoch, so that a
    /// restarted member does not match an answer meant for its previous run).
    pub fn new(me: u32, first_id: u32) -> BulkTracker {
        BulkTracker { me, bulk_id: first_id, phase: BulkPhase::Idle }
    }

    pub fn phase(&self) -> BulkPhase {
        self.phase
    }

    /// A new request (to `target`, 0 = any member); an unfinished transfer is abandoned.
    pub fn request(&mut self, target: u32, now: Time) -> Control {
        self.bulk_id = self.bulk_id.wrapping_add(1);
        self.phase = BulkPhase::Requested { at: now };
        Control::BulkRequest(BulkRequest { target, bulk_id: self.bulk_id })
    }

    /// Whether the transfer stalled: nothing for `timeout` since the request or the
    /// last message of the transfer (ask again).
    pub fn stalled(&self, now: Time, timeout: std::time::Duration) -> bool {
        match self.phase {
            BulkPhase::Idle => false,
            BulkPhase::Requested { at } | BulkPhase::Receiving { at, .. } => now - at >= timeout,
        }
    }

    fn ours(&self, m: &BulkMarker) -> bool {
        m.requester == self.me && m.bulk_id == self.bulk_id
    }

    /// Follows one authenticated message.
    pub fn on_message(&mut self, msg: &Message<'_>, now: Time) -> BulkEvent {
        let sender = msg.header.sender;
        match (&msg.body, self.phase) {
            (Body::Control(Control::BulkStart(m)), BulkPhase::Requested { .. }) if self.ours(m) => {
                self.phase =
                    BulkPhase::Receiving { from: sender, announced: m.sessions, received: 0, at: now };
                BulkEvent::Started { from: sender, announced: m.sessions }
            }
            (Body::Conns(c), BulkPhase::Receiving { from, announced, received, .. })
                if from == sender && msg.header.flags & FLAG_BULK != 0 =>
            {
                let n = c.len() as u64;
                self.phase = BulkPhase::Receiving { from, announced, received: received + n, at: now };
                BulkEvent::Records(n)
            }
            (Body::Control(Control::BulkEnd(m)), BulkPhase::Receiving { from, announced, received, .. })
                if from == sender && self.ours(m) =>
            {
                self.phase = BulkPhase::Idle;
                BulkEvent::Finished(BulkOutcome {
                    from,
                    bulk_id: m.bulk_id,
                    announced,
                    sent: m.sessions,
                    received,
                    digest: m.digest,
                })
            }
            _ => BulkEvent::None,
        }
    }
}

/// The answering side: whether to answer a request, and the markers with their counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkAnswer {
    pub requester: u32,
    pub bulk_id: u32,
    pub sent: u64,
}

impl BulkAnswer {
    /// The answer to `msg` if it is a bulk request meant for member `me` (or for every
    /// member) from another member.
    pub fn for_request(msg: &Message<'_>, me: u32) -> Option<BulkAnswer> {
        match msg.body {
            Body::Control(Control::BulkRequest(r))
                if msg.header.kind == Kind::BulkRequest && (r.target == 0 || r.target == me) =>
            {
                Some(BulkAnswer { requester: msg.header.sender, bulk_id: r.bulk_id, sent: 0 })
            }
            _ => None,
        }
    }

    /// The start marker, for a table of `sessions` with `digest`.
    pub fn start(&self, sessions: u64, digest: u64) -> Control {
        Control::BulkStart(BulkMarker { requester: self.requester, bulk_id: self.bulk_id, sessions, digest })
    }

    /// Count one record sent.
    pub fn sent_one(&mut self) {
        self.sent += 1;
    }

    /// The end marker.
    pub fn end(&self, digest: u64) -> Control {
        Control::BulkEnd(BulkMarker {
            requester: self.requester,
            bulk_id: self.bulk_id,
            sessions: self.sent,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionState, PROTO_TCP};
    use crate::sync::{ClusterKey, ConnRecord, Packer, Receiver, ReceiverConfig, Sender, SenderConfig};
    use std::net::SocketAddr;
    use std::time::Duration;

    fn key() -> ClusterKey {
        ClusterKey::from_config("a long test cluster passphrase").unwrap()
    }

    fn rec(i: u16) -> ConnRecord {
        ConnRecord {
            proto: PROTO_TCP,
            state: SessionState::Established,
            client: SocketAddr::from(([10, 0, 0, 1], i)),
            virt: SocketAddr::from(([192, 0, 2, 1], 80)),
            local: SocketAddr::from(([198, 51, 100, 1], i)),
            real: SocketAddr::from(([172, 16, 0, 1], 80)),
            timeout_ms: 1000,
            flags: 0,
            translation: None,
            proxy: None,
            persist: None,
        }
    }

    /// Member 1 asks, member 2 answers with `n` records of which `lose` datagrams are lost.
    fn transfer(n: u16, lose_first_datagram: bool) -> (Vec<BulkEvent>, BulkTracker) {
        let t0 = Time::from_secs(1);
        let mut asker = BulkTracker::new(1, 100);
        let mut p1 = Packer::new(Sender::new(SenderConfig::new(7, 1, 1), &key()).unwrap());
        let mut p2 = Packer::new(Sender::new(SenderConfig::new(7, 2, 1), &key()).unwrap());
        let mut rx1 = Receiver::new(ReceiverConfig::new(7, 1), &key());
        let mut rx2 = Receiver::new(ReceiverConfig::new(7, 2), &key());

        let mut wire: Vec<Vec<u8>> = Vec::new();
        p1.control(&asker.request(0, t0), |d| wire.push(d.to_vec())).unwrap();
        assert_eq!(asker.phase(), BulkPhase::Requested { at: t0 });
        let req = rx2.receive(&wire[0], t0).unwrap();
        let mut ans = BulkAnswer::for_request(&req, 2).unwrap();
        assert_eq!((ans.requester, ans.bulk_id), (1, 101));
        assert_eq!(BulkAnswer::for_request(&req, 3).map(|a| a.requester), Some(1));

        let mut out: Vec<Vec<u8>> = Vec::new();
        // An incremental record before the bulk: not part of the transfer.
        p2.push(&rec(9999), |d| out.push(d.to_vec())).unwrap();
        p2.set_bulk(true, |d| out.push(d.to_vec())).unwrap();
        p2.control(&ans.start(n as u64, 0), |d| out.push(d.to_vec())).unwrap();
        for i in 0..n {
            p2.push(&rec(i), |d| out.push(d.to_vec())).unwrap();
            ans.sent_one();
        }
        p2.control(&ans.end(42), |d| out.push(d.to_vec())).unwrap();
        p2.set_bulk(false, |d| out.push(d.to_vec())).unwrap();

        let mut events = Vec::new();
        let mut first_bulk = true;
        for d in &out {
            let m = rx1.receive(d, t0).unwrap();
            let is_bulk = matches!(m.body, Body::Conns(_)) && m.header.flags & FLAG_BULK != 0;
            if is_bulk && first_bulk && lose_first_datagram {
                first_bulk = false;
                continue;
            }
            events.push(asker.on_message(&m, t0));
        }
        (events, asker)
    }

    #[test]
    fn a_complete_transfer() {
        let (ev, asker) = transfer(100, false);
        assert_eq!(ev[0], BulkEvent::None);
        assert_eq!(ev[1], BulkEvent::Started { from: 2, announced: 100 });
        let recs: u64 = ev.iter().map(|e| if let BulkEvent::Records(n) = e { *n } else { 0 }).sum();
        assert_eq!(recs, 100);
        let BulkEvent::Finished(o) = *ev.last().unwrap() else { panic!("{ev:?}") };
        assert_eq!(
            o,
            BulkOutcome { from: 2, bulk_id: 101, announced: 100, sent: 100, received: 100, digest: 42 }
        );
        assert!(o.complete());
        assert_eq!(asker.phase(), BulkPhase::Idle);
    }

    #[test]
    fn a_lost_datagram_shows_in_the_outcome() {
        let (ev, _) = transfer(100, true);
        let BulkEvent::Finished(o) = *ev.last().unwrap() else { panic!("{ev:?}") };
        assert!(!o.complete());
        assert_eq!(o.sent, 100);
        assert_eq!(o.received, 100 - 42);
    }

    #[test]
    fn answers_to_others_and_stalls() {
        let mut t = BulkTracker::new(1, 0);
        assert!(!t.stalled(Time::from_secs(100), Duration::from_secs(5)));
        let _ = t.request(2, Time::from_secs(10));
        let hdr = crate::sync::Header {
            kind: Kind::BulkStart,
            sync_id: 7,
            flags: 0,
            sender: 2,
            epoch: 1,
            seq: 1,
            count: 0,
        };
        // A start marker for member 3's request, or for our previous request: ignored.
        for (requester, bulk_id) in [(3, 1), (1, 0)] {
            let m = Message {
                header: hdr,
                body: Body::Control(Control::BulkStart(BulkMarker {
                    requester,
                    bulk_id,
                    sessions: 5,
                    digest: 0,
                })),
            };
            assert_eq!(t.on_message(&m, Time::from_secs(11)), BulkEvent::None);
        }
        assert!(!t.stalled(Time::from_secs(14), Duration::from_secs(5)));
        assert!(t.stalled(Time::from_secs(15), Duration::from_secs(5)));
        // A hello is not a bulk request.
        let hello = Message {
            header: crate::sync::Header { kind: Kind::Hello, ..hdr },
            body: Body::Control(Control::Hello(crate::sync::Hello {
                generation: 0,
                sessions: 0,
                digest: 0,
                hold_ms: 0,
                state: 0,
                port_slices: 0,
            })),
        };
        assert_eq!(BulkAnswer::for_request(&hello, 1), None);
    }
}
