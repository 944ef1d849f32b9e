//! The control socket: who may connect, and serving many clients without letting one
//! stall the others.
//!
//! The registry has one owner, the control thread, which handles requests one at a
//! time. Reading them does not happen there: each connection has a small reader thread
//! that reads one bounded JSON line at a time (under a deadline), hands the request to
//! the control thread over a channel and writes the answer back. A client that sends
//! half a request, or nothing, or a 50 MB line, costs its own thread and at most
//! `MAX_REQUEST` bytes, never another client's turn.

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::io::BufReader;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Control;
use rvs_proto::{read_msg_limited, write_msg, ProtoError, Request, Response};

pub use rvs_core::control::MAX_REQUEST;
/// Connections served at once; past this a new one is told so and closed. Each holds a
/// small thread, mostly asleep in a read: far above what operators and rvs-ctrl open.
pub const MAX_CLIENTS: usize = 1024;
/// How long a connection may sit between two requests, or in the middle of one.
const IDLE_DEADLINE: Duration = Duration::from_secs(30);

/// A request read by a connection's thread, with where its answer goes.
struct Job {
    req: Request,
    reply: Sender<Response>,
}

impl Control {
    /// Serves the control socket until `stop` is set.
    pub fn serve(&mut self, listener: &UnixListener, stop: &AtomicBool) {
        listener.set_nonblocking(true).expect("nonblocking control socket");
        let (jobs_tx, jobs) = bounded::<Job>(MAX_CLIENTS);
        let clients = Arc::new(AtomicUsize::new(0));
        let me = rustix::process::geteuid().as_raw();
        while !stop.load(Ordering::Relaxed) {
            self.rotate_cookie_secrets();
            loop {
                match listener.accept() {
                    Ok((stream, _)) => admit(stream, me, &clients, &jobs_tx),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept");
                        break;
                    }
                }
            }
            self.answer(&jobs, Duration::from_millis(20));
        }
    }

    /// Handles the requests that arrive within `wait`.
    fn answer(&mut self, jobs: &Receiver<Job>, wait: Duration) {
        let mut timeout = wait;
        loop {
            match jobs.recv_timeout(timeout) {
                Ok(job) => {
                    let resp = self.respond(job.req);
                    let _ = job.reply.send(resp);
                    timeout = Duration::ZERO;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn respond(&mut self, req: Request) -> Response {
        let what = format!("{:?}", req.command);
        match self.state.respond(req, &mut self.side) {
            Ok(r) => Response::ok(r),
            Err(e) => {
                tracing::info!(command = %what, error = %e, "control command refused");
                Response::error(e)
            }
        }
    }
}

/// Checks a new connection's peer and gives it a reader thread, or refuses it.
fn admit(stream: UnixStream, me: u32, clients: &Arc<AtomicUsize>, jobs: &Sender<Job>) {
    if let Err(why) = peer_allowed(&stream, me) {
        tracing::warn!(%why, "control connection refused");
        refuse(stream, &why);
        return;
    }
    if clients.load(Ordering::Relaxed) >= MAX_CLIENTS {
        refuse(stream, &format!("rvsd is serving {MAX_CLIENTS} control connections already; try again"));
        return;
    }
    clients.fetch_add(1, Ordering::Relaxed);
    let (clients, jobs) = (clients.clone(), jobs.clone());
    let thread = std::thread::Builder::new().name("rvs-ctl-client".into()).stack_size(256 << 10);
    let spawned = thread.spawn(move || {
        if let Err(e) = serve_client(stream, &jobs) {
            tracing::debug!(error = %e, "control client");
        }
        clients.fetch_sub(1, Ordering::Relaxed);
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a control client thread");
    }
}

fn refuse(mut stream: UnixStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = write_msg(&mut stream, &Response::error(why.to_string()));
}

/// Root and rvsd's own user may use the socket; members of `control_group` get in
/// through the socket file's mode and group (the kernel checks that at connect).
fn peer_allowed(stream: &UnixStream, me: u32) -> Result<(), String> {
    let cred = rustix::net::sockopt::socket_peercred(stream.as_fd())
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    let (uid, gid) = (cred.uid.as_raw(), cred.gid.as_raw());
    if uid == 0 || uid == me || GROUP.get().is_some_and(|&g| g == gid) {
        return Ok(());
    }
    Err(format!("uid {uid} (pid {}) may not use rvsd's control socket", cred.pid.as_raw_nonzero()))
}

/// The control group's id, once the socket is bound.
static GROUP: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// One connection: bounded requests in, answers out, until the peer closes, stalls past
/// the deadline or sends something unreadable (answered with an error first).
fn serve_client(stream: UnixStream, jobs: &Sender<Job>) -> Result<(), ProtoError> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE_DEADLINE))?;
    stream.set_write_timeout(Some(IDLE_DEADLINE))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let (reply_tx, reply) = bounded(1);
    loop {
        let req: Request = match read_msg_limited(&mut reader, MAX_REQUEST) {
            Ok(r) => r,
            Err(ProtoError::Closed) => return Ok(()),
            Err(e @ (ProtoError::Json(_) | ProtoError::TooLong { .. })) => {
                write_msg(&mut writer, &Response::error(format!("malformed request: {e}")))?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if jobs.send(Job { req, reply: reply_tx.clone() }).is_err() {
            return Ok(()); // rvsd is stopping
        }
        match reply.recv() {
            Ok(resp) => write_msg(&mut writer, &resp)?,
            Err(_) => return Ok(()),
        }
    }
}

/// Binds the control socket, refusing to steal it from a running rvsd. The socket is
/// 0600, or 0660 owned by `group` (a name from /etc/group or a number) when one is given.
pub fn bind_socket(path: &Path, group: Option<&str>) -> Result<UnixListener, String> {
    if UnixStream::connect(path).is_ok() {
        return Err(format!("another rvsd is already serving {}", path.display()));
    }
    let gid = group.map(group_id).transpose()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot bind control socket {}: {e}", path.display()))?;
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    if let Some(g) = gid {
        std::os::unix::fs::chown(path, None, Some(g))
            .map_err(|e| format!("cannot give {} to group {g}: {e}", path.display()))?;
        let _ = GROUP.set(g);
    }
    Ok(listener)
}

/// A group's id from its name (as /etc/group has it) or its number.
fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let groups = std::fs::read_to_string("/etc/group").map_err(|e| format!("cannot read /etc/group: {e}"))?;
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.nth(1)?.parse::<u32>().ok()?))
        })
        .find(|&(n, _)| n == name)
        .map(|(_, id)| id)
        .ok_or_else(|| format!("control_group: no group named {name:?} in /etc/group"))
}

/// Removes the socket file on drop.
pub struct SocketGuard(pub PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::{Client, Command};
    use std::io::Write;

    /// A control thread serving a fresh registry on a socket in a temporary directory.
    fn serving() -> (PathBuf, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!(
            "rvsd-ctl-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let path = dir.join("rvsd.sock");
        let listener = bind_socket(&path, None).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            let mut ctl = super::super::tests::control_for_server();
            ctl.serve(&listener, &s);
        });
        (path, stop, t)
    }

    fn list(path: &Path) -> Result<rvs_proto::Reply, String> {
        let mut c = Client::connect(path.to_str().unwrap()).map_err(|e| e.to_string())?;
        c.call(Command::ListServices).map_err(|e| e.to_string())?
    }

    /// 200 connections that sent half a request, and one that sends a line without end,
    /// do not keep an ordinary client from being answered at once.
    #[test]
    fn stuck_and_oversized_clients_do_not_delay_others() {
        let (path, stop, t) = serving();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut stuck = Vec::new();
        for _ in 0..200 {
            let mut s = UnixStream::connect(&path).unwrap();
            s.write_all(b"{\"version\":").unwrap();
            stuck.push(s);
        }
        let mut big = UnixStream::connect(&path).unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 16];
            for _ in 0..64 {
                if big.write_all(&chunk).is_err() {
                    break; // refused and closed past the limit
                }
            }
        });
        let t0 = std::time::Instant::now();
        for _ in 0..5 {
            assert!(matches!(list(&path), Ok(rvs_proto::Reply::Services { .. })));
        }
        // Generous on a loaded machine: one stalled client used to cost 5 s.
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        writer.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A malformed request is answered with an error and the next client is served.
    #[test]
    fn a_malformed_request_is_refused_and_the_next_is_served() {
        let (path, stop, t) = serving();
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"this is not json\n").unwrap();
        let mut r = BufReader::new(s);
        let resp: Response = rvs_proto::read_msg(&mut r).unwrap();
        assert!(format!("{resp:?}").contains("malformed request"), "{resp:?}");
        assert!(list(&path).is_ok());
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn group_names_and_numbers_resolve() {
        assert_eq!(group_id("0"), Ok(0));
        assert_eq!(group_id("root"), Ok(0));
        assert!(group_id("no-such-group-rvs").unwrap_err().contains("no group named"));
    }
}
