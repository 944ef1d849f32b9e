//! rvsadm's command lines and `-R` input on arbitrary text, as an operator's script or a
//! saved table (`-S`) feeds them, in both dialects (rvsadm's, ipvsadm's).
//!
//! Each line is split as `-R` splits it and parsed as a command line: a command or a
//! usage error, never a panic. Then the whole text is restored (`-R`) against a stand-in
//! for rvsd that refuses some requests and answers others with replies of the wrong kind
//! (the input's first byte says which): `execute` returns, with an error or not, never
//! panics, and sends a bounded number of requests a line (a batch entry counting as one;
//! an edit reads its service first).
//!
//! Host names in addresses (`-t www:http`, as ipvsadm takes them) are resolved as rvsadm
//! resolves them (getaddrinfo): the target first moves itself into a network namespace of
//! its own, with no interfaces up, so that no name it makes up leaves the machine as a DNS
//! query (`/etc/hosts` and `/etc/services` still answer).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rvs_ctrl::adm::{args::split_line, execute, parse_args_as, AdmCommand, Clock, Dialect, Env, Transport};
use rvs_proto::{Command, ProtoError, Reply, ResponseResult};
use std::time::{Duration, Instant};

/// rvsd as far as `-R` sees it: refuses every `refuse`-th request (and batch entry),
/// answers some with a reply of the wrong kind, counts the lines it was sent.
struct Daemon {
    refuse: usize,
    wrong: bool,
    seen: usize,
    lines: usize,
}

impl Daemon {
    fn one(&mut self) -> Result<Reply, String> {
        self.seen += 1;
        if self.refuse != 0 && self.seen % self.refuse == 0 {
            Err("refused".into())
        } else if self.wrong && self.seen % 3 == 0 {
            Ok(Reply::Batch { results: vec![] })
        } else {
            Ok(Reply::Ok)
        }
    }
}

impl Transport for Daemon {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        Ok(match command {
            Command::Batch { commands, stop_at_error } => {
                self.lines += commands.len();
                let mut results = Vec::new();
                for _ in &commands {
                    let r = self.one();
                    let stop = r.is_err() && stop_at_error;
                    results.push(match r {
                        Ok(reply) => ResponseResult::Ok(reply),
                        Err(e) => ResponseResult::Error(e),
                    });
                    if stop {
                        break;
                    }
                }
                while results.len() < commands.len() {
                    results.push(ResponseResult::Error(rvs_proto::NOT_APPLIED.into()));
                }
                Ok(Reply::Batch { results })
            }
            _ => {
                self.lines += 1;
                self.one()
            }
        })
    }
}

/// No waiting: a listing with a rate or a watch does not sleep here.
struct NoClock(Instant);

impl Clock for NoClock {
    fn now(&self) -> Instant {
        self.0
    }
    fn sleep(&self, _: Duration) {}
}

/// This process without a network (see the module's comment); root, as the fuzz runs are.
fn offline() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: unshare(2) with a flag; it changes nothing in this process's memory.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "adm: cannot leave the network (unshare needs root): {}", std::io::Error::last_os_error());
    });
}

fuzz_target!(|data: &[u8]| {
    offline();
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let dialect = if mode & 1 == 0 { Dialect::Rvsadm } else { Dialect::Ipvsadm };
    for line in text.lines() {
        if let Ok(Some(words)) = split_line(line) {
            let _ = parse_args_as(&words, Dialect::Rvsadm);
            let _ = parse_args_as(&words, Dialect::Ipvsadm);
        }
    }
    let mut daemon = Daemon { refuse: (mode >> 1 & 7) as usize, wrong: mode & 0x10 != 0, seen: 0, lines: 0 };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input = text.as_bytes();
    let clock = NoClock(Instant::now());
    let mut env = Env {
        transport: &mut daemon,
        out: &mut out,
        err: &mut err,
        input: &mut input,
        clock: &clock,
        dialect,
    };
    let _ = execute(&AdmCommand::Restore, &mut env);
    let lines = text.lines().count() + 1;
    assert!(daemon.lines <= lines * 4, "{} requests for {lines} lines", daemon.lines);
});
