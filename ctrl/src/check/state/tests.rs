use super::*;
use crate::keepalived::load_str;

fn cfg(body: &str) -> Config {
    let text = format!(
        "local_address_group g {{ 198.19.0.200 }}\nvirtual_server 198.18.0.100 80 {{\n laddr_group_name g\n lb_algo wrr\n delay_loop 10\n{body}\n}}\n"
    );
    match load_str("k.conf", &text) {
        Ok(l) => l.config,
        Err(e) => panic!("{:?}", e.lines()),
    }
}

fn health(c: Config, t0: Instant) -> Health {
    Health::new(c, t0, &mut || 0.5)
}

fn id(rs: usize) -> CheckerId {
    CheckerId { vs: 0, rs, ck: 0 }
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn reals(h: &Health) -> Vec<(String, u32)> {
    h.desired().values().next().unwrap().reals.iter().map(|(a, w)| (a.to_string(), *w)).collect()
}

fn down() -> Outcome {
    Outcome::Down("connection refused".into())
}

/// Two servers whose checkers run at once (`warmup 0`), so the times below are exact.
const TWO: &str = " real_server 198.19.0.11 80 {\n weight 3\n TCP_CHECK {\n retry 2\n delay_before_retry 1\n warmup 0\n }\n }\n real_server 198.19.0.12 80 {\n weight 2\n TCP_CHECK {\n retry 0\n warmup 0\n }\n }\n";

#[test]
fn checker_retries_before_going_down_and_recovers_at_once() {
    let c = cfg(TWO);
    let conf = c.virtual_servers[0].reals[0].checkers[0].clone();
    let t0 = Instant::now();
    let mut sm = CheckerSm::new(&conf, t0, 0.3);
    assert!(sm.up && sm.due(t0));
    assert_eq!(sm.on_result(&conf, t0, true), None);
    assert_eq!(sm.next_at, t0 + s(10));
    // retry 2: two retries one second apart, the third failure in a row takes it down.
    assert_eq!(sm.on_result(&conf, t0 + s(10), false), None);
    assert_eq!(sm.next_at, t0 + s(11));
    assert_eq!(sm.on_result(&conf, t0 + s(11), false), None);
    assert_eq!(sm.on_result(&conf, t0 + s(12), false), Some(false));
    assert_eq!(sm.next_at, t0 + s(22), "a down server is checked every delay_loop");
    assert_eq!(sm.on_result(&conf, t0 + s(22), false), None, "no retries while down");
    assert_eq!(sm.next_at, t0 + s(32));
    assert_eq!(sm.on_result(&conf, t0 + s(32), true), Some(true));
    assert_eq!(sm.failures, 0);
}

#[test]
fn a_success_between_failures_resets_the_retry_count() {
    let c = cfg(TWO);
    let conf = c.virtual_servers[0].reals[0].checkers[0].clone();
    let t0 = Instant::now();
    let mut sm = CheckerSm::new(&conf, t0, 0.0);
    assert_eq!(sm.on_result(&conf, t0, true), None, "a first run is not retried: pass it first");
    for _ in 0..5 {
        assert_eq!(sm.on_result(&conf, t0, false), None);
        assert_eq!(sm.on_result(&conf, t0, false), None);
        assert_eq!(sm.on_result(&conf, t0, true), None);
    }
    assert!(sm.up);
}

#[test]
fn warmup_spreads_first_checks_and_running_is_not_due() {
    let c = cfg(" real_server 198.19.0.11 80 {\n TCP_CHECK {\n warmup 8\n }\n }\n");
    let conf = c.virtual_servers[0].reals[0].checkers[0].clone();
    let t0 = Instant::now();
    let sm = CheckerSm::new(&conf, t0, 0.25);
    assert_eq!(sm.next_at, t0 + s(2));
    let mut h = health(c, t0);
    assert!(h.take_due(t0).is_empty());
    assert_eq!(h.next_due(), Some(t0 + s(4)));
    assert_eq!(h.take_due(t0 + s(4)), vec![id(0)]);
    assert_eq!(h.next_due(), None, "running checkers are not due again");
    assert!(h.take_due(t0 + s(100)).is_empty());
    h.on_result(id(0), t0 + s(5), Outcome::Up);
    assert_eq!(h.next_due(), Some(t0 + s(15)));
}

#[test]
fn failed_server_is_removed_then_restored() {
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 2)]);
    let ev = h.on_result(id(1), t0, down());
    let key = h.config().virtual_servers[0].key;
    let rs: SocketAddr = "198.19.0.12:80".parse().unwrap();
    assert_eq!(ev, [Event::RealDown { vs: key, rs, reason: "connection refused".into() }]);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3)]);
    assert_eq!(h.on_result(id(1), t0 + s(10), Outcome::Up), [Event::RealUp { vs: key, rs }]);
    assert_eq!(reals(&h).len(), 2);
}

#[test]
fn inhibit_on_failure_sets_weight_zero() {
    let t0 = Instant::now();
    let mut h = health(cfg(&format!(" inhibit_on_failure\n{TWO}")), t0);
    h.on_result(id(1), t0, down());
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 0)]);
    h.on_result(id(1), t0, Outcome::Up);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 2)]);
}

#[test]
fn alpha_starts_servers_down() {
    let t0 = Instant::now();
    let mut h = health(cfg(&format!(" alpha\n{TWO} real_server 198.19.0.13 80\n")), t0);
    assert_eq!(reals(&h), [("198.19.0.13:80".into(), 1)], "a server with no checker is always alive");
    h.on_result(id(0), t0, Outcome::Up);
    assert_eq!(reals(&h).len(), 2);
}

#[test]
fn all_checkers_must_be_up() {
    let t0 = Instant::now();
    let body = " real_server 198.19.0.11 80 {\n TCP_CHECK {\n retry 0\n }\n HTTP_GET {\n retry 0\n url {\n path /\n }\n }\n }\n";
    let mut h = health(cfg(body), t0);
    let http = CheckerId { vs: 0, rs: 0, ck: 1 };
    h.on_result(http, t0, down());
    assert!(!h.alive(0, 0));
    assert_eq!(h.on_result(id(0), t0, Outcome::Up), [], "TCP up alone does not revive it");
    assert!(matches!(h.on_result(http, t0, Outcome::Up)[0], Event::RealUp { .. }));
}

#[test]
fn misc_dynamic_weight() {
    let t0 = Instant::now();
    let body = " real_server 198.19.0.11 80 {\n weight 5\n MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }\n }\n";
    let mut h = health(cfg(body), t0);
    let ev = h.on_result(id(0), t0, Outcome::UpWeight(40));
    assert!(matches!(ev[..], [Event::WeightChanged { weight: 40, .. }]), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 40)]);
    assert_eq!(h.on_result(id(0), t0, Outcome::UpWeight(40)), [], "unchanged weight: no event");
    let ev = h.on_result(id(0), t0, Outcome::Up);
    assert!(matches!(ev[..], [Event::WeightChanged { weight: 5, .. }]), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 5)], "exit 0: the configured weight (keepalived)");
    h.on_result(id(0), t0, Outcome::UpWeight(7));
    // A failure (retry 0: at once) drops the dynamic weight; back up with exit 0: weight 5.
    h.on_result(id(0), t0, down());
    h.on_result(id(0), t0, Outcome::Up);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 5)]);
}

#[test]
fn misc_dynamic_weight_is_kept_through_retries_and_reloads() {
    let t0 = Instant::now();
    let body = " real_server 198.19.0.11 80 {
 weight 5
 MISC_CHECK {
 misc_path /bin/true
 misc_dynamic
 retry 1
 }
 TCP_CHECK {
 }
 }
";
    let mut h = health(cfg(body), t0);
    h.on_result(id(0), t0, Outcome::UpWeight(40));
    assert_eq!(h.on_result(id(0), t0, down()), [], "retrying");
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 40)], "the weight holds while retrying");
    h.on_result(id(0), t0, Outcome::UpWeight(40));
    // Another checker's success does not touch the weight the script set.
    h.on_result(CheckerId { vs: 0, rs: 0, ck: 1 }, t0, Outcome::Up);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 40)]);
    // The same script after a reload that changes the configured weight: still 40.
    let (h2, _) = h.reload(cfg(&body.replace("weight 5", "weight 9")), t0, &mut || 0.0);
    assert_eq!(reals(&h2), [("198.19.0.11:80".into(), 40)]);
}

#[test]
fn notify_scripts_follow_transitions() {
    let t0 = Instant::now();
    let body = " real_server 198.19.0.11 80 {\n notify_up \"/n.sh up\"\n notify_down \"/n.sh down\"\n TCP_CHECK {\n retry 0\n }\n }\n real_server 198.19.0.12 80\n";
    let mut h = health(cfg(body), t0);
    let ev = h.on_result(id(0), t0, down());
    assert!(matches!(&ev[1], Event::Run(s) if s.argv == ["/n.sh", "down"]), "{ev:?}");
    assert_eq!(h.on_result(id(0), t0, down()), [], "no repeat while down");
    let ev = h.on_result(id(0), t0, Outcome::Up);
    assert!(matches!(&ev[1], Event::Run(s) if s.argv == ["/n.sh", "up"]), "{ev:?}");
}

#[test]
fn quorum_with_hysteresis_and_sorry_server() {
    // Weights 3 + 2 = 5; quorum 4, hysteresis 1: down below 3, up again at 5.
    let body = format!(" quorum 4\n hysteresis 1\n sorry_server 198.19.0.99 8080\n quorum_down /q.sh\n{TWO}");
    let t0 = Instant::now();
    let mut h = health(cfg(&body), t0);
    assert!(h.quorum_up(0));
    h.on_result(id(0), t0, Outcome::Up);
    h.on_result(id(1), t0, down()); // live 3: within the band, still up
    assert!(h.quorum_up(0));
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3)]);
    for _ in 0..2 {
        assert_eq!(h.on_result(id(0), t0, down()).len(), 0, "retrying");
    }
    let ev = h.on_result(id(0), t0, down()); // live 0 < 3
    assert!(matches!(ev[1], Event::QuorumLost { live_weight: 0, .. }), "{ev:?}");
    assert!(matches!(&ev[2], Event::Run(s) if s.argv == ["/q.sh"]));
    assert_eq!(reals(&h), [("198.19.0.99:8080".into(), 1)], "the sorry server alone");
    h.on_result(id(0), t0, Outcome::Up); // live 3 < 5: still down
    assert!(!h.quorum_up(0));
    assert_eq!(reals(&h), [("198.19.0.99:8080".into(), 1)]);
    let ev = h.on_result(id(1), t0, Outcome::Up); // live 5
    assert!(matches!(ev[1], Event::QuorumRegained { live_weight: 5, .. }), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 2)]);
}

#[test]
fn quorum_lost_without_sorry_server_keeps_alive_servers() {
    let t0 = Instant::now();
    let mut h = health(cfg(&format!(" quorum 5\n{TWO}")), t0);
    let ev = h.on_result(id(1), t0, down());
    assert!(ev.iter().any(|e| matches!(e, Event::QuorumLost { live_weight: 3, .. })));
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3)]);
}

#[test]
fn alpha_with_sorry_server_starts_on_the_sorry_server() {
    let t0 = Instant::now();
    let h = health(cfg(&format!(" alpha\n sorry_server 198.19.0.99 80\n{TWO}")), t0);
    assert!(!h.quorum_up(0));
    assert_eq!(reals(&h), [("198.19.0.99:80".into(), 1)]);
}

#[test]
fn desired_table_carries_service_settings() {
    let h = health(cfg(TWO), Instant::now());
    let t = h.desired();
    let (k, d) = t.iter().next().unwrap();
    assert_eq!(k.addr, "198.18.0.100:80".parse().unwrap());
    assert_eq!(d.scheduler, "wrr");
    assert_eq!(d.local_addrs, ["198.19.0.200".parse::<IpAddr>().unwrap()]);
}

#[test]
fn reload_keeps_state_of_unchanged_checkers() {
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    h.on_result(id(0), t0, Outcome::Up);
    h.on_result(id(1), t0, down());
    // Same rs2 checker; rs1's checker changed (a new connect_port), rs3 is new.
    let changed = TWO.replacen("retry 2\n", "retry 2\n connect_port 81\n", 1);
    let new = cfg(&format!("{changed} real_server 198.19.0.13 80\n"));
    let (h2, ev) = h.reload(new, t0 + s(1), &mut || 0.0);
    assert_eq!(ev, []);
    assert!(!h2.alive(0, 1), "rs2 stays down");
    assert!(h2.alive(0, 0) && h2.alive(0, 2));
    assert_eq!(h2.sm_ref(id(1)).next_at, t0 + s(10), "timing kept");
    assert_eq!(h2.sm_ref(id(0)).next_at, t0 + s(1), "changed checker starts afresh");
    assert_eq!(h2.sm_ref(id(0)).failures, 0, "a new checker of a healthy server has its retries");
}

#[test]
fn reload_that_changes_only_timing_or_retries_keeps_a_dead_server_out() {
    // keepalived compares a checker's target, bindto and connect_timeout (and its own
    // settings), not retry/delay_loop/delay_before_retry/alpha/warmup: a server that is
    // down stays down when only those change, instead of starting up again.
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    h.on_result(id(1), t0, down());
    let tuned =
        TWO.replace("retry 0\n warmup 0", "retry 3\n delay_before_retry 2\n delay_loop 5\n alpha\n warmup 1");
    let (h2, ev) = h.reload(cfg(&tuned), t0 + s(1), &mut || 0.0);
    assert_eq!(ev, []);
    assert!(!h2.alive(0, 1), "still out");
    assert_eq!(reals(&h2), [("198.19.0.11:80".into(), 3)]);
    assert_eq!(h2.sm_ref(id(1)).next_at, t0 + s(6), "no later than the new delay_loop");
    // A checker midway through its retries keeps those used, within its new retry.
    let mut h = health(cfg(TWO), t0);
    h.on_result(id(0), t0, Outcome::Up);
    h.on_result(id(0), t0 + s(10), down());
    h.on_result(id(0), t0 + s(11), down());
    assert_eq!(h.sm_ref(id(0)).failures, 2);
    let (mut h2, _) = h.reload(cfg(&TWO.replace("retry 2", "retry 1")), t0 + s(12), &mut || 0.0);
    assert!(h2.alive(0, 0));
    assert!(matches!(h2.on_result(id(0), t0 + s(12), down())[..], [Event::RealDown { .. }]));
}

#[test]
fn reload_new_checker_of_a_failing_server_starts_suspect() {
    let t0 = Instant::now();
    let base = " real_server 198.19.0.11 80 {\n TCP_CHECK {\n retry 2\n warmup 0\n }\n }\n real_server 198.19.0.12 80\n";
    let mut h = health(cfg(base), t0);
    h.on_result(id(0), t0, down());
    assert!(!h.alive(0, 0));
    // A second checker, alpha: the server is failing, so it starts down.
    let two = base
        .replace(" }\n }\n real", " }\n HTTP_GET {\n alpha\n retry 2\n url {\n path /\n }\n }\n }\n real");
    let (h2, _) = h.reload(cfg(&two), t0 + s(1), &mut || 0.0);
    let http = CheckerId { vs: 0, rs: 0, ck: 1 };
    assert!(!h2.checker_up(http));
    // The same added to a healthy server starts up, alpha or not (keepalived).
    let mut ok = health(cfg(base), t0);
    ok.on_result(id(0), t0, Outcome::Up);
    let (h2, _) = ok.reload(cfg(&two), t0 + s(1), &mut || 0.0);
    assert!(h2.checker_up(http) && h2.alive(0, 0));
    // The failed checker itself replaced (another port): the server was out and no kept
    // checker ran, so the new one is not retried at its first failure.
    let moved = base.replace("retry 2\n", "retry 2\n connect_port 81\n");
    let (mut h3, _) = h.reload(cfg(&moved), t0 + s(1), &mut || 0.0);
    assert!(h3.alive(0, 0), "not alpha: up until it fails");
    assert!(matches!(h3.on_result(id(0), t0 + s(2), down())[..], [Event::RealDown { .. }, ..]));
}

#[test]
fn shutdown_events_only_with_omega() {
    let body = " quorum_down /qd\n real_server 198.19.0.11 80 {\n notify_down /nd\n }\n";
    let h = health(cfg(body), Instant::now());
    assert!(h.shutdown_events().is_empty());
    let h = health(cfg(&format!(" omega\n{body}")), Instant::now());
    let runs: Vec<Vec<String>> = h
        .shutdown_events()
        .into_iter()
        .map(|e| if let Event::Run(s) = e { s.argv } else { vec![] })
        .collect();
    assert_eq!(runs, [vec!["/nd".to_string()], vec!["/qd".to_string()]]);
}

#[test]
fn omega_shutdown_as_keepalived_gives_it() {
    // Quorum lost to a sorry server: the alive servers are out of the table, so no
    // notify_down for them (an inhibit_on_failure one is in, at weight 0); quorum_down
    // runs although the quorum was already down.
    let body = " omega\n quorum 5\n sorry_server 198.19.0.99 80\n quorum_down /qd\n real_server 198.19.0.11 80 {\n weight 3\n notify_down \"/nd 11\"\n TCP_CHECK {\n }\n }\n real_server 198.19.0.12 80 {\n weight 2\n notify_down \"/nd 12\"\n TCP_CHECK {\n }\n }\n";
    let runs = |h: &Health| -> Vec<Vec<String>> {
        h.shutdown_events().into_iter().map(|e| if let Event::Run(s) = e { s.argv } else { vec![] }).collect()
    };
    let t0 = Instant::now();
    let mut h = health(cfg(body), t0);
    h.on_result(id(1), t0, down());
    assert!(!h.quorum_up(0));
    assert_eq!(runs(&h), [vec!["/qd".to_string()]]);
    let mut h = health(cfg(&body.replace("weight 3\n", "weight 3\n inhibit_on_failure\n")), t0);
    h.on_result(id(1), t0, down());
    assert_eq!(runs(&h), [vec!["/nd".to_string(), "11".into()], vec!["/qd".to_string()]]);
}

#[test]
fn file_check_weight_adds_to_the_server_weight() {
    let t0 = Instant::now();
    let dir = crate::testutil::TempDir::new("state-file");
    let body = format!(
        " real_server 198.19.0.11 80 {{\n weight 5\n FILE_CHECK {{\n file {}\n weight 10\n }}\n TCP_CHECK {{\n retry 0\n }}\n }}\n",
        dir.path().join("w").display()
    );
    let mut h = health(cfg(&body), t0);
    let file = id(0);
    let tcp = CheckerId { vs: 0, rs: 0, ck: 1 };
    let ev = h.on_result(file, t0, Outcome::UpDelta(20));
    assert!(matches!(ev[..], [Event::WeightChanged { weight: 25, .. }]), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 25)]);
    assert_eq!(h.on_result(file, t0, Outcome::UpDelta(20)), [], "unchanged: no event");
    h.on_result(file, t0, Outcome::UpDelta(-100));
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 0)], "never below 0");
    h.on_result(file, t0, Outcome::UpDelta(70_000));
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 65535)], "never above 65535");
    h.on_result(file, t0, Outcome::UpDelta(1));
    // The other checker failing takes the server out whatever the file says.
    let ev = h.on_result(tcp, t0, down());
    assert!(matches!(ev[0], Event::RealDown { .. }), "{ev:?}");
    assert_eq!(reals(&h), []);
    h.on_result(tcp, t0, Outcome::Up);
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 6)]);
}

#[test]
fn file_check_without_weight_is_up_down_at_once() {
    let t0 = Instant::now();
    let body = " real_server 198.19.0.11 80 {\n FILE_CHECK {\n file /nonexistent/f\n }\n }\n";
    let mut h = health(cfg(body), t0);
    assert_eq!(h.checker_conf(id(0)).retry, 0);
    assert_eq!(h.checker_conf(id(0)).delay_loop, s(1), "read at least every second");
    let ev = h.on_result(id(0), t0, Outcome::Down("the tracked file reads 1".into()));
    assert!(matches!(ev[0], Event::RealDown { .. }), "no retries: {ev:?}");
    assert!(matches!(h.on_result(id(0), t0, Outcome::Up)[0], Event::RealUp { .. }));
}

#[test]
fn due_checkers_come_in_time_order_and_once() {
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    assert_eq!(h.next_due(), Some(t0));
    assert_eq!(h.take_due(t0), vec![id(0), id(1)]);
    assert!(h.take_due(t0 + s(100)).is_empty(), "running checkers are not due");
    assert_eq!(h.next_due(), None);
    h.on_result(id(1), t0 + s(1), Outcome::Up);
    h.on_result(id(0), t0 + s(1), Outcome::Up);
    assert_eq!(h.take_due(t0 + s(11)), vec![id(0), id(1)]);
    h.on_result(id(1), t0 + s(11), Outcome::Up);
    h.on_result(id(0), t0 + s(12), down()); // retry in 1 s
    assert_eq!(h.next_due(), Some(t0 + s(13)));
    assert!(h.take_due(t0 + s(12)).is_empty());
    assert_eq!(h.take_due(t0 + s(21)), vec![id(0), id(1)]);
    // Many checkers: each taken exactly once per run, earliest first.
    let many: String = (0..200)
        .map(|i| {
            format!(
                " real_server 198.19.{}.{} 80 {{\n TCP_CHECK {{\n warmup 10\n }}\n }}\n",
                i / 100,
                i % 100 + 1
            )
        })
        .collect();
    let mut j = 0.0;
    let mut h = Health::new(cfg(&many), t0, &mut || {
        j = (j + 0.377) % 1.0;
        j
    });
    let mut seen = Vec::new();
    for ms in (0..=10_000).step_by(250) {
        let now = t0 + Duration::from_millis(ms);
        let due = h.take_due(now);
        for id in &due {
            assert!(h.sm_ref(*id).next_at <= now);
        }
        seen.extend(due);
        assert!(h.next_due().is_none_or(|t| t > now));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
}

#[test]
fn generation_moves_with_state_changes_only() {
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    let g = h.generation();
    h.on_result(id(0), t0, Outcome::Up);
    assert_eq!(h.generation(), g, "a success while up changes nothing");
    h.on_result(id(1), t0, down());
    assert!(h.generation() > g, "retry 0: down at once");
    let g = h.generation();
    h.on_result(id(0), t0, down());
    assert_eq!(h.generation(), g, "a first failure is only retried");
    assert_eq!(h.checker_runs(id(0)), 2);
}

#[test]
fn quorum_one_with_hysteresis_one_is_lost_when_every_server_is_dead() {
    // keepalived caps hysteresis at quorum - 1 = 0: quorum is lost at live weight 0.
    let one = " real_server 198.19.0.11 80 {\n TCP_CHECK {\n retry 0\n }\n }\n real_server 198.19.0.12 80 {\n TCP_CHECK {\n retry 0\n }\n }\n";
    let body = format!(" quorum 1\n hysteresis 1\n sorry_server 198.19.0.99 80\n{one}");
    let c = cfg(&body);
    assert_eq!(c.virtual_servers[0].hysteresis, 0);
    let t0 = Instant::now();
    let mut h = health(c, t0);
    h.on_result(id(0), t0, down());
    assert!(h.quorum_up(0), "live weight 1 still meets quorum 1");
    let ev = h.on_result(id(1), t0, down());
    assert!(ev.iter().any(|e| matches!(e, Event::QuorumLost { live_weight: 0, .. })), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.99:80".into(), 1)]);
    let ev = h.on_result(id(1), t0, Outcome::Up);
    assert!(ev.iter().any(|e| matches!(e, Event::QuorumRegained { live_weight: 1, .. })), "{ev:?}");
    assert_eq!(reals(&h), [("198.19.0.12:80".into(), 1)]);
}

#[test]
fn quorum_above_the_total_weight_is_lowered_so_all_servers_serve() {
    // quorum 5 over weights 3 + 2 = 5 is fine; over 3 + 2 with one more server of weight 0
    // too. quorum 9 is lowered to 5: with every server alive, quorum is up.
    let h = health(cfg(&format!(" quorum 9\n sorry_server 198.19.0.99 80\n{TWO}")), Instant::now());
    assert!(h.quorum_up(0));
    assert_eq!(reals(&h), [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 2)]);
}

#[test]
fn sorry_server_inhibit_keeps_the_sorry_server_at_weight_zero() {
    let body = format!(" sorry_server 198.19.0.99 80\n sorry_server_inhibit\n inhibit_on_failure\n{TWO}");
    let t0 = Instant::now();
    let mut h = health(cfg(&body), t0);
    assert_eq!(
        reals(&h),
        [("198.19.0.11:80".into(), 3), ("198.19.0.12:80".into(), 2), ("198.19.0.99:80".into(), 0)]
    );
    for _ in 0..3 {
        h.on_result(id(0), t0, down());
    }
    h.on_result(id(1), t0, down());
    assert!(!h.quorum_up(0));
    assert_eq!(
        reals(&h),
        [("198.19.0.11:80".into(), 0), ("198.19.0.12:80".into(), 0), ("198.19.0.99:80".into(), 1)],
        "inhibited servers stay at weight 0 while the sorry server serves"
    );
}

#[test]
fn desired_table_carries_options_thresholds_and_group_members() {
    let text = "local_address_group g { 198.19.0.200 }\nvirtual_server_group vg {\n 198.18.1.100-101 80\n}\nvirtual_server group vg {\n laddr_group_name g\n lb_algo sh\n sh-port\n persistence_timeout 50\n syn_proxy\n real_server 198.19.0.11 80 {\n uthreshold 10\n lthreshold 5\n TCP_CHECK { }\n }\n real_server 198.19.0.12 80 { }\n}\n";
    let c = load_str("k.conf", text).map_err(|e| e.lines()).unwrap().config;
    let h = health(c, Instant::now());
    assert_eq!(h.checker_ids().count(), 1, "one check for both members");
    let t = h.desired();
    assert_eq!(t.len(), 2);
    for d in t.values() {
        assert_eq!(d.options.sched_flags, ["sh-port"]);
        assert_eq!(d.options.persistence, Some(rvs_proto::Persistence { timeout: 50, prefix_len: 32 }));
        assert!(d.options.syn_proxy);
        let a: SocketAddr = "198.19.0.11:80".parse().unwrap();
        assert_eq!(d.thresholds_of(&a), Thresholds { upper: 10, lower: 5 });
        assert_eq!(d.real(a, 1).thresholds, Thresholds { upper: 10, lower: 5 });
        assert_eq!(d.thresholds_of(&"198.19.0.12:80".parse().unwrap()), Thresholds::default());
    }
}

#[test]
fn first_checks_spread_over_delay_loop_by_default() {
    // keepalived: warmup defaults to the checker's delay_loop (10 s here).
    let c = cfg(" real_server 198.19.0.11 80 {\n TCP_CHECK\n }\n");
    let conf = c.virtual_servers[0].reals[0].checkers[0].clone();
    let t0 = Instant::now();
    assert_eq!(CheckerSm::new(&conf, t0, 0.3).next_at, t0 + Duration::from_secs(3));
    assert_eq!(CheckerSm::new(&conf, t0, 0.0).next_at, t0);
}

#[test]
fn a_first_check_that_fails_takes_the_server_out_without_retries() {
    // keepalived starts every checker with its retries used up: a server that is down when
    // rvs-ctrl starts is not given traffic for retry x delay_before_retry.
    let t0 = Instant::now();
    let mut h = health(cfg(TWO), t0);
    let ev = h.on_result(id(0), t0, down());
    assert!(matches!(ev[..], [Event::RealDown { .. }]), "retry 2, yet out at once: {ev:?}");
    assert!(!h.alive(0, 0));
    // After a success, failures are retried again.
    h.on_result(id(0), t0 + s(10), Outcome::Up);
    assert_eq!(h.on_result(id(0), t0 + s(20), down()), []);
    assert_eq!(h.on_result(id(0), t0 + s(21), down()), []);
    assert!(matches!(h.on_result(id(0), t0 + s(22), down())[..], [Event::RealDown { .. }]));
}

#[test]
fn alpha_first_failure_runs_notify_down_once() {
    let t0 = Instant::now();
    let body = " alpha\n real_server 198.19.0.11 80 {\n notify_down /nd\n TCP_CHECK {\n warmup 0\n }\n }\n";
    let mut h = health(cfg(body), t0);
    let ev = h.on_result(id(0), t0, down());
    assert!(matches!(&ev[..], [Event::RealDown { .. }, Event::Run(s)] if s.argv == ["/nd"]), "{ev:?}");
    assert_eq!(h.on_result(id(0), t0 + s(10), down()), [], "only the first run");
    let mut h = health(cfg(&body.replace("alpha", "")), t0);
    h.on_result(id(0), t0, Outcome::Up);
    assert_eq!(h.on_result(id(0), t0, down()), [], "retry 1");
    let ev = h.on_result(id(0), t0, down());
    assert!(matches!(&ev[..2], [Event::RealDown { .. }, Event::Run(_)]), "without alpha: at the transition");
}

#[test]
fn startup_quorum_needs_quorum_plus_hysteresis() {
    // Weights 3 + 2 = 5; quorum 4, hysteresis 2: keepalived starts it without quorum
    // (5 < 6), where once running 5 would keep it (>= 4 - 2).
    let t0 = Instant::now();
    let h = health(cfg(&format!(" quorum 4\n hysteresis 2\n{TWO}")), t0);
    assert!(!h.quorum_up(0));
    assert_eq!(h.startup_events(), [], "no sorry server: nothing to report");
    let body = format!(" quorum 4\n hysteresis 2\n sorry_server 198.19.0.99 80\n quorum_down /qd\n{TWO}");
    let h = health(cfg(&body), t0);
    assert_eq!(reals(&h), [("198.19.0.99:80".into(), 1)]);
    let ev = h.startup_events();
    assert!(
        matches!(&ev[..], [Event::QuorumLost { live_weight: 5, .. }, Event::Run(s)] if s.argv == ["/qd"]),
        "{ev:?}"
    );
    let h = health(cfg(&body.replace("hysteresis 2", "hysteresis 1")), t0);
    assert!(h.quorum_up(0) && h.startup_events().is_empty());
}
