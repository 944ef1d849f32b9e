//! The PROXY protocol on the FULLNAT path: the header put in front of the client's first
//! data byte (the encoding lives in `crate::proxyproto`).

use super::ext::{SessionExt, PROXY_HEADER_MAX};
use super::*;
use crate::proxyproto::{self, Version};
use crate::stats::Event;
use crate::synproxy::Translation;
use std::net::SocketAddr;

impl<P: Frame> Pipeline<P> {
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
                last_ack: 0,
                dup_acks: 0,
            },
        );
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
