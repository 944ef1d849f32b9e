//! The VRRP thread's pieces: the sync hold, notify scripts, states from the FIFO.

use super::Hold;
use rvs_proto::SyncInfo;

#[test]
fn states_written_again_on_reload_run_no_script() {
    use super::{fifo::parse_line, Loop, VrrpState};
    let mut lp = Loop::new("/nonexistent", "/nonexistent/hold".into());
    lp.set_plan(super::conf::Plan {
        instances: vec![super::conf::InstancePlan {
            name: "VI_1".into(),
            vrid: 51,
            priority: 100,
            advert_int: 1.0,
            interface: "eth0".into(),
            kernel_if: "rvs-client".into(),
            vips: Vec::new(),
            lips: Vec::new(),
            notify: Default::default(),
            group: Some("G".into()),
        }],
        ..Default::default()
    });
    let lines = ["INSTANCE \"VI_1\" BACKUP 100", "GROUP \"G\" BACKUP 0"];
    for l in lines {
        lp.report(parse_line(l).unwrap());
    }
    assert_eq!(lp.pending.len(), 2);
    // keepalived reloaded (fifo_write_vrrp_states_on_reload): the same states again.
    lp.pending.clear();
    for l in lines {
        lp.report(parse_line(l).unwrap());
    }
    assert!(lp.pending.is_empty(), "{:?}", lp.pending);
    lp.report(parse_line("GROUP \"G\" MASTER 0").unwrap());
    assert_eq!(lp.pending, [(true, "G".to_string(), VrrpState::Master, 0)]);
    // A new keepalived (the old one exited) reports them afresh, and they run.
    lp.pending.clear();
    lp.all(VrrpState::Init);
    for l in lines {
        lp.report(parse_line(l).unwrap());
    }
    assert_eq!(lp.pending.len(), 2, "{:?}", lp.pending);
}

#[test]
fn notify_scripts_run_as_their_user() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot change user, skipped");
        return;
    }
    let sh = |run_as| {
        let argv = ["/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G)"].map(String::from);
        let out = super::notify_command(&argv, run_as).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let nobody = crate::keepalived::RunAs { name: "nobody".into(), uid: 65534, gid: 65534 };
    // Its user and group, and none of root's supplementary groups.
    assert_eq!(sh(Some(&nobody)), "65534 65534 65534\n");
    assert!(sh(None).starts_with("0 0"));
}

#[test]
fn hold_follows_the_start_up_sync() {
    let h = Hold::initial();
    assert!(h.held);
    // No [sync]: nothing to wait for.
    assert!(!h.next(Some(&SyncInfo::default()), false).held);
    let syncing = SyncInfo {
        enabled: true,
        initial_sync: "syncing".into(),
        initial_sync_ready: false,
        ..Default::default()
    };
    let h = h.next(Some(&syncing), false);
    assert!(h.held && h.reason.contains("syncing"), "{h:?}");
    let done = SyncInfo { initial_sync: "complete".into(), initial_sync_ready: true, ..syncing.clone() };
    let h = h.next(Some(&done), false);
    assert!(!h.held);
    // rvsd does not answer: a master keeps its priority, a backup is held.
    assert!(!h.next(None, true).held);
    assert!(h.next(None, false).held);
    // An rvsd that restarted says so when it answers, master or not.
    assert!(h.next(Some(&syncing), true).held);
    // From an rvsd that does not report it (older), the field defaults to ready.
    let old: SyncInfo = serde_json::from_str(
        r#"{"enabled":true,"sync_id":1,"member":1,"epoch":1,"interface":"","destinations":[],"peers":[],
        "sent_msgs":0,"sent_records":0,"sent_bytes":0,"recv_msgs":0,"recv_records":0,"installed":0,
        "install_failed":[],"refused":[],"ring_full":0,"send_errors":0,"bulk_answered":0,
        "bulk_requested":0,"lag_ms":0}"#,
    )
    .unwrap();
    assert!(old.initial_sync_ready);
    assert!(!Hold::initial().next(Some(&old), false).held);
}
