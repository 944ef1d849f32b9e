//! The message header and the control bodies (bulk request/start/end, hello): a typed
//! zero-copy view ([`SyncPacket`]) and Repr parse/emit pairs, big-endian throughout.
//!
//! ```text
//!  0      2      3      4      5      6          8              12             16
//!  +------+------+------+------+------+----------+--------------+--------------+
//!  | "RV" | ver  | kind | sync | flags| length   | sender       | epoch        |
//!  +------+------+------+------+------+----------+--------------+--------------+
//!  16                            24         26         28
//!  +-----------------------------+----------+----------+---- body ----+-- tag (16) --+
//!  | sequence number (u64)       | count    | reserved |              |              |
//!  +-----------------------------+----------+----------+--------------+--------------+
//! ```
//!
//! `length` counts the whole message, header and tag included; the tag is the last
//! [`TAG_LEN`] bytes and covers everything before it. See `docs/sync.md`.

use super::Error;

/// First two bytes of every message ("RV").
pub const MAGIC: [u8; 2] = *b"RV";
/// The protocol version this module speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 28;
/// Length of the authentication tag at the end of every message (HMAC-SHA-256-128).
pub const TAG_LEN: usize = 16;
/// The shortest message: a header and a tag.
pub const MIN_MESSAGE_LEN: usize = HEADER_LEN + TAG_LEN;
/// The longest message the 16-bit length can describe.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Header flag: the connection records answer a bulk request (sent between a
/// [`Kind::BulkStart`] and a [`Kind::BulkEnd`]). Only valid on [`Kind::Conns`].
pub const FLAG_BULK: u8 = 0x01;
const KNOWN_FLAGS: u8 = FLAG_BULK;

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `count` connection records.
    Conns = 1,
    /// A member (re)joining asks for the whole table.
    BulkRequest = 2,
    /// A bulk transfer starts.
    BulkStart = 3,
    /// A bulk transfer is complete.
    BulkEnd = 4,
    /// Member heartbeat: liveness, generation, table size and digest.
    Hello = 5,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Conns,
            2 => Kind::BulkRequest,
            3 => Kind::BulkStart,
            4 => Kind::BulkEnd,
            5 => Kind::Hello,
            _ => return None,
        })
    }

    /// The exact body length of a control kind; None for [`Kind::Conns`] (variable).
    pub fn body_len(self) -> Option<usize> {
        match self {
            Kind::Conns => None,
            Kind::BulkRequest => Some(BulkRequest::LEN),
            Kind::BulkStart | Kind::BulkEnd => Some(BulkMarker::LEN),
            Kind::Hello => Some(Hello::LEN),
        }
    }
}

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const KIND: usize = 3;
    pub const SYNC_ID: usize = 4;
    pub const FLAGS: usize = 5;
    pub const LENGTH: Range<usize> = 6..8;
    pub const SENDER: Range<usize> = 8..12;
    pub const EPOCH: Range<usize> = 12..16;
    pub const SEQ: Range<usize> = 16..24;
    pub const COUNT: Range<usize> = 24..26;
    pub const RESERVED: Range<usize> = 26..28;
}

/// A zero-copy view of a sync message. [`SyncPacket::new_checked`] guarantees that the
/// header, the body and the tag lie within the buffer, so every accessor is total.
#[derive(Debug, Clone, Copy)]
pub struct SyncPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], r: std::ops::Range<usize>) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[r]);
    u16::from_be_bytes(a)
}
fn be32(b: &[u8], r: std::ops::Range<usize>) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[r]);
    u32::from_be_bytes(a)
}
fn be64(b: &[u8], r: std::ops::Range<usize>) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[r]);
    u64::from_be_bytes(a)
}

impl<T: AsRef<[u8]>> SyncPacket<T> {
    /// Checks magic, version and that the buffer holds exactly `length` bytes.
    pub fn new_checked(buffer: T) -> Result<SyncPacket<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated { need: HEADER_LEN, have: b.len() });
        }
        if b[field::MAGIC] != MAGIC {
            return Err(Error::BadMagic);
        }
        if b[field::VERSION] != VERSION {
            return Err(Error::BadVersion(b[field::VERSION]));
        }
        let len = be16(b, field::LENGTH) as usize;
        if len < MIN_MESSAGE_LEN {
            return Err(Error::BadLength(len));
        }
        if b.len() < len {
            return Err(Error::Truncated { need: len, have: b.len() });
        }
        if b.len() > len {
            return Err(Error::TrailingBytes { length: len, have: b.len() });
        }
        Ok(SyncPacket { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    pub fn version(&self) -> u8 {
        self.b()[field::VERSION]
    }
    pub fn kind_raw(&self) -> u8 {
        self.b()[field::KIND]
    }
    pub fn sync_id(&self) -> u8 {
        self.b()[field::SYNC_ID]
    }
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    pub fn length(&self) -> usize {
        be16(self.b(), field::LENGTH) as usize
    }
    pub fn sender(&self) -> u32 {
        be32(self.b(), field::SENDER)
    }
    pub fn epoch(&self) -> u32 {
        be32(self.b(), field::EPOCH)
    }
    pub fn seq(&self) -> u64 {
        be64(self.b(), field::SEQ)
    }
    pub fn count(&self) -> u16 {
        be16(self.b(), field::COUNT)
    }
    pub fn reserved(&self) -> u16 {
        be16(self.b(), field::RESERVED)
    }
    /// Everything the tag covers: header and body.
    pub fn authenticated(&self) -> &[u8] {
        &self.b()[..self.length() - TAG_LEN]
    }
    pub fn body(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.length() - TAG_LEN]
    }
    pub fn tag(&self) -> &[u8] {
        let len = self.length();
        &self.b()[len - TAG_LEN..len]
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a> SyncPacket<&'a [u8]> {
    /// The body, borrowed for as long as the underlying buffer.
    pub fn body_slice(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        &b[HEADER_LEN..self.length() - TAG_LEN]
    }
}

/// The header of a message, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub kind: Kind,
    pub sync_id: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// The member that sent the message (never 0).
    pub sender: u32,
    /// The sender's incarnation: it must grow across restarts (see `docs/sync.md`).
    pub epoch: u32,
    /// Per-sender, per-epoch message sequence number.
    pub seq: u64,
    /// Connection records in the body (0 for control kinds).
    pub count: u16,
}

impl Header {
    /// The header of a checked packet, with its fields validated.
    pub fn parse<T: AsRef<[u8]>>(p: &SyncPacket<T>) -> Result<Header, Error> {
        let kind = Kind::from_u8(p.kind_raw()).ok_or(Error::BadKind(p.kind_raw()))?;
        let flags = p.flags();
        if flags & !KNOWN_FLAGS != 0 || (flags & FLAG_BULK != 0 && kind != Kind::Conns) {
            return Err(Error::BadFlags(flags));
        }
        if p.reserved() != 0 {
            return Err(Error::Reserved);
        }
        if p.sender() == 0 {
            return Err(Error::ZeroSender);
        }
        let count = p.count();
        if let Some(n) = kind.body_len() {
            if count != 0 {
                return Err(Error::CountMismatch { header: count, found: 0 });
            }
            if p.body().len() != n {
                return Err(Error::BadBodyLength { kind: kind as u8, len: p.body().len() });
            }
        }
        Ok(Header {
            kind,
            sync_id: p.sync_id(),
            flags,
            sender: p.sender(),
            epoch: p.epoch(),
            seq: p.seq(),
            count,
        })
    }

    /// Writes the header into `buf[..HEADER_LEN]` for a message of `length` bytes (header,
    /// body and tag).
    pub fn emit(&self, length: usize, buf: &mut [u8]) -> Result<(), Error> {
        if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&length) {
            return Err(Error::BadLength(length));
        }
        if self.sender == 0 {
            return Err(Error::ZeroSender);
        }
        let Some(b) = buf.get_mut(..HEADER_LEN) else {
            return Err(Error::BufferTooSmall { need: HEADER_LEN, have: buf.len() });
        };
        b[field::MAGIC].copy_from_slice(&MAGIC);
        b[field::VERSION] = VERSION;
        b[field::KIND] = self.kind as u8;
        b[field::SYNC_ID] = self.sync_id;
        b[field::FLAGS] = self.flags;
        b[field::LENGTH].copy_from_slice(&(length as u16).to_be_bytes());
        b[field::SENDER].copy_from_slice(&self.sender.to_be_bytes());
        b[field::EPOCH].copy_from_slice(&self.epoch.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        b[field::COUNT].copy_from_slice(&self.count.to_be_bytes());
        b[field::RESERVED].copy_from_slice(&[0, 0]);
        Ok(())
    }
}

/// A member asks for a bulk sync of the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkRequest {
    /// The member asked to answer; 0 asks every member.
    pub target: u32,
    /// Chosen by the requester; repeated in the answer's start and end markers.
    pub bulk_id: u32,
}

impl BulkRequest {
    pub const LEN: usize = 8;
    fn parse(b: &[u8]) -> BulkRequest {
        BulkRequest { target: be32(b, 0..4), bulk_id: be32(b, 4..8) }
    }
    fn emit(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.target.to_be_bytes());
        b[4..8].copy_from_slice(&self.bulk_id.to_be_bytes());
    }
}

/// The start or end of a bulk transfer (the message kind tells which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkMarker {
    /// The member whose request this answers.
    pub requester: u32,
    pub bulk_id: u32,
    /// Start: sessions in the sender's table; end: connection records actually sent.
    pub sessions: u64,
    /// The sender's table digest ([`super::TableDigest`]) at that moment.
    pub digest: u64,
}

impl BulkMarker {
    pub const LEN: usize = 24;
    fn parse(b: &[u8]) -> BulkMarker {
        BulkMarker {
            requester: be32(b, 0..4),
            bulk_id: be32(b, 4..8),
            sessions: be64(b, 8..16),
            digest: be64(b, 16..24),
        }
    }
    fn emit(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.requester.to_be_bytes());
        b[4..8].copy_from_slice(&self.bulk_id.to_be_bytes());
        b[8..16].copy_from_slice(&self.sessions.to_be_bytes());
        b[16..24].copy_from_slice(&self.digest.to_be_bytes());
    }
}

/// A member's heartbeat. The member id and its incarnation are the header's `sender` and
/// `epoch`. The ECMP cluster (#11) reads the rest: the view generation, the member's
/// lifecycle state and how many port slices it partitions local ports into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hello {
    /// The member's view generation: bumped each time its view of the members changes.
    pub generation: u64,
    /// Sessions in the member's table.
    pub sessions: u64,
    /// The member's table digest ([`super::TableDigest`]).
    pub digest: u64,
    /// The member counts as gone when no hello arrived for this long.
    pub hold_ms: u32,
    /// `MemberState` as a byte (0: a plain sync peer, not a cluster member).
    pub state: u8,
    /// Port slices the member's local ports are partitioned into (`[cluster] members`;
    /// 0: no partition). Members that disagree could pick the same LIP:lport.
    pub port_slices: u8,
}

impl Hello {
    pub const LEN: usize = 32;
    fn parse(b: &[u8]) -> Hello {
        Hello {
            generation: be64(b, 0..8),
            sessions: be64(b, 8..16),
            digest: be64(b, 16..24),
            hold_ms: be32(b, 24..28),
            state: b[28],
            port_slices: b[29],
        }
    }
    fn emit(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.generation.to_be_bytes());
        b[8..16].copy_from_slice(&self.sessions.to_be_bytes());
        b[16..24].copy_from_slice(&self.digest.to_be_bytes());
        b[24..28].copy_from_slice(&self.hold_ms.to_be_bytes());
        b[28] = self.state;
        b[29] = self.port_slices;
        b[30..32].copy_from_slice(&[0, 0]);
    }
}

/// The body of a control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    BulkRequest(BulkRequest),
    BulkStart(BulkMarker),
    BulkEnd(BulkMarker),
    Hello(Hello),
}

impl Control {
    pub fn kind(&self) -> Kind {
        match self {
            Control::BulkRequest(_) => Kind::BulkRequest,
            Control::BulkStart(_) => Kind::BulkStart,
            Control::BulkEnd(_) => Kind::BulkEnd,
            Control::Hello(_) => Kind::Hello,
        }
    }

    /// The whole message length (header, body, tag).
    pub fn message_len(&self) -> usize {
        HEADER_LEN + self.kind().body_len().unwrap_or(0) + TAG_LEN
    }

    /// The body of a control message whose header parsed (so its length is right).
    pub(super) fn parse(kind: Kind, body: &[u8]) -> Result<Control, Error> {
        if kind.body_len() != Some(body.len()) {
            return Err(Error::BadBodyLength { kind: kind as u8, len: body.len() });
        }
        Ok(match kind {
            Kind::BulkRequest => Control::BulkRequest(BulkRequest::parse(body)),
            Kind::BulkStart => Control::BulkStart(BulkMarker::parse(body)),
            Kind::BulkEnd => Control::BulkEnd(BulkMarker::parse(body)),
            Kind::Hello => Control::Hello(Hello::parse(body)),
            Kind::Conns => return Err(Error::BadKind(kind as u8)),
        })
    }

    /// Writes the body into `body` (exactly `kind().body_len()` bytes).
    pub(super) fn emit_body(&self, body: &mut [u8]) -> Result<(), Error> {
        let need = self.kind().body_len().unwrap_or(0);
        if body.len() != need {
            return Err(Error::BufferTooSmall { need, have: body.len() });
        }
        match self {
            Control::BulkRequest(r) => r.emit(body),
            Control::BulkStart(m) | Control::BulkEnd(m) => m.emit(body),
            Control::Hello(h) => h.emit(body),
        }
        Ok(())
    }
}
