//! A client packet that starts a connection: scheduling, local address, session.

use super::*;
use crate::stats::Event;

/// How long after the last SYN answered in auto mode cookie ACKs are still taken: the
/// cookies' own lifetime (two counter periods of 64 s).
const AUTO_SYNPROXY_TAIL: std::time::Duration = std::time::Duration::from_secs(128);

impl<P: Frame> Pipeline<P> {
    /// A client packet to a VIP; `found` is the session its flow already has (the
    /// caller has looked it up).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn client_packet(
        &mut self,
        pkt: P,
        info: L4Info,
        found: Option<SessionId>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let is_syn = info.key.proto == PROTO_TCP && info.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN;
        if let Some(id) = found {
            if !(is_syn && self.sessions.get(id).state.allows_reuse()) {
                return self.forward(id, Direction::FromClient, pkt, info, now, alloc, out);
            }
            // A new connection on the ports of one that is closing: start afresh.
            let old = self.sessions.remove(id);
            self.retire(&old);
        }
        // A NAT-capable service's new connections belong to their client's worker.
        if let Some(owner) = self.nat_client_owner(&info) {
            return self.redirect_to(owner, pkt, info, out);
        }
        // A backup forwards its sessions (above) but takes no new connection.
        if !self.snapshot.owns(info.key.dst) {
            return self.drop_pkt(DropReason::NotOwner, pkt);
        }
        // The first packet of a connection is checked in full: it costs a session.
        if !self.verify_l4(&pkt, &info) {
            return;
        }
        let svc = self.snapshot.find(&(info.key.proto, info.key.dst, info.key.dport)).map(|i| i as usize);
        if let Some(svc_idx) = svc {
            // Lists first: a denied client's SYN gets no SYN cookie either.
            if let Some(reason) = self.acl_refuses(svc_idx, info.key.src) {
                return self.drop_pkt(reason, pkt);
            }
            if info.key.proto == PROTO_TCP
                && (self.snapshot.services[svc_idx].syn_proxy || self.auto_synproxy(is_syn, now))
            {
                return self.synproxy_no_session(svc_idx, pkt, info, is_syn, now, alloc, out);
            }
        }
        if info.key.proto == PROTO_TCP && !is_syn {
            return self.drop_pkt(DropReason::NoSession, pkt);
        }
        if info.ttl <= 1 {
            return self.drop_pkt(DropReason::TtlExceeded, pkt);
        }
        let Some(svc_idx) = svc else {
            return self.drop_pkt(DropReason::NoService, pkt);
        };
        match self.new_session(svc_idx, &info, now) {
            Ok(id) => {
                if self.snapshot.services[svc_idx].proxy_protocol.is_some() {
                    self.attach_proxy_header(id, svc_idx, info.port, &pkt);
                }
                self.forward_first(id, pkt, info, now, alloc, out)
            }
            Err(reason) => self.drop_pkt(reason, pkt),
        }
    }

    /// `[synproxy] auto`: whether a TCP packet without a session of a service not
    /// SYN-proxied goes the SYN proxy's way: a SYN while the table is 7/8 full (answered
    /// with a cookie instead of taking a slot), and any other packet while cookies we
    /// issued may still come back (validated as a cookie ACK).
    fn auto_synproxy(&mut self, is_syn: bool, now: Time) -> bool {
        if !self.syn_params.auto {
            return false;
        }
        if is_syn {
            if !self.sessions.under_pressure() {
                return false;
            }
            self.auto_synproxy_until = now + AUTO_SYNPROXY_TAIL;
            self.counters.event(Event::SynProxyAuto);
            return true;
        }
        now < self.auto_synproxy_until
    }

    /// Schedules a real server, takes a local port and creates the session.
    pub(super) fn new_session(
        &mut self,
        svc_idx: usize,
        info: &L4Info,
        now: Time,
    ) -> Result<SessionId, DropReason> {
        self.admit(svc_idx, info.key.src, now)?;
        let svc = &self.snapshot.services[svc_idx];
        let st = &mut self.services[svc_idx];
        let view = RealSet::new(&svc.reals, &self.counters.reals).with_overload(&self.overload);
        // No-op unless the snapshot changed since the last call (set_snapshot synced it).
        st.scheduler.sync(&view, self.snapshot.version);
        let key = SchedKey::v4(info.key.src, info.key.sport, info.key.dst, info.key.dport);
        let (idx, persist_client) = match &svc.persistence {
            None => (st.scheduler.pick(&view, &key, now).ok_or(DropReason::NoRealServer)?, None),
            Some(p) => {
                let pk = PersistKey::new(svc.slot, info.key.src.into(), &p.granularity);
                // A client new to this worker is placed by rendezvous hashing of its
                // (masked) address, so every worker, and every cluster member, pins it
                // to the same real server without sharing templates.
                let (i, _hit) = self
                    .persist
                    .pick(pk, &view, now, p, || crate::persist::rendezvous(&view, &pk))
                    .ok_or(DropReason::NoRealServer)?;
                self.persist.attach(&pk);
                let client = match pk.client {
                    std::net::IpAddr::V4(a) => Some(a),
                    std::net::IpAddr::V6(_) => None,
                };
                (i, client)
            }
        };
        let real = &svc.reals[idx];
        if real.method != rvs_proto::ForwardMethod::FullNat {
            // NAT, DR, TUN: the client's address goes to the real server; no local address.
            return self.new_session_direct(svc_idx, idx, info, persist_client, now);
        }
        // With VLANs, the LIPs of the interface the real server is reached through.
        // (and that interface's round-robin position); without, the service's own.
        let out_iface = if st.lips_by_iface.is_empty() {
            None
        } else {
            self.routes.lookup(*real.addr.ip()).map(|h| h.port as usize)
        };
        let (lips, cursor) = match out_iface {
            Some(i) if i < st.lips_by_iface.len() => (&st.lips_by_iface[i], &mut st.iface_cursors[i]),
            _ => (&svc.alloc_addrs, &mut st.laddr_cursor),
        };
        let rport = real.port_for(info.key.dport);
        let (lip, lport) = match self.laddrs.alloc_for(lips, cursor, *real.addr.ip(), rport) {
            Ok(l) => l,
            Err(LaddrError::NoLocalAddress | LaddrError::Exhausted) => {
                if let Some(c) = persist_client {
                    self.persist.detach(&PersistKey { service: svc.slot, client: c.into() });
                }
                return Err(DropReason::NoLocalAddr);
            }
        };
        let state = if info.key.proto == PROTO_TCP { SessionState::SynRecv } else { SessionState::Udp };
        let pressure = StateTimeouts::pressed(state, self.sessions.under_pressure());
        let expires = self.timeouts.deadline_under(now, state, pressure);
        let session = Session {
            client: info.key,
            reply: FlowKey {
                src: *real.addr.ip(),
                dst: lip,
                sport: rport,
                dport: lport,
                proto: info.key.proto,
            },
            state,
            service_slot: svc.slot as u16,
            real_slot: real.slot,
            expires,
            persist_client: persist_client.into(),
            flags: if svc.toa { FLAG_TOA | FLAG_TOA_PENDING } else { 0 },
        };
        let (svc_slot, real_slot) = (svc.slot, real.slot);
        // The client flow's hash is the packet's: computed once, in classification.
        let mut inserted = self.sessions.insert_hashed(session, info.hash);
        if inserted.is_err() && self.sessions.len() == self.sessions.capacity() {
            // Full: the oldest half-open session makes room; established ones never do.
            if let Some(victim) = self.sessions.evict_embryonic() {
                self.retire(&victim);
                self.counters.event(Event::EmbryonicEvicted);
                inserted = self.sessions.insert_hashed(session, info.hash);
            }
        }
        let id = match inserted {
            Ok(id) => id,
            Err(_) => {
                self.laddrs.free(lip, lport);
                if let Some(c) = persist_client {
                    self.persist.detach(&PersistKey { service: svc_slot, client: c.into() });
                }
                return Err(DropReason::SessionTableFull);
            }
        };
        if state == SessionState::SynRecv {
            self.sessions.note_embryonic(id);
            if pressure {
                self.counters.event(Event::SynRecvShortened);
            }
        }
        if let Some(st) = self.sync.as_mut() {
            st.created(id, now);
        }
        self.count_new_session(svc_slot, real_slot);
        Ok(id)
    }

    /// A new session's counters and gauges, and its weight in the server's thresholds.
    #[inline]
    pub(super) fn count_new_session(&mut self, svc_slot: u32, real_slot: u32) {
        self.limits.opened(svc_slot);
        let c = &self.counters;
        c.sessions_created.inc();
        c.sessions_live.set(self.sessions.len() as u64);
        if let Some(s) = c.services.get(svc_slot as usize) {
            s.conns.inc();
        }
        if let Some(r) = c.reals.get(real_slot as usize) {
            r.traffic.conns.inc();
            r.inactive.inc();
            let conns = r.active.get().wrapping_add(r.inactive.get());
            self.overload.on_bind(real_slot, conns, self.thresholds[real_slot as usize]);
        }
    }
}
