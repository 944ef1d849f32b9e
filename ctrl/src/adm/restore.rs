//! `-R`: one command per line (as `-S` prints them), run in order. Errors name the line.
//! In rvsadm's dialect the first refused line stops the restore; as ipvsadm (its
//! restore_table), a refused line is told on stderr and the next is run, and the status is
//! the last line's. A usage error stops either, after the lines before it.
//!
//! Consecutive table changes go to rvsd in batches (`Command::Batch`): one request and one
//! new configuration for the workers per batch, where a line each cost a round trip and a
//! rebuild of the workers' services (4,000 lines took 1.6 s on an idle lab host, and more
//! the busier the host). Each line is still applied on its own and answered on its own;
//! in rvsadm's dialect a batch stops at its first refused line, as the lines did.

use super::args::{self, Action, AdmCommand, Dialect, UsageError};
use super::report;
use super::run::{execute, table_change, Env, RunError};
use rvs_proto::{Command, ForwardMethod, Reply, ResponseResult};

/// A table change read from line `n` (from 0), waiting for its batch.
struct Line {
    n: usize,
    cmd: AdmCommand,
    request: Command,
}

#[derive(Default)]
struct Restore {
    pending: Vec<Line>,
    /// ipvsadm's dialect: whether the last line run was refused (the status).
    last_refused: bool,
    /// rvsd is older than batches: one request a line.
    no_batch: bool,
}

pub(super) fn restore(env: &mut Env<'_>) -> Result<(), RunError> {
    let mut lines = Vec::new();
    let mut buf = String::new();
    loop {
        buf.clear();
        if env.input.read_line(&mut buf)? == 0 {
            break;
        }
        lines.push(buf.clone());
    }
    let mut r = Restore::default();
    let mut fullnat_reals = false;
    for (n, line) in lines.iter().enumerate() {
        let cmd = match command_of(line, n, env.dialect) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => continue,
            Err(e) => {
                r.flush(env)?;
                return Err(e.into());
            }
        };
        if let Some(request) = table_change(&cmd) {
            fullnat_reals |= matches!(&cmd, AdmCommand::AddReal { real, .. } | AdmCommand::EditReal { real, .. }
                if real.method == ForwardMethod::FullNat);
            r.pending.push(Line { n, cmd, request });
            continue;
        }
        // Anything else (a listing, `-E`, which reads the service first) runs where it
        // stands, after the changes before it.
        r.flush(env)?;
        match (execute(&cmd, env), env.dialect) {
            (Ok(()), _) => r.last_refused = false,
            (Err(RunError::Daemon(m)), Dialect::Ipvsadm) => {
                writeln!(env.err, "{m}")?;
                r.last_refused = true;
            }
            (Err(RunError::Daemon(m)), Dialect::Rvsadm) => {
                return Err(RunError::Daemon(format!("line {}: {m}", n + 1)))
            }
            (Err(e), _) => return Err(e),
        }
    }
    r.flush(env)?;
    if r.last_refused {
        return Err(RunError::Restore);
    }
    // Once the whole table is in: its `-P` lines come after its `-a` lines.
    if fullnat_reals {
        super::run::warn_missing_local_addrs(env, None)?;
    }
    Ok(())
}

/// Line `n`'s command; None for a blank or comment line.
fn command_of(line: &str, n: usize, dialect: Dialect) -> Result<Option<AdmCommand>, UsageError> {
    let at = |msg: String| UsageError(format!("line {}: {msg}", n + 1));
    let Some(words) = args::split_line(line).map_err(|e| at(e.0))? else {
        return Ok(None);
    };
    match args::parse_args_as(&words, dialect).map_err(|e| at(e.0))?.action {
        Action::Command(AdmCommand::Restore) => Err(at("-R cannot be nested".into())),
        // rvsadm's own local actions, which write files or signal a process: not what a
        // saved table or an ipvsadm script holds.
        Action::Command(AdmCommand::InstallAlias { .. }) => {
            Err(at("--install-alias is not a table command".into()))
        }
        Action::Command(AdmCommand::Reload { .. }) => Err(at("--reload is not a table command".into())),
        Action::Command(c) => Ok(Some(c)),
        Action::Help | Action::Version => Err(at("-h/-v are not commands".into())),
    }
}

impl Restore {
    /// Sends the waiting table changes and tells what rvsd said of each.
    fn flush(&mut self, env: &mut Env<'_>) -> Result<(), RunError> {
        let lines = std::mem::take(&mut self.pending);
        let requests: Vec<Command> = lines.iter().map(|l| l.request.clone()).collect();
        let mut done = 0;
        for chunk in crate::sync::batches(&requests) {
            let results = self.send(env, chunk)?;
            for (i, result) in results.iter().enumerate() {
                let line = &lines[done + i];
                let Err(refusal) = result else {
                    self.last_refused = false;
                    continue;
                };
                let m = report::ipvsadm_wording(&line.cmd, refusal, env.dialect);
                if env.dialect == Dialect::Ipvsadm {
                    writeln!(env.err, "{m}")?;
                    self.last_refused = true;
                    continue;
                }
                let mut m = format!("line {}: {m}", line.n + 1);
                // An rvsd that knows batches but not `stop_at_error` applies the rest.
                let applied_after = results[i + 1..].iter().filter(|r| r.is_ok()).count();
                if applied_after > 0 {
                    m += &format!(
                        " (rvsd, older than this rvsadm, still applied {applied_after} table changes after it)"
                    );
                }
                return Err(RunError::Daemon(m));
            }
            done += chunk.len();
        }
        Ok(())
    }

    /// `chunk`, in one batch when it holds several: what rvsd said of each command, in
    /// order (in rvsadm's dialect, none after the first refused one when sent one by one).
    fn send(&mut self, env: &mut Env<'_>, chunk: &[Command]) -> Result<Vec<Result<(), String>>, RunError> {
        let stop_at_error = env.dialect == Dialect::Rvsadm;
        if chunk.len() == 1 || self.no_batch {
            let mut out = Vec::new();
            for c in chunk {
                let refused = env.transport.call(c.clone())?.map(|_| ());
                let stop = refused.is_err() && stop_at_error;
                out.push(refused);
                if stop {
                    break;
                }
            }
            return Ok(out);
        }
        match env.transport.call(Command::Batch { commands: chunk.to_vec(), stop_at_error })? {
            Ok(Reply::Batch { results }) if results.len() == chunk.len() => Ok(results
                .into_iter()
                .map(|r| match r {
                    ResponseResult::Ok(_) => Ok(()),
                    ResponseResult::Error(e) => Err(e),
                })
                .collect()),
            Ok(_) => Err(RunError::Unexpected("batch")),
            // An rvsd older than batches answers "malformed request" and closes the
            // connection: from now on, a request a line.
            Err(_) => {
                self.no_batch = true;
                env.transport.reconnect()?;
                self.send(env, chunk)
            }
        }
    }
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
