//! TCP extensions on the FULLNAT path: SYN proxy, TOA and the PROXY protocol.
//!
//! The building blocks (cookies, handshake segments, sequence translation, option and
//! header insertion) live in `synproxy/`, `toa/` and `proxyproto/`; this file decides when
//! each applies to a packet of a session. Sessions that need state beyond `Session` (a
//! pending server handshake, held client segments, a sequence translation) have an entry
//! in the pipeline's extension table and `FLAG_EXT`; TOA needs only session flags.

use std::net::SocketAddr;

use super::{L4Info, Output, Pipeline, ETH_LEN, TCP_ACK, TCP_RST, TCP_SYN};
use crate::frame::{Frame, FrameAlloc};
use crate::proxyproto::{self, Version};
use crate::route::PortIndex;
use crate::session::{Direction, SessionId, FLAG_EXT, FLAG_TOA, FLAG_TOA_PENDING};
use crate::stats::{DropReason, Event};
use crate::synproxy::{self, HandshakeError, SynProxyState, Translation};
use crate::time::Time;
use crate::toa::{self, TOA_LEN};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;

/// The server SYN is sent again when a client segment arrives this long after it.
const SYN_RESEND_AFTER: std::time::Duration = std::time::Duration::from_millis(900);
/// Largest IPv4 packet the handshake builders write (20 + 40 bytes).
const HANDSHAKE_IP_LEN: usize = 60;
/// Room for the longest PROXY header (v1 with two IPv6 addresses is 107 bytes).
const PROXY_HEADER_MAX: usize = 108;

/// Per-session state of the extensions.
pub(super) struct SessionExt<P> {
    /// SYN proxy: what the cookie told us, until the real server's SYN/ACK arrives.
    pending: Option<SynProxyState>,
    /// The ACK that opened the session (to send the server SYN again) and how many
    /// server SYNs went out.
    opened_by: Option<synproxy::ValidatedAck>,
    syns_sent: u8,
    last_syn: Time,
    /// Client segments waiting for that SYN/ACK.
    held: Vec<P>,
    /// The port the client's segments arrive on (to answer it with a RST).
    client_port: PortIndex,
    /// Applied to every non-SYN segment once the server's handshake is done.
    translation: Translation,
    /// PROXY protocol: the client's ISN (its first data byte is ISN + 1) and the header.
    client_isn: u32,
    proxy: Option<Version>,
}

/// The TCP segment of the IPv4 packet in a frame (`ip_len` bytes of IP).
fn tcp_of<P: Frame>(pkt: &mut P, ip_len: usize) -> TcpPacket<&mut [u8]> {
    let ip = &mut pkt.data_mut()[ETH_LEN..ETH_LEN + ip_len];
    let ihl = Ipv4Packet::new_unchecked(&ip[..]).header_len();
    TcpPacket::new_unchecked(&mut ip[ihl..])
}

/// Sends a frame back to where it came from: Ethernet addresses swapped.
fn bounce<P: Frame>(pkt: &mut P, our_mac: crate::wire::MacAddr) {
    let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
    let peer = eth.src_addr();
    eth.set_dst_addr(peer);
    eth.set_src_addr(our_mac);
}

impl<P: Frame> Pipeline<P> {
    /// A TCP segment for a SYN-proxy service with no session: a SYN is answered with a
    /// cookie, an ACK with a valid cookie opens the session and the server side, anything
    /// else is dropped (a bad cookie is answered with a RST).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn synproxy_no_session(
        &mut self,
        svc_idx: usize,
        mut pkt: P,
        info: L4Info,
        is_syn: bool,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let port = info.port;
        let mac = self.ports[port as usize].mac;
        if is_syn {
            let room = (ETH_LEN + HANDSHAKE_IP_LEN).max(pkt.data().len());
            if !pkt.set_len(room) {
                return self.drop_pkt(DropReason::NoMbuf, pkt);
            }
            match synproxy::synack_from_syn(&mut pkt.data_mut()[ETH_LEN..], &self.syn_cfg, &self.secrets, now)
            {
                Ok(n) => {
                    pkt.set_len(ETH_LEN + n);
                    bounce(&mut pkt, mac);
                    self.counters.event(Event::SynProxySynAnswered);
                    out.tx[port as usize].push(pkt);
                }
                Err(_) => self.drop_pkt(DropReason::BadL4Header, pkt),
            }
            return;
        }
        if info.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) != TCP_ACK {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        let ip = &pkt.data()[ETH_LEN..ETH_LEN + info.ip_len];
        let v = match synproxy::validate_ack(ip, &self.syn_cfg, &self.secrets, now) {
            Ok(v) => v,
            Err(HandshakeError::Cookie(_)) => {
                self.counters.event(Event::SynProxyAckInvalid);
                if !self.take_rst_token(now) {
                    return self.drop_pkt(DropReason::SynProxyAckStorm, pkt);
                }
                self.counters.count_drop(DropReason::SynProxyBadAck);
                let len = ETH_LEN + info.ip_len;
                pkt.set_len(len);
                if let Ok(n) = synproxy::rst_reply(&mut pkt.data_mut()[ETH_LEN..], self.syn_cfg.ttl) {
                    pkt.set_len(ETH_LEN + n);
                    bounce(&mut pkt, mac);
                    out.tx[port as usize].push(pkt);
                }
                return;
            }
            Err(_) => return self.drop_pkt(DropReason::NoSession, pkt),
        };
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        let id = match self.new_session(svc_idx, &info, now) {
            Ok(id) => id,
            Err(reason) => return self.drop_pkt(reason, pkt),
        };
        self.counters.event(Event::SynProxyAckAccepted);
        let s = self.sessions.get_mut(id);
        s.flags |= FLAG_EXT;
        let (from, to, client) = (s.reply.dst_sock(), s.reply.src_sock(), s.client);
        let proxy = self.snapshot.services[svc_idx].proxy_protocol;
        self.ext.insert(
            client,
            SessionExt {
                pending: Some(v.state),
                opened_by: Some(v),
                syns_sent: 1,
                last_syn: now,
                held: vec![pkt],
                client_port: port,
                translation: Translation::default(),
                client_isn: v.state.client_isn,
                proxy,
            },
        );
        self.send_server_syn(&v, from, to, now, alloc, out);
    }

    fn send_server_syn(
        &mut self,
        v: &synproxy::ValidatedAck,
        from: std::net::SocketAddrV4,
        to: std::net::SocketAddrV4,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(mut syn) = alloc.alloc(ETH_LEN + HANDSHAKE_IP_LEN) else {
            return self.counters.count_drop(DropReason::NoMbuf);
        };
        match synproxy::build_server_syn(&mut syn.data_mut()[ETH_LEN..], v, from, to, self.syn_cfg.ttl) {
            Ok(n) => {
                syn.set_len(ETH_LEN + n);
                self.send_ip(syn, *to.ip(), now, alloc, out);
            }
            Err(_) => self.counters.count_drop(DropReason::NoMbuf),
        }
    }

    /// One RST for a bad cookie, if the storm budget allows.
    fn take_rst_token(&mut self, now: Time) -> bool {
        let rate = self.syn_params.rst_per_sec;
        let (tokens, last) = self.rst_bucket;
        let refill = ((now - last).as_millis() as u64 * u64::from(rate) / 1000) as u32;
        let tokens = if refill > 0 { tokens.saturating_add(refill).min(rate) } else { tokens };
        let last = if refill > 0 { now } else { last };
        if tokens == 0 {
            self.rst_bucket = (0, last);
            return false;
        }
        self.rst_bucket = (tokens - 1, last);
        true
    }

    /// For a PROXY-protocol service without SYN proxy: remembers the client's ISN from its
    /// SYN (`pkt`) so the header goes in front of its first data byte.
    pub(super) fn attach_proxy_header(&mut self, id: SessionId, svc_idx: usize, port: PortIndex, pkt: &P) {
        let Some(version) = self.snapshot.services[svc_idx].proxy_protocol else { return };
        let data = pkt.data();
        let ip = Ipv4Packet::new_unchecked(&data[ETH_LEN..]);
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else { return };
        let s = self.sessions.get_mut(id);
        s.flags |= FLAG_EXT;
        self.ext.insert(
            s.client,
            SessionExt {
                pending: None,
                opened_by: None,
                syns_sent: 0,
                last_syn: Time::ZERO,
                held: Vec::new(),
                client_port: port,
                translation: Translation::default(),
                client_isn: tcp.seq_number(),
                proxy: Some(version),
            },
        );
    }

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
            let ext = self.ext.get_mut(&s.client)?;
            let (mut translation, proxy, client_isn) = (ext.translation, ext.proxy, ext.client_isn);
            match dir {
                Direction::FromClient if !syn => {
                    if let Some(version) = proxy {
                        let first = tcp_of(&mut pkt, info.ip_len);
                        if proxyproto::is_first_data(&first, client_isn) {
                            let (p, len) = self.insert_proxy_header(pkt, info, version, &s)?;
                            pkt = p;
                            // From the header on, the client's stream is `len` bytes longer.
                            if translation.client_seq.is_zero() {
                                translation = translation.with_client_insert(len as u32);
                                if let Some(ext) = self.ext.get_mut(&s.client) {
                                    ext.translation = translation;
                                }
                            }
                        }
                    }
                    translation.to_server(&mut tcp_of(&mut pkt, info.ip_len));
                }
                Direction::FromServer if !syn => translation.to_client(&mut tcp_of(&mut pkt, info.ip_len)),
                Direction::FromServer if ext.opened_by.is_some() => {
                    // A SYN-proxied connection: the server's handshake is done; a repeated
                    // SYN/ACK (it answered a resent SYN) is not the client's business.
                    self.drop_pkt(DropReason::SynProxyServerSynAck, pkt);
                    return None;
                }
                Direction::FromServer => {
                    // The server's SYN/ACK (no SYN proxy): leave room for the header.
                    if let Some(v) = proxy {
                        let len = proxyproto::encoded_len(v, s.client_addr().into(), s.virtual_addr().into());
                        toa::clamp_mss(&mut tcp_of(&mut pkt, info.ip_len), len as u16);
                    }
                }
                Direction::FromClient => {}
            }
        }
        if s.flags & FLAG_TOA != 0 && dir == Direction::FromServer && syn {
            toa::clamp_mss(&mut tcp_of(&mut pkt, info.ip_len), TOA_LEN as u16);
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

    /// Puts the PROXY header in front of the client's first data byte.
    fn insert_proxy_header(
        &mut self,
        mut pkt: P,
        info: &mut L4Info,
        version: Version,
        s: &crate::session::Session,
    ) -> Option<(P, usize)> {
        let mut header = [0u8; PROXY_HEADER_MAX];
        let src = SocketAddr::V4(s.client_addr());
        let dst = SocketAddr::V4(s.virtual_addr());
        let Ok(len) = proxyproto::encode(version, src, dst, &mut header) else {
            self.counters.event(Event::ProxyHeaderNoRoom);
            self.drop_pkt(DropReason::NoMbuf, pkt);
            return None;
        };
        let end = ETH_LEN + info.ip_len;
        if !pkt.set_len(end + len) {
            self.counters.event(Event::ProxyHeaderNoRoom);
            self.drop_pkt(DropReason::NoMbuf, pkt);
            return None;
        }
        match proxyproto::insert_before_payload(&mut pkt.data_mut()[ETH_LEN..], &header[..len]) {
            Ok(n) => {
                info.ip_len = n;
                pkt.set_len(ETH_LEN + n);
                self.counters.event(Event::ProxyHeaderInserted);
                Some((pkt, len))
            }
            Err(_) => {
                self.counters.event(Event::ProxyHeaderNoRoom);
                self.drop_pkt(DropReason::NoMbuf, pkt);
                None
            }
        }
    }

    /// The real server answers the SYN we sent for a SYN-proxied session.
    #[allow(clippy::too_many_arguments)]
    fn synproxy_server_answer(
        &mut self,
        id: SessionId,
        st: SynProxyState,
        pkt: P,
        info: &L4Info,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let s = *self.sessions.get(id);
        if info.tcp_flags & TCP_RST != 0 {
            // Refused: tell the client.
            self.counters.event(Event::SynProxyServerReset);
            self.synproxy_give_up(id, out);
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        let ip = &pkt.data()[ETH_LEN..ETH_LEN + info.ip_len];
        let translation = match synproxy::on_server_synack(ip, &st) {
            Ok(t) => t,
            Err(_) => return self.drop_pkt(DropReason::NoSession, pkt),
        };
        let Some(ext) = self.ext.get_mut(&s.client) else { return };
        // A PROXY header shifts the client's stream once it is sent (tcp_extensions).
        ext.translation = translation;
        ext.pending = None;
        let held = std::mem::take(&mut ext.held);
        let port = ext.client_port;
        // The SYN/ACK is ours to absorb: the client had our SYN/ACK long ago. The held
        // client segments (its ACK first) now complete the server's handshake.
        drop(pkt);
        for h in held {
            let Some(hinfo) = self.reparse(&h, port) else { continue };
            self.forward(id, Direction::FromClient, h, hinfo, now, alloc, out);
        }
    }

    /// The server side of a SYN-proxied connection failed: RST to the client (built from
    /// its held ACK), session gone.
    fn synproxy_give_up(&mut self, id: SessionId, out: &mut Output<P>) {
        let s = *self.sessions.get(id);
        if let Some(ext) = self.ext.get_mut(&s.client) {
            let port = ext.client_port;
            if let Some(mut held) = ext.held.drain(..).next() {
                let mac = self.ports[port as usize].mac;
                let ip_len = Ipv4Packet::new_unchecked(&held.data()[ETH_LEN..]).total_len() as usize;
                held.set_len(ETH_LEN + ip_len);
                if let Ok(n) = synproxy::rst_reply(&mut held.data_mut()[ETH_LEN..], self.syn_cfg.ttl) {
                    held.set_len(ETH_LEN + n);
                    bounce(&mut held, mac);
                    out.tx[port as usize].push(held);
                }
            }
        }
        let old = self.sessions.remove(id);
        self.retire(&old);
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
        let s = self.sessions.remove(id);
        self.retire(&s);
        self.counters.event(Event::NoDestExpired);
        if info.key.proto != crate::session::PROTO_TCP {
            if dir == Direction::FromClient {
                return self.client_packet(pkt, info, now, alloc, out);
            }
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        if info.tcp_flags & TCP_RST != 0 {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        let end = ETH_LEN + info.ip_len;
        // The other end: the packet's own sequence number, as a bare RST, through the NAT.
        if s.flags & FLAG_EXT == 0 {
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
                bounce(&mut pkt, self.ports[info.port as usize].mac);
                out.tx[info.port as usize].push(pkt);
            }
            Err(_) => self.drop_pkt(DropReason::NoSession, pkt),
        }
    }

    /// L4 facts of a frame held earlier (already validated once).
    fn reparse(&self, pkt: &P, port: PortIndex) -> Option<L4Info> {
        let ip = Ipv4Packet::new_checked(&pkt.data()[ETH_LEN..]).ok()?;
        let mut info = self.parse_l4(pkt, &ip, true)?;
        info.port = port;
        Some(info)
    }
}
