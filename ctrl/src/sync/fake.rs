//! A fake rvsd for tests: serves the control protocol on a Unix socket in a temp dir,
//! keeps a table like rvsd's registry, records every command and refuses schedulers
//! other than rr and wrr, as rvsd does today.

use crate::check::state::{DesiredService, Table};
use crate::testutil::TempDir;
use rvs_proto::{
    read_msg, write_msg, Command, RealInfo, RealSpec, Reply, Request, Response, ServiceInfo, ServiceSpec,
    Timeouts, TrafficStats,
};
use std::io::BufReader;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug)]
pub struct State {
    pub table: Table,
    pub log: Vec<Command>,
    /// Close the connection instead of answering the next request.
    pub drop_next: bool,
    pub timeouts: Timeouts,
    /// `Batch` requests served (their commands are in `log` one by one).
    pub batches: usize,
    /// Answer a `Batch` as an rvsd older than them does: "malformed request", then close.
    pub refuse_batches: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            table: Table::new(),
            log: Vec::new(),
            drop_next: false,
            timeouts: Timeouts { tcp: 900, tcp_fin: 120, udp: 300 },
            batches: 0,
            refuse_batches: false,
        }
    }
}

pub struct FakeRvsd {
    pub _dir: TempDir,
    pub path: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeRvsd {
    pub fn start(initial: Table) -> Self {
        let dir = TempDir::new("rvsd");
        let path = dir.path().join("rvsd.sock").to_string_lossy().into_owned();
        let listener = UnixListener::bind(&path).unwrap();
        let state = Arc::new(Mutex::new(State { table: initial, ..State::default() }));
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let st = st.clone();
                thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    while let Ok(req) = read_msg::<_, Request>(&mut r) {
                        let resp = {
                            let mut s = st.lock().unwrap();
                            if std::mem::take(&mut s.drop_next) {
                                return;
                            }
                            match req.command {
                                Command::Batch { .. } if s.refuse_batches => {
                                    let e = "malformed request: unknown variant `batch`";
                                    let _ = write_msg(&mut w, &Response::error(e));
                                    return;
                                }
                                Command::Batch { commands, .. } => {
                                    s.batches += 1;
                                    let results =
                                        commands.into_iter().map(|c| one(&mut s, c).result).collect();
                                    Response::ok(Reply::Batch { results })
                                }
                                cmd => one(&mut s, cmd),
                            }
                        };
                        if write_msg(&mut w, &resp).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeRvsd { _dir: dir, path, state }
    }

    pub fn table(&self) -> Table {
        self.state.lock().unwrap().table.clone()
    }

    pub fn take_log(&self) -> Vec<Command> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }
}

/// One command, recorded in the log.
fn one(s: &mut State, cmd: Command) -> Response {
    s.log.push(cmd.clone());
    match cmd {
        Command::GetTimeouts => Response::ok(Reply::Timeouts { timeouts: s.timeouts }),
        Command::SetTimeouts { timeouts } => {
            s.timeouts = timeouts;
            Response::ok(Reply::Ok)
        }
        cmd => handle(&mut s.table, cmd),
    }
}

fn handle(t: &mut Table, cmd: Command) -> Response {
    let err = |m: &str| Response::error(m);
    let check_sched = |s: &ServiceSpec| ["rr", "wrr"].contains(&s.scheduler.as_str());
    match &cmd {
        Command::ListServices => {
            let services = t
                .iter()
                .map(|(k, s)| ServiceInfo {
                    spec: s.spec(*k),
                    reals: s
                        .reals
                        .iter()
                        .map(|(a, w)| RealInfo {
                            spec: s.real(*a, *w),
                            active_conns: 0,
                            inactive_conns: 0,
                            stats: TrafficStats::default(),
                        })
                        .collect(),
                    stats: TrafficStats::default(),
                })
                .collect();
            return Response::ok(Reply::Services { services });
        }
        Command::AddService { spec } => {
            if t.contains_key(&spec.key) {
                return err("service already exists");
            }
            if !check_sched(spec) {
                return err(&format!("unknown scheduler {:?}", spec.scheduler));
            }
        }
        Command::EditService { spec } if !check_sched(spec) => {
            return err(&format!("unknown scheduler {:?}", spec.scheduler))
        }
        Command::AddReal { service, real } => match t.get(service) {
            None => return err("no such service"),
            Some(s) if s.reals.contains_key(&real.addr) => return err("real server already exists"),
            _ => {}
        },
        Command::EditReal { service, real: RealSpec { addr, .. } } | Command::DelReal { service, addr } => {
            match t.get(service) {
                Some(s) if s.reals.contains_key(addr) => {}
                _ => return err("no such real server"),
            }
        }
        _ => {}
    }
    if let Command::DelService { key } = &cmd {
        if !t.contains_key(key) {
            return err("no such service");
        }
    }
    super::apply(t, &cmd);
    Response::ok(Reply::Ok)
}

/// Builds a one-service table entry.
pub fn svc(sched: &str, laddrs: &[&str], reals: &[(&str, u32)]) -> DesiredService {
    DesiredService {
        scheduler: sched.into(),
        local_addrs: laddrs.iter().map(|a| a.parse().unwrap()).collect(),
        reals: reals.iter().map(|(a, w)| (a.parse().unwrap(), *w)).collect(),
        ..Default::default()
    }
}
