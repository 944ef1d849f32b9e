//! Runs a parsed [`AdmCommand`] against rvsd: which control calls to make, and which
//! formatter prints the replies. The transport, output, input and clock are injected so
//! that this is testable without a daemon.

use super::args::{AdmCommand, Dialect, ListOptions, ListView, UsageError};
use super::format::{self, ipvsadm};
use super::report;
use rvs_proto::{
    Client, Command, ForwardMethod, ProtoError, Reply, ServiceInfo, ServiceKey, ServiceOptions, ServiceSpec,
};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// How rvsadm talks to rvsd; [`Client`] in the binary, a fake in tests.
pub trait Transport {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError>;
    /// A fresh connection, after rvsd closed this one on a request it could not read.
    fn reconnect(&mut self) -> Result<(), ProtoError> {
        Ok(())
    }
}

impl Transport for Client {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        Client::call(self, command)
    }
    fn reconnect(&mut self) -> Result<(), ProtoError> {
        Client::reconnect(self)
    }
}

/// Time source for `--rate`.
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration);
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// Interval between the two samples of `--rate`.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// rvsd refused the request; its message is printed as is.
    #[error("{0}")]
    Daemon(String),
    /// The control socket failed mid-conversation.
    #[error("{0}")]
    Transport(#[from] ProtoError),
    #[error("unexpected reply from rvsd to {0}")]
    Unexpected(&'static str),
    /// A bad line in `-R` input.
    #[error("{0}")]
    Usage(#[from] UsageError),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// `--reload` could not signal rvs-ctrl.
    #[error("{0}")]
    Reload(String),
    /// `-R` as ipvsadm: its last command was refused (every refusal was printed as it
    /// happened).
    #[error("the last command of the restore was refused")]
    Restore,
}

impl RunError {
    /// 1 for refusals, 2 for usage errors, 3 when rvsd could not be talked to.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Daemon(_)
            | RunError::Unexpected(_)
            | RunError::Output(_)
            | RunError::Reload(_)
            | RunError::Restore => 1,
            RunError::Usage(_) => 2,
            RunError::Transport(_) => 3,
        }
    }
}

/// Everything [`execute`] needs besides the command.
pub struct Env<'a> {
    pub transport: &'a mut dyn Transport,
    pub out: &'a mut dyn Write,
    /// `-R` as ipvsadm prints each refused line's message here (stderr) and goes on.
    pub err: &'a mut dyn Write,
    /// `-R` reads commands from here.
    pub input: &'a mut dyn BufRead,
    pub clock: &'a dyn Clock,
    /// rvsadm's own or ipvsadm's output layouts and `-R` syntax.
    pub dialect: Dialect,
}

/// ipvsadm's message when a listed service does not exist.
pub const NO_SUCH_SERVICE: &str = "No such service";

fn call(env: &mut Env<'_>, command: Command) -> Result<Reply, RunError> {
    env.transport.call(command)?.map_err(RunError::Daemon)
}

fn expect_ok(env: &mut Env<'_>, command: Command, what: &'static str) -> Result<(), RunError> {
    match call(env, command)? {
        Reply::Ok => Ok(()),
        _ => Err(RunError::Unexpected(what)),
    }
}

fn list_services(env: &mut Env<'_>) -> Result<Vec<ServiceInfo>, RunError> {
    match call(env, Command::ListServices)? {
        Reply::Services { services } => Ok(services),
        _ => Err(RunError::Unexpected("list_services")),
    }
}

/// All services, or just `key` (an error if it does not exist).
fn select(services: Vec<ServiceInfo>, key: Option<ServiceKey>) -> Result<Vec<ServiceInfo>, RunError> {
    match key {
        None => Ok(services),
        Some(k) => match services.into_iter().find(|s| s.spec.key == k) {
            Some(s) => Ok(vec![s]),
            None => Err(RunError::Daemon(NO_SUCH_SERVICE.into())),
        },
    }
}

/// The EditService request for `-E`: the protocol carries the whole spec, so the
/// service's current local addresses are kept (they are managed with -P/-Q).
pub fn edit_service_spec(
    key: ServiceKey,
    scheduler: &str,
    options: &ServiceOptions,
    current: &[ServiceInfo],
) -> ServiceSpec {
    let local_addrs =
        current.iter().find(|s| s.spec.key == key).map(|s| s.spec.local_addrs.clone()).unwrap_or_default();
    ServiceSpec { options: options.clone(), key, scheduler: scheduler.to_string(), local_addrs }
}

/// Executes one command, printing its output to `env.out`. rvsd's refusals are told in
/// ipvsadm's words ([`report::ipvsadm_wording`]).
pub fn execute(cmd: &AdmCommand, env: &mut Env<'_>) -> Result<(), RunError> {
    let dialect = env.dialect;
    execute_one(cmd, env).map_err(|e| match e {
        RunError::Daemon(m) => RunError::Daemon(report::ipvsadm_wording(cmd, &m, dialect)),
        other => other,
    })
}

/// The request of a command that is one table change as it stands (`Command::is_table_change`,
/// which `-R` may send in a batch); None for the others (`-E` reads the service first).
pub(super) fn table_change(cmd: &AdmCommand) -> Option<Command> {
    Some(match cmd {
        AdmCommand::AddService { key, scheduler, options } => {
            let spec = ServiceSpec {
                options: options.clone(),
                key: *key,
                scheduler: scheduler.clone(),
                local_addrs: Vec::new(),
            };
            Command::AddService { spec }
        }
        AdmCommand::DelService { key } => Command::DelService { key: *key },
        AdmCommand::Clear => Command::Clear,
        AdmCommand::AddReal { service, real } => Command::AddReal { service: *service, real: real.clone() },
        AdmCommand::EditReal { service, real } => Command::EditReal { service: *service, real: real.clone() },
        AdmCommand::DelReal { service, addr } => Command::DelReal { service: *service, addr: *addr },
        AdmCommand::AddLocalAddr { service, addr } => {
            Command::AddLocalAddr { service: *service, addr: *addr }
        }
        AdmCommand::DelLocalAddr { service, addr } => {
            Command::DelLocalAddr { service: *service, addr: *addr }
        }
        AdmCommand::SetTimeouts(t) => Command::SetTimeouts { timeouts: *t },
        _ => return None,
    })
}

fn execute_one(cmd: &AdmCommand, env: &mut Env<'_>) -> Result<(), RunError> {
    match cmd {
        AdmCommand::EditService { key, scheduler, options } => {
            let current = list_services(env)?;
            let spec = edit_service_spec(*key, scheduler, options, &current);
            expect_ok(env, Command::EditService { spec }, "edit_service")
        }
        AdmCommand::AddService { .. }
        | AdmCommand::DelService { .. }
        | AdmCommand::Clear
        | AdmCommand::AddReal { .. }
        | AdmCommand::EditReal { .. }
        | AdmCommand::DelReal { .. }
        | AdmCommand::AddLocalAddr { .. }
        | AdmCommand::DelLocalAddr { .. }
        | AdmCommand::SetTimeouts(_) => match table_change(cmd) {
            Some(c) => {
                let op = c.op();
                expect_ok(env, c, op)?;
                match cmd {
                    AdmCommand::AddReal { service, real } | AdmCommand::EditReal { service, real }
                        if real.method == ForwardMethod::FullNat =>
                    {
                        warn_missing_local_addrs(env, Some(service))
                    }
                    _ => Ok(()),
                }
            }
            None => Err(RunError::Unexpected("a table change")),
        },
        AdmCommand::GetLocalAddrs { service } => {
            let list = select(list_services(env)?, *service)?;
            Ok(env.out.write_all(format::local_addrs(&list).as_bytes())?)
        }
        AdmCommand::Save { numeric } => {
            let list = list_services(env)?;
            let text = match env.dialect {
                Dialect::Rvsadm => format::save(&list),
                // ipvsadm -S lists in its sorted order.
                Dialect::Ipvsadm => ipvsadm::save(&sorted(list), names(*numeric)),
            };
            Ok(env.out.write_all(text.as_bytes())?)
        }
        AdmCommand::List(opts) => list(opts, env),
        AdmCommand::Restore => super::restore::restore(env),
        AdmCommand::Zero { service } => expect_ok(env, Command::Zero { service: *service }, "zero"),
        AdmCommand::Reload { pidfile } => {
            reload(std::path::Path::new(pidfile), std::path::Path::new("/proc")).map(|_| ())
        }
        AdmCommand::InstallAlias { dir } => {
            let exe = std::env::current_exe()
                .map_err(|e| RunError::Reload(format!("cannot tell where this binary is: {e}")))?;
            let link = install_alias(std::path::Path::new(dir), &exe)?;
            Ok(writeln!(env.out, "{} -> {}", link.display(), exe.display())?)
        }
        AdmCommand::Takeover { addrs } => ownership(env, Command::Takeover { addrs: addrs.clone() }),
        AdmCommand::Release { addrs } => ownership(env, Command::Release { addrs: addrs.clone() }),
        AdmCommand::Owned => ownership(env, Command::Owned),
        AdmCommand::Cluster | AdmCommand::ClusterLeave => {
            let c = if matches!(cmd, AdmCommand::Cluster) {
                Command::ClusterStatus
            } else {
                Command::ClusterLeave
            };
            match call(env, c)? {
                Reply::Cluster { cluster } => Ok(env.out.write_all(format::cluster(&cluster).as_bytes())?),
                _ => Err(RunError::Unexpected("cluster")),
            }
        }
        AdmCommand::Neigh(change) => {
            let c = match change {
                None => Command::ListNeighbours,
                Some(change) => Command::Neighbour { change: change.clone() },
            };
            // A flush prints nothing, as `ip neigh flush` does (rvsd answers with what is left).
            let quiet = matches!(change, Some(rvs_proto::NeighChange::Flush { .. }));
            match call(env, c)? {
                Reply::Neighbours { .. } if quiet => Ok(()),
                Reply::Neighbours { workers, neighbours } => {
                    Ok(env.out.write_all(format::neighbours(workers, &neighbours).as_bytes())?)
                }
                _ => Err(RunError::Unexpected("neighbours")),
            }
        }
        AdmCommand::Sync => match call(env, Command::SyncStatus)? {
            Reply::Sync { sync } => Ok(env.out.write_all(format::sync(&sync).as_bytes())?),
            _ => Err(RunError::Unexpected("sync_status")),
        },
    }
}

/// Tells on stderr of FULLNAT real servers that no local address serves
/// ([`report::missing_local_addrs`]), after a change rvsd took: a listing that fails here
/// fails nothing.
pub(super) fn warn_missing_local_addrs(env: &mut Env<'_>, only: Option<&ServiceKey>) -> Result<(), RunError> {
    let Ok(list) = list_services(env) else { return Ok(()) };
    for w in report::missing_local_addrs(&list, only) {
        writeln!(env.err, "{w}")?;
    }
    Ok(())
}

/// `--takeover`, `--release`, `--owned`: all answer with what rvsd owns now.
fn ownership(env: &mut Env<'_>, command: Command) -> Result<(), RunError> {
    match call(env, command)? {
        Reply::Ownership { ownership } => Ok(env.out.write_all(format::ownership(&ownership).as_bytes())?),
        _ => Err(RunError::Unexpected("ownership")),
    }
}

/// `--install-alias DIR`: the symlink DIR/ipvsadm -> `exe`. An existing symlink there is
/// replaced; anything else (the real ipvsadm) is left alone and refused.
pub fn install_alias(dir: &std::path::Path, exe: &std::path::Path) -> Result<std::path::PathBuf, RunError> {
    let link = dir.join("ipvsadm");
    match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(&link)
            .map_err(|e| RunError::Reload(format!("cannot replace {}: {e}", link.display())))?,
        Ok(_) => {
            return Err(RunError::Reload(format!(
                "{} exists and is not a symlink (the real ipvsadm?); not replacing it",
                link.display()
            )))
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(exe, &link)
        .map_err(|e| RunError::Reload(format!("cannot create {}: {e}", link.display())))?;
    Ok(link)
}

/// `--reload`: reads rvs-ctrl's pid from `pidfile`, checks (in `proc`) that the process is
/// rvs-ctrl, and sends it SIGHUP. Returns the pid.
pub fn reload(pidfile: &std::path::Path, proc: &std::path::Path) -> Result<i32, RunError> {
    let what = pidfile.display();
    let text = std::fs::read_to_string(pidfile)
        .map_err(|e| {
            RunError::Reload(format!(
                "cannot read rvs-ctrl's pid file {what}: {e} (is rvs-ctrl running? its --pidfile must match rvsadm's --pidfile)"
            ))
        })?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| RunError::Reload(format!("{what} does not hold a pid: {:?}", text.trim())))?;
    let comm = std::fs::read_to_string(proc.join(pid.to_string()).join("comm"))
        .map_err(|_| RunError::Reload(format!("rvs-ctrl is not running (no process {pid}, from {what})")))?;
    if comm.trim() != "rvs-ctrl" {
        return Err(RunError::Reload(format!(
            "process {pid} (from {what}) is {:?}, not rvs-ctrl; not signalling it",
            comm.trim()
        )));
    }
    // SAFETY: kill(2) with a checked pid and a valid signal number.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(RunError::Reload(format!("cannot signal rvs-ctrl (pid {pid}): {e}")));
    }
    Ok(pid)
}

/// `--sort`, in libipvs's order (ipvs_cmp_services): services by address family (IPv4
/// first), protocol, address and port; real servers by address and port (ipvs_cmp_dests).
pub fn sorted(mut list: Vec<ServiceInfo>) -> Vec<ServiceInfo> {
    list.sort_by_key(|s| (s.spec.key.addr.is_ipv6(), s.spec.key.protocol, s.spec.key.addr));
    for s in &mut list {
        s.reals.sort_by_key(|r| r.spec.addr);
    }
    list
}

fn list(opts: &ListOptions, env: &mut Env<'_>) -> Result<(), RunError> {
    match (env.dialect, opts.view) {
        // ipvsadm prints the timeouts as rvsadm does, and has no --workers.
        (Dialect::Ipvsadm, ListView::Timeout | ListView::Workers) | (Dialect::Rvsadm, _) => {
            list_rvsadm(opts, env)
        }
        (Dialect::Ipvsadm, _) => list_ipvsadm(opts, env),
    }
}

fn list_rvsadm(opts: &ListOptions, env: &mut Env<'_>) -> Result<(), RunError> {
    let header = opts.service.is_none();
    let get = |env: &mut Env<'_>| -> Result<Vec<ServiceInfo>, RunError> {
        let l = select(list_services(env)?, opts.service)?;
        Ok(if opts.sort { sorted(l) } else { l })
    };
    let text = match opts.view {
        ListView::Services => format::services(&get(env)?, header),
        ListView::Thresholds => format::thresholds(&get(env)?, header),
        ListView::Stats => format::stats(&get(env)?, header, opts.exact),
        ListView::Rate => {
            let first = get(env)?;
            let t0 = env.clock.now();
            env.clock.sleep(RATE_INTERVAL);
            let second = get(env)?;
            let elapsed = env.clock.now().saturating_duration_since(t0);
            format::rates(&format::compute_rates(&first, &second, elapsed), header, opts.exact)
        }
        ListView::Connections => match call(env, Command::ListConns)? {
            Reply::Conns { conns } => format::conns(&conns),
            _ => return Err(RunError::Unexpected("list_conns")),
        },
        ListView::Timeout => match call(env, Command::GetTimeouts)? {
            Reply::Timeouts { timeouts } => format::timeouts(&timeouts),
            _ => return Err(RunError::Unexpected("get_timeouts")),
        },
        ListView::Workers => match call(env, Command::Stats)? {
            Reply::Stats { workers, ports } => format::workers(&workers, &ports),
            _ => return Err(RunError::Unexpected("stats")),
        },
    };
    Ok(env.out.write_all(text.as_bytes())?)
}

/// Names for ipvsadm's listings: numbers with `-n`, else the system's names.
fn names(numeric: bool) -> ipvsadm::Names<'static> {
    if numeric {
        ipvsadm::Names::NUMERIC
    } else {
        ipvsadm::Names::resolving(&ipvsadm::SystemNames)
    }
}

/// `-L` as `ipvsadm`: its layouts (`format::ipvsadm`).
fn list_ipvsadm(opts: &ListOptions, env: &mut Env<'_>) -> Result<(), RunError> {
    let (header, names) = (opts.service.is_none(), names(opts.numeric));
    let get = |env: &mut Env<'_>| -> Result<Vec<ServiceInfo>, RunError> {
        let l = select(list_services(env)?, opts.service)?;
        Ok(if opts.sort { sorted(l) } else { l })
    };
    let text = match opts.view {
        ListView::Services => ipvsadm::list(&get(env)?, ipvsadm::View::Plain, header, names),
        ListView::Thresholds => ipvsadm::list(&get(env)?, ipvsadm::View::Thresholds, header, names),
        ListView::Stats => {
            ipvsadm::list(&get(env)?, ipvsadm::View::Stats { exact: opts.exact }, header, names)
        }
        ListView::Rate => {
            let first = get(env)?;
            let t0 = env.clock.now();
            env.clock.sleep(RATE_INTERVAL);
            let second = get(env)?;
            let elapsed = env.clock.now().saturating_duration_since(t0);
            ipvsadm::rates(&format::compute_rates(&first, &second, elapsed), header, opts.exact, names)
        }
        ListView::Connections => match call(env, Command::ListConns)? {
            Reply::Conns { conns } => ipvsadm::conns(&conns, names),
            _ => return Err(RunError::Unexpected("list_conns")),
        },
        ListView::Timeout | ListView::Workers => return list_rvsadm(opts, env),
    };
    Ok(env.out.write_all(text.as_bytes())?)
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
