//! Splitting a TCP segment that would outgrow the egress MTU once the session grows it (the
//! PROXY header in front of the client's first byte, the TOA option): the first part keeps
//! the start of the payload, the second the rest at `seq + kept`. Both stay in the client's
//! sequence space, so the session's translation applies to them as to any segment.
//!
//! Splitting rather than answering with ICMP "fragmentation needed": the growth is ours,
//! not the client's, and the client cannot fix it (its segment fits its path). An ICMP
//! error would make it lower its path MTU to the VIP for ten minutes for every connection,
//! and is lost wherever ICMP is filtered (a PMTUD black hole: the hang this prevents).

use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{TcpFlags, TcpPacket};
use crate::wire::{IpProtocol, WireError};

/// Why a segment could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    #[error("not a TCP packet")]
    NotTcp,
    #[error("IP fragment")]
    Fragment,
    /// `keep` is 0 or not below the payload length: nothing to split.
    #[error("cannot keep {keep} of {payload} payload bytes in the first part")]
    BadPoint { keep: usize, payload: usize },
    #[error("the second part needs {need} bytes, the buffer has {have}")]
    NoRoom { need: usize, have: usize },
}

impl From<WireError> for SplitError {
    fn from(e: WireError) -> Self {
        SplitError::Malformed(e)
    }
}

/// Splits the IPv4/TCP packet at the start of `head` after `keep` payload bytes: writes
/// the second part (same headers, the payload from `keep` on, `seq + keep`, the original
/// flags) to the start of `tail`, and shortens `head` to the first part (FIN and PSH move
/// to the second part). Both get full checksums: verify the original's first. Returns the
/// IP lengths of the two parts.
pub fn split_segment(head: &mut [u8], keep: usize, tail: &mut [u8]) -> Result<(usize, usize), SplitError> {
    let ip = Ipv4Packet::new_checked(&head[..])?;
    if ip.protocol() != IpProtocol::TCP {
        return Err(SplitError::NotTcp);
    }
    if ip.is_fragment() {
        return Err(SplitError::Fragment);
    }
    let (ihl, total, ident) = (ip.header_len(), ip.total_len() as usize, ip.ident());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let tcp = TcpPacket::new_checked(&head[ihl..total])?;
    let (thl, seq, flags) = (tcp.header_len(), tcp.seq_number(), tcp.flags());
    let hdrs = ihl + thl;
    let payload = total - hdrs;
    if keep == 0 || keep >= payload {
        return Err(SplitError::BadPoint { keep, payload });
    }
    let tail_len = hdrs + payload - keep;
    if tail.len() < tail_len {
        return Err(SplitError::NoRoom { need: tail_len, have: tail.len() });
    }
    tail[..hdrs].copy_from_slice(&head[..hdrs]);
    tail[hdrs..tail_len].copy_from_slice(&head[hdrs + keep..total]);
    finish(&mut tail[..tail_len], ihl, ident.wrapping_add(1), seq.wrapping_add(keep as u32), flags, src, dst);
    let head_len = hdrs + keep;
    let mut head_flags = flags;
    head_flags.remove(TcpFlags::FIN | TcpFlags::PSH);
    finish(&mut head[..head_len], ihl, ident, seq, head_flags, src, dst);
    Ok((head_len, tail_len))
}

fn finish(
    pkt: &mut [u8],
    ihl: usize,
    ident: u16,
    seq: u32,
    flags: TcpFlags,
    src: std::net::Ipv4Addr,
    dst: std::net::Ipv4Addr,
) {
    let len = pkt.len();
    let mut ip = Ipv4Packet::new_unchecked(&mut pkt[..]);
    ip.set_total_len(len as u16);
    ip.set_ident(ident);
    ip.fill_checksum();
    let mut tcp = TcpPacket::new_unchecked(&mut pkt[ihl..]);
    tcp.set_seq_number(seq);
    tcp.set_flags(flags);
    tcp.fill_checksum(src, dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synproxy::testutil::{arb_options, assert_checksums, build, tcp, Seg};
    use proptest::prelude::*;

    proptest! {
        /// Any option layout, payload and split point: both parts have right checksums,
        /// and their payloads put back together are the original, at the right sequence.
        #[test]
        fn every_byte_survives_any_split(
            opts in arb_options(),
            payload in proptest::collection::vec(any::<u8>(), 2..1460),
            at in any::<prop::sample::Index>(),
            seq in any::<u32>(),
        ) {
            let keep = 1 + at.index(payload.len() - 1);
            let seg = Seg { flags: TcpFlags::ACK | TcpFlags::PSH, seq, opts: &opts, payload: &payload, ..Seg::default() };
            let mut head = build(&seg, 0);
            let mut tail = vec![0u8; 1600];
            let (h, t) = split_segment(&mut head, keep, &mut tail).unwrap();
            assert_checksums(&head[..h]);
            assert_checksums(&tail[..t]);
            let (a, b) = (tcp(&head[..h]), tcp(&tail[..t]));
            prop_assert_eq!(a.options(), b.options());
            prop_assert_eq!(b.seq_number(), seq.wrapping_add(keep as u32));
            let mut joined = a.payload().to_vec();
            joined.extend_from_slice(b.payload());
            prop_assert_eq!(joined, payload);
        }
    }

    #[test]
    fn parts_carry_the_payload_in_order_with_flags_and_checksums() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let seg = Seg {
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            seq: 0xffff_fff0,
            payload: &payload,
            ..Seg::default()
        };
        let mut head = build(&seg, 0);
        let mut tail = vec![0u8; 1500];
        let (h, t) = split_segment(&mut head, 400, &mut tail).unwrap();
        let (head, tail) = (&head[..h], &tail[..t]);
        assert_checksums(head);
        assert_checksums(tail);
        let (a, b) = (tcp(head), tcp(tail));
        assert_eq!(a.payload(), &payload[..400]);
        assert_eq!(b.payload(), &payload[400..]);
        assert_eq!(a.seq_number(), 0xffff_fff0);
        assert_eq!(b.seq_number(), 0xffff_fff0u32.wrapping_add(400));
        assert!(!a.flags().intersects(TcpFlags::FIN | TcpFlags::PSH));
        assert!(a.flags().contains(TcpFlags::ACK));
        assert_eq!(b.flags(), seg.flags);
        assert_eq!(a.ack_number(), b.ack_number());
    }

    #[test]
    fn refuses_what_cannot_be_split() {
        let seg = Seg { flags: TcpFlags::ACK, payload: &[1; 10], ..Seg::default() };
        let mut p = build(&seg, 0);
        let mut tail = vec![0u8; 100];
        assert!(matches!(split_segment(&mut p, 0, &mut tail), Err(SplitError::BadPoint { .. })));
        assert!(matches!(split_segment(&mut p, 10, &mut tail), Err(SplitError::BadPoint { .. })));
        let mut small = vec![0u8; 20];
        assert!(matches!(split_segment(&mut p, 5, &mut small), Err(SplitError::NoRoom { .. })));
    }
}
