//! Session sync between directors, sans-IO: the wire format, authentication, replay
//! protection, packing, the sync decision and the shared SYN-cookie secrets. The sync
//! thread owns the sockets and the clock; workers hand it records; nothing here does I/O.
//!
//! - [`wire`]: the message header ([`SyncPacket`] view, [`Header`]) and the control bodies
//!   ([`BulkRequest`], [`BulkMarker`], [`Hello`]).
//! - [`conn`]: connection records ([`ConnRecord`]), family-tagged, with TLV options for
//!   the sequence translation, PROXY protocol state and persistence.
//! - [`auth`]: the cluster key ([`ClusterKey`], from hex or a passphrase through HKDF) and
//!   the HMAC-SHA-256-128 tag ([`Authenticator`]).
//! - [`replay`]: the 1024-wide sliding window per sender ([`ReplayWindow`]).
//! - [`receiver`]: checks and counts every refusal ([`Receiver`], [`Refusal`]).
//! - [`batch`]: numbering, sealing and MTU-sized packing ([`Sender`], [`Packer`]).
//! - [`bulk`]: the bulk-sync exchange, requester ([`BulkTracker`]) and answerer.
//! - [`install`]: a received record rebound to a session of this director ([`rebind`]).
//! - [`members`]: the group as hellos tell it: alive, restarted, gone, digests.
//! - [`cluster`]: one ECMP cluster member's lifecycle (joining, active, leaving) and view.
//! - [`policy`]: IPVS's `sync_threshold` / `sync_period` / `sync_refresh_period`
//!   decision ([`should_sync`]).
//! - [`ready`]: whether a director that just started has the group's table yet
//!   ([`InitialSync`]).
//! - [`cookie`]: SYN-cookie keys per time slot, the same on every member.
//! - [`digest`]: an order-independent table digest for hellos and bulk markers.
//!
//! The format, byte by byte, and how it differs from IPVS: `docs/sync.md`.

pub mod auth;
pub mod batch;
pub mod bulk;
pub mod cluster;
pub mod conn;
pub mod cookie;
pub mod digest;
pub mod install;
pub mod members;
pub mod policy;
pub mod ready;
pub mod receiver;
pub mod replay;
pub mod wire;

#[cfg(test)]
mod tests;

pub use auth::{Authenticator, ClusterKey, KeyError};
pub use batch::{max_message_len, Packer, Sender, SenderConfig, DEFAULT_SYNC_MTU};
pub use bulk::{BulkAnswer, BulkEvent, BulkOutcome, BulkPhase, BulkTracker};
pub use cluster::{Cluster, ClusterAction, MemberState};
pub use conn::{
    ConnEntry, ConnIter, ConnRecord, Conns, ProxyState, CONN_F_DR, CONN_F_METHOD, CONN_F_NAT,
    CONN_F_SYNPROXY, CONN_F_TOA, CONN_F_TOA_PENDING, CONN_F_TUN,
};
pub use cookie::{cookie_key, cookie_secrets_at, cookie_secrets_for_slot, cookie_slot, SharedCookieSecrets};
pub use digest::TableDigest;
pub use install::{rebind, rebind6, RebindError, Rebound};
pub use members::{Member, MemberEvent, Members};
pub use policy::{should_sync, QuickCheck, SyncInput, SyncMark, SyncParams};
pub use ready::{AfterBulk, InitialState, InitialSync};
pub use receiver::{PeerState, Receiver, ReceiverConfig, Refusal, RefusalCounters, RefusalLog};
pub use replay::{ReplayError, ReplayWindow, Window1024};
pub use wire::{
    BulkMarker, BulkRequest, Control, Header, Hello, Kind, SyncPacket, FLAG_BULK, HEADER_LEN, TAG_LEN,
};

/// The UDP port IPVS's sync daemon uses (a default; RVS does not speak IPVS's format).
pub const DEFAULT_PORT: u16 = 8848;
/// IPVS's sync multicast group, 224.0.0.81.
pub const DEFAULT_GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 81);

/// Why bytes are not a valid sync message, or a value cannot be written as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("truncated: {need} bytes needed, {have} present")]
    Truncated { need: usize, have: usize },
    #[error("not a sync message (bad magic)")]
    BadMagic,
    #[error("unsupported sync version {0}")]
    BadVersion(u8),
    #[error("bad message length {0}")]
    BadLength(usize),
    #[error("{have} bytes for a message of {length}")]
    TrailingBytes { length: usize, have: usize },
    #[error("unknown message kind {0}")]
    BadKind(u8),
    #[error("bad header flags {0:#04x}")]
    BadFlags(u8),
    #[error("reserved header bits set")]
    Reserved,
    #[error("sender id 0")]
    ZeroSender,
    #[error("header counts {header} records, body holds {found}")]
    CountMismatch { header: u16, found: u16 },
    #[error("body of {len} bytes for message kind {kind}")]
    BadBodyLength { kind: u8, len: usize },
    #[error("connection record length out of bounds")]
    BadRecordLength,
    #[error("protocol {0} cannot be synced")]
    BadProtocol(u8),
    #[error("state {0} does not fit the protocol")]
    BadState(u8),
    #[error("bad address family byte {0:#04x}")]
    BadFamily(u8),
    #[error("unknown connection flags {0:#04x}")]
    BadConnFlags(u8),
    #[error("bad or unknown critical option {kind}")]
    BadOption { kind: u8 },
    #[error("addresses of one side differ in family")]
    FamilyMismatch,
    #[error("buffer too small: {need} bytes needed, {have} available")]
    BufferTooSmall { need: usize, have: usize },
}

/// The body of a parsed message.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Conns(Conns<'a>),
    Control(Control),
}

/// A parsed message: its header and its body (records are decoded lazily, already
/// validated).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub header: Header,
    pub body: Body<'a>,
}

/// The body of a message to write.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'r> {
    Conns(&'r [ConnRecord]),
    Control(Control),
}

impl Outgoing<'_> {
    /// The length of the whole message (header, body, tag).
    pub fn buffer_len(&self) -> usize {
        match self {
            Outgoing::Conns(rs) => {
                HEADER_LEN + rs.iter().map(ConnRecord::buffer_len).sum::<usize>() + TAG_LEN
            }
            Outgoing::Control(c) => c.message_len(),
        }
    }
}

/// Parse/emit of whole messages.
pub struct SyncMessage;

impl SyncMessage {
    /// Parses a message's structure and body without checking its tag (for tools and
    /// tests: the [`Receiver`] is the authenticated way in).
    pub fn parse(buf: &[u8]) -> Result<Message<'_>, Error> {
        let p = SyncPacket::new_checked(buf)?;
        let header = Header::parse(&p)?;
        let body = match header.kind {
            Kind::Conns => Body::Conns(Conns::parse(p.body_slice(), header.count)?),
            k => Body::Control(Control::parse(k, p.body())?),
        };
        Ok(Message { header, body })
    }

    /// Writes `body` under `header` (its `kind` and `count` are taken from the body) and
    /// seals it with `auth`; returns the length. (The [`Sender`] numbers messages itself.)
    pub fn emit(
        header: &Header,
        body: &Outgoing,
        auth: &Authenticator,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let len = body.buffer_len();
        if len > wire::MAX_MESSAGE_LEN {
            return Err(Error::BadLength(len));
        }
        let Some(msg) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { need: len, have: buf.len() });
        };
        let mut h = *header;
        match body {
            Outgoing::Conns(rs) => {
                h.kind = Kind::Conns;
                h.count = rs.len() as u16;
                let mut off = HEADER_LEN;
                for r in *rs {
                    off += r.emit(&mut msg[off..])?;
                }
            }
            Outgoing::Control(c) => {
                h.kind = c.kind();
                h.count = 0;
                c.emit_body(&mut msg[HEADER_LEN..len - TAG_LEN])?;
            }
        }
        if h.flags & !FLAG_BULK != 0 || (h.flags & FLAG_BULK != 0 && h.kind != Kind::Conns) {
            return Err(Error::BadFlags(h.flags));
        }
        h.emit(len, msg)?;
        auth.seal(msg);
        Ok(len)
    }
}
