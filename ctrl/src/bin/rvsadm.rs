//! rvsadm: ipvsadm-compatible administration of rvsd. See `rvs_ctrl::adm`.
//!
//! Exit status: 0 success, 1 rvsd refused the request, 2 usage error, 3 rvsd unreachable.
//! Invoked as `ipvsadm`, as ipvsadm: 255 when rvsd refused a change, 1 when a listing
//! failed, and messages without the program name (`adm::report`).

use rvs_ctrl::adm::{self, Action, Dialect, Env, RunError, SystemClock};
use std::io::Write;

fn main() {
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    // Invoked as `ipvsadm` (symlink, --install-alias): ipvsadm's defaults and layouts.
    let dialect = Dialect::from_argv0(argv.first().map_or("", String::as_str));
    #[allow(non_snake_case)]
    let PROGRAM = dialect.program();
    let inv = match adm::args::parse_args_as(&argv[1..], dialect) {
        Ok(inv) => inv,
        Err(e) => {
            eprint!("{}", adm::report::stderr_text(PROGRAM, &RunError::Usage(e), dialect));
            return 2;
        }
    };
    let cmd = match inv.action {
        Action::Help => return print(&adm::usage(), PROGRAM),
        Action::Version => return print(&format!("{}\n", adm::version_string()), PROGRAM),
        Action::Command(c) => c,
    };

    // --install-alias only makes a symlink.
    if let adm::AdmCommand::InstallAlias { dir } = &cmd {
        let made = std::env::current_exe()
            .map_err(|e| RunError::Reload(format!("cannot tell where this binary is: {e}")))
            .and_then(|exe| adm::run::install_alias(std::path::Path::new(dir), &exe).map(|l| (l, exe)));
        return match made {
            Ok((link, exe)) => print(&format!("{} -> {}\n", link.display(), exe.display()), PROGRAM),
            Err(e) => {
                eprintln!("{PROGRAM}: {e}");
                e.exit_code()
            }
        };
    }

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
        &mut Env {
            transport: &mut client,
            out: &mut out,
            err: &mut std::io::stderr(),
            input: &mut input,
            clock: &SystemClock,
            dialect,
        },
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
        // As ipvsadm (invoked so): its message alone and its status (255 for a refusal).
        Err(e) => {
            eprint!("{}", adm::report::stderr_text(PROGRAM, &e, dialect));
            adm::report::exit_status(Some(&cmd), &e, dialect)
        }
    }
}

fn print(text: &str, program: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("{program}: writing output: {e}");
            1
        }
    }
}
