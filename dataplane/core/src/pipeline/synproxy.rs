//! The SYN proxy on the FULLNAT path: cookie SYN/ACKs for SYNs with no session, the
//! server side opened on a valid ACK, held client segments, the server SYN resent, and the
//! session given up when the server does not answer. The building blocks (cookies,
//! handshake segments, sequence translation) live in `crate::synproxy`.

use super::ext::{bounce, SessionExt, HANDSHAKE_IP_LEN, SYN_RESEND_AFTER};
use super::*;

use crate::stats::Event;
use crate::synproxy::{self, HandshakeError, SynProxyState};

impl<P: Frame> Pipeline<P> {
    /// What our SYN/ACK offers the client of service `svc_idx`: the configured MSS,
    /// lowered so that a full segment still fits the MTU after what the session adds to
    /// the client's stream (the PROXY header ahead of the first byte, the TOA option).
    /// Otherwise the first full-size segment, and each retransmission of it, grows past
    /// the MTU and is lost: a large request over a SYN-proxied PROXY service hangs.
    pub(super) fn synack_config(&self, svc_idx: usize, info: &L4Info) -> synproxy::SynProxyConfig {
        let svc = &self.snapshot.services[svc_idx];
        let mut room = 0u16;
        if let Some(v) = svc.proxy_protocol {
            let (client, vip) = (info.key.src_sock(), info.key.dst_sock());
            room += crate::proxyproto::encoded_len(v, client.into(), vip.into()) as u16;
        }
        if svc.toa {
            room += crate::toa::TOA_LEN as u16;
        }
        // The server's side is not chosen yet: the smallest port MTU holds for any.
        let mtu = self.ifaces.iter().map(|p| p.mtu).min().unwrap_or(crate::config::DEFAULT_MTU);
        let mut cfg = self.syn_cfg;
        cfg.mss = cfg.mss.min(crate::toa::mss_for_mtu(mtu, room));
        cfg
    }

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
        let mac = self.ifaces[port as usize].mac;
        if is_syn {
            let room = (ETH_LEN + HANDSHAKE_IP_LEN).max(pkt.data().len());
            if !pkt.set_len(room) {
                return self.drop_pkt(DropReason::NoMbuf, pkt);
            }
            let cfg = self.synack_config(svc_idx, &info);
            match synproxy::synack_from_syn(
                &mut pkt.data_mut()[ETH_LEN..],
                &cfg,
                &self.secrets,
                self.cookie_time(now),
            ) {
                Ok(n) => {
                    pkt.set_len(ETH_LEN + n);
                    bounce(&mut pkt, mac);
                    self.counters.event(Event::SynProxySynAnswered);
                    self.xmit(port, pkt, out);
                }
                Err(_) => self.drop_pkt(DropReason::BadL4Header, pkt),
            }
            return;
        }
        if info.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) != TCP_ACK {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        let ip = &pkt.data()[ETH_LEN..ETH_LEN + info.ip_len];
        let v = match synproxy::validate_ack(ip, &self.syn_cfg, &self.secrets, self.cookie_time(now)) {
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
                    self.xmit(port, pkt, out);
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
        let svc = &self.snapshot.services[svc_idx];
        let mut ext = SessionExt::new(port, v.state.client_isn, svc.proxy_protocol, svc.proxy_on_connect);
        ext.pending = Some(v.state);
        ext.opened_by = Some(v);
        ext.syns_sent = 1;
        ext.last_syn = now;
        // The opening ACK goes through the extensions like any client segment once the
        // server's SYN/ACK released it (it sets the ACK-storm baseline, the header template).
        ext.held.push(pkt);
        self.ext.insert(client, ext);
        self.send_server_syn(&v, from, to, now, alloc, out);
        self.syn_timers.push_back((now + SYN_RESEND_AFTER, client));
    }

    /// The server-side SYN's retransmission timer: a SYN-proxied session whose real
    /// server has not answered gets its SYN again every `SYN_RESEND_AFTER`, up to the
    /// configured retries, then the client a RST — also when the client stays silent.
    /// Timers are due in the order they were set (one fixed interval), so this pops only
    /// what is due.
    pub(super) fn synproxy_timers(&mut self, now: Time, alloc: &mut impl FrameAlloc<P>, out: &mut Output<P>) {
        while let Some(&(due, client)) = self.syn_timers.front() {
            if due > now {
                break;
            }
            self.syn_timers.pop_front();
            let Some(ext) = self.ext.get_mut(&client) else { continue };
            let (Some(_), Some(v)) = (ext.pending, ext.opened_by) else { continue };
            if now - ext.last_syn < SYN_RESEND_AFTER {
                // Resent meanwhile (a client retransmission did it): wait from then.
                self.syn_timers.push_back((ext.last_syn + SYN_RESEND_AFTER, client));
                continue;
            }
            let Some(id) = self.sessions.find_client(&client) else { continue };
            if ext.syns_sent > self.syn_params.syn_retries {
                self.counters.event(Event::SynProxyServerReset);
                self.synproxy_give_up(id, out);
                continue;
            }
            ext.syns_sent += 1;
            ext.last_syn = now;
            let s = self.sessions.get(id);
            let (from, to) = (s.reply.dst_sock(), s.reply.src_sock());
            self.send_server_syn(&v, from, to, now, alloc, out);
            self.syn_timers.push_back((now + SYN_RESEND_AFTER, client));
        }
    }

    pub(super) fn send_server_syn(
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
    pub(super) fn take_rst_token(&mut self, now: Time) -> bool {
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

    /// The real server answers the SYN we sent for a SYN-proxied session.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn synproxy_server_answer(
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
    pub(super) fn synproxy_give_up(&mut self, id: SessionId, out: &mut Output<P>) {
        let s = *self.sessions.get(id);
        // The first held segment (the rest are freed with the drain).
        let first = self.ext.get_mut(&s.client).and_then(|ext| {
            let port = ext.client_port;
            ext.held.drain(..).next().map(|h| (port, h))
        });
        if let Some((port, mut held)) = first {
            let mac = self.ifaces[port as usize].mac;
            let ip_len = Ipv4Packet::new_unchecked(&held.data()[ETH_LEN..]).total_len() as usize;
            held.set_len(ETH_LEN + ip_len);
            if let Ok(n) = synproxy::rst_reply(&mut held.data_mut()[ETH_LEN..], self.syn_cfg.ttl) {
                held.set_len(ETH_LEN + n);
                bounce(&mut held, mac);
                self.xmit(port, held, out);
            }
        }
        let old = self.sessions.remove(id);
        self.retire(&old);
    }

    /// L4 facts of a frame held earlier (already validated once).
    pub(super) fn reparse(&self, pkt: &P, port: PortIndex) -> Option<L4Info> {
        let ip = Ipv4Packet::new_checked(&pkt.data()[ETH_LEN..]).ok()?;
        let mut info = self.parse_l4(pkt, &ip, true)?;
        info.port = port;
        Some(info)
    }
}
