//! The packets of a SYN-proxied handshake, built in place or into a caller's buffer.
//!
//! ```text
//! client                      rvsd                               real server
//!   SYN  ───────────────────▶ synack_from_syn (in place, no state)
//!        ◀─────────────────── SYN/ACK, ISN = cookie
//!   ACK  ───────────────────▶ validate_ack ── invalid ─▶ rst_reply (in place)
//!                             schedule, create the session (SynProxyState), keep the ACK
//!                             build_server_syn (new buffer) ──── SYN, ISN = client ISN ──▶
//!   data ───────────────────▶ kept (a few segments)
//!                             on_server_synack ◀──────────────────────────── SYN/ACK
//!                             → Translation; drop the SYN/ACK; send the kept ACK and
//!                               data through Translation::to_server ────────────────────▶
//! ```
//!
//! Every function works on IPv4 packets (IP header first). Packets read are validated
//! ([`Ipv4Packet::new_checked`], [`TcpPacket::new_checked`]); their checksums are not verified
//! here (the edge or the NIC does that). Packets written get full IP and TCP checksums, a
//! 20-byte IP header (options of the received packet are dropped), DF set and IP ID 0, and the
//! TCP options listed per function. Nothing reads a clock: `now` is handed in.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::cookie::{
    cookie_counter, decode_ts_options, encode_ts_options, mss_from_index, mss_index, CookieError,
    CookieSecrets, FourTuple, TsOptions, MAX_WSCALE,
};
use super::seq::{SeqDelta, Translation, WindowShift};
use crate::time::Time;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::repr::{emit_ipv4_tcp, Ipv4Repr, TcpRepr};
use crate::wire::tcp::{TcpFlags, TcpOption, TcpPacket};
use crate::wire::{IpProtocol, WireError};

/// Why a handshake packet could not be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    #[error("not a TCP packet")]
    NotTcp,
    #[error("IP fragment")]
    Fragment,
    /// Not the segment the function handles (a SYN for [`synack_from_syn`], an ACK for
    /// [`validate_ack`], a SYN/ACK for [`on_server_synack`]; a RST for [`rst_reply`]).
    #[error("unexpected TCP flags {0}")]
    UnexpectedFlags(TcpFlags),
    /// The ACK's cookie does not validate: answer with [`rst_reply`].
    #[error(transparent)]
    Cookie(#[from] CookieError),
    /// The server's SYN/ACK does not acknowledge our SYN.
    #[error("server SYN/ACK acknowledges {got:#010x}, expected {expected:#010x}")]
    UnexpectedAck { expected: u32, got: u32 },
    #[error("buffer too small: {need} bytes needed, {have} available")]
    BufferTooSmall { need: usize, have: usize },
}

impl From<WireError> for HandshakeError {
    fn from(e: WireError) -> Self {
        HandshakeError::Malformed(e)
    }
}

/// The SYN-proxy settings of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynProxyConfig {
    /// MSS advertised to clients: the largest segment they will send towards the server.
    /// Leave room for what rvsd inserts (8 bytes with TOA, [`crate::toa::TOA_LEN`]).
    pub mss: u16,
    /// Window scale offered to clients (the shift they apply to the windows they receive);
    /// None: not offered. Server windows are rescaled to it ([`Translation`]).
    pub wscale: Option<u8>,
    /// Offer SACK (needs timestamps, which carry it in the cookie).
    pub sack: bool,
    /// Offer timestamps (they also carry window scale, SACK and ECN in the cookie).
    pub timestamps: bool,
    /// Accept ECN (RFC 3168) negotiation.
    pub ecn: bool,
    /// Window of our SYN/ACK.
    pub window: u16,
    /// TTL of the packets rvsd builds.
    pub ttl: u8,
}

impl Default for SynProxyConfig {
    fn default() -> Self {
        SynProxyConfig {
            mss: 1452,
            wscale: Some(7),
            sack: true,
            timestamps: true,
            ecn: false,
            window: 65535,
            ttl: 64,
        }
    }
}

/// The options of a SYN (or SYN/ACK) that matter to the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SynOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
}

impl SynOptions {
    pub fn parse<T: AsRef<[u8]>>(tcp: &TcpPacket<T>) -> SynOptions {
        let mut o = SynOptions::default();
        for opt in tcp.iter_options() {
            match opt {
                TcpOption::Mss(m) => o.mss = Some(m),
                TcpOption::WindowScale(w) => o.wscale = Some(w.min(MAX_WSCALE)),
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::Timestamps(v, e) => o.timestamps = Some((v, e)),
                _ => {}
            }
        }
        o
    }
}

/// The SYN options in the Linux layout: MSS, then SACK-permitted + timestamps (or NOP NOP +
/// timestamps, or NOP NOP + SACK-permitted), then NOP + window scale. At most 20 bytes.
fn emit_syn_options(
    buf: &mut [u8; 40],
    mss: u16,
    sack: bool,
    ts: Option<(u32, u32)>,
    ws: Option<u8>,
) -> usize {
    let mut opts: [Option<TcpOption<'static>>; 6] = [None; 6];
    opts[0] = Some(TcpOption::Mss(mss));
    match (sack, ts) {
        (true, Some((v, e))) => {
            opts[1] = Some(TcpOption::SackPermitted);
            opts[2] = Some(TcpOption::Timestamps(v, e));
        }
        (false, Some((v, e))) => {
            opts[1] = Some(TcpOption::NoOp);
            opts[2] = Some(TcpOption::NoOp);
            opts[3] = Some(TcpOption::Timestamps(v, e));
        }
        (true, None) => {
            opts[1] = Some(TcpOption::NoOp);
            opts[2] = Some(TcpOption::NoOp);
            opts[3] = Some(TcpOption::SackPermitted);
        }
        (false, None) => {}
    }
    if let Some(w) = ws {
        opts[4] = Some(TcpOption::NoOp);
        opts[5] = Some(TcpOption::WindowScale(w.min(MAX_WSCALE)));
    }
    let mut n = 0;
    for o in opts.iter().flatten() {
        // Never fails: at most 20 bytes into 40.
        n += o.emit(&mut buf[n..]).unwrap_or(0);
    }
    n
}

/// Writes `tcp` from `src` to `dst` as a whole IPv4 packet (20-byte header, DF, full
/// checksums) at the start of `buf`; returns the packet length. The Reprs of `wire::repr`
/// are the one place frames we originate are built.
fn emit_segment(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tcp: &TcpRepr<'_>,
) -> Result<usize, HandshakeError> {
    let need = Ipv4Repr::HEADER_LEN + tcp.buffer_len();
    if buf.len() < need {
        return Err(HandshakeError::BufferTooSmall { need, have: buf.len() });
    }
    let ip = Ipv4Repr { src, dst, protocol: IpProtocol::TCP, payload_len: 0, ttl, dont_frag: true };
    emit_ipv4_tcp(buf, ip, tcp).map_err(HandshakeError::Malformed)
}

/// Validates an IPv4/TCP packet, not a fragment.
type Parsed<'a> = (Ipv4Packet<&'a [u8]>, TcpPacket<&'a [u8]>);

fn parse(ip: &[u8]) -> Result<Parsed<'_>, HandshakeError> {
    let p = Ipv4Packet::new_checked(ip)?;
    if p.protocol() != IpProtocol::TCP {
        return Err(HandshakeError::NotTcp);
    }
    if p.is_fragment() {
        return Err(HandshakeError::Fragment);
    }
    let t = TcpPacket::new_checked(&ip[p.header_len()..p.total_len() as usize])?;
    Ok((p, t))
}

/// The SYN/ACK's TSval clock: milliseconds of `now` (RFC 7323 recommends 1 ms to 1 s ticks).
#[inline]
pub fn ts_clock(now: Time) -> u32 {
    (now.as_nanos() / 1_000_000) as u32
}

/// Turns the client SYN in `buf` (an IPv4 packet at the start of the buffer; the rest of the
/// buffer is room) into our SYN/ACK, in place, and returns its length (at most 60 bytes).
/// No state is kept: everything needed later is in the cookie (the ISN) and, with timestamps,
/// in the low bits of our TSval.
///
/// Options: MSS `cfg.mss`; if the client sent timestamps and `cfg.timestamps`: timestamps
/// (TSval carrying the options, TSecr = the client's TSval), SACK-permitted if the client
/// offered it and `cfg.sack`, window scale `cfg.wscale` if the client sent one. ECE is set when
/// the client asked for ECN (ECE|CWR), `cfg.ecn` and timestamps carry it. The caller swaps
/// the Ethernet addresses.
pub fn synack_from_syn(
    buf: &mut [u8],
    cfg: &SynProxyConfig,
    secrets: &CookieSecrets,
    now: Time,
) -> Result<usize, HandshakeError> {
    let (ip, tcp) = parse(buf)?;
    let flags = tcp.flags();
    if !flags.contains(TcpFlags::SYN) || flags.intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN) {
        return Err(HandshakeError::UnexpectedFlags(flags));
    }
    let o = SynOptions::parse(&tcp);
    let ts = if cfg.timestamps { o.timestamps } else { None };
    let ws = match (ts, o.wscale, cfg.wscale) {
        (Some(_), Some(client), Some(ours)) => Some((client, ours.min(MAX_WSCALE))),
        _ => None,
    };
    let sack = ts.is_some() && cfg.sack && o.sack_permitted;
    let ecn = ts.is_some() && cfg.ecn && flags.contains(TcpFlags::ECE | TcpFlags::CWR);
    let tuple = FourTuple {
        saddr: ip.src_addr(),
        daddr: ip.dst_addr(),
        sport: tcp.src_port(),
        dport: tcp.dst_port(),
    };
    let client_isn = tcp.seq_number();
    let idx = mss_index(o.mss.unwrap_or(536));
    let cookie = secrets.make(&tuple, client_isn, cookie_counter(now), idx);
    let ts_opt = ts.map(|(client_val, _)| {
        let carried = TsOptions { wscale: ws.map(|(c, _)| c), sack, ecn };
        (encode_ts_options(ts_clock(now), carried), client_val)
    });
    let mut opts = [0u8; 40];
    let n = emit_syn_options(&mut opts, cfg.mss, sack, ts_opt, ws.map(|(_, ours)| ours));
    let mut out_flags = TcpFlags::SYN | TcpFlags::ACK;
    if ecn {
        out_flags |= TcpFlags::ECE;
    }
    let tcp = TcpRepr {
        src_port: tuple.dport,
        dst_port: tuple.sport,
        seq: cookie,
        ack: client_isn.wrapping_add(1),
        flags: out_flags,
        window: cfg.window,
        options: &opts[..n],
        payload: &[],
    };
    emit_segment(buf, tuple.daddr, tuple.saddr, cfg.ttl, &tcp)
}

/// A client ACK whose cookie validated: what the session is created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedAck {
    /// Client → virtual address.
    pub tuple: FourTuple,
    /// What the session must remember for the rest of the handshake and the connection.
    pub state: SynProxyState,
    /// The client's TSval in this ACK (sent on in the server SYN), if timestamps are on.
    pub client_tsval: Option<u32>,
    /// The ACK's window field (scaled by the client's window scale).
    pub window: u16,
}

/// Per-session state of a SYN-proxied connection until the server's SYN/ACK (then the session
/// keeps the [`Translation`] from [`on_server_synack`]). 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SynProxyState {
    /// The client's ISN (its SYN's seq); our SYN to the server uses it too.
    pub client_isn: u32,
    /// The ISN of our SYN/ACK to the client.
    pub cookie_isn: u32,
    /// The TSval of our SYN/ACK (echoed by the client); Some iff timestamps were negotiated.
    pub our_tsval: Option<u32>,
    /// The MSS from the cookie (the client's, rounded down to the table).
    pub mss: u16,
    /// The client's window scale; Some iff window scaling was negotiated with the client.
    pub client_wscale: Option<u8>,
    /// The window scale our SYN/ACK offered; Some iff `client_wscale` is.
    pub our_wscale: Option<u8>,
    pub sack: bool,
    pub ecn: bool,
}

/// Checks the client ACK in `ip` (the third segment of the handshake, possibly with data)
/// against the cookie secrets. `cfg` must be the configuration the SYN/ACK was made with (its
/// options decide what the timestamp can carry). On success nothing is written and the caller
/// schedules a real server, creates the session and calls [`build_server_syn`]; on
/// [`HandshakeError::Cookie`] it answers with [`rst_reply`].
pub fn validate_ack(
    ip: &[u8],
    cfg: &SynProxyConfig,
    secrets: &CookieSecrets,
    now: Time,
) -> Result<ValidatedAck, HandshakeError> {
    let (p, tcp) = parse(ip)?;
    let flags = tcp.flags();
    if !flags.contains(TcpFlags::ACK) || flags.intersects(TcpFlags::SYN | TcpFlags::RST) {
        return Err(HandshakeError::UnexpectedFlags(flags));
    }
    let tuple =
        FourTuple { saddr: p.src_addr(), daddr: p.dst_addr(), sport: tcp.src_port(), dport: tcp.dst_port() };
    let client_isn = tcp.seq_number().wrapping_sub(1);
    let cookie_isn = tcp.ack_number().wrapping_sub(1);
    let idx = secrets.check(&tuple, client_isn, cookie_isn, cookie_counter(now))?;
    let ts = if cfg.timestamps {
        tcp.iter_options().find_map(|o| match o {
            TcpOption::Timestamps(v, e) => Some((v, e)),
            _ => None,
        })
    } else {
        None
    };
    let carried = match ts {
        Some((_, ecr)) => decode_ts_options(ecr)?,
        None => TsOptions::default(),
    };
    let client_wscale = carried.wscale.filter(|_| cfg.wscale.is_some());
    let state = SynProxyState {
        client_isn,
        cookie_isn,
        our_tsval: ts.map(|(_, ecr)| ecr),
        mss: mss_from_index(idx),
        client_wscale,
        our_wscale: client_wscale.and(cfg.wscale.map(|w| w.min(MAX_WSCALE))),
        sack: carried.sack && cfg.sack,
        ecn: carried.ecn && cfg.ecn,
    };
    Ok(ValidatedAck { tuple, state, client_tsval: ts.map(|(v, _)| v), window: tcp.window() })
}

/// Writes the SYN to the real server into `out` (a fresh buffer) and returns its length (at
/// most 60 bytes): `from` (local address) → `to` (real server), ISN = the client's ISN, the
/// client's options from the cookie (MSS, SACK-permitted, window scale, timestamps with the
/// client's TSval, ECE|CWR when ECN was negotiated), window = the client's window unscaled
/// (saturated at 65535). Keep the client's ACK: once [`on_server_synack`] gives the
/// translation, it is what completes the server's handshake.
pub fn build_server_syn(
    out: &mut [u8],
    ack: &ValidatedAck,
    from: SocketAddrV4,
    to: SocketAddrV4,
    ttl: u8,
) -> Result<usize, HandshakeError> {
    let st = &ack.state;
    let shift = st.client_wscale.unwrap_or(0);
    let window = ((ack.window as u32) << shift).min(65535) as u16;
    let ts = ack.client_tsval.map(|v| (v, 0));
    let mut opts = [0u8; 40];
    let n = emit_syn_options(&mut opts, st.mss, st.sack, ts, st.client_wscale);
    let mut flags = TcpFlags::SYN;
    if st.ecn {
        flags |= TcpFlags::ECE | TcpFlags::CWR;
    }
    let tcp = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        seq: st.client_isn,
        ack: 0,
        flags,
        window,
        options: &opts[..n],
        payload: &[],
    };
    emit_segment(out, *from.ip(), *to.ip(), ttl, &tcp)
}

/// Handles the real server's SYN/ACK (in `ip`, before or after the NAT rewrite: only TCP
/// fields are read) and returns the translation for the rest of the connection: server
/// sequence numbers shifted by cookie ISN − server ISN, server timestamps shifted to continue
/// our SYN/ACK's, windows rescaled where the window scales negotiated on the two sides
/// differ. The SYN/ACK itself is not forwarded to the client (it already had ours).
pub fn on_server_synack(ip: &[u8], st: &SynProxyState) -> Result<Translation, HandshakeError> {
    let (_, tcp) = parse(ip)?;
    let flags = tcp.flags();
    if !flags.contains(TcpFlags::SYN | TcpFlags::ACK) || flags.contains(TcpFlags::RST) {
        return Err(HandshakeError::UnexpectedFlags(flags));
    }
    let expected = st.client_isn.wrapping_add(1);
    if tcp.ack_number() != expected {
        return Err(HandshakeError::UnexpectedAck { expected, got: tcp.ack_number() });
    }
    let o = SynOptions::parse(&tcp);
    // RFC 7323: scaling is in effect on a side only when both SYNs carried the option.
    let server_ws = match (st.client_wscale, o.wscale) {
        (Some(c), Some(s)) => Some((c, s)),
        _ => None,
    };
    let server_ts = match (st.our_tsval, o.timestamps) {
        (Some(ours), Some((theirs, _))) => SeqDelta::between(theirs, ours),
        _ => SeqDelta::ZERO,
    };
    Ok(Translation {
        client_seq: SeqDelta::ZERO,
        server_seq: SeqDelta::between(tcp.seq_number(), st.cookie_isn),
        server_ts,
        to_server_window: WindowShift {
            from: st.client_wscale.unwrap_or(0),
            to: server_ws.map_or(0, |(c, _)| c),
        },
        to_client_window: WindowShift {
            from: server_ws.map_or(0, |(_, s)| s),
            to: st.our_wscale.unwrap_or(0),
        },
    })
}

/// Turns the segment in `buf` into the RST that answers it, in place (RFC 9293 §3.10.7.1):
/// `seq = SEG.ACK`, flag RST for a segment with ACK; otherwise `seq = 0`,
/// `ack = SEG.SEQ + SEG.LEN`, flags RST|ACK. Returns the length (40). A RST is never answered
/// ([`HandshakeError::UnexpectedFlags`]).
pub fn rst_reply(buf: &mut [u8], ttl: u8) -> Result<usize, HandshakeError> {
    let (ip, tcp) = parse(buf)?;
    let flags = tcp.flags();
    if flags.contains(TcpFlags::RST) {
        return Err(HandshakeError::UnexpectedFlags(flags));
    }
    let (seq, ack, out) = if flags.contains(TcpFlags::ACK) {
        (tcp.ack_number(), 0, TcpFlags::RST)
    } else {
        let len = tcp.payload().len() as u32
            + flags.contains(TcpFlags::SYN) as u32
            + flags.contains(TcpFlags::FIN) as u32;
        (0, tcp.seq_number().wrapping_add(len), TcpFlags::RST | TcpFlags::ACK)
    };
    let (src, dst) = (ip.dst_addr(), ip.src_addr());
    let tcp = TcpRepr {
        src_port: tcp.dst_port(),
        dst_port: tcp.src_port(),
        seq,
        ack,
        flags: out,
        window: 0,
        options: &[],
        payload: &[],
    };
    emit_segment(buf, src, dst, ttl, &tcp)
}
