//! Session sync hooks of a worker: which sessions to hand to the sync thread (IPVS's
//! `sync_threshold` / `sync_period` / `sync_refresh_period`, judged per client packet),
//! the record of a session (with its SYN-proxy and PROXY-protocol state), the walk of the
//! whole table for a bulk sync, and installing a record received from another director.
//!
//! Off (the default), none of this runs: `forward` tests one `Option` per client packet.
//! On, each session has a small mark (packet count, last synced expiry and state) in a
//! side array indexed by slot, sized once, so the session's cache line stays as it is.

use super::ext::SessionExt;
use super::*;
use crate::sync::{
    rebind, should_sync, ClusterKey, ConnRecord, ProxyState, QuickCheck, RebindError, SyncInput, SyncMark,
    SyncParams, TableDigest,
};
use crate::sync::{CONN_F_SYNPROXY, CONN_F_TOA};
use crate::synproxy::Translation;

/// What a worker keeps for sync.
pub(super) struct SyncState {
    pub(super) params: SyncParams,
    /// The packet path's shortcut, decided from `params` once.
    quick: QuickCheck,
    /// Per session slot: client packets so far and what was last synced.
    marks: Vec<SlotMark>,
    /// The same per slot of the IPv6 table (empty without IPv6: `v6/sync.rs`).
    pub(super) marks6: Vec<SlotMark>,
    /// The synced sessions (`FLAG_SYNCED`) of this worker: what every member should hold
    /// too. The sync thread sums the workers' and says it in hellos.
    pub(super) digest: TableDigest,
}

/// A session slot's sync bookkeeping: its client packets so far and its `SyncMark`,
/// packed into 16 bytes (a `(u32, SyncMark)` pair takes 24), so that no slot's mark
/// straddles two cache lines and stage 1b's one prefetch brings it whole.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(super) struct SlotMark {
    /// `SyncMark::end`, in nanoseconds.
    end: u64,
    pub(super) pkts: u32,
    retries: u8,
    state: Option<SessionState>,
}

const _: () = assert!(std::mem::size_of::<SlotMark>() == 16);

impl SlotMark {
    /// A fresh session's: no packets, `SyncMark::new`.
    pub(super) fn new(now: Time) -> SlotMark {
        SlotMark::with(0, SyncMark::new(now))
    }

    pub(super) fn with(pkts: u32, m: SyncMark) -> SlotMark {
        SlotMark { end: m.end.as_nanos(), pkts, retries: m.retries, state: m.state }
    }

    #[inline(always)]
    pub(super) fn mark(&self) -> SyncMark {
        SyncMark { end: Time(self.end), retries: self.retries, state: self.state }
    }

    /// Counts a client packet; returns the count.
    #[inline(always)]
    pub(super) fn count(&mut self) -> u32 {
        self.pkts = self.pkts.wrapping_add(1);
        self.pkts
    }

    /// `should_sync` over this mark, which it updates on yes.
    pub(super) fn should_sync(&mut self, params: &SyncParams, input: &SyncInput) -> bool {
        let mut m = self.mark();
        let yes = should_sync(params, input, &mut m);
        *self = SlotMark::with(self.pkts, m);
        yes
    }
}

impl SyncState {
    /// A session was created here: its mark starts afresh.
    #[inline]
    pub(super) fn created(&mut self, id: SessionId, now: Time) {
        self.marks[id.index() as usize] = SlotMark::new(now);
    }

    /// Address of slot `slot`'s mark, for a prefetch (an address, not a borrow: no bounds
    /// check; a prefetch never faults). `sync_count` reads and writes it on every client
    /// packet, a cache line of its own in a large table.
    #[inline(always)]
    pub(super) fn mark_line(&self, slot: usize) -> *const u8 {
        self.marks.as_ptr().wrapping_add(slot) as *const u8
    }
}

/// Why a received record was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Rebind(#[from] RebindError),
    /// The local port is taken here by another session of ours.
    #[error("local port in use by another session")]
    PortInUse,
    #[error("session table full")]
    TableFull,
}

impl InstallError {
    /// Counter name for `rvsadm --sync`.
    pub fn name(&self) -> &'static str {
        match self {
            InstallError::Rebind(RebindError::Unsupported) => "unsupported",
            InstallError::Rebind(RebindError::NoService(_) | RebindError::NoService6(_)) => "no_service",
            InstallError::Rebind(RebindError::NoReal(_)) => "no_real",
            InstallError::Rebind(RebindError::NoLocal(_)) => "no_local",
            InstallError::Rebind(RebindError::Method(_)) => "method",
            InstallError::PortInUse => "port_in_use",
            InstallError::TableFull => "table_full",
        }
    }
}

/// What installing a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    New,
    /// The session existed (an earlier record): its state and expiry were updated.
    Refreshed,
}

impl<P: Frame> Pipeline<P> {
    /// Turns sync on: from now on `Output::synced` receives the records of sessions that
    /// `params` says are due.
    pub fn enable_sync(&mut self, params: SyncParams, now: Time) {
        let marks = self.sync_marks(self.sessions.positions(), now);
        // IPv6 sessions get marks only where the ports have IPv6 addresses.
        let marks6 = self.sync_marks(self.sync_slots_v6(), now);
        let quick = QuickCheck::of(&params);
        self.sync =
            Some(Box::new(SyncState { params, quick, marks, marks6, digest: TableDigest::unkeyed() }));
    }

    /// `n` fresh marks, their memory advised like the session table's (huge pages: one
    /// per session is read on every client packet).
    fn sync_marks(&self, n: usize, now: Time) -> Vec<SlotMark> {
        let mut marks = Vec::with_capacity(n);
        if let Some(advise) = self.mem_advice {
            advise(marks.as_ptr() as *const u8, n * std::mem::size_of::<SlotMark>());
        }
        marks.resize(n, SlotMark::new(now));
        marks
    }

    /// Keys the table digest with the cluster key (call it after `enable_sync`, before
    /// traffic: the digest starts again from an empty table).
    pub fn set_sync_digest_key(&mut self, key: &ClusterKey) {
        if let Some(st) = self.sync.as_mut() {
            st.digest = TableDigest::new(key);
        }
    }

    /// This worker's table digest: (value, sessions in it). (0, 0) with sync off.
    pub fn sync_digest(&self) -> (u64, u64) {
        self.sync.as_ref().map_or((0, 0), |st| (st.digest.value(), st.digest.count()))
    }

    /// A session leaves the table: out of the digest if it was in.
    #[inline]
    pub(super) fn sync_forget(&mut self, s: &Session) {
        if let Some(st) = self.sync.as_mut() {
            st.digest.remove_flow(s.client.proto, s.client_addr().into(), s.virtual_addr().into());
        }
    }

    /// Makes the SYN-cookie counter run on `now + offset` (wall-clock time, the same on
    /// every member), so a cookie made by another director has the right age here.
    pub fn set_cookie_clock_offset(&mut self, offset: u64) {
        self.cookie_clock = offset;
    }

    #[inline]
    pub(super) fn cookie_time(&self, now: Time) -> Time {
        Time(now.as_nanos().wrapping_add(self.cookie_clock))
    }

    pub fn sync_enabled(&self) -> bool {
        self.sync.is_some()
    }

    /// After a client packet updated session `id`: IPVS's decision, and the record on yes.
    pub(super) fn sync_client_packet(&mut self, id: SessionId, now: Time, out: &mut Output<P>) {
        if self.sync.is_some() && self.sync_count(id, self.sessions.get(id).state) {
            self.sync_due(id, now, out);
        }
    }

    /// Counts a client packet of session `id`, now in `state`, towards its sync; true when
    /// it may be due (`sync_due` decides). The part of `sync_client_packet` every packet
    /// pays, inline on the fast path: under the usual parameters only one packet in
    /// `sync_period` goes further.
    #[inline(always)]
    pub(super) fn sync_count(&mut self, id: SessionId, state: SessionState) -> bool {
        let Some(st) = self.sync.as_mut() else { return false };
        let Some(m) = st.marks.get_mut(id.index() as usize) else { return false };
        let pkts = m.count();
        !st.quick.surely_not_due(pkts, state, &m.mark())
    }

    /// The rest of `sync_client_packet`, after `sync_count` said maybe: the whole question,
    /// and the record on yes.
    #[inline(never)]
    pub(super) fn sync_due(&mut self, id: SessionId, now: Time, out: &mut Output<P>) {
        let Some(st) = self.sync.as_mut() else { return };
        let s = self.sessions.get(id);
        let Some(m) = st.marks.get_mut(id.index() as usize) else { return };
        let input = SyncInput {
            proto: s.client.proto,
            state: s.state,
            template: false,
            in_persistence: s.persist_client.get().is_some(),
            pkts: m.pkts,
            timeout: self.timeouts.get(s.state),
            now,
        };
        if m.should_sync(&st.params, &input) {
            let rec = self.session_record(s, now);
            let first = s.flags & FLAG_SYNCED == 0;
            out.synced.push(rec);
            if first {
                self.sessions.get_mut(id).flags |= FLAG_SYNCED;
                if let Some(st) = self.sync.as_mut() {
                    st.digest.add_flow(rec.proto, rec.client, rec.virt);
                }
            }
        }
    }

    /// The sync record of session `s`, with its extension state.
    pub fn session_record(&self, s: &Session, now: Time) -> ConnRecord {
        let mut rec = ConnRecord::from_session(s, now.until(s.expires));
        if s.flags & FLAG_EXT != 0 {
            if let Some(ext) = self.ext.get(&s.client) {
                if ext.opened_by.is_some() || ext.pending.is_some() {
                    rec.flags |= CONN_F_SYNPROXY;
                }
                if ext.pending.is_none() && ext.translation != Translation::default() {
                    rec.translation = Some(ext.translation);
                }
                rec.proxy =
                    ext.proxy.map(|version| ProxyState { version, sent: false, client_isn: ext.client_isn });
            }
        }
        rec
    }

    /// Every session for a bulk sync, from slot `from` on, at most `max`: returns where to
    /// go on (None: done). Sessions whose server handshake is still under way (SYN proxy)
    /// are skipped: the server would not know them. The IPv4 table's slots come first,
    /// then the IPv6 table's (cursor values from the IPv4 table's `positions` on).
    pub fn export_sessions(
        &self,
        from: usize,
        max: usize,
        now: Time,
        mut f: impl FnMut(ConnRecord),
    ) -> Option<usize> {
        let mut n = 0;
        let base6 = self.sessions.positions();
        if from < base6 {
            for (i, s) in self.sessions.iter_from(from) {
                if n == max {
                    return Some(i);
                }
                if s.state == SessionState::SynRecv {
                    continue;
                }
                f(self.session_record(s, now));
                n += 1;
            }
        }
        self.export_sessions_v6(from.saturating_sub(base6), max - n, now, f).map(|i| base6 + i)
    }

    /// Installs a session another director synced to us (this worker owns its local
    /// port), or updates the one we have under the same client flow. Expiry runs here
    /// from the time left in the record.
    pub fn install_synced(&mut self, rec: &ConnRecord, now: Time) -> Result<Installed, InstallError> {
        if rec.client.is_ipv6() {
            return self.install_synced_v6(rec, now);
        }
        let rb = rebind(rec, &self.snapshot, now)?;
        let mut new = rb.session;
        new.flags |= FLAG_SYNCED;
        if let Some(id) = self.sessions.find_client(&new.client) {
            if self.sessions.get(id).reply == new.reply {
                self.refresh_synced(id, &new, now);
                return Ok(Installed::Refreshed);
            }
            // The client reused its ports with another LIP/real on the other director:
            // ours is stale.
            let old = self.sessions.remove(id);
            self.retire(&old);
        }
        if let Some(id) = self.sessions.find_reply(&new.reply) {
            let old = self.sessions.remove(id);
            self.retire(&old);
        }
        // A NAT, DR or TUN session holds no local port (its reply goes to the client).
        let laddr = new.flags & FLAG_NO_LADDR == 0;
        if laddr && !self.laddrs.reserve(new.reply.dst, new.reply.dport) {
            return Err(InstallError::PortInUse);
        }
        let id = match self.sessions.insert(new) {
            Ok(id) => id,
            Err(_) => {
                if laddr {
                    self.laddrs.free(new.reply.dst, new.reply.dport);
                }
                return Err(InstallError::TableFull);
            }
        };
        self.limits.opened(u32::from(new.service_slot));
        let c = &self.counters;
        c.sessions_live.set(self.sessions.len() as u64);
        if let Some(r) = c.reals.get(new.real_slot as usize) {
            if new.state.is_active() {
                r.active.inc();
            } else {
                r.inactive.inc();
            }
            let conns = r.active.get().wrapping_add(r.inactive.get());
            self.overload.on_bind(new.real_slot, conns, self.thresholds[new.real_slot as usize]);
        }
        if let Some(client) = new.persist_client.get() {
            self.persist.attach(&PersistKey { service: new.service_slot as u32, client: client.into() });
        }
        if rb.needs_ext {
            self.attach_synced_ext(id, rec);
        }
        if let Some(st) = self.sync.as_mut() {
            // As if just synced: the new owner does not echo it back.
            st.marks[id.index() as usize] =
                SlotMark::with(0, SyncMark { end: new.expires, retries: 0, state: Some(new.state) });
            st.digest.add_flow(new.client.proto, new.client_addr().into(), new.virtual_addr().into());
        }
        Ok(Installed::New)
    }

    fn refresh_synced(&mut self, id: SessionId, new: &Session, now: Time) {
        let s = self.sessions.get_mut(id);
        let (was_active, is_active) = (s.state.is_active(), new.state.is_active());
        s.state = new.state;
        s.expires = new.expires.max(now);
        s.flags = (s.flags & (FLAG_EXT | FLAG_SYNCED)) | (new.flags & !(FLAG_EXT | FLAG_SYNCED));
        let slot = s.real_slot as usize;
        self.sessions.rearm(id);
        if let Some(r) = self.counters.reals.get(slot) {
            r.state_moved(was_active, is_active);
        }
    }

    /// The SYN-proxy translation and PROXY-protocol state a record carries.
    fn attach_synced_ext(&mut self, id: SessionId, rec: &ConnRecord) {
        let s = self.sessions.get_mut(id);
        s.flags |= FLAG_EXT;
        let client_port = self.routes.lookup(s.client.src).map_or(0, |h| h.port);
        let pending_proxy = rec.proxy.filter(|p| !p.sent);
        let mut ext = SessionExt::new(
            client_port,
            pending_proxy.map_or(0, |p| p.client_isn),
            pending_proxy.map(|p| p.version),
            false,
        );
        ext.translation = rec.translation.unwrap_or_default();
        self.ext.insert(s.client, ext);
        if rec.flags & CONN_F_TOA != 0 {
            s.flags |= FLAG_TOA;
        }
    }
}
