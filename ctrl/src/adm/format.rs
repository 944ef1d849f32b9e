//! Proto replies -> text, in ipvsadm's (and, for FULLNAT extras, DPVS's) layouts.
//!
//! The printf formats of ipvsadm.c are reproduced with the same widths, including the
//! trailing padding of the last column (`%-10u\n`), so that scripts written against
//! ipvsadm's output keep working. Output is always numeric: rvsadm does no DNS or
//! /etc/services lookups, so `-L` and `-L -n` print the same.

use rvs_proto::{ConnInfo, ForwardMethod, ServiceInfo, ServiceKey, Timeouts, TrafficStats};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

mod ha;
pub mod ipvsadm;
mod neigh;
mod workers;
pub use ha::{cluster, ownership, sync};
pub use neigh::neighbours;
pub use workers::workers;

/// ipvsadm's first line of `-L`; rvsd mimics the kernel IPVS version and table size.
pub const VERSION_LINE: &str = "IP Virtual Server version 1.2.1 (size=4096)";

/// ipvsadm's addrport_to_anyname with FMT_NUMERIC: `a.b.c.d:port` or `[v6]:port`.
pub fn addr_port(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// A service's protocol as the option that names it: `-t` or `-u`.
pub fn service_switch(protocol: rvs_proto::Protocol) -> &'static str {
    match protocol {
        rvs_proto::Protocol::Tcp => "-t",
        rvs_proto::Protocol::Udp => "-u",
    }
}

/// `TCP  198.18.0.100:80` (ipvsadm's "%s  %s").
pub fn service_name(key: &ServiceKey) -> String {
    format!("{}  {}", key.protocol.as_str(), addr_port(&key.addr))
}

/// ipvsadm's print_largenum: a 9-character column, K/M/G/T-abbreviated from 100 million
/// on; with `--exact` the full number, widening the column when it has more than 8 digits.
pub fn largenum(v: u64, exact: bool) -> String {
    if exact {
        let digits = v.to_string();
        let width = if digits.len() <= 8 { 9 } else { digits.len() + 1 };
        return format!("{digits:>width$}");
    }
    if v < 100_000_000 {
        format!("{v:>9}")
    } else if v < 1_000_000_000 {
        format!("{:>8}K", v / 1_000)
    } else if v < 100_000_000_000 {
        format!("{:>8}M", v / 1_000_000)
    } else if v < 100_000_000_000_000 {
        format!("{:>8}G", v / 1_000_000_000)
    } else {
        format!("{:>8}T", v / 1_000_000_000_000)
    }
}

fn title_plain(out: &mut String) {
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
}

fn title_columns(out: &mut String, cols: [&str; 5]) {
    let _ = writeln!(
        out,
        "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "Prot LocalAddress:Port", cols[0], cols[1], cols[2], cols[3], cols[4]
    );
    out.push_str("  -> RemoteAddress:Port\n");
}

fn stats_cells(out: &mut String, s: &TrafficStats, exact: bool) {
    for v in [s.conns, s.in_pkts, s.out_pkts, s.in_bytes, s.out_bytes] {
        out.push_str(&largenum(v, exact));
    }
}

/// `-L [-n]`: the table in ipvsadm's layout. `header` is ipvsadm's list_all (version
/// line first); `-L -t VIP:port` (list_service) prints without it.
pub fn services(list: &[ServiceInfo], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    title_plain(&mut out);
    for svc in list {
        let _ = writeln!(
            out,
            "{} {}{}",
            service_name(&svc.spec.key),
            svc.spec.scheduler,
            service_flags(&svc.spec.options, svc.spec.key.addr.is_ipv6())
        );
        for r in &svc.reals {
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                addr_port(&r.spec.addr),
                r.spec.method.as_ipvsadm(),
                r.spec.weight,
                r.active_conns,
                r.inactive_conns
            );
        }
    }
    out
}

/// `-L --thresholds`: ipvsadm's FMT_THRESHOLDS layout (upper and lower threshold, then
/// the connection counts).
pub fn thresholds(list: &[ServiceInfo], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    // ipvsadm: "%-33s %-10s %-10s %-10s %-10s\n", padding of the last column included.
    let _ = writeln!(
        out,
        "{:<33} {:<10} {:<10} {:<10} {:<10}",
        "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
    );
    out.push_str("  -> RemoteAddress:Port\n");
    for svc in list {
        let _ = writeln!(
            out,
            "{} {}{}",
            service_name(&svc.spec.key),
            svc.spec.scheduler,
            service_flags(&svc.spec.options, svc.spec.key.addr.is_ipv6())
        );
        for r in &svc.reals {
            let _ = writeln!(
                out,
                "  -> {:<28} {:<10} {:<10} {:<10} {:<10}",
                addr_port(&r.spec.addr),
                r.spec.thresholds.upper,
                r.spec.thresholds.lower,
                r.active_conns,
                r.inactive_conns
            );
        }
    }
    out
}

/// `-L --stats [--exact]`.
pub fn stats(list: &[ServiceInfo], header: bool, exact: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    title_columns(&mut out, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
    for svc in list {
        let _ = write!(out, "{:<33}", service_name(&svc.spec.key));
        stats_cells(&mut out, &svc.stats, exact);
        out.push('\n');
        for r in &svc.reals {
            let _ = write!(out, "  -> {:<28}", addr_port(&r.spec.addr));
            stats_cells(&mut out, &r.stats, exact);
            out.push('\n');
        }
    }
    out
}

/// Per-second rates, as the kernel's estimator reports them for `--rate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

impl Rates {
    /// Rates from two counter samples `elapsed` apart. Counters that went backwards (a
    /// service re-created between the samples) count as zero.
    pub fn between(prev: &TrafficStats, cur: &TrafficStats, elapsed: Duration) -> Rates {
        let secs = elapsed.as_secs_f64();
        let rate = |a: u64, b: u64| {
            let d = b.saturating_sub(a);
            if secs > 0.0 {
                (d as f64 / secs).round() as u64
            } else {
                d
            }
        };
        Rates {
            cps: rate(prev.conns, cur.conns),
            in_pps: rate(prev.in_pkts, cur.in_pkts),
            out_pps: rate(prev.out_pkts, cur.out_pkts),
            in_bps: rate(prev.in_bytes, cur.in_bytes),
            out_bps: rate(prev.out_bytes, cur.out_bytes),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRates {
    pub key: ServiceKey,
    pub rates: Rates,
    pub reals: Vec<(SocketAddr, Rates)>,
}

/// Pairs two ListServices samples; services and reals are listed in `cur`'s order, and
/// anything absent from `prev` (just added) starts from zero rates.
pub fn compute_rates(prev: &[ServiceInfo], cur: &[ServiceInfo], elapsed: Duration) -> Vec<ServiceRates> {
    cur.iter()
        .map(|svc| {
            let old = prev.iter().find(|p| p.spec.key == svc.spec.key);
            let rates = old.map(|o| Rates::between(&o.stats, &svc.stats, elapsed)).unwrap_or_default();
            let reals = svc
                .reals
                .iter()
                .map(|r| {
                    let old_r = old.and_then(|o| o.reals.iter().find(|x| x.spec.addr == r.spec.addr));
                    let rr = old_r.map(|o| Rates::between(&o.stats, &r.stats, elapsed)).unwrap_or_default();
                    (r.spec.addr, rr)
                })
                .collect();
            ServiceRates { key: svc.spec.key, rates, reals }
        })
        .collect()
}

/// `-L --rate [--exact]`.
pub fn rates(list: &[ServiceRates], header: bool, exact: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(VERSION_LINE);
        out.push('\n');
    }
    title_columns(&mut out, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
    for svc in list {
        let r = &svc.rates;
        let _ = write!(out, "{:<33}", service_name(&svc.key));
        for v in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            out.push_str(&largenum(v, exact));
        }
        out.push('\n');
        for (addr, r) in &svc.reals {
            // ipvsadm: "  -> %-28s %8u %8u %8u" then two largenums.
            let _ = write!(out, "  -> {:<28} {:>8} {:>8} {:>8}", addr_port(addr), r.cps, r.in_pps, r.out_pps);
            out.push_str(&largenum(r.in_bps, exact));
            out.push_str(&largenum(r.out_bps, exact));
            out.push('\n');
        }
    }
    out
}

/// `-L -n -c`: ipvsadm's connection list with DPVS's `local` column for FULLNAT.
pub fn conns(list: &[ConnInfo]) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let _ = writeln!(
        out,
        "pro expire {:<11} {:<18} {:<18} {:<18} destination",
        "state", "source", "virtual", "local"
    );
    for c in list {
        let expire = format!("{:02}:{:02}", c.expires_in / 60, c.expires_in % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {:<18} {}",
            c.protocol.as_str(),
            expire,
            c.state,
            addr_port(&c.client),
            addr_port(&c.virtual_addr),
            addr_port(&c.local),
            addr_port(&c.real)
        );
    }
    out
}

/// `-L --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcp_fin, t.udp)
}

/// `-G`: DPVS's local address listing. rvsd does not report per-LIP port conflicts or
/// connection counts, so those columns show `-`.
pub fn local_addrs(list: &[ServiceInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:<20} {:<10} {:<10}",
        "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS"
    );
    for svc in list {
        let _ = writeln!(out, "{:<20} {:<8} ", addr_port(&svc.spec.key.addr), svc.spec.local_addrs.len());
        for lip in &svc.spec.local_addrs {
            let _ = writeln!(out, "{:<20} {:<8} {:<20} {:<10} {:<10}", "", "", lip, "-", "-");
        }
    }
    out
}

/// ipvsadm's fwd_switch, with DPVS's `-b` for FULLNAT.
fn fwd_switch(m: ForwardMethod) -> &'static str {
    match m {
        ForwardMethod::FullNat => "-b",
        ForwardMethod::Nat => "-m",
        ForwardMethod::DirectRoute => "-g",
        ForwardMethod::Tunnel => "-i",
    }
}

/// `-S`: the table as commands `-R` reads back (ipvsadm's FMT_RULE, plus `-P` lines for
/// the FULLNAT local addresses).
pub fn save(list: &[ServiceInfo]) -> String {
    let mut out = String::new();
    for svc in list {
        let key = &svc.spec.key;
        let name = format!("{} {}", service_switch(key.protocol), addr_port(&key.addr));
        let _ = writeln!(
            out,
            "-A {name} -s {}{}",
            svc.spec.scheduler,
            save_flags(&svc.spec.options, svc.spec.key.addr.is_ipv6())
        );
        for r in &svc.reals {
            let t = r.spec.thresholds;
            let mut th = String::new();
            if t.upper != 0 {
                th.push_str(&format!(" -x {}", t.upper));
            }
            if t.lower != 0 {
                th.push_str(&format!(" -y {}", t.lower));
            }
            // GUE must survive -S/-R; IPIP is -i's default.
            let tun = match (r.spec.method, r.spec.tunnel) {
                (ForwardMethod::Tunnel, Some(t)) => format!(" --tun-type gue --tun-port {}", t.port),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "-a {name} -r {} {} -w {}{tun}{th}",
                addr_port(&r.spec.addr),
                fwd_switch(r.spec.method),
                r.spec.weight
            );
        }
        for lip in &svc.spec.local_addrs {
            let _ = writeln!(out, "-P {name} -z {lip}");
        }
    }
    out
}

/// ipvsadm's flags after the scheduler: ` (sh-port)`, ` persistent 60 mask 255.255.255.0`.
/// An IPv6 service's granularity is a prefix length, printed as such when not /128.
fn service_flags(o: &rvs_proto::ServiceOptions, v6: bool) -> String {
    let mut f = String::new();
    if !o.sched_flags.is_empty() {
        f.push_str(&format!(" ({})", o.sched_flags.join(",")));
    }
    if let Some(p) = o.persistence {
        f.push_str(&format!(" persistent {}", p.timeout));
        if v6 && p.prefix_len != 128 {
            f.push_str(&format!(" mask {}", p.prefix_len));
        } else if !v6 && p.prefix_len != 32 {
            f.push_str(&format!(" mask {}", prefix_mask(p.prefix_len)));
        }
    }
    if o.syn_proxy {
        f.push_str(" synproxy");
    }
    if o.toa {
        f.push_str(" toa");
    }
    if let Some(v) = o.proxy_protocol {
        f.push_str(&format!(" proxy-protocol v{v}"));
    }
    if o.proxy_on_connect {
        f.push_str(" on-connect");
    }
    if o.expire_quiescent_template {
        f.push_str(" expire_quiescent_template");
    }
    if let Some(m) = o.mh_table_size {
        f.push_str(&format!(" mh-table-size {m}"));
    }
    f.push_str(&limit_flags(o, ""));
    f
}

/// The lists and limits, as `-L` (`prefix` "") and `-S` (`prefix` "--") write them.
fn limit_flags(o: &rvs_proto::ServiceOptions, prefix: &str) -> String {
    let mut f = String::new();
    let list = |l: &[rvs_proto::Cidr]| l.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    if !o.allow.is_empty() {
        f.push_str(&format!(" {prefix}allow {}", list(&o.allow)));
    }
    if !o.deny.is_empty() {
        f.push_str(&format!(" {prefix}deny {}", list(&o.deny)));
    }
    if let Some(r) = o.source_conn_rate {
        f.push_str(&format!(" {prefix}source-rate {r}"));
    }
    if let Some(r) = o.conn_rate {
        f.push_str(&format!(" {prefix}conn-rate {r}"));
    }
    if o.max_conns != 0 {
        f.push_str(&format!(" {prefix}max-conns {}", o.max_conns));
    }
    f
}

/// The same options as `-S` writes them.
fn save_flags(o: &rvs_proto::ServiceOptions, v6: bool) -> String {
    let mut f = String::new();
    if !o.sched_flags.is_empty() {
        f.push_str(&format!(" --sched-flags {}", o.sched_flags.join(",")));
    }
    if let Some(p) = o.persistence {
        f.push_str(&format!(" -p {}", p.timeout));
        if v6 && p.prefix_len != 128 {
            f.push_str(&format!(" -M {}", p.prefix_len));
        } else if !v6 && p.prefix_len != 32 {
            f.push_str(&format!(" -M {}", prefix_mask(p.prefix_len)));
        }
    }
    if o.syn_proxy {
        f.push_str(" --synproxy");
    }
    if o.toa {
        f.push_str(" --toa");
    }
    if let Some(v) = o.proxy_protocol {
        f.push_str(&format!(" --proxy-protocol v{v}"));
    }
    if o.proxy_on_connect {
        f.push_str(" --proxy-protocol-send on-connect");
    }
    if o.expire_quiescent_template {
        f.push_str(" --expire-quiescent-template");
    }
    if let Some(m) = o.mh_table_size {
        f.push_str(&format!(" --mh-table-size {m}"));
    }
    f.push_str(&limit_flags(o, "--"));
    f
}

fn prefix_mask(len: u8) -> std::net::Ipv4Addr {
    let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) };
    std::net::Ipv4Addr::from(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::{Protocol, RealInfo, RealSpec, ServiceSpec};

    fn ts(conns: u64, in_pkts: u64, out_pkts: u64, in_bytes: u64, out_bytes: u64) -> TrafficStats {
        TrafficStats { conns, in_pkts, out_pkts, in_bytes, out_bytes }
    }

    fn real(addr: &str, weight: u32, active: u64, inactive: u64, stats: TrafficStats) -> RealInfo {
        RealInfo {
            spec: RealSpec {
                thresholds: Default::default(),
                addr: addr.parse().unwrap(),
                weight,
                method: ForwardMethod::FullNat,
                tunnel: None,
            },
            active_conns: active,
            inactive_conns: inactive,
            stats,
        }
    }

    fn svc(
        proto: Protocol,
        addr: &str,
        sched: &str,
        reals: Vec<RealInfo>,
        stats: TrafficStats,
    ) -> ServiceInfo {
        ServiceInfo {
            spec: ServiceSpec {
                options: Default::default(),
                key: ServiceKey { protocol: proto, addr: addr.parse().unwrap() },
                scheduler: sched.into(),
                local_addrs: vec!["198.19.0.200".parse().unwrap(), "198.19.0.201".parse().unwrap()],
            },
            reals,
            stats,
        }
    }

    fn table() -> Vec<ServiceInfo> {
        vec![
            svc(
                Protocol::Tcp,
                "198.18.0.100:80",
                "rr",
                vec![
                    real("198.19.0.11:80", 1, 0, 0, ts(10, 200, 180, 30_000, 250_000)),
                    real("198.19.0.12:8080", 3, 12, 4, ts(123_456_789, 1_234_567_890, 98_765_432_100, 0, 7)),
                ],
                ts(123_456_799, 1_234_568_090, 98_765_432_280, 30_000, 250_007),
            ),
            svc(Protocol::Udp, "[2001:db8::100]:53", "wlc", vec![], TrafficStats::default()),
        ]
    }

    #[test]
    fn largenum_like_ipvsadm() {
        assert_eq!(largenum(0, false), "        0");
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(999_999_999, false), "  999999K");
        assert_eq!(largenum(1_000_000_000, false), "    1000M");
        assert_eq!(largenum(99_999_999_999, false), "   99999M");
        assert_eq!(largenum(100_000_000_000, false), "     100G");
        assert_eq!(largenum(99_999_999_999_999, false), "   99999G");
        assert_eq!(largenum(100_000_000_000_000, false), "     100T");
        assert_eq!(largenum(u64::MAX, false), "18446744T");
        assert_eq!(largenum(7, true), "        7");
        assert_eq!(largenum(12_345_678, true), " 12345678");
        assert_eq!(largenum(123_456_789, true), " 123456789");
        assert_eq!(largenum(98_765_432_100, true), " 98765432100");
    }

    #[test]
    fn golden_list_numeric() {
        let mut t = table();
        t[0].reals.truncate(1);
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.100:80 rr
  -> 198.19.0.11:80               FullNat 1      0          0         
UDP  [2001:db8::100]:53 wlc
";
        assert_eq!(services(&t, true), want);
    }

    #[test]
    fn golden_list_single_service_has_no_version_line() {
        let t = table();
        let want = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.100:80 rr
  -> 198.19.0.11:80               FullNat 1      0          0         
  -> 198.19.0.12:8080             FullNat 3      12         4         
";
        assert_eq!(services(&t[..1], false), want);
    }

    #[test]
    fn golden_stats() {
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.18.0.100:80               123456K    1234M   98765M    30000   250007
  -> 198.19.0.11:80                     10      200      180    30000   250000
  -> 198.19.0.12:8080              123456K    1234M   98765M        0        7
UDP  [2001:db8::100]:53                  0        0        0        0        0
";
        assert_eq!(stats(&table(), true, false), want);
    }

    #[test]
    fn golden_stats_exact() {
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.18.0.100:80              123456799 1234568090 98765432280    30000   250007
  -> 198.19.0.11:80                     10      200      180    30000   250000
  -> 198.19.0.12:8080             123456789 1234567890 98765432100        0        7
UDP  [2001:db8::100]:53                  0        0        0        0        0
";
        assert_eq!(stats(&table(), true, true), want);
    }

    #[test]
    fn golden_rate() {
        let prev = table();
        let mut cur = table();
        cur[0].stats = ts(
            123_456_799 + 50,
            1_234_568_090 + 1000,
            98_765_432_280 + 900,
            30_000 + 1_500_000,
            250_007 + 200_000_000,
        );
        cur[0].reals[0].stats = ts(10 + 50, 200 + 1000, 180 + 900, 30_000 + 1_500_000, 250_000 + 200_000_000);
        // A real added between the samples has no rate yet.
        cur[0].reals.push(real("198.19.0.13:80", 1, 0, 0, ts(5, 5, 5, 5, 5)));
        let r = compute_rates(&prev, &cur, Duration::from_secs(1));
        assert_eq!(
            r[0].rates,
            Rates { cps: 50, in_pps: 1000, out_pps: 900, in_bps: 1_500_000, out_bps: 200_000_000 }
        );
        assert_eq!(r[0].reals[2].1, Rates::default());
        let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  198.18.0.100:80                    50     1000      900  1500000  200000K
  -> 198.19.0.11:80                     50     1000      900  1500000  200000K
  -> 198.19.0.12:8080                    0        0        0        0        0
  -> 198.19.0.13:80                      0        0        0        0        0
UDP  [2001:db8::100]:53                  0        0        0        0        0
";
        assert_eq!(rates(&r, true, false), want);
        let half = compute_rates(&prev, &cur, Duration::from_millis(2000));
        assert_eq!(half[0].rates.cps, 25);
    }

    #[test]
    fn golden_conns() {
        let c = ConnInfo {
            protocol: Protocol::Tcp,
            expires_in: 899,
            state: "ESTABLISHED".into(),
            client: "198.18.0.10:45678".parse().unwrap(),
            virtual_addr: "198.18.0.100:80".parse().unwrap(),
            local: "198.19.0.200:1026".parse().unwrap(),
            real: "198.19.0.11:80".parse().unwrap(),
            worker: 0,
        };
        let mut u = c.clone();
        u.protocol = Protocol::Udp;
        u.expires_in = 5;
        u.state = "UDP".into();
        let want = "\
IPVS connection entries
pro expire state       source             virtual            local              destination
TCP 14:59  ESTABLISHED 198.18.0.10:45678  198.18.0.100:80    198.19.0.200:1026  198.19.0.11:80
UDP 00:05  UDP         198.18.0.10:45678  198.18.0.100:80    198.19.0.200:1026  198.19.0.11:80
";
        assert_eq!(conns(&[c, u]), want);
        assert_eq!(conns(&[]), "IPVS connection entries\npro expire state       source             virtual            local              destination\n");
    }

    #[test]
    fn persistence_granularity_by_family() {
        let o = |prefix_len| rvs_proto::ServiceOptions {
            persistence: Some(rvs_proto::Persistence { timeout: 60, prefix_len }),
            ..Default::default()
        };
        // ipvsadm: a dotted netmask for IPv4, a prefix length for IPv6, left out for a host.
        assert_eq!(service_flags(&o(24), false), " persistent 60 mask 255.255.255.0");
        assert_eq!(service_flags(&o(32), false), " persistent 60");
        assert_eq!(service_flags(&o(64), true), " persistent 60 mask 64");
        assert_eq!(service_flags(&o(128), true), " persistent 60");
        assert_eq!(save_flags(&o(64), true), " -p 60 -M 64");
        assert_eq!(save_flags(&o(128), true), " -p 60");
        assert_eq!(save_flags(&o(24), false), " -p 60 -M 255.255.255.0");
    }

    #[test]
    fn golden_timeout() {
        assert_eq!(
            timeouts(&Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
    }

    #[test]
    fn golden_local_addrs() {
        let t = table();
        let want = "\
VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     
198.18.0.100:80      2        
                              198.19.0.200         -          -         
                              198.19.0.201         -          -         
";
        assert_eq!(local_addrs(&t[..1]), want);
    }

    #[test]
    fn golden_save() {
        let mut t = table();
        t[0].reals[1].spec.method = ForwardMethod::Nat;
        t[1].spec.local_addrs.clear();
        let want = "\
-A -t 198.18.0.100:80 -s rr
-a -t 198.18.0.100:80 -r 198.19.0.11:80 -b -w 1
-a -t 198.18.0.100:80 -r 198.19.0.12:8080 -m -w 3
-P -t 198.18.0.100:80 -z 198.19.0.200
-P -t 198.18.0.100:80 -z 198.19.0.201
-A -u [2001:db8::100]:53 -s wlc
";
        assert_eq!(save(&t), want);
        t[0].reals[0].spec.method = ForwardMethod::Tunnel;
        t[0].reals[0].spec.tunnel = Some(rvs_proto::TunnelEncap { port: 6080 });
        assert!(save(&t).contains("-r 198.19.0.11:80 -i -w 1 --tun-type gue --tun-port 6080\n"));
    }
}
