//! Tests of [`super`]: a fake transport records the requests and plays back replies.

use super::*;
use crate::adm::args::{self, Action};
use rvs_proto::{ForwardMethod, Protocol, RealSpec, ResponseResult, Timeouts, TrafficStats};
use std::cell::Cell;
use std::collections::VecDeque;

/// Records requests and plays back canned replies: one per command, those of a batch
/// too (as rvsd answers a batch, with `stop_at_error` kept).
#[derive(Default)]
struct Fake {
    sent: Vec<Command>,
    replies: VecDeque<Result<Reply, String>>,
    batches: usize,
}

impl Transport for Fake {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        if let Command::Batch { commands, stop_at_error } = command {
            self.batches += 1;
            let mut refused = false;
            let mut results = Vec::new();
            for c in commands {
                if refused && stop_at_error {
                    results.push(ResponseResult::Error(rvs_proto::NOT_APPLIED.into()));
                    continue;
                }
                let r = self.call(c)?;
                refused = r.is_err();
                results.push(r.map_or_else(ResponseResult::Error, ResponseResult::Ok));
            }
            return Ok(Ok(Reply::Batch { results }));
        }
        self.sent.push(command);
        self.replies.pop_front().ok_or(ProtoError::Closed)
    }
}

struct FakeClock(Cell<Instant>);

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.0.get()
    }
    fn sleep(&self, d: Duration) {
        self.0.set(self.0.get() + d)
    }
}

fn run(
    cmd: &[&str],
    replies: Vec<Result<Reply, String>>,
    input: &str,
) -> (Result<(), RunError>, Fake, String) {
    let (r, fake, out, _) = run_as(Dialect::Rvsadm, cmd, replies, input);
    (r, fake, out)
}

/// [`run`] in `dialect`, with what went to stderr.
fn run_as(
    dialect: Dialect,
    cmd: &[&str],
    replies: Vec<Result<Reply, String>>,
    input: &str,
) -> (Result<(), RunError>, Fake, String, String) {
    let c = match args::parse_args_as(cmd, dialect).unwrap().action {
        Action::Command(c) => c,
        a => panic!("{a:?}"),
    };
    let mut fake = Fake { replies: replies.into(), ..Default::default() };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut inp = input.as_bytes();
    let clock = FakeClock(Cell::new(Instant::now()));
    let r = execute(
        &c,
        &mut Env {
            transport: &mut fake,
            out: &mut out,
            err: &mut err,
            input: &mut inp,
            clock: &clock,
            dialect,
        },
    );
    (r, fake, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

/// ipvsadm's restore_table goes on past a refused line (printing ipvs_strerror's message)
/// and exits with the last line's result.
#[test]
fn restore_as_ipvsadm_goes_on_past_refusals() {
    let input = "-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -g -w 1\n-A -t 198.18.0.100:81 -s rr\n";
    let exists = || Err("Service already exists".to_string());
    let (r, fake, _, err) = run_as(Dialect::Ipvsadm, &["-R"], vec![exists(), Ok(Reply::Ok), exists()], input);
    assert_eq!(fake.sent.len(), 3, "every line is sent");
    assert_eq!(fake.batches, 1, "in one batch");
    assert_eq!(err, "Service already exists\nService already exists\n");
    let e = r.unwrap_err();
    assert_eq!(crate::adm::report::exit_status(Some(&AdmCommand::Restore), &e, Dialect::Ipvsadm), 255);
    assert_eq!(crate::adm::report::stderr_text("ipvsadm", &e, Dialect::Ipvsadm), "");
    // The last line succeeded: status 0, as ipvsadm.
    let (r, _, _, err) =
        run_as(Dialect::Ipvsadm, &["-R"], vec![exists(), Ok(Reply::Ok), Ok(Reply::Ok)], input);
    r.unwrap();
    assert_eq!(err, "Service already exists\n");
    // A usage error still stops it (ipvsadm's fail() exits 2).
    let (r, fake, _, _) = run_as(Dialect::Ipvsadm, &["-R"], vec![Ok(Reply::Ok)], "-C\n-A -t 1.2.3.4\n-C\n");
    assert_eq!(r.unwrap_err().exit_code(), 2);
    assert_eq!(fake.sent.len(), 1);
}

/// `-a` of a FULLNAT real server to a service with no local address: done, and told on
/// stderr, as is `-R` of such a table; `-a -g` is not.
#[test]
fn a_fullnat_server_without_a_local_address_is_told_on_stderr() {
    let mut bare = service(0);
    bare.spec.local_addrs.clear();
    bare.reals.push(rvs_proto::RealInfo {
        spec: RealSpec {
            addr: "198.19.0.11:80".parse().unwrap(),
            weight: 1,
            method: ForwardMethod::FullNat,
            thresholds: Default::default(),
            tunnel: None,
        },
        active_conns: 0,
        inactive_conns: 0,
        stats: Default::default(),
    });
    let add = ["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11"];
    let listed = || Ok(Reply::Services { services: vec![bare.clone()] });
    let (r, _, out, err) = run_as(Dialect::Rvsadm, &add, vec![Ok(Reply::Ok), listed()], "");
    r.unwrap();
    assert!(out.is_empty());
    assert!(
        err.starts_with("warning: -t 198.18.0.100:80 has FULLNAT real servers and no IPv4 local address"),
        "{err}"
    );
    let (r, fake, _, err) = run_as(
        Dialect::Rvsadm,
        &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-g"],
        vec![Ok(Reply::Ok)],
        "",
    );
    r.unwrap();
    assert_eq!((fake.sent.len(), err.as_str()), (1, ""), "DR: no listing, no warning");
    let script = "-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80\n";
    let (r, _, _, err) =
        run_as(Dialect::Rvsadm, &["-R"], vec![Ok(Reply::Ok), Ok(Reply::Ok), listed()], script);
    r.unwrap();
    assert!(err.contains("(-P -t 198.18.0.100:80 -z LIP)"), "{err}");
}

fn key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

fn service(conns: u64) -> ServiceInfo {
    ServiceInfo {
        spec: ServiceSpec {
            options: Default::default(),
            key: key(),
            scheduler: "rr".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
        },
        reals: vec![],
        stats: TrafficStats { conns, ..Default::default() },
    }
}

#[test]
fn add_real_sends_one_change() {
    // The change, then the listing that looks for FULLNAT servers without local addresses
    // (here it fails: that fails nothing).
    let (r, fake, out) = run(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11"], vec![Ok(Reply::Ok)], "");
    r.unwrap();
    assert!(out.is_empty());
    assert_eq!(fake.sent[1], Command::ListServices);
    assert_eq!(
        fake.sent[..1],
        [Command::AddReal {
            service: key(),
            real: RealSpec {
                thresholds: Default::default(),
                addr: "198.19.0.11:80".parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
            }
        }]
    );
}

#[test]
fn daemon_error_exits_1() {
    let (r, _, _) = run(&["-D", "-t", "198.18.0.100:80"], vec![Err("No such service".into())], "");
    let e = r.unwrap_err();
    assert_eq!(e.to_string(), "No such service");
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn deleting_a_missing_service_is_no_such_service() {
    // rvsd says "Service not defined" for any missing service; ipvsadm's -D says this.
    let (r, _, _) = run(&["-D", "-t", "198.18.0.100:80"], vec![Err("Service not defined".into())], "");
    assert_eq!(r.unwrap_err().to_string(), "No such service");
    let (r, _, _) = run(
        &["-E", "-t", "198.18.0.100:80", "-s", "rr"],
        vec![Ok(Reply::Services { services: vec![] }), Err("Service not defined".into())],
        "",
    );
    assert_eq!(r.unwrap_err().to_string(), "No such service");
    let (r, _, _) = run(
        &["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.11"],
        vec![Err("Service not defined".into())],
        "",
    );
    assert_eq!(r.unwrap_err().to_string(), "Service not defined");
}

#[test]
fn transport_error_exits_3() {
    let (r, _, _) = run(&["-C"], vec![], "");
    assert_eq!(r.unwrap_err().exit_code(), 3);
}

#[test]
fn edit_service_keeps_local_addrs() {
    let (r, fake, _) = run(
        &["-E", "-t", "198.18.0.100:80", "-s", "wrr"],
        vec![Ok(Reply::Services { services: vec![service(0)] }), Ok(Reply::Ok)],
        "",
    );
    r.unwrap();
    assert_eq!(
        fake.sent[1],
        Command::EditService {
            spec: ServiceSpec {
                options: Default::default(),
                key: key(),
                scheduler: "wrr".into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap()]
            }
        }
    );
}

#[test]
fn list_missing_service_is_an_error() {
    let (r, _, out) =
        run(&["-Ln", "-t", "198.18.0.1:80"], vec![Ok(Reply::Services { services: vec![service(0)] })], "");
    assert_eq!(r.unwrap_err().to_string(), NO_SUCH_SERVICE);
    assert!(out.is_empty());
}

#[test]
fn rate_takes_two_samples() {
    let (r, fake, out) = run(
        &["-Ln", "--rate"],
        vec![
            Ok(Reply::Services { services: vec![service(100)] }),
            Ok(Reply::Services { services: vec![service(142)] }),
        ],
        "",
    );
    r.unwrap();
    assert_eq!(fake.sent, vec![Command::ListServices, Command::ListServices]);
    assert!(out.contains("TCP  198.18.0.100:80                    42        0"), "{out}");
}

#[test]
fn timeout_and_workers_views() {
    let (r, _, out) = run(
        &["-L", "--timeout"],
        vec![Ok(Reply::Timeouts { timeouts: Timeouts { tcp: 900, tcp_fin: 120, udp: 300 } })],
        "",
    );
    r.unwrap();
    assert_eq!(out, "Timeout (tcp tcpfin udp): 900 120 300\n");
    let (r, fake, _) = run(&["--workers"], vec![Ok(Reply::Stats { workers: vec![], ports: vec![] })], "");
    r.unwrap();
    assert_eq!(fake.sent, vec![Command::Stats]);
}

#[test]
fn neigh_lists_and_changes_the_tables() {
    let row = rvs_proto::NeighInfo {
        addr: "198.19.0.11".parse().unwrap(),
        dev: "server".into(),
        mac: Some("02:00:00:00:00:0b".into()),
        state: "permanent".into(),
        queued: 0,
        workers: vec![0],
    };
    let reply = || Ok(Reply::Neighbours { workers: 2, neighbours: vec![row.clone()] });
    let (r, fake, out) = run(&["--neigh"], vec![reply()], "");
    r.unwrap();
    assert_eq!(fake.sent, vec![Command::ListNeighbours]);
    assert_eq!(out, "198.19.0.11 dev server lladdr 02:00:00:00:00:0b PERMANENT worker 0\n");
    let (r, fake, _) = run(
        &["--neigh", "add", "198.19.0.11", "lladdr", "02:00:00:00:00:0b", "dev", "server"],
        vec![reply()],
        "",
    );
    r.unwrap();
    let change = rvs_proto::NeighChange::Add {
        addr: row.addr,
        mac: "02:00:00:00:00:0b".into(),
        dev: Some("server".into()),
    };
    assert_eq!(fake.sent, vec![Command::Neighbour { change }]);
    // rvsd's refusal is the command's error (exit 1), the daemon's words.
    let (r, _, out) =
        run(&["--neigh", "del", "198.19.0.99"], vec![Err("no neighbour 198.19.0.99".into())], "");
    assert!(r.unwrap_err().to_string().contains("no neighbour 198.19.0.99"));
    assert_eq!(out, "");
    assert!(args::parse_args(&["--neigh", "-t", "198.18.0.100:80"]).is_err(), "no service options");
    // A flush prints nothing, as `ip neigh flush` (rvsd answers with what is left).
    let (r, fake, out) = run(&["--neigh", "flush", "dev", "server"], vec![reply()], "");
    r.unwrap();
    let change =
        rvs_proto::NeighChange::Flush { dev: Some("server".into()), nud: rvs_proto::FlushStates::Learned };
    assert_eq!(fake.sent, vec![Command::Neighbour { change }]);
    assert_eq!(out, "");
}

#[test]
fn zero_sends_the_service() {
    let (r, fake, _) = run(&["-Z", "-u", "198.18.0.100:53"], vec![Ok(Reply::Ok)], "");
    r.unwrap();
    let key = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
    assert_eq!(fake.sent, vec![Command::Zero { service: Some(key) }]);
}

#[test]
fn reload_checks_the_pid_file_and_the_process() {
    let dir = crate::testutil::TempDir::new("reload");
    let proc = dir.path().join("proc");
    let pidfile = dir.path().join("ctrl.pid");
    let err = |r: Result<i32, RunError>| r.unwrap_err().to_string();
    assert!(err(reload(&pidfile, &proc)).starts_with("cannot read rvs-ctrl's pid file"));
    std::fs::write(&pidfile, "junk\n").unwrap();
    assert!(err(reload(&pidfile, &proc)).contains("does not hold a pid"));
    // A pid that is not rvs-ctrl (here: this test process, under a fake /proc) is refused.
    let me = std::process::id().to_string();
    std::fs::write(&pidfile, format!("{me}\n")).unwrap();
    assert!(err(reload(&pidfile, &proc)).contains("rvs-ctrl is not running"));
    std::fs::create_dir_all(proc.join(&me)).unwrap();
    std::fs::write(proc.join(&me).join("comm"), "cargo\n").unwrap();
    let e = reload(&pidfile, &proc).unwrap_err();
    assert!(e.to_string().contains("not rvs-ctrl"), "{e}");
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn restore_runs_each_line_and_names_failures() {
    let input = "# saved\n-A -t 198.18.0.100:80 -s rr\n\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -b -w 1\n-P -t 198.18.0.100:80 -z 198.19.0.200\n";
    let (r, fake, _) = run(&["-R"], vec![Ok(Reply::Ok), Ok(Reply::Ok), Ok(Reply::Ok)], input);
    r.unwrap();
    assert_eq!(fake.sent.len(), 4);
    assert!(matches!(fake.sent[2], Command::AddLocalAddr { .. }));
    assert_eq!(fake.sent[3], Command::ListServices);

    let (r, _, _) = run(
        &["-R"],
        vec![Ok(Reply::Ok), Err("Service already exists".into())],
        "-C\n-A -t 198.18.0.100:80\n",
    );
    assert_eq!(r.unwrap_err().to_string(), "line 2: Service already exists");
    let (r, _, _) = run(&["-R"], vec![], "-A -t 198.18.0.300:80\n");
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(e.to_string(), "line 1: illegal virtual server address[:port] specified: `198.18.0.300:80'");
}

/// A script of `ipvsadm ...` lines restores as ipvsadm -R takes it: the word `ipvsadm` is
/// dropped (lines trimmed from kubernetes/kubernetes#17470 and a `--set` script).
#[test]
fn restore_takes_a_script_of_ipvsadm_lines() {
    let input = "ipvsadm --set 0 0 15\nipvsadm -A -t 10.9.8.7:12345 -s rr\n\
                 ipvsadm -a -t 10.9.8.7:12345 -m -r 10.244.1.27:9376\nipvsadm\n";
    let (r, fake, _, _) = run_as(Dialect::Ipvsadm, &["-R"], vec![Ok(Reply::Ok); 3], input);
    r.unwrap();
    assert_eq!(fake.sent.len(), 3);
    assert!(matches!(fake.sent[0], Command::SetTimeouts { .. }), "{:?}", fake.sent[0]);
    assert!(matches!(fake.sent[1], Command::AddService { .. }), "{:?}", fake.sent[1]);
    match &fake.sent[2] {
        Command::AddReal { real, .. } => {
            assert_eq!(real.addr, "10.244.1.27:9376".parse().unwrap());
            assert_eq!(real.method, ForwardMethod::Nat);
        }
        other => panic!("{other:?}"),
    }
}

/// A table that takes the commands -R sends, as rvsd's registry does.
#[derive(Default)]
struct TableFake(Vec<ServiceInfo>);

impl Transport for TableFake {
    fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        let find = |t: &mut Vec<ServiceInfo>, k: ServiceKey| t.iter_mut().position(|s| s.spec.key == k);
        match command {
            Command::Batch { commands, .. } => {
                let results = commands
                    .into_iter()
                    .map(|c| self.call(c).map(|r| r.map_or_else(ResponseResult::Error, ResponseResult::Ok)))
                    .collect::<Result<_, _>>()?;
                return Ok(Ok(Reply::Batch { results }));
            }
            Command::ListServices => return Ok(Ok(Reply::Services { services: self.0.clone() })),
            Command::Clear => self.0.clear(),
            Command::AddService { spec } => {
                self.0.push(ServiceInfo { spec, reals: vec![], stats: TrafficStats::default() })
            }
            Command::AddReal { service, real } => {
                let Some(i) = find(&mut self.0, service) else { return Ok(Err("no service".into())) };
                let info = rvs_proto::RealInfo {
                    spec: real,
                    active_conns: 0,
                    inactive_conns: 0,
                    stats: TrafficStats::default(),
                };
                self.0[i].reals.push(info);
            }
            Command::AddLocalAddr { service, addr } => {
                let Some(i) = find(&mut self.0, service) else { return Ok(Err("no service".into())) };
                self.0[i].spec.local_addrs.push(addr);
            }
            other => return Ok(Err(format!("unexpected {other:?}"))),
        }
        Ok(Ok(Reply::Ok))
    }
}

fn run_on(t: &mut TableFake, cmd: &[&str], input: &str) -> String {
    let Action::Command(c) = args::parse_args(cmd).unwrap().action else { panic!() };
    let mut out = Vec::new();
    let mut inp = input.as_bytes();
    let clock = FakeClock(Cell::new(Instant::now()));
    execute(
        &c,
        &mut Env {
            transport: t,
            out: &mut out,
            err: &mut Vec::new(),
            input: &mut inp,
            clock: &clock,
            dialect: Dialect::Rvsadm,
        },
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn save_restore_round_trips_thresholds_persistence_flags_and_options() {
    use rvs_proto::{Persistence, RealInfo, ServiceOptions, Thresholds};
    let real = |a: &str, w, upper, lower| RealInfo {
        spec: RealSpec {
            addr: a.parse().unwrap(),
            weight: w,
            method: ForwardMethod::FullNat,
            tunnel: None,
            thresholds: Thresholds { upper, lower },
        },
        active_conns: 3,
        inactive_conns: 1,
        stats: TrafficStats { conns: 9, ..Default::default() },
    };
    let web = ServiceInfo {
        spec: ServiceSpec {
            key: key(),
            scheduler: "sh".into(),
            local_addrs: vec!["198.19.0.200".parse().unwrap(), "198.19.0.201".parse().unwrap()],
            options: ServiceOptions {
                sched_flags: vec!["sh-port".into(), "sh-fallback".into()],
                persistence: Some(Persistence { timeout: 50, prefix_len: 24 }),
                syn_proxy: true,
                toa: true,
                expire_quiescent_template: true,
                ..Default::default()
            },
        },
        reals: vec![
            real("198.19.0.11:80", 2, 10, 5),
            real("198.19.0.12:80", 1, 0, 0),
            real("198.19.0.13:80", 0, 7, 0),
        ],
        stats: TrafficStats::default(),
    };
    let pp = ServiceInfo {
        spec: ServiceSpec {
            key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:8082".parse().unwrap() },
            scheduler: "wrr".into(),
            local_addrs: vec!["198.19.0.201".parse().unwrap()],
            options: ServiceOptions { proxy_protocol: Some(2), proxy_on_connect: true, ..Default::default() },
        },
        reals: vec![real("198.19.0.11:8081", 1, 0, 0)],
        stats: TrafficStats::default(),
    };
    let mut before = TableFake(vec![web, pp]);
    let saved = run_on(&mut before, &["-S"], "");
    for want in [
        "-A -t 198.18.0.100:80 -s sh --sched-flags sh-port,sh-fallback -p 50 -M 255.255.255.0 --synproxy --toa --expire-quiescent-template",
        "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -b -w 2 -x 10 -y 5",
        "-a -t 198.18.0.100:80 -r 198.19.0.13:80 -b -w 0 -x 7",
        "-A -t 198.18.0.100:8082 -s wrr --proxy-protocol v2 --proxy-protocol-send on-connect",
    ] {
        assert!(saved.lines().any(|l| l == want), "{want:?} not in:\n{saved}");
    }
    let mut after = TableFake::default();
    run_on(&mut after, &["-R"], &saved);
    assert_eq!(run_on(&mut after, &["-S"], ""), saved, "-S after -R is byte-identical");
    let specs = |t: &TableFake| {
        t.0.iter()
            .map(|s| (s.spec.clone(), s.reals.iter().map(|r| r.spec.clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    assert_eq!(specs(&after), specs(&before));
}

#[test]
fn sorted_as_ipvsadm_family_before_protocol() {
    // libipvs's ipvs_cmp_services: fwmark, address family, protocol, address, port.
    let mk = |p: Protocol, a: &str| {
        let mut s = service(0);
        s.spec.key = ServiceKey { protocol: p, addr: a.parse().unwrap() };
        s
    };
    let list = vec![
        mk(Protocol::Udp, "[2001:db8::1]:53"),
        mk(Protocol::Tcp, "[2001:db8::1]:80"),
        mk(Protocol::Udp, "198.18.0.1:53"),
        mk(Protocol::Tcp, "198.18.0.2:80"),
        mk(Protocol::Tcp, "198.18.0.1:443"),
        mk(Protocol::Tcp, "198.18.0.1:80"),
    ];
    let keys: Vec<String> =
        sorted(list).iter().map(|s| format!("{:?} {}", s.spec.key.protocol, s.spec.key.addr)).collect();
    assert_eq!(
        keys,
        [
            "Tcp 198.18.0.1:80",
            "Tcp 198.18.0.1:443",
            "Tcp 198.18.0.2:80",
            "Udp 198.18.0.1:53",
            "Tcp [2001:db8::1]:80",
            "Udp [2001:db8::1]:53",
        ]
    );
}

#[test]
fn thresholds_view_and_sort() {
    use rvs_proto::{RealInfo, Thresholds};
    let mut b = service(0);
    b.spec.key.addr = "198.18.0.100:81".parse().unwrap();
    let mut a = service(0);
    for (addr, upper) in [("198.19.0.12:80", 0), ("198.19.0.11:80", 10)] {
        a.reals.push(RealInfo {
            spec: RealSpec {
                addr: addr.parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
                thresholds: Thresholds { upper, lower: upper / 2 },
            },
            active_conns: 4,
            inactive_conns: 2,
            stats: TrafficStats::default(),
        });
    }
    let mut t = TableFake(vec![b, a]);
    let out = run_on(&mut t, &["-Ln", "--thresholds", "--sort"], "");
    let lines: Vec<&str> = out.lines().skip(3).collect();
    assert!(lines[0].starts_with("TCP  198.18.0.100:80 rr"), "{out}");
    let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(cols(lines[1]), ["->", "198.19.0.11:80", "10", "5", "4", "2"]);
    assert_eq!(cols(lines[2]), ["->", "198.19.0.12:80", "0", "0", "4", "2"]);
    assert!(lines[3].starts_with("TCP  198.18.0.100:81 rr"), "{out}");
    let unsorted = run_on(&mut t, &["-Ln"], "");
    assert!(
        unsorted.lines().nth(3).unwrap().starts_with("TCP  198.18.0.100:81"),
        "rvsd's order without --sort"
    );
}
