//! TCP extensions on the FULLNAT path: which of SYN proxy (`pipeline/synproxy.rs`), TOA
//! and the PROXY protocol (`pipeline/proxyproto.rs`) applies to a packet of a session,
//! and `expire_nodest_conn`'s end of an extended session.
//!
//! The building blocks (cookies, handshake segments, sequence translation, option and
//! header insertion) live in `crate::synproxy`, `crate::toa` and `crate::proxyproto`. Sessions that need state beyond `Session` (a
//! pending server handshake, held client segments, a sequence translation) have an entry
//! in the pipeline's extension table and `FLAG_EXT`; TOA needs only session flags.

use super::{L4Info, Output, Pipeline, ETH_LEN, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};
use crate::frame::{Frame, FrameAlloc};
use crate::proxyproto::{self, Version};
use crate::route::PortIndex;
use crate::session::{Direction, FlowKey, SessionId, FLAG_EXT, FLAG_TOA, FLAG_TOA_PENDING};
use crate::stats::{DropReason, Event};
use crate::synproxy::{self, SynProxyState, Translation};
use crate::time::Time;
use crate::toa::{self, TOA_LEN};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;

/// The server SYN is sent again when a client segment arrives this long after it.
pub(super) const SYN_RESEND_AFTER: std::time::Duration = std::time::Duration::from_millis(900);
/// Largest IPv4 packet the handshake builders write (20 + 40 bytes).
pub(super) const HANDSHAKE_IP_LEN: usize = 60;
/// Room for the longest PROXY header (v1 with two IPv6 addresses is 107 bytes).
pub(super) const PROXY_HEADER_MAX: usize = 108;

/// How a session's PROXY header reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderSend {
    /// In front of the client's first data byte, when it comes.
    BeforeFirstData,
    /// On its own at the next poll: the service sends it on connect, or the server spoke
    /// first (a banner) while the client had sent nothing.
    Queued,
    /// Sent on its own (`len` bytes at the client's first sequence number), resent until
    /// the server acknowledges it; the client's stream is shifted by `len` from there.
    Alone { len: u16, acked: bool, tries: u8 },
    /// Went in front of the client's first data (and goes again with its retransmissions).
    InData,
}

impl HeaderSend {
    /// The header still goes in front of the client's first data byte if that comes.
    pub(super) fn goes_in_data(self) -> bool {
        matches!(self, HeaderSend::BeforeFirstData | HeaderSend::Queued | HeaderSend::InData)
    }
}

/// IP + TCP headers of the client's handshake-completing ACK: the template of a header
/// sent on its own.
pub(super) const ACK_TEMPLATE_MAX: usize = 120;

/// Per-session state of the extensions.
pub(super) struct SessionExt<P> {
    /// SYN proxy: what the cookie told us, until the real server's SYN/ACK arrives.
    pub(super) pending: Option<SynProxyState>,
    /// The ACK that opened the session (to send the server SYN again) and how many
    /// server SYNs went out.
    pub(super) opened_by: Option<synproxy::ValidatedAck>,
    pub(super) syns_sent: u8,
    pub(super) last_syn: Time,
    /// Client segments waiting for that SYN/ACK.
    pub(super) held: Vec<P>,
    /// The port the client's segments arrive on (to answer it with a RST).
    pub(super) client_port: PortIndex,
    /// Applied to every non-SYN segment once the server's handshake is done.
    pub(super) translation: Translation,
    /// PROXY protocol: the client's ISN (its first data byte is ISN + 1) and the header.
    pub(super) client_isn: u32,
    pub(super) proxy: Option<Version>,
    pub(super) header: HeaderSend,
    /// The service sends the header as soon as the server's handshake is done.
    pub(super) header_on_connect: bool,
    /// The client's handshake-completing ACK, headers only (length 0: none yet).
    pub(super) ack_template: [u8; ACK_TEMPLATE_MAX],
    pub(super) ack_template_len: u8,
    /// The client's last pure ACK number and how often it came in a row (ACK storms).
    pub(super) last_ack: u32,
    pub(super) dup_acks: u16,
}

impl<P> SessionExt<P> {
    pub(super) fn new(
        client_port: PortIndex,
        client_isn: u32,
        proxy: Option<Version>,
        on_connect: bool,
    ) -> Self {
        SessionExt {
            pending: None,
            opened_by: None,
            syns_sent: 0,
            last_syn: Time::ZERO,
            held: Vec::new(),
            client_port,
            translation: Translation::default(),
            client_isn,
            proxy,
            header: HeaderSend::BeforeFirstData,
            header_on_connect: on_connect,
            ack_template: [0; ACK_TEMPLATE_MAX],
            ack_template_len: 0,
            last_ack: 0,
            dup_acks: 0,
        }
    }
}

/// The TCP segment of the IPv4 packet in a frame (`ip_len` bytes of IP).
pub(super) fn tcp_of<P: Frame>(pkt: &mut P, ip_len: usize) -> TcpPacket<&mut [u8]> {
    let ip = &mut pkt.data_mut()[ETH_LEN..ETH_LEN + ip_len];
    let ihl = Ipv4Packet::new_unchecked(&ip[..]).header_len();
    TcpPacket::new_unchecked(&mut ip[ihl..])
}

/// The pipeline's extension table, by client flow.
type Exts<P> = hashbrown::HashMap<FlowKey, SessionExt<P>, ahash::RandomState>;

/// The sequence translation (for `translate`) if the established fast path may take a
/// segment of the extended session of client flow `client`: all it needs is that — the
/// server's handshake done, no PROXY header, and for a client's pure ACK under the
/// ACK-storm defence (`threshold`), not one to drop, whose count it then keeps as
/// `tcp_extensions` does. None, with nothing changed, sends it the full way. The fast
/// path's last check. Out of line: the fast path of other sessions keeps its registers.
#[inline(never)]
pub(super) fn fast_step<P: Frame>(
    exts: &mut Exts<P>,
    client: &FlowKey,
    threshold: u16,
    dir: Direction,
    pkt: &P,
    meta: &super::classify::FastMeta,
) -> Option<Translation> {
    let ext = exts.get_mut(client)?;
    if ext.pending.is_some() || ext.proxy.is_some() {
        return None;
    }
    if threshold != 0 && dir == Direction::FromClient && ext.opened_by.is_some() {
        let tcp = pkt.data().get(ETH_LEN + 20..ETH_LEN + meta.ip_len as usize)?;
        let t = TcpPacket::new_unchecked(tcp);
        if t.payload().is_empty() && t.flags() == crate::wire::tcp::TcpFlags::ACK {
            let dups = if t.ack_number() == ext.last_ack { ext.dup_acks.saturating_add(1) } else { 0 };
            if dups > threshold {
                return None; // the full way drops it
            }
            (ext.last_ack, ext.dup_acks) = (t.ack_number(), dups);
        } else {
            ext.dup_acks = 0;
        }
    }
    Some(ext.translation)
}

/// The fast path's sequence translation `t` (what `fast_step` gave) of a segment travelling
/// in `dir` (a 20-byte IP header, `ip_len` bytes of IP).
#[inline(never)]
pub(super) fn translate<P: Frame>(t: &Translation, dir: Direction, pkt: &mut P, ip_len: usize) {
    let seg = &mut pkt.data_mut()[ETH_LEN + 20..ETH_LEN + ip_len];
    // Most segments: an ACK with no options or only timestamps, in one pass.
    let done = match dir {
        Direction::FromClient => t.to_server_common(seg),
        Direction::FromServer => t.to_client_common(seg),
    };
    if !done {
        let mut tcp = TcpPacket::new_unchecked(seg);
        match dir {
            Direction::FromClient => t.to_server(&mut tcp),
            Direction::FromServer => t.to_client(&mut tcp),
        }
    }
}

/// Sends a frame back to where it came from: Ethernet addresses swapped.
pub(super) fn bounce<P: Frame>(pkt: &mut P, our_mac: crate::wire::MacAddr) {
    let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
    let peer = eth.src_addr();
    eth.set_dst_addr(peer);
    eth.set_src_addr(our_mac);
}

impl<P: Frame> Pipeline<P> {
    /// Applies the session's TCP extensions to a segment about to be forwarded. Returns
    /// the (possibly grown) frame to forward, or None when the segment was consumed: held
    /// until the server's handshake completes, or the server's SYN/ACK that completes it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tcp_extensions(
        &mut self,
        id: SessionId,
        dir: Direction,
        mut pkt: P,
        info: &mut L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Option<P> {
        let s = *self.sessions.get(id);
        let syn = info.tcp_flags & TCP_SYN != 0;
        if s.flags & FLAG_EXT != 0 {
            let ext = self.ext.get_mut(&s.client)?;
            if let Some(st) = ext.pending {
                match dir {
                    Direction::FromClient => {
                        // A client segment a retransmission timeout after our SYN: the
                        // server has not answered, send the SYN again. (Data sent right
                        // after the ACK is not a retransmission and must not trigger one:
                        // the server would answer twice.)
                        let due = now - ext.last_syn >= SYN_RESEND_AFTER;
                        let resend = ext.opened_by.filter(|_| due);
                        if ext.held.len() < self.syn_params.max_held {
                            ext.held.push(pkt);
                        } else {
                            self.counters.count_drop(DropReason::SynProxyHeld);
                        }
                        if let Some(v) = resend {
                            if ext.syns_sent > self.syn_params.syn_retries {
                                // No answer: give up and tell the client.
                                self.counters.event(Event::SynProxyServerReset);
                                self.synproxy_give_up(id, out);
                            } else {
                                ext.syns_sent += 1;
                                ext.last_syn = now;
                                let (from, to) = (s.reply.dst_sock(), s.reply.src_sock());
                                self.send_server_syn(&v, from, to, now, alloc, out);
                            }
                        }
                    }
                    Direction::FromServer => self.synproxy_server_answer(id, st, pkt, info, now, alloc, out),
                }
                return None;
            }
        }
        if dir == Direction::FromClient && !syn {
            // What the session adds to this segment must still fit the egress MTU.
            pkt = self.split_outgrown(id, pkt, info, now, alloc, out)?;
        }
        // A split's first part went through already: it may have changed the flags.
        let s = *self.sessions.get(id);
        if s.flags & FLAG_EXT != 0 {
            let thresh = self.syn_params.dup_ack_threshold;
            let ext = self.ext.get_mut(&s.client)?;
            // DPVS's ACK-storm defence on SYN-proxied sessions: the same pure ACK over and
            // over (a flood replaying one segment) is dropped past the threshold.
            if thresh != 0 && dir == Direction::FromClient && !syn && ext.opened_by.is_some() {
                let t = tcp_of(&mut pkt, info.ip_len);
                if t.payload().is_empty() && t.flags() == crate::wire::tcp::TcpFlags::ACK {
                    if t.ack_number() == ext.last_ack {
                        ext.dup_acks = ext.dup_acks.saturating_add(1);
                    } else {
                        (ext.last_ack, ext.dup_acks) = (t.ack_number(), 0);
                    }
                    if ext.dup_acks > thresh {
                        self.drop_pkt(DropReason::SynProxyDupAck, pkt);
                        return None;
                    }
                } else {
                    ext.dup_acks = 0;
                }
            }
            let ext = self.ext.get_mut(&s.client)?;
            let (mut translation, proxy, client_isn, header, opened) =
                (ext.translation, ext.proxy, ext.client_isn, ext.header, ext.opened_by.is_some());
            match dir {
                Direction::FromClient if !syn => {
                    if let Some(version) = proxy {
                        let first = tcp_of(&mut pkt, info.ip_len);
                        if proxyproto::is_first_data(&first, client_isn) && header.goes_in_data() {
                            let (p, len) = self.insert_proxy_header(pkt, info, version, &s)?;
                            pkt = p;
                            // From the header on, the client's stream is `len` bytes longer.
                            if header != HeaderSend::InData {
                                translation = translation.with_client_insert(len as u32);
                                if let Some(ext) = self.ext.get_mut(&s.client) {
                                    ext.translation = translation;
                                    ext.header = HeaderSend::InData;
                                }
                            }
                        } else if header == HeaderSend::BeforeFirstData {
                            self.note_client_ack(&s, &mut pkt, info, now);
                        }
                    }
                    translation.to_server(&mut tcp_of(&mut pkt, info.ip_len));
                }
                Direction::FromServer if !syn => {
                    if proxy.is_some() {
                        self.proxy_server_segment(&s, &mut pkt, info, now);
                    }
                    translation.to_client(&mut tcp_of(&mut pkt, info.ip_len))
                }
                Direction::FromServer if opened => {
                    // A SYN-proxied connection: the server's handshake is done; a repeated
                    // SYN/ACK (it answered a resent SYN) is not the client's business.
                    self.drop_pkt(DropReason::SynProxyServerSynAck, pkt);
                    return None;
                }
                Direction::FromServer | Direction::FromClient => {}
            }
        }
        if dir == Direction::FromServer && syn && s.flags & (FLAG_EXT | FLAG_TOA) != 0 {
            // The server's SYN/ACK (no SYN proxy): the MSS it offers the client leaves
            // room for everything the session adds to the client's segments (their sum).
            let room = self.growth_room(&s);
            let mtu = self.ifaces[info.port as usize].mtu;
            toa::clamp_mss_within(&mut tcp_of(&mut pkt, info.ip_len), room, toa::mss_for_mtu(mtu, room));
        }
        if s.flags & FLAG_TOA_PENDING != 0
            && dir == Direction::FromClient
            && !syn
            && info.tcp_flags & TCP_ACK != 0
        {
            self.sessions.get_mut(id).flags &= !FLAG_TOA_PENDING;
            let end = ETH_LEN + info.ip_len;
            if pkt.data().len() < end + TOA_LEN && !pkt.set_len(end + TOA_LEN) {
                self.counters.event(Event::ToaNoRoom);
            } else {
                match toa::insert_toa(&mut pkt.data_mut()[ETH_LEN..], s.client_addr()) {
                    Ok(n) => {
                        info.ip_len = n;
                        pkt.set_len(ETH_LEN + n);
                        self.counters.event(Event::ToaInserted);
                    }
                    Err(_) => self.counters.event(Event::ToaNoRoom),
                }
            }
        }
        Some(pkt)
    }

    /// Bytes the session adds to the client's stream at most: the PROXY header (when it
    /// goes in front of data) plus the TOA option.
    pub(super) fn growth_room(&self, s: &crate::session::Session) -> u16 {
        let mut room = 0;
        if s.flags & FLAG_TOA != 0 {
            room += TOA_LEN as u16;
        }
        if s.flags & FLAG_EXT != 0 {
            if let Some(v) = self.ext.get(&s.client).and_then(|e| e.proxy) {
                room += proxyproto::encoded_len(v, s.client_addr().into(), s.virtual_addr().into()) as u16;
            }
        }
        room
    }

    /// A client segment the session is about to grow (PROXY header in front of its data,
    /// TOA option) past the MTU of the port towards the server: its first part, small
    /// enough to fit once grown, is forwarded now (it gets what the session adds), and the
    /// rest is returned to go on as a segment of its own. Anything else is returned as is.
    fn split_outgrown(
        &mut self,
        id: SessionId,
        mut pkt: P,
        info: &mut L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) -> Option<P> {
        let s = *self.sessions.get(id);
        let mut grow = 0usize;
        if s.flags & FLAG_TOA_PENDING != 0 && info.tcp_flags & TCP_ACK != 0 {
            grow += TOA_LEN;
        }
        if let Some(ext) = self.ext.get(&s.client).filter(|_| s.flags & FLAG_EXT != 0) {
            if let Some(v) = ext.proxy.filter(|_| ext.header.goes_in_data()) {
                let isn = ext.client_isn;
                if proxyproto::is_first_data(&tcp_of(&mut pkt, info.ip_len), isn) {
                    grow += proxyproto::encoded_len(v, s.client_addr().into(), s.virtual_addr().into());
                }
            }
        }
        if grow == 0 {
            return Some(pkt);
        }
        let Some(hop) = self.routes.lookup(*s.reply.src_sock().ip()) else { return Some(pkt) };
        let mtu = usize::from(self.ifaces[hop.port as usize].mtu);
        if info.ip_len + grow <= mtu {
            return Some(pkt);
        }
        let payload = tcp_of(&mut pkt, info.ip_len).payload().len();
        let excess = info.ip_len + grow - mtu;
        if excess >= payload {
            // Not even one byte fits with the growth: nothing a split can do.
            self.counters.event(Event::SegmentSplitFailed);
            return Some(pkt);
        }
        // The parts get fresh checksums: check the one the segment came with.
        if !self.verify_l4(&pkt, info) {
            return None;
        }
        let keep = payload - excess;
        let tail_len = info.ip_len - keep;
        let Some(mut tail) = alloc.alloc(ETH_LEN + tail_len) else {
            self.counters.event(Event::SegmentSplitFailed);
            return Some(pkt);
        };
        tail.data_mut()[..ETH_LEN].copy_from_slice(&pkt.data()[..ETH_LEN]);
        let end = ETH_LEN + info.ip_len;
        let split = toa::split::split_segment(
            &mut pkt.data_mut()[ETH_LEN..end],
            keep,
            &mut tail.data_mut()[ETH_LEN..],
        );
        let Ok((head_len, tail_len)) = split else {
            self.counters.event(Event::SegmentSplitFailed);
            return Some(pkt);
        };
        self.counters.event(Event::SegmentSplit);
        pkt.set_len(ETH_LEN + head_len);
        tail.set_len(ETH_LEN + tail_len);
        let tail_flags = info.tcp_flags;
        let mut head_info = *info;
        head_info.ip_len = head_len;
        head_info.tcp_flags &= !(TCP_FIN | TCP_PSH);
        // The first part goes through the whole path now (state, extensions, NAT): it
        // fits once grown, so it is not split again.
        self.forward(id, Direction::FromClient, pkt, head_info, now, alloc, out);
        // The session may have ended meanwhile (a RST answer does not come this way, but
        // a removed server would have expired it).
        if self.sessions.find_client(&s.client) != Some(id) {
            self.drop_pkt(DropReason::NoSession, tail);
            return None;
        }
        info.ip_len = tail_len;
        info.tcp_flags = tail_flags;
        Some(tail)
    }

    /// A packet of a session whose real server was removed (`expire_nodest_conn`): the
    /// session ends. TCP: the sender gets a RST, and so does the other end (a copy of the
    /// packet turned into a RST and sent through the NAT). UDP: the packet starts a new
    /// session if it comes from the client.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn expire_nodest(
        &mut self,
        id: SessionId,
        dir: Direction,
        mut pkt: P,
        info: L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        // An extended session's sequence translation, for the RST to the other end; none
        // while its server handshake is still pending (that server saw no connection).
        let translation = if self.sessions.get(id).flags & FLAG_EXT != 0 {
            let c = self.sessions.get(id).client;
            self.ext.get(&c).filter(|e| e.pending.is_none()).map(|e| e.translation)
        } else {
            Some(Translation::default())
        };
        let s = self.sessions.remove(id);
        self.retire(&s);
        self.counters.event(Event::NoDestExpired);
        if info.key.proto != crate::session::PROTO_TCP {
            if dir == Direction::FromClient {
                return self.client_packet(pkt, info, None, now, alloc, out);
            }
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        if info.tcp_flags & TCP_RST != 0 {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        let end = ETH_LEN + info.ip_len;
        // The other end: the packet's own sequence number, as a bare RST, translated like
        // the session's segments (SYN proxy, PROXY header), through the NAT.
        if let Some(translation) = translation {
            if let Some(mut rst) = alloc.alloc(end) {
                rst.data_mut().copy_from_slice(&pkt.data()[..end]);
                let ip = &mut rst.data_mut()[ETH_LEN..end];
                let (ihl, src, dst, thl) = {
                    let ipp = Ipv4Packet::new_unchecked(&ip[..]);
                    let ihl = ipp.header_len();
                    (ihl, ipp.src_addr(), ipp.dst_addr(), TcpPacket::new_unchecked(&ip[ihl..]).header_len())
                };
                let total = ihl + thl;
                let mut ipp = Ipv4Packet::new_unchecked(&mut ip[..]);
                ipp.set_total_len(total as u16);
                ipp.fill_checksum();
                let mut tcp = TcpPacket::new_unchecked(&mut ip[ihl..total]);
                tcp.set_flags(crate::wire::tcp::TcpFlags::RST);
                tcp.set_ack_number(0);
                tcp.fill_checksum(src, dst);
                match dir {
                    Direction::FromClient => translation.to_server(&mut tcp),
                    Direction::FromServer => translation.to_client(&mut tcp),
                }
                rst.set_len(ETH_LEN + total);
                let to = crate::nat::Endpoints::towards(&s, dir);
                crate::nat::rewrite(&mut rst.data_mut()[ETH_LEN..ETH_LEN + total], to);
                self.send_ip(rst, to.dst, now, alloc, out);
            }
        }
        // The sender: a RST answering its packet, straight back where it came from.
        pkt.set_len(end);
        match synproxy::rst_reply(&mut pkt.data_mut()[ETH_LEN..], self.syn_cfg.ttl) {
            Ok(n) => {
                pkt.set_len(ETH_LEN + n);
                bounce(&mut pkt, self.ifaces[info.port as usize].mac);
                self.xmit(info.port, pkt, out);
            }
            Err(_) => self.drop_pkt(DropReason::NoSession, pkt),
        }
    }
}
