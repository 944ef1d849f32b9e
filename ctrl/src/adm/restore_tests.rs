//! Tests of [`super`]: which requests a restore sends, against a fake rvsd that applies a
//! batch as rvsd does, or as an older one did.

use super::*;
use crate::adm::run::{Clock, Transport};
use rvs_proto::{ProtoError, NOT_APPLIED};
use std::time::{Duration, Instant};

/// How the fake answers a batch.
#[derive(Clone, Copy, PartialEq)]
enum Rvsd {
    Now,
    /// Knows batches but not `stop_at_error`: applies every command.
    NoStopAtError,
    /// Older than batches: "malformed request", and the connection closed.
    NoBatch,
}

struct Fake {
    rvsd: Rvsd,
    /// Requests as sent: a batch is one.
    requests: Vec<Command>,
    /// The commands applied or refused, in order.
    applied: Vec<Command>,
    /// Refuses the commands with these indices in `applied` order (0-based).
    refuse: Vec<usize>,
    closed: bool,
    reconnects: usize,
}

impl Fake {
    fn new(rvsd: Rvsd, refuse: &[usize]) -> Fake {
        Fake {
            rvsd,
            requests: vec![],
            applied: vec![],
            refuse: refuse.to_vec(),
            closed: false,
            reconnects: 0,
        }
    }
    fn one(&mut self, c: Command) -> Result<Reply, String> {
        let refused = self.refuse.contains(&self.applied.len());
        self.applied.push(c);
        if refused {
            Err("Service already exists".into())
        } else {
            Ok(Reply::Ok)
        }
    }
}

impl Transport for Fake {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        if self.closed {
            return Err(ProtoError::Closed);
        }
        self.requests.push(command.clone());
        match command {
            Command::Batch { .. } if self.rvsd == Rvsd::NoBatch => {
                self.closed = true;
                Ok(Err("malformed request: unknown variant `batch`".into()))
            }
            Command::Batch { commands, stop_at_error } => {
                let stop = stop_at_error && self.rvsd == Rvsd::Now;
                let mut refused = false;
                let mut results = Vec::new();
                for c in commands {
                    if refused && stop {
                        results.push(ResponseResult::Error(NOT_APPLIED.into()));
                        continue;
                    }
                    let r = self.one(c);
                    refused |= r.is_err();
                    results.push(r.map_or_else(ResponseResult::Error, ResponseResult::Ok));
                }
                Ok(Ok(Reply::Batch { results }))
            }
            Command::ListServices => Ok(Ok(Reply::Services { services: vec![] })),
            c => Ok(self.one(c)),
        }
    }
    fn reconnect(&mut self) -> Result<(), ProtoError> {
        self.closed = false;
        self.reconnects += 1;
        Ok(())
    }
}

struct NoClock;

impl Clock for NoClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, _: Duration) {}
}

/// `-R` of `input` in `dialect`: its result and stderr.
fn restore_as(dialect: Dialect, fake: &mut Fake, input: &str) -> (Result<(), RunError>, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut inp = input.as_bytes();
    let r = restore(&mut Env {
        transport: fake,
        out: &mut out,
        err: &mut err,
        input: &mut inp,
        clock: &NoClock,
        dialect,
    });
    (r, String::from_utf8(err).unwrap())
}

/// `n` services of three real servers each, as `-S` writes them: 4n lines.
fn table(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let vip = format!("198.18.{}.{}:80", 1 + i / 250, 1 + i % 250);
        s += &format!("-A -t {vip} -s rr\n");
        for r in 11..=13 {
            s += &format!("-a -t {vip} -r 198.19.0.{r}:80 -w 1\n");
        }
    }
    s
}

fn batch_sizes(f: &Fake) -> Vec<usize> {
    f.requests
        .iter()
        .map(|r| match r {
            Command::Batch { commands, .. } => commands.len(),
            _ => 1,
        })
        .collect()
}

#[test]
fn a_long_restore_goes_in_batches_of_at_most_256_lines() {
    for dialect in [Dialect::Rvsadm, Dialect::Ipvsadm] {
        let mut f = Fake::new(Rvsd::Now, &[]);
        let (r, err) = restore_as(dialect, &mut f, &table(150));
        r.unwrap();
        assert_eq!(err, "");
        // The three batches, then (`-a` is FULLNAT in rvsadm's dialect, DR in ipvsadm's)
        // the listing that looks for FULLNAT servers without local addresses.
        if dialect == Dialect::Rvsadm {
            assert_eq!(batch_sizes(&f), [256, 256, 88, 1]);
            assert!(matches!(f.requests[3], Command::ListServices));
        } else {
            assert_eq!(batch_sizes(&f), [256, 256, 88]);
        }
        assert_eq!(f.applied.len(), 600, "every line, in order");
        assert!(matches!(f.applied[0], Command::AddService { .. }));
        assert!(matches!(f.applied[599], Command::AddReal { .. }));
        let stops = f.requests[..3].iter().all(|r| matches!(r, Command::Batch { stop_at_error, .. } if *stop_at_error == (dialect == Dialect::Rvsadm)));
        assert!(stops, "rvsadm's dialect stops at a refusal, ipvsadm's goes on");
    }
}

/// A line that is no table change (a listing, `-E`, which reads the service first) runs
/// where it stands: after the lines before it, before the lines after it.
#[test]
fn other_lines_run_between_the_batches_in_order() {
    let input = "-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.19.0.11:80\n\
                 -E -t 198.18.0.1:80 -s wrr\n-a -t 198.18.0.1:80 -r 198.19.0.12:80\n-D -t 198.18.0.1:80\n";
    let mut f = Fake::new(Rvsd::Now, &[]);
    restore_as(Dialect::Rvsadm, &mut f, input).0.unwrap();
    let ops: Vec<&str> = f.requests.iter().map(Command::op).collect();
    assert_eq!(ops, ["batch", "list_services", "edit_service", "batch", "list_services"]);
    assert_eq!(batch_sizes(&f), [2, 1, 1, 2, 1]);
}

/// rvsadm's dialect: the first refused line stops the restore, with its number; nothing
/// after it is applied. ipvsadm's: every refusal told, the rest applied.
#[test]
fn a_refused_line_stops_rvsadm_and_not_ipvsadm() {
    let input = table(2);
    let mut f = Fake::new(Rvsd::Now, &[4]);
    let (r, _) = restore_as(Dialect::Rvsadm, &mut f, &input);
    assert_eq!(r.unwrap_err().to_string(), "line 5: Service already exists");
    assert_eq!(f.applied.len(), 5, "nothing after line 5");

    let mut f = Fake::new(Rvsd::Now, &[4, 6]);
    let (r, err) = restore_as(Dialect::Ipvsadm, &mut f, &input);
    r.unwrap();
    assert_eq!(err, "Service already exists\nService already exists\n");
    assert_eq!(f.applied.len(), 8);
    // The status is the last line's.
    let mut f = Fake::new(Rvsd::Now, &[7]);
    assert!(matches!(restore_as(Dialect::Ipvsadm, &mut f, &input).0, Err(RunError::Restore)));
}

/// A usage error stops the restore after the lines before it (sent first).
#[test]
fn a_bad_line_stops_after_the_lines_before_it() {
    let input = "-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.19.0.11:80\n-A -t 1.2.3.4\n-C\n";
    let mut f = Fake::new(Rvsd::Now, &[]);
    let (r, _) = restore_as(Dialect::Rvsadm, &mut f, input);
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().starts_with("line 3: "), "{e}");
    assert_eq!(f.applied.len(), 2);
}

/// rvsadm's local actions (a symlink written, rvs-ctrl signalled) are refused in `-R`, as
/// `-R` itself is, after the lines before them; the link is not made.
#[test]
fn local_actions_are_not_restored() {
    let dir = std::env::temp_dir().join(format!("rvsadm-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (line, what) in [
        (format!("--install-alias {}", dir.display()), "--install-alias"),
        ("--reload --pidfile /nonexistent/rvs-ctrl.pid".to_string(), "--reload"),
        ("-R".to_string(), "-R cannot be nested"),
    ] {
        for dialect in [Dialect::Rvsadm, Dialect::Ipvsadm] {
            let input = format!("-A -t 198.18.0.1:80\n{line}\n-C\n");
            let mut f = Fake::new(Rvsd::Now, &[]);
            let e = restore_as(dialect, &mut f, &input).0.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{line}");
            assert!(e.to_string().starts_with("line 2: ") && e.to_string().contains(what), "{line}: {e}");
            assert_eq!(f.applied.len(), 1, "{line}: the line before it, nothing after");
        }
    }
    assert!(std::fs::symlink_metadata(dir.join("ipvsadm")).is_err(), "no link written");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An rvsd older than batches: the restore reconnects and sends a request a line, with
/// the same outcome.
#[test]
fn an_rvsd_without_batches_gets_a_line_at_a_time() {
    let mut f = Fake::new(Rvsd::NoBatch, &[]);
    restore_as(Dialect::Rvsadm, &mut f, &table(100)).0.unwrap();
    assert_eq!(f.applied.len(), 400);
    assert_eq!((f.reconnects, f.requests.len()), (1, 402), "one refused batch, 400 lines, the listing");

    let mut f = Fake::new(Rvsd::NoBatch, &[4]);
    let (r, _) = restore_as(Dialect::Rvsadm, &mut f, &table(2));
    assert_eq!(r.unwrap_err().to_string(), "line 5: Service already exists");
    assert_eq!(f.applied.len(), 5, "one at a time, it still stops at line 5");
}

/// An rvsd that knows batches but not `stop_at_error` applied the lines after the refused
/// one: the error says so.
#[test]
fn an_rvsd_that_cannot_stop_a_batch_is_named() {
    let mut f = Fake::new(Rvsd::NoStopAtError, &[4]);
    let (r, _) = restore_as(Dialect::Rvsadm, &mut f, &table(2));
    assert_eq!(
        r.unwrap_err().to_string(),
        "line 5: Service already exists (rvsd, older than this rvsadm, still applied 3 table changes after it)"
    );
}

/// Over a socket: an rvsd older than batches closes the connection on one, and the
/// restore goes on over a new one (`Client::reconnect`).
#[test]
fn over_a_socket_the_restore_reconnects_after_a_refused_batch() {
    let fake = crate::sync::fake::FakeRvsd::start(Default::default());
    fake.state.lock().unwrap().refuse_batches = true;
    let mut client = rvs_proto::Client::connect(&fake.path).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let input = table(3);
    let mut inp = input.as_bytes();
    restore(&mut Env {
        transport: &mut client,
        out: &mut out,
        err: &mut err,
        input: &mut inp,
        clock: &NoClock,
        dialect: Dialect::Rvsadm,
    })
    .unwrap();
    let st = fake.state.lock().unwrap();
    assert_eq!((st.log.len(), st.batches), (13, 0), "12 lines, one at a time, and the listing");
    assert_eq!(st.table.len(), 3);
}
