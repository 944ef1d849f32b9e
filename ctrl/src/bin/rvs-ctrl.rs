//! rvs-ctrl: keepalived-compatible control daemon for rvsd. See `rvs_ctrl::daemon`.
//!
//! Exit status: 0 clean stop (or `-t` found the configuration good), 1 configuration
//! error, 2 usage error, 3 could not start.

use clap::Parser;
use rvs_ctrl::ctrl_args::CtrlArgs;
use rvs_ctrl::daemon::{self, DaemonError, Options, Signals};
use rvs_ctrl::keepalived::{self, Severity};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const PROGRAM: &str = "rvs-ctrl";

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    // Usage errors exit 2, -h and -v 0 (clap's convention, and ours).
    let args = CtrlArgs::parse();
    let api_auth = match &args.api_token_file {
        None => rvs_ctrl::api::auth::Auth::read_only(),
        Some(path) => match rvs_ctrl::api::auth::Auth::from_file(path) {
            Ok(a) => a,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "{PROGRAM}: {e}");
                return 1;
            }
        },
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
    let _pidfile = match &args.pidfile.0 {
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
        b.interval = std::time::Duration::from_millis(args.bird_watchdog);
        b.timeout = b.interval;
        b
    });
    let vrrp = (!args.no_vrrp).then(|| vrrp_options(&args));
    let read = keepalived::Options { config_id: args.config_id };
    let opts = Options { config: args.config, read, socket, listen: args.listen.0, bird, api_auth, vrrp };
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

fn vrrp_options(args: &CtrlArgs) -> rvs_ctrl::vrrp::VrrpOptions {
    rvs_ctrl::vrrp::VrrpOptions {
        keepalived: rvs_ctrl::vrrp::keepalived::KeepalivedOptions {
            binary: args.keepalived.clone(),
            run_dir: args.run_dir.clone(),
            tag: PROGRAM.into(),
        },
        ifaces: rvs_ctrl::vrrp::conf::IfaceMap {
            explicit: args.vrrp_interface.iter().cloned().collect(),
            sysfs: None,
        },
    }
}

/// keepalived's own check of the VRRP configuration rvs-ctrl would give it (when
/// keepalived is installed): its complaints, named by the operator's file:line.
fn keepalived_test(args: &CtrlArgs, config: &keepalived::Config) -> Vec<String> {
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
fn config_test(args: &CtrlArgs) -> i32 {
    let mut err = std::io::stderr().lock();
    let label = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    match keepalived::load_with(&args.config, &keepalived::Options { config_id: args.config_id.clone() }) {
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
