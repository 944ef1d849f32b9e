//! rvs-ctrl: keepalived-compatible control daemon for rvsd. See `rvs_ctrl::daemon`.
//!
//! Exit status: 0 clean stop (or `-t` found the configuration good), 1 configuration
//! error, 2 usage error, 3 could not start.

use rvs_ctrl::daemon::{self, DaemonError, Options, Signals};
use rvs_ctrl::keepalived::{self, Severity};
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const PROGRAM: &str = "rvs-ctrl";
const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

fn usage() -> String {
    format!(
        "{PROGRAM} v{} - keepalived-compatible control daemon for rvsd
Usage: {PROGRAM} [options]
  -f, --use-file FILE   keepalived configuration (default {DEFAULT_CONFIG})
  -t, --config-test     check the configuration and exit (0 when it would run)
      --socket PATH     rvsd control socket (default ${}, then {})
      --pidfile PATH    write the pid here, for `rvsadm --reload` (default {}; `none`: no file)
      --listen ADDR     serve /metrics and the JSON API on ADDR (default {}; `none`: off)
      --bird-include FILE   announce the VIPs with quorum to BIRD: keep FILE (included by a
                        BIRD `protocol static`) listing them, and run `birdc configure`
      --birdc-socket PATH   BIRD's control socket for birdc (default: birdc's own)
      --bird-watchdog MS    ask rvsd every MS milliseconds (default 500); two unanswered
                        questions (each waiting as long) withdraw every VIP
      --vrrp-interface NAME=IF  the kernel interface (rvsd port's tap) for a vrrp_instance's
                        `interface NAME` (repeatable; default: rvs-NAME if it exists, else NAME)
      --keepalived PATH     the keepalived run for VRRP (default keepalived)
      --run-dir DIR         keepalived's generated configuration, pid files and notify FIFO
                        (default {})
      --no-vrrp             leave vrrp_* blocks to a keepalived run by someone else
  -l, --log-level LVL   error, warn, info (default), debug, trace; or a RUST_LOG filter
  -h, --help            this help
  -v, --version         version
Signals: SIGHUP reloads the configuration (and keepalived's), SIGTERM/SIGINT stop (rvsd keeps
its table; keepalived stops and the addresses VRRP moves are released).
rvs-ctrl owns rvsd's whole table: start rvsd with no [[service]] in its TOML.
",
        env!("CARGO_PKG_VERSION"),
        rvs_ctrl::adm::SOCKET_ENV,
        rvs_proto::DEFAULT_SOCKET,
        rvs_ctrl::adm::DEFAULT_CTRL_PIDFILE,
        rvs_ctrl::api::DEFAULT_LISTEN,
        DEFAULT_RUN_DIR,
    )
}

const DEFAULT_RUN_DIR: &str = "/run/rvs-ctrl";

struct Args {
    config: PathBuf,
    test: bool,
    socket: Option<String>,
    log_level: Option<String>,
    pidfile: Option<PathBuf>,
    listen: Option<SocketAddr>,
    bird_include: Option<PathBuf>,
    birdc_socket: Option<String>,
    bird_watchdog_ms: u64,
    vrrp_ifaces: std::collections::BTreeMap<String, String>,
    keepalived: PathBuf,
    run_dir: PathBuf,
    no_vrrp: bool,
}

enum Parsed {
    Run(Box<Args>),
    Print(String),
}

fn parse_args(argv: &[String]) -> Result<Parsed, String> {
    let mut a = Args {
        config: DEFAULT_CONFIG.into(),
        test: false,
        socket: None,
        log_level: None,
        pidfile: Some(rvs_ctrl::adm::DEFAULT_CTRL_PIDFILE.into()),
        listen: Some(rvs_ctrl::api::DEFAULT_LISTEN.parse().expect("valid default")),
        bird_include: None,
        birdc_socket: None,
        bird_watchdog_ms: 500,
        vrrp_ifaces: Default::default(),
        keepalived: "keepalived".into(),
        run_dir: DEFAULT_RUN_DIR.into(),
        no_vrrp: false,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value =
            |name: &str| inline.clone().or_else(|| it.next().cloned()).ok_or(format!("{name} needs a value"));
        match flag {
            "-f" | "--use-file" => a.config = value(flag)?.into(),
            "-t" | "--config-test" => a.test = true,
            "--socket" => a.socket = Some(value(flag)?),
            "-l" | "--log-level" => a.log_level = Some(value(flag)?),
            "--pidfile" => {
                let v = value(flag)?;
                a.pidfile = (v != "none").then(|| v.into());
            }
            "--listen" => {
                let v = value(flag)?;
                a.listen = match v.as_str() {
                    "none" => None,
                    _ => Some(
                        v.parse().map_err(|_| format!("--listen: bad address {v:?} (ip:port or none)"))?,
                    ),
                };
            }
            "--bird-include" => a.bird_include = Some(value(flag)?.into()),
            "--birdc-socket" => a.birdc_socket = Some(value(flag)?),
            "--bird-watchdog" => {
                let v = value(flag)?;
                a.bird_watchdog_ms = match v.parse::<u64>() {
                    Ok(n) if (10..=60_000).contains(&n) => n,
                    _ => return Err(format!("--bird-watchdog: bad value {v:?} (10 to 60000 ms)")),
                };
            }
            "--vrrp-interface" => {
                let v = value(flag)?;
                match v.split_once('=') {
                    Some((n, i)) if !n.is_empty() && !i.is_empty() && i.len() <= 15 => {
                        a.vrrp_ifaces.insert(n.to_string(), i.to_string());
                    }
                    _ => {
                        return Err(format!(
                            "--vrrp-interface: bad value {v:?} (NAME=IF, IF at most 15 bytes)"
                        ))
                    }
                }
            }
            "--keepalived" => a.keepalived = value(flag)?.into(),
            "--run-dir" => a.run_dir = value(flag)?.into(),
            "--no-vrrp" => a.no_vrrp = true,
            "-h" | "--help" => return Ok(Parsed::Print(usage())),
            "-v" | "--version" => {
                return Ok(Parsed::Print(format!("{PROGRAM} v{}\n", env!("CARGO_PKG_VERSION"))))
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Parsed::Run(Box::new(a)))
}

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let argv: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let args = match parse_args(&argv) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Print(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            return 0;
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{PROGRAM}: {e}\nTry `{PROGRAM} -h' for more information.");
            return 2;
        }
    };
    if args.test {
        return config_test(&args);
    }

    let filter =
        args.log_level.clone().or_else(|| std::env::var("RUST_LOG").ok()).unwrap_or_else(|| "info".into());
    let filter = match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{PROGRAM}: bad log level {filter:?}: {e}");
            return 2;
        }
    };
    // No colour codes in a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    raise_fd_limit();

    let env_socket = std::env::var(rvs_ctrl::adm::SOCKET_ENV).ok();
    let socket = rvs_ctrl::adm::socket_path(args.socket.as_deref(), env_socket.as_deref());
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let (wake, waker) = match install_signals(&stop, &reload) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return 3;
        }
    };
    let signals = Signals { stop, reload, wake: Some(wake.as_raw_fd()), waker: Some(waker) };
    tracing::info!(socket, config = %args.config.display(), "rvs-ctrl starting");
    let _pidfile = match &args.pidfile {
        Some(p) => match PidFile::write(p) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(pidfile = %p.display(), error = %e, "cannot write the pid file");
                return 3;
            }
        },
        None => None,
    };
    let bird = args.bird_include.clone().map(|include| {
        let mut b = rvs_ctrl::bird::BirdOptions::new(include);
        if let Some(s) = &args.birdc_socket {
            b.birdc.extend(["-s".to_string(), s.clone()]);
        }
        b.interval = std::time::Duration::from_millis(args.bird_watchdog_ms);
        b.timeout = b.interval;
        b
    });
    let vrrp = (!args.no_vrrp).then(|| vrrp_options(&args));
    let opts = Options { config: args.config, socket, listen: args.listen, bird, vrrp };
    match daemon::run(&opts, &signals) {
        Ok(()) => 0,
        Err(DaemonError::Config(e)) => {
            for line in e.lines() {
                tracing::error!("{line}");
            }
            1
        }
        Err(e) => {
            tracing::error!("{e}");
            3
        }
    }
}

fn vrrp_options(args: &Args) -> rvs_ctrl::vrrp::VrrpOptions {
    rvs_ctrl::vrrp::VrrpOptions {
        keepalived: rvs_ctrl::vrrp::keepalived::KeepalivedOptions {
            binary: args.keepalived.clone(),
            run_dir: args.run_dir.clone(),
            tag: PROGRAM.into(),
        },
        ifaces: rvs_ctrl::vrrp::conf::IfaceMap { explicit: args.vrrp_ifaces.clone(), sysfs: None },
    }
}

/// keepalived's own check of the VRRP configuration rvs-ctrl would give it (when
/// keepalived is installed): its complaints, named by the operator's file:line.
fn keepalived_test(args: &Args, config: &keepalived::Config) -> Vec<String> {
    let vo = vrrp_options(args);
    let plan = rvs_ctrl::vrrp::conf::plan(config, &vo.ifaces, &vo.keepalived.fifo());
    if plan.instances.is_empty() || args.no_vrrp {
        return Vec::new();
    }
    let dir = std::env::temp_dir().join(format!("rvs-ctrl-t-{}", std::process::id()));
    let conf = dir.join("keepalived.conf");
    let out = rvs_ctrl::vrrp::keepalived::write_conf(&conf, &plan.text)
        .and_then(|()| rvs_ctrl::vrrp::keepalived::config_test(&args.keepalived, &conf, &plan.text));
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(lines) => lines,
        Err(e) => vec![format!("cannot run {} --config-test: {e}", args.keepalived.display())],
    }
}

/// `keepalived -t`: every message on stderr, exit 0 when the configuration would run.
fn config_test(args: &Args) -> i32 {
    let mut err = std::io::stderr().lock();
    let label = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    match keepalived::load(&args.config) {
        Ok(l) => {
            for d in &l.diags {
                let _ = writeln!(err, "{}: {d}", label(d.severity));
            }
            // keepalived's view is a warning: it also checks that the interfaces exist,
            // and the taps exist only while rvsd runs.
            for line in keepalived_test(args, &l.config) {
                let _ = writeln!(err, "warning: {line}");
            }
            let _ = writeln!(
                err,
                "{}: configuration OK ({} virtual servers)",
                args.config.display(),
                l.config.virtual_servers.len()
            );
            0
        }
        Err(e) => {
            if let keepalived::ConfigError::Invalid { diags, .. } = &e {
                for d in diags {
                    let _ = writeln!(err, "{}: {d}", label(d.severity));
                }
            }
            for line in e.lines() {
                let _ = writeln!(err, "error: {line}");
            }
            let _ = writeln!(err, "{}: configuration has errors", args.config.display());
            1
        }
    }
}

/// Our pid in a file, removed on drop if it still holds our pid.
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: &std::path::Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename, so `rvsadm --reload` never reads half a file.
        let tmp = path.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
        std::fs::rename(&tmp, path)?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.0).is_ok_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// SIGTERM/SIGINT set `stop`, SIGHUP sets `reload`; each also writes a byte to the
/// first returned socket so the poll loop wakes at once. The second is a writer to it.
fn install_signals(
    stop: &Arc<AtomicBool>,
    reload: &Arc<AtomicBool>,
) -> std::io::Result<(UnixStream, UnixStream)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (r, w) = UnixStream::pair()?;
    r.set_nonblocking(true)?;
    w.set_nonblocking(true)?;
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
        signal_hook::low_level::pipe::register(sig, w.try_clone()?)?;
    }
    signal_hook::flag::register(SIGHUP, reload.clone())?;
    signal_hook::low_level::pipe::register(SIGHUP, w.try_clone()?)?;
    Ok((r, w))
}

/// One descriptor per running check: take the hard limit as the soft one.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::debug!("could not raise the open-files limit");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<Parsed, String> {
        parse_args(&s.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options() {
        let Ok(Parsed::Run(a)) = args(&["-t", "-f", "k.conf", "--socket=/s", "-l", "debug"]) else {
            panic!()
        };
        assert!(a.test);
        assert_eq!(a.config, PathBuf::from("k.conf"));
        assert_eq!(a.socket.as_deref(), Some("/s"));
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        let Ok(Parsed::Run(a)) = args(&[]) else { panic!() };
        assert_eq!(a.config, PathBuf::from(DEFAULT_CONFIG));
        assert!(matches!(args(&["-h"]), Ok(Parsed::Print(_))));
        assert_eq!(args(&["-f"]).err().unwrap(), "-f needs a value");
        assert_eq!(args(&["-x"]).err().unwrap(), "unknown option -x");
        let Ok(Parsed::Run(a)) = args(&["--listen", "0.0.0.0:8080", "--pidfile=/tmp/p"]) else { panic!() };
        assert_eq!(a.listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(a.pidfile, Some(PathBuf::from("/tmp/p")));
        let Ok(Parsed::Run(a)) = args(&["--listen", "none", "--pidfile", "none"]) else { panic!() };
        assert_eq!((a.listen, a.pidfile), (None, None));
        assert!(args(&["--listen", "localhost"]).is_err());
    }
}
