//! The rvs-ctrl daemon: configuration, health checks and the sync to rvsd, tied together.
//!
//! Two threads. The main one runs the checks ([`Prober`], one poll(2) loop), feeds their
//! results to the pure [`Health`] state machines, runs notify scripts and hands every new
//! desired table to the sync thread ([`crate::sync::run`]), which owns the connection to
//! rvsd. So a slow or absent rvsd never delays a health check, and rvsd receives only the
//! latest table when it comes back.
//!
//! SIGHUP re-reads the configuration: on an error the running one stays (each error is
//! logged with file:line); on success checkers whose settings did not change keep their
//! state and rvsd receives only the difference. SIGTERM/SIGINT stop rvs-ctrl and leave
//! rvsd's table as it is, so traffic keeps flowing.
//!
//! Ownership: rvs-ctrl owns rvsd's whole virtual-service table. Whatever rvsd has that the
//! configuration does not name (services loaded from rvsd's own TOML, changes made with
//! rvsadm) is removed or reverted at the next sync (at the latest [`crate::sync::RELIST_EVERY`]
//! later). So when rvs-ctrl manages rvsd, start rvsd with a TOML that has no `[[service]]`.
//!
//! With `listen`, a third thread serves `/metrics` and the JSON API ([`crate::api`]). API
//! changes come to the main loop as [`overrides::Op`]s and are kept as overrides on top of the file
//! configuration ([`crate::overrides`]): they survive reloads, not restarts.

use crate::api;
use crate::check::probe::Prober;
use crate::check::state::{CheckerId, Event, Health, Table};
use crate::keepalived::{self, CheckKind, ConfigError, Diag, Severity};
use crate::overrides::{self, Overrides};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The loop looks at its signal flags at least this often.
const TICK: Duration = Duration::from_secs(1);

/// What only the checks' timings and counters changed (durations, runs) reaches the HTTP
/// thread at most this often; state changes reach it at once. Building the status is a walk
/// over every checker, too much to do after each of thousands of results a second.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// How the file is read (`-i`: keepalived's config id).
    pub read: keepalived::Options,
    pub socket: String,
    /// Where to serve `/metrics`, the JSON API and the dashboard; None: no HTTP.
    pub listen: Option<std::net::SocketAddr>,
    /// Who may change things through the API (default: nobody, read-only).
    pub api_auth: api::auth::Auth,
    /// Announce the VIPs with quorum to BIRD ([`crate::bird`]); None: no routing daemon.
    pub bird: Option<crate::bird::BirdOptions>,
    /// Run keepalived for the `vrrp_instance` blocks ([`crate::vrrp`]); None: `--no-vrrp`.
    pub vrrp: Option<crate::vrrp::VrrpOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Listen(#[from] api::ListenError),
}

/// What tells the loop to stop or reload, and wakes it.
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
    /// Readable when a signal arrived (drained by the loop); nonblocking.
    pub wake: Option<RawFd>,
    /// The other end of `wake`: the HTTP thread writes to it to wake the loop.
    pub waker: Option<UnixStream>,
}

/// Logs warnings and infos of a configuration, each with its file:line.
pub fn log_diags(diags: &[Diag]) {
    for d in diags {
        match d.severity {
            Severity::Error => tracing::error!("{d}"),
            Severity::Warning => tracing::warn!("{d}"),
            Severity::Info => tracing::info!("{d}"),
        }
    }
}

/// A small xorshift generator for the warmup jitter; quality is not a concern.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Jitter((t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32) | 1)
    }
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Scripts(Vec<Child>);

impl Scripts {
    fn run(&mut self, argv: &[String]) {
        match Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).spawn() {
            Ok(c) => self.0.push(c),
            Err(e) => tracing::error!(script = ?argv, error = %e, "cannot run notify script"),
        }
    }
    fn reap(&mut self) {
        self.0.retain_mut(|c| match c.try_wait() {
            Ok(Some(st)) if !st.success() => {
                tracing::warn!(pid = c.id(), status = %st, "notify script failed");
                false
            }
            Ok(Some(_)) => false,
            Ok(None) => true,
            Err(_) => false,
        });
    }
}

fn handle(events: Vec<Event>, scripts: &mut Scripts) {
    for e in events {
        match e {
            Event::RealUp { vs, rs } => {
                tracing::info!(service = %vs.addr, protocol = vs.protocol.as_str(), real = %rs, "real server up")
            }
            Event::RealDown { vs, rs, reason } => tracing::warn!(
                service = %vs.addr, protocol = vs.protocol.as_str(), real = %rs, %reason, "real server down"
            ),
            Event::WeightChanged { vs, rs, weight } => {
                tracing::info!(service = %vs.addr, real = %rs, weight, "weight set by a checker")
            }
            Event::QuorumLost { vs, live_weight } => {
                tracing::warn!(service = %vs.addr, protocol = vs.protocol.as_str(), live_weight, "quorum lost")
            }
            Event::QuorumRegained { vs, live_weight } => {
                tracing::info!(service = %vs.addr, protocol = vs.protocol.as_str(), live_weight, "quorum regained")
            }
            Event::Run(script) => {
                tracing::info!(script = ?script.argv, from = %script.loc, "running notify script");
                scripts.run(&script.argv);
            }
        }
    }
}

fn kind_name(k: &CheckKind) -> &'static str {
    match k {
        CheckKind::Tcp => "TCP_CHECK",
        CheckKind::Smtp { .. } => "SMTP_CHECK",
        CheckKind::Http { tls: false, .. } => "HTTP_GET",
        CheckKind::Http { tls: true, .. } => "SSL_GET",
        CheckKind::Misc { .. } => "MISC_CHECK",
        CheckKind::Udp { .. } => "UDP_CHECK",
        CheckKind::Dns { .. } => "DNS_CHECK",
        CheckKind::File { .. } => "FILE_CHECK",
        CheckKind::Ping => "PING_CHECK",
    }
}

/// Whether service `key` serves from its sorry server now.
fn sorry_active(health: &Health, key: &rvs_proto::ServiceKey) -> bool {
    let vss = &health.config().virtual_servers;
    vss.iter()
        .position(|v| v.serves(key))
        .is_some_and(|i| vss[i].sorry_server.is_some() && !health.quorum_up(i))
}

/// The table to send to rvsd: what the checks call for, with the API's overrides.
fn effective(health: &Health, ov: &Overrides) -> Table {
    let mut t = health.desired();
    overrides::apply(&mut t, ov, &|k| sorry_active(health, k));
    t
}

/// What the HTTP thread shows.
fn status(
    health: &Health,
    ov: &Overrides,
    desired: &Table,
    durations: &HashMap<CheckerId, Duration>,
    errors: &HashMap<CheckerId, String>,
) -> api::Status {
    let mut services = Vec::new();
    for (i, vs) in health.config().virtual_servers.iter().enumerate() {
        // A virtual_server group shows each member, with the same checks.
        for &key in &vs.members {
            let mut reals: Vec<api::RsStatus> = vs
                .reals
                .iter()
                .enumerate()
                .map(|(r, rs)| api::RsStatus {
                    addr: rs.addr,
                    method: vs.real_method(rs).0,
                    file_weight: Some(rs.weight),
                    thresholds: rs.thresholds(),
                    alive: health.alive(i, r),
                    override_: ov.get(&(key, rs.addr)).map(|o| o.describe()),
                    checks: rs
                        .checkers
                        .iter()
                        .enumerate()
                        .map(|(c, ck)| {
                            let id = CheckerId { vs: i, rs: r, ck: c };
                            api::CheckStatus {
                                kind: kind_name(&ck.kind),
                                target: ck.target,
                                up: health.checker_up(id),
                                last_duration: durations.get(&id).copied(),
                                runs: health.checker_runs(id),
                                last_error: errors.get(&id).cloned(),
                            }
                        })
                        .collect(),
                })
                .collect();
            for ((k, addr), o) in ov {
                if let (true, overrides::Override::Added(_, method)) = (*k == key, o) {
                    reals.push(api::RsStatus {
                        addr: *addr,
                        method: *method,
                        file_weight: None,
                        thresholds: Default::default(),
                        alive: true,
                        override_: Some(o.describe()),
                        checks: Vec::new(),
                    });
                }
            }
            services.push(api::VsStatus {
                key,
                group: vs.group.clone(),
                scheduler: vs.scheduler.clone(),
                options: vs.options(),
                quorum: vs.quorum,
                hysteresis: vs.hysteresis,
                quorum_up: health.quorum_up(i),
                sorry_server: vs.sorry_server,
                local_addrs: vs.local_addrs.clone(),
                reals,
            });
        }
    }
    api::Status { services, desired: desired.clone() }
}

/// Starts, updates or idles the VRRP thread for `config` (it stops keepalived and releases
/// the addresses when the configuration no longer has an instance).
fn vrrp_follow(
    opts: &Options,
    config: &keepalived::Config,
    vrrp: &mut Option<crate::vrrp::Vrrp>,
    shown: &std::sync::Mutex<Option<crate::vrrp::StatusHandle>>,
) -> Result<(), DaemonError> {
    let Some(vo) = &opts.vrrp else { return Ok(()) };
    let plan = crate::vrrp::conf::plan(config, &vo.ifaces, &vo.keepalived.fifo());
    match vrrp {
        Some(v) => v.update(plan),
        None if !plan.instances.is_empty() => {
            let v = crate::vrrp::Vrrp::spawn(vo.clone(), opts.socket.clone(), plan)
                .map_err(DaemonError::Thread)?;
            *shown.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.status());
            *vrrp = Some(v);
        }
        None => {}
    }
    Ok(())
}

fn drain(fd: Option<RawFd>) {
    let Some(fd) = fd else { return };
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from a nonblocking descriptor the caller owns.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Runs until `signals.stop` is set. The configuration is loaded first; an error there
/// is returned (nothing is sent to rvsd).
pub fn run(opts: &Options, signals: &Signals) -> Result<(), DaemonError> {
    let loaded = keepalived::load_with(&opts.config, &opts.read)?;
    log_diags(&loaded.diags);
    let mut jitter = Jitter::seeded();
    // The file's configuration; the API's service changes go on top of it.
    let mut file_config = loaded.config;
    let mut services_ov = overrides::ServiceOverrides::default();
    let mut health = Health::new(file_config.clone(), Instant::now(), &mut || jitter.next());
    tracing::info!(
        config = %opts.config.display(),
        router_id = health.config().router_id.as_deref().unwrap_or("-"),
        services = health.config().virtual_servers.len(),
        checkers = health.checker_ids().count(),
        "configuration loaded"
    );

    let (tx, rx) = mpsc::channel::<Arc<crate::sync::Wanted>>();
    let socket = opts.socket.clone();
    let sync = std::thread::Builder::new()
        .name("rvs-sync".into())
        .spawn(move || crate::sync::run(&socket, &rx))
        .map_err(DaemonError::Thread)?;
    let mut ov = Overrides::new();
    let mut sent = effective(&health, &ov);
    let mut sent_timeouts = health.config().lvs_timeouts;
    let wanted = |table: &Table, timeouts| Arc::new(crate::sync::Wanted { table: table.clone(), timeouts });
    // The receiver lives until the sender is dropped, so sending cannot fail here.
    let _ = tx.send(wanted(&sent, sent_timeouts));

    let shared = Arc::new(api::Shared::default());
    let vrrp_shown = Arc::new(std::sync::Mutex::new(None));
    let mut vrrp = None;
    vrrp_follow(opts, &file_config, &mut vrrp, &vrrp_shown)?;
    if let Some(b) = &file_config.cluster {
        crate::cluster::check_later(b.clone(), opts.socket.clone());
    }
    let (op_tx, op_rx) = mpsc::channel::<api::OpRequest>();
    let mut http = Vec::new();
    if let Some(addr) = opts.listen {
        let server = api::bind(addr)?;
        tracing::info!(
            %addr,
            api = if opts.api_auth.writable() { "read-write with the token" } else { "read-only" },
            "serving the dashboard (/), /metrics and /api/v1 over HTTP"
        );
        let dashboard = Arc::new(crate::dashboard::Dashboard::new());
        let backend = api::Live {
            shared: shared.clone(),
            socket: opts.socket.clone(),
            ops: op_tx,
            waker: signals.waker.as_ref().and_then(|w| w.try_clone().ok()),
            dashboard: Some(dashboard.clone()),
            vrrp: vrrp_shown.clone(),
            ipvs_totals: Default::default(),
        };
        let stop = signals.stop.clone();
        let auth = opts.api_auth.clone();
        // The sampler asks rvsd on a connection of its own, so a slow answer never holds up
        // a request.
        let sampler = api::Live {
            shared: shared.clone(),
            socket: opts.socket.clone(),
            ops: mpsc::channel().0,
            waker: None,
            dashboard: None,
            vrrp: vrrp_shown.clone(),
            ipvs_totals: Default::default(),
        };
        http.push(
            std::thread::Builder::new()
                .name("rvs-http".into())
                .spawn(move || {
                    api::serve(&server, &backend, &auth, &stop);
                })
                .map_err(DaemonError::Thread)?,
        );
        let stop = signals.stop.clone();
        http.push(
            std::thread::Builder::new()
                .name("rvs-dashboard".into())
                .spawn(move || {
                    use api::Backend;
                    crate::dashboard::run_sampler(
                        &dashboard,
                        &|with_neighbours| {
                            let mut r = sampler.rvsd()?;
                            if with_neighbours {
                                r.neighbours = sampler.neighbours();
                            }
                            Ok(r)
                        },
                        &stop,
                    )
                })
                .map_err(DaemonError::Thread)?,
        );
    }
    let mut started: HashMap<CheckerId, Instant> = HashMap::new();
    let mut durations: HashMap<CheckerId, Duration> = HashMap::new();
    let mut errors: HashMap<CheckerId, String> = HashMap::new();
    shared.publish(status(&health, &ov, &sent, &durations, &errors));
    // What the table and the published status were computed from.
    let mut sent_gen = health.generation();
    let mut shown_gen = health.generation();
    let mut shown_at = Instant::now();
    let mut unshown_results = false;

    // The VIPs with quorum go to BIRD (withdrawn when rvsd stops answering or we stop).
    let bird = match &opts.bird {
        Some(b) => {
            Some(crate::bird::Announcer::spawn(b.clone(), opts.socket.clone()).map_err(DaemonError::Thread)?)
        }
        None => None,
    };
    let mut announced_gen = None;

    let mut prober = Prober::new();
    let mut scripts = Scripts(Vec::new());
    handle(health.startup_events(), &mut scripts);
    while !signals.stop.load(Ordering::Relaxed) {
        if signals.reload.swap(false, Ordering::Relaxed) {
            match keepalived::load_with(&opts.config, &opts.read) {
                Err(e) => {
                    tracing::error!("reload failed; keeping the running configuration");
                    for line in e.lines() {
                        tracing::error!("{line}");
                    }
                }
                Ok(l) => {
                    log_diags(&l.diags);
                    prober.cancel_all();
                    // The table and the status are computed again below.
                    sent_gen = sent_gen.wrapping_sub(1);
                    file_config = l.config;
                    if let Err(e) = vrrp_follow(opts, &file_config, &mut vrrp, &vrrp_shown) {
                        tracing::error!("{e}");
                    }
                    if let Some(b) = &file_config.cluster {
                        crate::cluster::check_later(b.clone(), opts.socket.clone());
                    }
                    let moot = overrides::prune_services(&file_config, &mut services_ov);
                    if moot > 0 {
                        tracing::info!(
                            moot,
                            "API service changes the new configuration makes moot were dropped"
                        );
                    }
                    let eff = overrides::effective_config(&file_config, &services_ov);
                    let (h, events) = health.reload(eff, Instant::now(), &mut || jitter.next());
                    health = h;
                    started.clear();
                    durations.clear();
                    errors.clear();
                    let dropped = overrides::prune(health.config(), &mut ov);
                    if dropped > 0 {
                        tracing::info!(
                            dropped,
                            "API overrides the new configuration makes moot were dropped"
                        );
                    }
                    handle(events, &mut scripts);
                    tracing::info!(
                        services = health.config().virtual_servers.len(),
                        "configuration reloaded"
                    );
                }
            }
        }
        let now = Instant::now();
        for id in health.take_due(now) {
            // Each start's own time: starting thousands takes a while, and the duration
            // shown is the check's, not its wait in this loop.
            started.insert(id, Instant::now());
            prober.start(id, health.checker_conf(id), now);
        }
        let mut until = health.next_due().map_or(now + TICK, |t| t.min(now + TICK));
        if unshown_results {
            // Results not shown yet wake the loop when they may be: else the counters on
            // /metrics would wait for the next check to fall due (a whole delay_loop).
            until = until.min(shown_at + PUBLISH_EVERY);
        }
        let results = prober.poll(until, signals.wake);
        drain(signals.wake);
        unshown_results |= !results.is_empty();
        for (id, outcome) in results {
            if let Some(t0) = started.remove(&id) {
                durations.insert(id, t0.elapsed());
            }
            if let crate::check::Outcome::Down(why) = &outcome {
                let c = health.checker_conf(id);
                tracing::debug!(target_addr = %c.target, checker = %c.loc, reason = %why, "check failed");
                errors.insert(id, why.clone());
            } else {
                errors.remove(&id);
            }
            let events = health.on_result(id, Instant::now(), outcome);
            handle(events, &mut scripts);
        }
        while let Ok(req) = op_rx.try_recv() {
            sent_gen = sent_gen.wrapping_sub(1);
            let op = req.op.clone();
            let r = match req.op {
                overrides::Op::Service(sop) => {
                    let r = overrides::apply_service_op(&file_config, &mut services_ov, sop);
                    if r.is_ok() {
                        // The effective configuration changed: health keeps what it knows.
                        let eff = overrides::effective_config(&file_config, &services_ov);
                        let (h, events) = health.reload(eff, Instant::now(), &mut || jitter.next());
                        health = h;
                        started.clear();
                        durations.clear();
                        errors.clear();
                        prober.cancel_all();
                        overrides::prune(health.config(), &mut ov);
                        handle(events, &mut scripts);
                    }
                    r
                }
                real_op => overrides::apply_op(health.config(), &mut ov, real_op),
            };
            match &r {
                Ok(()) => tracing::info!(op = ?op, "API change applied"),
                Err(e) => tracing::info!(op = ?op, error = %e, "API change refused"),
            }
            // The HTTP thread may have given up waiting; nothing to do then.
            let _ = req.reply.send(r);
        }
        // Only a change of the health states, a reload or an API change moves the table.
        let changed = sent_gen != health.generation();
        if changed {
            sent_gen = health.generation();
            let desired = effective(&health, &ov);
            let timeouts = health.config().lvs_timeouts;
            if desired != sent || timeouts != sent_timeouts {
                sent = desired;
                sent_timeouts = timeouts;
                let _ = tx.send(wanted(&sent, sent_timeouts));
            }
        }
        if let Some(b) = &bird {
            if announced_gen != Some(health.generation()) {
                announced_gen = Some(health.generation());
                b.want(crate::bird::quorum_vips(&health));
            }
        }
        if changed
            || shown_gen != health.generation()
            || (unshown_results && shown_at.elapsed() >= PUBLISH_EVERY)
        {
            shown_gen = health.generation();
            shown_at = Instant::now();
            unshown_results = false;
            shared.publish(status(&health, &ov, &sent, &durations, &errors));
        }
        scripts.reap();
    }

    tracing::info!("stopping; rvsd keeps its table");
    prober.cancel_all();
    handle(health.shutdown_events(), &mut scripts);
    drop(bird);
    drop(vrrp);
    drop(tx);
    if sync.join().is_err() {
        tracing::error!("the sync thread panicked");
    }
    for h in http {
        if h.join().is_err() {
            tracing::error!("an HTTP thread panicked");
        }
    }
    scripts.reap();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::fake::FakeRvsd;
    use crate::testutil::TempDir;
    use std::net::TcpListener;

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let stop = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < stop, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The whole daemon against a fake rvsd and real listeners: checks drive the table,
    /// SIGHUP-style reloads apply only the difference, a bad reload keeps the old config.
    #[test]
    fn daemon_end_to_end() {
        let dir = TempDir::new("daemon");
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = up.local_addr().unwrap().port();
        let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let marker = dir.path().join("down.txt");
        let conf = |extra: &str| {
            format!(
                "global_defs {{ router_id T }}\nlocal_address_group g {{ 127.0.0.200 }}\n\
                 virtual_server 127.0.0.100 80 {{\n delay_loop 0.1\n lb_algo rr\n lb_kind FNAT\n laddr_group_name g\n\
                 real_server 198.19.0.11 {up_port} {{\n TCP_CHECK {{\n connect_ip 127.0.0.1\n connect_timeout 1\n }}\n }}\n\
                 real_server 198.19.0.12 {dead_port} {{\n notify_down \"/bin/sh -c 'echo down > {}'\"\n TCP_CHECK {{\n connect_ip 127.0.0.1\n retry 0\n }}\n }}\n{extra}}}\n",
                marker.display()
            )
        };
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, conf("")).unwrap();
        let fake = FakeRvsd::start(Table::new());
        let opts = Options {
            config: path.clone(),
            read: Default::default(),
            socket: fake.path.clone(),
            listen: None,
            bird: None,
            api_auth: Default::default(),
            vrrp: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        let signals = Signals { stop: stop.clone(), reload: reload.clone(), wake: None, waker: None };
        let h = std::thread::spawn(move || run(&opts, &signals));

        let reals = |fake: &FakeRvsd| -> Vec<String> {
            fake.table()
                .values()
                .flat_map(|s| s.reals.keys().map(ToString::to_string).collect::<Vec<_>>())
                .collect()
        };
        // The checks go to the listeners on this host (connect_ip); the servers are others.
        let up_addr = format!("198.19.0.11:{up_port}");
        wait_until("the dead server removed", || reals(&fake) == [up_addr.clone()]);
        wait_until("notify_down", || marker.exists());

        // Reload adding a server with no checker: one AddReal, nothing removed.
        fake.take_log();
        std::fs::write(&path, conf(" real_server 198.19.0.13 9 {\n weight 4\n }\n")).unwrap();
        reload.store(true, Ordering::Relaxed);
        wait_until("the new server", || reals(&fake).len() == 2);
        let log = fake.take_log();
        assert!(log
            .iter()
            .all(|c| !matches!(c, rvs_proto::Command::DelService { .. } | rvs_proto::Command::Clear)));

        // A broken file is refused; the table stays.
        std::fs::write(&path, "virtual_server 127.0.0.100 80 {\n").unwrap();
        reload.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(reals(&fake).len(), 2);

        stop.store(true, Ordering::Relaxed);
        h.join().unwrap().unwrap();
        assert_eq!(reals(&fake).len(), 2, "stopping leaves rvsd as it is");
    }

    #[test]
    fn bad_config_is_returned() {
        let opts = Options {
            config: "/nonexistent/keepalived.conf".into(),
            read: Default::default(),
            socket: "/nonexistent.sock".into(),
            listen: None,
            bird: None,
            api_auth: Default::default(),
            vrrp: None,
        };
        let signals = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::default(),
            wake: None,
            waker: None,
        };
        assert!(matches!(run(&opts, &signals), Err(DaemonError::Config(_))));
    }

    #[test]
    fn jitter_is_in_unit_interval() {
        let mut j = Jitter::seeded();
        assert!((0..1000).map(|_| j.next()).all(|x| (0.0..1.0).contains(&x)));
    }
}
