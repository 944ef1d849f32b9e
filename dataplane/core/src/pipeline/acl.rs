//! Admission of new connections by their service's lists and limits (`crate::acl`): the
//! lists for every packet that would open a connection (so a denied client's SYN gets no
//! SYN cookie either), the rates and the cap where a session is about to be created (for
//! a SYN-proxied service, at the cookie-validated ACK: a cookie costs nothing to refuse
//! later, a spoofed SYN must not spend a real client's rate). Established packets never
//! come here.

use super::*;
use crate::acl::{AclVerdict, Gcra, SourceBuckets};

/// Sets of 4 ways in a worker's per-source table (1 MiB): 65,536 sources at once, far
/// more than the sources any one worker has over their rate at a time.
const SOURCE_SETS: usize = 16_384;

/// One worker's admission state.
pub(super) struct Limits {
    /// Live sessions per service stat slot (what `max_conns` is checked against).
    live: Vec<u32>,
    /// The service-wide rate's arrival time per service stat slot.
    service_tat: Vec<u64>,
    /// Per service of the snapshot (by index), this worker's share of its limits.
    shares: Vec<Shares>,
    /// Allocated with the first snapshot that has a per-source rate.
    sources: Option<SourceBuckets>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Shares {
    source: Option<Gcra>,
    service: Option<Gcra>,
    /// This worker's part of `max_conns` (None: no cap).
    max_conns: Option<u32>,
}

impl Limits {
    pub(super) fn new(service_slots: usize) -> Self {
        Limits {
            live: vec![0; service_slots],
            service_tat: vec![0; service_slots],
            shares: Vec::new(),
            sources: None,
        }
    }

    /// This worker's shares of every service's limits in `snapshot` (between bursts).
    pub(super) fn sync(&mut self, snapshot: &crate::service::Snapshot, worker: u16, workers: u16) {
        let n = u32::from(workers.max(1));
        self.shares = snapshot
            .services
            .iter()
            .map(|svc| {
                let Some(l) = &svc.limits else { return Shares::default() };
                // The cap split exactly (the parts add up to it), the remainder to
                // different workers for different services, as real-server thresholds.
                let rank = (u32::from(worker) + svc.slot % n) % n;
                let part = |v: u32| v / n + u32::from(rank < v % n);
                Shares {
                    source: l.source_rate.map(|r| Gcra::new(r, workers)),
                    service: l.conn_rate.map(|r| Gcra::new(r, workers)),
                    max_conns: (l.max_conns > 0).then(|| part(l.max_conns)),
                }
            })
            .collect();
        if self.sources.is_none() && self.shares.iter().any(|s| s.source.is_some()) {
            self.sources = Some(SourceBuckets::new(SOURCE_SETS));
        }
    }

    /// A session of the service in stat slot `slot` was created (or installed by sync).
    #[inline]
    pub(super) fn opened(&mut self, slot: u32) {
        if let Some(n) = self.live.get_mut(slot as usize) {
            *n = n.saturating_add(1);
        }
    }

    /// A session of the service in stat slot `slot` ended.
    #[inline]
    pub(super) fn closed(&mut self, slot: u16) {
        if let Some(n) = self.live.get_mut(slot as usize) {
            *n = n.saturating_sub(1);
        }
    }

    /// This worker's part of the cap of the snapshot's service `svc_idx`.
    #[cfg(test)]
    pub(super) fn max_conns_share(&self, svc_idx: usize) -> Option<u32> {
        self.shares.get(svc_idx)?.max_conns
    }

    /// Live sessions of the service in stat slot `slot` on this worker.
    #[cfg(test)]
    pub(super) fn live(&self, slot: u32) -> u32 {
        self.live.get(slot as usize).copied().unwrap_or(0)
    }
}

impl<P: Frame> Pipeline<P> {
    /// Whether the service's allow/deny lists refuse a new connection from `src`.
    #[inline]
    pub(super) fn acl_refuses(&self, svc_idx: usize, src: Ipv4Addr) -> Option<DropReason> {
        match self.snapshot.services[svc_idx].limits.as_deref()?.acl(src)? {
            AclVerdict::Denied => Some(DropReason::AclDenied),
            AclVerdict::NotAllowed => Some(DropReason::AclNotAllowed),
        }
    }

    /// The cap and the rates, for a session about to be created for `src`.
    #[inline]
    pub(super) fn admit(&mut self, svc_idx: usize, src: Ipv4Addr, now: Time) -> Result<(), DropReason> {
        let svc = &self.snapshot.services[svc_idx];
        if svc.limits.is_none() {
            return Ok(());
        }
        let Some(sh) = self.limits.shares.get(svc_idx).copied() else { return Ok(()) };
        let slot = svc.slot as usize;
        if let Some(max) = sh.max_conns {
            if self.limits.live.get(slot).copied().unwrap_or(0) >= max {
                return Err(DropReason::MaxConns);
            }
        }
        if let (Some(g), Some(b)) = (&sh.source, self.limits.sources.as_mut()) {
            if !b.admit(svc.slot, src, g, now) {
                return Err(DropReason::SourceRateLimited);
            }
        }
        if let (Some(g), Some(tat)) = (&sh.service, self.limits.service_tat.get_mut(slot)) {
            if !g.admit(tat, now) {
                return Err(DropReason::ServiceRateLimited);
            }
        }
        Ok(())
    }
}
