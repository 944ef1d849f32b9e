//! FULLNAT rewrite: both addresses and both ports of an IPv4 TCP/UDP packet, with
//! incremental checksum updates (RFC 1624) for the IP header and the transport
//! checksum (whose pseudo header covers the addresses), and the TTL decrement.

use std::net::Ipv4Addr;

use crate::session::FlowKey;
use crate::wire::checksum;

/// The new source and destination of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

impl Endpoints {
    /// Where a packet of session `s` travelling in `dir` is rewritten to: client packets go
    /// LIP:lport → RIP:rport, server packets VIP:vport → CIP:cport.
    #[inline]
    pub fn towards(s: &crate::session::Session, dir: crate::session::Direction) -> Endpoints {
        let k = match dir {
            crate::session::Direction::FromClient => &s.reply,
            crate::session::Direction::FromServer => &s.client,
        };
        Endpoints { src: k.dst, sport: k.dport, dst: k.src, dport: k.sport }
    }
}

/// Rewrites the IPv4 packet in `ip` (header first; already validated, TTL > 1, a whole
/// TCP or UDP header behind it) to `to`, decrementing the TTL. Only TCP and UDP are
/// rewritten at layer 4.
///
/// One folded delta per checksum (RFC 1624 eqn. 3 summed over every changed word): the
/// addresses' delta is computed once and serves the IP header and the L4 pseudo header;
/// the L4 checksum adds the ports' delta, the IP checksum the TTL's. A checksum that was
/// wrong stays wrong by the same amount, so the end host still drops the packet (what
/// IPVS relies on too: it verifies nothing it only forwards).
#[inline(always)]
pub fn rewrite(ip: &mut [u8], to: Endpoints) {
    // The common case, a 20-byte IP header: fixed-size arrays, no bounds checks.
    if ip.len() >= 38 && ip[0] == 0x45 {
        match ip[9] {
            6 => return rewrite_fixed::<38, 36, false>((&mut ip[..38]).try_into().expect("38 bytes"), to),
            17 => return rewrite_fixed::<28, 26, true>((&mut ip[..28]).try_into().expect("28 bytes"), to),
            _ => {}
        }
    }
    rewrite_any(ip, to)
}

/// `rewrite` of a packet the fast path classified (`classify_fast`): a 20-byte IPv4
/// header with a whole TCP (`udp` false) or UDP header behind it, whose addresses and
/// ports are `from`. The old words come from `from` instead of the packet and nothing is
/// checked again; the result is `rewrite`'s, bit for bit (property-tested below).
#[inline(always)]
pub fn rewrite_classified(ip: &mut [u8], udp: bool, from: &FlowKey, to: Endpoints) {
    debug_assert!(
        ip.len() >= 24
            && ip[12..16] == from.src.octets()
            && ip[16..20] == from.dst.octets()
            && ip[20..24] == [from.sport.to_be_bytes(), from.dport.to_be_bytes()].concat()[..],
        "the packet's addresses and ports are not its flow key's"
    );
    let old_addrs = (!ne(from.src.octets())) as u64 + (!ne(from.dst.octets())) as u64;
    let old_ports = !ports_ne(from.sport, from.dport);
    if udp {
        if let Some(h) = ip.first_chunk_mut::<28>() {
            rewrite_words::<28, 26, true>(h, old_addrs, old_ports, to);
        }
    } else if let Some(h) = ip.first_chunk_mut::<38>() {
        rewrite_words::<38, 36, false>(h, old_addrs, old_ports, to);
    }
}

/// The checksum deltas of a session's rewrite, computed once, by the first packet the fast
/// path takes (`SessionTable::find_mut`): its flows never change, so neither does what the
/// rewrite adds to a checksum. `ip` is the IP header's: the addresses' part and the
/// TTL's one less, folded in so that a packet pays no add for the TTL; `l4` the addresses'
/// and the ports' (the TCP/UDP checksum's, whose pseudo header covers the addresses), both
/// for a packet of the client's flow rewritten to the reverse of the reply flow, folded to
/// 16 bits in native order (see `ne`). A reply's deltas are the same rewrite the other way
/// (`reversed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewriteDelta {
    pub ip: u16,
    pub l4: u16,
}

/// One less TTL, as a checksum delta: the TTL is the first byte of the big-endian word
/// (TTL, protocol), so one less is 0xfeff added in big-endian order, the same word with
/// its bytes swapped in native order (`ne`).
const TTL_DELTA: u16 = u16::from_ne_bytes(0xfeffu16.to_be_bytes());

impl RewriteDelta {
    /// Not computed yet: no pair of flows has these deltas, since a fold of a sum that is
    /// not zero is not zero, and a delta's sum holds complemented words. (Were it ever
    /// computed, it would merely be computed again.)
    pub const UNSET: RewriteDelta = RewriteDelta { ip: 0, l4: 0 };

    /// The deltas of rewriting a packet of `from` to the reverse of `other` (source
    /// `other.dst:other.dport`, destination `other.src:other.sport`). Out of line: once
    /// a session.
    #[cold]
    #[inline(never)]
    pub fn between(from: &FlowKey, other: &FlowKey) -> RewriteDelta {
        // The reversed order of `other`'s words changes no ones' complement sum, and
        // neither does byte order (RFC 1071 2(B)): the ports are summed as the key holds
        // them and the folded sum swapped into native order once.
        let old_addrs = (!ne(from.src.octets())) as u64 + (!ne(from.dst.octets())) as u64;
        let addrs = checksum::fold(old_addrs + ne(other.src.octets()) as u64 + ne(other.dst.octets()) as u64);
        let word = |k: &FlowKey| k.sport as u32 | (k.dport as u32) << 16;
        let ports = checksum::fold((!word(from)) as u64 + word(other) as u64);
        let ports = u16::from_ne_bytes(ports.to_be_bytes());
        let l4 = checksum::fold32(addrs as u32 + ports as u32);
        RewriteDelta { ip: checksum::add16(addrs, TTL_DELTA), l4 }
    }

    /// The deltas of the rewrite the other way: the negated addresses' part, the same TTL
    /// part. `ip` holds A + T (ones' complement), whose negation is -A - T: the other
    /// way's -A + T is that plus 2T.
    #[inline(always)]
    pub fn reversed(self) -> RewriteDelta {
        const TWO_TTL: u16 = checksum::add16(TTL_DELTA, TTL_DELTA);
        RewriteDelta { ip: checksum::add16(!self.ip, TWO_TTL), l4: !self.l4 }
    }
}

/// The fast path's rewrite of the first 40 bytes of a packet `classify_fast` took (a
/// 20-byte IPv4 header, TCP unless `udp`) to the reverse of `other` (the session's other
/// flow: where a FULLNAT or NAT packet goes, `Endpoints::towards`) with the session's
/// precomputed `delta` for this direction: the new words are `other`'s, the checksums take
/// the delta and the TTL's, and nothing of the old header is read but the two checksums.
/// Property-tested against `rewrite` below.
#[inline(always)]
pub fn rewrite_to_reverse<const UDP: bool>(ip: &mut [u8; 40], other: &FlowKey, delta: RewriteDelta) {
    let (s, d) = (other.src.octets(), other.dst.octets());
    ip[12..20].copy_from_slice(&[d[0], d[1], d[2], d[3], s[0], s[1], s[2], s[3]]);
    // The ports as one big-endian word (one load and a byte swap of the key's two).
    ip[20..24].copy_from_slice(&((other.dport as u32) << 16 | other.sport as u32).to_be_bytes());
    ip[8] = ip[8].wrapping_sub(1);
    let ip_csum = u16::from_ne_bytes([ip[10], ip[11]]);
    // Ones' complement adds with the carry brought round at once (`add16`): no fold. The
    // delta has the TTL's in it.
    let c = !checksum::add16(!ip_csum, delta.ip);
    ip[10..12].copy_from_slice(&c.to_ne_bytes());
    let at = if UDP { 26 } else { 36 };
    let old = u16::from_ne_bytes([ip[at], ip[at + 1]]);
    if UDP && old == 0 {
        return; // UDP without a checksum stays without
    }
    let mut c = !checksum::add16(!old, delta.l4);
    if UDP && c == 0 {
        c = 0xffff; // UDP sends a computed zero as all ones
    }
    ip[at..at + 2].copy_from_slice(&c.to_ne_bytes());
}

/// Four bytes of a header as a native-order word. The ones' complement sum is byte-order
/// independent (RFC 1071 2(B)): summing words read in native order and writing the result
/// back in native order gives the big-endian result without swapping a byte.
#[inline(always)]
fn ne(b: [u8; 4]) -> u32 {
    u32::from_ne_bytes(b)
}

/// The port word (source port, destination port) as it lies in the header, read in native order.
#[inline(always)]
fn ports_ne(sport: u16, dport: u16) -> u32 {
    let (s, d) = (sport.to_be_bytes(), dport.to_be_bytes());
    ne([s[0], s[1], d[0], d[1]])
}

/// `rewrite` of a header without options: `N` bytes of IP and L4 header, the L4
/// checksum at `C` (TCP 20 + 16, UDP 20 + 6).
#[inline(always)]
fn rewrite_fixed<const N: usize, const C: usize, const UDP: bool>(h: &mut [u8; N], to: Endpoints) {
    let word = |h: &[u8; N], at: usize| ne([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let old_addrs = (!word(h, 12)) as u64 + (!word(h, 16)) as u64;
    rewrite_words::<N, C, UDP>(h, old_addrs, !word(h, 20), to)
}

/// The rewrite proper, in native byte order (see `ne`): `old_addrs` is the sum of the
/// complemented old addresses, `old_ports` the complemented old port word.
#[inline(always)]
fn rewrite_words<const N: usize, const C: usize, const UDP: bool>(
    h: &mut [u8; N],
    old_addrs: u64,
    old_ports: u32,
    to: Endpoints,
) {
    let (new_src, new_dst) = (ne(to.src.octets()), ne(to.dst.octets()));
    let addr_delta = old_addrs + new_src as u64 + new_dst as u64;
    let new_ports = ports_ne(to.sport, to.dport);
    let port_delta = old_ports as u64 + new_ports as u64;
    h[12..16].copy_from_slice(&new_src.to_ne_bytes());
    h[16..20].copy_from_slice(&new_dst.to_ne_bytes());
    h[20..24].copy_from_slice(&new_ports.to_ne_bytes());
    h[8] = h[8].wrapping_sub(1);
    // The TTL is the first byte of the big-endian word (TTL, protocol): one less is
    // 0xfeff added in big-endian order, the same word with its bytes swapped in native.
    let ttl_delta = u16::from_ne_bytes(0xfeffu16.to_be_bytes());
    let ip_csum = u16::from_ne_bytes([h[10], h[11]]);
    let c = !checksum::fold(u64::from(!ip_csum) + addr_delta + u64::from(ttl_delta));
    h[10..12].copy_from_slice(&c.to_ne_bytes());
    let old = u16::from_ne_bytes([h[C], h[C + 1]]);
    if UDP && old == 0 {
        return; // UDP without a checksum stays without
    }
    let mut c = !checksum::fold(u64::from(!old) + addr_delta + port_delta);
    if UDP && c == 0 {
        c = 0xffff; // UDP sends a computed zero as all ones
    }
    h[C..C + 2].copy_from_slice(&c.to_ne_bytes());
}

/// `rewrite` for any header length.
fn rewrite_any(ip: &mut [u8], to: Endpoints) {
    if ip.len() < 28 {
        return;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let csum_at = match ip[9] {
        6 if ip.len() >= ihl + 20 => 16,
        17 if ip.len() >= ihl + 8 => 6,
        6 | 17 => return,
        _ => usize::MAX,
    };
    if ihl < 20 {
        return;
    }
    let (hdr, rest) = ip.split_at_mut(20);
    let hdr: &mut [u8; 20] = hdr.try_into().expect("20 bytes");
    let (new_src, new_dst) = (u32::from(to.src), u32::from(to.dst));
    let old_src = u32::from_be_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]);
    let old_dst = u32::from_be_bytes([hdr[16], hdr[17], hdr[18], hdr[19]]);
    let addr_delta = (!old_src) as u64 + new_src as u64 + (!old_dst) as u64 + new_dst as u64;
    hdr[12..16].copy_from_slice(&new_src.to_be_bytes());
    hdr[16..20].copy_from_slice(&new_dst.to_be_bytes());
    // TTL is the high byte of the word at 8: one less is a delta of -0x100, i.e. 0xFEFF.
    hdr[8] = hdr[8].wrapping_sub(1);
    let ip_csum = u16::from_be_bytes([hdr[10], hdr[11]]);
    let c = !checksum::fold(u64::from(!ip_csum) + addr_delta + 0xfeff);
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
    if csum_at == usize::MAX {
        return;
    }
    // The ports and the checksum are in the first 8 bytes of UDP and the first 18 of TCP.
    let Some(l4) = rest.get_mut(ihl - 20..ihl - 20 + 18.min(csum_at + 2)) else { return };
    let new_ports = (to.sport as u32) << 16 | to.dport as u32;
    let old_ports = u32::from_be_bytes([l4[0], l4[1], l4[2], l4[3]]);
    l4[0..4].copy_from_slice(&new_ports.to_be_bytes());
    let delta = addr_delta + (!old_ports) as u64 + new_ports as u64;
    let (udp, field) = (csum_at == 6, &mut l4[csum_at..csum_at + 2]);
    let old = u16::from_be_bytes([field[0], field[1]]);
    if udp && old == 0 {
        return; // UDP without a checksum stays without
    }
    let mut c = !checksum::fold(u64::from(!old) + delta);
    if udp && c == 0 {
        c = 0xffff; // UDP sends a computed zero as all ones
    }
    field.copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::tcp::TcpPacket;
    use crate::wire::udp::UdpPacket;
    use crate::wire::IpProtocol;
    use proptest::prelude::*;

    /// Builds a valid IPv4 packet with full checksums.
    fn packet(
        proto: IpProtocol,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        payload: &[u8],
        ttl: u8,
    ) -> Vec<u8> {
        let l4_hdr = if proto == IpProtocol::TCP { 20 } else { 8 };
        let total = 20 + l4_hdr + payload.len();
        let mut b = vec![0u8; total];
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len(total as u16);
            ip.set_ttl(ttl);
            ip.set_protocol(proto);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
            ip.set_ident(0x1234);
            ip.fill_checksum();
        }
        let l4 = &mut b[20..];
        l4[l4_hdr..].copy_from_slice(payload);
        if proto == IpProtocol::TCP {
            let mut t = TcpPacket::new_unchecked(l4);
            t.set_src_port(sport);
            t.set_dst_port(dport);
            t.set_header_len(20);
            t.set_seq_number(0xdeadbeef);
            t.set_window(65535);
            t.fill_checksum(src, dst);
        } else {
            let mut u = UdpPacket::new_unchecked(l4);
            u.set_src_port(sport);
            u.set_dst_port(dport);
            u.set_len((8 + payload.len()) as u16);
            u.fill_checksum(src, dst);
        }
        b
    }

    fn assert_valid(b: &[u8], to: Endpoints, ttl: u8) {
        let ip = Ipv4Packet::new_checked(b).unwrap();
        assert!(ip.verify_checksum(), "ip checksum");
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (to.src, to.dst, ttl));
        if ip.protocol() == IpProtocol::TCP {
            let t = TcpPacket::new_checked(ip.payload()).unwrap();
            assert_eq!((t.src_port(), t.dst_port()), (to.sport, to.dport));
            assert!(t.verify_checksum(to.src, to.dst), "tcp checksum");
            // Incremental result equals full recomputation, bit for bit.
            let mut copy = ip.payload().to_vec();
            let mut full = TcpPacket::new_unchecked(&mut copy[..]);
            full.fill_checksum(to.src, to.dst);
            assert_eq!(full.checksum(), t.checksum());
        } else {
            let u = UdpPacket::new_checked(ip.payload()).unwrap();
            assert_eq!((u.src_port(), u.dst_port()), (to.sport, to.dport));
            assert!(u.verify_checksum(to.src, to.dst), "udp checksum");
        }
        let mut hdr = b[..ip.header_len()].to_vec();
        let mut full = Ipv4Packet::new_unchecked(&mut hdr[..]);
        let c = full.checksum();
        full.fill_checksum();
        assert_eq!(full.checksum(), c, "ip header: incremental == full");
    }

    #[test]
    fn fullnat_client_to_real_server() {
        let mut b = packet(
            IpProtocol::TCP,
            "198.18.0.10".parse().unwrap(),
            "198.18.0.100".parse().unwrap(),
            40000,
            80,
            b"GET / HTTP/1.1\r\n\r\n",
            64,
        );
        let to = Endpoints {
            src: "198.19.0.200".parse().unwrap(),
            sport: 1025,
            dst: "198.19.0.11".parse().unwrap(),
            dport: 8080,
        };
        rewrite(&mut b, to);
        assert_valid(&b, to, 63);
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let src: Ipv4Addr = "198.18.0.10".parse().unwrap();
        let mut b = packet(IpProtocol::UDP, src, "198.18.0.100".parse().unwrap(), 5000, 53, b"q", 9);
        b[26] = 0;
        b[27] = 0;
        let to = Endpoints {
            src: "198.19.0.200".parse().unwrap(),
            sport: 1026,
            dst: "198.19.0.12".parse().unwrap(),
            dport: 53,
        };
        rewrite(&mut b, to);
        assert_eq!(&b[26..28], &[0, 0]);
    }

    fn arb_ip() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    /// The packet with 4 bytes of IP options (NOPs and an end), so the rewrite takes its
    /// any-header-length path.
    /// A packet of `from` (TCP unless `udp`; a UDP one without checksum if `no_udp_sum`),
    /// and the fast path's frame of it: at least 40 bytes of IP (Ethernet padding, 0xee,
    /// behind a short UDP datagram), which must stay as it was.
    fn packet_and_fast_frame(
        from: &FlowKey,
        udp: bool,
        no_udp_sum: bool,
        payload: &[u8],
        ttl: u8,
    ) -> (Vec<u8>, Vec<u8>) {
        let p = if udp { IpProtocol::UDP } else { IpProtocol::TCP };
        let mut a = packet(p, from.src, from.dst, from.sport, from.dport, payload, ttl);
        if udp && no_udp_sum {
            a[26] = 0;
            a[27] = 0;
        }
        let mut c = a.clone();
        c.resize(a.len().max(40), 0xee);
        (a, c)
    }

    fn with_options(b: &[u8]) -> Vec<u8> {
        let mut v = b[..20].to_vec();
        v.extend_from_slice(&[1, 1, 1, 0]);
        v.extend_from_slice(&b[20..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
        ip.set_header_len(24);
        ip.set_total_len(b.len() as u16 + 4);
        ip.fill_checksum();
        v
    }

    proptest! {
        #[test]
        fn incremental_equals_full_recomputation_with_ip_options(
            tcp in any::<bool>(),
            src in arb_ip(), dst in arb_ip(), sport in any::<u16>(), dport in any::<u16>(),
            nsrc in arb_ip(), ndst in arb_ip(), nsport in any::<u16>(), ndport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            ttl in 2u8..=255,
        ) {
            let proto = if tcp { IpProtocol::TCP } else { IpProtocol::UDP };
            let mut b = with_options(&packet(proto, src, dst, sport, dport, &payload, ttl));
            let to = Endpoints { src: nsrc, sport: nsport, dst: ndst, dport: ndport };
            rewrite(&mut b, to);
            assert_valid(&b, to, ttl - 1);
        }

        #[test]
        fn incremental_equals_full_recomputation(
            tcp in any::<bool>(),
            src in arb_ip(), dst in arb_ip(), sport in any::<u16>(), dport in any::<u16>(),
            nsrc in arb_ip(), ndst in arb_ip(), nsport in any::<u16>(), ndport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            ttl in 2u8..=255,
        ) {
            let proto = if tcp { IpProtocol::TCP } else { IpProtocol::UDP };
            let mut b = packet(proto, src, dst, sport, dport, &payload, ttl);
            let to = Endpoints { src: nsrc, sport: nsport, dst: ndst, dport: ndport };
            rewrite(&mut b, to);
            assert_valid(&b, to, ttl - 1);
        }

        #[test]
        fn classified_rewrite_equals_rewrite(
            tcp in any::<bool>(),
            src in arb_ip(), dst in arb_ip(), sport in any::<u16>(), dport in any::<u16>(),
            nsrc in arb_ip(), ndst in arb_ip(), nsport in any::<u16>(), ndport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            ttl in 2u8..=255,
            no_udp_sum in any::<bool>(),
        ) {
            let from = FlowKey { src, dst, sport, dport, proto: if tcp { 6 } else { 17 } };
            let (mut a, _) = packet_and_fast_frame(&from, !tcp, no_udp_sum, &payload, ttl);
            let mut b = a.clone();
            let to = Endpoints { src: nsrc, sport: nsport, dst: ndst, dport: ndport };
            rewrite(&mut a, to);
            rewrite_classified(&mut b, !tcp, &from, to);
            prop_assert_eq!(&a, &b);
        }

        /// A computed delta is never UNSET, which marks a slot's deltas as not computed yet
        /// (the slot keeps the client direction's; the reply's is derived when read).
        #[test]
        fn computed_deltas_are_never_unset(
            a in any::<(u32, u32, u16, u16)>(), b in any::<(u32, u32, u16, u16)>(), tcp in any::<bool>(),
        ) {
            let proto = if tcp { 6 } else { 17 };
            let key = |k: (u32, u32, u16, u16)| FlowKey { src: k.0.into(), dst: k.1.into(), sport: k.2, dport: k.3, proto };
            let d = RewriteDelta::between(&key(a), &key(b));
            prop_assert_ne!(d, RewriteDelta::UNSET);
        }

        /// The precomputed deltas, both ways, give `rewrite`'s packet bit for bit.
        #[test]
        fn precomputed_deltas_equal_rewrite(
            tcp in any::<bool>(),
            cip in arb_ip(), vip in arb_ip(), cport in any::<u16>(), vport in any::<u16>(),
            rip in arb_ip(), lip in arb_ip(), rport in any::<u16>(), lport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            ttl in 2u8..=255,
            no_udp_sum in any::<bool>(),
            reply in any::<bool>(),
        ) {
            let proto: u8 = if tcp { 6 } else { 17 };
            let client = FlowKey { src: cip, dst: vip, sport: cport, dport: vport, proto };
            let server = FlowKey { src: rip, dst: lip, sport: rport, dport: lport, proto };
            let delta = RewriteDelta::between(&client, &server);
            let (from, other, delta) = if reply { (server, client, delta.reversed()) } else { (client, server, delta) };
            let (mut a, mut c) = packet_and_fast_frame(&from, !tcp, no_udp_sum, &payload, ttl);
            rewrite(&mut a, Endpoints { src: other.dst, sport: other.dport, dst: other.src, dport: other.sport });
            let ip = c.first_chunk_mut::<40>().expect("40 bytes");
            if tcp {
                rewrite_to_reverse::<false>(ip, &other, delta)
            } else {
                rewrite_to_reverse::<true>(ip, &other, delta)
            }
            prop_assert_eq!(&c[..a.len()], &a[..]);
            prop_assert!(c[a.len()..].iter().all(|&x| x == 0xee));
        }

        #[test]
        fn rewrite_there_and_back_restores_the_packet(
            src in arb_ip(), dst in arb_ip(), nsrc in arb_ip(), ndst in arb_ip(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let orig = packet(IpProtocol::TCP, src, dst, 1, 2, &payload, 64);
            let mut b = orig.clone();
            rewrite(&mut b, Endpoints { src: nsrc, sport: 3, dst: ndst, dport: 4 });
            rewrite(&mut b, Endpoints { src, sport: 1, dst, dport: 2 });
            // Everything but the TTL (and the IP checksum that covers it) is as before.
            prop_assert_eq!(&b[20..], &orig[20..]);
            prop_assert_eq!(b[8], 62);
        }
    }
}
