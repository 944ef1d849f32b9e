//! The PROXY protocol on the FULLNAT path: the header put in front of the client's first
//! data byte, or sent as a segment of its own right after the server's handshake (the
//! service's `proxy_protocol_send = "on-connect"`, or automatically when the server speaks
//! first: SMTP, IMAP, FTP, MySQL, SSH banners), resent until the server acknowledges it.
//! The encoding lives in `crate::proxyproto`.

use super::ext::{tcp_of, HeaderSend, SessionExt, ACK_TEMPLATE_MAX, PROXY_HEADER_MAX};
use super::*;
use crate::proxyproto::{self, Version};
use crate::stats::Event;
use crate::wire::tcp::TcpFlags;
use std::net::SocketAddr;

/// A PROXY header sent on its own goes again after this long without an acknowledgement.
const PROXY_RESEND_AFTER: std::time::Duration = std::time::Duration::from_millis(1000);
/// How often it goes again before the session is left to its timeout.
const PROXY_RESENDS: u8 = 5;

impl<P: Frame> Pipeline<P> {
    /// For a PROXY-protocol service without SYN proxy: remembers the client's ISN from its
    /// SYN (`pkt`) so the header goes in front of its first data byte (or on its own).
    pub(super) fn attach_proxy_header(&mut self, id: SessionId, svc_idx: usize, port: PortIndex, pkt: &P) {
        let svc = &self.snapshot.services[svc_idx];
        let Some(version) = svc.proxy_protocol else { return };
        let on_connect = svc.proxy_on_connect;
        let data = pkt.data();
        let ip = Ipv4Packet::new_unchecked(&data[ETH_LEN..]);
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else { return };
        let s = self.sessions.get_mut(id);
        s.flags |= FLAG_EXT;
        self.ext.insert(s.client, SessionExt::new(port, tcp.seq_number(), Some(version), on_connect));
    }

    /// A client segment of a PROXY session whose header has not gone yet, and that is not
    /// the first data: the handshake-completing ACK is kept as the template of a header
    /// sent on its own, now (the service sends on connect) or when the server speaks first.
    pub(super) fn note_client_ack(
        &mut self,
        s: &crate::session::Session,
        pkt: &mut P,
        info: &L4Info,
        now: Time,
    ) {
        let Some(ext) = self.ext.get_mut(&s.client) else { return };
        if ext.ack_template_len != 0 {
            return;
        }
        let isn = ext.client_isn;
        let ip = &mut pkt.data_mut()[ETH_LEN..ETH_LEN + info.ip_len];
        let ihl = Ipv4Packet::new_unchecked(&ip[..]).header_len();
        let tcp = TcpPacket::new_unchecked(&ip[ihl..]);
        let hdrs = ihl + tcp.header_len();
        if tcp.flags() != TcpFlags::ACK
            || tcp.seq_number() != isn.wrapping_add(1)
            || !tcp.payload().is_empty()
            || hdrs > ACK_TEMPLATE_MAX
        {
            return;
        }
        ext.ack_template[..hdrs].copy_from_slice(&ip[..hdrs]);
        ext.ack_template_len = hdrs as u8;
        if ext.header_on_connect {
            ext.header = HeaderSend::Queued;
            // Due now: sent at the next poll, after this ACK (which carries TOA, if any).
            self.proxy_timers.push_front((now, s.client));
        }
    }

    /// A server segment of a PROXY session (before translation): acknowledges a header
    /// sent on its own, or, carrying data before the client sent any, has the header sent
    /// on its own now (a server-speaks-first protocol behind a PROXY listener).
    pub(super) fn proxy_server_segment(
        &mut self,
        s: &crate::session::Session,
        pkt: &mut P,
        info: &L4Info,
        now: Time,
    ) {
        let Some(ext) = self.ext.get_mut(&s.client) else { return };
        let tcp = tcp_of(pkt, info.ip_len);
        match ext.header {
            HeaderSend::Alone { len, acked: false, tries } if tcp.flags().contains(TcpFlags::ACK) => {
                let end = ext.client_isn.wrapping_add(1).wrapping_add(u32::from(len));
                if crate::synproxy::seq::seq_ge(tcp.ack_number(), end) {
                    ext.header = HeaderSend::Alone { len, acked: true, tries };
                }
            }
            HeaderSend::BeforeFirstData if !tcp.payload().is_empty() && ext.ack_template_len != 0 => {
                ext.header = HeaderSend::Queued;
                self.proxy_timers.push_front((now, s.client));
            }
            _ => {}
        }
    }

    /// Sends the PROXY headers due on their own, and again those not acknowledged a
    /// retransmission timeout later (up to `PROXY_RESENDS` times). Entries are due at
    /// "now" (put in front) or one fixed interval after they were pushed (at the back),
    /// so the queue stays in due order and this pops only what is due.
    pub(super) fn proxy_header_timers(
        &mut self,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        while let Some(&(due, client)) = self.proxy_timers.front() {
            if due > now {
                break;
            }
            self.proxy_timers.pop_front();
            let Some(id) = self.sessions.find_client(&client) else { continue };
            let s = *self.sessions.get(id);
            let Some(ext) = self.ext.get_mut(&client) else { continue };
            let Some(version) = ext.proxy else { continue };
            let (src, dst) = (SocketAddr::V4(s.client_addr()), SocketAddr::V4(s.virtual_addr()));
            let len = proxyproto::encoded_len(version, src, dst) as u16;
            match ext.header {
                HeaderSend::Queued => {
                    ext.translation = ext.translation.with_client_insert(u32::from(len));
                    ext.header = HeaderSend::Alone { len, acked: false, tries: 1 };
                    self.counters.event(Event::ProxyHeaderAlone);
                }
                HeaderSend::Alone { acked: false, tries, .. } if tries <= PROXY_RESENDS => {
                    ext.header = HeaderSend::Alone { len, acked: false, tries: tries + 1 };
                    self.counters.event(Event::ProxyHeaderResent);
                }
                _ => continue,
            }
            self.send_header_alone(&s, version, now, alloc, out);
            self.proxy_timers.push_back((now + PROXY_RESEND_AFTER, client));
        }
    }

    /// The PROXY header as a segment of its own: the client's handshake-completing ACK
    /// with the header as payload at the client's first sequence number, translated and
    /// rewritten like any client segment.
    fn send_header_alone(
        &mut self,
        s: &crate::session::Session,
        version: Version,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Some(ext) = self.ext.get(&s.client) else { return };
        let tpl_len = usize::from(ext.ack_template_len);
        let mut header = [0u8; PROXY_HEADER_MAX];
        let src = SocketAddr::V4(s.client_addr());
        let dst = SocketAddr::V4(s.virtual_addr());
        let Ok(len) = proxyproto::encode(version, src, dst, &mut header) else { return };
        let Some(mut seg) = alloc.alloc(ETH_LEN + tpl_len + len) else {
            return self.counters.count_drop(DropReason::NoMbuf);
        };
        let translation = ext.translation;
        let buf = &mut seg.data_mut()[ETH_LEN..];
        buf[..tpl_len].copy_from_slice(&ext.ack_template[..tpl_len]);
        let ihl = {
            let mut ip = Ipv4Packet::new_unchecked(&mut buf[..tpl_len]);
            ip.set_total_len(tpl_len as u16);
            ip.fill_checksum();
            ip.header_len()
        };
        TcpPacket::new_unchecked(&mut buf[ihl..tpl_len]).set_flags(TcpFlags::ACK | TcpFlags::PSH);
        let Ok(n) = proxyproto::insert_before_payload(buf, &header[..len]) else {
            return self.counters.event(Event::ProxyHeaderNoRoom);
        };
        translation.to_server(&mut TcpPacket::new_unchecked(&mut buf[ihl..n]));
        let to = crate::nat::Endpoints::towards(s, Direction::FromClient);
        crate::nat::rewrite(&mut buf[..n], to);
        self.send_ip(seg, to.dst, now, alloc, out);
    }

    /// Puts the PROXY header in front of the client's first data byte.
    pub(super) fn insert_proxy_header(
        &mut self,
        mut pkt: P,
        info: &mut L4Info,
        version: Version,
        s: &crate::session::Session,
    ) -> Option<(P, usize)> {
        // The checksum is recomputed over the grown segment: check the one it came with.
        if !self.verify_l4(&pkt, info) {
            return None;
        }
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
}
