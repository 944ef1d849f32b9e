//! A realistic `/metrics` scrape (IPv4 and IPv6 services; FULLNAT, NAT and DR real servers;
//! several workers; session sync; VRRP; odd characters in names), checked as Prometheus
//! reads it: by a parser of the text format here, and by `promtool check metrics` where
//! promtool is installed (Debian's prometheus package; CI has it).

use super::*;
use crate::vrrp::fifo::VrrpState;
use crate::vrrp::{InstanceStatus, VrrpStatus};
use rvs_proto::{
    AddrOwnership, ForwardMethod, OwnershipInfo, RealInfo, RealSpec, ServiceSpec, SyncInfo, SyncPeer,
    VlanStats,
};
use std::collections::{HashMap, HashSet};

fn v4() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
}

fn v6() -> ServiceKey {
    ServiceKey { protocol: Protocol::Udp, addr: "[2001:db8::100]:53".parse().unwrap() }
}

/// The services as rvs-ctrl and rvsd see them.
fn reals() -> Vec<(ServiceKey, &'static str, ForwardMethod)> {
    vec![
        (v4(), "198.19.0.11:80", ForwardMethod::FullNat),
        (v4(), "198.19.0.12:8080", ForwardMethod::Nat),
        (v4(), "198.19.0.13:80", ForwardMethod::DirectRoute),
        (v6(), "[2001:db8:1::11]:53", ForwardMethod::FullNat),
        (v6(), "[2001:db8:1::12]:53", ForwardMethod::DirectRoute),
    ]
}

fn status() -> Status {
    let mut services: Vec<VsStatus> = Vec::new();
    for key in [v4(), v6()] {
        let rs = reals()
            .into_iter()
            .filter(|r| r.0 == key)
            .enumerate()
            .map(|(i, (_, a, method))| RsStatus {
                addr: a.parse().unwrap(),
                method,
                file_weight: Some(1),
                thresholds: Default::default(),
                alive: i != 1,
                override_: None,
                checks: vec![CheckStatus {
                    kind: "HTTP_GET",
                    target: a.parse().unwrap(),
                    up: i != 1,
                    last_duration: Some(Duration::from_millis(12)),
                    runs: 40,
                    last_error: (i == 1).then(|| "status 503, \"Service\nUnavailable\" \\o/".to_string()),
                }],
            })
            .collect();
        services.push(VsStatus {
            key,
            group: Some("web \"group\"".into()),
            scheduler: "wlc".into(),
            options: Default::default(),
            quorum: 1,
            hysteresis: 0,
            quorum_up: true,
            sorry_server: None,
            local_addrs: vec!["198.19.0.200".parse().unwrap()],
            reals: rs,
        });
    }
    Status { services, desired: Table::new() }
}

fn rvsd() -> RvsdCounters {
    let t = |n: u64| TrafficStats {
        conns: n,
        in_pkts: 5 * n,
        out_pkts: 4 * n,
        in_bytes: 500 * n,
        out_bytes: 900 * n,
    };
    let services = [v4(), v6()]
        .into_iter()
        .map(|key| {
            let reals: Vec<RealInfo> = reals()
                .into_iter()
                .filter(|r| r.0 == key)
                .enumerate()
                .map(|(i, (_, a, method))| RealInfo {
                    spec: RealSpec {
                        thresholds: Default::default(),
                        addr: a.parse().unwrap(),
                        weight: 1 + i as u32,
                        method,
                        tunnel: None,
                    },
                    active_conns: 2 + i as u64,
                    inactive_conns: 1,
                    stats: t(10 + i as u64),
                })
                .collect();
            let sum = reals.iter().fold(TrafficStats::default(), |mut s, r| {
                s.conns += r.stats.conns;
                s.in_pkts += r.stats.in_pkts;
                s.out_pkts += r.stats.out_pkts;
                s.in_bytes += r.stats.in_bytes;
                s.out_bytes += r.stats.out_bytes;
                s
            });
            ServiceInfo {
                spec: ServiceSpec {
                    options: Default::default(),
                    key,
                    scheduler: "wlc".into(),
                    local_addrs: vec![],
                },
                reals,
                stats: sum,
            }
        })
        .collect();
    let workers = (0..3)
        .map(|w| WorkerStats {
            worker: w,
            lcore: w + 1,
            rx_packets: 90,
            rx_bytes: 9000,
            tx_packets: 80,
            tx_bytes: 8000,
            sessions_live: 7,
            sessions_capacity: 1 << 20,
            loops: 1000,
            drops: vec![("no_service".into(), 3), ("odd \"reason\" \\ with\nnewline".into(), 1)],
            events: vec![("synproxy_syn_answered".into(), 7)],
            vlans: vec![VlanStats {
                port: "server".into(),
                vlan: 10,
                rx_packets: 40,
                rx_bytes: 4000,
                tx_packets: 41,
                tx_bytes: 4100,
                drops: 2,
            }],
            ..Default::default()
        })
        .collect();
    RvsdCounters { services, workers, ports: Vec::new(), neighbours: None }
}

/// The running daemon as `/metrics` sees it, VRRP and sync included; rvsd answers or not.
struct Scrape {
    rvsd_up: bool,
}

impl Backend for Scrape {
    fn status(&self) -> Arc<Status> {
        Arc::new(status())
    }
    fn rvsd(&self) -> Result<RvsdCounters, String> {
        if self.rvsd_up {
            Ok(rvsd())
        } else {
            Err("connection refused".into())
        }
    }
    fn submit(&self, _op: Op) -> Result<(), OpError> {
        Err(OpError::Unavailable("read-only".into()))
    }
    fn vrrp(&self) -> Option<Arc<VrrpStatus>> {
        let i = |name: &str, state, vip: &str| InstanceStatus {
            name: name.into(),
            state,
            priority: 100,
            base_priority: 100,
            vrid: 51,
            interface: "eth0".into(),
            kernel_if: "rvs-client".into(),
            vips: vec![vip.parse().unwrap()],
            lips: vec![],
            group: None,
            transitions: 2,
            since: None,
        };
        Some(Arc::new(VrrpStatus {
            keepalived_pid: Some(42),
            keepalived_restarts: 0,
            instances: vec![
                i("VI_1", VrrpState::Master, "198.18.0.100"),
                i("VI_6 \"v6\"\\x", VrrpState::Backup, "2001:db8::100"),
            ],
            ..Default::default()
        }))
    }
    fn ownership(&self) -> Result<OwnershipInfo, String> {
        if !self.rvsd_up {
            return Err("connection refused".into());
        }
        let a = |addr: &str, kind: &str| AddrOwnership {
            addr: addr.parse().unwrap(),
            kind: kind.into(),
            owned: true,
        };
        Ok(OwnershipInfo {
            owns_by_default: true,
            addresses: vec![a("198.18.0.100", "vip"), a("2001:db8::100", "vip"), a("198.19.0.200", "lip")],
        })
    }
    fn sync(&self) -> Result<SyncInfo, String> {
        if !self.rvsd_up {
            return Err("connection refused".into());
        }
        Ok(SyncInfo {
            enabled: true,
            sent_msgs: 10,
            lag_ms: 3,
            sessions: 21,
            initial_sync: "complete".into(),
            initial_sync_ready: true,
            peers: vec![SyncPeer {
                member: 2,
                addr: "[2001:db8::2]:8848".into(),
                epoch: 1,
                sessions: 21,
                last_heard_ms: 250,
                recv_records: 4,
                behind: -1,
            }],
            refused: vec![("bad_tag".into(), 1)],
            ..Default::default()
        })
    }
}

/// The page a scrape gets.
pub(super) fn scrape() -> String {
    scrape_with(true)
}

fn scrape_with(rvsd_up: bool) -> String {
    let a = respond("GET", "/metrics", "", &Scrape { rvsd_up });
    assert_eq!((a.status, a.content_type), (200, METRICS_TYPE));
    a.body
}

/// One sample: family name, labels (unescaped), value.
type Sample = (String, Vec<(String, String)>, f64);

/// Reads the text format as Prometheus does, refusing what it refuses: a sample whose
/// family has no TYPE before it, HELP or TYPE twice, a family split in two, bad escapes.
pub(super) fn parse(text: &str) -> (HashMap<String, &str>, Vec<Sample>) {
    let mut types: HashMap<String, &str> = HashMap::new();
    let mut helped = HashSet::new();
    let mut done = HashSet::new();
    let mut current = String::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(types.insert(name.to_string(), kind).is_none(), "TYPE twice for {name}");
            if !current.is_empty() {
                done.insert(std::mem::take(&mut current));
            }
            current = name.to_string();
        } else {
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            let family = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| *k != "gauge")))
                .unwrap_or(name);
            assert!(family == current || name == current, "{name}: not under its TYPE ({current})");
            assert!(!done.contains(family), "{family} split in two");
            let mut rest = &line[name_end..];
            let mut labels = Vec::new();
            if let Some(r) = rest.strip_prefix('{') {
                let mut chars = r.char_indices();
                let mut key = String::new();
                let mut val = String::new();
                let mut in_val = false;
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if in_val {
                        match c {
                            '\\' => match chars.next().map(|(_, c)| c) {
                                Some('\\') => val.push('\\'),
                                Some('"') => val.push('"'),
                                Some('n') => val.push('\n'),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            },
                            '"' => {
                                labels.push((std::mem::take(&mut key), std::mem::take(&mut val)));
                                in_val = false;
                            }
                            '\n' => panic!("raw newline in {line:?}"),
                            c => val.push(c),
                        }
                    } else {
                        match c {
                            '}' => {
                                end = Some(i);
                                break;
                            }
                            ',' => {}
                            '=' => {
                                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                                in_val = true;
                            }
                            c if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                            c => panic!("bad label name character {c:?} in {line:?}"),
                        }
                    }
                }
                rest = &r[end.expect("unclosed labels") + 1..];
            }
            let value: f64 = rest.trim().parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let names: HashSet<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names.len(), labels.len(), "a label twice in {line:?}");
            samples.push((name.to_string(), labels, value));
        }
    }
    (types, samples)
}

#[test]
fn a_scrape_follows_the_conventions() {
    let text = scrape();
    let (types, samples) = parse(&text);
    for (name, kind) in &types {
        assert!(name.starts_with("rvs_") || name.starts_with("node_ipvs_"), "{name}: not in rvs's namespace");
        assert_eq!(*kind == "counter", name.ends_with("_total"), "{name} is a {kind}");
        for unit in ["_ms", "_milliseconds", "_us", "_microseconds", "_kb", "_mb", "_percent"] {
            assert!(!name.contains(unit), "{name}: not a base unit");
        }
    }
    // Every sample is unique (a family's label sets differ).
    let mut seen = HashSet::new();
    for (n, l, _) in &samples {
        assert!(seen.insert((n.clone(), l.clone())), "{n}{l:?} twice");
    }
    // Odd characters come back as they went in.
    let has = |name: &str, k: &str, v: &str| {
        samples.iter().any(|(n, l, _)| n == name && l.iter().any(|(a, b)| a == k && b == v))
    };
    assert!(has("rvs_drops_total", "reason", "odd \"reason\" \\ with\nnewline"));
    assert!(has("rvs_vrrp_state", "instance", "VI_6 \"v6\"\\x"));
    assert!(has("rvs_rs_in_bytes_total", "rip", "2001:db8:1::11"));
    assert!(has("rvs_sync_peer_heard_seconds", "addr", "[2001:db8::2]:8848"));
}

/// `promtool check metrics` on the scrape, rvsd up and down: no problem (its exit status
/// and its output).
#[test]
fn promtool_finds_no_problem() {
    // The check can fail: promtool names a counter without `_total` and a bad escape.
    let Some(bad) = promtool("# HELP x_ms a\n# TYPE x_ms counter\nx_ms{a=\"\\q\"} 1\n") else {
        eprintln!("promtool not installed: skipped (Debian's prometheus package has it)");
        return;
    };
    assert!(!bad.0 && !bad.1.is_empty(), "{bad:?}");
    for up in [true, false] {
        let text = scrape_with(up);
        assert!(text.contains(if up { "rvs_rvsd_up 1" } else { "rvs_rvsd_up 0" }));
        let out = promtool(&text).unwrap();
        assert!(out.0 && out.1.trim().is_empty(), "promtool check metrics:\n{}\non\n{text}", out.1);
    }
}

/// Runs `promtool check metrics` on `text`: (success, what it printed); None without promtool.
pub(super) fn promtool(text: &str) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("promtool: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), said))
}

/// node_exporter's `ipvs` collector's families, as its dashboards and alerts query them:
/// the same names, types and label names; totals summed over the services.
#[test]
fn node_exporter_ipvs_families() {
    let text = scrape();
    let (types, samples) = parse(&text);
    let services = rvsd().services;
    let sum = |get: fn(&TrafficStats) -> u64| services.iter().map(|s| get(&s.stats)).sum::<u64>() as f64;
    for (name, want) in [
        ("node_ipvs_connections_total", sum(|t| t.conns)),
        ("node_ipvs_incoming_packets_total", sum(|t| t.in_pkts)),
        ("node_ipvs_outgoing_packets_total", sum(|t| t.out_pkts)),
        ("node_ipvs_incoming_bytes_total", sum(|t| t.in_bytes)),
        ("node_ipvs_outgoing_bytes_total", sum(|t| t.out_bytes)),
    ] {
        assert_eq!(types.get(name), Some(&"counter"), "{name}");
        let got: Vec<_> = samples.iter().filter(|s| s.0 == name).collect();
        assert_eq!(got.len(), 1, "{name}");
        assert!(got[0].1.is_empty() && got[0].2 == want, "{name}: {:?}, want {want}", got[0]);
    }
    let names = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"];
    for (name, get) in [
        ("node_ipvs_backend_connections_active", (|r: &RealInfo| r.active_conns) as fn(&RealInfo) -> u64),
        ("node_ipvs_backend_connections_inactive", |r| r.inactive_conns),
        ("node_ipvs_backend_weight", |r| u64::from(r.spec.weight)),
    ] {
        assert_eq!(types.get(name), Some(&"gauge"), "{name}");
        let got: Vec<_> = samples.iter().filter(|s| s.0 == name).collect();
        assert_eq!(got.len(), reals().len(), "{name}");
        for s in &services {
            for r in &s.reals {
                let want = [
                    s.spec.key.addr.ip().to_string(),
                    s.spec.key.addr.port().to_string(),
                    r.spec.addr.ip().to_string(),
                    r.spec.addr.port().to_string(),
                    s.spec.key.protocol.as_str().to_ascii_uppercase(),
                    String::new(),
                ];
                let want: Vec<(String, String)> = names.iter().map(|n| n.to_string()).zip(want).collect();
                assert!(
                    got.iter().any(|(_, l, v)| *l == want && *v == get(r) as f64),
                    "{name}: no {want:?} = {}",
                    get(r)
                );
            }
        }
    }
    // Written as node_exporter writes them (IPv6 without brackets, protocol in capitals).
    assert!(text.contains(
        "node_ipvs_backend_weight{local_address=\"2001:db8::100\",local_port=\"53\",remote_address=\"2001:db8:1::12\",remote_port=\"53\",proto=\"UDP\",local_mark=\"\"} 2\n"
    ));
    // Nothing when rvsd does not answer (node_exporter: nothing when IPVS cannot be read).
    assert!(!scrape_with(false).contains("node_ipvs_"));
}
