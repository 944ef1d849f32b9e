//! Running keepalived: VRRP only (`--vrrp`), in the foreground (`--dont-fork`), logging
//! to rvs-ctrl's standard error, with pid files of its own (several directors' keepalived
//! may share a host, each in its namespace). It is told to stop (SIGTERM) if rvs-ctrl dies,
//! so a VRRP master never outlives the daemon that makes rvsd follow it; a crash is
//! restarted after a growing delay (1 s doubling to 30 s, back to 1 s after a minute up);
//! a new configuration is a SIGHUP.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Up this long, a keepalived's next crash restarts it after the shortest delay again.
const STABLE: Duration = Duration::from_secs(60);
/// How long a stopping keepalived may take (it sends priority-0 adverts and removes its
/// addresses) before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How keepalived is found and where its files go.
#[derive(Debug, Clone)]
pub struct KeepalivedOptions {
    /// The keepalived binary.
    pub binary: PathBuf,
    /// The generated configuration, its pid files and the FIFO go here.
    pub run_dir: PathBuf,
    /// Names the files, so several rvs-ctrl can share a run directory.
    pub tag: String,
}

impl KeepalivedOptions {
    pub fn conf(&self) -> PathBuf {
        self.run_dir.join(format!("{}-keepalived.conf", self.tag))
    }
    pub fn fifo(&self) -> PathBuf {
        self.run_dir.join(format!("{}-vrrp.fifo", self.tag))
    }
    fn pid(&self, which: &str) -> PathBuf {
        self.run_dir.join(format!("{}-{which}.pid", self.tag))
    }
}

/// Writes `text` to `path` atomically (so keepalived never reads half of it).
pub fn write_conf(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("conf.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// What happened to the keepalived process during [`Supervisor::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started(u32),
    Exited(String),
    StartFailed(String),
}

pub struct Supervisor {
    opts: KeepalivedOptions,
    child: Option<(Child, Instant)>,
    backoff: Duration,
    next_start: Instant,
    pub restarts: u64,
}

impl Supervisor {
    pub fn new(opts: KeepalivedOptions) -> Self {
        Supervisor { opts, child: None, backoff: BACKOFF_MIN, next_start: Instant::now(), restarts: 0 }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|(c, _)| c.id())
    }

    /// Reaps an exited keepalived and (re)starts it when `wanted` and its delay has passed.
    pub fn poll(&mut self, wanted: bool) -> Vec<Event> {
        let mut ev = Vec::new();
        if let Some((c, since)) = &mut self.child {
            if let Ok(Some(status)) = c.try_wait() {
                ev.push(Event::Exited(status.to_string()));
                self.backoff = if since.elapsed() >= STABLE { BACKOFF_MIN } else { self.backoff };
                self.next_start = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                self.child = None;
                self.restarts += 1;
            }
        }
        if wanted && self.child.is_none() && Instant::now() >= self.next_start {
            match self.spawn() {
                Ok(c) => {
                    ev.push(Event::Started(c.id()));
                    self.child = Some((c, Instant::now()));
                }
                Err(e) => {
                    ev.push(Event::StartFailed(e.to_string()));
                    self.next_start = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if !wanted {
            self.stop();
        }
        ev
    }

    fn spawn(&self) -> io::Result<Child> {
        use std::os::unix::process::CommandExt;
        let o = &self.opts;
        let mut cmd = Command::new(&o.binary);
        cmd.arg("--vrrp")
            .arg("--dont-fork")
            .arg("--log-console")
            .arg("--log-detail")
            .arg("--no-syslog")
            .arg("--use-file")
            .arg(o.conf())
            .arg("--pid")
            .arg(o.pid("keepalived"))
            .arg("--vrrp_pid")
            .arg(o.pid("vrrp"))
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        // SAFETY: prctl only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn()
    }

    /// SIGHUP: keepalived re-reads its configuration.
    pub fn reload(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
        }
    }

    /// Stops keepalived and starts a fresh one at the next [`Supervisor::poll`].
    pub fn restart(&mut self) {
        self.stop();
        self.next_start = Instant::now();
        self.restarts += 1;
    }

    /// SIGTERM, then SIGKILL after [`STOP_WAIT`]; then the same for its VRRP child if it
    /// outlived the parent (seen in the lab: a VRRP child hung after rvsd's tap was made
    /// anew kept its pid file, and every new keepalived exited with "daemon is already
    /// running").
    pub fn stop(&mut self) {
        self.stop_parent();
        let vrrp =
            std::fs::read_to_string(self.opts.pid("vrrp")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = vrrp.filter(|&p| p > 1) {
            // SAFETY: kill(2) with signal 0 / SIGTERM / SIGKILL on the pid keepalived's own
            // VRRP child wrote; it is gone (ESRCH) in the usual case.
            let alive = || unsafe { libc::kill(pid, 0) } == 0;
            if alive() {
                unsafe { libc::kill(pid, libc::SIGTERM) };
                let until = Instant::now() + STOP_WAIT;
                while alive() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if alive() {
                    tracing::warn!(pid, "keepalived's VRRP child outlived it: SIGKILL");
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = std::fs::remove_file(self.opts.pid("vrrp"));
        }
    }

    fn stop_parent(&mut self) {
        let Some((mut c, _)) = self.child.take() else { return };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        let until = Instant::now() + STOP_WAIT;
        while Instant::now() < until {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(pid = c.id(), "keepalived ignored SIGTERM for {STOP_WAIT:?}: SIGKILL");
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `keepalived --config-test` on a generated file; its complaints, each with the
/// operator's file:line of the block it is about when that can be told.
pub fn config_test(binary: &Path, conf: &Path, text: &str) -> io::Result<Vec<String>> {
    let out = Command::new(binary)
        .arg("--vrrp")
        .arg("--config-test")
        .arg("--use-file")
        .arg(conf)
        .stdin(Stdio::null())
        .output()?;
    let mut lines = Vec::new();
    for l in String::from_utf8_lossy(&out.stderr).lines().chain(String::from_utf8_lossy(&out.stdout).lines())
    {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        // keepalived names generated lines as "(Line N)" / "line N"; find the block's origin.
        let lower = l.to_ascii_lowercase();
        let n = lower
            .find("line ")
            .and_then(|i| lower[i + 5..].split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok());
        match n.and_then(|n| super::conf::origin_of(text, n)) {
            // The generated file's "(Line N)" would only mislead next to the origin.
            // Its "(Line N)" or "(FILE: Line N)": the generated file's name and line.
            Some(origin) => {
                let generated = |r: &str| r.strip_prefix("Line ").is_some() || r.contains(": Line ");
                let l = l
                    .strip_prefix('(')
                    .and_then(|r| r.split_once(") "))
                    .filter(|(r, _)| generated(r))
                    .map_or(l, |(_, rest)| rest);
                lines.push(format!("{origin}: keepalived: {l}"))
            }
            None => lines.push(format!("keepalived: {l}")),
        }
    }
    if out.status.success() {
        Ok(Vec::new())
    } else {
        Ok(lines)
    }
}
