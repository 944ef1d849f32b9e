//! Sequence-number arithmetic (RFC 9293 §3.4, modulo 2^32) and the per-connection translation
//! of sequence and acknowledgment numbers, SACK blocks, timestamps and windows, with
//! incremental checksum updates.
//!
//! # Who shifts what
//!
//! A SYN-proxied connection has two sequence spaces that differ: the client believes the
//! server's ISN is the cookie, while the real server picked its own ISN. The SYN we send to the
//! server reuses the client's ISN, so the client's space needs no shift, unless bytes are
//! inserted into the client's stream (a PROXY protocol header), which shifts it by the header
//! length. [`Translation`] holds both shifts:
//!
//! | packet | seq | ack, SACK blocks | timestamps |
//! |---|---|---|---|
//! | client → server ([`Translation::to_server`]) | `+ client_seq` | `- server_seq` | TSecr `- server_ts` |
//! | server → client ([`Translation::to_client`]) | `+ server_seq` | `- client_seq` | TSval `+ server_ts` |
//!
//! Options may sit at odd offsets (a lone NOP before a SACK), so option fields are updated
//! with [`update_checksum_bytes`], which handles either alignment.

use crate::wire::checksum;
use crate::wire::tcp::{TcpFlags, TcpOption, TcpOptionIter, TcpPacket};

/// `a < b` in sequence space (a precedes b by less than 2^31).
#[inline]
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
#[inline]
pub fn seq_le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// `a > b` in sequence space.
#[inline]
pub fn seq_gt(a: u32, b: u32) -> bool {
    seq_lt(b, a)
}

/// `a >= b` in sequence space.
#[inline]
pub fn seq_ge(a: u32, b: u32) -> bool {
    seq_le(b, a)
}

/// `a - b` as a signed distance in sequence space.
#[inline]
pub fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// An offset between two sequence spaces, added modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqDelta(pub u32);

impl SeqDelta {
    pub const ZERO: SeqDelta = SeqDelta(0);

    /// The delta that maps `from` to `to`: `SeqDelta::between(a, b).apply(a) == b`.
    #[inline]
    pub const fn between(from: u32, to: u32) -> SeqDelta {
        SeqDelta(to.wrapping_sub(from))
    }

    /// `x + delta`.
    #[inline]
    pub const fn apply(self, x: u32) -> u32 {
        x.wrapping_add(self.0)
    }

    /// `x - delta`: the inverse of [`SeqDelta::apply`].
    #[inline]
    pub const fn revert(self, x: u32) -> u32 {
        x.wrapping_sub(self.0)
    }

    #[inline]
    #[must_use]
    pub const fn neg(self) -> SeqDelta {
        SeqDelta(self.0.wrapping_neg())
    }

    /// The composition: applying the result is applying `self` then `other`.
    #[inline]
    #[must_use]
    pub const fn then(self, other: SeqDelta) -> SeqDelta {
        SeqDelta(self.0.wrapping_add(other.0))
    }

    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// RFC 1624 eqn. 3 for a field of any length at any position: `odd` tells whether the field
/// starts at an odd byte offset of the checksummed data (for TCP: of the segment). `old` and
/// `new` have the same length.
#[inline]
pub fn update_checksum_bytes(csum: u16, odd: bool, old: &[u8], new: &[u8]) -> u16 {
    let (mut o, mut n) = (checksum::sum(old) as u16, checksum::sum(new) as u16);
    if odd {
        // A byte run at an odd offset adds into the other byte lanes (RFC 1071 §2(B)).
        o = o.swap_bytes();
        n = n.swap_bytes();
    }
    !checksum::fold(!csum as u32 + !o as u32 + n as u32)
}

/// Overwrites the option bytes `opt_off..opt_off + new.len()` (offsets within the options)
/// with `new` and updates the checksum incrementally. The options start at byte 20 of the
/// segment, so a field's parity in the segment is its parity in the options.
#[inline]
pub(crate) fn write_option_bytes<T: AsRef<[u8]> + AsMut<[u8]>>(
    tcp: &mut TcpPacket<T>,
    opt_off: usize,
    new: &[u8],
) {
    let end = opt_off + new.len();
    let old = &tcp.options()[opt_off..end];
    let c = update_checksum_bytes(tcp.checksum(), opt_off % 2 == 1, old, new);
    tcp.options_mut()[opt_off..end].copy_from_slice(new);
    tcp.set_checksum(c);
}

/// The offset (within the options) and length of the first option of `kind` at or after
/// `start` (an option boundary). Tolerant of malformed options like [`TcpOptionIter`].
pub(crate) fn find_option(opts: &[u8], start: usize, kind: u8) -> Option<(usize, usize)> {
    let mut off = start;
    for o in TcpOptionIter::new(opts.get(start..)?) {
        let len = o.buffer_len();
        let k = match o {
            TcpOption::EndOfList => 0,
            TcpOption::NoOp => 1,
            TcpOption::Mss(_) => 2,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 4,
            TcpOption::Sack(_) => 5,
            TcpOption::Timestamps(..) => 8,
            TcpOption::Unknown { kind, .. } => kind,
        };
        if k == kind {
            // A known kind with a bad length is `Unknown` with the same kind: only take the
            // well-formed ones for the kinds we rewrite.
            let well_formed = !matches!(o, TcpOption::Unknown { .. }) || !matches!(kind, 2 | 3 | 5 | 8);
            if well_formed {
                return Some((off, len));
            }
        }
        off += len;
    }
    None
}

/// Sets the sequence number to `delta.apply(seq)`, checksum updated.
#[inline]
pub fn translate_seq<T: AsRef<[u8]> + AsMut<[u8]>>(tcp: &mut TcpPacket<T>, delta: SeqDelta) {
    if !delta.is_zero() {
        let s = tcp.seq_number();
        tcp.rewrite_seq_number(delta.apply(s));
    }
}

/// Sets the acknowledgment number to `delta.apply(ack)`, checksum updated.
#[inline]
pub fn translate_ack<T: AsRef<[u8]> + AsMut<[u8]>>(tcp: &mut TcpPacket<T>, delta: SeqDelta) {
    if !delta.is_zero() {
        let a = tcp.ack_number();
        tcp.rewrite_ack_number(delta.apply(a));
    }
}

/// Adds `sack` to both edges of every SACK block, `tsval` to the TSval and `tsecr` to the
/// TSecr, in place, checksum updated. Returns the number of SACK blocks rewritten.
pub fn translate_options<T: AsRef<[u8]> + AsMut<[u8]>>(
    tcp: &mut TcpPacket<T>,
    sack: SeqDelta,
    tsval: SeqDelta,
    tsecr: SeqDelta,
) -> usize {
    let hl = tcp.header_len();
    if hl == TcpPacket::<T>::MIN_HEADER_LEN || (sack.is_zero() && tsval.is_zero() && tsecr.is_zero()) {
        return 0;
    }
    let mut blocks = 0;
    // Walk the options once, rewriting as we go (the rewrite changes values, never lengths).
    let mut off = 0;
    while let Some(o) = tcp.options().get(off..).and_then(|r| TcpOptionIter::new(r).next()) {
        let len = o.buffer_len();
        let at = off;
        let mut buf = [0u8; 40];
        match o {
            TcpOption::Sack(b) if !sack.is_zero() => {
                let n = b.len() * 8;
                for (i, (l, r)) in b.iter().enumerate() {
                    buf[i * 8..i * 8 + 4].copy_from_slice(&sack.apply(l).to_be_bytes());
                    buf[i * 8 + 4..i * 8 + 8].copy_from_slice(&sack.apply(r).to_be_bytes());
                }
                blocks += b.len();
                write_option_bytes(tcp, at + 2, &buf[..n]);
            }
            TcpOption::Timestamps(v, e) if !(tsval.is_zero() && tsecr.is_zero()) => {
                buf[..4].copy_from_slice(&tsval.apply(v).to_be_bytes());
                // The TSecr is only meaningful with ACK set (RFC 7323 §3.2): leave it otherwise.
                let e = if tcp.flags().contains(TcpFlags::ACK) { tsecr.apply(e) } else { e };
                buf[4..8].copy_from_slice(&e.to_be_bytes());
                write_option_bytes(tcp, at + 2, &buf[..8]);
            }
            TcpOption::EndOfList => break,
            _ => {}
        }
        off += len;
    }
    blocks
}

/// Rescales the window field from the sender's shift to the receiver's: the sender meant
/// `window << from`, the receiver will compute `window << to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WindowShift {
    pub from: u8,
    pub to: u8,
}

impl WindowShift {
    pub const IDENTITY: WindowShift = WindowShift { from: 0, to: 0 };

    #[inline]
    pub fn is_identity(self) -> bool {
        self.from == self.to
    }

    /// The rescaled window, saturated at 65535 (and at least 1 when the input was not 0, so
    /// that a tiny window does not become a zero window).
    #[inline]
    pub fn apply(self, win: u16) -> u16 {
        if self.is_identity() || win == 0 {
            return win;
        }
        let bytes = (win as u64) << self.from.min(14);
        let w = bytes >> self.to.min(14);
        w.clamp(1, 65535) as u16
    }
}

/// Rewrites the window of a non-SYN segment (SYN windows are never scaled), checksum updated.
#[inline]
pub fn rescale_window<T: AsRef<[u8]> + AsMut<[u8]>>(tcp: &mut TcpPacket<T>, shift: WindowShift) {
    if shift.is_identity() || tcp.flags().contains(TcpFlags::SYN) {
        return;
    }
    let old = tcp.window();
    let new = shift.apply(old);
    if new != old {
        tcp.set_window(new);
        tcp.set_checksum(checksum::update_u16(tcp.checksum(), old, new));
    }
}

/// The translation of a segment of the common layout, with one checksum update for all of
/// it: ACK set, no SYN, and either no options or exactly NOP, NOP, Timestamps (what Linux
/// sends on an established connection with timestamps on; SACK blocks come with other
/// layouts). Every field is 16-bit aligned there. `seq`, `ack` and `ts` (TSval, TSecr) are
/// added, the window rescaled: what the option walk of `to_server`/`to_client` does to such
/// a segment, bit for bit. False, nothing changed, for any other segment.
#[inline]
fn rewrite_common(
    tcp: &mut [u8],
    seq: SeqDelta,
    ack: SeqDelta,
    ts: (SeqDelta, SeqDelta),
    win: WindowShift,
) -> bool {
    let Some(&off) = tcp.get(12) else { return false };
    match usize::from(off >> 4) * 4 {
        20 => tcp.first_chunk_mut::<20>().is_some_and(|h| rewrite_header(h, seq, ack, None, win)),
        32 => tcp
            .first_chunk_mut::<32>()
            .is_some_and(|h| h[20..24] == [1, 1, 8, 10] && rewrite_header(h, seq, ack, Some(ts), win)),
        _ => false,
    }
}

/// `rewrite_common` on the `N` bytes of a TCP header whose layout it checked: ACK without
/// SYN, then every field (`ts` at 24 and 28 when there) with one checksum update.
#[inline(always)]
fn rewrite_header<const N: usize>(
    h: &mut [u8; N],
    seq: SeqDelta,
    ack: SeqDelta,
    ts: Option<(SeqDelta, SeqDelta)>,
    win: WindowShift,
) -> bool {
    if h[13] & 0x12 != 0x10 {
        return false;
    }
    let mut sum = u64::from(!u16::from_be_bytes([h[16], h[17]]));
    sum += add_u32(h, 4, seq) + add_u32(h, 8, ack) + rescale_u16(h, 14, win);
    if let Some((tsval, tsecr)) = ts {
        sum += add_u32(h, 24, tsval) + add_u32(h, 28, tsecr);
    }
    (h[16], h[17]) = (!checksum::fold(sum)).to_be_bytes().into();
    true
}

/// Adds `d` to the 32-bit field at `at`; its part of the checksum update (RFC 1624 eqn. 3),
/// nothing when the field stays (as the field-by-field rewrites skip a zero delta).
#[inline(always)]
fn add_u32<const N: usize>(h: &mut [u8; N], at: usize, d: SeqDelta) -> u64 {
    if d.is_zero() {
        return 0;
    }
    let old = u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let new = d.apply(old);
    let b = new.to_be_bytes();
    (h[at], h[at + 1], h[at + 2], h[at + 3]) = (b[0], b[1], b[2], b[3]);
    u64::from(!old >> 16) + u64::from(!old & 0xffff) + u64::from(new >> 16) + u64::from(new & 0xffff)
}

/// Rescales the 16-bit window at `at` (`rescale_window` on a non-SYN segment); its part of
/// the checksum update.
#[inline(always)]
fn rescale_u16<const N: usize>(h: &mut [u8; N], at: usize, shift: WindowShift) -> u64 {
    let old = u16::from_be_bytes([h[at], h[at + 1]]);
    let new = shift.apply(old);
    if new == old {
        return 0;
    }
    (h[at], h[at + 1]) = (new.to_be_bytes()[0], new.to_be_bytes()[1]);
    u64::from(!old) + u64::from(new)
}

/// What a proxied connection rewrites in every segment, for its whole life. See the module
/// documentation for the table of signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Translation {
    /// Added to client → server sequence numbers: bytes inserted into the client's stream
    /// (the PROXY protocol header length), 0 otherwise.
    pub client_seq: SeqDelta,
    /// Added to server → client sequence numbers: cookie ISN − server ISN (SYN proxy), 0
    /// otherwise.
    pub server_seq: SeqDelta,
    /// Added to the server's TSval on the way to the client: the TSval of our SYN/ACK − the
    /// TSval of the server's SYN/ACK (SYN proxy with timestamps), 0 otherwise.
    pub server_ts: SeqDelta,
    /// Window rescaling of client → server segments.
    pub to_server_window: WindowShift,
    /// Window rescaling of server → client segments.
    pub to_client_window: WindowShift,
}

impl Translation {
    pub const IDENTITY: Translation = Translation {
        client_seq: SeqDelta::ZERO,
        server_seq: SeqDelta::ZERO,
        server_ts: SeqDelta::ZERO,
        to_server_window: WindowShift::IDENTITY,
        to_client_window: WindowShift::IDENTITY,
    };

    /// True when segments pass unchanged (plain FULLNAT): the pipeline can skip the calls.
    #[inline]
    pub fn is_identity(&self) -> bool {
        self.client_seq.is_zero()
            && self.server_seq.is_zero()
            && self.server_ts.is_zero()
            && self.to_server_window.is_identity()
            && self.to_client_window.is_identity()
    }

    /// The same translation with `n` more bytes inserted in the client's stream (the PROXY
    /// protocol header).
    #[must_use]
    pub fn with_client_insert(mut self, n: u32) -> Translation {
        self.client_seq = self.client_seq.then(SeqDelta(n));
        self
    }

    /// `to_server` in one pass over the TCP segment `tcp` for the common segment (see
    /// `rewrite_common`); false, nothing changed, for any other: run `to_server`.
    #[inline]
    pub fn to_server_common(&self, tcp: &mut [u8]) -> bool {
        let ts = (SeqDelta::ZERO, self.server_ts.neg());
        rewrite_common(tcp, self.client_seq, self.server_seq.neg(), ts, self.to_server_window)
    }

    /// `to_client` in one pass, as `to_server_common`.
    #[inline]
    pub fn to_client_common(&self, tcp: &mut [u8]) -> bool {
        let ts = (self.server_ts, SeqDelta::ZERO);
        rewrite_common(tcp, self.server_seq, self.client_seq.neg(), ts, self.to_client_window)
    }

    /// Translates a client → server segment in place (after or before the NAT rewrite: it
    /// touches neither addresses nor ports).
    pub fn to_server<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tcp: &mut TcpPacket<T>) {
        translate_seq(tcp, self.client_seq);
        if tcp.flags().contains(TcpFlags::ACK) {
            translate_ack(tcp, self.server_seq.neg());
            translate_options(tcp, self.server_seq.neg(), SeqDelta::ZERO, self.server_ts.neg());
        }
        rescale_window(tcp, self.to_server_window);
    }

    /// Translates a server → client segment in place.
    pub fn to_client<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tcp: &mut TcpPacket<T>) {
        translate_seq(tcp, self.server_seq);
        if tcp.flags().contains(TcpFlags::ACK) {
            translate_ack(tcp, self.client_seq.neg());
            translate_options(tcp, self.client_seq.neg(), self.server_ts, SeqDelta::ZERO);
        } else {
            translate_options(tcp, SeqDelta::ZERO, self.server_ts, SeqDelta::ZERO);
        }
        rescale_window(tcp, self.to_client_window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synproxy::testutil::{
        arb_options, assert_checksums, build, layouts, tcp, tcp_mut, tcp_opts, Seg,
    };
    use proptest::prelude::*;

    #[test]
    fn comparisons_across_wrap() {
        assert!(seq_lt(0xffff_fff0, 0x10));
        assert!(!seq_lt(0x10, 0xffff_fff0));
        assert!(seq_gt(0x10, 0xffff_fff0));
        assert!(seq_le(5, 5) && seq_ge(5, 5) && !seq_lt(5, 5) && !seq_gt(5, 5));
        assert_eq!(seq_diff(0x10, 0xffff_fff0), 0x20);
        assert_eq!(seq_diff(0xffff_fff0, 0x10), -0x20);
        let d = SeqDelta::between(0xffff_ff00, 0x100);
        assert_eq!(d, SeqDelta(0x200));
        assert_eq!(d.apply(0xffff_ff00), 0x100);
        assert_eq!(d.revert(0x100), 0xffff_ff00);
        assert_eq!(d.neg().apply(0x100), 0xffff_ff00);
        assert!(SeqDelta::ZERO.is_zero() && !d.is_zero());
    }

    #[test]
    fn window_shift() {
        let w = WindowShift { from: 7, to: 9 };
        assert_eq!(w.apply(1024), 256);
        assert_eq!(w.apply(3), 1);
        assert_eq!(w.apply(0), 0);
        assert_eq!(WindowShift { from: 9, to: 7 }.apply(40000), 65535);
        assert_eq!(WindowShift { from: 0, to: 7 }.apply(65535), 511);
        assert_eq!(WindowShift { from: 3, to: 3 }.apply(17), 17);
    }

    #[test]
    fn translation_of_every_layout() {
        let t = Translation {
            client_seq: SeqDelta(107),
            server_seq: SeqDelta(0x8000_0001),
            server_ts: SeqDelta(0xffff_0000),
            to_server_window: WindowShift { from: 7, to: 0 },
            to_client_window: WindowShift { from: 0, to: 7 },
        };
        for (name, opts) in layouts() {
            let s = Seg {
                flags: crate::wire::tcp::TcpFlags::ACK,
                ack: 0x10,
                window: 100,
                opts: &opts,
                payload: b"hello",
                ..Seg::default()
            };
            let orig = build(&s, 0);
            let before: Vec<_> = tcp(&orig).iter_options().map(|o| format!("{o:?}")).collect();
            let mut b = orig.clone();
            t.to_server(&mut tcp_mut(&mut b));
            assert_checksums(&b);
            let seg = tcp(&b);
            assert_eq!(seg.seq_number(), 0x1a2b3c4d + 107, "{name}");
            assert_eq!(seg.ack_number(), 0x10u32.wrapping_sub(0x8000_0001), "{name}");
            assert_eq!(seg.window(), 12800, "{name}");
            // Same option kinds and lengths; SACK edges and TSecr moved by the deltas.
            let o0 = tcp_opts(&orig);
            let o1 = tcp_opts(&b);
            assert_eq!(o0.len(), o1.len(), "{name}");
            for (a, c) in o0.iter().zip(&o1) {
                match (a, c) {
                    (TcpOption::Sack(x), TcpOption::Sack(y)) => {
                        for ((l0, r0), (l1, r1)) in x.iter().zip(y.iter()) {
                            assert_eq!(
                                (l1, r1),
                                (l0.wrapping_sub(0x8000_0001), r0.wrapping_sub(0x8000_0001))
                            );
                        }
                    }
                    (TcpOption::Timestamps(v0, e0), TcpOption::Timestamps(v1, e1)) => {
                        assert_eq!((*v1, *e1), (*v0, e0.wrapping_sub(0xffff_0000)), "{name}");
                    }
                    _ => assert_eq!(a, c, "{name}"),
                }
            }
            // And back.
            let mut back = Translation {
                client_seq: t.client_seq.neg(),
                server_seq: t.server_seq.neg(),
                server_ts: t.server_ts.neg(),
                ..Translation::IDENTITY
            };
            back.to_server_window = WindowShift { from: 0, to: 7 };
            back.to_server(&mut tcp_mut(&mut b));
            assert_eq!(b, orig, "{name}: {before:?}");
        }
    }

    #[test]
    fn to_client_moves_tsval_and_sack_by_the_client_delta() {
        let mut opts = vec![1, 1, 8, 10, 0, 0, 0, 100, 0, 0, 0, 200, 1, 1, 5, 10];
        opts.extend_from_slice(&[0, 0, 0, 50, 0, 0, 0, 60]);
        let s =
            Seg { flags: crate::wire::tcp::TcpFlags::ACK, seq: 7, ack: 1000, opts: &opts, ..Seg::default() };
        let mut b = build(&s, 0);
        let t = Translation {
            client_seq: SeqDelta(28),
            server_seq: SeqDelta(3),
            server_ts: SeqDelta(5),
            ..Default::default()
        };
        t.to_client(&mut tcp_mut(&mut b));
        assert_checksums(&b);
        let seg = tcp(&b);
        assert_eq!((seg.seq_number(), seg.ack_number()), (10, 972));
        let o: Vec<_> = seg.iter_options().collect();
        assert_eq!(o[2], TcpOption::Timestamps(105, 200));
        let TcpOption::Sack(blocks) = o[5] else { panic!() };
        assert_eq!(blocks.iter().collect::<Vec<_>>(), [(22, 32)]);
        // A segment without ACK keeps its ack field and TSecr.
        let s =
            Seg { flags: crate::wire::tcp::TcpFlags::RST, seq: 7, ack: 1000, opts: &opts, ..Seg::default() };
        let mut b = build(&s, 0);
        t.to_client(&mut tcp_mut(&mut b));
        assert_checksums(&b);
        assert_eq!(tcp(&b).ack_number(), 1000);
        assert_eq!(tcp(&b).iter_options().nth(2), Some(TcpOption::Timestamps(105, 200)));
        assert!(Translation::IDENTITY.is_identity() && !t.is_identity());
        assert_eq!(Translation::IDENTITY.with_client_insert(28).client_seq, SeqDelta(28));
    }

    proptest! {
        #[test]
        fn order_is_consistent_across_wrap(a in any::<u32>(), d in 1u32..0x8000_0000) {
            let b = a.wrapping_add(d);
            prop_assert!(seq_lt(a, b) && seq_le(a, b) && seq_gt(b, a) && seq_ge(b, a));
            prop_assert!(!seq_lt(b, a) && !seq_le(b, a));
            prop_assert_eq!(seq_diff(b, a), d as i32);
            prop_assert!(seq_le(a, a) && !seq_lt(a, a));
        }

        #[test]
        fn delta_algebra(a in any::<u32>(), b in any::<u32>(), c in any::<u32>()) {
            let d = SeqDelta::between(a, b);
            prop_assert_eq!(d.apply(a), b);
            prop_assert_eq!(d.revert(b), a);
            prop_assert_eq!(d.neg().apply(b), a);
            let e = SeqDelta::between(b, c);
            prop_assert_eq!(d.then(e).apply(a), c);
            // Translation keeps order: a shift preserves seq_lt for points within 2^31.
            let x = a.wrapping_add(c >> 1);
            prop_assert_eq!(seq_lt(a, x), seq_lt(d.apply(a), d.apply(x)));
        }

        #[test]
        fn checksum_bytes_update_at_any_offset(data in proptest::collection::vec(any::<u8>(), 28..64),
                                              off in 0usize..20, new in any::<[u8; 4]>()) {
            let mut d = data.clone();
            d[0] |= 1;
            d[2] = 0;
            d[3] = 0;
            let at = 4 + off;
            let c = crate::wire::checksum::checksum(&d);
            let c2 = update_checksum_bytes(c, at % 2 == 1, &d[at..at + 4], &new);
            d[at..at + 4].copy_from_slice(&new);
            prop_assert_eq!(c2, crate::wire::checksum::checksum(&d));
        }

        #[test]
        fn translation_round_trips(opts in arb_options(), ack in any::<bool>(), seq in any::<u32>(),
                                   ackn in any::<u32>(), cs in any::<u32>(), ss in any::<u32>(),
                                   ts in any::<u32>(), to_client in any::<bool>(),
                                   payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let flags = if ack { crate::wire::tcp::TcpFlags::ACK } else { crate::wire::tcp::TcpFlags::PSH };
            let s = Seg { flags, seq, ack: ackn, opts: &opts, payload: &payload, ..Seg::default() };
            let orig = build(&s, 0);
            let mut b = orig.clone();
            let t = Translation { client_seq: SeqDelta(cs), server_seq: SeqDelta(ss), server_ts: SeqDelta(ts), ..Default::default() };
            let inv = Translation { client_seq: SeqDelta(cs).neg(), server_seq: SeqDelta(ss).neg(),
                                    server_ts: SeqDelta(ts).neg(), ..Default::default() };
            if to_client { t.to_client(&mut tcp_mut(&mut b)) } else { t.to_server(&mut tcp_mut(&mut b)) }
            assert_checksums(&b);
            let expect_seq = if to_client { seq.wrapping_add(ss) } else { seq.wrapping_add(cs) };
            prop_assert_eq!(tcp(&b).seq_number(), expect_seq);
            if ack {
                let expect_ack = if to_client { ackn.wrapping_sub(cs) } else { ackn.wrapping_sub(ss) };
                prop_assert_eq!(tcp(&b).ack_number(), expect_ack);
            } else {
                prop_assert_eq!(tcp(&b).ack_number(), ackn);
            }
            let t = tcp(&b);
            prop_assert_eq!(t.payload(), &payload[..]);
            if to_client { inv.to_client(&mut tcp_mut(&mut b)) } else { inv.to_server(&mut tcp_mut(&mut b)) }
            prop_assert_eq!(b, orig);
        }

        #[test]
        fn the_common_layout_in_one_pass_is_the_option_walk(
            ts_opt in any::<bool>(), flags in any::<u8>(), seq in any::<u32>(), ackn in any::<u32>(),
            tsv in any::<u32>(), tse in any::<u32>(), cs in any::<u32>(), ss in any::<u32>(),
            sts in any::<u32>(), zero in 0u8..8, win in any::<u16>(), from in 0u8..15, to in 0u8..15,
            to_client in any::<bool>(), other in arb_options(),
            payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            // Zero deltas are the usual case (no PROXY header: client_seq 0).
            let pick = |bit: u8, v: u32| if zero & bit != 0 { 0 } else { v };
            let mut opts = vec![1, 1, 8, 10];
            opts.extend_from_slice(&tsv.to_be_bytes());
            opts.extend_from_slice(&tse.to_be_bytes());
            let opts = if ts_opt { opts } else if flags & 0x80 != 0 { other } else { Vec::new() };
            let flags = crate::wire::tcp::TcpFlags(flags & 0x3f);
            let s = Seg { flags, seq, ack: ackn, window: win, opts: &opts, payload: &payload, ..Seg::default() };
            let orig = build(&s, 0);
            let t = Translation {
                client_seq: SeqDelta(pick(1, cs)),
                server_seq: SeqDelta(pick(2, ss)),
                server_ts: SeqDelta(pick(4, sts)),
                to_server_window: WindowShift { from, to },
                to_client_window: WindowShift { from: to, to: from },
            };
            let (mut walked, mut one_pass) = (orig.clone(), orig.clone());
            if to_client { t.to_client(&mut tcp_mut(&mut walked)) } else { t.to_server(&mut tcp_mut(&mut walked)) }
            let ihl = usize::from(one_pass[0] & 0xf) * 4;
            let seg = &mut one_pass[ihl..];
            let taken = if to_client { t.to_client_common(seg) } else { t.to_server_common(seg) };
            if taken {
                prop_assert_eq!(one_pass, walked);
            } else {
                prop_assert_eq!(one_pass, orig);
            }
        }

        #[test]
        fn translation_never_panics(data in proptest::collection::vec(any::<u8>(), 20..80), d in any::<u32>()) {
            let mut data = data;
            if let Ok(mut t) = TcpPacket::new_checked(&mut data[..]) {
                let tr = Translation { client_seq: SeqDelta(d), server_seq: SeqDelta(d), server_ts: SeqDelta(d),
                                       to_server_window: WindowShift { from: 14, to: 0 },
                                       to_client_window: WindowShift { from: 0, to: 14 } };
                tr.to_server(&mut t);
                tr.to_client(&mut t);
            }
        }
    }
}
