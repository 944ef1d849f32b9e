//! The generated keepalived.conf for what operators of an LVS pair write, checked by
//! keepalived 2.2.7's own `--config-test` where it is installed.

use super::*;
use crate::keepalived::load_str;

fn map() -> IfaceMap {
    IfaceMap {
        explicit: [("eth0".to_string(), "rvs-client".to_string())].into(),
        sysfs: Some("/nonexistent".into()),
    }
}

fn plan_of(text: &str) -> Plan {
    let l = load_str("k.conf", text).unwrap_or_else(|e| panic!("{:?}", e.lines()));
    plan(&l.config, &map(), Path::new("/run/rvs/vrrp.fifo"))
}

/// keepalived's complaints about `text`, or None when keepalived is not installed.
fn keepalived_says(text: &str) -> Option<Vec<String>> {
    let bin = Path::new("/usr/sbin/keepalived");
    if !bin.exists() {
        eprintln!("keepalived not installed: skipped (scripts/setup.sh installs it)");
        return None;
    }
    let dir = crate::testutil::TempDir::new("ka-ha");
    let conf = dir.path().join("keepalived.conf");
    crate::vrrp::keepalived::write_conf(&conf, text).unwrap();
    Some(crate::vrrp::keepalived::config_test(bin, &conf, text).unwrap())
}

/// The dual-stack pair: one VRID for the IPv4 and the IPv6 instance on one interface.
const DUAL_STACK: &str = "vrrp_instance VI_4 {\n interface eth0\n virtual_router_id 51\n priority 100\n \
     virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n\
     vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 51\n priority 100\n \
     virtual_ipaddress {\n  2001:db8:1::100/64\n }\n}\n";

#[test]
fn dual_stack_instances_share_a_vrid() {
    let p = plan_of(DUAL_STACK);
    assert_eq!(p.instances.iter().map(|i| i.vrid).collect::<Vec<_>>(), [51, 51]);
    assert_eq!(p.text.matches("    virtual_router_id 51\n").count(), 2, "{}", p.text);
    if let Some(e) = keepalived_says(&p.text) {
        assert_eq!(e, Vec::<String>::new(), "{}", p.text);
    }
}

#[test]
fn state_master_without_priority_is_the_address_owner() {
    // The generated file always names the priority: it must be keepalived's default for
    // what the operator wrote (255 here, not 100, or a peer at 150 would win).
    let p = plan_of(
        "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n \
         virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n",
    );
    assert_eq!(p.instances[0].priority, 255);
    assert!(p.text.contains("    priority 255\n"), "{}", p.text);
    // An owner takes no tracking weight in keepalived: it is held by FAULT (weight 0).
    assert!(p.text.contains("        rvs_sync_hold weight 0\n"), "{}", p.text);
}

#[test]
fn track_files_are_passed_with_their_blocks() {
    let p = plan_of(
        "track_file down {\n file /etc/keepalived/down\n weight -20 reverse\n}\ntrack_file unused {\n file /x\n}\n\
         vrrp_track_file maint {\n file \"/etc/keepalived/a b\"\n}\n\
         vrrp_sync_group G {\n group {\n  VI_1\n }\n track_file {\n  maint weight 0\n }\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n track_file {\n  down weight -30\n }\n \
         virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n\
         vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n track_file {\n  maint\n }\n \
         virtual_ipaddress {\n  198.18.0.101/24\n }\n}\n",
    );
    let t = &super::tests::lines_of_blocks(&p.text);
    for want in [
        "# k.conf:1\ntrack_file down {\n    file /etc/keepalived/down\n    weight -20 reverse\n}\n",
        "# k.conf:8\ntrack_file maint {\n    file \"/etc/keepalived/a b\"\n    weight 1\n}\n",
        // The operator's entries, then rvs-ctrl's hold (VI_1 is in a group: weight 0).
        "    track_file {\n        down weight -30\n        rvs_sync_hold weight 0\n    }\n",
        "    track_file {\n        maint\n        rvs_sync_hold weight -253\n    }\n",
        "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    track_file {\n        maint weight 0\n    }\n}\n",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    assert!(!t.contains("unused") && !t.contains("vrrp_track_file"), "{t}");
    if let Some(e) = keepalived_says(&p.text) {
        // keepalived ignores the weights of a sync group's members, and says so.
        assert!(
            e.iter().all(|l| l.contains("due to SYNC group") || l.contains("only 1 virtual router")),
            "{e:?}\n{t}"
        );
    }
}

#[test]
fn vrrp_strict_is_passed_and_keepalived_accepts_the_file() {
    let p = plan_of(
        "global_defs {\n router_id LB1\n vrrp_strict\n vrrp_garp_master_delay 1\n vrrp_skip_check_adv_addr\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n \
         virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n",
    );
    for want in ["    vrrp_strict\n", "    vrrp_skip_check_adv_addr\n", "    vrrp_garp_master_delay 1\n"] {
        let t = super::tests::lines_of_blocks(&p.text);
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    assert!(!p.text.contains("auth_pass"), "{}", p.text);
    if let Some(e) = keepalived_says(&p.text) {
        assert_eq!(e, Vec::<String>::new(), "{}", p.text);
    }
}

/// The MASTER of an LVS-DR pair as operators write it, with most of what keepalived's VRRP
/// offers: every line either reaches keepalived with keepalived's meaning, or is rvsd's.
const DR_MASTER: &str = r#"global_defs {
    router_id LVS_A
    enable_script_security
    script_user root
    vrrp_garp_master_delay 2
    vrrp_skip_check_adv_addr
    lvs_sync_daemon eth0 VI_1 id 10
}
vrrp_script chk_rvsd {
    script "/bin/sh -c 'exec true'"
    interval 2
    timeout 3
    fall 3
    rise 2
    weight -40
    user root
}
vrrp_script chk_up {
    script "/bin/true"
    interval 5
    weight 10
}
track_file maint {
    file /etc/keepalived/maint
    weight -100
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    nopreempt
    garp_master_delay 5
    garp_master_refresh 60
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        198.18.0.100/24 brd 198.18.0.255 dev eth0 scope global label eth0:vip
        198.18.0.101/24 dev eth0 label eth0:vip2
    }
    virtual_ipaddress_excluded {
        198.18.0.102
    }
    virtual_routes {
        10.9.0.0/16 via 198.18.0.254 dev eth0
    }
    track_interface {
        eth1 weight -20
    }
    track_script {
        chk_rvsd
        chk_up weight 5
    }
    track_file {
        maint
    }
    notify_master "/etc/keepalived/notify.sh MASTER VI_1"
    notify_backup "/etc/keepalived/notify.sh BACKUP VI_1"
    notify_fault "/etc/keepalived/notify.sh FAULT VI_1"
    notify_stop "/etc/keepalived/notify.sh STOP VI_1"
    notify /etc/keepalived/notify-any.sh
}
local_address_group lg { 198.19.0.200 }
virtual_server 198.18.0.100 80 {
    lb_algo wlc
    lb_kind FNAT
    laddr_group_name lg
    real_server 198.19.0.11 80 { }
}
"#;

#[test]
fn lvs_dr_master_reaches_keepalived_as_written() {
    let l = load_str("k.conf", DR_MASTER).unwrap_or_else(|e| panic!("{:?}", e.lines()));
    let p = plan(&l.config, &map(), Path::new("/run/rvs/vrrp.fifo"));
    let t = &super::tests::lines_of_blocks(&p.text);
    // global_defs as written, each line after the comment naming its origin.
    let globals: String = t.lines().filter(|l| !l.starts_with("# ")).map(|l| format!("{l}\n")).collect();
    let want = "    router_id LVS_A\n    enable_script_security\n    script_user root\n    vrrp_garp_master_delay 2\n    vrrp_skip_check_adv_addr\n";
    assert!(globals.contains(want), "missing {want:?} in\n{t}");
    for want in [
        "vrrp_script chk_rvsd {\n    script \"/bin/sh -c 'exec true'\"\n    interval 2\n    timeout 3\n    fall 3\n    rise 2\n    weight -40\n    user root\n}\n",
        "    state BACKUP\n    interface rvs-client\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n",
        "    garp_master_delay 5\n    garp_master_refresh 60\n    unicast_src_ip 192.0.2.1\n    unicast_peer {\n        192.0.2.2\n    }\n",
        "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n",
        "    virtual_ipaddress {\n        198.18.0.100/32 dev rvs-client\n        198.18.0.101/32 dev rvs-client\n    }\n    no_accept\n",
        "    nopreempt\n",
        "    track_script {\n        chk_rvsd\n        chk_up weight 5\n    }\n",
        // eth1 is no rvsd port here (no --vrrp-interface, no rvs-eth1): kept as written.
        "    track_interface {\n        eth1 weight -20\n    }\n",
        "    track_file {\n        maint\n        rvs_sync_hold weight -253\n    }\n",
        "track_file maint {\n    file /etc/keepalived/maint\n    weight -100\n}\n",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    // rvsd's, not keepalived's: the excluded VIP, the routes, the notify scripts (rvs-ctrl
    // runs them once rvsd follows), the sync daemon (rvsd's [sync]), the labels.
    for absent in [
        "198.18.0.102",
        "virtual_routes",
        "10.9.0.0",
        "notify.sh",
        "notify-any",
        "lvs_sync_daemon",
        "label",
        "brd",
    ] {
        assert!(!t.contains(absent), "{absent} in\n{t}");
    }
    let i = &p.instances[0];
    let vips: Vec<String> = i.vips.iter().map(ToString::to_string).collect();
    assert_eq!(vips, ["198.18.0.100", "198.18.0.101", "198.18.0.102"]);
    assert_eq!(i.lips, ["198.19.0.200".parse::<IpAddr>().unwrap()]);
    let n = &i.notify;
    assert_eq!(n.stop.as_ref().unwrap().script.argv, ["/etc/keepalived/notify.sh", "STOP", "VI_1"]);
    assert_eq!(n.any.as_ref().unwrap().script.argv, ["/etc/keepalived/notify-any.sh"]);
    let sd = p.sync_daemon.as_ref().unwrap();
    assert_eq!((sd.interface.as_str(), sd.instance.as_str(), sd.sync_id), ("eth0", "VI_1", 10));
    if let Some(e) = keepalived_says(&p.text) {
        assert_eq!(e, Vec::<String>::new(), "{t}");
    }
}

#[test]
fn nopreempt_and_preempt_delay_need_state_backup() {
    // keepalived: "nopreempt will not work with initial state MASTER - clearing", and the
    // same for preempt delay. Both said by rvs-ctrl.
    let warned = |text: &str| -> Vec<String> {
        let l = load_str("k.conf", text).unwrap_or_else(|e| panic!("{:?}", e.lines()));
        l.diags.iter().map(ToString::to_string).filter(|d| d.contains("preempt")).collect()
    };
    let delayed = DR_MASTER.replacen("    nopreempt\n", "    nopreempt\n    preempt_delay 30\n", 1);
    assert_eq!(
        warned(&delayed.replacen("    state BACKUP\n", "    state MASTER\n", 1)),
        [
            "k.conf:27: nopreempt needs 'state BACKUP' (keepalived ignores it with state MASTER)",
            "k.conf:27: preempt_delay needs 'state BACKUP' (keepalived ignores it with state MASTER)"
        ]
    );
    // keepalived: "preempt_delay is incompatible with nopreempt mode - resetting".
    assert_eq!(
        warned(&delayed),
        ["k.conf:27: preempt_delay does nothing with nopreempt (keepalived resets it)"]
    );
    assert!(warned(DR_MASTER).is_empty());
}

#[test]
fn instances_move_to_rvsd_taps_that_appear_after_the_plan() {
    // rvs-ctrl starts as soon as rvsd is executed, before rvsd has made its taps.
    let dir = crate::testutil::TempDir::new("remap");
    let m = IfaceMap { explicit: BTreeMap::new(), sysfs: Some(dir.path().into()) };
    let text = "vrrp_instance VI_1 {\n interface client\n virtual_router_id 51\n virtual_ipaddress {\n  198.18.0.100\n }\n \
         track_interface {\n  server\n }\n}\n";
    let l = load_str("k.conf", text).unwrap();
    let cfg = l.config;
    let boot = plan(&cfg, &m, Path::new("/f"));
    assert_eq!(boot.instances[0].kernel_if, "client");
    assert!(!m.remap(&boot), "no tap yet: nothing to move to");
    // rvsd is up: its taps exist.
    for tap in ["rvs-client", "rvs-server"] {
        std::fs::create_dir_all(dir.path().join(tap)).unwrap();
    }
    assert!(m.remap(&boot));
    let src = boot.source.clone().expect("the plan keeps its configuration");
    let up = plan(&src, &m, Path::new("/f"));
    assert_eq!(up.instances[0].kernel_if, "rvs-client");
    let text = super::tests::lines_of_blocks(&up.text);
    assert!(text.contains("    interface rvs-client\n"), "{text}");
    assert!(text.contains("    track_interface {\n        rvs-server\n    }\n"), "{text}");
    assert!(!m.remap(&up));
    // rvsd restarting: its tap is gone for a while; the instance stays on it, even when
    // the name as written is a kernel interface.
    std::fs::remove_dir(dir.path().join("rvs-client")).unwrap();
    assert!(!m.remap(&up));
    std::fs::create_dir_all(dir.path().join("client")).unwrap();
    assert!(!m.remap(&up));
    // At boot on a host where the name as written exists too: the tap, once it is there,
    // is the first choice, as when it was there at the start.
    let boot = plan(&cfg, &m, Path::new("/f"));
    assert_eq!(boot.instances[0].kernel_if, "client");
    assert!(!m.remap(&boot));
    std::fs::create_dir_all(dir.path().join("rvs-client")).unwrap();
    assert!(m.remap(&boot));
    // An explicit --vrrp-interface is never second-guessed.
    let x = IfaceMap { explicit: [("client".into(), "tap7".into())].into(), sysfs: Some(dir.path().into()) };
    assert!(!x.remap(&plan(&cfg, &x, Path::new("/f"))));
}

#[test]
fn vrrpv3_file_without_the_authentication_keepalived_ignores() {
    let p = plan_of(
        "global_defs {\n vrrp_version 3\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n advert_int 0.5\n \
         authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n",
    );
    assert!(p.text.contains("    vrrp_version 3\n") && p.text.contains("    advert_int 0.5\n"), "{}", p.text);
    assert!(!p.text.contains("authentication"), "{}", p.text);
    if let Some(e) = keepalived_says(&p.text) {
        assert_eq!(e, Vec::<String>::new(), "{}", p.text);
    }
}
