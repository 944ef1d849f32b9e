//! VRRP by driving the real keepalived: rvs-ctrl hands the `vrrp_*` blocks of the
//! operator's keepalived.conf to a keepalived it runs (VRRP only, on rvsd's exception
//! taps), so the wire protocol is keepalived's own, and makes rvsd's VIP/LIP ownership
//! follow each instance's state.
//!
//! One thread ([`Vrrp::spawn`]) owns the keepalived process ([`keepalived::Supervisor`]),
//! reads its notify FIFO ([`fifo`]), reconciles rvsd's ownership with the MASTER instances
//! ([`owner::reconcile`], at every change and every second, so an rvsd that restarts is
//! put right) and then runs the operator's notify scripts. The main loop sends it a new
//! [`conf::Plan`] at each reload; the HTTP thread reads its [`VrrpStatus`].
//!
//! On MASTER: rvsd takes over the instance's VIPs and the LIPs that move with them (and
//! sends gratuitous ARPs for them); on BACKUP, FAULT or STOP it releases them. When
//! keepalived dies they are released (the peer takes over after its master-down
//! interval) and keepalived is restarted. When rvs-ctrl stops, keepalived stops (its
//! priority-0 advert hands over at once) and the addresses are released.
//!
//! Failback waits for the sessions: while rvsd has not finished the bulk sync it asks its
//! peers for when it starts (`rvsadm --sync`: start-up sync), rvs-ctrl writes 1 to the
//! hold file every instance tracks ([`conf::HOLD_TRACK`]), which keeps them at priority 1
//! (FAULT for sync-group members), so a master that comes back preempts only once it has
//! its peer's table. [`Hold`] decides.

pub mod conf;
pub mod fifo;
pub mod keepalived;
pub mod owner;

use conf::Plan;
use fifo::{Fifo, VrrpState};
use keepalived::{KeepalivedOptions, Supervisor};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often rvsd's ownership is compared with the states when nothing changes.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// The loop's longest sleep (new plans and stop requests wait at most this).
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct VrrpOptions {
    pub keepalived: KeepalivedOptions,
    pub ifaces: conf::IfaceMap,
}

/// One instance as the API and /metrics show it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceStatus {
    pub name: String,
    pub state: VrrpState,
    /// The priority keepalived last reported (tracking scripts move it), else the file's.
    pub priority: u8,
    pub base_priority: u8,
    pub vrid: u8,
    pub interface: String,
    pub kernel_if: String,
    pub vips: Vec<IpAddr>,
    pub lips: Vec<IpAddr>,
    pub group: Option<String>,
    pub transitions: u64,
    pub since: Option<SystemTime>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VrrpStatus {
    pub keepalived_pid: Option<u32>,
    pub keepalived_restarts: u64,
    pub instances: Vec<InstanceStatus>,
    pub groups: Vec<(String, VrrpState)>,
    /// What rvsd owned at the last reconcile (None: not asked yet, or it did not answer).
    pub owned: Option<Vec<IpAddr>>,
    pub last_error: Option<String>,
    /// The instances are held back (rvsd's start-up bulk sync is not over), and why.
    pub sync_hold: bool,
    pub sync_hold_reason: String,
}

/// Whether to hold the instances back, from rvsd's sync state (None: rvsd did not answer).
/// An rvsd that does not answer holds a director that is not master (one that died took
/// its tap with it; the one that comes back must first sync), but a master keeps the last
/// decision: an rvsd that is only slow must not cost the mastership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub held: bool,
    pub reason: String,
}

impl Hold {
    /// Before rvsd has answered: held.
    pub fn initial() -> Hold {
        Hold { held: true, reason: "rvsd has not answered yet".into() }
    }

    pub fn next(&self, sync: Option<&rvs_proto::SyncInfo>, master: bool) -> Hold {
        match sync {
            None if master => self.clone(),
            None => Hold { held: true, reason: "rvsd does not answer".into() },
            Some(s) if !s.enabled => Hold { held: false, reason: "rvsd has no [sync]".into() },
            Some(s) if s.initial_sync_ready => Hold {
                held: false,
                reason: format!("rvsd's start-up sync is {} ({} ms)", s.initial_sync, s.initial_sync_ms),
            },
            Some(s) => Hold {
                held: true,
                reason: format!(
                    "rvsd's start-up sync is {} ({} ms so far)",
                    s.initial_sync, s.initial_sync_ms
                ),
            },
        }
    }
}

impl VrrpStatus {
    /// The instance that moves `addr`, if one does.
    pub fn owner_of(&self, addr: IpAddr) -> Option<&InstanceStatus> {
        self.instances.iter().find(|i| i.vips.contains(&addr) || i.lips.contains(&addr))
    }
}

/// Where the HTTP thread reads the status.
#[derive(Clone, Default)]
pub struct StatusHandle(Arc<Mutex<Arc<VrrpStatus>>>);

impl StatusHandle {
    pub fn get(&self) -> Arc<VrrpStatus> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn set(&self, s: VrrpStatus) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
}

enum Msg {
    Plan(Box<Plan>),
    Stop,
}

/// The VRRP thread.
pub struct Vrrp {
    tx: Sender<Msg>,
    status: StatusHandle,
    join: Option<JoinHandle<()>>,
}

impl Vrrp {
    pub fn spawn(opts: VrrpOptions, socket: String, plan: Plan) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let status = StatusHandle::default();
        let st = status.clone();
        let join = std::thread::Builder::new()
            .name("rvs-vrrp".into())
            .spawn(move || run(opts, &socket, plan, &rx, &st))?;
        Ok(Vrrp { tx, status, join: Some(join) })
    }

    pub fn update(&self, plan: Plan) {
        let _ = self.tx.send(Msg::Plan(Box::new(plan)));
    }

    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }
}

impl Drop for Vrrp {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(j) = self.join.take() {
            if j.join().is_err() {
                tracing::error!("the VRRP thread panicked");
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Seen {
    state: VrrpState,
    priority: u8,
    transitions: u64,
    since: Option<SystemTime>,
}

/// A notify script's command: as `run_as` (its user and group, no supplementary groups:
/// std drops them when root changes user) when that is not already rvs-ctrl's.
fn notify_command(argv: &[String], run_as: Option<&crate::keepalived::RunAs>) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]).stdin(Stdio::null());
    if let Some(r) = run_as {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if (r.uid, r.gid) != (uid, gid) {
            c.uid(r.uid).gid(r.gid);
        }
    }
    c
}

/// The operator's notify scripts, run after ownership follows a state.
#[derive(Default)]
struct Scripts(Vec<Child>);

impl Scripts {
    fn run(&mut self, argv: &[String], run_as: Option<&crate::keepalived::RunAs>) {
        let user = run_as.map_or("rvs-ctrl's", |r| r.name.as_str());
        tracing::info!(script = ?argv, user, "running VRRP notify script");
        match notify_command(argv, run_as).spawn() {
            Ok(c) => self.0.push(c),
            Err(e) => tracing::error!(script = ?argv, user, error = %e, "cannot run notify script"),
        }
    }
    fn notify(&mut self, n: &crate::keepalived::Notify, kind: &str, name: &str, state: VrrpState, prio: u8) {
        let specific = match state {
            VrrpState::Master => &n.master,
            VrrpState::Backup => &n.backup,
            VrrpState::Fault => &n.fault,
            VrrpState::Stop => &n.stop,
            VrrpState::Init => &None,
        };
        if let Some(s) = specific {
            self.run(&s.script.argv, s.run_as.as_ref());
        }
        if let Some(s) = &n.any {
            let mut argv = s.script.argv.clone();
            argv.extend([kind.to_string(), name.to_string(), state.as_str().to_string(), prio.to_string()]);
            self.run(&argv, s.run_as.as_ref());
        }
    }
    fn reap(&mut self) {
        self.0.retain_mut(|c| match c.try_wait() {
            Ok(Some(st)) => {
                if !st.success() {
                    tracing::warn!(pid = c.id(), status = %st, "VRRP notify script failed");
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }
}

fn log_plan(plan: &Plan) {
    for i in &plan.instances {
        tracing::info!(
            instance = %i.name, vrid = i.vrid, interface = %i.interface, kernel_interface = %i.kernel_if,
            vips = ?i.vips, lips = ?i.lips, "VRRP instance"
        );
    }
}

fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll(2) on one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
}

struct Loop<'a> {
    socket: &'a str,
    plan: Plan,
    seen: BTreeMap<String, Seen>,
    groups: BTreeMap<String, VrrpState>,
    scripts: Scripts,
    /// Notifies waiting for the ownership change they follow.
    pending: Vec<(bool, String, VrrpState, u8)>,
    owned: Option<Vec<IpAddr>>,
    last_error: Option<String>,
    /// Addresses a previous plan moved and the current one does not: released once.
    orphaned: BTreeSet<IpAddr>,
    /// `lvs_sync_daemon` was compared with rvsd's sync (once per plan).
    sync_checked: bool,
    hold: Hold,
    hold_file: std::path::PathBuf,
    hold_checked: Instant,
    /// The kernel interfaces' ifindex as last seen (rvsd's taps: a new one means rvsd
    /// restarted and the tap was made anew).
    ifindex: BTreeMap<String, u64>,
}

impl<'a> Loop<'a> {
    fn new(socket: &'a str, hold_file: std::path::PathBuf) -> Self {
        Loop {
            socket,
            plan: Plan::default(),
            seen: BTreeMap::new(),
            groups: BTreeMap::new(),
            scripts: Scripts::default(),
            pending: Vec::new(),
            owned: None,
            last_error: None,
            orphaned: BTreeSet::new(),
            sync_checked: false,
            hold: Hold::initial(),
            hold_file,
            hold_checked: Instant::now(),
            ifindex: BTreeMap::new(),
        }
    }

    fn report(&mut self, r: fifo::Report) {
        if r.group {
            // Only a change runs the group's scripts: keepalived writes every state again
            // on a reload (fifo_write_vrrp_states_on_reload) without running them.
            if self.groups.insert(r.name.clone(), r.state) != Some(r.state) {
                tracing::info!(group = %r.name, state = r.state.as_str(), "VRRP sync group state");
                self.pending.push((true, r.name, r.state, r.priority));
            }
            return;
        }
        let Some(s) = self.seen.get_mut(&r.name) else {
            tracing::debug!(instance = %r.name, "state of an instance rvs-ctrl does not know");
            return;
        };
        s.priority = r.priority;
        if s.state != r.state {
            tracing::info!(instance = %r.name, from = s.state.as_str(), to = r.state.as_str(), priority = r.priority, "VRRP state");
            s.state = r.state;
            s.transitions += 1;
            s.since = Some(SystemTime::now());
            self.pending.push((false, r.name, r.state, r.priority));
        }
    }

    /// A lower-priority router advertised while we are master: it believed itself master
    /// for a moment and its director may have announced the addresses (gratuitous ARPs
    /// that now point the real servers and clients at it). rvsd announces them again.
    fn reassert(&mut self, name: &str) {
        if self.seen.get(name).is_none_or(|s| s.state != VrrpState::Master) {
            return;
        }
        let Some(i) = self.plan.instances.iter().find(|i| i.name == name) else { return };
        let addrs: Vec<IpAddr> = i.vips.iter().chain(&i.lips).copied().collect();
        match owner::Rvsd(self.socket).take_addrs(&addrs) {
            Ok(_) => {
                tracing::info!(instance = name, addresses = ?addrs, "a lower-priority router advertised: rvsd announces again")
            }
            Err(e) => tracing::warn!(instance = name, error = %e, "cannot make rvsd announce again"),
        }
    }

    /// Follows rvsd's start-up sync into the hold file (every second; every poll while held).
    fn update_hold(&mut self, force: bool) {
        if !force && self.hold_checked.elapsed() < if self.hold.held { POLL } else { RECONCILE_EVERY } {
            return;
        }
        self.hold_checked = Instant::now();
        let master = self.seen.values().any(|s| s.state == VrrpState::Master);
        let next = self.hold.next(owner::Rvsd(self.socket).sync().ok().as_ref(), master);
        if next.held != self.hold.held || force {
            write_hold(&self.hold_file, next.held);
            if next.held {
                tracing::info!(reason = %next.reason, "VRRP instances held back (priority 1) until rvsd has its peers' sessions");
            } else if self.hold.held {
                tracing::info!(reason = %next.reason, "VRRP hold released");
            }
        }
        self.hold = next;
    }

    /// Whether one of the instances' interfaces came back with a new ifindex (rvsd
    /// restarted) while no instance on it is MASTER. keepalived 2.2.7 follows such a tap
    /// with `dynamic_interfaces` only partly: seen in the lab, a `nopreempt` BACKUP on it
    /// never took over when its master went away (neither the priority-0 advert nor the
    /// master-down timer moved it). A fresh keepalived listens on the new tap from the start.
    fn tap_renewed(&mut self) -> bool {
        let mut renewed = false;
        for i in &self.plan.instances {
            let path = format!("/sys/class/net/{}/ifindex", i.kernel_if);
            let Some(idx) = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u64>().ok())
            else {
                continue;
            };
            let master = self.seen.get(&i.name).is_some_and(|s| s.state == VrrpState::Master);
            if let Some(old) = self.ifindex.insert(i.kernel_if.clone(), idx) {
                if old != idx && !master {
                    tracing::info!(interface = %i.kernel_if, old, new = idx, "rvsd's tap is back with a new index: restarting keepalived on it");
                    renewed = true;
                }
            }
        }
        renewed
    }

    /// Every instance to `state` (keepalived gone or stopping).
    fn all(&mut self, state: VrrpState) {
        if state == VrrpState::Init {
            // keepalived is gone: a new one reports the groups afresh.
            self.groups.clear();
        }
        for (name, s) in &mut self.seen {
            if s.state != state {
                if state != VrrpState::Init {
                    self.pending.push((false, name.clone(), state, s.priority));
                }
                s.state = state;
                s.transitions += 1;
                s.since = Some(SystemTime::now());
            }
        }
    }

    fn reconcile(&mut self) {
        let desired = self.plan.desired(|n| self.seen.get(n).is_some_and(|s| s.state == VrrpState::Master));
        let managed: BTreeSet<IpAddr> = self.plan.managed().union(&self.orphaned).copied().collect();
        let mut rvsd = owner::Rvsd(self.socket);
        match owner::reconcile(&mut rvsd, &managed, &desired) {
            Ok(c) => {
                self.orphaned.clear();
                if !c.taken.is_empty() {
                    tracing::info!(addresses = ?c.taken, "rvsd takes over (VRRP master)");
                }
                if !c.released.is_empty() {
                    tracing::info!(addresses = ?c.released, "rvsd releases (VRRP not master)");
                }
                if self.last_error.take().is_some() {
                    tracing::info!("rvsd answers again: ownership follows VRRP");
                }
                let mut owned = owner::Ownership::owned(&mut rvsd).ok();
                if let Some(o) = &mut owned {
                    o.retain(|a| self.plan.managed().contains(a));
                }
                self.owned = owned.map(|o| o.into_iter().collect());
                if !self.sync_checked {
                    self.sync_checked = true;
                    self.check_sync();
                }
            }
            Err(e) => {
                if self.last_error.as_deref() != Some(&e) {
                    tracing::warn!(error = %e, "cannot make rvsd's ownership follow VRRP (retrying every second)");
                }
                self.last_error = Some(e);
                self.owned = None;
            }
        }
        for (group, name, state, prio) in std::mem::take(&mut self.pending) {
            let notify = if group {
                self.plan.groups.iter().find(|g| g.name == name).map(|g| g.notify.clone())
            } else {
                self.plan.instances.iter().find(|i| i.name == name).map(|i| i.notify.clone())
            };
            if let Some(n) = notify {
                self.scripts.notify(&n, if group { "GROUP" } else { "INSTANCE" }, &name, state, prio);
            }
        }
    }

    /// rvsd's session sync is set in its TOML: say where it differs from `lvs_sync_daemon`.
    fn check_sync(&self) {
        let Some(d) = &self.plan.sync_daemon else { return };
        match owner::Rvsd(self.socket).sync() {
            Ok(s) => {
                for m in conf::sync_mismatch(d, &s) {
                    tracing::warn!("{}: lvs_sync_daemon: {m}", d.loc);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot ask rvsd for its sync state"),
        }
    }

    fn status(&self, sup: &Supervisor) -> VrrpStatus {
        VrrpStatus {
            keepalived_pid: sup.pid(),
            keepalived_restarts: sup.restarts,
            instances: self
                .plan
                .instances
                .iter()
                .map(|i| {
                    let s = self.seen.get(&i.name);
                    InstanceStatus {
                        name: i.name.clone(),
                        state: s.map_or(VrrpState::Init, |s| s.state),
                        priority: s
                            .map_or(i.priority, |s| if s.priority == 0 { i.priority } else { s.priority }),
                        base_priority: i.priority,
                        vrid: i.vrid,
                        interface: i.interface.clone(),
                        kernel_if: i.kernel_if.clone(),
                        vips: i.vips.clone(),
                        lips: i.lips.clone(),
                        group: i.group.clone(),
                        transitions: s.map_or(0, |s| s.transitions),
                        since: s.and_then(|s| s.since),
                    }
                })
                .collect(),
            groups: self
                .plan
                .groups
                .iter()
                .map(|g| (g.name.clone(), *self.groups.get(&g.name).unwrap_or(&VrrpState::Init)))
                .collect(),
            owned: self.owned.clone(),
            last_error: self.last_error.clone(),
            sync_hold: self.hold.held,
            sync_hold_reason: self.hold.reason.clone(),
        }
    }

    fn set_plan(&mut self, plan: Plan) {
        let now = plan.managed();
        self.orphaned.extend(self.plan.managed().difference(&now));
        self.orphaned.retain(|a| !now.contains(a));
        let fresh = Seen { state: VrrpState::Init, priority: 0, transitions: 0, since: None };
        self.seen.retain(|n, _| plan.instances.iter().any(|i| &i.name == n));
        for i in &plan.instances {
            self.seen.entry(i.name.clone()).or_insert_with(|| fresh.clone());
        }
        self.plan = plan;
        self.sync_checked = false;
    }
}

/// Writes the hold file keepalived tracks (atomically: keepalived reads it on inotify).
fn write_hold(path: &std::path::Path, held: bool) {
    let tmp = path.with_extension("hold.tmp");
    let res =
        std::fs::write(&tmp, if held { "1\n" } else { "0\n" }).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        tracing::error!(file = %path.display(), error = %e, "cannot write the VRRP hold file");
    }
}

fn run(opts: VrrpOptions, socket: &str, plan: Plan, rx: &Receiver<Msg>, status: &StatusHandle) {
    let ko = &opts.keepalived;
    let mut fifo = match Fifo::create(&ko.fifo()) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(fifo = %ko.fifo().display(), error = %e, "cannot make keepalived's notify FIFO: no VRRP");
            status.set(VrrpStatus { last_error: Some(format!("notify FIFO: {e}")), ..Default::default() });
            // Still answer stop requests.
            while !matches!(rx.recv(), Ok(Msg::Stop) | Err(_)) {}
            return;
        }
    };
    let mut sup = Supervisor::new(ko.clone());
    let mut lp = Loop::new(socket, conf::hold_file(&ko.fifo()));
    // Before keepalived starts: held unless rvsd says otherwise now.
    write_hold(&lp.hold_file, true);
    lp.update_hold(true);
    let write = |plan: &Plan| {
        if plan.text.is_empty() {
            return true;
        }
        match keepalived::write_conf(&ko.conf(), &plan.text) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(file = %ko.conf().display(), error = %e, "cannot write keepalived's configuration");
                false
            }
        }
    };
    write(&plan);
    log_plan(&plan);
    lp.set_plan(plan);
    let mut last = Instant::now() - RECONCILE_EVERY;
    let mut remapped = None;
    loop {
        let mut force = false;
        let msg = match remapped.take() {
            Some(p) => Ok(Msg::Plan(Box::new(p))),
            None => rx.try_recv(),
        };
        match msg {
            Ok(Msg::Stop) | Err(mpsc::TryRecvError::Disconnected) => break,
            Ok(Msg::Plan(p)) => {
                if p.text != lp.plan.text && write(&p) {
                    log_plan(&p);
                    if !p.text.is_empty() {
                        sup.reload();
                    }
                }
                lp.set_plan(*p);
                force = true;
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        for ev in sup.poll(!lp.plan.instances.is_empty()) {
            match ev {
                keepalived::Event::Started(pid) => tracing::info!(pid, "keepalived started (VRRP)"),
                keepalived::Event::Exited(st) => {
                    tracing::error!(status = %st, "keepalived exited: releasing the VRRP addresses, restarting it");
                    lp.all(VrrpState::Init);
                    force = true;
                }
                keepalived::Event::StartFailed(e) => {
                    tracing::error!(binary = %ko.binary.display(), error = %e, "cannot start keepalived")
                }
            }
        }
        wait_readable(fifo.fd(), POLL);
        for line in fifo.read_lines() {
            tracing::debug!(%line, "keepalived notify");
            if let Some(r) = fifo::parse_line(&line) {
                lp.report(r);
                force = true;
            } else if let Some(name) = fifo::parse_lower_prio(&line) {
                lp.reassert(name);
            }
        }
        let was_held = lp.hold.held;
        lp.update_hold(false);
        if force || last.elapsed() >= RECONCILE_EVERY || was_held != lp.hold.held {
            last = Instant::now();
            if lp.tap_renewed() && sup.pid().is_some() {
                sup.restart();
                lp.all(VrrpState::Init);
            }
            if let Some(src) = lp.plan.source.clone().filter(|_| opts.ifaces.remap(&lp.plan)) {
                let p = conf::plan(&src, &opts.ifaces, &ko.fifo());
                for (old, new) in lp.plan.instances.iter().zip(&p.instances) {
                    if old.kernel_if != new.kernel_if {
                        tracing::info!(instance = %new.name, interface = %new.interface, old = %old.kernel_if, new = %new.kernel_if, "rvsd's tap exists now: the VRRP instance runs on it");
                    }
                }
                remapped = Some(p);
            }
            lp.reconcile();
            status.set(lp.status(&sup));
        }
        lp.scripts.reap();
    }

    tracing::info!("stopping keepalived; releasing the VRRP addresses");
    sup.stop();
    for line in fifo.read_lines() {
        if let Some(r) = fifo::parse_line(&line) {
            lp.report(r);
        }
    }
    lp.all(VrrpState::Stop);
    lp.reconcile();
    status.set(lp.status(&sup));
    let until = Instant::now() + Duration::from_secs(2);
    while !lp.scripts.0.is_empty() && Instant::now() < until {
        lp.scripts.reap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests;
