//! Runs a parsed [`AdmCommand`] against rvsd: which control calls to make, and which
//! formatter prints the replies. The transport, output, input and clock are injected so
//! that this is testable without a daemon.

use super::args::{self, Action, AdmCommand, Dialect, ListOptions, ListView, UsageError};
use super::format::{self, ipvsadm};
use rvs_proto::{Client, Command, ProtoError, Reply, ServiceInfo, ServiceKey, ServiceOptions, ServiceSpec};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// How rvsadm talks to rvsd; [`Client`] in the binary, a fake in tests.
pub trait Transport {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError>;
}

impl Transport for Client {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        Client::call(self, command)
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
}

impl RunError {
    /// 1 for refusals, 2 for usage errors, 3 when rvsd could not be talked to.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Daemon(_) | RunError::Unexpected(_) | RunError::Output(_) | RunError::Reload(_) => 1,
            RunError::Usage(_) => 2,
            RunError::Transport(_) => 3,
        }
    }
}

/// Everything [`execute`] needs besides the command.
pub struct Env<'a> {
    pub transport: &'a mut dyn Transport,
    pub out: &'a mut dyn Write,
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

/// Executes one command, printing its output to `env.out`.
pub fn execute(cmd: &AdmCommand, env: &mut Env<'_>) -> Result<(), RunError> {
    match cmd {
        AdmCommand::AddService { key, scheduler, options } => {
            let spec = ServiceSpec {
                options: options.clone(),
                key: *key,
                scheduler: scheduler.clone(),
                local_addrs: Vec::new(),
            };
            expect_ok(env, Command::AddService { spec }, "add_service")
        }
        AdmCommand::EditService { key, scheduler, options } => {
            let current = list_services(env)?;
            let spec = edit_service_spec(*key, scheduler, options, &current);
            expect_ok(env, Command::EditService { spec }, "edit_service")
        }
        AdmCommand::DelService { key } => expect_ok(env, Command::DelService { key: *key }, "del_service"),
        AdmCommand::Clear => expect_ok(env, Command::Clear, "clear"),
        AdmCommand::AddReal { service, real } => {
            expect_ok(env, Command::AddReal { service: *service, real: real.clone() }, "add_real")
        }
        AdmCommand::EditReal { service, real } => {
            expect_ok(env, Command::EditReal { service: *service, real: real.clone() }, "edit_real")
        }
        AdmCommand::DelReal { service, addr } => {
            expect_ok(env, Command::DelReal { service: *service, addr: *addr }, "del_real")
        }
        AdmCommand::AddLocalAddr { service, addr } => {
            expect_ok(env, Command::AddLocalAddr { service: *service, addr: *addr }, "add_local_addr")
        }
        AdmCommand::DelLocalAddr { service, addr } => {
            expect_ok(env, Command::DelLocalAddr { service: *service, addr: *addr }, "del_local_addr")
        }
        AdmCommand::SetTimeouts(t) => expect_ok(env, Command::SetTimeouts { timeouts: *t }, "set_timeouts"),
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
        AdmCommand::Restore => restore(env),
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
        AdmCommand::Sync => match call(env, Command::SyncStatus)? {
            Reply::Sync { sync } => Ok(env.out.write_all(format::sync(&sync).as_bytes())?),
            _ => Err(RunError::Unexpected("sync_status")),
        },
    }
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
            Reply::Stats { workers } => format::workers(&workers),
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

/// `-R`: one rvsadm command per line (as `-S` prints them), stopping at the first error.
/// Errors name the line number.
fn restore(env: &mut Env<'_>) -> Result<(), RunError> {
    let mut lines = Vec::new();
    let mut buf = String::new();
    loop {
        buf.clear();
        if env.input.read_line(&mut buf)? == 0 {
            break;
        }
        lines.push(buf.clone());
    }
    for (n, line) in lines.iter().enumerate() {
        let at = |msg: String| format!("line {}: {msg}", n + 1);
        let Some(words) = args::split_line(line).map_err(|e| UsageError(at(e.0)))? else {
            continue;
        };
        let inv = args::parse_args_as(&words, env.dialect).map_err(|e| UsageError(at(e.0)))?;
        match inv.action {
            Action::Command(AdmCommand::Restore) => {
                return Err(UsageError(at("-R cannot be nested".into())).into());
            }
            Action::Command(c) => execute(&c, env).map_err(|e| match e {
                RunError::Daemon(m) => RunError::Daemon(at(m)),
                other => other,
            })?,
            Action::Help | Action::Version => {
                return Err(UsageError(at("-h/-v are not commands".into())).into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::{ForwardMethod, Protocol, RealSpec, Timeouts, TrafficStats};
    use std::cell::Cell;
    use std::collections::VecDeque;

    /// Records requests and plays back canned replies.
    #[derive(Default)]
    struct Fake {
        sent: Vec<Command>,
        replies: VecDeque<Result<Reply, String>>,
    }

    impl Transport for Fake {
        fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
            self.sent.push(command);
            self.replies.pop_front().ok_or(ProtoError::Closed)
        }
    }

    struct FakeClock(Cell<Instant>);

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.0.get()
        }
        fn sleep(&self, d: Duration) {
            self.0.set(self.0.get() + d)
        }
    }

    fn run(
        cmd: &[&str],
        replies: Vec<Result<Reply, String>>,
        input: &str,
    ) -> (Result<(), RunError>, Fake, String) {
        let c = match args::parse_args(cmd).unwrap().action {
            Action::Command(c) => c,
            a => panic!("{a:?}"),
        };
        let mut fake = Fake { sent: vec![], replies: replies.into() };
        let mut out = Vec::new();
        let mut inp = input.as_bytes();
        let clock = FakeClock(Cell::new(Instant::now()));
        let r = execute(
            &c,
            &mut Env {
                transport: &mut fake,
                out: &mut out,
                input: &mut inp,
                clock: &clock,
                dialect: Dialect::Rvsadm,
            },
        );
        (r, fake, String::from_utf8(out).unwrap())
    }

    fn key() -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
    }

    fn service(conns: u64) -> ServiceInfo {
        ServiceInfo {
            spec: ServiceSpec {
                options: Default::default(),
                key: key(),
                scheduler: "rr".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap()],
            },
            reals: vec![],
            stats: TrafficStats { conns, ..Default::default() },
        }
    }

    #[test]
    fn add_real_sends_one_request() {
        let (r, fake, out) =
            run(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11"], vec![Ok(Reply::Ok)], "");
        r.unwrap();
        assert!(out.is_empty());
        assert_eq!(
            fake.sent,
            vec![Command::AddReal {
                service: key(),
                real: RealSpec {
                    thresholds: Default::default(),
                    addr: "198.19.0.11:80".parse().unwrap(),
                    weight: 1,
                    method: ForwardMethod::FullNat,
                    tunnel: None,
                }
            }]
        );
    }

    #[test]
    fn daemon_error_exits_1() {
        let (r, _, _) = run(&["-D", "-t", "198.18.0.100:80"], vec![Err("No such service".into())], "");
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "No such service");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn transport_error_exits_3() {
        let (r, _, _) = run(&["-C"], vec![], "");
        assert_eq!(r.unwrap_err().exit_code(), 3);
    }

    #[test]
    fn edit_service_keeps_local_addrs() {
        let (r, fake, _) = run(
            &["-E", "-t", "198.18.0.100:80", "-s", "wrr"],
            vec![Ok(Reply::Services { services: vec![service(0)] }), Ok(Reply::Ok)],
            "",
        );
        r.unwrap();
        assert_eq!(
            fake.sent[1],
            Command::EditService {
                spec: ServiceSpec {
                    options: Default::default(),
                    key: key(),
                    scheduler: "wrr".into(),
                    local_addrs: vec!["198.19.0.200".parse().unwrap()]
                }
            }
        );
    }

    #[test]
    fn list_missing_service_is_an_error() {
        let (r, _, out) = run(
            &["-Ln", "-t", "198.18.0.1:80"],
            vec![Ok(Reply::Services { services: vec![service(0)] })],
            "",
        );
        assert_eq!(r.unwrap_err().to_string(), NO_SUCH_SERVICE);
        assert!(out.is_empty());
    }

    #[test]
    fn rate_takes_two_samples() {
        let (r, fake, out) = run(
            &["-Ln", "--rate"],
            vec![
                Ok(Reply::Services { services: vec![service(100)] }),
                Ok(Reply::Services { services: vec![service(142)] }),
            ],
            "",
        );
        r.unwrap();
        assert_eq!(fake.sent, vec![Command::ListServices, Command::ListServices]);
        assert!(out.contains("TCP  198.18.0.100:80                    42        0"), "{out}");
    }

    #[test]
    fn timeout_and_workers_views() {
        let (r, _, out) = run(
            &["-L", "--timeout"],
            vec![Ok(Reply::Timeouts { timeouts: Timeouts { tcp: 900, tcp_fin: 120, udp: 300 } })],
            "",
        );
        r.unwrap();
        assert_eq!(out, "Timeout (tcp tcpfin udp): 900 120 300\n");
        let (r, fake, _) = run(&["--workers"], vec![Ok(Reply::Stats { workers: vec![] })], "");
        r.unwrap();
        assert_eq!(fake.sent, vec![Command::Stats]);
    }

    #[test]
    fn zero_sends_the_service() {
        let (r, fake, _) = run(&["-Z", "-u", "198.18.0.100:53"], vec![Ok(Reply::Ok)], "");
        r.unwrap();
        let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
        assert_eq!(fake.sent, vec![Command::Zero { service: Some(key) }]);
    }

    #[test]
    fn reload_checks_the_pid_file_and_the_process() {
        let dir = crate::testutil::TempDir::new("reload");
        let proc = dir.path().join("proc");
        let pidfile = dir.path().join("ctrl.pid");
        let err = |r: Result<i32, RunError>| r.unwrap_err().to_string();
        assert!(err(reload(&pidfile, &proc)).starts_with("cannot read rvs-ctrl's pid file"));
        std::fs::write(&pidfile, "junk\n").unwrap();
        assert!(err(reload(&pidfile, &proc)).contains("does not hold a pid"));
        // A pid that is not rvs-ctrl (here: this test process, under a fake /proc) is refused.
        let me = std::process::id().to_string();
        std::fs::write(&pidfile, format!("{me}\n")).unwrap();
        assert!(err(reload(&pidfile, &proc)).contains("rvs-ctrl is not running"));
        std::fs::create_dir_all(proc.join(&me)).unwrap();
        std::fs::write(proc.join(&me).join("comm"), "cargo\n").unwrap();
        let e = reload(&pidfile, &proc).unwrap_err();
        assert!(e.to_string().contains("not rvs-ctrl"), "{e}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn restore_runs_each_line_and_names_failures() {
        let input = "# saved\n-A -t 198.18.0.100:80 -s rr\n\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -b -w 1\n-P -t 198.18.0.100:80 -z 198.19.0.200\n";
        let (r, fake, _) = run(&["-R"], vec![Ok(Reply::Ok), Ok(Reply::Ok), Ok(Reply::Ok)], input);
        r.unwrap();
        assert_eq!(fake.sent.len(), 3);
        assert!(matches!(fake.sent[2], Command::AddLocalAddr { .. }));

        let (r, _, _) = run(
            &["-R"],
            vec![Ok(Reply::Ok), Err("Service already exists".into())],
            "-C\n-A -t 198.18.0.100:80\n",
        );
        assert_eq!(r.unwrap_err().to_string(), "line 2: Service already exists");
        let (r, _, _) = run(&["-R"], vec![], "-A -t 198.18.0.300:80\n");
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "line 1: illegal virtual server address[:port] specified: `198.18.0.300:80'"
        );
    }

    /// A table that takes the commands -R sends, as rvsd's registry does.
    #[derive(Default)]
    struct TableFake(Vec<ServiceInfo>);

    impl Transport for TableFake {
        fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
            let find = |t: &mut Vec<ServiceInfo>, k: ServiceKey| t.iter_mut().position(|s| s.spec.key == k);
            match command {
                Command::ListServices => return Ok(Ok(Reply::Services { services: self.0.clone() })),
                Command::Clear => self.0.clear(),
                Command::AddService { spec } => {
                    self.0.push(ServiceInfo { spec, reals: vec![], stats: TrafficStats::default() })
                }
                Command::AddReal { service, real } => {
                    let Some(i) = find(&mut self.0, service) else { return Ok(Err("no service".into())) };
                    let info = rvs_proto::RealInfo {
                        spec: real,
                        active_conns: 0,
                        inactive_conns: 0,
                        stats: TrafficStats::default(),
                    };
                    self.0[i].reals.push(info);
                }
                Command::AddLocalAddr { service, addr } => {
                    let Some(i) = find(&mut self.0, service) else { return Ok(Err("no service".into())) };
                    self.0[i].spec.local_addrs.push(addr);
                }
                other => return Ok(Err(format!("unexpected {other:?}"))),
            }
            Ok(Ok(Reply::Ok))
        }
    }

    fn run_on(t: &mut TableFake, cmd: &[&str], input: &str) -> String {
        let Action::Command(c) = args::parse_args(cmd).unwrap().action else { panic!() };
        let mut out = Vec::new();
        let mut inp = input.as_bytes();
        let clock = FakeClock(Cell::new(Instant::now()));
        execute(
            &c,
            &mut Env {
                transport: t,
                out: &mut out,
                input: &mut inp,
                clock: &clock,
                dialect: Dialect::Rvsadm,
            },
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn save_restore_round_trips_thresholds_persistence_flags_and_options() {
        use rvs_proto::{Persistence, RealInfo, ServiceOptions, Thresholds};
        let real = |a: &str, w, upper, lower| RealInfo {
            spec: RealSpec {
                addr: a.parse().unwrap(),
                weight: w,
                method: ForwardMethod::FullNat,
                tunnel: None,
                thresholds: Thresholds { upper, lower },
            },
            active_conns: 3,
            inactive_conns: 1,
            stats: TrafficStats { conns: 9, ..Default::default() },
        };
        let web = ServiceInfo {
            spec: ServiceSpec {
                key: key(),
                scheduler: "sh".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap(), "198.19.0.201".parse().unwrap()],
                options: ServiceOptions {
                    sched_flags: vec!["sh-port".into(), "sh-fallback".into()],
                    persistence: Some(Persistence { timeout: 50, prefix_len: 24 }),
                    syn_proxy: true,
                    toa: true,
                    expire_quiescent_template: true,
                    ..Default::default()
                },
            },
            reals: vec![
                real("198.19.0.11:80", 2, 10, 5),
                real("198.19.0.12:80", 1, 0, 0),
                real("198.19.0.13:80", 0, 7, 0),
            ],
            stats: TrafficStats::default(),
        };
        let pp = ServiceInfo {
            spec: ServiceSpec {
                key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:8082".parse().unwrap() },
                scheduler: "wrr".into(),
                local_addrs: vec!["198.19.0.201".parse().unwrap()],
                options: ServiceOptions {
                    proxy_protocol: Some(2),
                    proxy_on_connect: true,
                    ..Default::default()
                },
            },
            reals: vec![real("198.19.0.11:8081", 1, 0, 0)],
            stats: TrafficStats::default(),
        };
        let mut before = TableFake(vec![web, pp]);
        let saved = run_on(&mut before, &["-S"], "");
        for want in [
            "-A -t 198.18.0.100:80 -s sh --sched-flags sh-port,sh-fallback -p 50 -M 255.255.255.0 --synproxy --toa --expire-quiescent-template",
            "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -b -w 2 -x 10 -y 5",
            "-a -t 198.18.0.100:80 -r 198.19.0.13:80 -b -w 0 -x 7",
            "-A -t 198.18.0.100:8082 -s wrr --proxy-protocol v2 --proxy-protocol-send on-connect",
        ] {
            assert!(saved.lines().any(|l| l == want), "{want:?} not in:\n{saved}");
        }
        let mut after = TableFake::default();
        run_on(&mut after, &["-R"], &saved);
        assert_eq!(run_on(&mut after, &["-S"], ""), saved, "-S after -R is byte-identical");
        let specs = |t: &TableFake| {
            t.0.iter()
                .map(|s| (s.spec.clone(), s.reals.iter().map(|r| r.spec.clone()).collect::<Vec<_>>()))
                .collect::<Vec<_>>()
        };
        assert_eq!(specs(&after), specs(&before));
    }

    #[test]
    fn sorted_as_ipvsadm_family_before_protocol() {
        // libipvs's ipvs_cmp_services: fwmark, address family, protocol, address, port.
        let mk = |p: Protocol, a: &str| {
            let mut s = service(0);
            s.spec.key = ServiceKey { protocol: p, addr: a.parse().unwrap() };
            s
        };
        let list = vec![
            mk(Protocol::Udp, "[2001:db8::1]:53"),
            mk(Protocol::Tcp, "[2001:db8::1]:80"),
            mk(Protocol::Udp, "198.18.0.1:53"),
            mk(Protocol::Tcp, "198.18.0.2:80"),
            mk(Protocol::Tcp, "198.18.0.1:443"),
            mk(Protocol::Tcp, "198.18.0.1:80"),
        ];
        let keys: Vec<String> =
            sorted(list).iter().map(|s| format!("{:?} {}", s.spec.key.protocol, s.spec.key.addr)).collect();
        assert_eq!(
            keys,
            [
                "Tcp 198.18.0.1:80",
                "Tcp 198.18.0.1:443",
                "Tcp 198.18.0.2:80",
                "Udp 198.18.0.1:53",
                "Tcp [2001:db8::1]:80",
                "Udp [2001:db8::1]:53",
            ]
        );
    }

    #[test]
    fn thresholds_view_and_sort() {
        use rvs_proto::{RealInfo, Thresholds};
        let mut b = service(0);
        b.spec.key.addr = "198.18.0.100:81".parse().unwrap();
        let mut a = service(0);
        for (addr, upper) in [("198.19.0.12:80", 0), ("198.19.0.11:80", 10)] {
            a.reals.push(RealInfo {
                spec: RealSpec {
                    addr: addr.parse().unwrap(),
                    weight: 1,
                    method: ForwardMethod::FullNat,
                    tunnel: None,
                    thresholds: Thresholds { upper, lower: upper / 2 },
                },
                active_conns: 4,
                inactive_conns: 2,
                stats: TrafficStats::default(),
            });
        }
        let mut t = TableFake(vec![b, a]);
        let out = run_on(&mut t, &["-Ln", "--thresholds", "--sort"], "");
        let lines: Vec<&str> = out.lines().skip(3).collect();
        assert!(lines[0].starts_with("TCP  198.18.0.100:80 rr"), "{out}");
        let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(cols(lines[1]), ["->", "198.19.0.11:80", "10", "5", "4", "2"]);
        assert_eq!(cols(lines[2]), ["->", "198.19.0.12:80", "0", "0", "4", "2"]);
        assert!(lines[3].starts_with("TCP  198.18.0.100:81 rr"), "{out}");
        let unsorted = run_on(&mut t, &["-Ln"], "");
        assert!(
            unsorted.lines().nth(3).unwrap().starts_with("TCP  198.18.0.100:81"),
            "rvsd's order without --sort"
        );
    }
}
