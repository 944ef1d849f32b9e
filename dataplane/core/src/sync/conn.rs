//! Connection records: one synced session each, family-tagged so that either side of a
//! FULLNAT connection may be IPv4 or IPv6, with optional TLV parts for the extension state.
//!
//! ```text
//!  0        2      3      4        5      6       8       10      12      14             18
//!  +--------+------+------+--------+------+-------+-------+-------+-------+--------------+
//!  | length | proto| state| family | flags| cport | vport | lport | rport | timeout (ms) |
//!  +--------+------+------+--------+------+-------+-------+-------+-------+--------------+
//!  18: caddr, vaddr (4 or 16 bytes each, client side), laddr, raddr (server side),
//!      then options: type (1), length (1), value (length), up to `length`
//! ```
//!
//! `family` holds the client side's IP version in its high nibble and the server side's in
//! its low nibble (0x44, 0x46, 0x64, 0x66). Option types below 128 are critical (an unknown
//! one refuses the record); types 128 and up may be skipped.
//!
//! `flags` names the forwarding method when it is not FULLNAT: NAT (bit 3), DR (bit 4) or
//! TUN (bit 5), at most one. Those sessions hold no local address: `laddr:lport` is then
//! the client's CIP:cport, the destination of the real server's reply, which is how the
//! session table keys them (RIP:rport → CIP:cport), so a record is the session's two keys
//! as they are. A receiver that does not know a flag refuses the record (`malformed`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::Error;
use crate::proxyproto::Version;
use crate::session::v6::{FlowKey6, Session6, FLAG6_DR, FLAG6_NAT, FLAG6_TOA, FLAG6_TOA_PENDING, FLAG6_TUN};
use crate::session::{
    FlowKey, Session, SessionState, FLAG_DR, FLAG_NAT, FLAG_TOA, FLAG_TOA_PENDING, FLAG_TUN, PROTO_TCP,
    PROTO_UDP,
};
use crate::synproxy::cookie::MAX_WSCALE;
use crate::synproxy::{SeqDelta, Translation, WindowShift};

/// Length of the fixed part of a record, before the addresses.
pub const CONN_FIXED_LEN: usize = 18;
/// Length of an IPv4-only record without options (the common case).
pub const CONN_V4_LEN: usize = CONN_FIXED_LEN + 4 * 4;
/// The longest record: IPv6 on both sides and every option.
pub const CONN_MAX_LEN: usize =
    CONN_FIXED_LEN + 4 * 16 + 2 + OPT_TRANSLATION_LEN + 2 + OPT_PROXY_LEN + 2 + 1 + 16;

/// Record flag: the service inserts TOA (the server's MSS is lowered).
pub const CONN_F_TOA: u8 = 0x01;
/// Record flag: TOA is still to be inserted into the next client ACK/data segment.
pub const CONN_F_TOA_PENDING: u8 = 0x02;
/// Record flag: the connection was opened by the SYN proxy (a repeated SYN/ACK from the
/// server is dropped, not forwarded).
pub const CONN_F_SYNPROXY: u8 = 0x04;
/// Record flag: forwarding method NAT (masquerade), IPv4 or IPv6: no local address;
/// `laddr:lport` is the client's CIP:cport, where the real server's replies go (through us).
pub const CONN_F_NAT: u8 = 0x08;
/// Record flag: forwarding method DR (the client's packet to the real server's MAC,
/// unchanged); no local address: `laddr:lport` is CIP:cport, as for NAT.
pub const CONN_F_DR: u8 = 0x10;
/// Record flag: forwarding method TUN (the client's packet inside IPIP / IPv6-in-IPv6 or
/// GUE); no local address: `laddr:lport` is CIP:cport, as for NAT.
pub const CONN_F_TUN: u8 = 0x20;
/// The method flags: at most one is set; none is FULLNAT.
pub const CONN_F_METHOD: u8 = CONN_F_NAT | CONN_F_DR | CONN_F_TUN;
const CONN_KNOWN_FLAGS: u8 = CONN_F_TOA | CONN_F_TOA_PENDING | CONN_F_SYNPROXY | CONN_F_METHOD;

/// Option: the sequence/timestamp/window translation (SYN proxy, PROXY header).
pub const OPT_TRANSLATION: u8 = 1;
const OPT_TRANSLATION_LEN: usize = 16;
/// Option: PROXY protocol state.
pub const OPT_PROXY: u8 = 2;
const OPT_PROXY_LEN: usize = 6;
/// Option: the (masked) client of the persistence template that pinned the session.
pub const OPT_PERSIST: u8 = 3;
/// Options from this type on may be skipped by a receiver that does not know them.
pub const OPT_SKIPPABLE: u8 = 128;

/// PROXY protocol state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyState {
    pub version: Version,
    /// The header went in front of the client's first data byte already (the translation
    /// then holds its length); false: still pending.
    pub sent: bool,
    /// The client's ISN (its first data byte is ISN + 1).
    pub client_isn: u32,
}

/// One synced session, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRecord {
    /// [`PROTO_TCP`] or [`PROTO_UDP`].
    pub proto: u8,
    /// [`SessionState::Udp`] exactly when `proto` is UDP.
    pub state: SessionState,
    /// CIP:cport.
    pub client: SocketAddr,
    /// VIP:vport; with `proto`, the service key the receiver rebinds to.
    pub virt: SocketAddr,
    /// LIP:lport; `lport` names the owning worker. NAT, DR, TUN (`CONN_F_METHOD`): the
    /// client's CIP:cport (no local address; the client endpoint names the worker).
    pub local: SocketAddr,
    /// RIP:rport: the real server the receiver rebinds to.
    pub real: SocketAddr,
    /// Time left until the session expires, in milliseconds (saturated).
    pub timeout_ms: u32,
    /// `CONN_F_*` bits.
    pub flags: u8,
    pub translation: Option<Translation>,
    pub proxy: Option<ProxyState>,
    /// The persistence template's (masked) client.
    pub persist: Option<IpAddr>,
}

fn family(a: &SocketAddr) -> u8 {
    if a.is_ipv4() {
        4
    } else {
        6
    }
}

fn addr_len(fam: u8) -> usize {
    if fam == 4 {
        4
    } else {
        16
    }
}

/// The wire number of a state: fixed here, not taken from the enum's discriminants, so that
/// reordering `SessionState` cannot change the format.
fn state_to_u8(s: SessionState) -> u8 {
    use SessionState::*;
    match s {
        SynRecv => 0,
        Established => 1,
        FinWait => 2,
        CloseWait => 3,
        LastAck => 4,
        TimeWait => 5,
        Close => 6,
        Udp => 7,
    }
}

fn state_from_u8(v: u8) -> Option<SessionState> {
    use SessionState::*;
    Some(match v {
        0 => SynRecv,
        1 => Established,
        2 => FinWait,
        3 => CloseWait,
        4 => LastAck,
        5 => TimeWait,
        6 => Close,
        7 => Udp,
        _ => return None,
    })
}

/// A bounds-checked cursor over the bytes of one record.
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::BadRecordLength)?;
        let s = self.b.get(self.pos..end).ok_or(Error::BadRecordLength)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn ip(&mut self, fam: u8) -> Result<IpAddr, Error> {
        if fam == 4 {
            let s = self.take(4)?;
            Ok(IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])))
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(self.take(16)?);
            Ok(IpAddr::V6(Ipv6Addr::from(a)))
        }
    }
}

/// A bounds-checked writer.
struct Wr<'a> {
    b: &'a mut [u8],
    pos: usize,
}

impl Wr<'_> {
    fn put(&mut self, s: &[u8]) {
        // The caller checked the length first (`buffer_len`): this cannot go past the end.
        if let Some(d) = self.b.get_mut(self.pos..self.pos + s.len()) {
            d.copy_from_slice(s);
        }
        self.pos += s.len();
    }
    fn ip(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(a) => self.put(&a.octets()),
            IpAddr::V6(a) => self.put(&a.octets()),
        }
    }
}

/// A zero-copy view of one connection record. [`ConnEntry::new_checked`] guarantees that
/// the fixed part and the four addresses lie within the record, so every accessor is
/// total; the options are checked by [`ConnRecord::parse`]. The sync thread can route a
/// record to its worker by [`ConnEntry::lport`] without decoding it.
#[derive(Debug, Clone, Copy)]
pub struct ConnEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ConnEntry<T> {
    /// Checks the record's length field against the buffer (which may hold more records
    /// after it) and the families, so that the addresses fit.
    pub fn new_checked(buffer: T) -> Result<ConnEntry<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < CONN_FIXED_LEN {
            return Err(Error::BadRecordLength);
        }
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        if len < CONN_V4_LEN || len > b.len() {
            return Err(Error::BadRecordLength);
        }
        let fam = b[4];
        let (cf, sf) = (fam >> 4, fam & 0x0f);
        if !matches!(cf, 4 | 6) || !matches!(sf, 4 | 6) {
            return Err(Error::BadFamily(fam));
        }
        if CONN_FIXED_LEN + 2 * addr_len(cf) + 2 * addr_len(sf) > len {
            return Err(Error::BadRecordLength);
        }
        Ok(ConnEntry { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.b()[at], self.b()[at + 1]])
    }
    /// The record's length, options included.
    pub fn len(&self) -> usize {
        self.u16_at(0) as usize
    }
    /// Never true for a checked entry (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn protocol(&self) -> u8 {
        self.b()[2]
    }
    /// The raw state byte (see `docs/sync.md`).
    pub fn state_raw(&self) -> u8 {
        self.b()[3]
    }
    /// IP versions of the client side and the server side (4 or 6).
    pub fn families(&self) -> (u8, u8) {
        (self.b()[4] >> 4, self.b()[4] & 0x0f)
    }
    pub fn flags(&self) -> u8 {
        self.b()[5]
    }
    pub fn cport(&self) -> u16 {
        self.u16_at(6)
    }
    pub fn vport(&self) -> u16 {
        self.u16_at(8)
    }
    pub fn lport(&self) -> u16 {
        self.u16_at(10)
    }
    pub fn rport(&self) -> u16 {
        self.u16_at(12)
    }
    pub fn timeout_ms(&self) -> u32 {
        let b = self.b();
        u32::from_be_bytes([b[14], b[15], b[16], b[17]])
    }
    fn addr(&self, i: usize) -> IpAddr {
        let (cf, sf) = self.families();
        let (fam, off) = if i < 2 {
            (cf, CONN_FIXED_LEN + i * addr_len(cf))
        } else {
            (sf, CONN_FIXED_LEN + 2 * addr_len(cf) + (i - 2) * addr_len(sf))
        };
        let b = &self.b()[off..off + addr_len(fam)];
        if fam == 4 {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        }
    }
    pub fn client(&self) -> SocketAddr {
        SocketAddr::new(self.addr(0), self.cport())
    }
    pub fn virt(&self) -> SocketAddr {
        SocketAddr::new(self.addr(1), self.vport())
    }
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.addr(2), self.lport())
    }
    pub fn real(&self) -> SocketAddr {
        SocketAddr::new(self.addr(3), self.rport())
    }
    /// The option bytes (type, length, value ...), unchecked.
    pub fn options(&self) -> &[u8] {
        let (cf, sf) = self.families();
        &self.b()[CONN_FIXED_LEN + 2 * addr_len(cf) + 2 * addr_len(sf)..self.len()]
    }
    /// The record's bytes, options included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.b()[..self.len()]
    }
}

fn check_shift(w: WindowShift) -> Result<WindowShift, Error> {
    if w.from > MAX_WSCALE || w.to > MAX_WSCALE {
        return Err(Error::BadOption { kind: OPT_TRANSLATION });
    }
    Ok(w)
}

impl ConnRecord {
    /// The encoded length of this record.
    pub fn buffer_len(&self) -> usize {
        let mut n = CONN_FIXED_LEN + 2 * addr_len(family(&self.client)) + 2 * addr_len(family(&self.local));
        if self.translation.is_some() {
            n += 2 + OPT_TRANSLATION_LEN;
        }
        if self.proxy.is_some() {
            n += 2 + OPT_PROXY_LEN;
        }
        if let Some(p) = self.persist {
            n += 2 + 1 + if p.is_ipv4() { 4 } else { 16 };
        }
        n
    }

    /// Checks what the wire cannot express: mixed families within one side, a protocol
    /// other than TCP/UDP, a state that does not fit the protocol, unknown flags, window
    /// shifts above 14.
    pub fn validate(&self) -> Result<(), Error> {
        if family(&self.client) != family(&self.virt) || family(&self.local) != family(&self.real) {
            return Err(Error::FamilyMismatch);
        }
        match (self.proto, self.state) {
            (PROTO_UDP, SessionState::Udp) => {}
            (PROTO_TCP, s) if s != SessionState::Udp => {}
            (PROTO_UDP | PROTO_TCP, s) => return Err(Error::BadState(state_to_u8(s))),
            (p, _) => return Err(Error::BadProtocol(p)),
        }
        if self.flags & !CONN_KNOWN_FLAGS != 0 {
            return Err(Error::BadConnFlags(self.flags));
        }
        // One method at most; a NAT, DR or TUN session's replies go to the client itself.
        let method = self.flags & CONN_F_METHOD;
        if method.count_ones() > 1 || method != 0 && self.local != self.client {
            return Err(Error::BadConnFlags(self.flags));
        }
        if let Some(t) = self.translation {
            check_shift(t.to_server_window)?;
            check_shift(t.to_client_window)?;
        }
        Ok(())
    }

    /// Writes the record at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.validate()?;
        let len = self.buffer_len();
        let Some(b) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { need: len, have: buf.len() });
        };
        let mut w = Wr { b, pos: 0 };
        w.put(&(len as u16).to_be_bytes());
        w.put(&[
            self.proto,
            state_to_u8(self.state),
            family(&self.client) << 4 | family(&self.local),
            self.flags,
        ]);
        for p in [self.client.port(), self.virt.port(), self.local.port(), self.real.port()] {
            w.put(&p.to_be_bytes());
        }
        w.put(&self.timeout_ms.to_be_bytes());
        for a in [self.client, self.virt, self.local, self.real] {
            w.ip(a.ip());
        }
        if let Some(t) = self.translation {
            w.put(&[OPT_TRANSLATION, OPT_TRANSLATION_LEN as u8]);
            w.put(&t.client_seq.0.to_be_bytes());
            w.put(&t.server_seq.0.to_be_bytes());
            w.put(&t.server_ts.0.to_be_bytes());
            let (s, c) = (t.to_server_window, t.to_client_window);
            w.put(&[s.from, s.to, c.from, c.to]);
        }
        if let Some(p) = self.proxy {
            w.put(&[OPT_PROXY, OPT_PROXY_LEN as u8]);
            w.put(&[if p.version == Version::V1 { 1 } else { 2 }, p.sent as u8]);
            w.put(&p.client_isn.to_be_bytes());
        }
        if let Some(a) = self.persist {
            let fam = if a.is_ipv4() { 4 } else { 6 };
            w.put(&[OPT_PERSIST, 1 + addr_len(fam) as u8, fam]);
            w.ip(a);
        }
        Ok(len)
    }

    /// Parses one record at the start of `buf`; returns it and its length.
    pub fn parse(buf: &[u8]) -> Result<(ConnRecord, usize), Error> {
        let e = ConnEntry::new_checked(buf)?;
        let len = e.len();
        let state = state_from_u8(e.state_raw()).ok_or(Error::BadState(e.state_raw()))?;
        let mut rec = ConnRecord {
            proto: e.protocol(),
            state,
            client: e.client(),
            virt: e.virt(),
            local: e.local(),
            real: e.real(),
            timeout_ms: e.timeout_ms(),
            flags: e.flags(),
            translation: None,
            proxy: None,
            persist: None,
        };
        let opts = e.options();
        let mut r = Rd { b: opts, pos: 0 };
        while r.pos < opts.len() {
            let kind = r.u8()?;
            let olen = r.u8()? as usize;
            let mut v = Rd { b: r.take(olen)?, pos: 0 };
            match kind {
                OPT_TRANSLATION => {
                    if olen != OPT_TRANSLATION_LEN || rec.translation.is_some() {
                        return Err(Error::BadOption { kind });
                    }
                    let (cs, ss, ts) = (v.u32()?, v.u32()?, v.u32()?);
                    let w = v.take(4)?;
                    rec.translation = Some(Translation {
                        client_seq: SeqDelta(cs),
                        server_seq: SeqDelta(ss),
                        server_ts: SeqDelta(ts),
                        to_server_window: check_shift(WindowShift { from: w[0], to: w[1] })?,
                        to_client_window: check_shift(WindowShift { from: w[2], to: w[3] })?,
                    });
                }
                OPT_PROXY => {
                    if olen != OPT_PROXY_LEN || rec.proxy.is_some() {
                        return Err(Error::BadOption { kind });
                    }
                    let version = match v.u8()? {
                        1 => Version::V1,
                        2 => Version::V2,
                        _ => return Err(Error::BadOption { kind }),
                    };
                    let sent = match v.u8()? {
                        0 => false,
                        1 => true,
                        _ => return Err(Error::BadOption { kind }),
                    };
                    rec.proxy = Some(ProxyState { version, sent, client_isn: v.u32()? });
                }
                OPT_PERSIST => {
                    if rec.persist.is_some() || olen == 0 {
                        return Err(Error::BadOption { kind });
                    }
                    let f = v.u8()?;
                    if !matches!(f, 4 | 6) || olen != 1 + addr_len(f) {
                        return Err(Error::BadOption { kind });
                    }
                    rec.persist = Some(v.ip(f)?);
                }
                k if k >= OPT_SKIPPABLE => {}
                k => return Err(Error::BadOption { kind: k }),
            }
        }
        rec.validate()?;
        Ok((rec, len))
    }

    /// The record of an IPv4 session of the pipeline's table, `remaining` before it
    /// expires. The extension state (translation, PROXY header) lives in the pipeline's
    /// extension table: the caller fills `translation`, `proxy` and `CONN_F_SYNPROXY`.
    pub fn from_session(s: &Session, remaining: Duration) -> ConnRecord {
        let mut flags = 0;
        if s.flags & FLAG_TOA != 0 {
            flags |= CONN_F_TOA;
        }
        if s.flags & FLAG_TOA_PENDING != 0 {
            flags |= CONN_F_TOA_PENDING;
        }
        // `local_addr` is then the client's endpoint (the reply's destination).
        if s.flags & FLAG_NAT != 0 {
            flags |= CONN_F_NAT;
        }
        if s.flags & FLAG_DR != 0 {
            flags |= CONN_F_DR;
        }
        if s.flags & FLAG_TUN != 0 {
            flags |= CONN_F_TUN;
        }
        ConnRecord {
            proto: s.client.proto,
            state: s.state,
            client: s.client_addr().into(),
            virt: s.virtual_addr().into(),
            local: s.local_addr().into(),
            real: s.real_addr().into(),
            timeout_ms: remaining.as_millis().min(u32::MAX as u128) as u32,
            flags,
            translation: None,
            proxy: None,
            persist: s.persist_client.get().map(IpAddr::V4),
        }
    }

    /// The record of an IPv6 session (FULLNAT v6 → v6, or NAT64, whose IPv4 LIP and real
    /// server the session keeps as IPv4-mapped addresses and the record carries as IPv4),
    /// `remaining` before it expires, with its TOA and PROXY protocol state.
    pub fn from_session6(s: &Session6, remaining: Duration) -> ConnRecord {
        let mut flags = 0;
        if s.flags & FLAG6_TOA != 0 {
            flags |= CONN_F_TOA;
        }
        if s.flags & FLAG6_TOA_PENDING != 0 {
            flags |= CONN_F_TOA_PENDING;
        }
        // `server` is then RIP:rport → CIP:cport: the local endpoint is the client.
        if s.flags & FLAG6_NAT != 0 {
            flags |= CONN_F_NAT;
        }
        if s.flags & FLAG6_DR != 0 {
            flags |= CONN_F_DR;
        }
        if s.flags & FLAG6_TUN != 0 {
            flags |= CONN_F_TUN;
        }
        let sock = |a: Ipv6Addr, port: u16| match a.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), port),
            None => SocketAddr::new(IpAddr::V6(a), port),
        };
        let proxy = match s.proxy {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            _ => None,
        };
        // Once the PROXY header went in, the client's stream is shifted by its length.
        let sent = proxy.is_some() && s.proxy_len != 0;
        ConnRecord {
            proto: s.client.proto,
            state: s.state,
            client: SocketAddr::new(IpAddr::V6(s.client.src), s.client.sport),
            virt: SocketAddr::new(IpAddr::V6(s.client.dst), s.client.dport),
            local: sock(s.server.dst, s.server.dport),
            real: sock(s.server.src, s.server.sport),
            timeout_ms: remaining.as_millis().min(u32::MAX as u128) as u32,
            flags,
            translation: sent.then(|| Translation::default().with_client_insert(u32::from(s.proxy_len))),
            proxy: proxy.map(|version| ProxyState { version, sent, client_isn: s.client_isn }),
            persist: None,
        }
    }

    /// The two flow keys of a record whose client side is IPv6, as the IPv6 session table
    /// indexes them (client → VIP, real → LIP; an IPv4 server side as mapped addresses,
    /// NAT64); None when the client side is IPv4.
    pub fn flow_keys6(&self) -> Option<(FlowKey6, FlowKey6)> {
        let v6 = |a: IpAddr| match a {
            IpAddr::V6(a) => a,
            IpAddr::V4(a) => a.to_ipv6_mapped(),
        };
        if !self.client.is_ipv6() || !self.virt.is_ipv6() {
            return None;
        }
        let key = |src: SocketAddr, dst: SocketAddr| FlowKey6 {
            src: v6(src.ip()),
            dst: v6(dst.ip()),
            sport: src.port(),
            dport: dst.port(),
            proto: self.proto,
        };
        Some((key(self.client, self.virt), key(self.real, self.local)))
    }

    /// The two flow keys of an IPv4-only record (client → VIP, real → LIP), as the session
    /// table indexes them; None when a side is IPv6.
    pub fn flow_keys(&self) -> Option<(FlowKey, FlowKey)> {
        let v4 = |a: SocketAddr| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        };
        let (c, v, l, r) = (v4(self.client)?, v4(self.virt)?, v4(self.local)?, v4(self.real)?);
        let client =
            FlowKey { src: *c.ip(), dst: *v.ip(), sport: c.port(), dport: v.port(), proto: self.proto };
        let reply =
            FlowKey { src: *r.ip(), dst: *l.ip(), sport: r.port(), dport: l.port(), proto: self.proto };
        Some((client, reply))
    }

    /// The service key (protocol, VIP, vport) to look the service up by in the receiver's
    /// snapshot (`service::Snapshot::find`); None for an IPv6 virtual address.
    pub fn service_key(&self) -> Option<crate::service::VsKey> {
        match self.virt {
            SocketAddr::V4(v) => Some((self.proto, *v.ip(), v.port())),
            SocketAddr::V6(_) => None,
        }
    }

    /// The worker of `workers` that owns this session under the port partition of
    /// `laddr` (`lport % workers`).
    pub fn owner_worker(&self, workers: usize) -> usize {
        self.local.port() as usize % workers.max(1)
    }

    /// The worker of `workers` that owns this session on this director: the one the real
    /// server's reply reaches under this director's `steering` (the port partition, or the
    /// NIC's RSS hash when workers chose local ports by it). The sending director's
    /// choice of worker does not matter: only where replies land here does.
    pub fn owner_worker_steered(&self, workers: usize, steering: &crate::laddr::Steering) -> usize {
        let workers = workers.clamp(1, u16::MAX as usize);
        if self.flags & CONN_F_METHOD != 0 {
            // NAT, DR and TUN sessions belong to the worker of the client's endpoint, where
            // their client packets are steered (`conn_direct::NatSteering`).
            return match self.client {
                SocketAddr::V4(c) => crate::laddr::owner_of_client(*c.ip(), c.port(), workers as u16),
                SocketAddr::V6(c) => crate::laddr::owner_of_client6(*c.ip(), c.port(), workers as u16),
            } as usize;
        }
        match (self.local, self.real) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => {
                steering.owner_of_reply(workers as u16, *r.ip(), r.port(), *l.ip(), l.port()) as usize
                    % workers
            }
            _ => self.owner_worker(workers),
        }
    }

    /// The session's expiry on the receiver: `now` + the time left.
    pub fn expires(&self, now: crate::time::Time) -> crate::time::Time {
        now + Duration::from_millis(self.timeout_ms as u64)
    }
}

/// The records of an authenticated, fully validated `Conns` message: iterating yields
/// every record, without errors and without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Conns<'a> {
    body: &'a [u8],
    count: u16,
}

impl<'a> Conns<'a> {
    /// Validates every record of `body` and that there are exactly `count` of them.
    pub fn parse(body: &'a [u8], count: u16) -> Result<Conns<'a>, Error> {
        let mut off = 0;
        let mut found: u32 = 0;
        while off < body.len() {
            let (_, n) = ConnRecord::parse(&body[off..])?;
            off += n;
            found += 1;
        }
        if found != count as u32 {
            return Err(Error::CountMismatch { header: count, found: found.min(u16::MAX as u32) as u16 });
        }
        Ok(Conns { body, count })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> ConnIter<'a> {
        ConnIter { rest: self.body }
    }
}

impl<'a> IntoIterator for Conns<'a> {
    type Item = ConnRecord;
    type IntoIter = ConnIter<'a>;
    fn into_iter(self) -> ConnIter<'a> {
        self.iter()
    }
}

/// Iterator over validated records.
#[derive(Debug, Clone)]
pub struct ConnIter<'a> {
    rest: &'a [u8],
}

impl Iterator for ConnIter<'_> {
    type Item = ConnRecord;
    fn next(&mut self) -> Option<ConnRecord> {
        // Validated by `Conns::parse`: an error cannot happen; if it did, stop.
        let (rec, n) = ConnRecord::parse(self.rest).ok()?;
        self.rest = &self.rest[n..];
        Some(rec)
    }
}
