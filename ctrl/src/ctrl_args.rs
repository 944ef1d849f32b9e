//! rvs-ctrl's command line (clap), in the library so that `rvs-gen-docs` makes its man
//! page and shell completions from the same definition the daemon parses with.
//! keepalived's spellings where it has one (`-f/--use-file`, `-t/--config-test`,
//! `-l/--log-level`, `-v/--version`).

use clap::{ArgAction, Parser};
use std::net::SocketAddr;
use std::path::PathBuf;

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// Where rvs-ctrl keeps keepalived's generated configuration, pid files and notify FIFO.
pub const DEFAULT_RUN_DIR: &str = "/run/rvs-ctrl";

/// An address, or `none` to turn the listener off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

/// A path, or `none` for no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptPath(pub Option<PathBuf>);

fn listen(v: &str) -> Result<Listen, String> {
    match v {
        "none" => Ok(Listen(None)),
        _ => v.parse().map(|a| Listen(Some(a))).map_err(|_| format!("bad address {v:?} (ip:port, or none)")),
    }
}

/// `NAME=IF`: the kernel interface for a vrrp_instance's `interface NAME`.
fn vrrp_interface(v: &str) -> Result<(String, String), String> {
    match v.split_once('=') {
        Some((n, i)) if !n.is_empty() && !i.is_empty() && i.len() <= 15 => Ok((n.to_string(), i.to_string())),
        _ => Err(format!("bad value {v:?} (NAME=IF, IF at most 15 bytes)")),
    }
}

fn opt_path(v: &str) -> Result<OptPath, String> {
    Ok(OptPath((v != "none").then(|| v.into())))
}

#[derive(Debug, Parser)]
#[command(
    name = "rvs-ctrl",
    version,
    disable_version_flag = true,
    about = "keepalived-compatible control daemon for rvsd",
    long_about = "rvs-ctrl reads the virtual servers, real servers and health checkers of a keepalived.conf, \
checks the real servers and keeps rvsd's table equal to what the file and the checks say, sending only \
the differences. It owns rvsd's whole table: start rvsd with no [[service]] in its TOML. It serves a live \
dashboard (/), Prometheus metrics (/metrics) and a JSON API (/api/v1) on --listen.",
    after_help = "Signals: SIGHUP reloads the configuration (a bad file is refused and the running one stays); \
SIGTERM/SIGINT stop rvs-ctrl, and rvsd keeps its table and its traffic (the keepalived it runs \
for VRRP stops too, and the addresses VRRP moves are released); SIGHUP also reloads that keepalived.\n\
Exit status: 0 clean stop (or -t found the file good), 1 configuration error, 2 usage error, 3 could not start."
)]
pub struct CtrlArgs {
    /// keepalived configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Check the configuration (and the API token file), print every warning and error with
    /// FILE:LINE, and exit: 0 when rvs-ctrl would run with it.
    #[arg(short = 't', long = "config-test")]
    pub test: bool,
    /// keepalived's config id: `@ID` lines of the file are read, `@^ID` lines skipped
    /// [default: the host name up to its first dot, as keepalived].
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
    /// rvsd's control socket [default: $RVSD_SOCKET, then /run/rvsd/rvsd.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<String>,
    /// Write the pid here, for `rvsadm --reload` (`none`: no file).
    #[arg(long, value_name = "PATH", default_value = crate::adm::DEFAULT_CTRL_PIDFILE, value_parser = opt_path)]
    pub pidfile: OptPath,
    /// Serve the dashboard (/), /metrics and the JSON API on this address (`none`: no HTTP).
    #[arg(long, value_name = "ADDR", default_value = crate::api::DEFAULT_LISTEN, value_parser = listen)]
    pub listen: Listen,
    /// Allow changes through the JSON API to requests with `Authorization: Bearer TOKEN`,
    /// TOKEN being the file's first line (at least 16 characters; the file must not be
    /// readable by group or others). Without it the API is read-only.
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Announce the VIPs that have quorum to BIRD: keep FILE (included by a BIRD
    /// `protocol static`) listing them, and run `birdc configure` when it changes.
    #[arg(long, value_name = "FILE")]
    pub bird_include: Option<PathBuf>,
    /// BIRD's control socket for birdc [default: birdc's own].
    #[arg(long, value_name = "PATH")]
    pub birdc_socket: Option<String>,
    /// With --bird-include: ask rvsd every MS milliseconds; two unanswered questions (each
    /// waiting as long) withdraw every VIP.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub bird_watchdog: u64,
    /// The kernel interface (rvsd port's tap) for a vrrp_instance's `interface NAME`
    /// (repeatable) [default: rvs-NAME if it exists, else NAME].
    #[arg(long, value_name = "NAME=IF", value_parser = vrrp_interface, action = ArgAction::Append)]
    pub vrrp_interface: Vec<(String, String)>,
    /// The keepalived binary run for the vrrp_* blocks.
    #[arg(long, value_name = "PATH", default_value = "keepalived")]
    pub keepalived: PathBuf,
    /// Directory for keepalived's generated configuration, pid files and notify FIFO.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Leave the vrrp_* blocks to a keepalived run by someone else (rvs-ctrl runs none).
    #[arg(long)]
    pub no_vrrp: bool,
    /// Log level: error, warn, info, debug, trace, or a RUST_LOG filter [default: $RUST_LOG, then info].
    #[arg(short = 'l', long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long, action = ArgAction::Version)]
    version: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<CtrlArgs, clap::Error> {
        CtrlArgs::try_parse_from(std::iter::once("rvs-ctrl").chain(s.iter().copied()))
    }

    #[test]
    fn options() {
        let a = args(&["-t", "-f", "k.conf", "--socket=/s", "-l", "debug"]).unwrap();
        assert!(a.test);
        assert_eq!(a.config, PathBuf::from("k.conf"));
        assert_eq!(a.socket.as_deref(), Some("/s"));
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        assert_eq!(a.config_id, None);
        let a = args(&["-t", "-i", "lb2"]).unwrap();
        assert_eq!(a.config_id.as_deref(), Some("lb2"));
        assert_eq!(args(&["--config-id=lb1"]).unwrap().config_id.as_deref(), Some("lb1"));
        let a = args(&[]).unwrap();
        assert_eq!(a.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(a.listen, Listen(Some(crate::api::DEFAULT_LISTEN.parse().unwrap())));
        assert_eq!(a.pidfile, OptPath(Some(crate::adm::DEFAULT_CTRL_PIDFILE.into())));
        assert_eq!(a.bird_watchdog, 500);
        assert_eq!(args(&["-h"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayHelp);
        assert_eq!(args(&["-v"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(args(&["-f"]).unwrap_err().to_string().contains("a value is required"));
        assert!(args(&["-x"]).unwrap_err().to_string().contains("unexpected argument '-x'"));
        let a = args(&["--listen", "0.0.0.0:8080", "--pidfile=/tmp/p", "--api-token-file", "/t"]).unwrap();
        assert_eq!(a.listen, Listen(Some("0.0.0.0:8080".parse().unwrap())));
        assert_eq!(a.pidfile, OptPath(Some("/tmp/p".into())));
        assert_eq!(a.api_token_file, Some("/t".into()));
        let a = args(&["--listen", "none", "--pidfile", "none"]).unwrap();
        assert_eq!((a.listen, a.pidfile), (Listen(None), OptPath(None)));
        let e = args(&["--listen", "localhost"]).unwrap_err().to_string();
        assert!(e.contains("bad address \"localhost\" (ip:port, or none)"), "{e}");
        assert!(args(&["--bird-watchdog", "5"]).is_err());
        let a = args(&["--vrrp-interface", "eth0=rvs-lan", "--vrrp-interface=eth1=t1", "--no-vrrp"]).unwrap();
        let want = [("eth0", "rvs-lan"), ("eth1", "t1")].map(|(n, i)| (n.to_string(), i.to_string()));
        assert_eq!(a.vrrp_interface, want);
        assert!(a.no_vrrp);
        let a = args(&[]).unwrap();
        assert_eq!(
            (a.keepalived, a.run_dir, a.no_vrrp),
            ("keepalived".into(), DEFAULT_RUN_DIR.into(), false)
        );
        let e = args(&["--vrrp-interface", "eth0"]).unwrap_err().to_string();
        assert!(e.contains("NAME=IF"), "{e}");
        assert!(args(&["--vrrp-interface", "a=0123456789abcdef"]).is_err());
    }
}
