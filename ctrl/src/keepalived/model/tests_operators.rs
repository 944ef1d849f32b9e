//! Constructs from operators' keepalived.conf files (LVS/DR and NAT pairs, DPVS), as
//! keepalived 2.2 reads them.

use super::tests::{errors, ok, warnings};

fn nat(body: &str) -> String {
    format!("virtual_server 198.18.0.10 80 {{\n lb_kind NAT\n lb_algo wrr\n{body}\n}}\n")
}

#[test]
fn virtual_server_weight_is_the_real_servers_default() {
    // keepalived 2: `weight` in a virtual_server is the weight of each real server that
    // sets none. It was an unknown keyword (ignored), so those servers had weight 1.
    let l = ok(&nat(
        " weight 5\n real_server 198.18.2.1 80 { }\n real_server 198.18.2.2 80 { weight 2 }\n quorum 7",
    ));
    let vs = &l.config.virtual_servers[0];
    let w: Vec<u32> = vs.reals.iter().map(|r| r.weight).collect();
    assert_eq!(w, [5, 2]);
    assert_eq!(vs.quorum, 7, "quorum counts the inherited weight");
    assert!(l.diags.iter().all(|d| !d.msg.contains("weight")), "{:?}", l.diags);
    let e = errors(&nat(" weight 0\n real_server 198.18.2.1 80 { }"));
    assert!(e[0].starts_with("k.conf:4: 'weight' of a virtual_server"), "{e:?}");
}

#[test]
fn virtual_server_group_ranges_as_keepalived_2_writes_them() {
    // `A-B` with a whole end address and `PREFIX/LEN` were "bad range end" and "bad IP
    // address" errors; keepalived 2 takes both.
    let l = ok("virtual_server_group G {\n 198.18.0.254-198.18.1.1 80\n 198.18.4.0/30 80\n}\nvirtual_server_group G6 {\n 2001:db8::ff-2001:db8::101 80\n}\nvirtual_server group G {\n lb_kind NAT\n lb_algo rr\n real_server 198.18.2.1 80 { }\n}\n");
    let g: Vec<String> = l.config.vs_groups["G"].addrs.iter().map(|a| a.ip().to_string()).collect();
    assert_eq!(
        g,
        [
            "198.18.0.254",
            "198.18.0.255",
            "198.18.1.0",
            "198.18.1.1",
            "198.18.4.0",
            "198.18.4.1",
            "198.18.4.2",
            "198.18.4.3"
        ]
    );
    let g6: Vec<String> = l.config.vs_groups["G6"].addrs.iter().map(|a| a.ip().to_string()).collect();
    assert_eq!(g6, ["2001:db8::ff", "2001:db8::100", "2001:db8::101"]);
    for (bad, want) in [
        ("198.18.4.1/30", "host bits"),
        ("198.16.0.0/12", "more than 65536"),
        ("198.18.1.5-198.18.1.1", "ends before"),
        ("198.18.1.5-2001:db8::1", "bad range end"),
        ("198.18.1.5/33", "prefix length"),
    ] {
        let e = errors(&format!("virtual_server_group G {{\n {bad} 80\n}}\n"));
        assert!(e[0].starts_with("k.conf:2: ") && e[0].contains(want), "{bad}: {e:?}");
    }
}

#[test]
fn keepalived_keywords_are_not_called_unknown() {
    // Each was "unknown keyword ... ignored" although keepalived 2.2 reads it.
    let l = ok(&format!(
        "global_defs {{\n lvs_flush_on_stop\n startup_script /bin/true\n nftables\n v3_checksum_as_v2\n}}\nSSL {{\n ca /etc/ssl/ca.pem\n}}\n{}",
        nat(" ip_family inet\n snmp_name web\n real_server 198.18.2.1 80 {\n  snmp_name rs1\n  HTTP_GET {\n   url { path / regex_min_offset 2 }\n   sni_name www.example.com\n   tls_compliant\n  }\n  SMTP_CHECK {\n   helo_name lb\n  }\n }")
    ));
    let unknown: Vec<String> =
        l.diags.iter().filter(|d| d.msg.contains("unknown keyword")).map(ToString::to_string).collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    let globals: Vec<&str> = l.config.vrrp.globals.iter().map(|g| g.keyword.as_str()).collect();
    assert_eq!(globals, ["v3_checksum_as_v2"], "VRRP's checksum interop reaches keepalived");
    assert!(l.diags.iter().any(|d| d.loc.as_ref().is_some_and(|x| x.line == 7) && d.msg.contains("'SSL'")));
}

#[test]
fn no_lb_kind_says_which_default_differs() {
    // An LVS operator's virtual server without lb_kind runs NAT under keepalived; here the
    // default is FULLNAT, and the error said only that local addresses were missing.
    let e = errors("virtual_server 198.18.0.10 80 {\n lb_algo rr\n real_server 198.18.2.1 80 { }\n}\n");
    assert!(e[0].starts_with("k.conf:1: FULLNAT needs local addresses"), "{e:?}");
    assert!(e[0].contains("keepalived's is NAT; write lb_kind NAT, DR or TUN"), "{e:?}");
    let e = errors("virtual_server 198.18.0.10 80 {\n lb_kind FNAT\n real_server 198.18.2.1 80 { }\n}\n");
    assert!(!e[0].contains("keepalived's is NAT"), "{e:?}");
}

#[test]
fn a_local_address_that_is_also_a_virtual_address_is_refused_at_its_line() {
    // rvsd takes replies to a LIP for new connections when it is a VIP too: refused where
    // the group lists it, naming the virtual_server, as rvsd's registry would refuse it.
    let text = "local_address_group g {\n 198.19.0.200\n 198.18.0.100\n}\n\
                virtual_server 198.18.0.100 80 {\n laddr_group_name g\n real_server 198.19.0.11 80\n}\n";
    assert_eq!(
        errors(text),
        ["k.conf:3: local_address_group g: 198.18.0.100 is also the address of the virtual_server at k.conf:5: an address is a VIP or a LIP, not both"]
    );
    // A group no virtual_server uses is nobody's LIP; another VIP on the same group's
    // addresses is refused too.
    ok("local_address_group g { 198.19.0.200 }\nlocal_address_group spare { 198.18.0.100 }\n\
        virtual_server 198.18.0.100 80 {\n laddr_group_name g\n real_server 198.19.0.11 80\n}\n");
    let e = errors(
        "local_address_group g { 198.19.0.200 }\nvirtual_server 198.18.0.100 80 {\n laddr_group_name g\n real_server 198.19.0.11 80\n}\n\
         virtual_server 198.19.0.200 443 {\n laddr_group_name g\n real_server 198.19.0.11 443\n}\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("k.conf:1: local_address_group g: 198.19.0.200 is also the address of the virtual_server at k.conf:6"), "{e:?}");
}

#[test]
fn a_port_zero_virtual_server_is_lvs_catch_all() {
    // `virtual_server IP 0` with persistence: every port of the VIP, one client's
    // connections on one real server; real servers of port 0 keep the client's port.
    // It was "port 0 (all ports) is not supported".
    let l = ok("virtual_server 198.18.0.10 0 {\n lb_kind DR\n lb_algo wlc\n persistence_timeout 600\n \
                real_server 198.18.2.1 0 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n");
    let vs = &l.config.virtual_servers[0];
    assert_eq!((vs.key.addr.port(), vs.reals[0].addr.port()), (0, 0));
    // Without persistence keepalived 2 warns "zero port only valid for persistent services -
    // setting" and gives it IPVS's 6 minutes. It was ipvsadm's "Zero port specified for
    // non-persistent service" error.
    let l = ok("virtual_server 198.18.0.10 0 {\n lb_kind DR\n real_server 198.18.2.1 0 {\n }\n}\n");
    assert_eq!(l.config.virtual_servers[0].persistence_timeout, Some(360));
    let w: Vec<String> = l.diags.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|m| m.starts_with("k.conf:1: port 0 (every port) is only valid for a persistent service")),
        "{w:?}"
    );
    // A checker of a port-0 real server has nothing to connect to without connect_port.
    let e = errors(
        "virtual_server 198.18.0.10 0 {\n lb_kind DR\n persistence_timeout 60\n real_server 198.18.2.1 0 {\n  HTTP_GET {\n   url { path / }\n  }\n }\n}\n",
    );
    assert_eq!(e, ["k.conf:5: HTTP_GET of real_server 198.18.2.1 port 0 needs connect_port"]);
    assert!(errors(&nat(" real_server 198.18.2.1 80 {\n TCP_CHECK { connect_port 0 }\n }"))[0]
        .contains("connect_port: port 0 is not a port to connect to"));
}

#[test]
fn misc_timeout_defaults_to_the_virtual_servers_delay_loop() {
    use crate::keepalived::CheckKind;
    use std::time::Duration;
    // keepalived gives a MISC_CHECK without misc_timeout (or misc_timeout 0) the virtual
    // server's delay_loop; `misc_timeout 0` was a timeout at once.
    let l = ok(&nat(" delay_loop 30\n real_server 198.18.2.1 80 {\n MISC_CHECK {\n misc_path /bin/true\n delay_loop 3\n }\n MISC_CHECK {\n misc_path /bin/true\n misc_timeout 0\n }\n MISC_CHECK {\n misc_path /bin/true\n misc_timeout 4\n }\n }"));
    let t: Vec<Option<Duration>> = l.config.virtual_servers[0].reals[0]
        .checkers
        .iter()
        .map(|c| match &c.kind {
            CheckKind::Misc { timeout, .. } => *timeout,
            k => panic!("{k:?}"),
        })
        .collect();
    let s = |n| Some(Duration::from_secs(n));
    assert_eq!(t, [s(30), s(30), s(4)]);
}

#[test]
fn enable_sni_and_sni_name_as_keepalived_reads_them() {
    use crate::keepalived::{CheckKind, Sni};
    let ssl = |opts: &str| {
        let l = ok(&nat(&format!(
            " real_server 198.18.2.1 443 {{\n SSL_GET {{\n url {{\n path /\n }}\n virtualhost www.example.com\n{opts}\n }}\n }}"
        )));
        let CheckKind::Http { sni, .. } = &l.config.virtual_servers[0].reals[0].checkers[0].kind else {
            panic!()
        };
        assert!(l.diags.iter().all(|d| !d.msg.contains("sni")), "{:?}", l.diags);
        sni.clone()
    };
    assert_eq!(ssl(""), Sni::Off, "keepalived sends no SNI by default");
    assert_eq!(ssl(" enable_sni"), Sni::Virtualhost);
    assert_eq!(ssl(" sni_name api.example.com"), Sni::Name("api.example.com".into()));
    assert_eq!(ssl(" sni_name api.example.com\n enable_sni on"), Sni::Name("api.example.com".into()));
    assert_eq!(ssl(" sni_name api.example.com\n enable_sni off"), Sni::Off);
}

#[test]
fn bindto_bind_port_and_their_family() {
    let chk = |rs: &str, opts: &str| {
        let l = ok(&format!(
            "local_address_group g {{ 198.18.9.1 }}\nvirtual_server 2001:db8::10 80 {{\n laddr_group_name g\n real_server {rs} 80 {{\n TCP_CHECK {{\n{opts}\n }}\n }}\n}}\n"
        ));
        let warns: Vec<String> = l.diags.iter().map(|d| d.msg.clone()).collect();
        (l.config.virtual_servers[0].reals[0].checkers[0].bindto, warns)
    };
    let (b, w) = chk("2001:db8::1", " bindto 2001:db8::99\n bind_port 4000");
    assert_eq!(b, Some("[2001:db8::99]:4000".parse().unwrap()), "{w:?}");
    // keepalived binds only with a bindto: bind_port alone does nothing.
    assert_eq!(chk("2001:db8::1", " bind_port 4000").0, None);
    // An IPv4 bindto for an IPv6 server would fail every check: warned and dropped.
    let (b, w) = chk("2001:db8::1", " bindto 198.18.0.1");
    assert_eq!(b, None);
    assert!(w.iter().any(|m| m.contains("bindto 198.18.0.1 is not of the family")), "{w:?}");
    // connect_ip decides the family.
    assert_eq!(
        chk("2001:db8::1", " connect_ip 198.18.0.7\n bindto 198.18.0.1").0,
        Some("198.18.0.1:0".parse().unwrap())
    );
}

#[test]
fn misc_check_user_and_group() {
    use crate::keepalived::CheckKind;
    let user = |line: &str| {
        let l = ok(&nat(&format!(
            " real_server 198.18.2.1 80 {{\n MISC_CHECK {{\n misc_path /bin/true\n {line}\n }}\n }}"
        )));
        let CheckKind::Misc { user, .. } = &l.config.virtual_servers[0].reals[0].checkers[0].kind else {
            panic!()
        };
        assert!(l.diags.iter().all(|d| !d.msg.contains("user")), "{:?}", l.diags);
        *user
    };
    assert_eq!(user(""), None);
    assert_eq!(user("user root"), Some((0, 0)));
    assert_eq!(user("user nobody root"), Some((65534, 0)));
    assert_eq!(user("user 1234"), Some((1234, 1234)));
    let e = errors(&nat(
        " real_server 198.18.2.1 80 {\n MISC_CHECK {\n misc_path /bin/true\n user no-such-user-here\n }\n }",
    ));
    assert!(e[0].contains("MISC_CHECK user: no user \"no-such-user-here\""), "{e:?}");
    // global_defs' script_user is the default of a MISC_CHECK without its own, as of a
    // notify script (keepalived's rule); the checker's own user wins.
    let with_default = |line: &str| {
        let l = ok(&format!(
            "global_defs {{\n script_user nobody\n}}\n{}",
            nat(&format!(
                " real_server 198.18.2.1 80 {{\n MISC_CHECK {{\n misc_path /bin/true\n {line}\n }}\n }}"
            ))
        ));
        let CheckKind::Misc { user, .. } = &l.config.virtual_servers[0].reals[0].checkers[0].kind else {
            panic!()
        };
        *user
    };
    assert_eq!(with_default("").map(|(uid, _)| uid), Some(65534));
    assert_eq!(with_default("user root"), Some((0, 0)));
}

#[test]
fn bind_if_and_fwmark_are_taken() {
    let l = ok(&nat(" real_server 198.18.2.1 80 {\n TCP_CHECK {\n bind_if eth1\n fwmark 16\n }\n }"));
    let c = &l.config.virtual_servers[0].reals[0].checkers[0];
    assert_eq!((c.bind_if.as_deref(), c.fwmark), (Some("eth1"), Some(16)));
    assert!(l.diags.iter().all(|d| !d.msg.contains("bind_if") && !d.msg.contains("fwmark")), "{:?}", l.diags);
    let e = errors(&nat(
        " real_server 198.18.2.1 80 {\n TCP_CHECK {\n bind_if a-very-long-interface-name\n }\n }",
    ));
    assert!(e[0].contains("is not an interface name"), "{e:?}");
}

#[test]
fn http_protocol_is_taken() {
    use crate::keepalived::CheckKind;
    let proto = |v: &str| {
        let l = ok(&nat(&format!(" real_server 198.18.2.1 80 {{\n HTTP_GET {{\n url {{\n path /\n }}\n http_protocol {v}\n }}\n }}")));
        let CheckKind::Http { http_1_1, .. } = l.config.virtual_servers[0].reals[0].checkers[0].kind else {
            panic!()
        };
        assert!(l.diags.iter().all(|d| !d.msg.contains("http_protocol")), "{:?}", l.diags);
        http_1_1
    };
    assert!(!proto("1.0") && !proto("1.0C") && proto("1.1"));
    let e = errors(&nat(
        " real_server 198.18.2.1 80 {\n HTTP_GET {\n url {\n path /\n }\n http_protocol 2\n }\n }",
    ));
    assert!(e[0].contains("http_protocol \"2\": 1.0, 1.0C or 1.1"), "{e:?}");
}

#[test]
fn udp_check_reply_lengths() {
    use crate::keepalived::CheckKind;
    let l = ok(&nat(" real_server 198.18.2.1 80 {\n UDP_CHECK {\n require_reply cafe\n min_reply_length 4\n max_reply_length 1000\n }\n UDP_CHECK {\n }\n }"));
    let lens: Vec<(u16, u16)> = l.config.virtual_servers[0].reals[0]
        .checkers
        .iter()
        .map(|c| match &c.kind {
            CheckKind::Udp { reply_len, .. } => *reply_len,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(lens, [(4, 1000), (0, 255)], "keepalived's defaults: 0 and 255");
    assert!(l.diags.iter().all(|d| !d.msg.contains("reply_length")), "{:?}", l.diags);
}

#[test]
fn a_virtual_server_without_a_port_is_port_zero() {
    // keepalived >= 2.0.7 reads `virtual_server IP {` as port 0, and a real_server without a
    // port takes the virtual server's (0 here). It was "virtual_server needs an IP address
    // and a port".
    let l = ok("virtual_server 10.203.43.240 {\n lb_algo rr\n lb_kind NAT\n persistence_timeout 50\n \
                real_server 10.203.43.231 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n");
    let vs = &l.config.virtual_servers[0];
    assert_eq!((vs.key.addr.port(), vs.reals[0].addr.port(), vs.persistence_timeout), (0, 0, Some(50)));
    let e = errors("virtual_server {\n lb_kind DR\n}\n");
    assert_eq!(e, ["k.conf:1: virtual_server needs IP [PORT], fwmark MARK or group NAME"]);
}

#[test]
fn an_unknown_scheduler_is_not_also_a_missing_one() {
    // `lb_algo loadbalance` (seen in the wild): the error at its line, and no "no lb_algo
    // given" info at the block's line as there was.
    let text = nat(" lb_algo loadbalance\n real_server 198.18.2.1 80 { }");
    match crate::keepalived::load_str("k.conf", &text) {
        Err(crate::keepalived::ConfigError::Invalid { errors, diags }) => {
            assert!(
                errors[0].to_string().starts_with("k.conf:4: unknown scheduler \"loadbalance\""),
                "{errors:?}"
            );
            assert!(diags.iter().all(|d| !d.msg.contains("no lb_algo")), "{diags:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn smtp_check_host_blocks_are_checkers_of_their_own() {
    // keepalived's SMTP_CHECK sample: each `host` is checked (the server is up while all
    // answer), with the SMTP_CHECK's timeout, retries and HELO; they were warned about and
    // not read, so the server was judged by nothing.
    use super::CheckKind;
    let l = ok(&nat(
        " real_server 198.18.2.1 25 {\n SMTP_CHECK {\n connect_timeout 10\n retry 2\n helo_name foo.bar.com\n host {\n connect_ip 198.18.2.1\n }\n host {\n connect_ip 198.18.5.10\n connect_port 587\n bindto 198.18.2.9\n }\n }\n }",
    ));
    let c = &l.config.virtual_servers[0].reals[0].checkers;
    let targets: Vec<String> = c.iter().map(|c| c.target.to_string()).collect();
    assert_eq!(targets, ["198.18.2.1:25", "198.18.5.10:587"]);
    assert!(c.iter().all(|c| c.kind == CheckKind::Smtp { helo: "foo.bar.com".into() }
        && c.retry == 2
        && c.connect_timeout == std::time::Duration::from_secs(10)));
    assert_eq!(c[0].bindto, None);
    assert_eq!(c[1].bindto.map(|b| b.to_string()), Some("198.18.2.9:0".into()));
    assert_eq!((c[0].loc.line, c[1].loc.line), (9, 12), "each named at its host block");
    // A bindto of the other family is warned about and left out, as for any checker.
    let l = ok(&nat(" real_server 198.18.2.1 25 {\n SMTP_CHECK {\n host {\n bindto 2001:db8::9\n }\n }\n }"));
    assert_eq!(l.config.virtual_servers[0].reals[0].checkers[0].bindto, None);
    assert!(
        l.diags.iter().any(|d| d.msg.contains("bindto 2001:db8::9 is not of the family")),
        "{:?}",
        l.diags
    );
}

/// Seen in operators' files (keepalived-devel-tools' collection), which keepalived 2.2
/// takes: words after the port of a `virtual_server` (`alloc_vs` reads two), a
/// `virtual_server_group` entry without a port (port 0 since 2.0.7, made persistent as a
/// port-less `virtual_server` is), `child_wait_time` and `bfd_instance` at the top.
#[test]
fn constructs_keepalived_takes_from_operators_files() {
    let l =
        ok("virtual_server 192.168.0.200 80 80 {\n lb_kind NAT\n real_server 192.168.0.100 80 {\n }\n}\n");
    assert_eq!(l.config.virtual_servers[0].key.addr, "192.168.0.200:80".parse().unwrap());
    assert_eq!(warnings(&l), ["k.conf:1: virtual_server: \"80\" after the port ignored, as keepalived does"]);

    let l = ok("virtual_server_group g1 {\n 10.0.0.2-3\n}\n\
                virtual_server group g1 {\n lb_kind DR\n real_server 10.1.1.1 {\n }\n}\n");
    let vs = &l.config.virtual_servers[0];
    let members: Vec<String> = vs.members.iter().map(|m| m.addr.to_string()).collect();
    assert_eq!(members, ["10.0.0.2:0", "10.0.0.3:0"]);
    assert_eq!(vs.persistence_timeout, Some(super::DEFAULT_PERSISTENCE_TIMEOUT), "made persistent");

    let l = ok("child_wait_time 20\nbfd_instance b {\n neighbor_ip 10.1.0.1\n}\n");
    let w = warnings(&l);
    assert!(w[0].starts_with("k.conf:1: 'child_wait_time' ") && w[0].ends_with("ignored"), "{w:?}");
    assert!(w[1].starts_with("k.conf:2: 'bfd_instance' is not supported"), "{w:?}");
    assert!(w.iter().all(|w| !w.contains("unknown keyword")), "{w:?}");
}

/// A group used by a TCP and an SCTP virtual_server (kdt's collection): the SCTP one is
/// refused for its protocol alone, not also as a duplicate of the TCP one.
#[test]
fn a_refused_protocol_is_one_error() {
    let e = errors(
        "virtual_server_group g1 {\n 10.0.0.1 80\n}\n\
         virtual_server group g1 {\n lb_kind NAT\n protocol TCP\n}\n\
         virtual_server group g1 {\n lb_kind NAT\n protocol SCTP\n}\n",
    );
    assert_eq!(e, ["k.conf:10: protocol SCTP is not supported by the dataplane yet"]);
}

/// A loopback real or sorry server (IPVS's local delivery, ldirectord's fallback) is
/// refused at its own line: rvsd would send its share of the clients nowhere.
#[test]
fn loopback_real_and_sorry_servers_are_refused_at_their_lines() {
    let e = errors(
        "local_address_group g { 198.19.0.200 }\nvirtual_server 198.18.0.100 80 {\n laddr_group_name g\n \
         sorry_server 127.0.0.1 80\n real_server 198.19.0.11 80 {\n }\n real_server 127.0.0.1 8080 {\n }\n}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("k.conf:7: rvsd would refuse real_server 127.0.0.1:8080: "), "{e:?}");
    assert!(e[1].starts_with("k.conf:4: rvsd would refuse sorry_server 127.0.0.1:80: "), "{e:?}");
    assert!(e.iter().all(|e| e.contains("loopback address")), "{e:?}");
}
