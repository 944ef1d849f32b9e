//! The HTTP server: [`Live`] (the running daemon's [`Backend`]), [`bind`] and [`serve`].

use super::*;

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
}

impl Backend for Live {
    fn status(&self) -> Arc<Status> {
        self.shared.get()
    }

    fn rvsd(&self) -> Result<(Vec<ServiceInfo>, Vec<WorkerStats>), String> {
        let mut c = Client::connect(&self.socket).map_err(|e| e.to_string())?;
        let services = match c.call(Command::ListServices).map_err(|e| e.to_string())? {
            Ok(Reply::Services { services }) => services,
            Ok(other) => return Err(format!("unexpected reply {other:?}")),
            Err(e) => return Err(e),
        };
        let workers = match c.call(Command::Stats).map_err(|e| e.to_string())? {
            Ok(Reply::Stats { workers }) => workers,
            Ok(other) => return Err(format!("unexpected reply {other:?}")),
            Err(e) => return Err(e),
        };
        Ok((services, workers))
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

/// Binds `addr`; [`serve`] then answers requests.
pub fn bind(addr: SocketAddr) -> Result<tiny_http::Server, ListenError> {
    tiny_http::Server::http(addr).map_err(|e| ListenError { addr, msg: e.to_string() })
}

/// Answers requests one at a time until `stop` is set; changes only with `auth`'s consent.
pub fn serve(server: &tiny_http::Server, backend: &dyn Backend, auth: &auth::Auth, stop: &AtomicBool) {
    /// Request bodies larger than this are refused.
    const MAX_BODY: u64 = 64 * 1024;
    while !stop.load(Ordering::Relaxed) {
        let mut req = match server.recv_timeout(Duration::from_millis(250)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let method = req.method().as_str().to_ascii_uppercase();
        let url = req.url().to_string();
        let authorization = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_string());
        let mut body = String::new();
        let answer = match auth.check(&method, authorization.as_deref()) {
            Err((status, msg)) => {
                tracing::warn!(%method, %url, status, "API change refused: {msg}");
                error(status, msg)
            }
            Ok(()) => {
                use std::io::Read;
                match req.as_reader().take(MAX_BODY + 1).read_to_string(&mut body) {
                    Ok(n) if n as u64 > MAX_BODY => error(413, "body too large"),
                    Ok(_) => respond(&method, &url, &body, backend),
                    Err(e) => error(400, format!("cannot read the body: {e}")),
                }
            }
        };
        tracing::debug!(%method, %url, status = answer.status, "http");
        if method != "GET" && answer.status < 300 {
            tracing::info!(%method, %url, body = %body.trim(), "API change");
        }
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], answer.content_type.as_bytes())
            .expect("static header");
        let mut resp =
            tiny_http::Response::from_string(answer.body).with_status_code(answer.status).with_header(header);
        if answer.status == 401 {
            resp.add_header(
                tiny_http::Header::from_bytes(&b"WWW-Authenticate"[..], &b"Bearer realm=\"rvs-ctrl\""[..])
                    .expect("static header"),
            );
        }
        if let Err(e) = req.respond(resp) {
            tracing::debug!(error = %e, "HTTP respond");
        }
    }
}
