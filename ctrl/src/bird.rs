//! Announcing the VIPs to a routing daemon (BIRD 2) that runs in the director's kernel and
//! speaks OSPF/BGP through rvsd's exception path.
//!
//! rvs-ctrl knows which services have quorum; BIRD knows how to tell routers. The seam is a
//! BIRD include file holding one `route VIP/32 blackhole;` per announced VIP, read by a
//! `protocol static` in bird.conf (see `examples/bird-director.conf`) whose routes the
//! OSPF (or BGP) protocol exports. After each change the file is replaced atomically and
//! `birdc configure` makes BIRD re-read it: BIRD then originates or flushes the VIP's LSA.
//!
//! A VIP is announced only while
//! * every virtual server on that address has quorum (so an anycast/ECMP group of
//!   directors sends a VIP's traffic only to directors that can serve all of it), and
//! * rvsd answers on its control socket: a watchdog asks it for its counters every
//!   `interval`; `failures` bad polls in a row (unanswered within `timeout`, or a worker
//!   whose poll-loop heartbeat did not move since the previous poll) withdraw every VIP, so
//!   a stopped or hung rvsd (`kill -STOP`, a stuck worker) does not black-hole traffic. An
//!   rvsd that went away (socket gone) withdraws them the same way.
//!
//! * rvsd, when it is a member of an ECMP cluster (`[cluster]`), is `active`: a joining
//!   member announces nothing until its bulk sync filled its table (the router would
//!   otherwise move established flows onto a member that does not know them), and a
//!   leaving one (`rvsadm --cluster --leave`, SIGTERM) withdraws before it stops.
//!
//! When rvs-ctrl stops, the VIPs are withdrawn: without rvs-ctrl nobody watches rvsd.

use rvs_proto::{read_msg, write_msg, Command, Reply, Request, Response, ResponseResult};
use std::collections::BTreeSet;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::check::state::Health;

/// Where the announcements go and how rvsd is watched.
#[derive(Debug, Clone)]
pub struct BirdOptions {
    /// The include file BIRD's static protocol reads (replaced atomically).
    pub include: PathBuf,
    /// The `birdc` command and its leading arguments (e.g. `birdc -s /run/bird.ctl`).
    pub birdc: Vec<String>,
    /// How often the watchdog asks rvsd.
    pub interval: Duration,
    /// How long one question may wait for the answer.
    pub timeout: Duration,
    /// Unanswered questions in a row that withdraw the VIPs.
    pub failures: u32,
}

impl BirdOptions {
    pub fn new(include: PathBuf) -> Self {
        BirdOptions {
            include,
            birdc: vec!["birdc".into()],
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(1000),
            failures: 2,
        }
    }
}

/// The IPv4 VIPs all of whose virtual servers have quorum.
pub fn quorum_vips(health: &Health) -> BTreeSet<Ipv4Addr> {
    let vss = &health.config().virtual_servers;
    let mut up = BTreeSet::new();
    let mut down = BTreeSet::new();
    for (i, vs) in vss.iter().enumerate() {
        let IpAddr::V4(ip) = vs.key.addr.ip() else { continue };
        if health.quorum_up(i) {
            up.insert(ip);
        } else {
            down.insert(ip);
        }
    }
    up.difference(&down).copied().collect()
}

/// The include file's text for `vips`.
pub fn render(vips: &BTreeSet<Ipv4Addr>) -> String {
    let mut s = String::from(
        "# Written by rvs-ctrl: the VIPs whose services have quorum on a live rvsd (and an\n\
         # active cluster member's own LIPs).\n\
         # Included in a BIRD `protocol static`; do not edit.\n",
    );
    for v in vips {
        s.push_str(&format!("route {v}/32 blackhole;\n"));
    }
    s
}

/// What the announcer should announce: nothing while rvsd does not answer.
pub fn desired(wanted: &BTreeSet<Ipv4Addr>, rvsd_alive: bool) -> BTreeSet<Ipv4Addr> {
    if rvsd_alive {
        wanted.clone()
    } else {
        BTreeSet::new()
    }
}

/// What one poll of rvsd found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// No answer within the timeout (or no rvsd).
    Silent,
    /// The control thread answered: each worker's (id, poll-loop heartbeat).
    Answered(Vec<(u32, u64)>),
}

/// Counts bad polls; rvsd is taken for dead after `limit` in a row. A poll is bad when rvsd
/// does not answer, or when a worker's heartbeat has not moved since the previous poll (a
/// hung worker behind a control thread that still answers).
#[derive(Debug, Clone)]
pub struct Watchdog {
    misses: u32,
    limit: u32,
    last: Vec<(u32, u64)>,
}

impl Watchdog {
    pub fn new(limit: u32) -> Self {
        // Dead until the first answer: nothing is announced before rvsd was seen.
        Watchdog { misses: limit.max(1), limit: limit.max(1), last: Vec::new() }
    }

    /// Records one poll; returns the worker found stalled, if one was.
    pub fn record(&mut self, poll: Poll) -> Option<u32> {
        let (bad, stalled) = match poll {
            Poll::Silent => (true, None),
            Poll::Answered(beats) => {
                // 0: an rvsd that does not report heartbeats; nothing to compare.
                let stalled = beats
                    .iter()
                    .find(|&&(w, n)| n != 0 && self.last.iter().any(|&(pw, pn)| pw == w && pn == n))
                    .map(|&(w, _)| w);
                self.last = beats;
                (stalled.is_some(), stalled)
            }
        };
        self.misses = if bad { self.misses.saturating_add(1) } else { 0 };
        stalled
    }

    pub fn alive(&self) -> bool {
        self.misses < self.limit
    }
}

/// One question to rvsd (its counters, answered by its control thread), bounded by `timeout`.
pub fn poll_rvsd(socket: &str, timeout: Duration) -> Poll {
    let ask = || -> Result<Poll, rvs_proto::ProtoError> {
        let s = UnixStream::connect(socket)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        let mut w = s.try_clone()?;
        write_msg(&mut w, &Request::new(Command::Stats))?;
        let resp: Response = read_msg(&mut BufReader::new(s))?;
        Ok(match resp.result {
            ResponseResult::Ok(Reply::Stats { workers, .. }) => {
                Poll::Answered(workers.iter().map(|w| (w.worker, w.loops)).collect())
            }
            _ => Poll::Silent,
        })
    };
    ask().unwrap_or(Poll::Silent)
}

/// Whether rvsd may be announced as a cluster member: Some(its own LIPs) when it is not
/// one (no `[cluster]`: none) or is `active`; None while joining or leaving, or when it
/// does not answer. An active member's own LIPs are announced with the VIPs (the real
/// servers' replies to them reach it), a leaving one's withdrawn with them (the replies
/// then go to the other members, which announce every member's LIPs at a worse metric
/// and hold the sessions).
pub fn cluster_ready(socket: &str, timeout: Duration) -> Option<BTreeSet<Ipv4Addr>> {
    let ask = || -> Result<Option<BTreeSet<Ipv4Addr>>, rvs_proto::ProtoError> {
        let s = UnixStream::connect(socket)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        let mut w = s.try_clone()?;
        write_msg(&mut w, &Request::new(Command::ClusterStatus))?;
        let resp: Response = read_msg(&mut BufReader::new(s))?;
        Ok(match resp.result {
            ResponseResult::Ok(Reply::Cluster { cluster }) if !cluster.enabled => Some(BTreeSet::new()),
            ResponseResult::Ok(Reply::Cluster { cluster }) if cluster.state == "active" => {
                Some(cluster.local_addresses.iter().filter_map(|a| a.parse().ok()).collect())
            }
            // An rvsd that predates the cluster: not a member.
            ResponseResult::Error(_) => Some(BTreeSet::new()),
            _ => None,
        })
    };
    ask().unwrap_or(None)
}

/// Replaces `path` with `text` (write to a temporary file beside it, then rename).
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Runs `birdc ... configure`; Ok when BIRD says it reconfigured.
fn birdc_configure(birdc: &[String]) -> Result<(), String> {
    let (cmd, args) = birdc.split_first().ok_or("no birdc command")?;
    let out = Process::new(cmd)
        .args(args)
        .arg("configure")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && text.contains("Reconfigur") {
        Ok(())
    } else {
        Err(text.trim().replace('\n', " | "))
    }
}

/// The announcer thread's handle: send it the wanted VIPs; drop it to withdraw and stop.
pub struct Announcer {
    tx: Option<mpsc::Sender<BTreeSet<Ipv4Addr>>>,
    thread: Option<JoinHandle<()>>,
}

impl Announcer {
    /// Starts the announcer; it withdraws everything first (an old file may name VIPs).
    pub fn spawn(opts: BirdOptions, rvsd_socket: String) -> std::io::Result<Announcer> {
        let (tx, rx) = mpsc::channel::<BTreeSet<Ipv4Addr>>();
        let thread = std::thread::Builder::new()
            .name("rvs-bird".into())
            .spawn(move || run(&opts, &rvsd_socket, &rx))?;
        Ok(Announcer { tx: Some(tx), thread: Some(thread) })
    }

    /// The VIPs that have quorum now.
    pub fn want(&self, vips: BTreeSet<Ipv4Addr>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(vips);
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the BIRD announcer thread panicked");
            }
        }
    }
}

fn run(opts: &BirdOptions, socket: &str, rx: &mpsc::Receiver<BTreeSet<Ipv4Addr>>) {
    let mut wanted = BTreeSet::new();
    let mut dog = Watchdog::new(opts.failures);
    // What BIRD was last told successfully; None: unknown (told again at once).
    let mut announced: Option<BTreeSet<Ipv4Addr>> = None;
    let mut stopping = false;
    let mut was_ready = true;
    loop {
        let was_alive = dog.alive();
        if let Some(w) = dog.record(poll_rvsd(socket, opts.timeout)) {
            tracing::warn!(socket, worker = w, "an rvsd worker's heartbeat did not move since the last poll");
        }
        let alive = dog.alive();
        if was_alive != alive {
            if alive {
                tracing::info!(socket, "rvsd answers: its VIPs may be announced");
            } else {
                tracing::warn!(socket, "rvsd does not answer: withdrawing every VIP");
            }
        }
        let member = if alive { cluster_ready(socket, opts.timeout) } else { None };
        let ready = member.is_some();
        if alive && ready != was_ready {
            if ready {
                tracing::info!(socket, "rvsd is an active cluster member: its VIPs may be announced");
            } else {
                tracing::info!(socket, "rvsd is joining or leaving its cluster: withdrawing every VIP");
            }
        }
        was_ready = ready || !alive;
        let mut want = if stopping { BTreeSet::new() } else { desired(&wanted, ready) };
        if !stopping && !want.is_empty() {
            want.extend(member.unwrap_or_default());
        }
        if announced.as_ref() != Some(&want) {
            match write_atomic(&opts.include, &render(&want))
                .map_err(|e| e.to_string())
                .and_then(|()| birdc_configure(&opts.birdc))
            {
                Ok(()) => {
                    let list: Vec<String> = want.iter().map(|v| v.to_string()).collect();
                    tracing::info!(include = %opts.include.display(), vips = ?list, "BIRD reconfigured: announcing");
                    announced = Some(want);
                }
                Err(e) => {
                    tracing::warn!(include = %opts.include.display(), error = %e, "BIRD reconfiguration failed; retrying");
                    announced = None;
                }
            }
        }
        if stopping {
            return;
        }
        match rx.recv_timeout(opts.interval) {
            Ok(v) => {
                wanted = v;
                while let Ok(v) = rx.try_recv() {
                    wanted = v;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => stopping = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<Ipv4Addr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn render_lists_one_blackhole_route_per_vip() {
        let text = render(&set(&["198.18.0.100", "198.18.0.101"]));
        let routes: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(routes, ["route 198.18.0.100/32 blackhole;", "route 198.18.0.101/32 blackhole;"]);
        assert!(render(&BTreeSet::new()).lines().all(|l| l.starts_with('#')));
    }

    #[test]
    fn a_dead_rvsd_announces_nothing() {
        let w = set(&["198.18.0.100"]);
        assert_eq!(desired(&w, true), w);
        assert!(desired(&w, false).is_empty());
    }

    #[test]
    fn watchdog_needs_an_answer_first_and_tolerates_fewer_misses_than_the_limit() {
        let mut d = Watchdog::new(2);
        let beat = |n: u64| Poll::Answered(vec![(0, n), (1, n + 7)]);
        assert!(!d.alive(), "not alive before the first answer");
        assert_eq!(d.record(beat(1)), None);
        assert!(d.alive());
        d.record(Poll::Silent);
        assert!(d.alive(), "one miss is tolerated");
        d.record(Poll::Silent);
        assert!(!d.alive(), "two in a row are not");
        d.record(beat(5));
        assert!(d.alive());
    }

    #[test]
    fn a_worker_whose_heartbeat_stands_still_is_a_miss() {
        let mut d = Watchdog::new(2);
        d.record(Poll::Answered(vec![(0, 10), (1, 20)]));
        assert_eq!(d.record(Poll::Answered(vec![(0, 11), (1, 20)])), Some(1));
        assert!(d.alive());
        assert_eq!(d.record(Poll::Answered(vec![(0, 12), (1, 20)])), Some(1));
        assert!(!d.alive(), "worker 1 hung for two polls");
        assert_eq!(d.record(Poll::Answered(vec![(0, 13), (1, 21)])), None);
        assert!(d.alive());
        // An rvsd that reports no heartbeat (0) is judged by its answers only.
        let mut d = Watchdog::new(2);
        for _ in 0..3 {
            assert_eq!(d.record(Poll::Answered(vec![(0, 0)])), None);
        }
        assert!(d.alive());
    }

    #[test]
    fn an_absent_rvsd_does_not_answer() {
        assert_eq!(poll_rvsd("/nonexistent/rvsd.sock", Duration::from_millis(100)), Poll::Silent);
    }

    #[test]
    fn a_silent_rvsd_does_not_answer_within_the_timeout() {
        let dir = crate::testutil::TempDir::new("bird");
        let path = dir.path().join("silent.sock");
        // Accepts (the kernel does, from the backlog) and never answers: a stopped rvsd.
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(poll_rvsd(path.to_str().unwrap(), Duration::from_millis(200)), Poll::Silent);
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn birdc_failure_is_reported_with_its_output() {
        let e = birdc_configure(&[
            "sh".into(),
            "-c".into(),
            "echo 'Unable to connect'; exit 1".into(),
            "sh".into(),
        ])
        .unwrap_err();
        assert!(e.contains("Unable to connect"), "{e}");
        let ok = birdc_configure(&["sh".into(), "-c".into(), "echo Reconfigured".into(), "sh".into()]);
        assert_eq!(ok, Ok(()));
    }
}
