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
                sport: real.addr.port(),
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
        self.count_new_session(svc_slot, real_slot);
        Ok(id)
    }
}
