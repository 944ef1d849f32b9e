//! Reply steering at the DPDK edge: how a real server's reply reaches the worker that
//! owns its session, chosen per port at start, and the `rte_flow` rules of the best way.
//!
//! In order of preference (issue 18):
//! * **flow**: one rule per worker and LIP (TCP and UDP) matching the reply's destination
//!   address and the low bits of its destination port, with a queue action (DPVS
//!   sa_pool's approach). Worker `w` of `n` owns the local ports with `port % n == w`
//!   (`laddr::owner_of_port`); for a power-of-two `n` that is `port & (n - 1) == w`, one
//!   masked match, so rules need a power-of-two worker count (other counts skip to the
//!   next way rather than install a rule per port). Ownership is the partition, as for
//!   the hand-off: a LIP whose rules could not be installed still works, by hand-off.
//! * **rss**: no flow API, but the NIC hashes IPv4 TCP/UDP over the 4-tuple: its key
//!   and RETA are read (the RETA set round robin when it cannot be read or leaves a
//!   worker without a queue) and workers choose local ports whose reply hashes to their
//!   own queue (`laddr::Steering::Rss`).
//! * **handoff**: replies that land on another worker go over the single-producer
//!   rings, as parsed frames (the software fallback).
//!
//! A port with one rx queue (one worker) has nothing to steer: **single**.
//!
//! Every worker uses one ownership rule, so the ports must agree: the ports that face
//! the real servers (where replies arrive) decide, see `decide`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys as sys;

use super::{Port, PortInfo};
use crate::laddr::rss::Rss;
use crate::laddr::Steering;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A refused or failed `rte_flow` call, with what the PMD said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct FlowError {
    pub call: String,
    pub errno: i32,
    pub message: String,
}

impl FlowError {
    fn new(call: String, ret: i32, err: &sys::rte_flow_error) -> FlowError {
        let message = if err.message.is_null() {
            super::DpdkError::new("", ret).message
        } else {
            // SAFETY: PMDs point the message at a static (or port-lifetime) C string.
            unsafe { std::ffi::CStr::from_ptr(err.message) }.to_string_lossy().into_owned()
        };
        FlowError { call, errno: ret.unsigned_abs() as i32, message }
    }
}

/// A created rule, destroyed by `FlowRules`.
struct FlowHandle(NonNull<sys::rte_flow>);

// SAFETY: the handle is an opaque id the PMD gave out; it is only passed back to
// rte_flow_destroy on its port, from the one control thread that holds `FlowRules`.
unsafe impl Send for FlowHandle {}

/// Validates (`create` false) or creates the rule of worker `worker` of `workers` (a
/// power of two) for replies to `lip` over `proto`.
fn rule(
    port: Port,
    lip: Ipv4Addr,
    proto: u8,
    worker: u16,
    workers: u16,
    create: bool,
) -> Result<Option<FlowHandle>, FlowError> {
    debug_assert!(workers.is_power_of_two() && worker < workers);
    let mask = workers - 1;
    let mut err = sys::rte_flow_error::default();
    let mut flow: *mut sys::rte_flow = std::ptr::null_mut();
    let out: *mut *mut sys::rte_flow = if create { &mut flow } else { std::ptr::null_mut() };
    // SAFETY: plain values and valid out-pointers; the shim builds the pattern on its
    // stack and rte_flow copies what it keeps.
    let ret = unsafe {
        sys::rvs_flow_dst_port_queue(
            port.id(),
            u32::from(lip).to_be(),
            proto,
            worker,
            mask,
            worker,
            out,
            &mut err,
        )
    };
    if ret < 0 {
        let what = if create { "rte_flow_create" } else { "rte_flow_validate" };
        let p = if proto == IPPROTO_TCP { "tcp" } else { "udp" };
        return Err(FlowError::new(
            format!("{what}(port {}, {lip} {p} dport & {mask:#x} == {worker} -> queue {worker})", port.id()),
            ret,
            &err,
        ));
    }
    Ok(NonNull::new(flow).map(FlowHandle))
}

/// Validates the rules a LIP would get on `port`, without installing any.
pub fn validate_rules(port: Port, lip: Ipv4Addr, workers: u16) -> Result<(), FlowError> {
    for w in 0..workers {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            rule(port, lip, proto, w, workers, false)?;
        }
    }
    Ok(())
}

/// The flow rules of the ports that steer by `rte_flow`: `2 × workers` per LIP and port,
/// kept in step with the services' LIPs by `sync` (at start, and by the control thread
/// when services change).
pub struct FlowRules {
    workers: u16,
    ports: Vec<(Port, BTreeMap<Ipv4Addr, Vec<FlowHandle>>)>,
}

/// What one `FlowRules::sync` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// (port, LIP) pairs whose rules were installed or removed.
    pub added: usize,
    pub removed: usize,
    /// Installs the PMD refused (those LIPs' replies are handed over in software).
    pub failed: Vec<FlowError>,
}

impl FlowRules {
    pub fn new(workers: u16, ports: &[Port]) -> FlowRules {
        FlowRules { workers, ports: ports.iter().map(|&p| (p, BTreeMap::new())).collect() }
    }

    /// No port steers by rules.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// Rules installed over all ports.
    pub fn rule_count(&self) -> usize {
        self.ports.iter().flat_map(|(_, m)| m.values()).map(Vec::len).sum()
    }

    /// Installs the rules of LIPs in `lips` that have none and removes those of LIPs no
    /// longer in it. A LIP whose rules cannot all be installed gets none (its created
    /// rules are destroyed again) and is tried again at the next sync.
    pub fn sync(&mut self, lips: &BTreeSet<Ipv4Addr>) -> SyncReport {
        let mut report = SyncReport::default();
        let workers = self.workers;
        for (port, installed) in self.ports.iter_mut() {
            let stale: Vec<Ipv4Addr> = installed.keys().filter(|l| !lips.contains(l)).copied().collect();
            for lip in stale {
                if let Some(rules) = installed.remove(&lip) {
                    destroy(*port, rules);
                    report.removed += 1;
                }
            }
            let missing: Vec<Ipv4Addr> =
                lips.iter().filter(|l| !installed.contains_key(l)).copied().collect();
            for lip in missing {
                let mut rules = Vec::with_capacity(2 * workers as usize);
                let mut failed = None;
                'rules: for w in 0..workers {
                    for proto in [IPPROTO_TCP, IPPROTO_UDP] {
                        match rule(*port, lip, proto, w, workers, true) {
                            Ok(Some(h)) => rules.push(h),
                            Ok(None) => {}
                            Err(e) => {
                                failed = Some(e);
                                break 'rules;
                            }
                        }
                    }
                }
                match failed {
                    None => {
                        installed.insert(lip, rules);
                        report.added += 1;
                    }
                    Some(e) => {
                        destroy(*port, rules);
                        report.failed.push(e);
                    }
                }
            }
        }
        report
    }

    /// Removes every rule (before the ports are closed).
    pub fn clear(&mut self) {
        self.sync(&BTreeSet::new());
    }
}

fn destroy(port: Port, rules: Vec<FlowHandle>) {
    for h in rules {
        let mut err = sys::rte_flow_error::default();
        // SAFETY: a rule this port's PMD created and nobody destroyed yet.
        let ret = unsafe { sys::rte_flow_destroy(port.id(), h.0.as_ptr(), &mut err) };
        if ret < 0 {
            let e = FlowError::new(format!("rte_flow_destroy(port {})", port.id()), ret, &err);
            tracing::warn!(error = %e, "flow rule not removed");
        }
    }
}

/// How one port's replies reach their owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSteering {
    /// One rx queue: nothing to steer.
    Single,
    /// `rte_flow` rules steer each worker's local ports to its queue.
    Flow,
    /// The NIC's RSS with this key and RETA; local ports are chosen to land on the owner.
    Rss { key: Vec<u8>, reta: Vec<u16> },
    /// Software hand-off between workers.
    Handoff,
}

impl PortSteering {
    pub fn name(&self) -> &'static str {
        match self {
            PortSteering::Single => "single",
            PortSteering::Flow => "flow",
            PortSteering::Rss { .. } => "rss",
            PortSteering::Handoff => "handoff",
        }
    }
}

/// What `probe` asks a port, in order, stopping at the first that works.
pub trait SteeringProbe {
    /// Whether the per-worker rules can be installed (leaves none installed).
    fn flow(&mut self, workers: u16) -> Result<(), String>;
    /// The RSS key and RETA replies are spread with (hashing IPv4 TCP/UDP over the
    /// 4-tuple); `fits` tells whether a RETA serves every worker, so that the probe can
    /// set a round-robin one when the port's does not.
    fn rss(
        &mut self,
        workers: u16,
        fits: &dyn Fn(&[u16]) -> Result<(), String>,
    ) -> Result<(Vec<u8>, Vec<u16>), String>;
}

/// A port's way, and why the better ways were not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub mode: PortSteering,
    pub refused: Vec<String>,
}

/// Whether an RSS key and RETA can steer replies for `workers` workers: the RETA has a
/// power-of-two size, names only workers' queues and every worker at least once (a
/// worker without an entry could never pick a local port), and the key covers the
/// 12-byte IPv4 4-tuple.
pub fn rss_fits(key: &[u8], reta: &[u16], workers: u16) -> Result<(), String> {
    if key.len() < 16 {
        return Err(format!("RSS key of {} bytes (16 needed for the IPv4 4-tuple)", key.len()));
    }
    reta_fits(reta, workers)
}

/// The RETA half of `rss_fits`.
pub fn reta_fits(reta: &[u16], workers: u16) -> Result<(), String> {
    if reta.is_empty() || !reta.len().is_power_of_two() {
        return Err(format!("RETA of {} entries (not a power of two)", reta.len()));
    }
    if let Some(q) = reta.iter().find(|&&q| q >= workers) {
        return Err(format!("RETA names queue {q}, past the {workers} workers' queues"));
    }
    if let Some(w) = (0..workers).find(|w| !reta.contains(w)) {
        return Err(format!("RETA gives worker {w} no entry"));
    }
    Ok(())
}

/// Chooses a port's way from its rx queue count and what the probe finds.
pub fn probe(rx_queues: u16, workers: u16, p: &mut dyn SteeringProbe) -> Probed {
    let mut refused = Vec::new();
    if rx_queues <= 1 || workers <= 1 {
        return Probed { mode: PortSteering::Single, refused };
    }
    if !workers.is_power_of_two() {
        refused.push(format!(
            "flow: {workers} workers is not a power of two (the port partition is not one masked match)"
        ));
    } else {
        match p.flow(workers) {
            Ok(()) => return Probed { mode: PortSteering::Flow, refused },
            Err(e) => refused.push(format!("flow: {e}")),
        }
    }
    match p.rss(workers, &|reta| reta_fits(reta, workers)) {
        Ok((key, reta)) => match rss_fits(&key, &reta, workers) {
            Ok(()) => return Probed { mode: PortSteering::Rss { key, reta }, refused },
            Err(e) => refused.push(format!("rss: {e}")),
        },
        Err(e) => refused.push(format!("rss: {e}")),
    }
    Probed { mode: PortSteering::Handoff, refused }
}

/// The steering every worker uses and each port's final way.
#[derive(Debug, Clone)]
pub struct Decision {
    /// For `PipelineConfig::steering`.
    pub steering: Steering,
    /// The way of the reply ports: "flow", "rss", "handoff" or "single".
    pub mode: &'static str,
    pub ports: Vec<PortSteering>,
}

/// Makes the ports agree. `reply_ports` are the ports facing the real servers (where
/// replies arrive); empty means unknown, and then every port counts. They decide:
/// * all of them RSS with one key and RETA: RSS steering (a port outside them that could
///   take flow rules does not get them: ownership is by hash now, not the partition);
/// * otherwise the partition, with flow rules on every port that takes them, and the
///   hand-off for the rest; the mode is "flow" when all reply ports have rules,
///   "single" when they have one queue, else "handoff".
///
/// A reply that arrives on another port than expected still reaches its owner: the
/// worker that receives it asks the steering for the owner and hands it over.
pub fn decide(ports: Vec<PortSteering>, reply_ports: &[usize]) -> Decision {
    let mut ports = ports;
    let all: Vec<usize> = (0..ports.len()).collect();
    let cand: Vec<usize> = reply_ports.iter().copied().filter(|&i| i < ports.len()).collect();
    let cand = if cand.is_empty() { all } else { cand };
    let first_rss = cand.first().and_then(|&i| match &ports[i] {
        PortSteering::Rss { key, reta } => Some((key.clone(), reta.clone())),
        _ => None,
    });
    if let Some((key, reta)) = first_rss {
        let agree = cand
            .iter()
            .all(|&i| matches!(&ports[i], PortSteering::Rss { key: k, reta: r } if *k == key && *r == reta));
        if let (true, Some(rss)) = (agree, Rss::new(&key, reta)) {
            for p in ports.iter_mut() {
                if *p == PortSteering::Flow {
                    *p = PortSteering::Handoff;
                }
            }
            return Decision { steering: Steering::Rss(Arc::new(rss)), mode: "rss", ports };
        }
    }
    for p in ports.iter_mut() {
        if let PortSteering::Rss { .. } = p {
            *p = PortSteering::Handoff;
        }
    }
    let mode = if cand.iter().all(|&i| ports[i] == PortSteering::Flow) {
        "flow"
    } else if cand.iter().all(|&i| ports[i] == PortSteering::Single) {
        "single"
    } else {
        "handoff"
    };
    Decision { steering: Steering::Partition, mode, ports }
}

/// The probe of a started DPDK port.
pub struct PortProbe<'a> {
    pub port: Port,
    pub info: &'a PortInfo,
    /// The destination the trial rules match (a LIP, or the port's own address when no
    /// service has one at start; the trial leaves no rule behind).
    pub probe_addr: Ipv4Addr,
}

impl SteeringProbe for PortProbe<'_> {
    /// Validates the rules, then creates and removes them once: some PMDs validate
    /// what they then refuse to create (net_tap without the kernel's multiq qdisc).
    fn flow(&mut self, workers: u16) -> Result<(), String> {
        validate_rules(self.port, self.probe_addr, workers).map_err(|e| e.to_string())?;
        let mut trial = FlowRules::new(workers, &[self.port]);
        let report = trial.sync(&BTreeSet::from([self.probe_addr]));
        trial.clear();
        match report.failed.into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e.to_string()),
        }
    }

    fn rss(
        &mut self,
        workers: u16,
        fits: &dyn Fn(&[u16]) -> Result<(), String>,
    ) -> Result<(Vec<u8>, Vec<u16>), String> {
        if self.info.rss_offloads == 0 {
            return Err("the PMD offers no RSS".into());
        }
        if self.info.reta_size == 0 {
            return Err("the PMD reports no redirection table".into());
        }
        let conf = self.port.rss_hash_conf(self.info.hash_key_size).map_err(|e| e.to_string())?;
        if !conf.hashes_ipv4_ports() {
            return Err(format!("IPv4 TCP/UDP not hashed over ports (rss_hf {:#x})", conf.rss_hf));
        }
        let size = self.info.reta_size;
        let reta = match self.port.rss_reta(size) {
            Ok(r) if fits(&r).is_ok() => r,
            read => {
                let why = match read {
                    Ok(r) => fits(&r).err().unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                let rr: Vec<u16> = (0..size).map(|i| i % workers).collect();
                self.port.set_rss_reta(&rr).map_err(|e| format!("{why}; setting it round robin: {e}"))?;
                tracing::info!(port = self.port.id(), reason = %why, "RSS RETA set round robin");
                // Read back what the NIC has now, where it can say.
                self.port.rss_reta(size).unwrap_or(rr)
            }
        };
        Ok((conf.key, reta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laddr::rss::DEFAULT_KEY;

    /// A port's answers, as a NIC (or a PMD without the API) would give them.
    struct Fake {
        flow: Result<(), String>,
        rss: Result<(Vec<u8>, Vec<u16>), String>,
        /// What a round-robin RETA update does: Some(the table it sets) or refused.
        rr_update: bool,
        asked: Vec<&'static str>,
    }

    impl Fake {
        fn new(flow: Result<(), &str>, rss: Result<(Vec<u8>, Vec<u16>), &str>) -> Fake {
            Fake {
                flow: flow.map_err(str::to_owned),
                rss: rss.map_err(str::to_owned),
                rr_update: false,
                asked: Vec::new(),
            }
        }
    }

    impl SteeringProbe for Fake {
        fn flow(&mut self, _workers: u16) -> Result<(), String> {
            self.asked.push("flow");
            self.flow.clone()
        }
        fn rss(
            &mut self,
            workers: u16,
            fits: &dyn Fn(&[u16]) -> Result<(), String>,
        ) -> Result<(Vec<u8>, Vec<u16>), String> {
            self.asked.push("rss");
            let (key, reta) = self.rss.clone()?;
            if fits(&reta).is_ok() || !self.rr_update {
                return Ok((key, reta));
            }
            Ok((key, (0..reta.len() as u16).map(|i| i % workers).collect()))
        }
    }

    fn rr(size: u16, queues: u16) -> Vec<u16> {
        (0..size).map(|i| i % queues).collect()
    }

    #[test]
    fn one_queue_or_one_worker_has_nothing_to_steer() {
        let mut f = Fake::new(Ok(()), Ok((DEFAULT_KEY.to_vec(), rr(128, 2))));
        assert_eq!(probe(1, 1, &mut f).mode, PortSteering::Single);
        assert_eq!(probe(4, 1, &mut f).mode, PortSteering::Single);
        assert!(f.asked.is_empty(), "nothing asked of the port: {:?}", f.asked);
    }

    #[test]
    fn flow_rules_win_when_the_pmd_takes_them() {
        let mut f = Fake::new(Ok(()), Ok((DEFAULT_KEY.to_vec(), rr(128, 4))));
        let p = probe(4, 4, &mut f);
        assert_eq!(p.mode, PortSteering::Flow);
        assert_eq!(f.asked, ["flow"]);
    }

    #[test]
    fn refused_flow_falls_to_rss() {
        let mut f = Fake::new(
            Err("rte_flow_validate failed: Function not implemented"),
            Ok((DEFAULT_KEY.to_vec(), rr(512, 8))),
        );
        let p = probe(8, 8, &mut f);
        assert_eq!(p.mode, PortSteering::Rss { key: DEFAULT_KEY.to_vec(), reta: rr(512, 8) });
        assert_eq!(f.asked, ["flow", "rss"]);
        assert!(p.refused[0].starts_with("flow: rte_flow_validate"), "{:?}", p.refused);
    }

    #[test]
    fn no_flow_and_no_rss_is_the_handoff() {
        // af_packet: no flow ops, no RSS.
        let mut f = Fake::new(Err("not supported"), Err("the PMD offers no RSS"));
        let p = probe(2, 2, &mut f);
        assert_eq!(p.mode, PortSteering::Handoff);
        assert_eq!(p.refused, ["flow: not supported", "rss: the PMD offers no RSS"]);
    }

    #[test]
    fn three_workers_skip_the_rules_but_may_use_rss() {
        let mut f = Fake::new(Ok(()), Ok((DEFAULT_KEY.to_vec(), rr(128, 3))));
        let p = probe(3, 3, &mut f);
        assert_eq!(f.asked, ["rss"], "a masked match cannot express port % 3");
        assert_eq!(p.mode, PortSteering::Rss { key: DEFAULT_KEY.to_vec(), reta: rr(128, 3) });
        assert!(p.refused[0].contains("not a power of two"));
    }

    #[test]
    fn a_reta_that_starves_a_worker_is_set_round_robin_or_refused() {
        // The NIC's table only spreads over queues 0 and 1 of 4.
        let bad = rr(128, 2);
        let mut f = Fake::new(Err("no"), Ok((DEFAULT_KEY.to_vec(), bad.clone())));
        let p = probe(4, 4, &mut f);
        assert_eq!(p.mode, PortSteering::Handoff);
        assert_eq!(p.refused[1], "rss: RETA gives worker 2 no entry");
        f.rr_update = true;
        assert_eq!(
            probe(4, 4, &mut f).mode,
            PortSteering::Rss { key: DEFAULT_KEY.to_vec(), reta: rr(128, 4) }
        );
    }

    #[test]
    fn rss_tables_are_checked() {
        assert_eq!(rss_fits(&DEFAULT_KEY, &rr(128, 2), 2), Ok(()));
        assert!(rss_fits(&DEFAULT_KEY[..12], &rr(128, 2), 2).unwrap_err().contains("key of 12"));
        assert!(rss_fits(&DEFAULT_KEY, &rr(96, 2), 2).unwrap_err().contains("power of two"));
        assert!(rss_fits(&DEFAULT_KEY, &rr(128, 4), 2).unwrap_err().contains("queue 2"));
        assert!(rss_fits(&DEFAULT_KEY, &[], 2).is_err());
    }

    fn rss_of(n: u16) -> PortSteering {
        PortSteering::Rss { key: DEFAULT_KEY.to_vec(), reta: rr(128, n) }
    }

    #[test]
    fn the_reply_port_decides() {
        // Client port spreads by RSS, server (reply) port takes rules: partition + rules.
        let d = decide(vec![rss_of(2), PortSteering::Flow], &[1]);
        assert!(matches!(d.steering, Steering::Partition));
        assert_eq!(d.mode, "flow");
        assert_eq!(d.ports, [PortSteering::Handoff, PortSteering::Flow]);

        // Reply port RSS only: RSS steering with its tables; the other port's rules would
        // steer by the partition, which no longer is the ownership.
        let d = decide(vec![PortSteering::Flow, rss_of(2)], &[1]);
        let Steering::Rss(rss) = &d.steering else { panic!("{d:?}") };
        assert_eq!(rss.queue(0), 0);
        assert_eq!(rss.queue(1), 1);
        assert_eq!(d.mode, "rss");
        assert_eq!(d.ports, [PortSteering::Handoff, rss_of(2)]);

        // Reply port with neither: the hand-off, whatever the client port could do.
        let d = decide(vec![PortSteering::Flow, PortSteering::Handoff], &[1]);
        assert!(matches!(d.steering, Steering::Partition));
        assert_eq!(d.mode, "handoff");
        assert_eq!(d.ports, [PortSteering::Flow, PortSteering::Handoff]);
    }

    #[test]
    fn several_reply_ports_must_agree() {
        // Two reply ports with different RETAs cannot share one hash ownership.
        let other = PortSteering::Rss { key: DEFAULT_KEY.to_vec(), reta: rr(64, 2) };
        let d = decide(vec![rss_of(2), other], &[0, 1]);
        assert!(matches!(d.steering, Steering::Partition));
        assert_eq!(d.mode, "handoff");
        assert_eq!(d.ports, [PortSteering::Handoff, PortSteering::Handoff]);

        let d = decide(vec![rss_of(2), rss_of(2)], &[0, 1]);
        assert!(matches!(d.steering, Steering::Rss(_)));

        // Flow on one reply port, none on the other: rules where taken, hand-off overall.
        let d = decide(vec![PortSteering::Flow, PortSteering::Handoff], &[0, 1]);
        assert_eq!(d.mode, "handoff");
        assert_eq!(d.ports, [PortSteering::Flow, PortSteering::Handoff]);
    }

    #[test]
    fn unknown_reply_ports_mean_all_ports() {
        let d = decide(vec![PortSteering::Flow, PortSteering::Flow], &[]);
        assert_eq!(d.mode, "flow");
        let d = decide(vec![PortSteering::Single, PortSteering::Single], &[]);
        assert_eq!(d.mode, "single");
        assert!(matches!(d.steering, Steering::Partition));
        let d = decide(vec![PortSteering::Flow, PortSteering::Handoff], &[7]);
        assert_eq!(d.mode, "handoff", "an out-of-range reply port is ignored");
    }
}
