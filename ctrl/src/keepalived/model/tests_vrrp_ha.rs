//! The VRRP side of the keepalived.conf files operators of an LVS pair write: what
//! keepalived accepts (checked against keepalived 2.2.7's own `--config-test` and its
//! running configuration dump) is accepted with keepalived's meaning, and what rvs-ctrl
//! cannot honour is refused with its FILE:LINE.

use super::tests::{errors, ok};
use crate::keepalived::Loaded;

/// An instance `name` on eth0 with VRID `vrid` and `body` (from line 4 of the block on).
fn inst(name: &str, vrid: u8, body: &str) -> String {
    format!("vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n{body}}}\n")
}

const V4: &str = " virtual_ipaddress {\n  198.18.0.100/24 dev eth0\n }\n";
const V6: &str = " virtual_ipaddress {\n  2001:db8:1::100/64 dev eth0\n }\n";

#[test]
fn one_vrid_for_the_ipv4_and_the_ipv6_instance_of_a_dual_stack_pair() {
    // The usual dual-stack pair: VI_4 and VI_6 with the same VRID on one interface.
    let l = ok(&format!("{}{}", inst("VI_4", 51, V4), inst("VI_6", 51, V6)));
    let v = &l.config.vrrp.instances;
    assert_eq!((v[0].vrid, v[0].is_ipv6(), v[1].vrid, v[1].is_ipv6()), (51, false, 51, true));
    // Two instances of one family on one interface still clash (keepalived: "both use
    // VRID 51 with IPv4 on interface eth0").
    let e = errors(&format!("{}{}", inst("VI_1", 51, V4), inst("VI_2", 51, V4)));
    assert_eq!(
        e,
        ["k.conf:8: vrrp_instance VI_2: virtual_router_id 51 on eth0 is already vrrp_instance VI_1's (k.conf:1), both IPv4"]
    );
    let e = errors(&format!("{}{}", inst("VI_6", 7, V6), inst("VI_7", 7, V6)));
    assert!(e[0].ends_with("both IPv6"), "{e:?}");
}

#[test]
fn priority_defaults_as_keepalived_sets_them() {
    // keepalived 2.2.7 (its configuration dump): state MASTER without priority is 255,
    // the address owner; without state, or BACKUP, 100; a priority given wins wherever
    // it is written.
    let prio = |body: &str| ok(&inst("VI_1", 51, &format!("{body}{V4}"))).config.vrrp.instances[0].priority;
    assert_eq!(prio(" state MASTER\n"), 255);
    assert_eq!(prio(" state BACKUP\n"), 100);
    assert_eq!(prio(""), 100);
    assert_eq!(prio(" priority 150\n state MASTER\n"), 150);
    assert_eq!(prio(" state MASTER\n priority 101\n"), 101);
    let l = ok(&inst("VI_1", 51, &format!(" state MASTER\n{V4}")));
    assert!(
        l.diags.iter().any(|d| d.to_string()
            == "k.conf:1: vrrp_instance VI_1: state MASTER without 'priority' is priority 255 (keepalived's default)"),
        "{:?}",
        l.diags
    );
}

#[test]
fn track_file_in_instances_and_groups() {
    // The operator's manual failover: `echo 1 > /etc/keepalived/down` lowers the priority.
    let text = format!(
        "track_file down {{\n file /etc/keepalived/down\n weight -20\n}}\nvrrp_track_file maint {{\n file /etc/keepalived/maint\n}}\n\
         vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n track_file {{\n  maint weight 0\n }}\n}}\n{}",
        inst("VI_1", 51, &format!(" track_file {{\n  down weight -30 reverse\n  maint\n }}\n{V4}"))
    );
    let l = ok(&text);
    assert!(l.diags.iter().all(|d| !d.to_string().contains("track_file")), "{:?}", l.diags);
    let i = &l.config.vrrp.instances[0];
    let names: Vec<(&str, Vec<String>)> =
        i.track_files.iter().map(|e| (e.keyword.as_str(), e.args.clone())).collect();
    assert_eq!(names, [("down", vec!["weight".into(), "-30".into(), "reverse".into()]), ("maint", vec![])]);
    assert_eq!(l.config.track_files["maint"].path, std::path::Path::new("/etc/keepalived/maint"));
    // Unknown names, rvs-ctrl's own name and bad weights are refused where they are written.
    let e = errors(&format!(
        "track_file rvs_sync_hold {{\n file /x\n}}\n{}",
        inst(
            "VI_1",
            51,
            &format!(" track_file {{\n  nope\n  rvs_sync_hold\n  rvs_sync_hold weight 300\n  rvs_sync_hold sideways\n }}\n{V4}")
        )
    ));
    assert_eq!(
        e,
        [
            "k.conf:10: track_file rvs_sync_hold: 'weight 300' is not 'weight W [reverse|noreverse]' with W in -254..254",
            "k.conf:11: track_file rvs_sync_hold: 'sideways' is not 'weight W [reverse|noreverse]' with W in -254..254",
            "k.conf:8: track_file nope: no such track_file block",
            "k.conf:9: track_file rvs_sync_hold: the name is rvs-ctrl's own (docs/vrrp.md)",
        ]
    );
}

#[test]
fn process_and_bfd_tracking_are_refused_not_dropped() {
    // They change when the director fails over; the keepalived rvs-ctrl runs cannot watch them.
    let e = errors(&format!(
        "vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n track_bfd {{\n  b1\n }}\n}}\n{}",
        inst("VI_1", 51, &format!(" track_process {{\n  haproxy weight -10\n }}\n{V4}"))
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("k.conf:5: 'track_bfd' is not supported by rvs-ctrl's VRRP: the keepalived it runs cannot track a BFD session"), "{e:?}");
    assert!(e[1].starts_with("k.conf:12: 'track_process' is not supported by rvs-ctrl's VRRP: the keepalived it runs cannot track a process"), "{e:?}");
    assert!(e[1].ends_with("use a vrrp_script (track_script) that checks it"), "{e:?}");
}

#[test]
fn native_ipv6_instances() {
    let l = ok(&inst(
        "VI_6",
        5,
        &format!(" native_ipv6\n{V6} virtual_ipaddress_excluded {{\n  198.18.0.100\n }}\n"),
    ));
    let i = &l.config.vrrp.instances[0];
    assert!(i.is_ipv6());
    assert!(i.passthrough.iter().any(|k| k.keyword == "native_ipv6"));
    // keepalived drops an IPv4 virtual_ipaddress of a native_ipv6 instance, and with no
    // address left, the instance: refused here.
    let e = errors(&inst("VI_6", 5, &format!(" native_ipv6\n{V4}")));
    assert_eq!(
        e,
        ["k.conf:1: vrrp_instance VI_6: native_ipv6 makes it an IPv6 instance, but virtual_ipaddress 198.18.0.100 is IPv4: put it in virtual_ipaddress_excluded"]
    );
}

#[test]
fn strict_mode_has_no_authentication() {
    const AUTH: &str = " authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n";
    let warned = |l: &Loaded| -> Vec<String> {
        l.diags.iter().map(ToString::to_string).filter(|d| d.contains("'authentication' ignored")).collect()
    };
    // keepalived 2.2.7 with vrrp_strict: "Strict mode does not support authentication. Ignoring."
    let l = ok(&format!("global_defs {{\n vrrp_strict\n}}\n{}", inst("VI_1", 51, &format!("{AUTH}{V4}"))));
    assert_eq!(l.config.vrrp.instances[0].auth, None);
    assert_eq!(
        warned(&l),
        ["k.conf:7: vrrp_instance VI_1: 'authentication' ignored: vrrp_strict allows none (keepalived ignores it too); a peer without vrrp_strict must not have it either"]
    );
    // strict_mode per instance wins over the global setting, either way.
    let l = ok(&format!(
        "global_defs {{\n vrrp_strict\n}}\n{}",
        inst("VI_1", 51, &format!(" strict_mode off\n{AUTH}{V4}"))
    ));
    assert!(l.config.vrrp.instances[0].auth.is_some() && warned(&l).is_empty(), "{:?}", l.diags);
    let l = ok(&inst("VI_1", 51, &format!(" strict_mode\n{AUTH}{V4}")));
    assert_eq!(l.config.vrrp.instances[0].auth, None);
    assert!(warned(&l)[0].contains("strict_mode allows none"), "{:?}", l.diags);
    // Without strict mode, the password is kept.
    assert!(ok(&inst("VI_1", 51, &format!("{AUTH}{V4}"))).config.vrrp.instances[0].auth.is_some());
}

#[test]
fn notify_scripts_run_as_keepalived_runs_them() {
    let who = |n: &Option<crate::keepalived::NotifyScript>| {
        let s = n.as_ref().unwrap();
        (s.script.argv.clone(), s.run_as.as_ref().map(|r| (r.name.clone(), r.uid, r.gid)))
    };
    let body = format!(
        " notify_master \"/etc/keepalived/notify.sh master\" root\n notify_backup \"/etc/keepalived/notify.sh backup\"\n \
         notify \"/usr/bin/logger -t vrrp\" root 0\n{V4}"
    );
    // script_user is the default of every notify script without its own user.
    let l = ok(&format!("global_defs {{\n script_user nobody\n}}\n{}", inst("VI_1", 51, &body)));
    let n = &l.config.vrrp.instances[0].notify;
    let argv = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(who(&n.master), (argv(&["/etc/keepalived/notify.sh", "master"]), Some(("root".into(), 0, 0))));
    let (_, nobody) = who(&n.backup);
    let nobody = nobody.unwrap();
    assert_eq!((nobody.0.as_str(), nobody.1), ("nobody", 65534));
    assert_eq!(who(&n.any), (argv(&["/usr/bin/logger", "-t", "vrrp"]), Some(("root:0".into(), 0, 0))));
    // A command with arguments left unquoted: keepalived takes "master" for a user and
    // ignores the script. Refused, with the way out.
    let e = errors(&inst("VI_1", 51, &format!(" notify_master /etc/keepalived/notify.sh master\n{V4}")));
    assert_eq!(
        e,
        ["k.conf:4: 'notify_master': no user \"master\" on this host, to run \"/etc/keepalived/notify.sh\" as (keepalived would ignore the script; quote the command if \"master\" is its argument)"]
    );
    let e = errors(&inst("VI_1", 51, &format!(" notify_fault /x.sh a b c\n{V4}")));
    assert_eq!(
        e,
        ["k.conf:4: 'notify_fault': words after the user and group: quote the command with its arguments"]
    );
    let e = errors(&format!("global_defs {{\n script_user no-such-user-rvs\n}}\n{}", inst("VI_1", 51, V4)));
    assert_eq!(e, ["k.conf:2: script_user: no user \"no-such-user-rvs\" on this host"]);
}

#[test]
fn one_virtual_address_a_line() {
    // keepalived: "Unknown configuration entry '198.18.0.101' for ip address - ignoring".
    let l = ok(&inst(
        "VI_1",
        51,
        " virtual_ipaddress {\n  198.18.0.100 198.18.0.101/24\n  198.18.0.102/24 brd 198.18.0.255 dev eth0 scope global label eth0:1 peer 198.18.0.9\n }\n",
    ));
    let vips: Vec<String> = l.config.vrrp.instances[0].vips.iter().map(ToString::to_string).collect();
    assert_eq!(vips, ["198.18.0.100", "198.18.0.102"]);
    let warned: Vec<String> = l
        .diags
        .iter()
        .filter(|d| d.severity == crate::keepalived::Severity::Warning)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warned,
        ["k.conf:5: virtual_ipaddress: 198.18.0.101/24 is on 198.18.0.100's line: keepalived takes one address a line and ignores it (not advertised, not owned by rvsd); put it on a line of its own"]
    );
}

#[test]
fn vrrp_version_3_has_no_authentication() {
    const AUTH: &str = " authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n";
    let warned = |l: &Loaded| -> Vec<String> {
        l.diags.iter().map(ToString::to_string).filter(|d| d.contains("'authentication' ignored")).collect()
    };
    // keepalived 2.2.7: "VRRP version 3 does not support authentication. Ignoring."
    let l = ok(&format!("global_defs {{\n vrrp_version 3\n}}\n{}", inst("VI_1", 51, &format!("{AUTH}{V4}"))));
    assert_eq!(l.config.vrrp.instances[0].auth, None);
    assert_eq!(
        warned(&l),
        ["k.conf:7: vrrp_instance VI_1: 'authentication' ignored: vrrp_version 3: VRRPv3 has none (keepalived ignores it too)"]
    );
    let l = ok(&inst("VI_1", 51, &format!(" version 3\n{AUTH}{V4}")));
    assert_eq!(l.config.vrrp.instances[0].auth, None);
    // The instance's version wins over the global one.
    let l = ok(&format!(
        "global_defs {{\n vrrp_version 3\n}}\n{}",
        inst("VI_1", 51, &format!(" version 2\n{AUTH}{V4}"))
    ));
    assert!(l.config.vrrp.instances[0].auth.is_some() && warned(&l).is_empty(), "{:?}", l.diags);
}

#[test]
fn sync_group_tracking_names_what_exists() {
    let group = |tracked: &str| {
        format!(
            "vrrp_script chk {{\n script /bin/true\n}}\nvrrp_sync_group G {{\n group {{\n  VI_1\n }}\n track_script {{\n  {tracked}\n }}\n}}\n{}",
            inst("VI_1", 51, V4)
        )
    };
    ok(&group("chk weight -10"));
    // keepalived ignores a script it does not find, and the group would not move with it.
    assert_eq!(errors(&group("nope")), ["k.conf:9: track_script nope: no such vrrp_script"]);
}

#[test]
fn a_vip_no_instance_moves_is_said() {
    // With VRRP on, a virtual_server whose VIP is in no instance is owned as rvsd's [ha]
    // says, whichever director is MASTER: said at its line (info). Without VRRP, nothing.
    let vs = "virtual_server 198.18.0.77 80 {\n lb_kind DR\n real_server 198.18.2.1 80 { }\n}\n";
    let l = ok(&format!("{}{vs}", inst("VI_1", 51, V4)));
    let w: Vec<String> =
        l.diags.iter().map(ToString::to_string).filter(|d| d.contains("198.18.0.77")).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("198.18.0.77 is in no vrrp_instance's virtual_ipaddress"), "{w:?}");
    let l = ok(vs);
    assert!(l.diags.iter().all(|d| !d.msg.contains("vrrp_instance")), "{:?}", l.diags);
}

#[test]
fn a_sync_group_without_its_group_block_is_dropped_as_keepalived_drops_it() {
    // keepalived's doc/samples/keepalived.conf.vrrp.lvs_syncd writes the instance names
    // straight in the block. keepalived 2.2.7: "Unknown keyword 'VI_2'", then "Sync group
    // VG1 has no members - removing", and it runs. It was an error here.
    let text =
        format!("vrrp_sync_group VG1 {{\n VI_2\n VI_3\n}}\n{}{}", inst("VI_2", 52, V4), inst("VI_3", 53, V6));
    let l = ok(&text);
    assert!(l.config.vrrp.groups.is_empty());
    let w: Vec<String> = l.diags.iter().map(ToString::to_string).collect();
    assert!(w.contains(&"k.conf:2: unknown keyword 'VI_2' in vrrp_sync_group, ignored (instance names go in group { VI_2 ... })".to_string()), "{w:?}");
    assert!(
        w.contains(
            &"k.conf:1: vrrp_sync_group VG1 has no group { INSTANCE ... }: ignored, as keepalived does"
                .to_string()
        ),
        "{w:?}"
    );
    // A misspelt keyword keeps its suggestion.
    let l = ok(&format!(
        "vrrp_sync_group VG1 {{\n group {{\n  VI_2\n }}\n smtp_alrt\n}}\n{}",
        inst("VI_2", 52, V4)
    ));
    assert!(l.diags.iter().any(|d| d.msg.contains("did you mean 'smtp_alert'")), "{:?}", l.diags);
}

#[test]
fn a_second_notify_master_is_ignored_as_keepalived_ignores_it() {
    // Seen in the wild: notify_master written three times for master, backup and fault.
    // keepalived 2.2.7 keeps the first ("(VI_1) notify_master script already specified -
    // ignoring ..."); the last one was taken here, so becoming master ran the fault script.
    let body = format!(
        " notify_master \"/etc/keepalived/mail_notify.sh master\"\n notify_master \"/etc/keepalived/mail_notify.sh backup\"\n{V4}"
    );
    let l = ok(&inst("VI_1", 51, &body));
    let m = l.config.vrrp.instances[0].notify.master.as_ref().unwrap();
    assert_eq!(m.script.argv, ["/etc/keepalived/mail_notify.sh", "master"]);
    let w: Vec<String> = l.diags.iter().map(ToString::to_string).collect();
    assert!(
        w.contains(
            &"k.conf:5: 'notify_master' already given at k.conf:4: ignored, as keepalived keeps the first"
                .to_string()
        ),
        "{w:?}"
    );
}
