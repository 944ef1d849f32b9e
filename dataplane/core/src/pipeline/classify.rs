//! Stage one of the packet path: what a frame is and whom it is for.
//!
//! Ethernet, IPv4 and TCP/UDP headers are checked; the destination address is looked up
//! once in the table of our addresses (the ports' own, VIPs, LIPs); the frame then goes to
//! the client side (VIP), the server side (LIP), a former address's sessions, ARP, ICMP,
//! or the kernel.

use super::*;
use crate::open_index::OpenIndex;

impl<P: Frame> Pipeline<P> {
    /// Handles one received frame from `port`.
    pub fn handle(
        &mut self,
        port: PortIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        if vlan::is_tagged(pkt.data()) {
            return self.handle_tagged(port, pkt, now, alloc, out);
        }
        self.handle_l2(port, pkt, now, alloc, out)
    }

    /// Handles an untagged frame of interface `port` (a port, or a VLAN once its tag is
    /// stripped).
    pub(super) fn handle_l2(
        &mut self,
        port: IfIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = pkt.data();
        let Ok(eth) = EthernetFrame::new_checked(data) else {
            return self.drop_pkt(DropReason::Truncated, pkt);
        };
        let dst = eth.dst_addr();
        if dst != self.ifaces[port as usize].mac && !dst.is_broadcast() {
            // Multicast (OSPF, VRRP, IPv6 ND) is the kernel's; unicast to another MAC is
            // nobody's.
            if dst.is_multicast() {
                if eth.ethertype() == EtherType::IPV6 {
                    // Solicitations for our IPv6 addresses go to solicited-node groups.
                    return self.handle_ipv6(port, pkt, now, alloc, out);
                }
                return self.to_kernel(port, DropReason::NotForUs, pkt, out);
            }
            return self.drop_pkt(DropReason::NotForUs, pkt);
        }
        match eth.ethertype() {
            EtherType::IPV4 => self.handle_ipv4(port, pkt, now, alloc, out),
            EtherType::ARP => self.handle_arp(port, pkt, now, alloc, out),
            EtherType::IPV6 => self.handle_ipv6(port, pkt, now, alloc, out),
            _ => self.to_kernel(port, DropReason::UnknownEthertype, pkt, out),
        }
    }

    pub(super) fn handle_ipv4(
        &mut self,
        port: IfIndex,
        pkt: P,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let data = &pkt.data()[ETH_LEN..];
        let Ok(ip) = Ipv4Packet::new_checked(data) else {
            // Too short for any IPv4 header is truncation; anything else is a bad header.
            let reason = if data.len() < 20 { DropReason::Truncated } else { DropReason::BadIpHeader };
            return self.drop_pkt(reason, pkt);
        };
        let ip_ok = match pkt.ip_checksum_ok() {
            Some(ok) => ok,
            None => ip.verify_checksum(),
        };
        if !ip_ok {
            return self.drop_pkt(DropReason::BadIpChecksum, pkt);
        }
        if ip.is_fragment() {
            return self.handle_fragment(port, pkt, now, alloc, out);
        }
        let mut kind = self.addrs.get(ip.dst_addr());
        let proto = ip.protocol();
        if proto == IpProtocol::ICMP {
            // Not ours unless NAT real servers send errors to clients through us.
            if kind == Destination::Former && self.nat.is_empty() {
                // Not ours: maybe the kernel's own address.
                return self.to_kernel(port, DropReason::NotLocal, pkt, out);
            }
            return self.handle_icmp(port, pkt, now, alloc, out);
        }
        if proto != IpProtocol::TCP && proto != IpProtocol::UDP {
            // OSPF, VRRP, GRE...: the kernel's business.
            return self.to_kernel(port, DropReason::UnsupportedProtocol, pkt, out);
        }
        if kind == Destination::Former && self.sessions.is_empty() && self.nat.is_empty() {
            return self.to_kernel(port, DropReason::NotLocal, pkt, out);
        }
        if let Destination::Own(_) = kind {
            // ssh, BGP and friends to our own addresses: the host's; but a virtual
            // service's port on one is the service's (`serves_own`).
            if !self.serves_own(proto.0, ip.dst_addr(), ip.payload()) {
                return self.to_kernel(port, DropReason::ToHost, pkt, out);
            }
            kind = Destination::Vip;
        }
        let Some(mut info) = self.parse_l4(&pkt, &ip, false) else {
            return;
        };
        info.port = port;
        info.dest = kind;
        self.dispatch(pkt, info, now, alloc, out)
    }

    /// Whether a TCP/UDP packet to `dst`, one of the ports' own addresses, is for a
    /// virtual service there (`l4`: the IP payload, its ports first). LVS lets a VIP be
    /// the director's own address: the service's port is balanced, every other port
    /// (ssh, a routing daemon) stays the host's.
    pub(super) fn serves_own(&self, proto: u8, dst: Ipv4Addr, l4: &[u8]) -> bool {
        let Some(&[hi, lo]) = l4.get(2..4) else { return false };
        self.snapshot.find(&(proto, dst, u16::from_be_bytes([hi, lo]))).is_some()
    }

    /// A TCP/UDP packet to a VIP, a LIP or a former address, parsed: finds its session
    /// (one lookup, either direction) and sends it on its way.
    #[inline]
    pub(super) fn dispatch(
        &mut self,
        pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        match info.dest {
            Destination::Vip => match self.sessions.lookup_hashed(info.hash, &info.key) {
                Some((id, Direction::FromClient)) if !self.restarts(id, &info) => {
                    self.forward(id, Direction::FromClient, pkt, info, now, alloc, out)
                }
                Some((id, Direction::FromClient)) => self.client_packet(pkt, info, Some(id), now, alloc, out),
                _ => self.client_packet(pkt, info, None, now, alloc, out),
            },
            Destination::Lip => self.server_packet(pkt, info, now, alloc, out),
            Destination::Former => {
                // A NAT real server's reply to another worker's client (conn_direct).
                if let Some(owner) = self.nat_reply_owner(&info) {
                    return self.redirect_to(owner, pkt, info, out);
                }
                match self.sessions.lookup_hashed(info.hash, &info.key) {
                    Some((id, dir)) => self.forward(id, dir, pkt, info, now, alloc, out),
                    None => self.to_kernel(info.port, DropReason::NotLocal, pkt, out),
                }
            }
            Destination::Own(_) | Destination::Ipv6 => self.drop_pkt(DropReason::ToHost, pkt),
        }
    }

    /// A client SYN on the ports of a session that is closing: a new connection.
    #[inline]
    fn restarts(&self, id: SessionId, info: &L4Info) -> bool {
        info.key.proto == PROTO_TCP
            && info.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN
            && self.sessions.get(id).state.allows_reuse()
    }

    /// The TCP/UDP header of an IPv4 packet; counts and returns None when it is
    /// malformed. The checksum is checked only when `verify` (see `verify_l4`).
    pub(super) fn parse_l4(&self, pkt: &P, ip: &Ipv4Packet<&[u8]>, verify: bool) -> Option<L4Info> {
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let (sport, dport, flags, proto) = if ip.protocol() == IpProtocol::TCP {
            let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            (tcp.src_port(), tcp.dst_port(), tcp.flags().bits(), PROTO_TCP)
        } else {
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                self.counters.count_drop(DropReason::BadL4Header);
                return None;
            };
            (udp.src_port(), udp.dst_port(), 0, PROTO_UDP)
        };
        let key = FlowKey { src, dst, sport, dport, proto };
        let info = L4Info {
            port: 0,
            key,
            tcp_flags: flags,
            ttl: ip.ttl(),
            ip_len: ip.total_len() as usize,
            dest: Destination::Former,
            hash: self.sessions.hash(&key),
        };
        if verify && !self.verify_l4(pkt, &info) {
            return None;
        }
        Some(info)
    }

    /// Checks the TCP/UDP checksum (the NIC's verdict where it gave one) of a packet we
    /// terminate, originate an answer to, or grow: a new connection's first packet, SYN
    /// proxy handshakes, TOA/PROXY insertion. Forwarded packets are not checked: the
    /// incremental rewrite keeps a bad checksum bad, so the end host drops them, as IPVS
    /// relies on. Counts and returns false when bad.
    pub(super) fn verify_l4(&self, pkt: &P, info: &L4Info) -> bool {
        let d = pkt.data();
        // The IP header's version/length byte and the flags' byte, read once, without
        // building a view of the header (a new connection's first packet comes this way).
        // (Short of them, the segment below is out of the frame: a bad checksum, counted.)
        let (vihl, flags) = (d.get(ETH_LEN).copied().unwrap_or(0), d.get(ETH_LEN + 6).copied().unwrap_or(0));
        if flags & 0x20 != 0 {
            // A first fragment (MF): its checksum covers the whole datagram, which only the
            // end host sees (`frag.rs`).
            return true;
        }
        let ok = pkt.l4_checksum_ok().unwrap_or_else(|| {
            // The segment: from the end of the IP header to the IP packet's end.
            let start = ETH_LEN + usize::from(vihl & 0x0f) * 4;
            let Some(l4) = d.get(start..ETH_LEN + info.ip_len) else { return false };
            if info.key.proto == PROTO_TCP {
                TcpPacket::new_unchecked(l4).verify_checksum(info.key.src, info.key.dst)
            } else {
                UdpPacket::new_unchecked(l4).verify_checksum(info.key.src, info.key.dst)
            }
        });
        if !ok {
            self.counters.count_drop(DropReason::BadL4Checksum);
        }
        ok
    }

    /// The fast classification of burst stage 1: an untagged IPv4 frame for our MAC,
    /// without options or fragmentation (header checksum: see below), carrying TCP or
    /// UDP. Anything else (and anything malformed) is false and takes the full path of
    /// `handle`, which counts it. Fills `info` but for `dest`, which the fast path does
    /// without (`established`) and the full way looks up (`fast_or_full`).
    #[inline(always)]
    pub(super) fn classify_fast(&self, port: PortIndex, pkt: &P, info: &mut L4Info) -> bool {
        let Some(i) = self.ifaces.get(port as usize) else { return false };
        let mut meta = FastMeta::default();
        if self.classify_fast_meta(header_template(i.mac.0), pkt, &mut meta).is_none() {
            return false;
        }
        *info = meta.info(port, pkt);
        true
    }

    /// Whether the IPv4 header checksum of a frame `classify_fast` took (a 20-byte header)
    /// is right, the NIC's verdict where it gave one.
    pub(super) fn header_checksum_ok(&self, pkt: &P) -> bool {
        pkt.ip_checksum_ok().unwrap_or_else(|| {
            let h = pkt.data().get(ETH_LEN..ETH_LEN + 20).and_then(|h| <&[u8; 20]>::try_from(h).ok());
            h.is_some_and(|h| {
                crate::wire::checksum::fold(crate::wire::checksum::sum_ipv4_header(h)) == 0xffff
            })
        })
    }

    /// `classify_fast` for a frame to the interface whose frames start as `template`
    /// (`header_template`), keeping what the stages after it decide on (`FastMeta`); the
    /// flow's key stays in the header, in cache, for stage 2 to read
    /// (`KeyWords::from_header`), rather than stored and loaded again.
    #[inline(always)]
    pub(super) fn classify_fast_meta(&self, template: u128, pkt: &P, meta: &mut FastMeta) -> Option<()> {
        let d = pkt.data();
        // Ethernet, a 20-byte IPv4 header and the first 20 bytes of L4 as one fixed-size
        // array (UDP frames are padded to 60 bytes on Ethernet, so 54 holds both): the
        // reads below need no bounds checks.
        let h: &[u8; 54] = d.get(..54)?.try_into().ok()?;
        // Our MAC, IPv4 and a 20-byte header (ethertype 0x0800, then 0x45) in the first
        // 16 bytes, compared as one word with the source MAC and the TOS masked off
        // (`header_template`); no fragment bits (MF and the offset) in another.
        let frag = u16::from_le_bytes([h[20], h[21]]) & 0xff3f;
        if !rvs_cpu::eq_under_mask(h.first_chunk::<16>()?, HEADER_MASK, template) || frag != 0 {
            return None;
        }
        let ip_len = u16::from_be_bytes([h[16], h[17]]);
        // Length within the frame, no bigger than the smallest port MTU (`xmit_frag`
        // treats the rest).
        if ETH_LEN + ip_len as usize > d.len() || ip_len as usize > self.max_fast_ip {
            return None;
        }
        let proto = h[23];
        let flags = match proto {
            PROTO_TCP => {
                let doff = (h[46] >> 4) as u16 * 4;
                if doff < 20 || 20 + doff > ip_len {
                    return None;
                }
                h[47]
            }
            PROTO_UDP => {
                let ulen = u16::from_be_bytes([h[38], h[39]]);
                if ulen < 8 || 20 + ulen as usize > ip_len as usize {
                    return None;
                }
                0
            }
            _ => return None,
        };
        // The header checksum: the NIC's verdict where it gave one. Without one it is
        // checked where we create state or answer (`header_checksum_ok`, before stage 2's
        // `dispatch`), not for a packet of an established session, which is forwarded with
        // the checksum updated incrementally: a corrupt header stays wrong by the same
        // amount and the next hop drops it (what the L4 checksum relies on too).
        if pkt.ip_checksum_ok() == Some(false) {
            return None;
        }
        // The hash from the addresses and ports as they lie in the header (`hash_wire`).
        let addrs = [h[26], h[27], h[28], h[29], h[30], h[31], h[32], h[33]];
        meta.hash = self.sessions.hash_wire(addrs, [h[34], h[35], h[36], h[37]], proto);
        (meta.ip_len, meta.tcp_flags, meta.ttl) = (ip_len, flags, h[22]);
        Some(())
    }
}

/// What burst stage 1 keeps of a frame it took (`classify_fast_meta`): the flow's hash and
/// the header fields stage 2 decides on before it reads the header again.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FastMeta {
    pub(super) hash: FlowHash,
    /// Bytes of IP packet.
    pub(super) ip_len: u16,
    pub(super) tcp_flags: u8,
    pub(super) ttl: u8,
    /// Where stage 1b looks the flow up first (stage 1a prefetched it there).
    pub(super) side: LookupSide,
}

impl FastMeta {
    /// The meta of a classified packet's `info`.
    #[inline(always)]
    pub(super) fn of(info: &L4Info) -> FastMeta {
        FastMeta {
            hash: info.hash,
            ip_len: info.ip_len as u16,
            tcp_flags: info.tcp_flags,
            ttl: info.ttl,
            side: LookupSide::Both,
        }
    }

    /// The `L4Info` of a frame `classify_fast_meta` took, received on interface `port`
    /// (for the full way, where a frame of the fast stages may end).
    pub(super) fn info<P: Frame>(&self, port: IfIndex, pkt: &P) -> L4Info {
        L4Info {
            port,
            key: fast_key(pkt.data()).unwrap_or(L4Info::EMPTY.key),
            tcp_flags: self.tcp_flags,
            ttl: self.ttl,
            ip_len: self.ip_len as usize,
            dest: Destination::Former,
            hash: self.hash,
        }
    }
}

/// The flow key of a frame `classify_fast_meta` took, read from its header (in cache since
/// stage 1); None for a frame shorter than the fast path's headers, which it never took.
#[inline(always)]
pub(super) fn fast_key(d: &[u8]) -> Option<FlowKey> {
    d.first_chunk().map(|h| crate::session::KeyWords::from_header(h).key())
}

/// What `classify_fast_meta` keeps of a frame's first 16 bytes: the destination MAC, the
/// ethertype, and the IP version with the header length (the source MAC and the TOS
/// masked off).
const HEADER_MASK: u128 =
    u128::from_le_bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0]);

/// The first 16 bytes, under `HEADER_MASK`, of an IPv4 frame with a 20-byte header to the
/// interface whose MAC is `m`: one word a burst, not a table read a frame. A word with a
/// bit outside the mask (`u128::MAX`, "no interface") matches no frame.
#[inline(always)]
pub(super) fn header_template(m: [u8; 6]) -> u128 {
    u128::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0x45, 0])
}

/// Our addresses, in one table: the ports' own, VIPs and LIPs (`OpenIndex`), rebuilt
/// with every snapshot. An address listed twice keeps its first meaning.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AddrTable(OpenIndex<Destination>);

impl Default for AddrTable {
    fn default() -> Self {
        AddrTable(OpenIndex::with_capacity(0))
    }
}

impl AddrTable {
    pub(super) fn new(ifaces: &[Iface], snapshot: &Snapshot) -> Self {
        let mut entries: Vec<(Ipv4Addr, Destination)> = Vec::new();
        let mut add = |a: Ipv4Addr, d: Destination| {
            if entries.iter().all(|(e, _)| *e != a) {
                entries.push((a, d));
            }
        };
        for (i, p) in ifaces.iter().enumerate() {
            for &(a, _) in &p.addrs {
                add(a, Destination::Own(i as IfIndex));
            }
        }
        // The VLANs' local-address pools are LIPs whether or not a service names them.
        for a in ifaces.iter().flat_map(|i| i.lips.iter()) {
            add(*a, Destination::Lip);
        }
        for (a, k) in snapshot.local_addrs() {
            add(
                a,
                match k {
                    LocalKind::Vip => Destination::Vip,
                    LocalKind::Lip => Destination::Lip,
                },
            );
        }
        // Sized for all of them at once: placed in this order, never moved by a growth.
        let mut t = OpenIndex::with_capacity(entries.len());
        for (a, d) in entries {
            t.insert(u32::from(a).into(), d);
        }
        AddrTable(t)
    }

    /// What `a` is to us; `Former` when it is none of ours (any more).
    #[inline]
    pub(super) fn get(&self, a: Ipv4Addr) -> Destination {
        self.0.get(u32::from(a).into())
    }
}

impl crate::open_index::NoValue for Destination {
    const NONE: Destination = Destination::Former;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Destination {
    /// One of an interface's own addresses (the host's: ssh, routing protocols).
    Own(IfIndex),
    Vip,
    Lip,
    /// None of ours now; maybe a VIP or LIP that was removed while sessions live.
    Former,
    /// Never in the table: marks an IPv6 frame handed to its session's worker unparsed.
    Ipv6,
}
