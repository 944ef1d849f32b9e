use super::ctx::suggest;
use super::keywords::VS_KEYS;
use super::*;
use crate::keepalived::{load_str, Loaded, Severity};
use rvs_proto::Protocol;

const DPVS: &str = include_str!("../testdata/dpvs.conf");

pub(super) fn ok(text: &str) -> Loaded {
    match load_str("k.conf", text) {
        Ok(l) => l,
        Err(e) => panic!("{:?}", e.lines()),
    }
}

pub(super) fn errors(text: &str) -> Vec<String> {
    match load_str("k.conf", text) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.lines(),
    }
}

pub(super) fn warnings(l: &Loaded) -> Vec<String> {
    l.diags.iter().filter(|d| d.severity == Severity::Warning).map(ToString::to_string).collect()
}

const LG: &str = "local_address_group g { 198.19.0.200 }\n";

fn vs(body: &str) -> String {
    format!("{LG}virtual_server 198.18.0.100 80 {{\n laddr_group_name g\n lb_algo rr\n{body}\n}}\n")
}

#[test]
fn realistic_dpvs_config() {
    let l = ok(DPVS);
    let c = &l.config;
    assert_eq!(c.router_id.as_deref(), Some("DPVS_DEVEL"));
    let lips: Vec<String> = c.laddr_groups["laddr_g1"].iter().map(ToString::to_string).collect();
    assert_eq!(lips, ["198.19.0.200", "198.19.0.201", "198.19.0.202", "198.19.0.203", "198.19.0.210"]);
    assert_eq!(c.virtual_servers.len(), 2);

    let web = &c.virtual_servers[0];
    assert_eq!(web.key, ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() });
    assert_eq!(web.loc.line, 43);
    assert_eq!(web.delay_loop, Duration::from_secs(3));
    assert_eq!(web.scheduler, "rr");
    assert_eq!((web.quorum, web.hysteresis), (2, 1));
    assert_eq!(web.quorum_up.as_ref().unwrap().argv, ["/etc/keepalived/notify.sh", "quorum", "up"]);
    assert_eq!(web.sorry_server, Some("198.19.0.99:8080".parse().unwrap()));
    assert!(web.syn_proxy && web.alpha && !web.inhibit_on_failure);
    assert_eq!(web.local_addrs.len(), 5);
    assert_eq!(web.reals.len(), 3);

    let rs1 = &web.reals[0];
    assert_eq!(
        (rs1.addr, rs1.weight, rs1.inhibit_on_failure),
        ("198.19.0.11:80".parse().unwrap(), 100, true)
    );
    assert_eq!(rs1.notify_down.as_ref().unwrap().argv[2], "down");
    let tcp = &rs1.checkers[0];
    assert_eq!(tcp.kind, CheckKind::Tcp);
    assert_eq!((tcp.retry, tcp.connect_timeout), (2, Duration::from_secs(3)));
    assert_eq!((tcp.delay_before_retry, tcp.delay_loop), (Duration::from_secs(2), Duration::from_secs(3)));
    assert!(tcp.alpha, "inherits the virtual server's alpha");

    let http = &web.reals[1].checkers[0];
    assert_eq!(http.target, "198.19.0.12:8080".parse().unwrap());
    assert_eq!(http.retry, 3);
    let CheckKind::Http { urls, virtualhost, tls: false, .. } = &http.kind else { panic!() };
    assert_eq!(virtualhost, &None);
    assert_eq!(urls[0].path, "/health");
    assert_eq!(urls[0].digest.as_deref(), Some("9b3a2f9a5c0e1d2b4f6a8c0e1d2b4f6a"));
    assert!(urls[1].status.accepts(204) && urls[1].status.accepts(301) && !urls[1].status.accepts(200 + 5));

    let misc = &web.reals[2].checkers[0];
    assert_eq!(
        misc.kind,
        CheckKind::Misc {
            argv: vec!["/usr/local/bin/check_rs.sh".into(), "198.19.0.13".into(), "two words".into()],
            timeout: Some(Duration::from_secs(5)),
            dynamic: true,
            user: None,
        }
    );
    assert_eq!(misc.retry, 0, "MISC_CHECK retries 0 times by default");

    let dns = &c.virtual_servers[1];
    assert_eq!(dns.key.protocol, Protocol::Udp);
    assert_eq!(dns.scheduler, "wlc", "accepted at parse time, rvsd decides");
    assert_eq!(
        dns.reals[0].checkers[0].kind,
        CheckKind::Udp { payload: vec![], require_reply: true, reply: vec![], reply_len: (0, 255) }
    );
    assert_eq!(dns.reals[1].addr, "198.19.0.12:53".parse().unwrap(), "port defaults to the VS's");

    // The VRRP blocks are read for the keepalived rvs-ctrl runs; every keyword of this
    // config is taken. Its UDP_CHECK payload "hello" is not hex: warned, as keepalived does.
    let infos: Vec<String> =
        l.diags.iter().filter(|d| d.severity == Severity::Info).map(ToString::to_string).collect();
    let v = &c.vrrp.instances[0];
    assert_eq!((v.name.as_str(), v.vrid, v.priority, v.interface.as_str()), ("VI_1", 51, 100, "eth0"));
    assert!(v.initial_master);
    assert_eq!(v.auth, Some(VrrpAuth { kind: "PASS".into(), pass: "1111".into() }));
    assert_eq!(v.vips, ["198.18.0.100".parse::<IpAddr>().unwrap()]);
    assert_eq!(v.track_scripts[0].keyword, "chk_dpvs");
    assert_eq!(c.vrrp.scripts[0].name, "chk_dpvs");
    assert!(infos.iter().any(|m| m.contains("k.conf:27: 'dpdk_interface' ignored")), "{infos:?}");
    assert!(infos.iter().any(|m| m.contains("k.conf:15: interface dpdk1 ignored")), "{infos:?}");
    let w = warnings(&l);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("k.conf:105: payload \"hello\" is not hex bytes"), "{w:?}");
}

#[test]
fn defaults() {
    let l = ok(&vs(" real_server 198.19.0.11 80 {\n TCP_CHECK\n }"));
    let v = &l.config.virtual_servers[0];
    assert_eq!((v.quorum, v.hysteresis, v.delay_loop), (1, 0, DEFAULT_DELAY_LOOP));
    assert_eq!(v.method, ForwardMethod::FullNat);
    assert_eq!(v.key.protocol, Protocol::Tcp);
    let c = &v.reals[0].checkers[0];
    assert_eq!(v.reals[0].weight, 1);
    assert_eq!(
        (c.retry, c.connect_timeout, c.delay_before_retry),
        (1, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_BEFORE_RETRY)
    );
    assert_eq!(c.target, "198.19.0.11:80".parse().unwrap());
    assert!(!c.alpha);
    assert_eq!(c.warmup, Some(DEFAULT_DELAY_LOOP), "keepalived: warmup defaults to delay_loop");
    let l = ok(&vs(" delay_loop 3\n real_server 198.19.0.11 80 {\n TCP_CHECK\n }\n real_server 198.19.0.12 80 {\n TCP_CHECK { warmup 0 }\n }"));
    let rs = &l.config.virtual_servers[0].reals;
    assert_eq!((rs[0].checkers[0].warmup, rs[1].checkers[0].warmup), (Some(Duration::from_secs(3)), None));
}

#[test]
fn vs_level_checker_defaults_and_overrides() {
    let l = ok(&vs(" retry 4\n connect_timeout 1.5\n real_server 198.19.0.11 80 {\n delay_loop 7\n TCP_CHECK {\n retry 9\n connect_ip 10.0.0.1\n }\n HTTP_GET { url { path / } }\n }"));
    let cs = &l.config.virtual_servers[0].reals[0].checkers;
    assert_eq!((cs[0].retry, cs[1].retry), (9, 4));
    assert_eq!(cs[0].connect_timeout, Duration::from_millis(1500));
    assert_eq!(cs[0].delay_loop, Duration::from_secs(7));
    assert_eq!(cs[0].target, "10.0.0.1:80".parse().unwrap());
    let CheckKind::Http { urls, .. } = &cs[1].kind else { panic!() };
    assert_eq!(urls[0].status, StatusCodes::default_2xx());
}

#[test]
fn fullnat_spellings_accepted() {
    for m in ["FNAT", "FULLNAT", "fnat"] {
        ok(&vs(&format!(" lb_kind {m}\n")));
        ok(&vs(&format!(" lvs_method {m}\n")));
    }
}

#[test]
fn lvs_methods_per_service_and_per_real_server() {
    let l = ok(&vs(" lb_kind DR
 real_server 198.19.0.11 80 {
 }
 real_server 198.19.0.12 80 {
 lvs_method NAT
 }
 real_server 198.19.0.13 80 {
 lb_kind TUN type ipip
 }
"));
    let v = &l.config.virtual_servers[0];
    assert_eq!(v.method, ForwardMethod::DirectRoute);
    let got: Vec<_> = v.reals.iter().map(|r| v.real_method(r)).collect();
    assert_eq!(
        got,
        [(ForwardMethod::DirectRoute, None), (ForwardMethod::Nat, None), (ForwardMethod::Tunnel, None)]
    );
    // GUE to the server's UDP port.
    let l = ok(&vs(" lb_kind TUN type gue port 6080\n real_server 198.19.0.11 80 {\n }\n"));
    let v = &l.config.virtual_servers[0];
    assert_eq!(
        v.real_method(&v.reals[0]),
        (ForwardMethod::Tunnel, Some(rvs_proto::TunnelEncap { port: 6080 }))
    );
    // lb_kind after the real servers still applies to them (keepalived reads the block
    // before it builds the table).
    let l = ok(&vs(" real_server 198.19.0.11 80 {
 }
 lb_kind TUN type ipip
"));
    let v = &l.config.virtual_servers[0];
    assert_eq!(v.real_method(&v.reals[0]), (ForwardMethod::Tunnel, None));
}

#[test]
fn bad_methods_refused_clearly() {
    assert_eq!(
        errors(&vs(" lb_kind BRIDGE
")),
        ["k.conf:5: unknown lb_kind \"BRIDGE\" (NAT, DR, TUN or FNAT)"]
    );
    assert_eq!(
        errors(&vs(" lb_kind TUN type gre
")),
        ["k.conf:5: lb_kind TUN type gre is not supported by the dataplane (ipip or gue)"]
    );
    assert_eq!(
        errors(&vs(" lb_kind DR extra
")),
        ["k.conf:5: lb_kind DR: unexpected \"extra\""]
    );
    // SYN proxy, TOA and PROXY protocol need FULLNAT: refused with the server's line.
    let e = errors(&vs(" lb_kind DR
 toa
 real_server 198.19.0.11 80 {
 }
"));
    assert_eq!(
        e,
        ["k.conf:7: rvsd would refuse real_server 198.19.0.11:80: toa works with FULLNAT real servers only; 198.19.0.11:80 is Route"]
    );
}

#[test]
fn schedulers() {
    for s in SCHEDULERS {
        ok(&format!("{LG}virtual_server 1.1.1.1 80 {{ laddr_group_name g\n lvs_sched {s}\n}}\n"));
    }
    let e = errors(&vs(" lb_algo fastest\n"));
    assert!(e[0].starts_with("k.conf:5: unknown scheduler \"fastest\""), "{e:?}");
}

#[test]
fn bad_addresses_and_ports() {
    let e = errors(&format!("{LG}virtual_server 1.2.3 80 {{ laddr_group_name g }}\n"));
    assert_eq!(e, ["k.conf:2: virtual_server: bad IP address \"1.2.3\""]);
    let e = errors(&format!("{LG}virtual_server 1.2.3.4 http {{ laddr_group_name g }}\n"));
    assert_eq!(e, ["k.conf:2: virtual_server: bad port \"http\""]);
    let e = errors(&format!("{LG}virtual_server 1.2.3.4 70000 {{ laddr_group_name g }}\n"));
    assert_eq!(e, ["k.conf:2: virtual_server: bad port \"70000\""]);
    let e = errors(&vs(" real_server 198.19.0.300 80 {\n }\n real_server 198.19.0.1 99999\n"));
    assert_eq!(
        e,
        [
            "k.conf:5: real_server: bad IP address \"198.19.0.300\"",
            "k.conf:7: real_server: bad port \"99999\""
        ]
    );
    let e = errors(&vs(" sorry_server 1.1.1.x 80\n"));
    assert!(e[0].contains("sorry_server: bad IP"), "{e:?}");
}

#[test]
fn ipv6_services_parse_and_mixed_families_are_refused_as_rvsd_refuses_them() {
    let ok = "local_address_group g6 { 2001:db8::a-c }\nvirtual_server 2001:db8::1 443 {\n laddr_group_name g6\n real_server 2001:db8::2 443\n}\n";
    let l = load_str("k.conf", ok).expect("an IPv6 service");
    assert!(l.diags.iter().all(|d| d.severity != Severity::Error));
    // NAT64: an IPv6 virtual server with IPv4 local addresses and real servers, FULLNAT.
    let nat64 = "local_address_group g4 { 198.19.0.200 }\nvirtual_server 2001:db8::1 443 {\n laddr_group_name g4\n toa\n real_server 198.19.0.11 443\n}\n";
    let l = load_str("k.conf", nat64).expect("a NAT64 service");
    assert_eq!(l.config.virtual_servers[0].reals[0].addr, "198.19.0.11:443".parse().unwrap());
    let e = errors(&nat64.replace(" toa\n", " lb_kind DR\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("k.conf:5: rvsd would refuse real_server 198.19.0.11:443: real server 198.19.0.11")
    );
    assert!(e[0].contains("NAT64"), "{e:?}");
    // IPv6 real servers of an IPv6 virtual server by DR, NAT or TUN (no local addresses);
    // TUN is IPv6-in-IPv6, GUE is refused.
    for kind in ["DR", "NAT", "TUN"] {
        let text = format!(
            "virtual_server 2001:db8::1 80 {{\n lb_kind {kind}\n real_server 2001:db8:2::11 80\n}}\n"
        );
        let l = load_str("k.conf", &text).expect("an IPv6 DR/NAT/TUN service");
        assert!(l.diags.iter().all(|d| d.severity != Severity::Error), "{kind}: {:?}", l.diags);
    }
    let e = errors("virtual_server 2001:db8::1 80 {\n lb_kind TUN type gue port 6080\n real_server 2001:db8:2::11 80\n}\n");
    assert!(e.len() == 1 && e[0].contains("IPv6-in-IPv6"), "{e:?}");
    // The reverse (NAT46) is refused.
    let e = errors("local_address_group g6 { 2001:db8::a }\nvirtual_server 198.18.0.100 443 {\n laddr_group_name g6\n real_server 2001:db8::2 443\n}\n");
    assert!(e[0].contains("local address 2001:db8::a"), "{e:?}");
    assert_eq!(
        crate::keepalived::model::expand_range("2001:db8::a-c").unwrap()[2],
        "2001:db8::c".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn duplicates_are_errors_naming_both_places() {
    let e = errors(&vs(" real_server 198.19.0.11 80\n real_server 198.19.0.11 80 { weight 2 }\n"));
    assert_eq!(e, ["k.conf:6: duplicate real_server 198.19.0.11:80 (first defined at k.conf:5)"]);
    let text = format!("{}virtual_server 198.18.0.100 80 {{ laddr_group_name g }}\n", vs(""));
    assert_eq!(
        errors(&text),
        ["k.conf:7: duplicate virtual_server TCP 198.18.0.100:80 (first defined at k.conf:2)"]
    );
    // Same address, other protocol: distinct services.
    ok(&format!("{}virtual_server 198.18.0.100 80 {{ laddr_group_name g\n protocol UDP }}\n", vs("")));
    let e = errors(&format!("{LG}{LG}"));
    assert_eq!(e, ["k.conf:2: duplicate local_address_group g (first defined at k.conf:1)"]);
}

#[test]
fn laddr_group_missing_unknown_or_empty() {
    let e = errors("virtual_server 1.1.1.1 80 {\n lb_algo rr\n}\n");
    assert!(e[0].starts_with("k.conf:1: FULLNAT needs local addresses"), "{e:?}");
    let e = errors("virtual_server 1.1.1.1 80 {\n laddr_group_name nope\n}\n");
    // The laddr_group_name line, not the virtual_server one.
    assert_eq!(e, ["k.conf:2: laddr_group_name nope: no such local_address_group"]);
    let e = errors("local_address_group e {\n}\nvirtual_server 1.1.1.1 80 { laddr_group_name e }\n");
    assert_eq!(e, ["k.conf:3: local_address_group e has no addresses"]);
    let e = errors("local_address_group b {\n 10.0.0.9-3\n 10.0.0.x\n}\n");
    assert_eq!(e.len(), 2);
    assert!(e[0].starts_with("k.conf:2:") && e[0].contains("ends before it starts"), "{e:?}");
}

#[test]
fn group_defined_after_use() {
    ok("virtual_server 1.1.1.1 80 { laddr_group_name late }\nlocal_address_group late { 10.0.0.1 }\n");
}

#[test]
fn unknown_and_misspelt_keywords_warn_with_location() {
    let l = ok(&vs(" delay_lop 6\n real_server 198.19.0.11 80 {\n wieght 3\n TCP_CHECK { conect_timeout 3 }\n }\n frobnicate\n"));
    let w = warnings(&l);
    assert_eq!(
        w,
        [
            "k.conf:5: unknown keyword 'delay_lop' in virtual_server, ignored (did you mean 'delay_loop'?)",
            "k.conf:10: unknown keyword 'frobnicate' in virtual_server, ignored",
            "k.conf:7: unknown keyword 'wieght' in real_server, ignored (did you mean 'weight'?)",
            "k.conf:8: unknown keyword 'conect_timeout' in TCP_CHECK, ignored (did you mean 'connect_timeout'?)",
        ]
    );
    let l = ok(&vs(" nat_mask 255.255.255.0\n"));
    assert_eq!(
        warnings(&l),
        ["k.conf:5: unknown keyword 'nat_mask' in virtual_server, ignored (keepalived 1.x's netmask of a NAT service: keepalived 2 dropped it, IPVS never read it)"]
    );
    let l = ok("global_defs {\n routr_id x\n vrrp_anything 1\n}\nglobl_defs { }\n");
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("'routr_id' in global_defs") && w[0].contains("'router_id'"));
    assert!(w[1].contains("'globl_defs' in the top level") && w[1].contains("'global_defs'"));
}

#[test]
fn all_errors_are_collected() {
    let e =
        errors(&vs(" lb_kind XX\n protocol SCTP\n quorum many\n real_server 1.1.1.1 80 { weight 70000 }\n"));
    assert_eq!(e.len(), 4, "{e:?}");
}

#[test]
fn syntax_errors_are_hard() {
    let e = errors("virtual_server 1.1.1.1 80 {\n lb_algo rr\n");
    assert_eq!(e, ["k.conf:1: unbalanced braces: this '{' is never closed"]);
}

#[test]
fn vrrp_blocks_are_checked_with_file_and_line() {
    let inst = |body: &str| {
        format!("vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  198.18.0.100\n }}\n{body}}}\n")
    };
    let l = ok(&format!(
        "vrrp_sync_group G {{ group {{ VI_1 }} }}\nstatic_ipaddress {{\n 10.0.0.1/24 dev eth0\n}}\n{}",
        inst(" bogus_kw 1\n")
    ));
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("k.conf:2: 'static_ipaddress' is not supported by rvs-ctrl's VRRP"), "{w:?}");
    assert!(w[1].starts_with("k.conf:11: unknown keyword 'bogus_kw' in vrrp_instance"), "{w:?}");
    assert_eq!(l.config.vrrp.groups[0].members, ["VI_1"]);

    let e = errors("vrrp_instance VI_1 {\n  state MAYBE\n priority 300\n authentication {\n auth_type XOR\n }\n virtual_ipaddress {\n 198.18.0.300\n 2001:db8::1\n }\n track_script {\n nope\n }\n}\nvrrp_sync_group G {\n group {\n VI_1 VI_9\n }\n}\n");
    for want in [
        "k.conf:2: 'state': \"MAYBE\" is not MASTER or BACKUP",
        "k.conf:3: 'priority' 300 is outside 1..255",
        "k.conf:5: 'auth_type': \"XOR\" is not PASS or AH",
        "k.conf:8: virtual_ipaddress: bad IP address \"198.18.0.300\"",
        "k.conf:1: vrrp_instance VI_1 needs an 'interface'",
        "k.conf:1: vrrp_instance VI_1 needs a 'virtual_router_id' (1..255)",
        "k.conf:12: track_script nope: no such vrrp_script",
        "k.conf:15: vrrp_sync_group G: no vrrp_instance VI_9",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "missing {want:?} in {e:?}");
    }
    // One VRID per interface; one group per instance; lvs_sync_daemon names an instance.
    let two = format!("{}{}", inst(""), inst("").replace("VI_1", "VI_2"));
    let e = errors(&two);
    assert!(
        e[0].starts_with(
            "k.conf:8: vrrp_instance VI_2: virtual_router_id 51 on eth0 is already vrrp_instance VI_1's"
        ),
        "{e:?}"
    );
    let e = errors(&format!("global_defs {{\n lvs_sync_daemon eth1 VI_X id 3\n}}\n{}", inst("")));
    assert_eq!(e, ["k.conf:2: lvs_sync_daemon: no vrrp_instance VI_X"]);
    let l = ok(&format!(
        "global_defs {{\n lvs_sync_daemon eth1 VI_1 id 3 port 8849 group 224.0.0.82\n}}\n{}",
        inst(" nopreempt\n preempt_delay 5\n")
    ));
    let d = l.config.vrrp.sync_daemon.as_ref().unwrap();
    assert_eq!((d.sync_id, d.port, d.group), (3, 8849, Some("224.0.0.82".parse().unwrap())));
    let i = &l.config.vrrp.instances[0];
    assert!(i.nopreempt && !i.initial_master);
    assert_eq!(i.preempt_delay, Some(5.0));
}

#[test]
fn fwmark_and_group_services_refused() {
    let e = errors("virtual_server fwmark 1 { }\n");
    assert!(e[0].contains("fwmark is not supported"));
    let e = errors("virtual_server group G { }\n");
    assert_eq!(e, ["k.conf:1: virtual_server group G: no such virtual_server_group"]);
}

#[test]
fn fullnat_extensions_reach_the_options() {
    let l = ok(&vs(" syn_proxy\n toa\n proxy_protocol v1\n persistence_timeout 300\n real_server 198.19.0.11 80 { uthreshold 100 }\n"));
    let v = &l.config.virtual_servers[0];
    assert!(v.syn_proxy && v.toa);
    assert_eq!(v.proxy_protocol, Some(1));
    assert_eq!(v.persistence_timeout, Some(300));
    assert_eq!(v.reals[0].uthreshold, Some(100));
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let o = v.options();
    assert!(o.syn_proxy && o.toa);
    assert_eq!(o.proxy_protocol, Some(1));
    assert_eq!(o.persistence, Some(rvs_proto::Persistence { timeout: 300, prefix_len: 32 }));
    assert_eq!(v.reals[0].thresholds(), rvs_proto::Thresholds { upper: 100, lower: 0 });
}

#[test]
fn rvs_extensions_reach_the_options() {
    let l = ok(&vs(
        " lb_algo mh\n mh_table_size 251\n proxy_protocol v2\n proxy_protocol_send on-connect\n expire_quiescent_template\n persistence_timeout 60\n",
    ));
    let o = l.config.virtual_servers[0].options();
    assert_eq!((o.proxy_protocol, o.proxy_on_connect), (Some(2), true));
    assert!(o.expire_quiescent_template);
    assert_eq!(o.mh_table_size, Some(251));
}

fn infos(l: &Loaded) -> Vec<String> {
    l.diags.iter().filter(|d| d.severity == Severity::Info).map(ToString::to_string).collect()
}

#[test]
fn keepalived_defaults_named_in_infos() {
    let l = ok(&format!("{LG}virtual_server 198.18.0.100 80 {{\n laddr_group_name g\n persistence_timeout\n real_server 198.19.0.11 80 {{ TCP_CHECK {{ }} }}\n}}\n"));
    let v = &l.config.virtual_servers[0];
    assert_eq!(v.scheduler, "wlc");
    assert_eq!(v.persistence_timeout, Some(360));
    let i = infos(&l);
    assert!(i.iter().any(|m| m == "k.conf:2: no lb_algo given; using wlc (keepalived's default)"), "{i:?}");
    assert!(i.iter().any(|m| m.starts_with("k.conf:4: persistence_timeout without a value: 360 s")), "{i:?}");
    assert!(
        i.iter().any(|m| m == "k.conf:2: no delay_loop given; checking every 60 s (keepalived's default)"),
        "{i:?}"
    );
    let c = &v.reals[0].checkers[0];
    assert_eq!(
        (c.retry, c.connect_timeout, c.delay_loop),
        (1, Duration::from_secs(5), Duration::from_secs(60))
    );
}

#[test]
fn persistence_granularity_and_flags() {
    let l = ok(&vs(" lb_algo sh\n sh-port\n sh-fallback\n persistence_timeout 50\n persistence_granularity 255.255.255.0\n"));
    let o = l.config.virtual_servers[0].options();
    assert_eq!(o.persistence, Some(rvs_proto::Persistence { timeout: 50, prefix_len: 24 }));
    assert_eq!(o.sched_flags, ["sh-port", "sh-fallback"]);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    // A flag of another scheduler is sent but warned about; a granularity alone too.
    let l = ok(&vs(" mh-port\n persistence_granularity 24\n"));
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w.iter().any(|m| m.contains("'mh-port' has no effect with lb_algo rr")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("without persistence_timeout has no effect")), "{w:?}");
    let e = errors(&vs(" persistence_granularity 255.0.255.0\n"));
    assert!(e[0].contains("not a contiguous netmask"), "{e:?}");
    let e = errors(&vs(" proxy_protocol v3\n"));
    assert!(e[0].contains("use v1 or v2"), "{e:?}");
    let e = errors(&vs(" lb_algo mh\n mh_table_size 65536\n"));
    assert!(e[0].contains("mh_table_size 65536: must be a prime"), "{e:?}");
    let e = errors(&vs(" proxy_protocol_send sometimes\n"));
    assert!(e[0].contains("first-data or on-connect"), "{e:?}");
    // ops has no dataplane feature: warned, as the docs' table says.
    assert!(warnings(&ok(&vs(" ops\n")))[0].contains("'ops' is not supported by the dataplane yet"));
}

#[test]
fn thresholds_checked_as_rvsd_does() {
    let e = errors(&vs(" real_server 198.19.0.11 80 {\n uthreshold 5\n lthreshold 10\n }\n"));
    assert_eq!(
        e,
        ["k.conf:5: rvsd would refuse real_server 198.19.0.11:80: lower threshold 10 is above the upper threshold 5"]
    );
    let l = ok(&vs(" real_server 198.19.0.11 80 {\n uthreshold 10\n lthreshold 5\n }\n"));
    assert_eq!(
        l.config.virtual_servers[0].reals[0].thresholds(),
        rvs_proto::Thresholds { upper: 10, lower: 5 }
    );
}

#[test]
fn quorum_and_hysteresis_follow_keepalived() {
    let rs = " real_server 198.19.0.11 80 { weight 1 }\n real_server 198.19.0.12 80 { weight 2 }\n";
    let l = ok(&vs(&format!(" quorum 5\n{rs}")));
    assert_eq!(l.config.virtual_servers[0].quorum, 3);
    let w = warnings(&l);
    assert_eq!(
        w,
        ["k.conf:5: quorum 5 exceeds the total weight of the real servers 3, reducing quorum to 3"]
    );
    let l = ok(&vs(&format!(" quorum 1\n hysteresis 1\n{rs}")));
    let v = &l.config.virtual_servers[0];
    assert_eq!((v.quorum, v.hysteresis), (1, 0));
    assert_eq!(warnings(&l), ["k.conf:6: hysteresis 1 >= quorum 1; setting hysteresis to 0"]);
}

#[test]
fn udp_check_payload_and_reply_are_hex() {
    let l = ok(&vs(" protocol UDP\n real_server 198.19.0.11 53 {\n UDP_CHECK {\n payload 0a0b0c\n require_reply 0xCAFE\n }\n }\n"));
    assert_eq!(
        l.config.virtual_servers[0].reals[0].checkers[0].kind,
        CheckKind::Udp {
            payload: vec![0x0a, 0x0b, 0x0c],
            require_reply: true,
            reply: vec![0xca, 0xfe],
            reply_len: (0, 255)
        }
    );
    // As keepalived: reported, and the check runs without them.
    let l = ok(&vs(" protocol UDP\n real_server 198.19.0.11 53 {\n UDP_CHECK {\n payload hello\n require_reply abc\n }\n }\n"));
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("k.conf:8: payload \"hello\" is not hex bytes ("), "{w:?}");
    assert!(w[0].ends_with("the check sends an empty datagram"), "{w:?}");
    assert!(
        w[1].starts_with("k.conf:9: require_reply \"abc\" is not hex bytes (not an even number"),
        "{w:?}"
    );
    assert_eq!(
        l.config.virtual_servers[0].reals[0].checkers[0].kind,
        CheckKind::Udp { payload: vec![], require_reply: true, reply: vec![], reply_len: (0, 255) }
    );
    assert_eq!(hex_bytes("00ff"), Ok(vec![0, 255]));
}

#[test]
fn virtual_server_group_members_share_reals_and_checks() {
    let text = format!("{LG}virtual_server_group web {{\n 198.18.1.100-102 80\n 198.18.1.200 80\n}}\nvirtual_server group web {{\n laddr_group_name g\n lb_algo rr\n real_server 198.19.0.11 80 {{ TCP_CHECK {{ }} }}\n}}\n");
    let l = ok(&text);
    let v = &l.config.virtual_servers[0];
    let addrs: Vec<String> = v.members.iter().map(|k| k.addr.to_string()).collect();
    assert_eq!(addrs, ["198.18.1.100:80", "198.18.1.101:80", "198.18.1.102:80", "198.18.1.200:80"]);
    assert_eq!(v.group.as_deref(), Some("web"));
    assert_eq!(l.config.virtual_servers.len(), 1, "one block, one set of checks");
    assert_eq!(v.reals[0].checkers.len(), 1);
    // A member that is also a plain virtual_server is a duplicate.
    let dup = format!("{text}virtual_server 198.18.1.101 80 {{\n laddr_group_name g\n}}\n");
    let e = errors(&dup);
    assert!(
        e[0].contains("duplicate virtual_server TCP 198.18.1.101:80 (first defined at k.conf:6)"),
        "{e:?}"
    );
    let e = errors(&format!("{LG}virtual_server_group v {{\n 198.18.1.100-99 80\n 198.18.1.x 80\n}}\n"));
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn lvs_timeouts_in_global_defs() {
    let l = ok("global_defs {\n lvs_timeouts tcp 900 tcpfin 120 udp 300\n}\n");
    assert_eq!(l.config.lvs_timeouts, Some(rvs_proto::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }));
    let l = ok("global_defs {\n lvs_timeouts udp 30\n}\n");
    assert_eq!(l.config.lvs_timeouts, Some(rvs_proto::Timeouts { tcp: 0, tcp_fin: 0, udp: 30 }));
    let e = errors("global_defs {\n lvs_timeouts tcp\n}\n");
    assert_eq!(e, ["k.conf:2: lvs_timeouts: tcp needs a number of seconds above 0"]);
}

#[test]
fn checker_errors() {
    let e =
        errors(&vs(" real_server 198.19.0.11 80 {\n HTTP_GET { connect_timeout 1 }\n MISC_CHECK { }\n }\n"));
    assert_eq!(
        e,
        ["k.conf:6: HTTP_GET needs at least one url { path ... }", "k.conf:7: MISC_CHECK needs misc_path"]
    );
    let e = errors(&vs(" real_server 198.19.0.11 80 {\n HTTP_GET { url { path / \n digest xyz\n status_code 99\n regex \"(\"\n } }\n }\n"));
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn smtp_and_ping_checks_and_bfd_ignored() {
    let l = ok(&vs(" real_server 198.19.0.11 80 {\n SMTP_CHECK\n PING_CHECK\n BFD_CHECK\n }\n"));
    let r = &l.config.virtual_servers[0].reals[0];
    assert_eq!(r.checkers.len(), 2);
    assert_eq!(r.checkers[0].kind, CheckKind::Smtp { helo: "smtpchecker.keepalived.org".into() });
    assert_eq!(r.checkers[1].kind, CheckKind::Ping);
    assert_eq!(warnings(&l).len(), 1, "BFD_CHECK only");
    // A port-0 real server's PING_CHECK needs no connect_port (ICMP has no port); its
    // options are the common ones.
    let l = ok(&vs(
        " real_server 198.19.0.11 0 {\n PING_CHECK {\n connect_ip 198.19.0.99\n bindto 198.19.0.1\n retry 2\n connect_timeout 2\n }\n }\n",
    ));
    let c = &l.config.virtual_servers[0].reals[0].checkers[0];
    assert_eq!(c.kind, CheckKind::Ping);
    assert_eq!(c.target.ip().to_string(), "198.19.0.99");
    assert_eq!(c.bindto.map(|b| b.ip().to_string()), Some("198.19.0.1".into()));
    assert_eq!((c.retry, c.connect_timeout), (2, Duration::from_secs(2)));
    let l =
        ok(&vs(" real_server 198.19.0.11 25 {\n SMTP_CHECK {\n helo_name lb.example\n retry 0\n }\n }\n"));
    let c = &l.config.virtual_servers[0].reals[0].checkers[0];
    assert_eq!((&c.kind, c.retry), (&CheckKind::Smtp { helo: "lb.example".into() }, 0));
}

#[test]
fn ssl_get_is_http_get_over_tls() {
    let l = ok(&vs(
        " real_server 198.19.0.11 443 {\n SSL_GET { url { path /health\n status_code 200 } virtualhost www.example.com }\n }\n",
    ));
    let r = &l.config.virtual_servers[0].reals[0];
    assert_eq!(r.checkers.len(), 1);
    let CheckKind::Http { urls, virtualhost, tls, .. } = &r.checkers[0].kind else { panic!() };
    assert!(*tls);
    assert_eq!(urls[0].path, "/health");
    assert_eq!(virtualhost.as_deref(), Some("www.example.com"));
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let e = errors(&vs(" real_server 198.19.0.11 443 {\n SSL_GET { connect_timeout 1 }\n }\n"));
    assert_eq!(e, ["k.conf:6: SSL_GET needs at least one url { path ... }"]);
}

#[test]
fn inhibit_inherits_and_overrides() {
    let l = ok(&vs(" inhibit_on_failure\n real_server 198.19.0.11 80\n real_server 198.19.0.12 80 { inhibit_on_failure off }\n"));
    let r = &l.config.virtual_servers[0].reals;
    assert!(r[0].inhibit_on_failure && !r[1].inhibit_on_failure);
}

#[test]
fn word_splitting() {
    assert_eq!(split_words("a  b 'c d' \"e f\"g ''"), ["a", "b", "c d", "e fg", ""]);
    assert!(split_words("   ").is_empty());
}

#[test]
fn suggestions() {
    assert_eq!(suggest("lb_alog", VS_KEYS), Some("lb_algo"));
    assert_eq!(suggest("zzzzzzzz", VS_KEYS), None);
}

#[test]
fn dns_check_defaults_and_options() {
    let l = ok(&vs(" delay_loop 5\n real_server 198.19.0.11 53 {\n DNS_CHECK { }\n DNS_CHECK {\n type a\n name lab.test.\n connect_port 5353\n retry 1\n delay_before_retry 2\n }\n }\n"));
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    let c = &l.config.virtual_servers[0].reals[0].checkers;
    assert_eq!(c[0].kind, CheckKind::Dns { qtype: 6, name: ".".into() }, "keepalived: SOA of the root");
    assert_eq!(c[0].target, "198.19.0.11:53".parse().unwrap());
    assert_eq!(
        (c[0].retry, c[0].delay_before_retry),
        (3, Duration::from_secs(5)),
        "retry 3, delay_loop apart"
    );
    assert_eq!(c[1].kind, CheckKind::Dns { qtype: 1, name: "lab.test.".into() });
    assert_eq!(c[1].target, "198.19.0.11:5353".parse().unwrap());
    assert_eq!((c[1].retry, c[1].delay_before_retry), (1, Duration::from_secs(2)));

    let l = ok(&vs(" real_server 198.19.0.11 53 {\n DNS_CHECK {\n type SRV\n }\n }\n"));
    assert_eq!(warnings(&l).len(), 1, "{:?}", warnings(&l));
    assert!(warnings(&l)[0].contains("unknown DNS_CHECK type \"SRV\", using SOA"));
    let e = errors(&vs(" real_server 198.19.0.11 53 {\n DNS_CHECK {\n name a..b\n }\n }\n"));
    assert_eq!(e, ["k.conf:7: DNS_CHECK name \"a..b\": empty label"]);
}

#[test]
fn file_check_with_track_file_and_shorthand() {
    let text = format!(
        "track_file tf {{\n file /run/rvs/w\n weight 3 reverse\n}}\ntrack_file plain {{\n file /run/rvs/p\n}}\n{}",
        vs(" delay_loop 10\n alpha\n real_server 198.19.0.11 80 {\n FILE_CHECK {\n track_file tf\n }\n FILE_CHECK {\n track_file tf\n weight -2\n }\n FILE_CHECK {\n track_file plain\n weight 0\n }\n FILE_CHECK {\n file /tmp/x\n }\n }\n")
    );
    let l = ok(&text);
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
    assert_eq!(l.config.track_files["tf"].weight, 3);
    let c = &l.config.virtual_servers[0].reals[0].checkers;
    let file = |p: &str, weight, reverse| CheckKind::File { path: p.into(), weight, reverse };
    assert_eq!(c[0].kind, file("/run/rvs/w", 3, true), "the track_file's weight");
    assert_eq!(c[1].kind, file("/run/rvs/w", -2, false), "the checker's own weight wins");
    assert_eq!(
        c[2].kind,
        file("/run/rvs/p", 1, false),
        "weight 0 in the checker: the track_file's (default 1)"
    );
    assert_eq!(c[3].kind, file("/tmp/x", 0, false));
    assert!(c.iter().all(|c| c.retry == 0 && !c.alpha && c.delay_loop == Duration::from_secs(1)));

    let e = errors(&vs(
        " real_server 198.19.0.11 80 {\n FILE_CHECK {\n track_file nope\n }\n FILE_CHECK { }\n }\n",
    ));
    assert_eq!(
        e,
        [
            "k.conf:7: track_file nope not found",
            "k.conf:6: FILE_CHECK needs track_file NAME (or file PATH)",
            "k.conf:9: FILE_CHECK needs track_file NAME (or file PATH)"
        ]
    );
    let e =
        errors("track_file u {\n weight 1 sideways\n}\ntrack_file t { file /a }\ntrack_file t { file /x }\n");
    assert_eq!(
        e,
        [
            "k.conf:2: 'weight': unknown option \"sideways\" (reverse or noreverse)",
            "k.conf:1: track_file u needs a 'file PATH'",
            "k.conf:5: duplicate track_file t (first defined at k.conf:4)"
        ]
    );
}

#[test]
fn only_fullnat_needs_local_addresses() {
    let conf = |kind: &str| {
        format!(
            "virtual_server 198.18.0.100 80 {{\n lb_kind {kind}\n real_server 198.19.0.11 80 {{\n }}\n}}\n"
        )
    };
    for kind in ["DR", "NAT", "TUN"] {
        ok(&conf(kind));
    }
    assert!(errors(&conf("FNAT"))[0].contains("FULLNAT needs local addresses"));
}

#[test]
fn rvs_limits_block() {
    let l = ok(&vs(" rvs_limits {\n  allow 198.18.0.0/24 198.18.1.7\n  deny 198.18.0.66\n  source_conn_rate 50 100\n  conn_rate 1000\n  max_conns 300\n }"));
    let o = l.config.virtual_servers[0].options();
    assert_eq!(
        o.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["198.18.0.0/24", "198.18.1.7/32"]
    );
    assert_eq!(o.deny[0].to_string(), "198.18.0.66/32");
    assert_eq!(o.source_conn_rate, Some(rvs_proto::RateLimit { rate: 50, burst: 100 }));
    assert_eq!(o.conn_rate, Some(rvs_proto::RateLimit { rate: 1000, burst: 1000 }));
    assert_eq!(o.max_conns, 300);
    assert!(rvs_proto::check::check_service(&rvs_proto::ServiceSpec {
        key: l.config.virtual_servers[0].key,
        scheduler: "rr".into(),
        local_addrs: vec![],
        options: o
    })
    .is_ok());
    // Errors name the file and the line of the bad statement.
    let e = errors(&vs(" rvs_limits {\n  deny 198.18.0.5/24\n  source_conn_rate 0\n  max_conns lots\n }"));
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("k.conf:6:") && e[0].contains("198.18.0.5/24 has host bits set"), "{e:?}");
    assert!(e[1].starts_with("k.conf:7:") && e[1].contains("source_conn_rate"), "{e:?}");
    assert!(e[2].starts_with("k.conf:8:") && e[2].contains("max_conns"), "{e:?}");
    let l = ok(&vs(" rvs_limits {\n  dney 198.18.0.5\n }"));
    assert!(warnings(&l).iter().any(|w| w.contains("did you mean 'deny'")), "{:?}", warnings(&l));
}
