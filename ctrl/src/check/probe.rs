//! The I/O side of health checking: one thread drives every check in flight with
//! nonblocking sockets and poll(2), so thousands of servers cost one core and one file
//! descriptor per running check, not a thread each. MISC_CHECK processes are reaped with
//! `try_wait` while any is running (the loop then wakes every few milliseconds).
//!
//! A MISC_CHECK runs in a process group of its own. Past its `misc_timeout` it fails at
//! once, and, as keepalived does, its whole group gets SIGTERM, then SIGKILL
//! [`TERM_GRACE`] later if it is still there: a script's own children (a `curl`, a
//! `sleep`) do not outlive it. The loop never waits for them.
//!
//! A FILE_CHECK reads its file on a thread of its own, which the loop polls like a
//! MISC_CHECK: a file on a hung mount (NFS, FUSE) fails its own check at its timeout, and
//! every other check goes on. One read per file at a time: while one has not returned,
//! the next run of that file's check fails at once instead of starting another thread.
//!
//! A check's outcome goes to the pure state machines in [`super::state`].

use super::state::{CheckerId, Outcome};
use super::{dns, file, http, ping, smtp, tls};
use crate::keepalived::{CheckKind, CheckerConf, HttpUrl, Sni};
use socket2::{Domain, SockRef, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// While a MISC_CHECK runs, the loop looks at it at least this often.
const CHILD_POLL: Duration = Duration::from_millis(20);

/// How long a timed-out MISC_CHECK has between SIGTERM and SIGKILL (keepalived's 2 s).
pub const TERM_GRACE: Duration = Duration::from_secs(2);

enum Stage {
    Connecting {
        sock: Socket,
    },
    Writing {
        stream: TcpStream,
        req: Vec<u8>,
        off: usize,
    },
    Reading {
        stream: TcpStream,
        buf: Vec<u8>,
    },
    /// SMTP_CHECK's conversation: `out[off..]` to send, else lines to read into `inbuf`.
    Smtp {
        stream: TcpStream,
        conv: smtp::Conversation,
        inbuf: Vec<u8>,
        out: Vec<u8>,
        off: usize,
    },
    /// SSL_GET: handshake, request and response, all through rustls.
    Tls(Box<tls::Exchange>),
    Udp {
        sock: UdpSocket,
        require_reply: bool,
        /// What a reply must start with (empty: any reply).
        reply: Vec<u8>,
        /// The bounds of its length, when `reply` is given.
        reply_len: (u16, u16),
    },
    Dns {
        sock: UdpSocket,
        id: u16,
    },
    Ping(ping::Echo),
    Misc {
        child: Child,
        dynamic: bool,
    },
    /// FILE_CHECK: the reading thread's answer (None: the file could not be read).
    File {
        answer: std::sync::mpsc::Receiver<Option<Vec<u8>>>,
        weight: i32,
        reverse: bool,
    },
    /// Only while one stage is replaced by the next.
    Taken,
}

struct Probe {
    id: CheckerId,
    conf: CheckerConf,
    deadline: Instant,
    /// HTTP_GET / SSL_GET: the url being checked.
    url: usize,
    stage: Stage,
}

/// Every check in flight.
#[derive(Default)]
pub struct Prober {
    probes: Vec<Probe>,
    /// Outcomes known without waiting (e.g. a connect refused at once).
    done: Vec<(CheckerId, Outcome)>,
    /// splitmix64 state for DNS query ids.
    rng: u64,
    /// Timed-out MISC_CHECKs, sent SIGTERM, and when they get SIGKILL.
    dying: Vec<(Child, Instant)>,
    /// FILE_CHECK reads under way, by path: set while the reading thread has not returned
    /// (it may outlive its check, stuck in the kernel).
    reading: std::collections::HashMap<std::path::PathBuf, std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Prober {
    pub fn new() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut p = Self::default();
        p.rng = t.as_nanos() as u64 ^ u64::from(std::process::id());
        p
    }

    /// A DNS query id nobody on the path can guess cheaply (splitmix64).
    fn next_id(&mut self) -> u16 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u16
    }

    pub fn in_flight(&self) -> usize {
        self.probes.len()
    }

    /// Drops every check in flight (a reload restarts them); MISC_CHECK children are killed.
    pub fn cancel_all(&mut self) {
        for p in self.probes.drain(..) {
            if let Stage::Misc { mut child, .. } = p.stage {
                kill_group(&child, libc::SIGKILL);
                let _ = child.wait();
            }
        }
        for (mut child, _) in self.dying.drain(..) {
            kill_group(&child, libc::SIGKILL);
            let _ = child.wait();
        }
        self.done.clear();
    }

    /// Timed-out MISC_CHECKs still running (their group was sent SIGTERM).
    pub fn dying(&self) -> usize {
        self.dying.len()
    }

    /// Reaps the timed-out MISC_CHECKs that ended and sends SIGKILL to the groups of those
    /// past their grace; never blocks.
    fn reap_dying(&mut self, now: Instant) {
        self.dying.retain_mut(|(child, kill_at)| {
            if exited(child) {
                // The leader is a zombie until reaped: its group id is still its own.
                kill_group(child, libc::SIGKILL);
                let _ = child.wait();
                return false;
            }
            if now >= *kill_at {
                kill_group(child, libc::SIGKILL);
                *kill_at = now + TERM_GRACE;
            }
            true
        });
    }

    /// Starts checker `id`.
    pub fn start(&mut self, id: CheckerId, conf: &CheckerConf, now: Instant) {
        let deadline = now + conf.connect_timeout;
        let stage = match &conf.kind {
            CheckKind::Tcp | CheckKind::Http { .. } | CheckKind::Smtp { .. } => {
                nb_connect(conf).map(|sock| Stage::Connecting { sock })
            }
            CheckKind::Udp { payload, require_reply, reply, reply_len } => {
                udp_probe(conf, payload).map(|sock| Stage::Udp {
                    sock,
                    require_reply: *require_reply,
                    reply: reply.clone(),
                    reply_len: *reply_len,
                })
            }
            CheckKind::Dns { qtype, name } => {
                let id = self.next_id();
                dns::query(id, name, *qtype)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
                    .and_then(|q| udp_probe(conf, &q))
                    .map(|sock| Stage::Dns { sock, id })
            }
            CheckKind::Ping => {
                let (ident, seq) = (self.next_id(), self.next_id());
                ping::Echo::send(conf, ident, seq).map(Stage::Ping)
            }
            CheckKind::File { path, weight, reverse } => {
                let stage = self.read_file(path).map(|answer| Stage::File {
                    answer,
                    weight: *weight,
                    reverse: *reverse,
                });
                match stage {
                    Ok(stage) => self.probes.push(Probe { id, conf: conf.clone(), deadline, url: 0, stage }),
                    Err(e) => self.done.push((id, Outcome::Down(e))),
                }
                return;
            }
            CheckKind::Misc { argv, timeout, dynamic, user } => {
                let deadline = now + timeout.unwrap_or(conf.delay_loop);
                match spawn(argv, *user) {
                    Ok(child) => {
                        let stage = Stage::Misc { child, dynamic: *dynamic };
                        self.probes.push(Probe { id, conf: conf.clone(), deadline, url: 0, stage });
                    }
                    Err(e) => self.done.push((id, Outcome::Down(format!("cannot run {}: {e}", argv[0])))),
                }
                return;
            }
        };
        match stage {
            Ok(stage) => self.probes.push(Probe { id, conf: conf.clone(), deadline, url: 0, stage }),
            Err(e) => self.done.push((id, Outcome::Down(e.to_string()))),
        }
    }

    /// Starts reading `path` on a thread of its own, unless an earlier read of it has not
    /// returned yet.
    fn read_file(
        &mut self,
        path: &std::path::Path,
    ) -> Result<std::sync::mpsc::Receiver<Option<Vec<u8>>>, String> {
        use std::sync::atomic::Ordering;
        let busy = self.reading.entry(path.to_path_buf()).or_default().clone();
        if busy.swap(true, Ordering::AcqRel) {
            return Err(format!("an earlier read of {} has not returned", path.display()));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let owned = path.to_path_buf();
        let spawned = std::thread::Builder::new().name("rvs-file-check".into()).spawn(move || {
            let content = std::fs::read(&owned).ok();
            busy.store(false, Ordering::Release);
            let _ = tx.send(content);
        });
        match spawned {
            Ok(_) => Ok(rx),
            Err(e) => {
                self.reading.remove(path);
                Err(format!("cannot start the read of {}: {e}", path.display()))
            }
        }
    }

    /// Waits for I/O until `until` (or a byte on `wake`, or a signal), advances the checks
    /// and returns those that finished.
    pub fn poll(&mut self, until: Instant, wake: Option<RawFd>) -> Vec<(CheckerId, Outcome)> {
        let now = Instant::now();
        let mut until = until;
        if !self.done.is_empty() {
            until = now;
        }
        for p in &self.probes {
            until = until.min(p.deadline);
            if matches!(p.stage, Stage::Misc { .. } | Stage::File { .. }) {
                until = until.min(now + CHILD_POLL);
            }
        }
        if !self.dying.is_empty() {
            until = until.min(now + CHILD_POLL);
        }
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.probes.len() + 1);
        let mut owner: Vec<usize> = Vec::with_capacity(self.probes.len());
        for (i, p) in self.probes.iter().enumerate() {
            let (fd, events) = match &p.stage {
                Stage::Connecting { sock } => (sock.as_raw_fd(), libc::POLLOUT),
                Stage::Writing { stream, .. } => (stream.as_raw_fd(), libc::POLLOUT),
                Stage::Reading { stream, .. } => (stream.as_raw_fd(), libc::POLLIN),
                Stage::Smtp { stream, out, off, .. } => {
                    (stream.as_raw_fd(), if *off < out.len() { libc::POLLOUT } else { libc::POLLIN })
                }
                Stage::Tls(x) => (x.stream.as_raw_fd(), x.events()),
                Stage::Udp { sock, .. } | Stage::Dns { sock, .. } => (sock.as_raw_fd(), libc::POLLIN),
                Stage::Ping(echo) => (echo.fd(), libc::POLLIN),
                Stage::Misc { .. } | Stage::File { .. } | Stage::Taken => continue,
            };
            fds.push(libc::pollfd { fd, events, revents: 0 });
            owner.push(i);
        }
        if let Some(w) = wake {
            fds.push(libc::pollfd { fd: w, events: libc::POLLIN, revents: 0 });
        }
        let timeout_ms = until.saturating_duration_since(now).as_millis().min(60_000) as i32;
        let timeout_ms = if timeout_ms == 0 && until > now { 1 } else { timeout_ms };
        // SAFETY: `fds` is a valid array of pollfd of the given length for the call's duration.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "poll failed");
            }
        }
        let ready: Vec<(usize, i16)> =
            owner.iter().zip(&fds).filter(|(_, f)| f.revents != 0).map(|(&i, f)| (i, f.revents)).collect();

        let mut out = std::mem::take(&mut self.done);
        let now = Instant::now();
        let mut finished = vec![None; self.probes.len()];
        for (i, revents) in ready {
            finished[i] = self.advance(i, revents, now);
        }
        for (i, p) in self.probes.iter_mut().enumerate() {
            if finished[i].is_some() {
                continue;
            }
            if let Stage::Misc { child, dynamic } = &mut p.stage {
                finished[i] = match child.try_wait() {
                    Ok(Some(status)) => Some(misc_outcome(status.code(), *dynamic)),
                    Ok(None) if now >= p.deadline => {
                        kill_group(child, libc::SIGTERM);
                        if let Stage::Misc { child, .. } = std::mem::replace(&mut p.stage, Stage::Taken) {
                            self.dying.push((child, now + TERM_GRACE));
                        }
                        Some(Outcome::Down("misc_timeout exceeded".into()))
                    }
                    Ok(None) => None,
                    Err(e) => Some(Outcome::Down(format!("waiting for the check: {e}"))),
                };
            } else if let Stage::File { answer, weight, reverse } = &p.stage {
                finished[i] = match answer.try_recv() {
                    Ok(content) => {
                        let text = content.as_deref().map(String::from_utf8_lossy);
                        Some(file::outcome(text.as_deref(), *weight, *reverse))
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) if now >= p.deadline => {
                        Some(Outcome::Down("the tracked file's read timed out".into()))
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => None,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        Some(Outcome::Down("the tracked file's read ended without an answer".into()))
                    }
                };
            } else if now >= p.deadline {
                finished[i] = Some(match &p.stage {
                    Stage::Udp { require_reply: false, .. } => Outcome::Up,
                    Stage::Udp { .. } => Outcome::Down("no UDP reply".into()),
                    Stage::Dns { .. } => Outcome::Down("no DNS response".into()),
                    Stage::Ping(_) => Outcome::Down("no echo reply".into()),
                    Stage::Connecting { .. } => Outcome::Down("connect timed out".into()),
                    Stage::Smtp { .. } => Outcome::Down("SMTP exchange timed out".into()),
                    Stage::Tls(x) if x.conn.is_handshaking() => {
                        Outcome::Down("TLS handshake timed out".into())
                    }
                    _ => Outcome::Down("HTTP exchange timed out".into()),
                });
            }
        }
        self.reap_dying(now);
        // Remove finished probes, back to front so indices stay valid.
        for i in (0..self.probes.len()).rev() {
            if let Some(o) = finished[i].take() {
                let p = self.probes.swap_remove(i);
                out.push((p.id, o));
            }
        }
        out
    }

    /// Moves probe `i` on after poll said its descriptor is ready. `Some` when it finished.
    fn advance(&mut self, i: usize, revents: i16, now: Instant) -> Option<Outcome> {
        let p = &mut self.probes[i];
        let urls: &[HttpUrl] = match &p.conf.kind {
            CheckKind::Http { urls, .. } => urls,
            _ => &[],
        };
        let (vhost, use_tls, sni, http_1_1) = match &p.conf.kind {
            CheckKind::Http { virtualhost, tls, sni, http_1_1, .. } => {
                (virtualhost.clone(), *tls, sni.clone(), *http_1_1)
            }
            _ => (None, false, Sni::Off, false),
        };
        match &mut p.stage {
            Stage::Connecting { sock } => {
                if let Ok(Some(e)) | Err(e) = sock.take_error() {
                    return Some(Outcome::Down(format!("connect: {e}")));
                }
                if revents & (libc::POLLERR | libc::POLLHUP) != 0 && revents & libc::POLLOUT == 0 {
                    return Some(Outcome::Down("connect failed".into()));
                }
                if let CheckKind::Smtp { helo } = &p.conf.kind {
                    let Stage::Connecting { sock } = std::mem::replace(&mut p.stage, Stage::Taken) else {
                        unreachable!()
                    };
                    let conv = smtp::Conversation::new(helo);
                    let stream = TcpStream::from(sock);
                    p.stage = Stage::Smtp { stream, conv, inbuf: Vec::new(), out: Vec::new(), off: 0 };
                    // Each line the server owes has its own connect_timeout (keepalived).
                    p.deadline = now + p.conf.connect_timeout;
                    return None;
                }
                if urls.is_empty() {
                    return Some(Outcome::Up);
                }
                let Stage::Connecting { sock } = std::mem::replace(&mut p.stage, Stage::Taken) else {
                    unreachable!()
                };
                let stream = TcpStream::from(sock);
                let url = &urls[p.url];
                let req = http::request(url, vhost.as_deref(), p.conf.target, http_1_1);
                if use_tls {
                    // keepalived's choice: sni_name, else the url's virtualhost, else the
                    // checker's; nothing without enable_sni.
                    let name = match &sni {
                        Sni::Off => None,
                        Sni::Virtualhost => url.virtualhost.as_deref().or(vhost.as_deref()),
                        Sni::Name(n) => Some(n.as_str()),
                    };
                    match tls::connect(name, p.conf.target.ip(), &req) {
                        Ok(conn) => p.stage = Stage::Tls(Box::new(tls::Exchange::new(stream, conn))),
                        Err(e) => return Some(Outcome::Down(e)),
                    }
                } else {
                    p.stage = Stage::Writing { stream, req, off: 0 };
                }
                None
            }
            Stage::Writing { stream, req, off } => match stream.write(&req[*off..]) {
                Ok(n) => {
                    *off += n;
                    if *off == req.len() {
                        let Stage::Writing { stream, .. } = std::mem::replace(&mut p.stage, Stage::Taken)
                        else {
                            unreachable!()
                        };
                        p.stage = Stage::Reading { stream, buf: Vec::new() };
                    }
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => Some(Outcome::Down(format!("sending the HTTP request: {e}"))),
            },
            Stage::Reading { stream, buf } => {
                let mut chunk = [0u8; 16384];
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            if buf.len() > http::MAX_RESPONSE {
                                return Some(Outcome::Down("HTTP response too large".into()));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Some(Outcome::Down(format!("reading the HTTP response: {e}"))),
                    }
                }
                let response = std::mem::take(buf);
                url_done((&mut p.stage, &mut p.deadline, &mut p.url), &p.conf, urls, &response, now)
            }
            Stage::Tls(x) => match x.advance(http::MAX_RESPONSE) {
                Ok(false) => None,
                Ok(true) => {
                    let response = std::mem::take(&mut x.response);
                    url_done((&mut p.stage, &mut p.deadline, &mut p.url), &p.conf, urls, &response, now)
                }
                Err(why) => Some(Outcome::Down(format!("{}: {why}", urls[p.url].path))),
            },
            Stage::Smtp { stream, conv, inbuf, out, off } => {
                if *off < out.len() {
                    return match stream.write(&out[*off..]) {
                        Ok(n) => {
                            *off += n;
                            None
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                        Err(e) => Some(Outcome::Down(format!("SMTP send: {e}"))),
                    };
                }
                let mut chunk = [0u8; 1024];
                // The lines read before the server closed are judged first.
                let mut closed = false;
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Some(Outcome::Down(format!("SMTP receive: {e}"))),
                    }
                }
                while let Some(line) = smtp::take_line(inbuf) {
                    match conv.on_line(&line) {
                        Ok(smtp::Next::Read) => {}
                        Ok(smtp::Next::Send(bytes)) => {
                            (*out, *off) = (bytes, 0);
                            p.deadline = now + p.conf.connect_timeout;
                            return None;
                        }
                        Ok(smtp::Next::Up) => return Some(Outcome::Up),
                        Err(why) => return Some(Outcome::Down(why)),
                    }
                }
                if closed {
                    return Some(Outcome::Down("the SMTP server closed the connection".into()));
                }
                if inbuf.len() > smtp::MAX_LINE {
                    return Some(Outcome::Down("SMTP reply line too long".into()));
                }
                None
            }
            Stage::Udp { sock, reply, reply_len, .. } => {
                // One byte more than the longest reply allowed: a longer one shows.
                let mut b = vec![0u8; usize::from(reply_len.1.max(2047)) + 1];
                match sock.recv(&mut b) {
                    Ok(n) => Some(match udp_reply(reply, *reply_len, &b[..n]) {
                        Ok(()) => Outcome::Up,
                        Err(why) => Outcome::Down(why),
                    }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        Some(Outcome::Down("port unreachable".into()))
                    }
                    Err(e) => Some(Outcome::Down(format!("UDP: {e}"))),
                }
            }
            Stage::Dns { sock, id } => {
                let mut b = [0u8; 4096];
                loop {
                    match sock.recv(&mut b) {
                        Ok(n) => match dns::judge(*id, &b[..n]) {
                            dns::Verdict::Up => return Some(Outcome::Up),
                            dns::Verdict::Down(why) => return Some(Outcome::Down(why)),
                            dns::Verdict::Ignore(why) => {
                                tracing::debug!(target_addr = %p.conf.target, why, "DNS datagram ignored");
                            }
                        },
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            return Some(Outcome::Down("port unreachable".into()))
                        }
                        Err(e) => return Some(Outcome::Down(format!("DNS: {e}"))),
                    }
                }
            }
            Stage::Ping(echo) => match echo.reply_arrived() {
                Ok(true) => Some(Outcome::Up),
                Ok(false) => None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                // An ICMP error for the echo (a connected socket's): unreachable.
                Err(e) => Some(Outcome::Down(format!("echo: {e}"))),
            },
            Stage::Misc { .. } | Stage::File { .. } | Stage::Taken => None,
        }
    }
}

/// Judges url `*url`'s complete `response`: `Err` with the outcome when the check is over
/// (a url failed, or all passed), else a new connection for the next url and its deadline.
/// A url's `response` is in: its connection is closed (dropped with the stage) before the
/// next url's opens, since from a fixed bind_port the two would be the same connection;
/// then the next url, or the verdict.
/// (`at`: the probe's stage, deadline and url index.)
fn url_done(
    at: (&mut Stage, &mut Instant, &mut usize),
    conf: &CheckerConf,
    urls: &[HttpUrl],
    response: &[u8],
    now: Instant,
) -> Option<Outcome> {
    let (stage, deadline, url) = at;
    *stage = Stage::Taken;
    match next_url(conf, urls, url, response, now) {
        Ok(next) => {
            (*stage, *deadline) = next;
            None
        }
        Err(o) => Some(o),
    }
}

fn next_url(
    conf: &CheckerConf,
    urls: &[HttpUrl],
    url: &mut usize,
    response: &[u8],
    now: Instant,
) -> Result<(Stage, Instant), Outcome> {
    if let Err(why) = http::judge(&urls[*url], response) {
        return Err(Outcome::Down(format!("{}: {why}", urls[*url].path)));
    }
    *url += 1;
    if *url == urls.len() {
        return Err(Outcome::Up);
    }
    // Next url: a new connection, a new timeout.
    match nb_connect(conf) {
        Ok(sock) => Ok((Stage::Connecting { sock }, now + conf.connect_timeout)),
        Err(e) => Err(Outcome::Down(e.to_string())),
    }
}

impl Drop for Prober {
    /// No MISC_CHECK outlives the prober.
    fn drop(&mut self) {
        self.cancel_all();
    }
}

/// keepalived's judgement of a UDP_CHECK reply. With no `pattern` any reply passes. With
/// one, the reply's length must be within `min..=max` (`min_reply_length`,
/// `max_reply_length`), and the bytes the reply and the pattern both have must be equal (a
/// reply shorter than the pattern passes on its own bytes, as keepalived compares them).
pub fn udp_reply(pattern: &[u8], (min, max): (u16, u16), got: &[u8]) -> Result<(), String> {
    if pattern.is_empty() {
        return Ok(());
    }
    if got.len() < usize::from(min) || got.len() > usize::from(max) {
        return Err(format!("UDP reply of {} bytes, not {min} to {max}", got.len()));
    }
    let n = got.len().min(pattern.len());
    if got[..n] != pattern[..n] {
        return Err(format!(
            "UDP reply {} does not start with {}",
            hex(&got[..got.len().min(32)]),
            hex(pattern)
        ));
    }
    Ok(())
}

/// keepalived's reading of a MISC_CHECK exit status.
pub fn misc_outcome(code: Option<i32>, dynamic: bool) -> Outcome {
    match code {
        Some(0) => Outcome::Up,
        Some(c @ 2..=255) if dynamic => Outcome::UpWeight(c as u32 - 2),
        Some(c) => Outcome::Down(format!("exit status {c}")),
        None => Outcome::Down("killed by a signal".into()),
    }
}

/// A MISC_CHECK's process, leader of a process group of its own (as keepalived runs it),
/// as `user` (uid, gid) when given.
fn spawn(argv: &[String], user: Option<(u32, u32)>) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&argv[0]);
    if let Some((uid, gid)) = user {
        // std drops the supplementary groups when root changes uid.
        cmd.uid(uid).gid(gid);
    }
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// Sends `sig` to the process group `child` leads. Only called while the child is not
/// reaped, so its id is still its group's.
fn kill_group(child: &Child, sig: libc::c_int) {
    // SAFETY: plain kill(2) on a process group id we created; errors (ESRCH) are harmless.
    unsafe { libc::kill(-(child.id() as libc::pid_t), sig) };
}

/// Whether `child` has exited, without reaping it (waitid with WNOWAIT).
fn exited(child: &Child) -> bool {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for writes; WNOHANG | WNOWAIT neither blocks nor reaps.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is set by waitid when a child changed state (0 otherwise).
    r < 0 || unsafe { info.si_pid() } != 0
}

/// keepalived's socket options of a check: `bind_if` (SO_BINDTODEVICE) and `fwmark`
/// (SO_MARK), set before the connect so its route follows them (PING_CHECK's too).
pub(super) fn sock_opts(sock: SockRef<'_>, conf: &CheckerConf) -> io::Result<()> {
    if let Some(ifname) = &conf.bind_if {
        sock.bind_device(Some(ifname.as_bytes()))
            .map_err(|e| io::Error::new(e.kind(), format!("bind_if {ifname}: {e}")))?;
    }
    if let Some(mark) = conf.fwmark {
        sock.set_mark(mark).map_err(|e| io::Error::new(e.kind(), format!("fwmark {mark}: {e}")))?;
    }
    Ok(())
}

/// Starts a nonblocking TCP connect to the check's target, from its `bindto` when given
/// (with its port when not 0), with its socket options.
fn nb_connect(conf: &CheckerConf) -> io::Result<Socket> {
    let (target, bind) = (conf.target, conf.bindto);
    // Nonblocking from the start (socket2 adds SOCK_CLOEXEC).
    let sock = Socket::new(Domain::for_address(target), Type::STREAM.nonblocking(), None)?;
    sock_opts(SockRef::from(&sock), conf)?;
    if let Some(local) = bind {
        if local.port() != 0 {
            // A fixed source port: the previous check's connection may still be in
            // TIME_WAIT on it.
            let _ = sock.set_reuse_address(true);
        }
        sock.bind(&local.into())?;
    }
    match sock.connect(&target.into()) {
        Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
        _ => Ok(sock),
    }
}

fn udp_probe(conf: &CheckerConf, payload: &[u8]) -> io::Result<UdpSocket> {
    let target = conf.target;
    let local = match (conf.bindto, target) {
        (Some(local), _) => local,
        (None, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    let sock = UdpSocket::bind(local)?;
    sock_opts(SockRef::from(&sock), conf)?;
    sock.connect(target)?;
    sock.set_nonblocking(true)?;
    sock.send(payload)?;
    Ok(sock)
}

/// Bytes as lower-case hex, for messages.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_proc;
