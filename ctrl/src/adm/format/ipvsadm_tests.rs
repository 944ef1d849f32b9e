//! Golden listings of rvsadm as `ipvsadm`. The expected texts were produced from ipvsadm
//! 1.31's printf formats (print_title, print_service_entry, list_conn, print_largenum),
//! evaluated outside this code with the same data, not by rvsadm; the real ipvsadm cannot
//! run here (no ip_vs in the kernel), see docs/forwarding-methods.md.

use super::super::{compute_rates, ServiceRates};
use super::*;
use rvs_proto::{Persistence, RealInfo, RealSpec, ServiceSpec, Thresholds, TrafficStats};
use std::time::Duration;

fn ts(v: [u64; 5]) -> TrafficStats {
    TrafficStats { conns: v[0], in_pkts: v[1], out_pkts: v[2], in_bytes: v[3], out_bytes: v[4] }
}

fn real(addr: &str, m: ForwardMethod, weight: u32, conns: (u64, u64), stats: [u64; 5]) -> RealInfo {
    RealInfo {
        spec: RealSpec {
            thresholds: Default::default(),
            addr: addr.parse().unwrap(),
            weight,
            method: m,
            tunnel: None,
        },
        active_conns: conns.0,
        inactive_conns: conns.1,
        stats: ts(stats),
    }
}

/// A DR/TUN/NAT table as ipvsadm users have it: wrr with persistence and a /24 mask over a
/// Route, a Tunnel and a Masq server; sh with both flags (given as sh-port and the
/// generic flag-1).
fn table() -> Vec<ServiceInfo> {
    let mut tcp = ServiceSpec {
        options: Default::default(),
        key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() },
        scheduler: "wrr".into(),
        local_addrs: vec![],
    };
    tcp.options.persistence = Some(Persistence { timeout: 50, prefix_len: 24 });
    let mut udp = ServiceSpec {
        options: Default::default(),
        key: ServiceKey { protocol: Protocol::Udp, addr: "198.18.0.100:53".parse().unwrap() },
        scheduler: "sh".into(),
        local_addrs: vec![],
    };
    udp.options.sched_flags = vec!["sh-port".into(), "flag-1".into()];
    let mut rs1 = real("198.19.0.11:80", ForwardMethod::DirectRoute, 3, (2, 5), [10, 200, 0, 30_000, 0]);
    rs1.spec.thresholds = Thresholds { upper: 10, lower: 5 };
    vec![
        ServiceInfo {
            spec: tcp,
            reals: vec![
                rs1,
                real(
                    "198.19.0.12:80",
                    ForwardMethod::Tunnel,
                    3,
                    (0, 0),
                    [123_456_789, 1_234_567_890, 0, 98_765_432_100, 0],
                ),
                real("198.19.0.13:8080", ForwardMethod::Nat, 1, (0, 1), [0; 5]),
            ],
            stats: ts([123_456_799, 1_234_568_090, 0, 98_765_432_280, 0]),
        },
        ServiceInfo {
            spec: udp,
            reals: vec![real("198.19.0.11:5353", ForwardMethod::Nat, 1, (0, 0), [0; 5])],
            stats: ts([0; 5]),
        },
    ]
}

/// Names as a resolver would give them: two hosts with long names, some services.
struct Fixed;

impl Resolve for Fixed {
    fn host(&self, ip: IpAddr) -> Option<String> {
        match ip.to_string().as_str() {
            "198.18.0.100" => Some("www.a-rather-long-name.example".into()),
            "198.19.0.11" => Some("rs1.a-rather-long-name.example".into()),
            _ => None,
        }
    }
    fn service(&self, port: u16, proto: Protocol) -> Option<String> {
        match (port, proto) {
            (80, Protocol::Tcp) => Some("http".into()),
            (8080, Protocol::Tcp) => Some("http-alt".into()),
            (53, Protocol::Udp) => Some("domain".into()),
            _ => None,
        }
    }
}

const PLAIN: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    "TCP  198.18.0.100:80 wrr persistent 50 mask 255.255.255.0\n",
    "  -> 198.19.0.11:80               Route   3      2          5         \n",
    "  -> 198.19.0.12:80               Tunnel  3      0          0         \n",
    "  -> 198.19.0.13:8080             Masq    1      0          1         \n",
    "UDP  198.18.0.100:53 sh (sh-fallback,sh-port)\n",
    "  -> 198.19.0.11:5353             Masq    1      0          0         \n",
);
const NAMED: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    "TCP  www.a-rather-long-name.examp wrr persistent 50 mask 255.255.255.0\n",
    "  -> rs1.a-rather-long-name.examp Route   3      2          5         \n",
    "  -> 198.19.0.12:http             Tunnel  3      0          0         \n",
    "  -> 198.19.0.13:http-alt         Masq    1      0          1         \n",
    "UDP  www.a-rather-long-name.examp sh (sh-fallback,sh-port)\n",
    "  -> rs1.a-rather-long-name.examp Masq    1      0          0         \n",
);
const STATS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.100:80               123456K    1234M        0   98765M        0\n",
    "  -> 198.19.0.11:80                     10      200        0    30000        0\n",
    "  -> 198.19.0.12:80                123456K    1234M        0   98765M        0\n",
    "  -> 198.19.0.13:8080                    0        0        0        0        0\n",
    "UDP  198.18.0.100:53                     0        0        0        0        0\n",
    "  -> 198.19.0.11:5353                    0        0        0        0        0\n",
);
const STATS_EXACT: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.100:80              123456799 1234568090        0 98765432280        0\n",
    "  -> 198.19.0.11:80                     10      200        0    30000        0\n",
    "  -> 198.19.0.12:80               123456789 1234567890        0 98765432100        0\n",
    "  -> 198.19.0.13:8080                    0        0        0        0        0\n",
    "UDP  198.18.0.100:53                     0        0        0        0        0\n",
    "  -> 198.19.0.11:5353                    0        0        0        0        0\n",
);
const THRESHOLDS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.100:80 wrr persistent 50 mask 255.255.255.0\n",
    "  -> 198.19.0.11:80               10         5          2          5         \n",
    "  -> 198.19.0.12:80               0          0          0          0         \n",
    "  -> 198.19.0.13:8080             0          0          0          1         \n",
    "UDP  198.18.0.100:53 sh (sh-fallback,sh-port)\n",
    "  -> 198.19.0.11:5353             0          0          0          0         \n",
);
const RATE: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.100:80                    50     1000        0  150000K        0\n",
    "  -> 198.19.0.11:80                     50     1000        0  150000K        0\n",
);
const CONNS: &str = concat!(
    "IPVS connection entries\n",
    "pro expire state       source             virtual            destination\n",
    "TCP 14:59  ESTABLISHED 198.18.0.10:45678  198.18.0.100:80    198.19.0.11:80\n",
    "TCP 01:59  FIN_WAIT    198.18.0.11:40000  198.18.0.100:80    198.19.0.12:80\n",
    "UDP 00:05  UDP         198.18.0.10:33000  198.18.0.100:53    198.19.0.11:5353\n",
);

#[test]
fn golden_list_numeric() {
    assert_eq!(list(&table(), View::Plain, true, Names::NUMERIC), PLAIN);
}

#[test]
fn golden_list_with_names_cut_like_ipvsadm() {
    assert_eq!(list(&table(), View::Plain, true, Names::resolving(&Fixed)), NAMED);
}

#[test]
fn golden_list_one_service_has_no_version_line() {
    let t = table();
    let want = PLAIN.lines().skip(1).take(6).map(|l| format!("{l}\n")).collect::<String>();
    assert_eq!(list(&t[..1], View::Plain, false, Names::NUMERIC), want);
}

#[test]
fn golden_stats_and_exact() {
    assert_eq!(list(&table(), View::Stats { exact: false }, true, Names::NUMERIC), STATS);
    assert_eq!(list(&table(), View::Stats { exact: true }, true, Names::NUMERIC), STATS_EXACT);
}

#[test]
fn golden_thresholds() {
    assert_eq!(list(&table(), View::Thresholds, true, Names::NUMERIC), THRESHOLDS);
}

#[test]
fn golden_rate() {
    let prev = table();
    let mut cur = table();
    cur.truncate(1);
    cur[0].reals.truncate(1);
    let bump = |s: &mut TrafficStats| {
        s.conns += 50;
        s.in_pkts += 1000;
        s.in_bytes += 150_000_000;
    };
    bump(&mut cur[0].stats);
    bump(&mut cur[0].reals[0].stats);
    let r: Vec<ServiceRates> = compute_rates(&prev, &cur, Duration::from_secs(1));
    assert_eq!(rates(&r, true, false, Names::NUMERIC), RATE);
}

#[test]
fn golden_conns() {
    let c = |proto, expires_in, state: &str, client: &str, vip: &str, rip: &str| ConnInfo {
        protocol: proto,
        expires_in,
        state: state.into(),
        client: client.parse().unwrap(),
        virtual_addr: vip.parse().unwrap(),
        local: "0.0.0.0:0".parse().unwrap(),
        real: rip.parse().unwrap(),
        worker: 0,
    };
    let list = [
        c(Protocol::Tcp, 899, "ESTABLISHED", "198.18.0.10:45678", "198.18.0.100:80", "198.19.0.11:80"),
        c(Protocol::Tcp, 119, "FIN_WAIT", "198.18.0.11:40000", "198.18.0.100:80", "198.19.0.12:80"),
        c(Protocol::Udp, 5, "UDP", "198.18.0.10:33000", "198.18.0.100:53", "198.19.0.11:5353"),
    ];
    assert_eq!(conns(&list, Names::NUMERIC), CONNS);
    let named = conns(&list[..1], Names::resolving(&Fixed));
    assert!(
        named.ends_with(
            "TCP 14:59  ESTABLISHED 198.18.0.10:45678  www.a-rather-long-name.example:http rs1.a-rather-long-name.example:http\n"
        ),
        "{named}"
    );
}

/// FMT_RULE: `-A`, then `-a` per server with `-g|-i|-m`, `--tun-type ipip` on tunnels, `-b`
/// with the flags named for the scheduler; names (uncut) without `-n`. Thresholds, which
/// ipvsadm's `-S` leaves out, follow when set (its `-R` takes them).
#[test]
fn golden_save() {
    let mut t = table();
    t[0].reals[0].spec.thresholds = Thresholds::default();
    let want = concat!(
        "-A -t 198.18.0.100:80 -s wrr -p 50 -M 255.255.255.0\n",
        "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -g -w 3\n",
        "-a -t 198.18.0.100:80 -r 198.19.0.12:80 -i -w 3 --tun-type ipip\n",
        "-a -t 198.18.0.100:80 -r 198.19.0.13:8080 -m -w 1\n",
        "-A -u 198.18.0.100:53 -s sh -b sh-fallback,sh-port\n",
        "-a -u 198.18.0.100:53 -r 198.19.0.11:5353 -m -w 1\n",
    );
    assert_eq!(save(&t, Names::NUMERIC), want);
    let named = save(&t, Names::resolving(&Fixed));
    assert!(named.starts_with("-A -t www.a-rather-long-name.example:http -s wrr -p 50 -M 255.255.255.0\n-a -t www.a-rather-long-name.example:http -r rs1.a-rather-long-name.example:http -g -w 3\n"), "{named}");
    assert!(save(&table(), Names::NUMERIC).contains("-r 198.19.0.11:80 -g -w 3 -x 10 -y 5\n"));
}

#[test]
fn scheduler_flags_are_named_for_the_scheduler() {
    let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(sched_flags("sh", &f(&["sh-port"])).as_deref(), Some("sh-port"));
    assert_eq!(sched_flags("mh", &f(&["flag-2", "mh-fallback"])).as_deref(), Some("mh-fallback,mh-port"));
    assert_eq!(sched_flags("rr", &f(&["sh-fallback"])).as_deref(), Some("flag-1"));
    assert_eq!(sched_flags("sh", &[]), None);
}

/// The system resolver answers from /etc/services and /etc/hosts as ipvsadm's libc calls do.
#[test]
fn system_names_know_localhost_and_http() {
    assert_eq!(SystemNames.service(80, Protocol::Tcp).as_deref(), Some("http"));
    assert_eq!(SystemNames.service(1, Protocol::Udp), None);
    assert_eq!(SystemNames.host("127.0.0.1".parse().unwrap()).as_deref(), Some("localhost"));
}

/// An IPv6 service's persistence granularity is a prefix length: ipvsadm prints nothing
/// for /128 and `mask 64` / `-M 64` otherwise (never a dotted IPv4 mask).
#[test]
fn ipv6_persistence_mask_is_a_prefix_length() {
    let spec = |prefix_len| ServiceSpec {
        options: rvs_proto::ServiceOptions {
            persistence: Some(Persistence { timeout: 300, prefix_len }),
            ..Default::default()
        },
        key: ServiceKey { protocol: Protocol::Tcp, addr: "[2001:db8::1]:80".parse().unwrap() },
        scheduler: "wlc".into(),
        local_addrs: vec![],
    };
    let t = |prefix_len| vec![ServiceInfo { spec: spec(prefix_len), reals: vec![], stats: ts([0; 5]) }];
    let line = |s: String| s.lines().nth(3).unwrap().to_string();
    assert_eq!(
        line(list(&t(128), View::Plain, true, Names::NUMERIC)),
        "TCP  [2001:db8::1]:80 wlc persistent 300"
    );
    assert_eq!(
        line(list(&t(64), View::Plain, true, Names::NUMERIC)),
        "TCP  [2001:db8::1]:80 wlc persistent 300 mask 64"
    );
    assert_eq!(save(&t(128), Names::NUMERIC), "-A -t [2001:db8::1]:80 -s wlc -p 300\n");
    assert_eq!(save(&t(64), Names::NUMERIC), "-A -t [2001:db8::1]:80 -s wlc -p 300 -M 64\n");
}

/// ipvsadm's print_tunnel_rule ends a GUE server's rule with its checksum option; rvsd's
/// GUE sends no checksum, `--tun-nocsum` (which `-R` takes).
#[test]
fn save_gue_server_as_ipvsadm() {
    let mut t = table();
    t.truncate(1);
    t[0].reals = vec![real("198.19.0.12:80", ForwardMethod::Tunnel, 3, (0, 0), [0; 5])];
    t[0].reals[0].spec.tunnel = Some(rvs_proto::TunnelEncap { port: 6080 });
    assert!(
        save(&t, Names::NUMERIC).ends_with(
            "-a -t 198.18.0.100:80 -r 198.19.0.12:80 -i -w 3 --tun-type gue --tun-port 6080 --tun-nocsum\n"
        ),
        "{}",
        save(&t, Names::NUMERIC)
    );
}
