//! The sending side: numbering and sealing messages, and packing connection records into
//! datagrams no larger than the sync MTU allows.
//!
//! IPVS fills a buffer of `sync_mtu` minus the IP and UDP headers (1500 → 1472 bytes over
//! IPv4) and sends it when it is full or has waited long enough; [`Packer`] does the
//! same over one buffer allocated once, and the caller decides when a partial datagram
//! must go ([`Packer::flush`], e.g. every `IPVS_SYNC_SEND_DELAY`-like tick).

use super::auth::{Authenticator, ClusterKey};
use super::conn::{ConnRecord, CONN_MAX_LEN};
use super::wire::{Control, Header, Kind, FLAG_BULK, HEADER_LEN, MAX_MESSAGE_LEN, MIN_MESSAGE_LEN, TAG_LEN};
use super::Error;

/// IPVS's default `sync_mtu`.
pub const DEFAULT_SYNC_MTU: usize = 1500;
const IPV4_UDP_HEADERS: usize = 20 + 8;
const IPV6_UDP_HEADERS: usize = 40 + 8;

/// The largest sync message for a link MTU: the MTU less the IP and UDP headers, at most
/// what the 16-bit length can describe.
pub fn max_message_len(mtu: usize, ipv6_transport: bool) -> usize {
    let h = if ipv6_transport { IPV6_UDP_HEADERS } else { IPV4_UDP_HEADERS };
    mtu.saturating_sub(h).min(MAX_MESSAGE_LEN)
}

/// Sender settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    pub sync_id: u8,
    /// Our member id (not 0).
    pub member: u32,
    /// Our incarnation: must be larger than the previous run's (e.g. the wall-clock
    /// seconds at start), or receivers refuse our messages as replays until their window
    /// catches up.
    pub epoch: u32,
    /// Largest message, see [`max_message_len`]; at least one header, one IPv6 record
    /// with every option and the tag.
    pub max_message: usize,
}

impl SenderConfig {
    pub fn new(sync_id: u8, member: u32, epoch: u32) -> SenderConfig {
        SenderConfig { sync_id, member, epoch, max_message: max_message_len(DEFAULT_SYNC_MTU, false) }
    }
}

/// Numbers and seals outgoing messages.
#[derive(Debug, Clone)]
pub struct Sender {
    cfg: SenderConfig,
    auth: Authenticator,
    next_seq: u64,
}

impl Sender {
    pub fn new(cfg: SenderConfig, key: &ClusterKey) -> Result<Sender, Error> {
        let need = HEADER_LEN + CONN_MAX_LEN + TAG_LEN;
        if cfg.max_message < need || cfg.max_message > MAX_MESSAGE_LEN {
            return Err(Error::BadLength(cfg.max_message));
        }
        if cfg.member == 0 {
            return Err(Error::ZeroSender);
        }
        Ok(Sender { cfg, auth: key.authenticator(), next_seq: 1 })
    }

    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }

    /// The sequence number the next message gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn header(&mut self, kind: Kind, flags: u8, count: u16) -> Header {
        let seq = self.next_seq;
        self.next_seq += 1;
        Header {
            kind,
            sync_id: self.cfg.sync_id,
            flags,
            sender: self.cfg.member,
            epoch: self.cfg.epoch,
            seq,
            count,
        }
    }

    /// Writes a sealed control message (hello, bulk request/start/end) into `buf`;
    /// returns its length.
    pub fn control(&mut self, body: &Control, buf: &mut [u8]) -> Result<usize, Error> {
        let len = body.message_len();
        let Some(msg) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { need: len, have: buf.len() });
        };
        let h = self.header(body.kind(), 0, 0);
        h.emit(len, msg)?;
        body.emit_body(&mut msg[HEADER_LEN..len - TAG_LEN])?;
        self.auth.seal(msg);
        Ok(len)
    }

    /// Seals a `Conns` message whose `count` records are in `msg[HEADER_LEN..len -
    /// TAG_LEN]`: writes the header and the tag.
    fn seal_conns(&mut self, msg: &mut [u8], count: u16, bulk: bool) -> Result<(), Error> {
        let h = self.header(Kind::Conns, if bulk { FLAG_BULK } else { 0 }, count);
        h.emit(msg.len(), msg)?;
        self.auth.seal(msg);
        Ok(())
    }
}

/// Packs connection records into datagrams of at most `max_message` bytes, in a buffer
/// allocated once. Records go in with [`Packer::push`]; a full datagram is sealed and
/// handed to the `send` callback, which must copy it out (to a socket or an mbuf).
#[derive(Debug)]
pub struct Packer {
    sender: Sender,
    buf: Vec<u8>,
    /// Bytes used: the header room plus the records so far.
    len: usize,
    count: u16,
    bulk: bool,
    sent_messages: u64,
    sent_records: u64,
    sent_bytes: u64,
}

impl Packer {
    pub fn new(sender: Sender) -> Packer {
        let max = sender.cfg.max_message;
        Packer {
            sender,
            buf: vec![0; max],
            len: HEADER_LEN,
            count: 0,
            bulk: false,
            sent_messages: 0,
            sent_records: 0,
            sent_bytes: 0,
        }
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    pub fn sender_mut(&mut self) -> &mut Sender {
        &mut self.sender
    }

    /// Records waiting in the current datagram.
    pub fn pending(&self) -> usize {
        self.count as usize
    }

    /// Marks the records pushed from now on as bulk (or incremental); a pending datagram
    /// of the other kind is flushed first.
    pub fn set_bulk(&mut self, bulk: bool, send: impl FnMut(&[u8])) -> Result<(), Error> {
        if bulk != self.bulk {
            self.flush(send)?;
            self.bulk = bulk;
        }
        Ok(())
    }

    /// Adds one record; sends the current datagram first when the record does not fit.
    pub fn push(&mut self, rec: &ConnRecord, mut send: impl FnMut(&[u8])) -> Result<(), Error> {
        let n = rec.buffer_len();
        if self.len + n + TAG_LEN > self.buf.len() || self.count == u16::MAX {
            self.flush(&mut send)?;
        }
        let end = self.len + n;
        let Some(dst) = self.buf.get_mut(self.len..end) else {
            return Err(Error::BufferTooSmall { need: end, have: self.buf.len() });
        };
        rec.emit(dst)?;
        self.len = end;
        self.count += 1;
        Ok(())
    }

    /// Seals and sends the current datagram, if it holds any record.
    pub fn flush(&mut self, mut send: impl FnMut(&[u8])) -> Result<(), Error> {
        if self.count == 0 {
            return Ok(());
        }
        let total = self.len + TAG_LEN;
        debug_assert!(total >= MIN_MESSAGE_LEN);
        let msg = &mut self.buf[..total];
        self.sender.seal_conns(msg, self.count, self.bulk)?;
        send(msg);
        self.sent_messages += 1;
        self.sent_records += self.count as u64;
        self.sent_bytes += total as u64;
        self.len = HEADER_LEN;
        self.count = 0;
        Ok(())
    }

    /// Writes a control message through the same sender (numbered in the same sequence);
    /// pending records are flushed first so that ordering is kept (e.g. a bulk end
    /// after the last bulk record).
    pub fn control(&mut self, body: &Control, mut send: impl FnMut(&[u8])) -> Result<(), Error> {
        self.flush(&mut send)?;
        let mut b = [0u8; MIN_MESSAGE_LEN + 32];
        let n = self.sender.control(body, &mut b)?;
        send(&b[..n]);
        self.sent_messages += 1;
        self.sent_bytes += n as u64;
        Ok(())
    }

    /// (messages, records, bytes) sent so far.
    pub fn sent(&self) -> (u64, u64, u64) {
        (self.sent_messages, self.sent_records, self.sent_bytes)
    }
}
