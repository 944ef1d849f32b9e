//! Sessions of the methods that keep the client's address towards the real server: NAT,
//! DR and TUN (IPVS's `-m`, `-g`, `-i`). They take no local address. The session's
//! `reply` key is the real server's reply as it would arrive (RIP:rport -> CIP:cport):
//! for NAT that is what comes back through us, so `Endpoints::towards` gives the NAT
//! rewrite in both directions and NAT shares FULLNAT's forwarding path; DR and TUN
//! replies never reach us (`xmit_dr`).

use super::*;
use crate::session::{FLAG_DR, FLAG_NAT, FLAG_TUN};
use rvs_proto::ForwardMethod;

impl<P: Frame> Pipeline<P> {
    /// Creates the session of a client packet scheduled to real server `idx` of service
    /// `svc_idx`, whose method is not FULLNAT.
    pub(super) fn new_session_direct(
        &mut self,
        svc_idx: usize,
        idx: usize,
        info: &L4Info,
        persist_client: Option<Ipv4Addr>,
        now: Time,
    ) -> Result<SessionId, DropReason> {
        let svc = &self.snapshot.services[svc_idx];
        let real = &svc.reals[idx];
        let flags = match real.method {
            ForwardMethod::Nat => FLAG_NAT,
            ForwardMethod::DirectRoute => FLAG_DR,
            ForwardMethod::Tunnel => FLAG_TUN,
            ForwardMethod::FullNat => unreachable!("FULLNAT sessions take a local address"),
        };
        let state = if info.key.proto == PROTO_TCP { SessionState::SynRecv } else { SessionState::Udp };
        let session = Session {
            client: info.key,
            reply: FlowKey {
                src: *real.addr.ip(),
                dst: info.key.src,
                sport: real.port_for(info.key.dport),
                dport: info.key.sport,
                proto: info.key.proto,
            },
            state,
            service_slot: svc.slot as u16,
            real_slot: real.slot,
            expires: now + self.timeouts.get(state),
            persist_client: persist_client.into(),
            flags,
        };
        let (svc_slot, real_slot) = (svc.slot, real.slot);
        let id = match self.sessions.insert(session) {
            Ok(id) => id,
            Err(_) => {
                if let Some(c) = persist_client {
                    self.persist.detach(&PersistKey { service: svc_slot, client: c.into() });
                }
                return Err(DropReason::SessionTableFull);
            }
        };
        // The slot's sync mark is the previous session's until reset: the packet count
        // behind `sync_threshold` starts from zero for this one.
        if let Some(st) = self.sync.as_mut() {
            st.created(id, now);
        }
        self.count_new_session(svc_slot, real_slot);
        Ok(id)
    }
}

/// Which worker owns the NAT, DR and TUN sessions, when there are several.
///
/// A NAT reply (RIP:rport -> CIP:cport) carries no local port of ours that could name its
/// session's worker, as FULLNAT replies do, and the NIC hashes it unlike the client's
/// packets (other addresses, other port). What both directions carry is the client's
/// endpoint, so the owner of a NAT session is a function of CIP:cport (`owner`): a
/// client packet of a service with NAT real servers, and a reply from a NAT real server,
/// that land elsewhere are handed to that worker through the redirect rings before any
/// lookup. DR and TUN sessions see no reply, but their owner is the same function so that
/// a session synced from another director (whose NIC spread the client's packets its own
/// way) is found here: the owner is the same on every director. FULLNAT real servers of
/// such a mixed service get their sessions there too (their replies then come back to
/// that worker by its local ports, as always).
#[derive(Debug, Default)]
pub(super) struct NatSteering {
    /// The NAT real servers' endpoints (RIP, rport, protocol) of the current snapshot.
    reals: hashbrown::HashSet<(Ipv4Addr, u16, u8), ahash::RandomState>,
    /// Per service index of the snapshot: whether it has a NAT, DR or TUN real server.
    services: Vec<bool>,
    /// Whether any service has one.
    any_service: bool,
}

impl NatSteering {
    pub(super) fn new(snapshot: &crate::service::Snapshot) -> Self {
        let mut s = NatSteering::default();
        for svc in &snapshot.services {
            for r in svc.reals.iter().filter(|r| r.method == ForwardMethod::Nat) {
                s.reals.insert((*r.addr.ip(), r.addr.port(), svc.proto));
            }
            let direct = svc.reals.iter().any(|r| r.method != ForwardMethod::FullNat);
            s.any_service |= direct;
            s.services.push(direct);
        }
        s
    }

    /// Whether RIP:rport is a NAT real server of a `proto` service.
    pub(super) fn has_real(&self, rip: Ipv4Addr, rport: u16, proto: u8) -> bool {
        // A port-0 real server answers from whatever port its client asked for.
        self.reals.contains(&(rip, rport, proto)) || self.reals.contains(&(rip, 0, proto))
    }

    /// Whether any real server is reached by NAT.
    pub(super) fn is_empty(&self) -> bool {
        self.reals.is_empty()
    }

    /// `Pipeline::nat_reply_owner` for worker `worker` of `workers`, on the fields alone
    /// (the fast path holds a session borrowed meanwhile).
    #[inline]
    pub(super) fn reply_owner(&self, k: &FlowKey, worker: u16, workers: u16) -> Option<u16> {
        if workers < 2 || self.is_empty() || !self.has_real(k.src, k.sport, k.proto) {
            return None;
        }
        let owner = Self::owner(k.dst, k.dport, workers);
        (owner != worker).then_some(owner)
    }

    /// The worker (of `workers`) that owns the NAT sessions of client CIP:cport: a
    /// multiplicative hash of the endpoint, the same on every worker.
    pub(super) fn owner(cip: Ipv4Addr, cport: u16, workers: u16) -> u16 {
        crate::laddr::owner_of_client(cip, cport, workers)
    }
}

impl<P: Frame> Pipeline<P> {
    /// The worker a client packet without a session here must go to: the owner of its
    /// client endpoint when its service has NAT, DR or TUN real servers and that is
    /// another worker.
    #[inline]
    pub(super) fn nat_client_owner(&self, info: &L4Info) -> Option<u16> {
        if self.workers < 2 || !self.nat.any_service {
            return None;
        }
        let k = &info.key;
        let svc = self.snapshot.find(&(k.proto, k.dst, k.dport))? as usize;
        if !self.nat.services.get(svc).copied().unwrap_or(false) {
            return None;
        }
        let owner = NatSteering::owner(k.src, k.sport, self.workers);
        (owner != self.worker).then_some(owner)
    }

    /// The worker a packet to none of our addresses must go to: the NAT owner of its
    /// destination (the client) when it comes from a NAT real server and that is another
    /// worker.
    #[inline]
    pub(super) fn nat_reply_owner(&self, info: &L4Info) -> Option<u16> {
        self.nat.reply_owner(&info.key, self.worker, self.workers)
    }

    /// Whether this worker is the one session `id`'s reply with flow key `key` is
    /// steered to: the NAT owner of its client, else the owner of its local port (DR and
    /// TUN replies do not come through us).
    pub(super) fn owns_reply(&self, id: SessionId, key: &FlowKey) -> bool {
        let flags = self.sessions.get(id).flags;
        if flags & FLAG_NAT != 0 {
            return self.nat.reply_owner(key, self.worker, self.workers).is_none();
        }
        flags & (FLAG_DR | FLAG_TUN) != 0
            || self.laddrs.owner_of_reply(key.src, key.sport, key.dst, key.dport) == self.worker
    }

    /// Hands a parsed packet to worker `owner` (see `NatSteering`).
    pub(super) fn redirect_to(&self, owner: u16, pkt: P, info: L4Info, out: &mut Output<P>) {
        self.counters.redirected_out.inc();
        out.redirect[owner as usize].push(Handoff { pkt, info });
    }
}
