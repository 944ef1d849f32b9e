use super::fake::{svc, FakeRvsd};
use super::*;
use rvs_proto::{Protocol, ServiceKey};
use std::sync::mpsc;

fn key(a: &str) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: a.parse().unwrap() }
}

fn table(entries: Vec<(&str, DesiredService)>) -> Table {
    entries.into_iter().map(|(k, s)| (key(k), s)).collect()
}

fn show(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .map(|c| match c {
            Command::AddService { spec } => format!("A {} {}", spec.key.addr, spec.scheduler),
            Command::EditService { spec } => format!("E {} {}", spec.key.addr, spec.scheduler),
            Command::DelService { key } => format!("D {}", key.addr),
            Command::AddReal { service, real } => format!("a {} {} {}", service.addr, real.addr, real.weight),
            Command::EditReal { service, real } => {
                format!("e {} {} {}", service.addr, real.addr, real.weight)
            }
            Command::DelReal { service, addr } => format!("d {} {addr}", service.addr),
            Command::AddLocalAddr { service, addr } => format!("P {} {addr}", service.addr),
            Command::DelLocalAddr { service, addr } => format!("Q {} {addr}", service.addr),
            other => format!("{other:?}"),
        })
        .collect()
}

const V: &str = "198.18.0.100:80";
const L: &[&str] = &["198.19.0.200"];

#[test]
fn equal_tables_need_nothing() {
    let t = table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1)]))]);
    assert!(diff(&t, &t).is_empty());
}

#[test]
fn diff_is_minimal_and_ordered() {
    let actual = table(vec![
        (
            V,
            svc(
                "rr",
                &["198.19.0.200", "198.19.0.201"],
                &[("198.19.0.11:80", 1), ("198.19.0.12:80", 1), ("198.19.0.13:80", 5)],
            ),
        ),
        ("198.18.0.100:8080", svc("rr", L, &[])),
    ]);
    let desired = table(vec![
        (
            V,
            svc(
                "wrr",
                &["198.19.0.202", "198.19.0.200"],
                &[("198.19.0.11:80", 1), ("198.19.0.12:80", 3), ("198.19.0.14:80", 1)],
            ),
        ),
        ("198.18.0.100:443", svc("rr", L, &[("198.19.0.11:443", 2)])),
    ]);
    assert_eq!(
        show(&diff(&desired, &actual)),
        [
            "D 198.18.0.100:8080",
            "P 198.18.0.100:80 198.19.0.202",
            "E 198.18.0.100:80 wrr",
            "e 198.18.0.100:80 198.19.0.12:80 3",
            "a 198.18.0.100:80 198.19.0.14:80 1",
            "d 198.18.0.100:80 198.19.0.13:80",
            "Q 198.18.0.100:80 198.19.0.201",
            "A 198.18.0.100:443 rr",
            "a 198.18.0.100:443 198.19.0.11:443 2",
        ]
    );
    let Command::EditService { spec } = &diff(&desired, &actual)[2] else { panic!() };
    assert_eq!(spec.local_addrs.len(), 3, "the edit keeps every address");
    let mut t = actual.clone();
    for c in diff(&desired, &actual) {
        apply(&mut t, &c);
    }
    let mut want = desired.clone();
    want.get_mut(&key(V)).unwrap().local_addrs.sort();
    t.get_mut(&key(V)).unwrap().local_addrs.sort();
    assert_eq!(t, want);
}

#[test]
fn resync_against_a_running_rvsd_sends_only_the_difference() {
    // rvsd already forwards for two of three servers (rvs-ctrl restarted, say).
    let fake =
        FakeRvsd::start(table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1), ("198.19.0.12:80", 1)]))]));
    let desired = table(vec![(
        V,
        svc("rr", L, &[("198.19.0.11:80", 1), ("198.19.0.12:80", 1), ("198.19.0.13:80", 1)]),
    )]);
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    assert_eq!(s.round(&mut c, &desired).unwrap(), Round { listed: true, applied: 1, refused: 0 });
    assert_eq!(show(&fake.take_log()), ["ListServices", "a 198.18.0.100:80 198.19.0.13:80 1"]);
    assert_eq!(fake.table(), desired);
    // Nothing to do, and no listing either: the copy is trusted until invalidated.
    assert_eq!(s.round(&mut c, &desired).unwrap(), Round::default());
    assert!(fake.take_log().is_empty());
    // A health-check flap: one command.
    let mut flapped = desired.clone();
    flapped.get_mut(&key(V)).unwrap().reals.remove(&"198.19.0.12:80".parse().unwrap());
    s.round(&mut c, &flapped).unwrap();
    assert_eq!(show(&fake.take_log()), ["d 198.18.0.100:80 198.19.0.12:80"]);
}

#[test]
fn changes_behind_our_back_are_repaired_on_relist() {
    let desired = table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1)]))]);
    let fake = FakeRvsd::start(desired.clone());
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    s.round(&mut c, &desired).unwrap();
    // Someone runs `rvsadm -e ... -w 9` and `rvsadm -A` another service.
    {
        let mut st = fake.state.lock().unwrap();
        st.table.get_mut(&key(V)).unwrap().reals.insert("198.19.0.11:80".parse().unwrap(), 9);
        st.table.insert(key("10.0.0.1:80"), svc("rr", L, &[]));
    }
    fake.take_log();
    s.invalidate();
    s.round(&mut c, &desired).unwrap();
    assert_eq!(
        show(&fake.take_log()),
        ["ListServices", "D 10.0.0.1:80", "e 198.18.0.100:80 198.19.0.11:80 1"]
    );
    assert_eq!(fake.table(), desired);
}

#[test]
fn refusals_are_counted_and_the_rest_applied() {
    let fake = FakeRvsd::start(Table::new());
    let desired = table(vec![
        ("198.18.0.100:53", svc("wlc", L, &[("198.19.0.11:53", 1)])),
        (V, svc("rr", L, &[("198.19.0.11:80", 1)])),
    ]);
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    let r = s.round(&mut c, &desired).unwrap();
    assert_eq!((r.applied, r.refused), (2, 2), "AddService wlc and its AddReal refused");
    assert_eq!(fake.table().len(), 1);
    // Refused: the next round lists again and retries.
    assert!(s.round(&mut c, &desired).unwrap().listed);
}

#[test]
fn transport_loss_is_an_error_and_forgets_the_copy() {
    let fake = FakeRvsd::start(Table::new());
    let desired = table(vec![(V, svc("rr", L, &[]))]);
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    fake.state.lock().unwrap().drop_next = true;
    assert!(matches!(s.round(&mut c, &desired), Err(SyncError::Transport(_))));
    let mut c = Client::connect(&fake.path).unwrap();
    let r = s.round(&mut c, &desired).unwrap();
    assert!(r.listed && r.applied == 1);
}

#[test]
fn sync_thread_converges_reconnects_and_exits() {
    let fake = FakeRvsd::start(table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1)]))]));
    let (tx, rx) = mpsc::channel();
    let path = fake.path.clone();
    let h = std::thread::spawn(move || run(&path, &rx));
    let want = |n: usize| {
        let reals: Vec<(String, u32)> = (1..=n).map(|i| (format!("198.19.0.1{i}:80"), 1)).collect();
        let reals: Vec<(&str, u32)> = reals.iter().map(|(a, w)| (a.as_str(), *w)).collect();
        table(vec![(V, svc("rr", L, &reals))])
    };
    let wait_for = |t: &Table| {
        let stop = Instant::now() + Duration::from_secs(5);
        while &fake.table() != t {
            assert!(Instant::now() < stop, "not converged: {:?}", fake.table());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    tx.send(Arc::new(Wanted { table: want(2), timeouts: None })).unwrap();
    wait_for(&want(2));
    // rvsd drops the connection: the next change reconnects and resyncs.
    fake.state.lock().unwrap().drop_next = true;
    tx.send(Arc::new(Wanted { table: want(3), timeouts: None })).unwrap();
    tx.send(Arc::new(Wanted { table: want(4), timeouts: None })).unwrap();
    wait_for(&want(4));
    let log = show(&fake.take_log());
    assert!(!log.iter().any(|c| c.starts_with("D ") || c == "Clear"), "{log:?}");
    drop(tx);
    h.join().unwrap();
}

#[test]
fn sync_thread_waits_for_rvsd() {
    let dir = crate::testutil::TempDir::new("late");
    let path = dir.path().join("rvsd.sock").to_string_lossy().into_owned();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    let h = std::thread::spawn(move || run(&p, &rx));
    let desired = table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1)]))]);
    tx.send(Arc::new(Wanted { table: desired.clone(), timeouts: None })).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // rvsd comes up late, at the same path.
    let fake = FakeRvsd::start(Table::new());
    std::fs::rename(&fake.path, &path).unwrap();
    let stop = Instant::now() + Duration::from_secs(10);
    while fake.table() != desired {
        assert!(Instant::now() < stop, "never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(tx);
    h.join().unwrap();
}

#[test]
fn an_option_or_threshold_change_is_one_edit() {
    let a: std::net::SocketAddr = "198.19.0.11:80".parse().unwrap();
    let actual = table(vec![(V, svc("rr", L, &[("198.19.0.11:80", 1), ("198.19.0.12:80", 1)]))]);
    let mut desired = actual.clone();
    desired.get_mut(&key(V)).unwrap().options.persistence =
        Some(rvs_proto::Persistence { timeout: 50, prefix_len: 32 });
    let cmds = diff(&desired, &actual);
    assert_eq!(show(&cmds), ["E 198.18.0.100:80 rr"]);
    let Command::EditService { spec } = &cmds[0] else { panic!() };
    assert_eq!(spec.options.persistence.unwrap().timeout, 50);
    assert_eq!(spec.local_addrs, actual[&key(V)].local_addrs, "the edit keeps the local addresses");

    let mut th = actual.clone();
    th.get_mut(&key(V)).unwrap().thresholds.insert(a, rvs_proto::Thresholds { upper: 10, lower: 5 });
    let cmds = diff(&th, &actual);
    assert_eq!(show(&cmds), ["e 198.18.0.100:80 198.19.0.11:80 1"]);
    let Command::EditReal { real, .. } = &cmds[0] else { panic!() };
    assert_eq!(real.thresholds, rvs_proto::Thresholds { upper: 10, lower: 5 });
    // Applying the commands gives the desired table; nothing more is needed.
    let mut t = actual.clone();
    for c in diff(&th, &actual) {
        apply(&mut t, &c);
    }
    assert_eq!(t, th);
    assert!(diff(&th, &t).is_empty());
    // New servers are added with their thresholds.
    let cmds = diff(&th, &Table::new());
    let Command::AddReal { real, .. } = &cmds[1] else { panic!() };
    assert_eq!(real.thresholds.upper, 10);
}

#[test]
fn option_and_threshold_drift_made_behind_rvs_ctrl_is_reverted() {
    let a: std::net::SocketAddr = "198.19.0.11:80".parse().unwrap();
    let mut want = svc("rr", L, &[("198.19.0.11:80", 1)]);
    want.options.toa = true;
    want.thresholds.insert(a, rvs_proto::Thresholds { upper: 10, lower: 0 });
    let desired = table(vec![(V, want)]);
    let fake = FakeRvsd::start(desired.clone());
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    assert_eq!(s.round(&mut c, &desired).unwrap(), Round { listed: true, applied: 0, refused: 0 });
    {
        // An rvsadm session edits the options and the thresholds.
        let mut st = fake.state.lock().unwrap();
        let svc = st.table.get_mut(&key(V)).unwrap();
        svc.options.toa = false;
        svc.thresholds.clear();
    }
    s.invalidate();
    let r = s.round(&mut c, &desired).unwrap();
    assert_eq!(r, Round { listed: true, applied: 2, refused: 0 });
    assert_eq!(fake.table(), desired);
}

#[test]
fn lvs_timeouts_are_set_and_kept() {
    let want = rvs_proto::Timeouts { tcp: 900, tcp_fin: 0, udp: 300 };
    let have = rvs_proto::Timeouts { tcp: 60, tcp_fin: 120, udp: 30 };
    let merged = merge_timeouts(&want, &have);
    assert_eq!(merged, rvs_proto::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 });
    let fake = FakeRvsd::start(Table::new());
    fake.state.lock().unwrap().timeouts = have;
    let mut c = Client::connect(&fake.path).unwrap();
    assert!(sync_timeouts(&mut c, &want).unwrap());
    assert_eq!(fake.state.lock().unwrap().timeouts, merged);
    assert!(!sync_timeouts(&mut c, &want).unwrap(), "nothing to do once set");
    // `rvsadm --set` behind rvs-ctrl's back is reverted.
    fake.state.lock().unwrap().timeouts.tcp = 5;
    assert!(sync_timeouts(&mut c, &want).unwrap());
    assert_eq!(fake.state.lock().unwrap().timeouts, merged);
}

#[test]
fn a_changed_forwarding_method_is_an_edit_and_round_trips_through_rvsds_listing() {
    let have = table(vec![(V, svc("rr", &[], &[("198.19.0.11:80", 1)]))]);
    let mut want = have.clone();
    let rs = "198.19.0.11:80".parse().unwrap();
    want.get_mut(&key(V)).unwrap().methods.insert(rs, (ForwardMethod::DirectRoute, None));
    let cmds = diff(&want, &have);
    assert_eq!(show(&cmds), ["e 198.18.0.100:80 198.19.0.11:80 1"]);
    let Command::EditReal { real, .. } = &cmds[0] else { panic!() };
    assert_eq!(real.method, ForwardMethod::DirectRoute);
    let mut applied = have.clone();
    apply(&mut applied, &cmds[0]);
    assert_eq!(applied, want, "apply mirrors rvsd");
    assert!(diff(&want, &applied).is_empty());
}

/// A service with `n` real servers 198.19.x.y:80 (weight 1).
fn many_reals(n: usize) -> Table {
    let reals: Vec<String> = (0..n).map(|i| format!("198.19.{}.{}:80", i / 250, i % 250 + 1)).collect();
    let reals: Vec<(&str, u32)> = reals.iter().map(|a| (a.as_str(), 1)).collect();
    table(vec![(V, svc("rr", L, &reals))])
}

#[test]
fn many_changes_go_in_batches_in_order() {
    let fake = FakeRvsd::start(Table::new());
    let mut c = Client::connect(&fake.path).unwrap();
    let mut s = Syncer::new();
    // 1 service + 600 servers: 601 commands, in batches of 256, 256 and 89.
    let desired = many_reals(600);
    let r = s.round(&mut c, &desired).unwrap();
    assert_eq!((r.applied, r.refused), (601, 0));
    assert_eq!(fake.state.lock().unwrap().batches, 3);
    assert_eq!(fake.table(), desired);
    let log = show(&fake.take_log());
    assert_eq!(log[..2], ["ListServices", "A 198.18.0.100:80 rr"]);
    assert_eq!(log[2], "a 198.18.0.100:80 198.19.0.1:80 1");
    assert_eq!(log.len(), 602);
    // A lone change needs no batch.
    let mut desired = desired;
    desired.get_mut(&key(V)).unwrap().reals.insert("198.19.0.1:80".parse().unwrap(), 5);
    s.round(&mut c, &desired).unwrap();
    assert_eq!(show(&fake.take_log()), ["e 198.18.0.100:80 198.19.0.1:80 5"]);
    assert_eq!(fake.state.lock().unwrap().batches, 3);
}

#[test]
fn an_rvsd_without_batches_gets_the_commands_one_by_one() {
    let fake = FakeRvsd::start(Table::new());
    fake.state.lock().unwrap().refuse_batches = true;
    let desired = many_reals(3);
    let mut s = Syncer::new();
    let mut c = Client::connect(&fake.path).unwrap();
    assert!(matches!(s.round(&mut c, &desired), Err(SyncError::NoBatch(_))));
    assert_eq!(fake.table(), Table::new(), "nothing applied by the refused batch");
    // The old rvsd closed the connection: the next one lists again and goes one by one.
    s.invalidate();
    let mut c = Client::connect(&fake.path).unwrap();
    let r = s.round(&mut c, &desired).unwrap();
    assert_eq!((r.listed, r.applied), (true, 4));
    assert_eq!(fake.table(), desired);
    assert_eq!(fake.state.lock().unwrap().batches, 0);
}

#[test]
fn batches_keep_to_their_count_and_size() {
    let svc = |lips: usize| {
        let mut spec = svc("rr", &[], &[]).spec(key(V));
        spec.local_addrs = (0..lips).map(|i| format!("2001:db8::{i:x}").parse().unwrap()).collect();
        Command::AddService { spec }
    };
    let small: Vec<Command> = (0..600).map(|_| svc(0)).collect();
    let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
    assert_eq!(sizes, [256, 256, 88]);
    // Services with 1,000 IPv6 local addresses each (about 16 KB of JSON): 16 a batch.
    let big: Vec<Command> = (0..40).map(|_| svc(1000)).collect();
    let one = serde_json::to_vec(&big[0]).unwrap().len();
    assert!(one > 15 << 10, "{one}");
    assert_eq!(batches(&big).iter().map(|b| b.len()).collect::<Vec<_>>(), [16, 16, 8]);
    for b in batches(&big) {
        let bytes: usize = b.iter().map(|c| serde_json::to_vec(c).unwrap().len()).sum();
        assert!(bytes <= BATCH_BYTES, "{bytes}");
    }
    assert_eq!(batches(&big).iter().map(|b| b.len()).sum::<usize>(), 40);
    // A command bigger than a batch's bytes still goes, alone.
    let huge = vec![svc(20_000), svc(0)];
    assert_eq!(batches(&huge).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1]);
    assert!(batches(&[]).is_empty());
}
