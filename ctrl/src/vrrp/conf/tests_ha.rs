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
    let t = &p.text;
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
    if let Some(e) = keepalived_says(t) {
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
        assert!(p.text.contains(want), "missing {want:?} in\n{}", p.text);
    }
    assert!(!p.text.contains("auth_pass"), "{}", p.text);
    if let Some(e) = keepalived_says(&p.text) {
        assert_eq!(e, Vec::<String>::new(), "{}", p.text);
    }
}
