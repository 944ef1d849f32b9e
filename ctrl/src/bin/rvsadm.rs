//! rvsadm: ipvsadm-compatible administration of rvsd. See `rvs_ctrl::adm`.
//!
//! Exit status: 0 success, 1 rvsd refused the request, 2 usage error, 3 rvsd unreachable.

use rvs_ctrl::adm::{self, Action, Env, RunError, SystemClock, PROGRAM};
use std::io::Write;

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let inv = match adm::parse_args(&args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            eprintln!("Try `{PROGRAM} -h' for more information.");
            return 2;
        }
    };
    let cmd = match inv.action {
        Action::Help => return print(&adm::usage()),
        Action::Version => return print(&format!("{}\n", adm::version_string())),
        Action::Command(c) => c,
    };

    // --reload talks to rvs-ctrl (a signal), not to rvsd.
    if let adm::AdmCommand::Reload { pidfile } = &cmd {
        return match adm::run::reload(std::path::Path::new(pidfile), std::path::Path::new("/proc")) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("{PROGRAM}: {e}");
                e.exit_code()
            }
        };
    }

    let env_socket = std::env::var(adm::SOCKET_ENV).ok();
    let path = adm::socket_path(inv.socket.as_deref(), env_socket.as_deref());
    let mut client = match rvs_proto::Client::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            let (detail, hint) = match e {
                rvs_proto::ProtoError::Io(io) => {
                    let hint = match io.kind() {
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                            "\nIs rvsd running (systemctl status rvsd)? Another socket: --socket PATH or $RVSD_SOCKET."
                        }
                        std::io::ErrorKind::PermissionDenied => "\nThe control socket is root's: run rvsadm as root.",
                        _ => "",
                    };
                    (io.to_string(), hint)
                }
                other => (other.to_string(), ""),
            };
            eprintln!("{PROGRAM}: cannot reach rvsd at {path}: {detail}{hint}");
            return 3;
        }
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let result = adm::execute(
        &cmd,
        &mut Env { transport: &mut client, out: &mut out, input: &mut input, clock: &SystemClock },
    )
    .and_then(|()| out.flush().map_err(RunError::from));
    match result {
        Ok(()) => 0,
        // `rvsadm -Lnc | head`: a closed pipe is not an error.
        Err(RunError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(RunError::Transport(e)) => {
            eprintln!("{PROGRAM}: lost rvsd at {path}: {e}");
            3
        }
        Err(e @ RunError::Usage(_)) => {
            eprintln!("{PROGRAM}: {e}");
            eprintln!("Try `{PROGRAM} -h' for more information.");
            e.exit_code()
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            e.exit_code()
        }
    }
}

fn print(text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("{PROGRAM}: writing output: {e}");
            1
        }
    }
}
