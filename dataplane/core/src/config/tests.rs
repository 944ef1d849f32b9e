//! The config reader's tests of the top-level keys ([dataplane], [[port]], [timeouts],
//! [synproxy]) and of what every error names.

use super::*;

const GOOD: &str = r#"
[dataplane]
eal_args = ["--no-huge"]
workers = [1]

[[port]]
name = "client"
device = "net_af_packet0"
devargs = "iface=lb-c"
addresses = ["198.18.0.1/24"]

[[port]]
name = "server"
device = "0000:03:00.0"
addresses = ["198.19.0.1/24"]

[[route]]
prefix = "198.18.8.0/24"
via = "198.18.0.254"

[timeouts]
tcp = 60

[[service]]
protocol = "tcp"
address = "198.18.0.100:80"
scheduler = "wrr"
local_addresses = ["198.19.0.200"]
real = [ { address = "198.19.0.11:80", weight = 2 }, { address = "198.19.0.12" } ]
"#;

fn p(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("rvsd.toml"), text)
}

#[test]
fn parses_a_full_config() {
    let c = p(GOOD).unwrap();
    assert_eq!(c.dataplane.workers, vec![1]);
    assert_eq!(c.dataplane.main_cpu, 1);
    assert_eq!(c.ports.len(), 2);
    assert!(!c.ports[0].is_pci());
    assert!(c.ports[1].is_pci());
    assert_eq!(c.ports[0].line, 8);
    assert_eq!(c.routes[0].via, Some(Ipv4Addr::new(198, 18, 0, 254)));
    assert_eq!(c.timeouts, Timeouts { tcp: 60, tcp_fin: 120, udp: 300 });
    let s = &c.services[0];
    assert_eq!(s.spec.scheduler, "wrr");
    assert_eq!(s.reals[0].0.weight, 2);
    assert_eq!(s.reals[1].0.addr, "198.19.0.12:80".parse().unwrap(), "rport defaults to the vport");
    assert_eq!(s.reals[1].0.weight, 1);
}

#[test]
fn real_servers_take_a_method() {
    let text = GOOD.replace("weight = 2 }", "weight = 2, method = \"dr\" }");
    let c = p(&text).unwrap();
    assert_eq!(c.services[0].reals[0].0.method, rvs_proto::ForwardMethod::DirectRoute);
    assert_eq!(c.services[0].reals[1].0.method, rvs_proto::ForwardMethod::FullNat, "the default");
    for (m, want) in [("nat", rvs_proto::ForwardMethod::Nat), ("tun", rvs_proto::ForwardMethod::Tunnel)] {
        let c = p(&GOOD.replace("weight = 2 }", &format!("weight = 2, method = \"{m}\" }}"))).unwrap();
        assert_eq!(c.services[0].reals[0].0.method, want);
    }
    let e = p(&GOOD.replace("weight = 2 }", "weight = 2, method = \"bridge\" }")).unwrap_err();
    assert!(e.to_string().contains("unknown method `bridge`"), "{e}");
    assert_eq!(e.line, 29);
}

fn err_line(text: &str) -> (usize, String) {
    let e = p(text).unwrap_err();
    (e.line, e.to_string())
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("unknown key", "workers = [1]\n", 0, "unknown field"),
        ("bad address", "\"198.19.0.11:80\"", 0, "bad real server address"),
        ("bad scheduler", "\"wrr\"", 0, "unknown scheduler"),
        ("bad cidr", "\"198.18.0.1/24\"", 0, "bad address"),
    ];
    for (what, needle, _, msg) in cases {
        let replaced = match *what {
            "unknown key" => GOOD.replacen(needle, "workers = [1]\nbogus = 3\n", 1),
            "bad address" => GOOD.replacen(needle, "\"198.19.0.300:80\"", 1),
            "bad scheduler" => GOOD.replacen(needle, "\"nope\"", 1),
            "bad cidr" => GOOD.replacen(needle, "\"198.18.0.1/33\"", 1),
            _ => unreachable!(),
        };
        let bad_line = replaced
            .lines()
            .position(|l| l.contains("bogus") || l.contains("300") || l.contains("nope") || l.contains("/33"))
            .unwrap()
            + 1;
        let (line, text) = err_line(&replaced);
        assert_eq!(line, bad_line, "{what}: {text}");
        assert!(text.contains(msg), "{what}: {text}");
        assert!(text.starts_with(&format!("rvsd.toml:{bad_line}:")), "{text}");
    }
}

#[test]
fn syntax_error_names_the_line() {
    let (line, text) = err_line("[dataplane]\nworkers = = [1]\nmain_cpu = 0\n");
    assert_eq!(line, 2, "{text}");
}

#[test]
fn duplicate_real_and_service_are_refused() {
    let t = GOOD.replace("{ address = \"198.19.0.12\" }", "{ address = \"198.19.0.11:80\" }");
    assert!(p(&t).unwrap_err().message.contains("twice"));
}

#[test]
fn route_gateway_must_be_connected() {
    let t = GOOD.replace("via = \"198.18.0.254\"", "via = \"198.18.9.1\"");
    let (line, text) = err_line(&t);
    assert!(text.contains("connected"), "{text}");
    assert_eq!(line, t.lines().position(|l| l.contains("198.18.9.1")).unwrap() + 1);
}

#[test]
fn persistence_flags_and_thresholds() {
    let t = GOOD.replace(
        "scheduler = \"wrr\"",
        "scheduler = \"sh\"\nsched_flags = [\"sh-port\"]\npersistence_timeout = 60\npersistence_granularity = \"255.255.255.0\"",
    )
    .replace("weight = 2 }", "weight = 2, upper_threshold = 10, lower_threshold = 5 }");
    let c = p(&t).unwrap();
    let s = &c.services[0];
    assert_eq!(s.spec.options.sched_flags, vec!["sh-port".to_string()]);
    assert_eq!(s.spec.options.persistence, Some(rvs_proto::Persistence { timeout: 60, prefix_len: 24 }));
    assert_eq!(s.reals[0].0.thresholds, rvs_proto::Thresholds { upper: 10, lower: 5 });
    let bad = t.replace("255.255.255.0", "255.0.255.0");
    assert!(p(&bad).unwrap_err().message.contains("netmask"));
    let bad = t.replace("\"sh-port\"", "\"sh-nope\"");
    assert!(p(&bad).unwrap_err().message.contains("scheduler flag"));
    assert_eq!(netmask_prefix("/16"), Some(16));
    assert_eq!(netmask_prefix("255.255.255.255"), Some(32));
}

#[test]
fn port_mtu_and_proxy_send_and_mh_table_size() {
    let c = p(GOOD).unwrap();
    assert_eq!(c.ports[0].mtu, DEFAULT_MTU);
    let t = GOOD.replacen("addresses = [\"198.19.0.1/24\"]", "addresses = [\"198.19.0.1/24\"]\nmtu = 9000", 1).replace(
        "scheduler = \"wrr\"",
        "scheduler = \"mh\"\nmh_table_size = 251\nproxy_protocol = \"v2\"\nproxy_protocol_send = \"on-connect\"\nexpire_quiescent_template = true",
    );
    let c = p(&t).unwrap();
    assert_eq!(c.ports[1].mtu, 9000);
    let o = &c.services[0].spec.options;
    assert_eq!((o.mh_table_size, o.proxy_on_connect, o.expire_quiescent_template), (Some(251), true, true));
    for (from, to, msg) in [
        ("mtu = 9000", "mtu = 100", "port mtu must be between 576 and 9000"),
        ("mh_table_size = 251", "mh_table_size = 256", "mh table size 256 is not a prime"),
        ("\"on-connect\"", "\"later\"", "proxy_protocol_send must be"),
        ("proxy_protocol = \"v2\"\n", "", "proxy_protocol_send needs proxy_protocol"),
    ] {
        let bad = t.replace(from, to);
        let (line, text) = err_line(&bad);
        assert!(text.contains(msg), "{text}");
        let key = to.split(' ').next().filter(|k| !k.is_empty()).unwrap_or("proxy_protocol_send");
        let want = bad.lines().position(|l| l.contains(key)).unwrap() + 1;
        assert_eq!(line, want, "{text}");
    }
}

#[test]
fn synproxy_section() {
    let t = format!("{GOOD}\n[synproxy]\nmss = 1400\nwscale = 0\nheld_segments = 8\nrst_per_sec = 10\n");
    let c = p(&t).unwrap();
    assert_eq!(c.synproxy.handshake.mss, 1400);
    assert_eq!(c.synproxy.handshake.wscale, None);
    assert_eq!(c.synproxy.max_held, 8);
    assert_eq!(c.synproxy.rst_per_sec, 10);
    assert_eq!(c.synproxy.dup_ack_threshold, 10, "DPVS's default when absent");
    assert!(!c.synproxy.auto, "off unless asked");
    let t = format!("{GOOD}\n[synproxy]\nauto = true\n");
    assert!(p(&t).unwrap().synproxy.auto);
    let bad = format!("{GOOD}\n[synproxy]\nmss = 100\n");
    let (line, text) = err_line(&bad);
    assert!(text.contains("mss"), "{text}");
    assert_eq!(line, bad.lines().count());
}

#[test]
fn zero_timeouts_are_refused() {
    for (key, want) in [("tcp", 22), ("tcp_fin", 23), ("udp", 23)] {
        let t =
            GOOD.replace("tcp = 60", &format!("tcp = 60\n{key} = 0")).replace("tcp = 60\ntcp = 0", "tcp = 0");
        let (line, text) = err_line(&t);
        assert_eq!(line, want, "{key}: {text}");
        assert!(text.contains(&format!("[timeouts] {key} must be at least 1 second")), "{text}");
    }
}

/// A value of the wrong type names its key and line, in an inline table or an array too.
#[test]
fn wrong_types_name_their_key() {
    for (from, to, want) in [
        ("weight = 2 }", "weight = 1.5 }", "`weight`: invalid type: floating point `1.5`, expected u32"),
        ("workers = [1]", "workers = [1, \"2\"]", "`workers`: invalid type: string \"2\", expected usize"),
        ("tcp = 60", "tcp = \"60\"", "`tcp`: invalid type: string \"60\", expected u32"),
        (
            "workers = [1]",
            "workers = [1]\nlocal_port_range = [1024, 70000]",
            "`local_port_range`: invalid value",
        ),
    ] {
        let t = GOOD.replacen(from, to, 1);
        let (line, text) = err_line(&t);
        assert!(text.contains(want), "{to}: {text}");
        let key = want[1..].split('`').next().unwrap();
        assert!(t.lines().nth(line - 1).unwrap().contains(key), "{to}: line {line}");
    }
}

/// An empty file, one of comments only, and CRLF line endings.
#[test]
fn empty_files_and_crlf() {
    for text in ["", "# rvsd.toml\n# nothing yet\n", "\r\n"] {
        let (line, msg) = err_line(text);
        assert_eq!(line, 1, "{text:?}: {msg}");
        assert!(msg.contains("no [dataplane] table"), "{text:?}: {msg}");
    }
    let crlf = GOOD.replace('\n', "\r\n");
    assert_eq!(p(&crlf).unwrap(), p(GOOD).unwrap());
    let (line, msg) = err_line(&crlf.replace("tcp = 60", "tcp = 0"));
    assert_eq!(line, 22, "{msg}");
    let e = p(&GOOD.replace("workers = [1]", "workers = [1]\nmain_cpu = 4096")).unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (5, "main_cpu 4096 does not exist"));
}

#[test]
fn an_unreadable_file_is_named_without_a_line() {
    let e = load(Path::new("/nonexistent/rvsd.toml")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().starts_with("/nonexistent/rvsd.toml: cannot read: "), "{e}");
}

#[test]
fn empty_workers_refused() {
    let t = GOOD.replace("workers = [1]", "workers = []");
    assert!(p(&t).unwrap_err().message.contains("at least one"));
}

/// Table sizes out of range are named at their own line, not at line 1.
#[test]
fn dataplane_sizes_name_their_line() {
    for (key, want) in [
        ("max_services = 0", "`max_services` must be between 1 and 65535"),
        ("max_services = 70000", "`max_services` must be between 1 and 65535"),
        ("max_reals = 0", "`max_reals` must be between 1 and 1048576"),
        ("max_reals = 100000000000", "`max_reals` must be between 1 and 1048576"),
        ("max_sessions = 0", "`max_sessions` (per worker) must be between 1 and 2147483647"),
        ("max_sessions = 2147483648", "`max_sessions` (per worker) must be between 1 and 2147483647"),
        (
            "local_port_range = [1024, 1024]",
            "`local_port_range` 1024-1024 has fewer ports than the 2 workers",
        ),
    ] {
        let t = GOOD.replace("workers = [1]", &format!("workers = [1, 2]\n{key}"));
        let (line, text) = err_line(&t);
        assert_eq!(line, 5, "{key}: {text}");
        assert!(text.contains(want), "{key}: {text}");
    }
    let c = p(&GOOD.replace("workers = [1]", "workers = [1]\nmax_reals = 1048576")).unwrap();
    assert_eq!((c.dataplane.max_reals, c.dataplane.max_services), (1 << 20, 1024));
}

#[test]
fn an_error_after_a_wide_character_is_an_error() {
    // The key before an error's `=` was cut at a byte after the last character that cannot
    // be in a key, which was inside a two-byte one here: rvsd panicked at start instead of
    // naming the line (found by the config fuzz target; the second is an operator's
    // unterminated string).
    for text in [" \"`[\u{400}=", "[dataplane]\nworkers = [0]\nname = \"na\u{ef}ve=1"] {
        let e = p(text).expect_err(text);
        assert_eq!(e.line, text.lines().count(), "{text:?}: {e}");
    }
}

#[test]
fn an_error_names_the_key_not_a_word_of_the_value() {
    // An `=` inside the string (here an unterminated one) is not the key's: the error
    // named `ve` for this line.
    let e = p("[dataplane]\nworkers = [0]\nname = \"na\u{ef}ve=1").expect_err("unterminated");
    assert!(e.to_string().contains("`name`"), "{e}");
    // And a value's `=` in a string before the key, in an inline table.
    let e = p("[dataplane]\nworkers = [0]\nx = { a = \"b=c\", d = \"e").expect_err("unterminated");
    assert!(e.to_string().contains("`d`"), "{e}");
}
