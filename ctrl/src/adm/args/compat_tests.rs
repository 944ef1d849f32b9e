//! ipvsadm compatibility of the parser: command lines as operators' scripts write them,
//! checked against ipvsadm 1.31's parse_options/process_options.

use super::*;

fn ipvsadm(args: &[&str]) -> AdmCommand {
    match parse_args_as(args, Dialect::Ipvsadm) {
        Ok(Invocation { action: Action::Command(c), .. }) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn ipvsadm_err(args: &[&str]) -> String {
    match parse_args_as(args, Dialect::Ipvsadm) {
        Err(UsageError(m)) => m,
        other => panic!("{args:?} should fail, got {other:?}"),
    }
}

fn tcp(a: &str) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: a.parse().unwrap() }
}

/// LVS's catch-all: `-A -t VIP:0 -p` (or `-t VIP`, whose port is 0) is every port of the
/// VIP, and a real server given without a port gets 0, the port each client asked for.
/// Without -p, ipvsadm's error.
#[test]
fn a_persistent_port_zero_service_is_accepted() {
    let want = AdmCommand::AddService {
        key: tcp("198.18.0.100:0"),
        scheduler: "rr".into(),
        options: ServiceOptions {
            persistence: Some(Persistence { timeout: 300, prefix_len: 32 }),
            ..Default::default()
        },
    };
    assert_eq!(ipvsadm(&["-A", "-t", "198.18.0.100:0", "-s", "rr", "-p"]), want);
    assert_eq!(ipvsadm(&["-A", "-t", "198.18.0.100", "-s", "rr", "-p", "300"]), want);
    assert_eq!(
        ipvsadm(&["-a", "-t", "198.18.0.100:0", "-r", "198.19.0.11", "-m"]),
        AdmCommand::AddReal {
            service: tcp("198.18.0.100:0"),
            real: RealSpec {
                thresholds: Default::default(),
                addr: "198.19.0.11:0".parse().unwrap(),
                weight: 1,
                method: ForwardMethod::Nat,
                tunnel: None
            }
        }
    );
    assert_eq!(
        ipvsadm_err(&["-A", "-t", "198.18.0.100:0", "-s", "rr"]),
        "Zero port specified for non-persistent service"
    );
}

/// `-d` takes the real server's port as given (ipvsadm copies the service's port only for
/// `-a`/`-e` with -g/-i, or when `-r` has none): a NAT server on another port is deleted.
#[test]
fn delete_server_keeps_the_given_port() {
    assert_eq!(
        ipvsadm(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.13:8080"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.13:8080".parse().unwrap() }
    );
    assert_eq!(
        ipvsadm(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.13"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.13:80".parse().unwrap() }
    );
}

/// ipvsadm's parse_service takes host names (gethostbyname, IPv4) and port names
/// (getservbyname for the service's protocol): `-t www.example.com:http`, `-u VIP:domain`.
#[test]
fn host_and_port_names() {
    assert_eq!(ipvsadm(&["-A", "-t", "198.18.0.100:http"]), ipvsadm(&["-A", "-t", "198.18.0.100:80"]));
    assert_eq!(ipvsadm(&["-A", "-t", "localhost:https"]), ipvsadm(&["-A", "-t", "127.0.0.1:443"]));
    assert_eq!(ipvsadm(&["-D", "-u", "198.18.0.100:domain"]), ipvsadm(&["-D", "-u", "198.18.0.100:53"]));
    assert_eq!(ipvsadm(&["-A", "-t", "[2001:db8::1]:http"]), ipvsadm(&["-A", "-t", "[2001:db8::1]:80"]));
    // -r's port name is looked up for the service's protocol, whichever comes first.
    assert_eq!(
        ipvsadm(&["-a", "-r", "localhost:http", "-t", "198.18.0.100:80", "-m"]),
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "127.0.0.1:80", "-m"])
    );
    assert_eq!(
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "localhost"]),
        ipvsadm(&["-a", "-t", "198.18.0.100:80", "-r", "127.0.0.1"])
    );
    assert_eq!(ipvsadm(&["-L", "-n", "-t", "localhost:http"]), ipvsadm(&["-L", "-n", "-t", "127.0.0.1:80"]));
    // A number alone is not a host (ipvsadm's str_is_digit), an unknown port name fails.
    assert_eq!(ipvsadm_err(&["-A", "-t", "80"]), "illegal virtual server address[:port] specified: `80'");
    assert_eq!(
        ipvsadm_err(&["-A", "-t", "198.18.0.100:no-such-service"]),
        "illegal virtual server address[:port] specified: `198.18.0.100:no-such-service'"
    );
    assert_eq!(
        ipvsadm_err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.11:no-such-service"]),
        "illegal real server address[:port] specified: `198.19.0.11:no-such-service'"
    );
}

/// `--tun-nocsum` (what ipvsadm -S writes for GUE) is rvsd's GUE; the checksum options
/// rvsd lacks and the other IPVS-only options are refused by name, not as unknown.
#[test]
fn tunnel_checksum_options_and_unsupported_ones() {
    let gue =
        ["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.12", "-i", "--tun-type", "gue", "--tun-port", "6080"];
    let mut nocsum = gue.to_vec();
    nocsum.push("--tun-nocsum");
    assert_eq!(ipvsadm(&nocsum), ipvsadm(&gue));
    assert_eq!(
        ipvsadm_err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.12", "-i", "--tun-nocsum"]),
        "Illegal 'tun-nocsum' option with the 'ipip' tunnel type"
    );
    assert_eq!(
        ipvsadm_err(&["-a", "-t", "198.18.0.100:80", "-r", "198.19.0.12", "-m", "--tun-nocsum"]),
        "Tunnel options conflict with forward method"
    );
    for o in [
        "--sctp-service",
        "--tun-csum",
        "--tun-remcsum",
        "--tun-info",
        "--mcast-group",
        "--mcast-port",
        "--mcast-ttl",
        "--sync-maxlen",
    ] {
        let e = ipvsadm_err(&["-L", o, "x"]);
        let (head, why) = e.split_once(": ").unwrap_or_else(|| panic!("{o}: no reason in {e:?}"));
        assert_eq!(head, format!("option `{o}' is not supported by rvsadm"));
        assert!(!why.is_empty() && why != "rvsd has no such feature", "{o}: {why}");
    }
}

/// ipvsadm's wording for a bad `-p` value (parse_timeout) and its list options: `--stats`
/// or `--rate` with `--thresholds` is no conflict (the counters win, as print_title).
#[test]
fn persistent_timeout_wording_and_list_precedence() {
    assert_eq!(
        ipvsadm_err(&["-A", "-t", "198.18.0.100:80", "-p", "0"]),
        "invalid timeout value `0' specified"
    );
    let AdmCommand::List(l) = ipvsadm(&["-Ln", "--stats", "--thresholds"]) else { panic!() };
    assert_eq!(l.view, ListView::Stats);
    let AdmCommand::List(l) = ipvsadm(&["-Ln", "--thresholds", "--rate"]) else { panic!() };
    assert_eq!(l.view, ListView::Rate);
    assert_eq!(ipvsadm_err(&["-Lnc", "--thresholds"]), "options conflicts in the list command");
}

/// `-M` without `-p` is taken, checked and unused, as ipvsadm takes it (a line of LTP's
/// ipvsadm.sh, whose expected `-Sn` has no `-M`).
#[test]
fn netmask_without_persistence_is_taken() {
    let udp = ServiceKey { protocol: Protocol::Udp, addr: "192.168.1.2:69".parse().unwrap() };
    assert_eq!(
        ipvsadm(&["-A", "-u", "192.168.1.2:69", "-M", "255.255.0.0", "-s", "lc"]),
        AdmCommand::AddService { key: udp, scheduler: "lc".into(), options: ServiceOptions::default() }
    );
    assert_eq!(
        ipvsadm(&["-E", "-t", "198.18.0.100:80", "-s", "rr", "-M", "255.255.255.0"]),
        ipvsadm(&["-E", "-t", "198.18.0.100:80", "-s", "rr"])
    );
    assert_eq!(
        ipvsadm_err(&["-A", "-u", "192.168.1.2:69", "-M", "255.0.255.0"]),
        "illegal netmask: `255.0.255.0'"
    );
}

/// Every option rvsadm knows and refuses says why, in words of its own.
#[test]
fn every_refused_option_says_why() {
    use super::table::{unsupported_why, Flag, SPECS};
    for s in SPECS.iter().filter(|s| s.flag == Flag::Unsupported) {
        assert_ne!(unsupported_why(s.long), "rvsd has no such feature", "--{}", s.long);
    }
}
