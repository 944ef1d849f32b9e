//! The receiving side: every datagram is checked in a fixed order and refused with a
//! counted reason, or handed back as an authenticated, fully parsed [`Message`].
//!
//! 1. structure: magic, version, length against the datagram (`Truncated`, `BadVersion`,
//!    `Malformed`);
//! 2. `sync id` (`ForeignSyncId`: another group on the same multicast address), our own
//!    member id (`Loopback`: multicast loops our messages back), the peer list
//!    (`UnknownSender`);
//! 3. the sequence number against the sender's window, without recording it (`Replayed`,
//!    `TooOld`, `StaleEpoch`), so a replay flood costs no HMAC;
//! 4. the tag (`BadTag`);
//! 5. the body (`Malformed`);
//! 6. only then is the sequence number recorded.

use std::collections::HashMap;

use super::auth::{Authenticator, ClusterKey};
use super::conn::Conns;
use super::replay::{ReplayError, Window1024};
use super::wire::{Control, Header, Kind, SyncPacket};
use super::{Body, Error, Message};
use crate::time::Time;

/// Why a datagram was refused. Each has its own counter ([`RefusalCounters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("truncated: {0}")]
    Truncated(Error),
    #[error("not a sync message of this version: {0}")]
    BadVersion(Error),
    #[error("malformed: {0}")]
    Malformed(Error),
    #[error("sync id {0} is not ours")]
    ForeignSyncId(u8),
    #[error("our own message looped back")]
    Loopback,
    #[error("member {0} is not a configured peer")]
    UnknownSender(u32),
    #[error("wrong authentication tag from member {0}")]
    BadTag(u32),
    #[error("member {sender} replayed sequence number {seq}")]
    Replayed { sender: u32, seq: u64 },
    #[error("member {sender}: sequence number {seq} is older than the replay window")]
    TooOld { sender: u32, seq: u64 },
    #[error("member {sender}: epoch {epoch} is older than its current epoch {current}")]
    StaleEpoch { sender: u32, epoch: u32, current: u32 },
    #[error("too many members ({0}); member refused")]
    TooManyPeers(usize),
}

impl Refusal {
    pub const COUNT: usize = 11;
    /// Names in counter order, for `rvsadm --sync` and logs.
    pub const NAMES: [&'static str; Self::COUNT] = [
        "truncated",
        "bad_version",
        "malformed",
        "foreign_sync_id",
        "loopback",
        "unknown_sender",
        "bad_tag",
        "replayed",
        "too_old",
        "stale_epoch",
        "too_many_peers",
    ];

    /// The index of this reason's counter.
    pub fn index(&self) -> usize {
        match self {
            Refusal::Truncated(_) => 0,
            Refusal::BadVersion(_) => 1,
            Refusal::Malformed(_) => 2,
            Refusal::ForeignSyncId(_) => 3,
            Refusal::Loopback => 4,
            Refusal::UnknownSender(_) => 5,
            Refusal::BadTag(_) => 6,
            Refusal::Replayed { .. } => 7,
            Refusal::TooOld { .. } => 8,
            Refusal::StaleEpoch { .. } => 9,
            Refusal::TooManyPeers(_) => 10,
        }
    }

    fn of_structure(e: Error) -> Refusal {
        match e {
            Error::Truncated { .. } => Refusal::Truncated(e),
            Error::BadMagic | Error::BadVersion(_) => Refusal::BadVersion(e),
            e => Refusal::Malformed(e),
        }
    }
}

/// Refused datagrams, per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefusalCounters(pub [u64; Refusal::COUNT]);

impl RefusalCounters {
    pub fn get(&self, r: &Refusal) -> u64 {
        self.0[r.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// (name, count) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::NAMES.iter().copied().zip(self.0.iter().copied())
    }
}

/// Logs refusals at most once per interval and reason, saying how many were not logged
/// (the "counted, logged once per interval").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalLog {
    interval: std::time::Duration,
    last: [Option<Time>; Refusal::COUNT],
    suppressed: [u64; Refusal::COUNT],
}

impl RefusalLog {
    pub fn new(interval: std::time::Duration) -> RefusalLog {
        RefusalLog { interval, last: [None; Refusal::COUNT], suppressed: [0; Refusal::COUNT] }
    }

    /// Some(refusals of this reason not logged since the last line) when `r` should be
    /// logged now; None when it is to be counted silently.
    pub fn should_log(&mut self, r: &Refusal, now: Time) -> Option<u64> {
        let i = r.index();
        match self.last[i] {
            Some(t) if now - t < self.interval => {
                self.suppressed[i] += 1;
                None
            }
            _ => {
                self.last[i] = Some(now);
                Some(std::mem::take(&mut self.suppressed[i]))
            }
        }
    }
}

/// What the receiver knows of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    pub epoch: u32,
    pub window: Window1024,
    /// When its last accepted message arrived.
    pub last_seen: Time,
    pub accepted: u64,
}

/// Receiver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Messages of another sync id are refused (IPVS `syncid`).
    pub sync_id: u8,
    /// Our own member id: messages from it are refused as looped back.
    pub member: u32,
    /// When set, only these members are accepted.
    pub peers: Option<Vec<u32>>,
    /// Most members tracked without a peer list (each costs a 1024-bit window).
    pub max_peers: usize,
}

impl ReceiverConfig {
    pub fn new(sync_id: u8, member: u32) -> ReceiverConfig {
        ReceiverConfig { sync_id, member, peers: None, max_peers: 256 }
    }
}

/// Authenticates and parses incoming sync datagrams.
#[derive(Debug)]
pub struct Receiver {
    cfg: ReceiverConfig,
    auth: Authenticator,
    peers: HashMap<u32, PeerState, ahash::RandomState>,
    refused: RefusalCounters,
    accepted: u64,
}

impl Receiver {
    pub fn new(cfg: ReceiverConfig, key: &ClusterKey) -> Receiver {
        Receiver {
            cfg,
            auth: key.authenticator(),
            peers: HashMap::default(),
            refused: RefusalCounters::default(),
            accepted: 0,
        }
    }

    /// Checks one datagram (the UDP payload). On success the sender's sequence number is
    /// recorded and the message is returned; on refusal the reason is counted.
    pub fn receive<'a>(&mut self, datagram: &'a [u8], now: Time) -> Result<Message<'a>, Refusal> {
        match self.check(datagram, now) {
            Ok(m) => {
                self.accepted += 1;
                Ok(m)
            }
            Err(r) => {
                self.refused.0[r.index()] += 1;
                Err(r)
            }
        }
    }

    fn check<'a>(&mut self, datagram: &'a [u8], now: Time) -> Result<Message<'a>, Refusal> {
        let p = SyncPacket::new_checked(datagram).map_err(Refusal::of_structure)?;
        let header = Header::parse(&p).map_err(Refusal::Malformed)?;
        if header.sync_id != self.cfg.sync_id {
            return Err(Refusal::ForeignSyncId(header.sync_id));
        }
        let sender = header.sender;
        if sender == self.cfg.member {
            return Err(Refusal::Loopback);
        }
        if let Some(peers) = &self.cfg.peers {
            if !peers.contains(&sender) {
                return Err(Refusal::UnknownSender(sender));
            }
        }
        let known = self.peers.get(&sender);
        if let Some(st) = known {
            if header.epoch < st.epoch {
                return Err(Refusal::StaleEpoch { sender, epoch: header.epoch, current: st.epoch });
            }
            if header.epoch == st.epoch {
                st.window.check(header.seq).map_err(|e| replay_refusal(sender, e))?;
            }
        } else if self.peers.len() >= self.cfg.max_peers {
            return Err(Refusal::TooManyPeers(self.peers.len()));
        }
        if !self.auth.verify(p.authenticated(), p.tag()) {
            return Err(Refusal::BadTag(sender));
        }
        let body = match header.kind {
            Kind::Conns => {
                Body::Conns(Conns::parse(p.body_slice(), header.count).map_err(Refusal::Malformed)?)
            }
            k => Body::Control(Control::parse(k, p.body()).map_err(Refusal::Malformed)?),
        };
        let st = self.peers.entry(sender).or_insert_with(|| PeerState {
            epoch: header.epoch,
            window: Window1024::new(),
            last_seen: now,
            accepted: 0,
        });
        if header.epoch > st.epoch {
            // The member restarted: a new incarnation numbers its messages afresh.
            st.epoch = header.epoch;
            st.window = Window1024::new();
        }
        st.window.accept(header.seq).map_err(|e| replay_refusal(sender, e))?;
        st.last_seen = now;
        st.accepted += 1;
        Ok(Message { header, body })
    }

    pub fn refused(&self) -> &RefusalCounters {
        &self.refused
    }

    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Members heard from, by id.
    pub fn peers(&self) -> impl Iterator<Item = (u32, &PeerState)> {
        self.peers.iter().map(|(k, v)| (*k, v))
    }

    pub fn peer(&self, member: u32) -> Option<&PeerState> {
        self.peers.get(&member)
    }

    /// Forgets a member (it left the group).
    pub fn forget(&mut self, member: u32) {
        self.peers.remove(&member);
    }
}

fn replay_refusal(sender: u32, e: ReplayError) -> Refusal {
    match e {
        ReplayError::Replayed(seq) => Refusal::Replayed { sender, seq },
        ReplayError::TooOld { seq, .. } => Refusal::TooOld { sender, seq },
    }
}
