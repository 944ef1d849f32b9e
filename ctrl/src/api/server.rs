//! The HTTP server: [`Live`] (the running daemon's [`Backend`]), [`bind`] and [`serve`].

use super::http;
use super::*;
use std::collections::HashMap;
use std::net::TcpListener;

/// The backend of the running daemon.
pub struct Live {
    pub shared: Arc<Shared>,
    pub socket: String,
    pub ops: mpsc::Sender<OpRequest>,
    /// Written to after each op so the main loop wakes at once.
    pub waker: Option<std::os::unix::net::UnixStream>,
    pub dashboard: Option<Arc<crate::dashboard::Dashboard>>,
    /// The VRRP thread's status, when it runs.
    pub vrrp: Arc<Mutex<Option<crate::vrrp::StatusHandle>>>,
    /// `node_ipvs_*_total` across scrapes.
    pub ipvs_totals: IpvsTotals,
}

impl Backend for Live {
    fn status(&self) -> Arc<Status> {
        self.shared.get()
    }

    fn rvsd(&self) -> Result<super::RvsdCounters, String> {
        let mut c = Client::connect(&self.socket).map_err(|e| e.to_string())?;
        let services = match c.call(Command::ListServices).map_err(|e| e.to_string())? {
            Ok(Reply::Services { services }) => services,
            Ok(other) => return Err(format!("unexpected reply {other:?}")),
            Err(e) => return Err(e),
        };
        let (workers, ports) = match c.call(Command::Stats).map_err(|e| e.to_string())? {
            Ok(Reply::Stats { workers, ports }) => (workers, ports),
            Ok(other) => return Err(format!("unexpected reply {other:?}")),
            Err(e) => return Err(e),
        };
        Ok(super::RvsdCounters { services, workers, ports, neighbours: None })
    }

    fn neighbours(&self) -> Option<Vec<rvs_proto::NeighInfo>> {
        // An rvsd older than the listing refuses it: None, and the caller goes on without.
        match Client::connect(&self.socket).ok()?.call(Command::ListNeighbours).ok()? {
            Ok(Reply::Neighbours { neighbours, .. }) => Some(neighbours),
            _ => None,
        }
    }

    fn submit(&self, op: Op) -> Result<(), OpError> {
        let (tx, rx) = mpsc::channel();
        self.ops.send(OpRequest { op, reply: tx }).map_err(|_| OpError::Unavailable("stopping".into()))?;
        if let Some(w) = &self.waker {
            use std::io::Write;
            let _ = (&*w).write(&[1]);
        }
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| OpError::Unavailable("the main loop did not answer".into()))?
    }

    fn dashboard(&self) -> Option<&crate::dashboard::Dashboard> {
        self.dashboard.as_deref()
    }

    fn vrrp(&self) -> Option<Arc<crate::vrrp::VrrpStatus>> {
        self.vrrp.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|h| h.get())
    }

    fn ownership(&self) -> Result<rvs_proto::OwnershipInfo, String> {
        crate::vrrp::owner::Rvsd(&self.socket).info()
    }

    fn sync(&self) -> Result<rvs_proto::SyncInfo, String> {
        crate::vrrp::owner::Rvsd(&self.socket).sync()
    }

    fn ipvs_totals(&self) -> Option<&IpvsTotals> {
        Some(&self.ipvs_totals)
    }

    fn own(&self, take: bool, addrs: &[IpAddr]) -> Result<rvs_proto::OwnershipInfo, String> {
        let r = crate::vrrp::owner::Rvsd(&self.socket);
        if take {
            r.take_addrs(addrs)
        } else {
            r.release_addrs(addrs)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {msg}")]
pub struct ListenError {
    pub addr: SocketAddr,
    pub msg: String,
}

/// The listening socket and what clients may take ([`http::Limits`]).
pub struct Server {
    listener: TcpListener,
    limits: http::Limits,
}

impl Server {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn with_limits(self, limits: http::Limits) -> Self {
        Server { limits, ..self }
    }
}

/// Binds `addr`; [`serve`] then answers requests.
pub fn bind(addr: SocketAddr) -> Result<Server, ListenError> {
    let listener = TcpListener::bind(addr).map_err(|e| ListenError { addr, msg: e.to_string() })?;
    // Accepted after poll says so; a connection gone in between must not block the loop.
    listener.set_nonblocking(true).map_err(|e| ListenError { addr, msg: e.to_string() })?;
    Ok(Server { listener, limits: http::Limits::default() })
}

/// A request for the answering loop, and where its answer goes.
struct Job {
    req: http::Request,
    reply: mpsc::Sender<Answer>,
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `stop` was set.
    Stopped,
    /// The accept thread could not start, or ended on its own: nothing is answered.
    AcceptFailed,
}

/// Answers requests one at a time until `stop` is set; changes only with `auth`'s consent.
/// Connections are accepted and read on threads of their own ([`http`]), so a slow or
/// silent client delays nobody else's answer.
pub fn serve(server: &Server, backend: &dyn Backend, auth: &auth::Auth, stop: &AtomicBool) -> Ended {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::scope(|scope| {
        let accept = std::thread::Builder::new()
            .name("rvs-http-accept".into())
            .spawn_scoped(scope, || accept(server, auth, tx, stop));
        if let Err(e) = accept {
            tracing::error!(error = %e, "cannot start the HTTP accept thread");
            return Ended::AcceptFailed;
        }
        while !stop.load(Ordering::Relaxed) {
            let Job { req, reply } = match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                // The accept thread also ends when it sees `stop` first: a shutdown, not
                // an error to log.
                Err(mpsc::RecvTimeoutError::Disconnected) if stop.load(Ordering::Relaxed) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    tracing::error!("the HTTP accept thread ended: no more requests are served");
                    return Ended::AcceptFailed;
                }
            };
            let (method, url) = (req.method.as_str(), req.target.as_str());
            // HEAD is GET without the body (the connection sends the head only).
            let routed = if method == "HEAD" { "GET" } else { method };
            let answer = respond(routed, url, &req.body, backend);
            tracing::debug!(%method, %url, status = answer.status, "http");
            if !matches!(method, "GET" | "HEAD") && answer.status < 300 {
                tracing::info!(%method, %url, body = %req.body.trim(), "API change");
            }
            let _ = reply.send(answer);
        }
        Ended::Stopped
    })
}

/// Accepts connections until `stop` is set, each on a thread of its own, at most
/// `max_connections` at once and `max_per_peer` of one client address (others are
/// answered 503).
fn accept(server: &Server, auth: &auth::Auth, tx: mpsc::Sender<Job>, stop: &AtomicBool) {
    use std::os::fd::AsRawFd;
    let active = Arc::new(Active::default());
    // Refusals are logged at most every 10 s, with their count.
    let (mut warned, mut refused) = (None, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd { fd: server.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, 250) } <= 0 {
            continue;
        }
        let (stream, peer) = match server.listener.accept() {
            Ok((s, peer)) => (s, peer.ip()),
            // Gone between poll and accept.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // Out of file descriptors, say: wait, and go on accepting.
                tracing::warn!(error = %e, "HTTP accept");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let limits = server.limits.clone();
        let Some(guard) = Active::admit(&active, peer, &limits) else {
            refused += 1;
            if warned.is_none_or(|t: std::time::Instant| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    max = limits.max_connections,
                    max_per_peer = limits.max_per_peer,
                    refused,
                    %peer,
                    "HTTP: too many connections, refused"
                );
                warned = Some(std::time::Instant::now());
                refused = 0;
            }
            http::send_now(stream, &error(503, "too many connections; try again"));
            continue;
        };
        let (tx, auth) = (tx.clone(), auth.clone());
        let spawned = std::thread::Builder::new().name("rvs-http-conn".into()).spawn(move || {
            let _guard = guard;
            connection(stream, &limits, &auth, &tx);
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "HTTP: cannot start a connection thread");
        }
    }
}

/// The connections being served, by client address.
#[derive(Default)]
struct Active(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted in [`Active`] until dropped.
struct Admitted(Arc<Active>, IpAddr);

impl Active {
    /// Counts a connection from `peer`, or None when the limits are reached.
    fn admit(active: &Arc<Active>, peer: IpAddr, limits: &http::Limits) -> Option<Admitted> {
        let mut m = active.0.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = m.values().sum();
        let mine = m.entry(peer).or_default();
        if total >= limits.max_connections || *mine >= limits.max_per_peer {
            if *mine == 0 {
                m.remove(&peer);
            }
            return None;
        }
        *mine += 1;
        Some(Admitted(active.clone(), peer))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Reads one request, has the loop answer it, sends the answer.
fn connection(
    mut stream: std::net::TcpStream,
    limits: &http::Limits,
    auth: &auth::Auth,
    tx: &mpsc::Sender<Job>,
) {
    let may = |method: &str, url: &str, authorization: Option<&str>| {
        auth.check(method, authorization).map_err(|(status, msg)| {
            tracing::warn!(%method, %url, status, "API change refused: {msg}");
            error(status, msg)
        })
    };
    let req = match http::read_request(&mut stream, limits, &may) {
        Ok(r) => r,
        Err(http::NoRequest::Gone) => return,
        Err(http::NoRequest::Refuse(a)) => {
            tracing::debug!(status = a.status, body = %a.body.trim(), "HTTP request refused");
            return http::send(stream, &a, false, None, limits);
        }
    };
    let head_only = req.method == "HEAD";
    let allow = allowed(&req.target);
    let (reply, answer) = mpsc::channel();
    let answer = match tx.send(Job { req, reply }) {
        // The loop answers within seconds (rvsd's and the main loop's own timeouts).
        Ok(()) => answer
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| error(503, "rvs-ctrl is busy or stopping")),
        Err(_) => error(503, "rvs-ctrl is stopping"),
    };
    http::send(stream, &answer, head_only, allow, limits);
}
