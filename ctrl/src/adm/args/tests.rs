use super::values::*;
use super::*;

fn key(p: Protocol, a: &str) -> ServiceKey {
    ServiceKey { protocol: p, addr: a.parse().unwrap() }
}
fn tcp(a: &str) -> ServiceKey {
    key(Protocol::Tcp, a)
}
fn cmd(args: &[&str]) -> AdmCommand {
    match parse_args(args) {
        Ok(Invocation { action: Action::Command(c), .. }) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}
fn err(args: &[&str]) -> String {
    match parse_args(args) {
        Err(UsageError(m)) => m,
        other => panic!("{args:?} should fail, got {other:?}"),
    }
}
fn list(service: Option<ServiceKey>, view: ListView, numeric: bool, exact: bool) -> AdmCommand {
    AdmCommand::List(ListOptions { service, view, numeric, exact, sort: false })
}
fn real(a: &str, weight: u32, method: ForwardMethod) -> RealSpec {
    RealSpec { thresholds: Default::default(), addr: a.parse().unwrap(), weight, method, tunnel: None }
}

#[test]
fn add_service_default_scheduler_is_wlc() {
    assert_eq!(
        cmd(&["-A", "-t", "198.18.0.100:80"]),
        AdmCommand::AddService {
            key: tcp("198.18.0.100:80"),
            scheduler: "wlc".into(),
            options: Default::default()
        }
    );
}

#[test]
fn persistence_flags_and_thresholds() {
    let want = AdmCommand::AddService {
        key: tcp("198.18.0.100:80"),
        scheduler: "sh".into(),
        options: ServiceOptions {
            sched_flags: vec!["sh-port".into(), "sh-fallback".into()],
            persistence: Some(Persistence { timeout: 60, prefix_len: 24 }),
            ..Default::default()
        },
    };
    let want_syn = AdmCommand::EditService {
        key: tcp("198.18.0.100:80"),
        scheduler: "rr".into(),
        options: ServiceOptions { syn_proxy: true, toa: true, proxy_protocol: Some(2), ..Default::default() },
    };
    assert_eq!(
        cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-j", "--toa", "--proxy-protocol", "v2"]),
        want_syn
    );
    // DPVS's ipvsadm spells it with a switch (`-j enable`, `--synproxy=enable`); `disable`
    // is the SYN proxy off, as no -j is.
    for dpvs in [&["-j", "enable"][..], &["--synproxy", "enable"], &["--synproxy=enable"]] {
        let mut line = vec!["-E", "-t", "198.18.0.100:80", "-s", "rr"];
        line.extend_from_slice(dpvs);
        line.extend_from_slice(&["--toa", "--proxy-protocol", "v2"]);
        assert_eq!(cmd(&line), want_syn, "{line:?}");
    }
    let off = cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-j", "disable", "--toa"]);
    assert_eq!(off, cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "--toa"]));
    assert_eq!(
        err(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "--synproxy=on"]),
        "synproxy switch must be enable or disable"
    );
    // Any other word after -j is not the switch's: rvsadm's error for a stray argument.
    assert_eq!(err(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-j", "on"]), "unexpected argument on");
    assert_eq!(
        err(&["-E", "-t", "198.18.0.100:80", "--proxy-protocol", "v3"]),
        "illegal proxy-protocol version: `v3' (v1 or v2)"
    );
    let want_ext = AdmCommand::EditService {
        key: tcp("198.18.0.100:80"),
        scheduler: "mh".into(),
        options: ServiceOptions {
            proxy_protocol: Some(1),
            proxy_on_connect: true,
            expire_quiescent_template: true,
            mh_table_size: Some(251),
            ..Default::default()
        },
    };
    assert_eq!(
        cmd(&[
            "-E",
            "-t",
            "198.18.0.100:80",
            "-s",
            "mh",
            "--proxy-protocol",
            "v1",
            "--proxy-protocol-send",
            "on-connect",
            "--expire-quiescent-template",
            "--mh-table-size",
            "251"
        ]),
        want_ext
    );
    assert_eq!(
        err(&["-E", "-t", "198.18.0.100:80", "-s", "mh", "--mh-table-size", "65536"]),
        "illegal mh-table-size: `65536' (a prime between 3 and 16777216, e.g. 65537)"
    );
    assert_eq!(
        err(&["-E", "-t", "198.18.0.100:80", "--proxy-protocol-send", "on-connect"]),
        "--proxy-protocol-send needs --proxy-protocol v1|v2"
    );
    assert_eq!(
        err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "--expire-quiescent-template"]),
        "Illegal 'expire-quiescent-template' option with the 'add-server' command"
    );
    assert_eq!(
        cmd(&[
            "-A",
            "-t",
            "198.18.0.100:80",
            "-s",
            "sh",
            "-p",
            "60",
            "-M",
            "255.255.255.0",
            "--sched-flags",
            "sh-port,sh-fallback"
        ]),
        want
    );
    match cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-x", "10", "-y", "5"]) {
        AdmCommand::AddReal { real, .. } => {
            assert_eq!(real.thresholds, Thresholds { upper: 10, lower: 5 })
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cmd(&["-A", "-t", "198.18.0.100:80", "-M", "24"]), cmd(&["-A", "-t", "198.18.0.100:80"]));
    assert_eq!(
        err(&["-A", "-t", "198.18.0.100:80", "-p", "60", "-M", "255.0.255.0"]),
        "illegal netmask: `255.0.255.0'"
    );
    // IPv6: -M is a prefix length (1 to 128), a host (/128) by default.
    let persistence = |args: &[&str]| match cmd(args) {
        AdmCommand::AddService { options, .. } => options.persistence,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        persistence(&["-A", "-t", "[2001:db8::100]:80", "-p", "60", "-M", "64"]),
        Some(Persistence { timeout: 60, prefix_len: 64 })
    );
    assert_eq!(
        persistence(&["-A", "-t", "[2001:db8::100]:80", "-p", "60"]),
        Some(Persistence { timeout: 60, prefix_len: 128 })
    );
    assert_eq!(
        err(&["-A", "-t", "[2001:db8::100]:80", "-p", "60", "-M", "255.255.255.0"]),
        "illegal netmask: `255.255.255.0'"
    );
    assert_eq!(err(&["-A", "-t", "[2001:db8::100]:80", "-p", "60", "-M", "129"]), "illegal netmask: `129'");
    assert_eq!(
        err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-x", "5", "-y", "9"]),
        "l_threshold must not be above u_threshold"
    );
}

#[test]
fn add_service_forms() {
    let want = AdmCommand::AddService {
        key: tcp("198.18.0.100:80"),
        scheduler: "rr".into(),
        options: Default::default(),
    };
    for args in [
        &["-A", "-t", "198.18.0.100:80", "-s", "rr"][..],
        &["-s", "rr", "-t", "198.18.0.100:80", "-A"],
        &["-At", "198.18.0.100:80", "-srr"],
        &["--add-service", "--tcp-service=198.18.0.100:80", "--scheduler", "rr"],
        &["--add-servi", "--tcp", "198.18.0.100:80", "--scheduler=rr"],
    ] {
        assert_eq!(cmd(args), want, "{args:?}");
    }
    assert_eq!(
        cmd(&["-A", "-u", "[2001:db8::1]:53", "-s", "wrr"]),
        AdmCommand::AddService {
            key: key(Protocol::Udp, "[2001:db8::1]:53"),
            scheduler: "wrr".into(),
            options: Default::default()
        }
    );
}

#[test]
fn edit_and_delete_service() {
    assert_eq!(
        cmd(&["-E", "-t", "198.18.0.100:80", "-s", "rr"]),
        AdmCommand::EditService {
            key: tcp("198.18.0.100:80"),
            scheduler: "rr".into(),
            options: Default::default()
        }
    );
    assert_eq!(
        cmd(&["--edit-service", "-t", "198.18.0.100:80"]),
        AdmCommand::EditService {
            key: tcp("198.18.0.100:80"),
            scheduler: "wlc".into(),
            options: Default::default()
        }
    );
    assert_eq!(cmd(&["-D", "-t", "198.18.0.100:80"]), AdmCommand::DelService { key: tcp("198.18.0.100:80") });
    assert_eq!(
        cmd(&["--delete-service", "-u", "198.18.0.100:53"]),
        AdmCommand::DelService { key: key(Protocol::Udp, "198.18.0.100:53") }
    );
    assert_eq!(cmd(&["-C"]), AdmCommand::Clear);
    assert_eq!(cmd(&["--clear"]), AdmCommand::Clear);
}

#[test]
fn add_server_defaults_fullnat_weight_1_and_vport() {
    assert_eq!(
        cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:80", 1, ForwardMethod::FullNat)
        }
    );
    // -r before -t still takes the VIP port.
    assert_eq!(
        cmd(&["-a", "-r", "198.19.0.11", "-t", "198.18.0.100:443"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:443"),
            real: real("198.19.0.11:443", 1, ForwardMethod::FullNat)
        }
    );
}

#[test]
fn add_and_edit_server_options() {
    assert_eq!(
        cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "-w", "5", "-b"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:8080", 5, ForwardMethod::FullNat)
        }
    );
    assert_eq!(
        cmd(&["-at", "198.18.0.100:80", "-r198.19.0.11:8080", "-mw", "0"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:8080", 0, ForwardMethod::Nat)
        }
    );
    // -g / -i force the VIP port, as in ipvsadm.
    assert_eq!(
        cmd(&["--add-server", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "--gatewaying"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:80", 1, ForwardMethod::DirectRoute)
        }
    );
    assert_eq!(
        cmd(&["-e", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-w", "65535", "-i"]),
        AdmCommand::EditReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:80", 65535, ForwardMethod::Tunnel)
        }
    );
    assert_eq!(
        cmd(&["--edit-server", "-t", "198.18.0.100:80", "--real-server=198.19.0.11:80", "--weight=3"]),
        AdmCommand::EditReal {
            service: tcp("198.18.0.100:80"),
            real: real("198.19.0.11:80", 3, ForwardMethod::FullNat)
        }
    );
    assert_eq!(
        cmd(&["-a", "-t", "[2001:db8::1]:80", "-r", "[2001:db8::11]"]),
        AdmCommand::AddReal {
            service: tcp("[2001:db8::1]:80"),
            real: real("[2001:db8::11]:80", 1, ForwardMethod::FullNat)
        }
    );
}

#[test]
fn delete_server() {
    assert_eq!(
        cmd(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.11:80".parse().unwrap() }
    );
    assert_eq!(
        cmd(&["--delete-server", "-t", "198.18.0.100:80", "-r", "198.19.0.11"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.11:80".parse().unwrap() }
    );
    assert_eq!(
        err(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80", "-w", "2"]),
        "Illegal 'weight' option with the 'delete-server' command"
    );
}

#[test]
fn local_addresses() {
    let lip: IpAddr = "198.19.0.200".parse().unwrap();
    assert_eq!(
        cmd(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.200"]),
        AdmCommand::AddLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
    );
    assert_eq!(
        cmd(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.200", "-F", "dpdk0"]),
        AdmCommand::AddLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
    );
    assert_eq!(
        cmd(&["--del-laddr", "-t", "198.18.0.100:80", "--laddr=198.19.0.200", "--ifname=dpdk0"]),
        AdmCommand::DelLocalAddr { service: tcp("198.18.0.100:80"), addr: lip }
    );
    assert_eq!(
        cmd(&["-G", "-t", "198.18.0.100:80"]),
        AdmCommand::GetLocalAddrs { service: Some(tcp("198.18.0.100:80")) }
    );
    assert_eq!(cmd(&["--get-laddr"]), AdmCommand::GetLocalAddrs { service: None });
    assert_eq!(
        err(&["-P", "-t", "198.18.0.100:80"]),
        "You need to supply the 'local-address' option for the 'add-laddr' command"
    );
    assert_eq!(
        err(&["-P", "-t", "198.18.0.100:80", "-z", "198.19.0.2000"]),
        "illegal local address: `198.19.0.2000'"
    );
    assert_eq!(
        err(&["-Q", "-t", "198.18.0.100:80", "-z", "198.19.0.200:80"]),
        "illegal local address: `198.19.0.200:80'"
    );
}

#[test]
fn list_forms_and_combined_flags() {
    assert_eq!(cmd(&[]), list(None, ListView::Services, false, false));
    assert_eq!(cmd(&["-L"]), list(None, ListView::Services, false, false));
    assert_eq!(cmd(&["-l"]), list(None, ListView::Services, false, false));
    assert_eq!(cmd(&["--list"]), list(None, ListView::Services, false, false));
    for args in [&["-Ln"][..], &["-L", "-n"], &["-n", "-L"], &["-nL"], &["--list", "--numeric"], &["-ln"]] {
        assert_eq!(cmd(args), list(None, ListView::Services, true, false), "{args:?}");
    }
    for args in [&["-Lnc"][..], &["-lnc"], &["-L", "-n", "-c"], &["-cnL"], &["-Ln", "--connection"]] {
        assert_eq!(cmd(args), list(None, ListView::Connections, true, false), "{args:?}");
    }
    assert_eq!(
        cmd(&["-Ln", "-t", "198.18.0.100:80"]),
        list(Some(tcp("198.18.0.100:80")), ListView::Services, true, false)
    );
    assert_eq!(
        cmd(&["-Lnt", "198.18.0.100:80", "--stats"]),
        list(Some(tcp("198.18.0.100:80")), ListView::Stats, true, false)
    );
    assert_eq!(cmd(&["-Ln", "--stats", "--exact"]), list(None, ListView::Stats, true, true));
    assert_eq!(cmd(&["-LnX", "--stats"]), list(None, ListView::Stats, true, true));
    assert_eq!(cmd(&["-Ln", "--rate"]), list(None, ListView::Rate, true, false));
    assert_eq!(cmd(&["-L", "--timeout"]), list(None, ListView::Timeout, false, false));
    assert_eq!(cmd(&["--workers"]), list(None, ListView::Workers, false, false));
    assert_eq!(cmd(&["-L", "--workers"]), list(None, ListView::Workers, false, false));
    let AdmCommand::List(sorted) = cmd(&["-Ln", "--sort"]) else { panic!() };
    assert!(sorted.sort);
    assert_eq!(cmd(&["-Ln", "--nosort"]), list(None, ListView::Services, true, false));
    assert_eq!(err(&["-Ln", "--sort", "--nosort"]), "multiple 'sort' options specified");
    assert_eq!(cmd(&["-Ln", "--thresholds"]), list(None, ListView::Thresholds, true, false));
    assert_eq!(cmd(&["-Ln", "--thresholds", "--stats"]), list(None, ListView::Stats, true, false));
    assert_eq!(
        err(&["-A", "-t", "198.18.0.100:80", "--thresholds"]),
        "Illegal 'thresholds' option with the 'add-service' command"
    );
}

#[test]
fn bare_persistent_is_300_seconds_as_ipvsadm() {
    let p = |args: &[&str]| match cmd(args) {
        AdmCommand::AddService { options, .. } | AdmCommand::EditService { options, .. } => {
            options.persistence
        }
        other => panic!("{other:?}"),
    };
    let five_min = Some(Persistence { timeout: 300, prefix_len: 32 });
    assert_eq!(p(&["-A", "-t", "198.18.0.100:80", "-p"]), five_min);
    assert_eq!(p(&["-A", "-p", "-t", "198.18.0.100:80", "-s", "rr"]), five_min);
    assert_eq!(
        p(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-p", "-M", "255.255.255.0"]),
        Some(Persistence { timeout: 300, prefix_len: 24 })
    );
    assert_eq!(
        p(&["-A", "-t", "198.18.0.100:80", "-p", "60"]),
        Some(Persistence { timeout: 60, prefix_len: 32 })
    );
    assert_eq!(
        p(&["-A", "-t", "198.18.0.100:80", "-p60"]),
        Some(Persistence { timeout: 60, prefix_len: 32 })
    );
    assert_eq!(
        p(&["-A", "-t", "198.18.0.100:80", "--persistent=90"]),
        Some(Persistence { timeout: 90, prefix_len: 32 })
    );
    assert_eq!(p(&["-A", "-t", "198.18.0.100:80", "--persistent"]), five_min);
    assert_eq!(err(&["-A", "-t", "198.18.0.100:80", "-p0"]), "invalid timeout value `0' specified");
}

#[test]
fn list_conflicts() {
    assert_eq!(
        err(&["-Lnc", "-t", "198.18.0.100:80"]),
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(err(&["-Lc", "--stats"]), "options conflicts in the list command");
    assert_eq!(err(&["-L", "--timeout", "--rate"]), "options conflicts in the list command");
    assert_eq!(
        err(&["-L", "--timeout", "-c"]),
        "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(err(&["-L", "-s", "rr"]), "Illegal 'scheduler' option with the 'list' command");
}

#[test]
fn set_timeouts() {
    assert_eq!(
        cmd(&["--set", "900", "120", "300"]),
        AdmCommand::SetTimeouts(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 })
    );
    assert_eq!(
        cmd(&["--set", "0", "0", "60"]),
        AdmCommand::SetTimeouts(Timeouts { tcp: 0, tcp_fin: 0, udp: 60 })
    );
    assert_eq!(err(&["--set", "900", "120"]), "--set option requires 3 timeout values");
    assert_eq!(err(&["--set", "900", "x", "300"]), "invalid timeout value `x' specified");
    assert_eq!(err(&["--set", "900", "120", "2678401"]), "invalid timeout value `2678401' specified");
    assert_eq!(err(&["--set", "1", "2", "3", "4"]), "unexpected argument 4");
}

#[test]
fn save_restore_help_version_socket() {
    assert_eq!(cmd(&["-S"]), AdmCommand::Save { numeric: false });
    assert_eq!(cmd(&["-Sn"]), AdmCommand::Save { numeric: true });
    assert_eq!(cmd(&["--restore"]), AdmCommand::Restore);
    assert_eq!(parse_args(&["-h"]).unwrap().action, Action::Help);
    assert_eq!(parse_args(&["--help"]).unwrap().action, Action::Help);
    assert_eq!(parse_args(&["-v"]).unwrap().action, Action::Version);
    assert_eq!(parse_args(&["--version"]).unwrap().action, Action::Version);
    let inv = parse_args(&["--socket", "/tmp/x.sock", "-Ln"]).unwrap();
    assert_eq!(inv.socket.as_deref(), Some("/tmp/x.sock"));
    assert_eq!(inv.action, Action::Command(list(None, ListView::Services, true, false)));
    let inv = parse_args(&["-C", "--socket=/tmp/y.sock"]).unwrap();
    assert_eq!(inv.socket.as_deref(), Some("/tmp/y.sock"));
    assert_eq!(
        parse_args(&["--socket", "/s"]).unwrap().action,
        Action::Command(list(None, ListView::Services, false, false))
    );
}

#[test]
fn bad_addresses_name_the_text() {
    assert_eq!(
        err(&["-A", "-t", "198.18.0.300:80"]),
        "illegal virtual server address[:port] specified: `198.18.0.300:80'"
    );
    assert_eq!(
        err(&["-A", "-t", "198.18.0.100:99999"]),
        "illegal virtual server address[:port] specified: `198.18.0.100:99999'"
    );
    // Host names are looked up (compat_tests); this is not one.
    assert_eq!(
        err(&["-A", "-t", "www example:80"]),
        "illegal virtual server address[:port] specified: `www example:80'"
    );
    assert_eq!(
        err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0:80"]),
        "illegal real server address[:port] specified: `198.19.0:80'"
    );
    assert_eq!(err(&["-A", "-t", "[::1:80"]), "illegal virtual server address[:port] specified: `[::1:80'");
    assert_eq!(err(&["-A", "-t", "198.18.0.100"]), "Zero port specified for non-persistent service");
}

#[test]
fn usage_errors() {
    assert_eq!(err(&["-A"]), "You need to supply the 'service-address' option for the 'add-service' command");
    assert_eq!(
        err(&["-a", "-t", "198.18.0.100:80"]),
        "You need to supply the 'real-server' option for the 'add-server' command"
    );
    assert_eq!(err(&["-A", "-D", "-t", "198.18.0.100:80"]), "multiple commands specified");
    assert_eq!(err(&["-AD", "-t", "198.18.0.100:80"]), "multiple commands specified");
    assert_eq!(
        err(&["-A", "-t", "1.2.3.4:80", "-u", "1.2.3.4:80"]),
        "multiple 'service-address' options specified"
    );
    assert_eq!(
        err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-b", "-m"]),
        "multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        err(&["-A", "-t", "1.2.3.4:80", "-w", "2"]),
        "Illegal 'weight' option with the 'add-service' command"
    );
    assert_eq!(
        err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-w", "65536"]),
        "illegal weight specified: `65536'"
    );
    assert_eq!(
        err(&["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-w", "-1"]),
        "illegal weight specified: `-1'"
    );
    assert_eq!(
        err(&["-a", "-t", "1.2.3.4:80", "-r", "[::1]:80"]),
        "real server and virtual service address families differ"
    );
    // NAT64 is FULLNAT only.
    assert!(err(&["-a", "-t", "[2001:db8::1]:80", "-r", "5.6.7.8:80", "-g"]).contains("NAT64"));
    assert!(err(&["-a", "-t", "[2001:db8::1]:80", "-r", "5.6.7.8:80", "-m"]).contains("families differ"));
    assert_eq!(err(&["-A", "-t"]), "option `-t' requires an argument");
    assert_eq!(err(&["--add-service", "--tcp-service"]), "option `--tcp-service' requires an argument");
    assert_eq!(
        err(&["-Lq"]),
        "option `-q' is not supported by rvsadm: rvsd balances TCP and UDP services only"
    );
    assert_eq!(err(&["-K"]), "invalid option -- 'K'");
    assert_eq!(err(&["--bogus"]), "invalid option `--bogus'");
    assert_eq!(err(&["--list=yes"]), "option `--list' doesn't allow an argument");
    assert_eq!(err(&["--add"]), "option `--add' is ambiguous (--add-service, --add-server, --add-laddr)");
    assert_eq!(
        err(&["--ops"]),
        "option `--ops' is not supported by rvsadm: rvsd has no one-packet scheduling: each UDP flow keeps a session"
    );
    assert_eq!(err(&["-n"]), "no command specified");
    assert_eq!(err(&["-C", "extra"]), "unexpected argument extra");
    assert_eq!(err(&["-C", "-t", "1.2.3.4:80"]), "Illegal 'service-address' option with the 'clear' command");
    assert_eq!(err(&["-L", "-n", "-n"]), "multiple 'numeric' options specified");
}

#[test]
fn double_dash_ends_options() {
    assert_eq!(
        cmd(&["--set", "--", "1", "2", "3"]),
        AdmCommand::SetTimeouts(Timeouts { tcp: 1, tcp_fin: 2, udp: 3 })
    );
}

#[test]
fn addr_port_parsing() {
    assert_eq!(parse_addr_port("10.0.0.1:80"), Some(("10.0.0.1".parse().unwrap(), Some(80))));
    assert_eq!(parse_addr_port("10.0.0.1"), Some(("10.0.0.1".parse().unwrap(), None)));
    assert_eq!(parse_addr_port("[::1]:80"), Some(("::1".parse().unwrap(), Some(80))));
    assert_eq!(parse_addr_port("[::1]"), Some(("::1".parse().unwrap(), None)));
    assert_eq!(parse_addr_port("fe80::1"), Some(("fe80::1".parse().unwrap(), None)));
    assert_eq!(parse_addr_port("10.0.0.1:"), None);
    assert_eq!(parse_addr_port("10.0.0.1:+80"), None);
    assert_eq!(parse_addr_port("[::1]80"), None);
    assert_eq!(parse_addr_port(""), None);
}

#[test]
fn restore_line_splitting() {
    assert_eq!(split_line("  # comment").unwrap(), None);
    assert_eq!(split_line("").unwrap(), None);
    assert_eq!(
        split_line("-A -t 198.18.0.100:80 -s rr # trailing").unwrap(),
        Some(vec!["-A".into(), "-t".into(), "198.18.0.100:80".into(), "-s".into(), "rr".into()])
    );
    assert_eq!(split_line("-s 'r r'").unwrap(), Some(vec!["-s".into(), "r r".into()]));
    assert!(split_line("-s 'rr").is_err());
}

/// ipvsadm -R drops every word that is exactly `ipvsadm` (config_stream_read), so a
/// script's lines restore as they are (kubernetes/kubernetes#17470, LTP's ipvsadm.sh).
#[test]
fn restore_lines_drop_the_ipvsadm_word() {
    let words = |l: &str| split_line(l).unwrap().unwrap();
    assert_eq!(
        words("ipvsadm -a -t 10.9.8.7:12345 -m -r 10.244.1.27:9376"),
        words("-a -t 10.9.8.7:12345 -m -r 10.244.1.27:9376")
    );
    assert_eq!(words("ipvsadm --set 0 0 15"), ["--set", "0", "0", "15"]);
    assert_eq!(split_line("ipvsadm").unwrap(), None);
    assert_eq!(split_line("  ipvsadm  # list").unwrap(), None);
    // A path, or sudo, is not dropped: ipvsadm refuses it too ("unexpected argument").
    assert_eq!(words("/sbin/ipvsadm -C"), ["/sbin/ipvsadm", "-C"]);
    assert_eq!(parse_args(&words("/sbin/ipvsadm -C")).unwrap_err().0, "unexpected argument /sbin/ipvsadm");
}

#[test]
fn zero_and_reload() {
    assert_eq!(cmd(&["-Z"]), AdmCommand::Zero { service: None });
    assert_eq!(
        cmd(&["--zero", "-t", "198.18.0.100:80"]),
        AdmCommand::Zero {
            service: Some(ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() })
        }
    );
    assert_eq!(err(&["-Z", "-r", "198.19.0.11"]), "Illegal 'real-server' option with the 'zero' command");
    assert_eq!(cmd(&["--reload"]), AdmCommand::Reload { pidfile: crate::adm::DEFAULT_CTRL_PIDFILE.into() });
    assert_eq!(
        cmd(&["--reload", "--pidfile", "/tmp/c.pid"]),
        AdmCommand::Reload { pidfile: "/tmp/c.pid".into() }
    );
    assert_eq!(err(&["-Ln", "--pidfile=/x"]), "Illegal 'pidfile' option with the 'list' command");
    assert_eq!(err(&["--reload", "-n"]), "Illegal 'numeric' option with the 'reload' command");
}

fn ipvsadm(args: &[&str]) -> AdmCommand {
    match parse_args_as(args, Dialect::Ipvsadm) {
        Ok(Invocation { action: Action::Command(c), .. }) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn dialect_from_the_program_name() {
    assert_eq!(Dialect::from_argv0("/usr/sbin/ipvsadm"), Dialect::Ipvsadm);
    assert_eq!(Dialect::from_argv0("ipvsadm"), Dialect::Ipvsadm);
    assert_eq!(Dialect::from_argv0("/usr/bin/rvsadm"), Dialect::Rvsadm);
    assert_eq!(Dialect::from_argv0("ipvsadm.sh"), Dialect::Rvsadm);
}

#[test]
fn forwarding_method_defaults_differ_by_dialect() {
    let svc = tcp("198.18.0.100:80");
    // ipvsadm's default is -g; rvsadm's is FULLNAT.
    assert_eq!(
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80"]),
        AdmCommand::AddReal { service: svc, real: real("198.19.0.11:80", 1, ForwardMethod::DirectRoute) }
    );
    assert_eq!(
        cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:80"]),
        AdmCommand::AddReal { service: svc, real: real("198.19.0.11:80", 1, ForwardMethod::FullNat) }
    );
    // -g/-i keep the service's port, as ipvsadm.
    assert_eq!(
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:8080", "-g", "-w", "3"]),
        AdmCommand::AddReal { service: svc, real: real("198.19.0.11:80", 3, ForwardMethod::DirectRoute) }
    );
    for (flag, m) in
        [("-m", ForwardMethod::Nat), ("-i", ForwardMethod::Tunnel), ("--fullnat", ForwardMethod::FullNat)]
    {
        let AdmCommand::AddReal { real: r, .. } =
            ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", flag])
        else {
            panic!()
        };
        assert_eq!(r.method, m, "{flag}");
    }
}

#[test]
fn ipvsadm_b_is_sched_flags_and_lists_sort() {
    let AdmCommand::AddService { options, .. } =
        ipvsadm(&["-A", "-t", "198.18.0.100:80", "-s", "sh", "-b", "sh-port"])
    else {
        panic!()
    };
    assert_eq!(options.sched_flags, ["sh-port"]);
    let AdmCommand::AddReal { real: r, .. } =
        cmd(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-b"])
    else {
        panic!()
    };
    assert_eq!(r.method, ForwardMethod::FullNat, "rvsadm's -b is DPVS's --fullnat");
    let AdmCommand::List(l) = ipvsadm(&["-L", "-n"]) else { panic!() };
    assert!(l.sort, "ipvsadm sorts");
    let AdmCommand::List(l) = ipvsadm(&["-L", "-n", "--nosort"]) else { panic!() };
    assert!(!l.sort);
    // As ipvsadm's parse_sched_flags: sh's and mh's flags with their scheduler only (given
    // anywhere on the line, else wlc), an unknown one never.
    let bad = |args: &[&str]| parse_args_as(args, Dialect::Ipvsadm).unwrap_err().0;
    assert_eq!(
        bad(&["-A", "-t", "198.18.0.1:80", "-s", "rr", "-b", "sh-port"]),
        "incompatible scheduler flag `sh-port'"
    );
    assert_eq!(
        bad(&["-A", "-t", "198.18.0.1:80", "-b", "mh-fallback"]),
        "incompatible scheduler flag `mh-fallback'"
    );
    assert_eq!(
        bad(&["-E", "-t", "198.18.0.1:80", "-s", "sh", "-b", "sh-port,mh-port"]),
        "incompatible scheduler flag `mh-port'"
    );
    assert_eq!(
        bad(&["-A", "-t", "198.18.0.1:80", "-s", "sh", "-b", "sh-pot"]),
        "invalid scheduler flag `sh-pot'"
    );
    ipvsadm(&["-A", "-t", "198.18.0.1:80", "-b", "mh-port,mh-fallback", "-s", "mh"]);
    ipvsadm(&["-A", "-t", "198.18.0.1:80", "-s", "rr", "-b", "flag-1"]);
}

#[test]
fn tunnel_types_and_install_alias() {
    let AdmCommand::AddReal { real: r, .. } =
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-i", "--tun-type", "ipip"])
    else {
        panic!()
    };
    assert_eq!((r.method, r.tunnel), (ForwardMethod::Tunnel, None));
    let AdmCommand::AddReal { real: r, .. } = ipvsadm(&[
        "-a",
        "-t",
        "198.18.0.100:80",
        "-r",
        "198.19.0.11",
        "-i",
        "--tun-type",
        "gue",
        "--tun-port",
        "6080",
    ]) else {
        panic!()
    };
    assert_eq!(r.tunnel, Some(rvs_proto::TunnelEncap { port: 6080 }));
    let e = parse_args_as(
        &["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "-g", "--tun-type", "ipip"],
        Dialect::Ipvsadm,
    );
    assert_eq!(e.unwrap_err().0, "--tun-type applies to tunneling (-i) only");
    assert_eq!(cmd(&["--install-alias"]), AdmCommand::InstallAlias { dir: DEFAULT_ALIAS_DIR.into() });
    assert_eq!(cmd(&["--install-alias", "/tmp/x"]), AdmCommand::InstallAlias { dir: "/tmp/x".into() });
}

#[test]
fn takeover_release_owned_and_sync() {
    let cmd = |a: &[&str]| match parse_args(a).unwrap().action {
        Action::Command(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(cmd(&["--takeover"]), AdmCommand::Takeover { addrs: vec![] });
    let two: Vec<IpAddr> = vec!["198.18.0.100".parse().unwrap(), "198.19.0.200".parse().unwrap()];
    assert_eq!(
        cmd(&["--takeover", "198.18.0.100,198.19.0.200"]),
        AdmCommand::Takeover { addrs: two.clone() }
    );
    assert_eq!(cmd(&["--release", "198.18.0.100", "198.19.0.200"]), AdmCommand::Release { addrs: two });
    assert_eq!(cmd(&["--owned"]), AdmCommand::Owned);
    assert_eq!(cmd(&["--sync"]), AdmCommand::Sync);
    assert_eq!(cmd(&["-L", "--daemon"]), AdmCommand::Sync);
    assert_eq!(cmd(&["-Ln", "--daemon"]), AdmCommand::Sync);
    assert_eq!(cmd(&["--cluster"]), AdmCommand::Cluster);
    assert_eq!(cmd(&["--cluster", "--leave"]), AdmCommand::ClusterLeave);
    assert!(parse_args(&["--sync", "--leave"]).is_err());
    assert!(parse_args(&["--leave"]).is_err());
    assert!(parse_args(&["--takeover", "198.18.0.100:80"]).is_err());
    assert!(parse_args(&["--takeover", "-t", "198.18.0.100:80"]).is_err());
    assert!(parse_args(&["-A", "-t", "198.18.0.100:80", "--daemon"]).is_err());
    assert!(parse_args(&["--owned", "198.18.0.100"]).is_err());
}

#[test]
fn lists_and_limits() {
    let want = AdmCommand::EditService {
        key: key(Protocol::Udp, "198.18.0.100:53"),
        scheduler: "rr".into(),
        options: ServiceOptions {
            allow: vec!["198.18.0.0/24".parse().unwrap(), "198.18.1.7".parse().unwrap()],
            deny: vec!["198.18.0.66".parse().unwrap()],
            source_conn_rate: Some(rvs_proto::RateLimit { rate: 50, burst: 100 }),
            conn_rate: Some(rvs_proto::RateLimit { rate: 1000, burst: 1000 }),
            max_conns: 300,
            ..Default::default()
        },
    };
    assert_eq!(
        cmd(&[
            "-E",
            "-u",
            "198.18.0.100:53",
            "-s",
            "rr",
            "--allow",
            "198.18.0.0/24,198.18.1.7",
            "--deny",
            "198.18.0.66",
            "--source-rate",
            "50:100",
            "--conn-rate",
            "1000",
            "--max-conns",
            "300"
        ]),
        want
    );
    assert_eq!(
        err(&["-E", "-t", "198.18.0.100:80", "--deny", "198.18.0.1/24"]),
        "illegal deny prefix: 198.18.0.1/24 has host bits set (the network is 198.18.0.0/24)"
    );
    assert!(err(&["-E", "-t", "198.18.0.100:80", "--source-rate", "0"]).starts_with("illegal source-rate"));
    assert!(err(&["-E", "-t", "198.18.0.100:80", "--max-conns", "none"]).starts_with("illegal max-conns"));
    assert_eq!(
        err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11", "--max-conns", "5"]),
        "Illegal 'max-conns' option with the 'add-server' command"
    );
}
