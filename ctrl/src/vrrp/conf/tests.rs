use super::*;
use crate::keepalived::{load_str, Severity};

/// A DR-style seed: the VRRP blocks LVS operators write, with a FULLNAT service.
pub(crate) const SEED: &str = r#"global_defs {
    router_id LB1
    vrrp_garp_master_delay 1
    enable_script_security
}
vrrp_script chk_rvsd {
    script "/usr/sbin/rvsadm -Ln"
    interval 1
    fall 2
}
vrrp_sync_group VG1 {
    group {
        VI_1
    }
    notify_master "/etc/keepalived/to-master.sh group"
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    lvs_sync_daemon_interface eth1
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        198.18.0.100/24 dev eth0 label eth0:1
    }
    track_script {
        chk_rvsd
    }
    garp_master_refresh 10
    notify_master "/etc/keepalived/notify.sh master"
    notify_backup /etc/keepalived/notify.sh
    notify "/bin/logger -t vrrp"
}
local_address_group lg { 198.19.0.200-201 }
virtual_server 198.18.0.100 80 {
    lb_algo rr
    lb_kind FNAT
    laddr_group_name lg
    real_server 198.19.0.11 80 { }
}
virtual_server 198.18.0.101 80 {
    lb_algo rr
    lb_kind FNAT
    laddr_group_name other
    real_server 198.19.0.11 80 { }
}
local_address_group other { 198.19.0.210 }
"#;

fn map() -> IfaceMap {
    IfaceMap {
        explicit: [("eth0".to_string(), "rvs-client".to_string())].into(),
        sysfs: Some("/nonexistent".into()),
    }
}

#[test]
fn seed_plan_moves_vips_and_their_lips() {
    let l = load_str("k.conf", SEED).unwrap_or_else(|e| panic!("{:?}", e.lines()));
    assert!(l.diags.iter().all(|d| d.severity != Severity::Warning), "{:?}", l.diags);
    let p = plan(&l.config, &map(), Path::new("/run/rvs/vrrp.fifo"));
    assert_eq!(p.instances.len(), 1);
    let i = &p.instances[0];
    assert_eq!((i.name.as_str(), i.vrid, i.priority, i.kernel_if.as_str()), ("VI_1", 51, 100, "rvs-client"));
    assert_eq!(i.vips, ["198.18.0.100".parse::<IpAddr>().unwrap()]);
    // 198.18.0.101's LIPs do not move with VI_1.
    let lips: Vec<String> = i.lips.iter().map(ToString::to_string).collect();
    assert_eq!(lips, ["198.19.0.200", "198.19.0.201"]);
    assert_eq!(i.group.as_deref(), Some("VG1"));
    assert_eq!(p.managed().len(), 3);
    assert!(p.desired(|_| false).is_empty());
    assert_eq!(p.desired(|n| n == "VI_1"), p.managed());
    assert_eq!(p.owner_of("198.19.0.201".parse().unwrap()).map(|i| i.name.as_str()), Some("VI_1"));
    assert!(p.owner_of("198.19.0.210".parse().unwrap()).is_none());
    let sd = l.config.vrrp.sync_daemon.as_ref().unwrap();
    assert_eq!((sd.interface.as_str(), sd.instance.as_str(), sd.port), ("eth1", "VI_1", 8848));
}

#[test]
fn generated_config_is_vrrp_only_on_the_tap() {
    let l = load_str("k.conf", SEED).unwrap();
    let t = lines_of_blocks(&plan(&l.config, &map(), Path::new("/run/rvs/vrrp.fifo")).text);
    for want in [
        "    router_id LB1\n",
        "    vrrp_garp_master_delay 1\n",
        "    enable_script_security\n",
        "    dynamic_interfaces\n",
        "    nftables rvs_keepalived\n",
        "    notify_fifo /run/rvs/vrrp.fifo\n",
        "# k.conf:6\nvrrp_script chk_rvsd {\n    script \"/usr/sbin/rvsadm -Ln\"\n",
        "# k.conf:17\nvrrp_instance VI_1 {\n    state MASTER\n    interface rvs-client\n    virtual_router_id 51\n    priority 100\n",
        "    advert_int 1\n",
        "    garp_master_refresh 10\n",
        "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n",
        "    virtual_ipaddress {\n        198.18.0.100/32 dev rvs-client\n    }\n    no_accept\n",
        "    track_script {\n        chk_rvsd\n    }\n",
        "vrrp_sync_group VG1 {\n    group {\n        VI_1\n    }\n}\n",
        "track_file rvs_sync_hold {\n    file /run/rvs/vrrp.hold\n}\n",
        // VI_1 is in a sync group: keepalived allows it weight 0 only (FAULT while held).
        "    track_file {\n        rvs_sync_hold weight 0\n    }\n",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    for absent in ["notify", "virtual_server", "eth0", "label", "lvs_sync_daemon", "real_server"] {
        assert!(
            !t.contains(&format!("{absent} ")) && !t.contains(&format!(" {absent}\n")),
            "{absent} in\n{t}"
        );
    }
    assert_eq!(
        origin_of(&t, t.lines().position(|l| l.contains("auth_pass")).unwrap() + 1),
        Some("k.conf:17")
    );
    assert_eq!(origin_of(&t, 3), None);
    // A line of global_defs names its own (keepalived checks some of them: a message about
    // `vrrp_garp_master_delay` is the operator's line, not the generated file's).
    let garp = t.lines().position(|l| l.contains("vrrp_garp_master_delay")).unwrap() + 1;
    let at = origin_of(&t, garp).unwrap();
    let line: usize = at.strip_prefix("k.conf:").unwrap().parse().unwrap();
    assert!(SEED.lines().nth(line - 1).unwrap().contains("vrrp_garp_master_delay"), "{at}");
}

#[test]
fn no_instances_no_keepalived() {
    let l = load_str("k.conf", "vrrp_script s { script /bin/true }\n").unwrap();
    let p = plan(&l.config, &map(), Path::new("/f"));
    assert!(p.text.is_empty() && p.instances.is_empty());
}

#[test]
fn interface_mapping_order() {
    let dir = crate::testutil::TempDir::new("ifmap");
    std::fs::create_dir_all(dir.path().join("rvs-client")).unwrap();
    let m = IfaceMap { explicit: [("eth0".into(), "tap9".into())].into(), sysfs: Some(dir.path().into()) };
    assert_eq!(m.map("eth0"), "tap9");
    assert_eq!(m.map("client"), "rvs-client");
    assert_eq!(m.map("rvs-ks"), "rvs-ks");
    assert_eq!(m.map("a-very-long-port-name"), "a-very-long-port-name");
}

#[test]
fn words_are_quoted_as_keepalived_reads_them() {
    assert_eq!(word("plain"), "plain");
    assert_eq!(word("/bin/x -a"), "\"/bin/x -a\"");
    assert_eq!(word("a\"b"), "\"a\\\"b\"");
    assert_eq!(word(""), "\"\"");
}

#[test]
fn lvs_sync_daemon_against_rvsd_sync() {
    let l = load_str("k.conf", SEED).unwrap();
    let d = l.config.vrrp.sync_daemon.as_ref().unwrap();
    let mut s = rvs_proto::SyncInfo {
        enabled: true,
        destinations: vec!["224.0.0.81:8848".into()],
        ..Default::default()
    };
    assert!(sync_mismatch(d, &s).is_empty());
    s.sync_id = 7;
    s.destinations = vec!["224.0.0.82:8848".into()];
    let m = sync_mismatch(d, &s);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[0].contains("sync_id is 7, lvs_sync_daemon says id 0"), "{m:?}");
    s.destinations = vec!["198.18.0.4:8848".into()];
    assert_eq!(sync_mismatch(d, &s).len(), 1, "unicast peers: the group does not apply");
    s.enabled = false;
    assert!(sync_mismatch(d, &s)[0].contains("no [sync]"));
}

/// Two instances with IPv6: VI_4 is IPv4 with IPv6 VIPs in `virtual_ipaddress_excluded`,
/// VI_6 is IPv6 (VRRPv3 over IPv6); each fronts an IPv6 FULLNAT service.
const DUAL: &str = r#"vrrp_instance VI_4 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        198.18.0.100/24 dev eth0
    }
    virtual_ipaddress_excluded {
        2001:db8:1::100/64 dev eth0
    }
}
vrrp_instance VI_6 {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority 90
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        2001:db8:1::200/64
    }
}
virtual_server 2001:db8:1::100 80 {
    lb_algo rr
    lb_kind FNAT
    laddr_group_name g6
    real_server 2001:db8:2::11 80 { }
}
virtual_server 2001:db8:1::200 80 {
    lb_algo rr
    lb_kind FNAT
    laddr_group_name g7
    real_server 2001:db8:2::11 80 { }
}
local_address_group g6 { 2001:db8:2::200 }
local_address_group g7 { 2001:db8:2::201 }
"#;

fn dual_plan() -> Plan {
    let l = load_str("k.conf", DUAL).unwrap_or_else(|e| panic!("{:?}", e.lines()));
    plan(&l.config, &map(), Path::new("/run/rvs/vrrp.fifo"))
}

#[test]
fn ipv6_vips_move_with_their_instance() {
    let p = dual_plan();
    let strs = |v: &[IpAddr]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    let (v4, v6) = (&p.instances[0], &p.instances[1]);
    assert_eq!(strs(&v4.vips), ["198.18.0.100", "2001:db8:1::100"]);
    assert_eq!(strs(&v4.lips), ["2001:db8:2::200"]);
    assert_eq!(strs(&v6.vips), ["2001:db8:1::200"]);
    assert_eq!(strs(&v6.lips), ["2001:db8:2::201"]);
    let d: Vec<String> = p.desired(|n| n == "VI_4").iter().map(ToString::to_string).collect();
    assert_eq!(d, ["198.18.0.100", "2001:db8:1::100", "2001:db8:2::200"]);
    assert_eq!(p.managed().len(), 5);
    assert_eq!(p.owner_of("2001:db8:1::100".parse().unwrap()).map(|i| i.name.as_str()), Some("VI_4"));
    assert_eq!(p.owner_of("2001:db8:2::201".parse().unwrap()).map(|i| i.name.as_str()), Some("VI_6"));
    let t = &p.text;
    for want in [
        "    virtual_ipaddress {\n        198.18.0.100/32 dev rvs-client\n    }\n    no_accept\n",
        "    virtual_ipaddress {\n        2001:db8:1::200/128 dev rvs-client\n    }\n    no_accept\n",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    // Excluded addresses are rvsd's alone; VRRPv3 has no authentication.
    assert!(!t.contains("2001:db8:1::100") && !t.contains("excluded"), "{t}");
    assert_eq!(t.matches("auth_pass").count(), 1, "{t}");
}

/// keepalived itself (Debian's 2.x, as scripts/setup.sh installs it) accepts the generated
/// file: `dynamic_interfaces` lets it name a tap that does not exist here.
#[test]
fn keepalived_config_test_accepts_ipv6() {
    let bin = Path::new("/usr/sbin/keepalived");
    if !bin.exists() {
        eprintln!("keepalived not installed: skipped (scripts/setup.sh installs it)");
        return;
    }
    let dir = crate::testutil::TempDir::new("ka6");
    let conf = dir.path().join("keepalived.conf");
    let check = |text: &str| {
        crate::vrrp::keepalived::write_conf(&conf, text).unwrap();
        crate::vrrp::keepalived::config_test(bin, &conf, text).unwrap()
    };
    let p = dual_plan();
    assert_eq!(check(&p.text), Vec::<String>::new(), "{}", p.text);
    // What keepalived refuses, named by the operator's line: a mixed virtual_ipaddress
    // (which rvs-ctrl's own check refuses first) and authentication on VRRPv3.
    let mixed = p.text.replacen(
        "198.18.0.100/32 dev rvs-client\n",
        "198.18.0.100/32 dev rvs-client\n        2001:db8:1::9/128\n",
        1,
    );
    let e = check(&mixed);
    assert!(
        e.iter().any(|l| l.starts_with("k.conf:1: keepalived:") && l.contains("address family must match")),
        "{e:?}"
    );
    let auth = p.text.replacen("    virtual_router_id 52\n", "    virtual_router_id 52\n    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n", 1);
    assert!(!check(&auth).is_empty(), "keepalived took authentication on an IPv6 instance");
    // A complaint about a global_defs line: named by its own origin, without the
    // generated file's "(Line N)".
    let garp =
        p.text.replacen("global_defs {\n", "global_defs {\n# k.conf:99\n    vrrp_garp_interval 0\n", 1);
    let e = check(&garp);
    assert!(e.iter().any(|l| l.starts_with("k.conf:99: keepalived: vrrp_garp_interval")), "{e:?}");
    assert!(e.iter().all(|l| !l.contains("(Line ")), "{e:?}");
}

/// The generated text without the origin comments inside blocks (`render_traced`), so that
/// a block reads as keepalived reads it.
pub(super) fn lines_of_blocks(t: &str) -> String {
    t.lines()
        .filter(|l| !(l.starts_with(' ') && l.trim_start().starts_with("# ")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Each of an instance's own lines names its line of the operator's file, so that what
/// keepalived says of one is told at that line.
#[test]
fn an_instance_line_keepalived_complains_of_is_named() {
    let l = crate::keepalived::load_str(
        "k.conf",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n garp_master_refresh 10\n virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n",
    )
    .unwrap();
    let t = plan(&l.config, &map(), Path::new("/f")).text;
    let n = t.lines().position(|l| l.contains("garp_master_refresh")).unwrap() + 1;
    assert_eq!(origin_of(&t, n), Some("k.conf:5"), "{t}");
    // The lines rvs-ctrl adds to the instance are the instance's.
    let n = t.lines().position(|l| l.contains("no_accept")).unwrap() + 1;
    assert_eq!(origin_of(&t, n), Some("k.conf:1"), "{t}");
}
