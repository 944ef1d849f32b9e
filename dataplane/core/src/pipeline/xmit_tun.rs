//! TUN (IPVS's `-i`): the client's IP packet inside an outer IPv4 header (IPIP, protocol
//! 4) from a director address to the real server, which decapsulates it (`tunl0` with
//! the VIP) and answers the client directly.
//!
//! The outer header adds 20 bytes. A packet that no longer fits the MTU of the port
//! towards the real server is not fragmented: with DF set (every TCP segment of a PMTU-discovering host) the client gets
//! ICMP "fragmentation needed" with the MTU minus 20, as IPVS's ip_vs_tunnel_xmit does, so
//! its next segments fit; without DF it is dropped and counted (`tun_too_big`).

use super::*;
use crate::stats::Event;
use crate::wire::checksum;
use crate::wire::icmp::{CODE_FRAG_NEEDED, DEST_UNREACHABLE};

/// The MTU of the path to a real server when no route names its port (Ethernet's).
const TUN_MTU: usize = 1500;
/// The outer IPv4 header.
const OUTER_LEN: usize = 20;
/// TTL of the outer header (Linux's default hop limit, what IPVS's tunnel uses).
const OUTER_TTL: u8 = 64;
/// Bytes of the offending packet quoted in the ICMP error: its header and the first 8
/// bytes of TCP/UDP (ports and sequence number), as RFC 792 asks.
const QUOTE_L4: usize = 8;

impl<P: Frame> Pipeline<P> {
    /// Wraps the IP packet of `pkt` (Ethernet header in front, rewritten later) in an
    /// outer IPv4 header to `rip`. None when the packet was answered or dropped instead.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn encapsulate(
        &mut self,
        pkt: P,
        info: &L4Info,
        rip: Ipv4Addr,
        gue_port: u16,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Option<P> {
        let inner = info.ip_len;
        let df = pkt.data()[ETH_LEN + 6] & 0x40 != 0;
        let (mtu, outer) = (self.tun_mtu(rip), outer_len(gue_port));
        if inner + outer > mtu {
            if df {
                self.frag_needed(&pkt, info, (mtu - outer) as u16, now, alloc, out);
                self.counters.event(Event::TunFragNeeded);
                self.drop_pkt(DropReason::TunTooBig, pkt);
            } else {
                self.drop_pkt(DropReason::TunTooBig, pkt);
            }
            return None;
        }
        self.wrap_tunnel(pkt, inner, rip, gue_port)
    }

    /// The MTU of the way to real server `rip`: that of the port (or VLAN) its route
    /// leaves by, so jumbo frames towards the servers leave room for full-size packets.
    pub(super) fn tun_mtu(&self, rip: Ipv4Addr) -> usize {
        let port = self.routes.lookup(rip).map(|h| h.port as usize);
        port.and_then(|p| self.ifaces.get(p))
            .map_or(TUN_MTU, |i| usize::from(i.mtu).max(OUTER_LEN + UDP_LEN + 68))
    }

    /// Puts the `inner`-byte IP packet of `pkt` in an outer IPv4 header to `rip`, and for
    /// GUE (`gue_port` not 0) a UDP header to that port in between (the caller checked that
    /// it fits). None when dropped (no route, no room).
    pub(super) fn wrap_tunnel(
        &mut self,
        mut pkt: P,
        inner: usize,
        rip: Ipv4Addr,
        gue_port: u16,
    ) -> Option<P> {
        let df = pkt.data()[ETH_LEN + 6] & 0x40 != 0;
        let Some(hop) = self.routes.lookup(rip) else {
            self.drop_pkt(DropReason::NoRoute, pkt);
            return None;
        };
        // The outer source: the director's own address on the port towards the server.
        let Some(src) = self.source_addr_for(hop.port, rip) else {
            self.drop_pkt(DropReason::NoRoute, pkt);
            return None;
        };
        let outer = outer_len(gue_port);
        if !pkt.set_len(ETH_LEN + outer + inner) {
            self.drop_pkt(DropReason::NoMbuf, pkt);
            return None;
        }
        let d = pkt.data_mut();
        d.copy_within(ETH_LEN..ETH_LEN + inner, ETH_LEN + outer);
        let at = ETH_LEN + outer;
        let (tos, ident) = (d[at + 1], [d[at + 4], d[at + 5]]);
        // GUE's source port carries the inner flow's entropy (for the server's RSS), as
        // the kernel's fou does: a hash of its addresses, protocol and ports.
        let sport = if gue_port != 0 { gue_source_port(&d[at..at + inner]) } else { 0 };
        let (head, rest) = d[ETH_LEN..].split_at_mut(OUTER_LEN);
        write_outer(
            head.try_into().expect("20 bytes"),
            tos,
            ident,
            df,
            (outer + inner) as u16,
            src,
            rip,
            if gue_port != 0 { 17 } else { 4 },
        );
        if gue_port != 0 {
            // UDP without checksum (allowed over IPv4; RFC 6935 for tunnels), then GUE
            // variant 1: the inner IPv4 packet right after the UDP header.
            rest[0..2].copy_from_slice(&sport.to_be_bytes());
            rest[2..4].copy_from_slice(&gue_port.to_be_bytes());
            rest[4..6].copy_from_slice(&((UDP_LEN + inner) as u16).to_be_bytes());
            rest[6..8].copy_from_slice(&[0, 0]);
        }
        Some(pkt)
    }

    /// ICMP "fragmentation needed" (type 3 code 4) with next-hop MTU `mtu` to the client
    /// that sent `pkt`, from our address on the port it came in on.
    pub(super) fn frag_needed(
        &mut self,
        pkt: &P,
        info: &L4Info,
        mtu: u16,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let client = info.key.src;
        let Some(src) = self.source_addr_for(info.port, client) else { return };
        let quote_len = (20 + QUOTE_L4).min(info.ip_len);
        let icmp_len = 8 + quote_len;
        let len = ETH_LEN + 20 + icmp_len;
        let Some(mut f) = alloc.alloc(len.max(60)) else {
            return self.counters.count_drop(DropReason::NoMbuf);
        };
        let quote = &pkt.data()[ETH_LEN..ETH_LEN + quote_len];
        let d = f.data_mut();
        d.fill(0);
        let ip: &mut [u8; 20] = (&mut d[ETH_LEN..ETH_LEN + 20]).try_into().expect("20 bytes");
        *ip = [0x45, 0, 0, 0, 0, 0, 0, 0, DEFAULT_TTL, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ip[2..4].copy_from_slice(&((20 + icmp_len) as u16).to_be_bytes());
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&client.octets());
        let c = !checksum::fold(checksum::sum_ipv4_header(ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let icmp = &mut d[ETH_LEN + 20..ETH_LEN + 20 + icmp_len];
        icmp[0] = DEST_UNREACHABLE;
        icmp[1] = CODE_FRAG_NEEDED;
        icmp[6..8].copy_from_slice(&mtu.to_be_bytes());
        icmp[8..].copy_from_slice(quote);
        let c = checksum::checksum(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        self.send_ip(f, client, now, alloc, out);
    }
}

/// TTL of the packets we originate.
const DEFAULT_TTL: u8 = 64;
/// GUE's UDP header.
const UDP_LEN: usize = 8;

/// Bytes the tunnel adds: the outer IPv4 header, and the UDP header for GUE.
pub(super) fn outer_len(gue_port: u16) -> usize {
    if gue_port != 0 {
        OUTER_LEN + UDP_LEN
    } else {
        OUTER_LEN
    }
}

/// GUE's UDP source port for an inner IPv4 packet: in 49152..=65535, from a hash of its
/// addresses, protocol and (when present) first four bytes of L4 (the ports).
fn gue_source_port(inner: &[u8]) -> u16 {
    let ihl = usize::from(inner[0] & 0x0f) * 4;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let ports = inner.get(ihl..ihl + 4).unwrap_or(&[]);
    for &b in inner[12..20].iter().chain(std::iter::once(&inner[9])).chain(ports) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    49152 + (h % 16384) as u16
}

/// The outer IPv4 header: DF and TOS copied from the inner packet (IPVS does the same),
/// the inner packet's identification (never fragmented by us).
#[allow(clippy::too_many_arguments)]
fn write_outer(
    h: &mut [u8; 20],
    tos: u8,
    ident: [u8; 2],
    df: bool,
    total: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
) {
    let len = total.to_be_bytes();
    *h = [
        0x45,
        tos,
        len[0],
        len[1],
        ident[0],
        ident[1],
        if df { 0x40 } else { 0 },
        0,
        OUTER_TTL,
        proto, // IPIP (4) or UDP (17, GUE)
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = !checksum::fold(checksum::sum_ipv4_header(h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
}
