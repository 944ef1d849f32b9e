//! Health-check state machines, pure: inputs are check results and the time, outputs are
//! state changes, notifications to run and the real-server table the checks call for.
//! No I/O here, so every keepalived rule is tested deterministically.
//!
//! keepalived's rules, as implemented:
//! * a checker runs every `delay_loop`; the first run is after a random part of `warmup`
//!   (the caller passes the random fraction) or at once;
//! * a failure of a server that is up is retried `retry` times, `delay_before_retry`
//!   apart; only when the last retry fails is the checker down (so `retry N` means N+1
//!   consecutive failures); a server that is down is not retried, one success brings it up;
//! * a checker's first run is not retried: a server that fails its first check is taken
//!   out at once (keepalived: "one failure is enough initially"). Under `alpha` the server
//!   was out already, and that first failure still runs its `notify_down`;
//! * a real server is alive when all its checkers are up (one with no checker always is);
//!   `alpha` starts checkers down, otherwise up;
//! * MISC_CHECK with `misc_dynamic`: exit 0 up at the configured weight, 1 down, 2..255 up
//!   with weight = code - 2 (kept through retries; the configured weight again once the
//!   checker is down);
//! * FILE_CHECK with a `weight`: up, adding its value x weight to the server's weight (the
//!   sum is kept within 0..=65535), as keepalived's tracked files do;
//! * quorum: the sum of the weights of the alive servers; the service goes down when the
//!   sum < quorum - hysteresis and back up when the sum >= quorum + hysteresis. A down
//!   service with a `sorry_server` serves from the sorry server alone;
//! * a dead server is removed, or kept with weight 0 under `inhibit_on_failure`.

use crate::keepalived::{CheckKind, CheckerConf, Config, Script, VirtualServer};
use rvs_proto::{ForwardMethod, RealSpec, ServiceKey, ServiceOptions, ServiceSpec, Thresholds, TunnelEncap};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A checker, by position in the configuration: virtual server, real server, checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckerId {
    pub vs: usize,
    pub rs: usize,
    pub ck: usize,
}

/// What one check run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Up,
    /// Up, and the server's weight is now this (misc_dynamic).
    UpWeight(u32),
    /// Up, and this checker adds this much to the server's weight (FILE_CHECK's weight).
    UpDelta(i64),
    Down(String),
}

/// Something the daemon should do or log because of a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    RealUp {
        vs: ServiceKey,
        rs: SocketAddr,
    },
    RealDown {
        vs: ServiceKey,
        rs: SocketAddr,
        reason: String,
    },
    WeightChanged {
        vs: ServiceKey,
        rs: SocketAddr,
        weight: u32,
    },
    QuorumLost {
        vs: ServiceKey,
        live_weight: u64,
    },
    QuorumRegained {
        vs: ServiceKey,
        live_weight: u64,
    },
    /// Run this notify_up/notify_down/quorum_up/quorum_down script.
    Run(Script),
}

/// One checker's timing and up/down state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerSm {
    pub up: bool,
    /// Failures in a row seen while up, not yet acted on. It starts at `retry`: the first
    /// run is not retried (keepalived starts each checker with its retries used up).
    pub failures: u32,
    pub next_at: Instant,
    pub running: bool,
    /// Completed runs (retries included), for `rvs_checks_total`.
    pub runs: u64,
    /// What this checker adds to the server's weight (FILE_CHECK); 0 while down.
    pub weight_delta: i64,
    /// The weight this checker sets (misc_dynamic: exit status - 2); None while it exits 0
    /// or is down.
    pub set_weight: Option<u32>,
}

impl CheckerSm {
    /// `jitter` in [0, 1) spreads the first checks over `warmup`.
    pub fn new(conf: &CheckerConf, now: Instant, jitter: f64) -> Self {
        let delay = conf.warmup.map(|w| w.mul_f64(jitter.clamp(0.0, 1.0))).unwrap_or(Duration::ZERO);
        CheckerSm {
            up: !conf.alpha,
            failures: conf.retry,
            next_at: now + delay,
            running: false,
            runs: 0,
            weight_delta: 0,
            set_weight: None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        !self.running && now >= self.next_at
    }

    /// Takes a result; returns the new up/down state when it changed.
    pub fn on_result(&mut self, conf: &CheckerConf, now: Instant, ok: bool) -> Option<bool> {
        self.running = false;
        self.runs += 1;
        if ok {
            self.failures = 0;
            self.next_at = now + conf.delay_loop;
            let changed = !self.up;
            self.up = true;
            return changed.then_some(true);
        }
        if self.up && self.failures < conf.retry {
            self.failures += 1;
            self.next_at = now + conf.delay_before_retry;
            return None;
        }
        self.failures = 0;
        self.next_at = now + conf.delay_loop;
        let changed = self.up;
        self.up = false;
        changed.then_some(false)
    }
}

#[derive(Debug, Clone)]
struct RsHealth {
    checkers: Vec<CheckerSm>,
    last_reason: String,
}

impl RsHealth {
    fn alive(&self) -> bool {
        self.checkers.iter().all(|c| c.up)
    }
}

#[derive(Debug, Clone)]
struct VsHealth {
    quorum_up: bool,
    reals: Vec<RsHealth>,
}

/// The desired rvsd table: every service with its real servers.
pub type Table = BTreeMap<ServiceKey, DesiredService>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredService {
    pub scheduler: String,
    pub local_addrs: Vec<IpAddr>,
    /// Persistence, scheduler flags, SYN proxy, TOA, PROXY protocol.
    pub options: ServiceOptions,
    /// Weight of each real server.
    pub reals: BTreeMap<SocketAddr, u32>,
    /// Connection thresholds of the real servers that have any (`uthreshold`/`lthreshold`);
    /// a server not named here has none.
    pub thresholds: BTreeMap<SocketAddr, Thresholds>,
    /// The forwarding method of the real servers that are not FULLNAT (`lb_kind`,
    /// `lvs_method`); a server not named here is FULLNAT.
    pub methods: BTreeMap<SocketAddr, RealMethod>,
}

/// A real server's forwarding method and, for TUN, its encapsulation.
pub type RealMethod = (ForwardMethod, Option<TunnelEncap>);

impl DesiredService {
    pub fn spec(&self, key: ServiceKey) -> ServiceSpec {
        ServiceSpec {
            options: self.options.clone(),
            key,
            scheduler: self.scheduler.clone(),
            local_addrs: self.local_addrs.clone(),
        }
    }

    /// The thresholds of real server `addr` (zero: none).
    pub fn thresholds_of(&self, addr: &SocketAddr) -> Thresholds {
        self.thresholds.get(addr).copied().unwrap_or_default()
    }

    /// What rvsd is asked to hold for real server `addr` of weight `weight`.
    pub fn real(&self, addr: SocketAddr, weight: u32) -> RealSpec {
        let (method, tunnel) = self.method_of(&addr);
        RealSpec { thresholds: self.thresholds_of(&addr), addr, weight, method, tunnel }
    }

    /// The forwarding method of real server `addr`.
    pub fn method_of(&self, addr: &SocketAddr) -> RealMethod {
        self.methods.get(addr).copied().unwrap_or((ForwardMethod::FullNat, None))
    }
}

/// The health of every real server of a configuration.
#[derive(Debug, Clone)]
pub struct Health {
    config: Config,
    vss: Vec<VsHealth>,
    /// When each checker falls due, earliest first. An entry is current while its time is
    /// the checker's `next_at` and the checker is not running; others are dropped when they
    /// come up. So finding the due checkers costs O(log n) each, not a scan of all of them.
    timers: BinaryHeap<Reverse<(Instant, CheckerId)>>,
    /// Bumped by every change of what [`Health::desired`] or the checkers' up/down states
    /// show, so a caller can skip recomputing the table when nothing changed.
    generation: u64,
}

impl Health {
    /// Fresh state for `config`; `jitter` yields a number in [0, 1) per checker.
    pub fn new(config: Config, now: Instant, jitter: &mut dyn FnMut() -> f64) -> Self {
        let vss = config
            .virtual_servers
            .iter()
            .map(|vs| VsHealth {
                quorum_up: true,
                reals: vs
                    .reals
                    .iter()
                    .map(|rs| RsHealth {
                        checkers: rs.checkers.iter().map(|c| CheckerSm::new(c, now, jitter())).collect(),
                        last_reason: String::new(),
                    })
                    .collect(),
            })
            .collect();
        let mut h = Health { config, vss, timers: BinaryHeap::new(), generation: 0 };
        h.rebuild_timers();
        for i in 0..h.vss.len() {
            // keepalived starts a service with quorum when the live weight reaches
            // quorum + hysteresis (its set_quorum_states).
            let w = h.live_weight(i);
            let vs = &h.config.virtual_servers[i];
            h.vss[i].quorum_up = w > 0 && w >= u64::from(vs.quorum) + u64::from(vs.hysteresis);
        }
        h
    }

    /// What keepalived reports when it starts: a service that starts without quorum and
    /// has a `sorry_server` ("Starting with quorum down") runs its `quorum_down`.
    pub fn startup_events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, vs) in self.config.virtual_servers.iter().enumerate() {
            if !self.vss[i].quorum_up && vs.sorry_server.is_some() {
                out.push(Event::QuorumLost { vs: vs.key, live_weight: self.live_weight(i) });
                out.extend(vs.quorum_down.clone().map(Event::Run));
            }
        }
        out
    }

    /// State for a reloaded `config`, keeping what is known of the servers and checkers
    /// that did not change, as keepalived's reload does (`migrate_checkers`):
    /// * a checker is the same when its kind and settings, target, `bindto`, `bind_if`,
    ///   `fwmark` and `connect_timeout` are (for MISC_CHECK: its command line and `misc_dynamic`);
    ///   `retry`, `delay_before_retry`, `delay_loop`, `alpha`, `warmup` and `misc_timeout`
    ///   may change and it keeps its state, the retries it has used capped at its new `retry`,
    ///   its next run no later than its new `delay_loop`;
    /// * a new checker of a known server starts up, with its retries, unless the server is
    ///   failing (a kept checker that ran is down) or was out with no kept checker having
    ///   run: then it starts down under `alpha`, and its first failure is not retried;
    /// * a new server starts as at startup.
    pub fn reload(
        &self,
        config: Config,
        now: Instant,
        jitter: &mut dyn FnMut() -> f64,
    ) -> (Self, Vec<Event>) {
        let mut new = Health::new(config, now, jitter);
        for (ni, nvs) in new.config.virtual_servers.iter().enumerate() {
            let Some(oi) = self.config.virtual_servers.iter().position(|o| o.key == nvs.key) else {
                continue;
            };
            new.vss[ni].quorum_up = self.vss[oi].quorum_up;
            let ovs = &self.config.virtual_servers[oi];
            for (nr, nrs) in nvs.reals.iter().enumerate() {
                let Some(or) = ovs.reals.iter().position(|o| o.addr == nrs.addr) else { continue };
                let old_rs = &self.vss[oi].reals[or];
                let new_rs = &mut new.vss[ni].reals[nr];
                new_rs.last_reason = old_rs.last_reason.clone();
                let mut kept = vec![false; nrs.checkers.len()];
                for (nc, ncf) in nrs.checkers.iter().enumerate() {
                    let same = ovs.reals[or].checkers.iter().position(|o| same_checker(o, ncf));
                    if let Some(oc) = same {
                        let mut sm = old_rs.checkers[oc].clone();
                        sm.running = false;
                        sm.failures = sm.failures.min(ncf.retry);
                        sm.next_at = sm.next_at.min(now + ncf.delay_loop);
                        new_rs.checkers[nc] = sm;
                        kept[nc] = true;
                    }
                }
                let ran = |(c, k): (&CheckerSm, &bool)| *k && c.runs > 0;
                let failing = new_rs.checkers.iter().zip(&kept).any(|x| ran(x) && !x.0.up);
                let any_ran = new_rs.checkers.iter().zip(&kept).any(ran);
                let suspect = failing || (!old_rs.alive() && !any_ran);
                for ((sm, conf), _) in
                    new_rs.checkers.iter_mut().zip(&nrs.checkers).zip(&kept).filter(|(_, k)| !**k)
                {
                    (sm.up, sm.failures) = if suspect { (!conf.alpha, conf.retry) } else { (true, 0) };
                }
            }
        }
        new.rebuild_timers();
        new.generation = self.generation + 1;
        let mut events = Vec::new();
        for i in 0..new.vss.len() {
            new.update_quorum(i, &mut events);
        }
        (new, events)
    }

    fn rebuild_timers(&mut self) {
        let timers: Vec<_> = self
            .checker_ids()
            .filter(|&id| !self.sm_ref(id).running)
            .map(|id| Reverse((self.sm_ref(id).next_at, id)))
            .collect();
        self.timers = BinaryHeap::from(timers);
    }

    /// Changes with every change of the desired table or of a checker's up/down state.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn checker_conf(&self, id: CheckerId) -> &CheckerConf {
        &self.config.virtual_servers[id.vs].reals[id.rs].checkers[id.ck]
    }

    /// Every checker id.
    pub fn checker_ids(&self) -> impl Iterator<Item = CheckerId> + '_ {
        self.vss.iter().enumerate().flat_map(|(vs, v)| {
            v.reals
                .iter()
                .enumerate()
                .flat_map(move |(rs, r)| (0..r.checkers.len()).map(move |ck| CheckerId { vs, rs, ck }))
        })
    }

    fn sm(&mut self, id: CheckerId) -> &mut CheckerSm {
        &mut self.vss[id.vs].reals[id.rs].checkers[id.ck]
    }

    /// Checkers due now, earliest first; they are marked running until their result comes.
    pub fn take_due(&mut self, now: Instant) -> Vec<CheckerId> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let sm = self.sm(id);
            if sm.next_at == at && !sm.running {
                sm.running = true;
                due.push(id);
            }
        }
        due
    }

    fn sm_ref(&self, id: CheckerId) -> &CheckerSm {
        &self.vss[id.vs].reals[id.rs].checkers[id.ck]
    }

    /// When the next checker falls due (None: no checkers, or all running). After
    /// [`Health::take_due`]`(now)` this is later than `now`; it may be early (a checker whose
    /// time changed), which costs a wakeup, never a late check.
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Whether the real server is alive now.
    pub fn alive(&self, vs: usize, rs: usize) -> bool {
        self.vss[vs].reals[rs].alive()
    }

    pub fn quorum_up(&self, vs: usize) -> bool {
        self.vss[vs].quorum_up
    }

    /// Whether one checker finds its target up now.
    pub fn checker_up(&self, id: CheckerId) -> bool {
        self.sm_ref(id).up
    }

    /// How many runs of one checker completed.
    pub fn checker_runs(&self, id: CheckerId) -> u64 {
        self.sm_ref(id).runs
    }

    /// Takes the result of a checker run.
    pub fn on_result(&mut self, id: CheckerId, now: Instant, outcome: Outcome) -> Vec<Event> {
        let mut events = Vec::new();
        if id.vs >= self.vss.len() {
            return events;
        }
        let conf = self.checker_conf(id).clone();
        let vs_conf = &self.config.virtual_servers[id.vs];
        let key = vs_conf.key;
        let rs_conf = vs_conf.reals[id.rs].clone();
        let was_alive = self.vss[id.vs].reals[id.rs].alive();
        let was_weight = self.weight(id.vs, id.rs);
        let ok = !matches!(outcome, Outcome::Down(_));
        let sm = self.sm(id);
        let first_run = sm.runs == 0;
        let flipped = sm.on_result(&conf, now, ok).is_some();
        let next_at = sm.next_at;
        // keepalived: a checker's part of the weight is dropped once it is down, kept while
        // it retries; misc_dynamic's exit 0 is the configured weight again.
        match &outcome {
            Outcome::UpDelta(d) => sm.weight_delta = *d,
            Outcome::UpWeight(w) => sm.set_weight = Some(*w),
            Outcome::Up => sm.set_weight = None,
            Outcome::Down(_) if !sm.up => (sm.weight_delta, sm.set_weight) = (0, None),
            Outcome::Down(_) => {}
        }
        if flipped {
            self.generation += 1;
        }
        self.timers.push(Reverse((next_at, id)));
        let rs = &mut self.vss[id.vs].reals[id.rs];
        if let Outcome::Down(reason) = &outcome {
            rs.last_reason = reason.clone();
        }
        let weight = self.weight(id.vs, id.rs);
        if weight != was_weight {
            self.generation += 1;
            events.push(Event::WeightChanged { vs: key, rs: rs_conf.addr, weight });
        }
        let rs = &mut self.vss[id.vs].reals[id.rs];
        let alive = rs.alive();
        if alive != was_alive {
            if alive {
                events.push(Event::RealUp { vs: key, rs: rs_conf.addr });
                events.extend(rs_conf.notify_up.clone().map(Event::Run));
            } else {
                let reason = rs.last_reason.clone();
                events.push(Event::RealDown { vs: key, rs: rs_conf.addr, reason });
                events.extend(rs_conf.notify_down.clone().map(Event::Run));
            }
        } else if !alive && !ok && first_run && conf.alpha {
            // keepalived notifies the state an alpha checker confirms at its first run:
            // the server started out, and notify_down tells the scripts so.
            let reason = rs.last_reason.clone();
            events.push(Event::RealDown { vs: key, rs: rs_conf.addr, reason });
            events.extend(rs_conf.notify_down.clone().map(Event::Run));
        }
        self.update_quorum(id.vs, &mut events);
        events
    }

    /// keepalived's effective weight: the configured one plus each checker's part (what a
    /// FILE_CHECK adds; for misc_dynamic, the weight it set less the configured one), within
    /// 0..=65535.
    fn weight(&self, vs: usize, rs: usize) -> u32 {
        let h = &self.vss[vs].reals[rs];
        let base = i64::from(self.config.virtual_servers[vs].reals[rs].weight);
        let parts: i64 =
            h.checkers.iter().map(|c| c.weight_delta + c.set_weight.map_or(0, |w| i64::from(w) - base)).sum();
        (base + parts).clamp(0, 65535) as u32
    }

    /// Sum of the weights of the alive real servers.
    pub fn live_weight(&self, vs: usize) -> u64 {
        (0..self.vss[vs].reals.len())
            .filter(|&r| self.alive(vs, r))
            .map(|r| u64::from(self.weight(vs, r)))
            .sum()
    }

    /// keepalived's rule: quorum is lost when the live weight falls below quorum -
    /// hysteresis, or to 0; it is regained at quorum + hysteresis (and above 0). The model
    /// keeps hysteresis below quorum.
    fn update_quorum(&mut self, vs: usize, events: &mut Vec<Event>) {
        let conf: &VirtualServer = &self.config.virtual_servers[vs];
        let live = self.live_weight(vs);
        let (q, h) = (u64::from(conf.quorum), u64::from(conf.hysteresis));
        let up = self.vss[vs].quorum_up;
        if up && (live == 0 || live < q.saturating_sub(h)) {
            self.generation += 1;
            self.vss[vs].quorum_up = false;
            events.push(Event::QuorumLost { vs: conf.key, live_weight: live });
            events.extend(conf.quorum_down.clone().map(Event::Run));
        } else if !up && live > 0 && live >= q + h {
            self.generation += 1;
            self.vss[vs].quorum_up = true;
            events.push(Event::QuorumRegained { vs: conf.key, live_weight: live });
            events.extend(conf.quorum_up.clone().map(Event::Run));
        }
    }

    /// The notifications `omega` asks for when rvs-ctrl stops, as keepalived's shutdown
    /// gives them: notify_down of every alive server that is in the table (not those a
    /// sorry server stands in for, unless inhibit_on_failure keeps them at weight 0), then
    /// quorum_down, whatever the quorum was.
    pub fn shutdown_events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, vs) in self.config.virtual_servers.iter().enumerate().filter(|(_, v)| v.omega) {
            let sorry_serving = vs.sorry_server.is_some() && !self.vss[i].quorum_up;
            for (r, rs) in vs.reals.iter().enumerate() {
                if self.alive(i, r) && (!sorry_serving || rs.inhibit_on_failure) {
                    out.extend(rs.notify_down.clone().map(Event::Run));
                }
            }
            out.extend(vs.quorum_down.clone().map(Event::Run));
        }
        out
    }

    /// The real-server table these states call for. A `virtual_server group` gives each
    /// of its members the same entry.
    pub fn desired(&self) -> Table {
        let mut t = Table::new();
        for (i, vs) in self.config.virtual_servers.iter().enumerate() {
            let mut reals = BTreeMap::new();
            let mut thresholds = BTreeMap::new();
            let quorum_up = self.vss[i].quorum_up;
            match vs.sorry_server {
                Some(sorry) if !quorum_up => {
                    reals.insert(sorry, 1);
                    // keepalived takes the real servers out; inhibit_on_failure keeps them
                    // at weight 0.
                    for rs in vs.reals.iter().filter(|r| r.inhibit_on_failure && r.addr != sorry) {
                        reals.insert(rs.addr, 0);
                    }
                }
                _ => {
                    for (r, rs) in vs.reals.iter().enumerate() {
                        if self.alive(i, r) {
                            reals.insert(rs.addr, self.weight(i, r));
                        } else if rs.inhibit_on_failure {
                            reals.insert(rs.addr, 0);
                        }
                    }
                    // sorry_server_inhibit: the sorry server stays, at weight 0, while unused.
                    if let Some(sorry) = vs.sorry_server.filter(|_| vs.sorry_server_inhibit) {
                        reals.entry(sorry).or_insert(0);
                    }
                }
            }
            let mut methods = BTreeMap::new();
            for rs in &vs.reals {
                let th = rs.thresholds();
                if reals.contains_key(&rs.addr) && th != Thresholds::default() {
                    thresholds.insert(rs.addr, th);
                }
                let m = vs.real_method(rs);
                if reals.contains_key(&rs.addr) && m != (ForwardMethod::FullNat, None) {
                    methods.insert(rs.addr, m);
                }
            }
            if let Some(sorry) = vs.sorry_server.filter(|s| reals.contains_key(s)) {
                let m = vs.sorry_method();
                if m != (ForwardMethod::FullNat, None) && !vs.reals.iter().any(|r| r.addr == sorry) {
                    methods.insert(sorry, m);
                }
            }
            let entry = DesiredService {
                scheduler: vs.scheduler.clone(),
                local_addrs: vs.local_addrs.clone(),
                options: vs.options(),
                reals,
                thresholds,
                methods,
            };
            for key in &vs.members {
                t.insert(*key, entry.clone());
            }
        }
        t
    }
}

/// keepalived's test of "the same checker" across a reload (its checkers' `compare`).
fn same_checker(a: &CheckerConf, b: &CheckerConf) -> bool {
    let kind = match (&a.kind, &b.kind) {
        (
            CheckKind::Misc { argv: a1, dynamic: d1, user: u1, .. },
            CheckKind::Misc { argv: a2, dynamic: d2, user: u2, .. },
        ) => a1 == a2 && d1 == d2 && u1 == u2,
        (k1, k2) => k1 == k2,
    };
    kind && a.target == b.target
        && a.bindto == b.bindto
        && a.bind_if == b.bind_if
        && a.fwmark == b.fwmark
        && a.connect_timeout == b.connect_timeout
}

#[cfg(test)]
mod tests;
