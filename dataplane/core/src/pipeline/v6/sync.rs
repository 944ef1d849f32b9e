//! Session sync of the IPv6 table (FULLNAT v6 → v6, NAT64, NAT, DR and TUN), as
//! `pipeline/sync.rs`
//! does it for IPv4: the same decision per client packet (IPVS's `sync_threshold` /
//! `sync_period` / `sync_refresh_period`), the same records, the same table digest, and
//! a received record installed in the worker that owns its local port (the IPv6 pools'
//! `port % workers`, or the IPv4 pools' partition or RSS for NAT64), or for NAT, DR and
//! TUN the worker of the client's endpoint.

use super::{Output, Pipeline};
use crate::frame::Frame;
use crate::pipeline::sync::SlotMark;
use crate::pipeline::{InstallError, Installed};
use crate::session::v6::{Session6, FLAG6_DIRECT, FLAG6_FROM_SYNC, FLAG6_SYNCED};
use crate::session::SessionState;
use crate::sync::{rebind6, ConnRecord, SyncInput, SyncMark};
use crate::time::Time;

impl<P: Frame> Pipeline<P> {
    /// How many IPv6 session slots need a sync mark: none where the ports have no IPv6.
    pub(in crate::pipeline) fn sync_slots_v6(&self) -> usize {
        if self.v6.enabled() {
            self.v6.sessions.capacity()
        } else {
            0
        }
    }

    /// The IPv6 part of `export_sessions`: from IPv6 slot `from` on, at most `max`
    /// records (half-open sessions skipped); where to go on, or None when done.
    pub(in crate::pipeline) fn export_sessions_v6(
        &self,
        from: usize,
        max: usize,
        now: Time,
        mut f: impl FnMut(ConnRecord),
    ) -> Option<usize> {
        let mut n = 0;
        for (i, s) in self.v6.sessions.iter_from(from) {
            if n == max {
                return Some(i as usize);
            }
            if s.state == SessionState::SynRecv {
                continue;
            }
            f(ConnRecord::from_session6(s, now.until(s.expires)));
            n += 1;
        }
        None
    }

    /// An IPv6 session was created here: its mark starts afresh.
    #[inline]
    pub(super) fn sync_created_v6(&mut self, id: u32, now: Time) {
        if let Some(m) = self.sync.as_mut().and_then(|st| st.marks6.get_mut(id as usize)) {
            *m = SlotMark::new(now);
        }
    }

    /// After a client packet updated IPv6 session `id`: IPVS's decision, and the record
    /// on yes (into `out.synced`, with the IPv4 sessions').
    pub(super) fn sync_client_packet_v6(&mut self, id: u32, now: Time, out: &mut Output<P>) {
        let Some(st) = self.sync.as_mut() else { return };
        let Some(m) = st.marks6.get_mut(id as usize) else { return };
        let s = self.v6.sessions.get(id);
        let input = SyncInput {
            proto: s.client.proto,
            state: s.state,
            template: false,
            in_persistence: false,
            pkts: m.count(),
            timeout: self.timeouts.get(s.state),
            now,
        };
        if m.should_sync(&st.params, &input) {
            let rec = ConnRecord::from_session6(s, now.until(s.expires));
            out.synced.push(rec);
            if s.flags & FLAG6_SYNCED == 0 {
                self.v6.sessions.get_mut(id).flags |= FLAG6_SYNCED;
                st.digest.add_flow(rec.proto, rec.client, rec.virt);
            }
        }
    }

    /// An IPv6 session leaves the table: out of the digest if it was in.
    pub(in crate::pipeline) fn sync_forget_v6(&mut self, s: &Session6) {
        if s.flags & FLAG6_SYNCED == 0 {
            return;
        }
        if let Some(st) = self.sync.as_mut() {
            let rec = ConnRecord::from_session6(s, std::time::Duration::ZERO);
            st.digest.remove_flow(rec.proto, rec.client, rec.virt);
        }
    }

    /// `install_synced` for a record whose client is IPv6: the session goes into the IPv6
    /// table, its local port reserved in the pool it came from (IPv6 LIPs, or the IPv4
    /// pools for NAT64), or the one we have under the same flows is refreshed.
    pub(in crate::pipeline) fn install_synced_v6(
        &mut self,
        rec: &ConnRecord,
        now: Time,
    ) -> Result<Installed, InstallError> {
        let mut new = rebind6(rec, &self.snapshot, now)?;
        new.flags |= FLAG6_SYNCED | FLAG6_FROM_SYNC;
        if let Some((id, dir)) = self.v6.sessions.lookup(&new.client) {
            if dir == crate::session::Direction::FromClient && self.v6.sessions.get(id).server == new.server {
                self.refresh_synced_v6(id, &new, now);
                return Ok(Installed::Refreshed);
            }
            // The client reused its port with another LIP/real on the other director:
            // ours is stale.
            self.drop_synced_v6(id);
        }
        if let Some((id, _)) = self.v6.sessions.lookup(&new.server) {
            // IPv6 local ports have no per-member slices (IPv4's cluster slices): a live
            // session of ours on the same LIP:lport to the same server is kept, only an
            // earlier record's is stale.
            if self.v6.sessions.get(id).flags & FLAG6_FROM_SYNC == 0 {
                return Err(InstallError::PortInUse);
            }
            self.drop_synced_v6(id);
        }
        let (lip, lport, proto) = (new.server.dst, new.server.dport, new.server.proto);
        // A NAT, DR or TUN session holds no local port (its reply goes to the client).
        let laddr = new.flags & FLAG6_DIRECT == 0;
        let reserved = !laddr
            || match lip.to_ipv4_mapped() {
                Some(lip4) => self.laddrs.reserve(lip4, lport),
                None => self.v6.ports.reserve(lip, proto, lport),
            };
        if !reserved {
            return Err(InstallError::PortInUse);
        }
        let id = match self.v6.sessions.insert(new) {
            Ok(id) => id,
            Err(_) => {
                match lip.to_ipv4_mapped() {
                    _ if !laddr => {}
                    Some(lip4) => self.laddrs.free(lip4, lport),
                    None => self.v6.ports.give(lip, proto, lport),
                }
                return Err(InstallError::TableFull);
            }
        };
        let c = &self.counters;
        c.sessions_live.set((self.sessions.len() + self.v6.sessions.len()) as u64);
        if let Some(r) = c.reals.get(new.real_slot as usize) {
            if new.state.is_active() {
                r.active.inc();
            } else {
                r.inactive.inc();
            }
        }
        if let Some(st) = self.sync.as_mut() {
            // As if just synced: the new owner does not echo it back.
            if let Some(m) = st.marks6.get_mut(id as usize) {
                *m = SlotMark::with(0, SyncMark { end: new.expires, retries: 0, state: Some(new.state) });
            }
            let rec = ConnRecord::from_session6(&new, std::time::Duration::ZERO);
            st.digest.add_flow(rec.proto, rec.client, rec.virt);
        }
        Ok(Installed::New)
    }

    fn drop_synced_v6(&mut self, id: u32) {
        if let Some(old) = self.v6.sessions.remove(id) {
            self.retire_v6(&old);
        }
    }

    fn refresh_synced_v6(&mut self, id: u32, new: &Session6, now: Time) {
        let s = self.v6.sessions.get_mut(id);
        let (was_active, is_active) = (s.state.is_active(), new.state.is_active());
        s.state = new.state;
        s.expires = new.expires.max(now);
        let keep = FLAG6_SYNCED | FLAG6_FROM_SYNC;
        s.flags = (s.flags & keep) | (new.flags & !keep);
        if new.proxy_len != 0 {
            s.proxy_len = new.proxy_len;
        }
        let slot = s.real_slot as usize;
        if let Some(r) = self.counters.reals.get(slot) {
            r.state_moved(was_active, is_active);
        }
    }
}
