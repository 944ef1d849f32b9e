//! What a command does to the registry, the configuration published and the counters
//! listed, with workers that record what reaches them.

use super::*;
use crate::synproxy::{CookieSecrets, SecretKey};
use rvs_proto::{Protocol, RealSpec, ServiceSpec, Timeouts};

/// Workers that keep what they were sent.
#[derive(Default)]
struct Recorded {
    published: Vec<Arc<WorkerConfig>>,
    announced: Vec<Vec<IpAddr>>,
}

impl Workers for Recorded {
    fn publish(&mut self, config: &Arc<WorkerConfig>) {
        self.published.push(config.clone());
    }
    fn ownership_changed(&mut self, _addrs: &[IpAddr], _owned: bool, announce: Vec<IpAddr>) {
        self.announced.push(announce);
    }
    fn stats(&self) -> Vec<WorkerStats> {
        Vec::new()
    }
    fn conns(&mut self) -> Result<Vec<ConnInfo>, String> {
        Ok(Vec::new())
    }
}

/// A control state with `n` service and real-server slots, and its one worker's counters.
fn state(n: usize) -> (ControlState, Arc<WorkerCounters>) {
    let registry = Registry::new(n, n);
    let secrets = CookieSecrets::new(SecretKey::from_bytes([7; 16]));
    let config = WorkerConfig::new(Arc::new(registry.snapshot()), crate::config::DEFAULT_TIMEOUTS, secrets);
    let counters = Arc::new(WorkerCounters::new(n, n));
    (ControlState::new(registry, config, vec![counters.clone()]), counters)
}

fn spec(key: ServiceKey) -> ServiceSpec {
    ServiceSpec { options: Default::default(), key, scheduler: "rr".into(), local_addrs: vec![] }
}

fn real(a: &str) -> RealSpec {
    RealSpec {
        thresholds: Default::default(),
        addr: a.parse().unwrap(),
        weight: 1,
        method: Default::default(),
        tunnel: None,
    }
}

#[test]
fn edits_publish_snapshots_and_errors_do_not() {
    let (mut c, counters) = state(8);
    let mut w = Recorded::default();
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    assert_eq!(c.handle(Command::AddService { spec: spec(key) }, &mut w), Ok(Reply::Ok));
    assert_eq!(w.published.len(), 1);
    assert_eq!(w.published[0].services.services.len(), 1);
    assert_eq!(
        c.handle(Command::AddService { spec: spec(key) }, &mut w),
        Err("Service already exists".into())
    );
    assert_eq!(w.published.len(), 1, "a refused edit publishes nothing");
    c.handle(Command::AddReal { service: key, real: real("198.19.0.11:80") }, &mut w).unwrap();
    counters.reals[0].traffic.conns.add(5);
    match c.handle(Command::ListServices, &mut w).unwrap() {
        Reply::Services { services } => assert_eq!(services[0].reals[0].stats.conns, 5),
        other => panic!("{other:?}"),
    }
    // Another protocol version: refused before anything is done.
    let req = Request { version: PROTO_VERSION + 1, command: Command::Clear };
    assert!(c.respond(req, &mut w).unwrap_err().contains("not supported"));
    assert_eq!(c.registry().list().count(), 1);
}

#[test]
fn zero_takes_a_baseline_and_new_slots_start_at_zero() {
    // Two slots of each kind, so re-adding after deletes reuses a slot.
    let (mut c, counters) = state(2);
    let mut w = Recorded::default();
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    let other = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
    for k in [key, other] {
        c.handle(Command::AddService { spec: spec(k) }, &mut w).unwrap();
        c.handle(Command::AddReal { service: k, real: real("198.19.0.11:80") }, &mut w).unwrap();
    }
    let listed = |c: &mut ControlState, w: &mut Recorded| match c.handle(Command::ListServices, w).unwrap() {
        Reply::Services { services } => {
            services.iter().map(|s| (s.stats.conns, s.reals[0].stats.in_pkts)).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    counters.services[0].conns.add(7);
    counters.services[1].conns.add(3);
    counters.reals[0].traffic.in_pkts.add(70);
    counters.reals[1].traffic.in_pkts.add(30);
    assert_eq!(listed(&mut c, &mut w), vec![(7, 70), (3, 30)]);

    // One service: only it and its real servers.
    assert_eq!(c.handle(Command::Zero { service: Some(key) }, &mut w), Ok(Reply::Ok));
    assert_eq!(listed(&mut c, &mut w), vec![(0, 0), (3, 30)]);
    counters.services[0].conns.add(2);
    assert_eq!(listed(&mut c, &mut w), vec![(2, 0), (3, 30)]);
    // All of them.
    assert_eq!(c.handle(Command::Zero { service: None }, &mut w), Ok(Reply::Ok));
    assert_eq!(listed(&mut c, &mut w), vec![(0, 0), (0, 0)]);
    let missing = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.1:1".parse().unwrap() };
    assert_eq!(c.handle(Command::Zero { service: Some(missing) }, &mut w), Err("No such service".into()));

    // A deleted service's slot (here the UDP one's, 3 + 9 counted), reused, starts from zero.
    c.handle(Command::DelService { key: other }, &mut w).unwrap();
    counters.services[1].conns.add(9);
    c.handle(Command::DelService { key }, &mut w).unwrap();
    c.handle(Command::AddService { spec: spec(key) }, &mut w).unwrap();
    c.handle(Command::AddReal { service: key, real: real("198.19.0.12:80") }, &mut w).unwrap();
    match c.handle(Command::ListServices, &mut w).unwrap() {
        Reply::Services { services } => assert_eq!(services[0].stats.conns, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn set_timeouts_keeps_zero_fields() {
    let (mut c, _) = state(8);
    let mut w = Recorded::default();
    c.handle(Command::SetTimeouts { timeouts: Timeouts { tcp: 10, tcp_fin: 0, udp: 3 } }, &mut w).unwrap();
    let want = Timeouts { tcp: 10, tcp_fin: 120, udp: 3 };
    assert_eq!(c.handle(Command::GetTimeouts, &mut w), Ok(Reply::Timeouts { timeouts: want }));
    // One configuration, whole: the new timeouts with the services the workers had.
    assert_eq!(w.published.len(), 1);
    assert_eq!(w.published[0].timeouts, want);
    assert!(w.published[0].services.services.is_empty());
}

#[test]
fn release_announces_nothing_and_takeover_what_it_owns() {
    let (mut c, _) = state(8);
    let mut w = Recorded::default();
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    c.handle(Command::AddService { spec: spec(key) }, &mut w).unwrap();
    c.handle(Command::Release { addrs: vec![] }, &mut w).unwrap();
    c.handle(Command::Takeover { addrs: vec![] }, &mut w).unwrap();
    let vip: IpAddr = "198.18.0.100".parse().unwrap();
    assert_eq!(w.announced, vec![vec![], vec![vip]]);
    // Each published before its announcement: the worker owns what it announces.
    assert_eq!(w.published.len(), 3);
    let v4 = "198.18.0.100".parse().unwrap();
    assert!(w.published[2].services.owns(v4) && !w.published[1].services.owns(v4));
}

#[test]
fn a_batch_applies_each_command_on_its_own_and_publishes_once() {
    let (mut c, counters) = state(8);
    let mut w = Recorded::default();
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    let other = ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() };
    c.handle(Command::AddService { spec: spec(key) }, &mut w).unwrap();
    c.handle(Command::AddReal { service: key, real: real("198.19.0.11:80") }, &mut w).unwrap();
    counters.reals[0].traffic.conns.add(7);
    let published = w.published.len();
    let batch = Command::Batch {
        commands: vec![
            Command::DelReal { service: key, addr: "198.19.0.11:80".parse().unwrap() },
            // Refused (no such service): the rest still applies.
            Command::AddReal { service: other, real: real("198.19.0.12:53") },
            // A read is no table change: refused where it stands.
            Command::ListServices,
            Command::Batch { commands: vec![], stop_at_error: false },
            // The slot just freed is taken again: it starts from zero.
            Command::AddReal { service: key, real: real("198.19.0.13:80") },
            Command::SetTimeouts { timeouts: Timeouts { tcp: 60, tcp_fin: 0, udp: 0 } },
        ],
        stop_at_error: false,
    };
    let Ok(Reply::Batch { results }) = c.handle(batch, &mut w) else { panic!("not a batch reply") };
    let errors: Vec<Option<&str>> = results
        .iter()
        .map(|r| match r {
            ResponseResult::Ok(Reply::Ok) => None,
            ResponseResult::Error(e) => Some(e.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(errors[..2], [None, Some("Service not defined")]);
    assert_eq!(errors[2], Some("a batch holds table changes only, not list_services"));
    assert_eq!(errors[3], Some("a batch holds table changes only, not batch"));
    assert_eq!(errors[4..], [None, None]);
    // One configuration for the whole batch, with both its changes.
    assert_eq!(w.published.len(), published + 1);
    let last = w.published.last().unwrap();
    let reals: Vec<_> = last.services.services[0].reals.iter().map(|r| r.addr.to_string()).collect();
    assert_eq!(reals, ["198.19.0.13:80"]);
    assert_eq!(last.timeouts.tcp, 60);
    match c.handle(Command::ListServices, &mut w).unwrap() {
        Reply::Services { services } => {
            assert_eq!(services[0].reals.len(), 1);
            assert_eq!(services[0].reals[0].stats.conns, 0, "a reused slot starts from zero");
        }
        other => panic!("{other:?}"),
    }
    // Nothing accepted: nothing published.
    let refused = Command::Batch { commands: vec![Command::DelService { key: other }], stop_at_error: false };
    c.handle(refused, &mut w).unwrap();
    assert_eq!(w.published.len(), published + 1);
}

/// `stop_at_error` (`rvsadm -R`): what comes before the refused command is applied and
/// published, nothing after it.
#[test]
fn a_batch_that_stops_at_its_first_refusal_applies_nothing_after_it() {
    let (mut c, _) = state(8);
    let mut w = Recorded::default();
    let key = ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() };
    let batch = Command::Batch {
        commands: vec![
            Command::AddService { spec: spec(key) },
            Command::AddService { spec: spec(key) },
            Command::AddReal { service: key, real: real("198.19.0.11:80") },
        ],
        stop_at_error: true,
    };
    let Ok(Reply::Batch { results }) = c.handle(batch, &mut w) else { panic!("not a batch reply") };
    let errors: Vec<Option<&str>> = results
        .iter()
        .map(|r| match r {
            ResponseResult::Ok(_) => None,
            ResponseResult::Error(e) => Some(e.as_str()),
        })
        .collect();
    assert_eq!(errors, [None, Some("Service already exists"), Some(rvs_proto::NOT_APPLIED)]);
    assert_eq!(w.published.len(), 1, "what was applied is published");
    match c.handle(Command::ListServices, &mut w).unwrap() {
        Reply::Services { services } => assert_eq!((services.len(), services[0].reals.len()), (1, 0)),
        other => panic!("{other:?}"),
    }
}
