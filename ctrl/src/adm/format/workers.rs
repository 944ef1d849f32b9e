//! `--workers` output: each worker's counters, the reply steering, drop reasons and
//! events per worker, VLAN interfaces, and each port's NIC counters.

use rvs_proto::{PortStats, WorkerStats};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// `--workers`: one row per worker, then the drop reasons (every reason any worker
/// reports, sorted by name) with a total and one column per worker, the VLAN interfaces,
/// and last each port's NIC counters (frames the NIC dropped before any worker saw them).
pub fn workers(list: &[WorkerStats], ports: &[PortStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<5} {:>11} {:>11} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "Worker", "Lcore", "RxPkts", "TxPkts", "RedirIn", "RedirOut", "Sessions", "Created", "Expired"
    );
    for w in list {
        let _ = writeln!(
            out,
            "{:<6} {:<5} {:>11} {:>11} {:>9} {:>9} {:>10} {:>10} {:>10}",
            w.worker,
            w.lcore,
            w.rx_packets,
            w.tx_packets,
            w.redirected_in,
            w.redirected_out,
            w.sessions_live,
            w.sessions_created,
            w.sessions_expired
        );
    }
    if let Some(s) = list.iter().find_map(|w| w.steering.as_deref()) {
        let _ = writeln!(out, "Reply steering: {s}");
    }
    per_worker_table(&mut out, "Drop reason", list, |w| &w.drops);
    if list.iter().any(|w| !w.events.is_empty()) {
        per_worker_table(&mut out, "Event", list, |w| &w.events);
    }
    vlans(&mut out, list);
    port_table(&mut out, ports);
    out
}

/// `--workers`' port table: one row per port, its NIC's counts.
fn port_table(out: &mut String, ports: &[PortStats]) {
    if ports.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<12} {:<16} {:>11} {:>11} {:>10} {:>9} {:>9} {:>9}",
        "Port", "Device", "RxPkts", "TxPkts", "RxMissed", "RxErrors", "RxNoMbuf", "TxErrors"
    );
    for p in ports {
        let _ = writeln!(
            out,
            "{:<12} {:<16} {:>11} {:>11} {:>10} {:>9} {:>9} {:>9}",
            p.port, p.device, p.rx_packets, p.tx_packets, p.rx_missed, p.rx_errors, p.rx_nombuf, p.tx_errors
        );
    }
}

/// `--workers`' VLAN table: one row per (port, VLAN) and worker, then the VLAN's total.
fn vlans(out: &mut String, list: &[WorkerStats]) {
    let mut keys: Vec<(&str, u16)> =
        list.iter().flat_map(|w| w.vlans.iter().map(|v| (v.port.as_str(), v.vlan))).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<12} {:>5} {:<6} {:>11} {:>13} {:>11} {:>13} {:>9}",
        "Port", "VLAN", "Worker", "RxPkts", "RxBytes", "TxPkts", "TxBytes", "Drops"
    );
    for (port, vid) in keys {
        let mut total = [0u64; 5];
        for w in list {
            for v in w.vlans.iter().filter(|v| v.port == port && v.vlan == vid) {
                let row = [v.rx_packets, v.rx_bytes, v.tx_packets, v.tx_bytes, v.drops];
                for (t, n) in total.iter_mut().zip(row) {
                    *t += n;
                }
                let _ = writeln!(
                    out,
                    "{:<12} {:>5} {:<6} {:>11} {:>13} {:>11} {:>13} {:>9}",
                    port, vid, w.worker, row[0], row[1], row[2], row[3], row[4]
                );
            }
        }
        let _ = writeln!(
            out,
            "{:<12} {:>5} {:<6} {:>11} {:>13} {:>11} {:>13} {:>9}",
            port, vid, "all", total[0], total[1], total[2], total[3], total[4]
        );
    }
}

/// A table of named per-worker counts: one row per name any worker reports, a total and a
/// column per worker.
fn per_worker_table(
    out: &mut String,
    title: &str,
    list: &[WorkerStats],
    rows: impl Fn(&WorkerStats) -> &Vec<(String, u64)>,
) {
    let names: BTreeSet<&str> = list.iter().flat_map(|w| rows(w).iter().map(|(r, _)| r.as_str())).collect();
    let _ = write!(out, "{:<24} {:>10}", title, "Total");
    for w in list {
        let _ = write!(out, " {:>8}", format!("W{}", w.worker));
    }
    out.push('\n');
    for name in names {
        let counts: Vec<u64> =
            list.iter().map(|w| rows(w).iter().filter(|(r, _)| r == name).map(|(_, n)| n).sum()).collect();
        let _ = write!(out, "{:<24} {:>10}", name, counts.iter().sum::<u64>());
        for n in counts {
            let _ = write!(out, " {n:>8}");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_workers() {
        let w0 = WorkerStats {
            worker: 0,
            lcore: 1,
            rx_packets: 123,
            rx_bytes: 9999,
            tx_packets: 120,
            tx_bytes: 9000,
            redirected_out: 5,
            redirected_in: 0,
            sessions_created: 10,
            sessions_expired: 8,
            sessions_live: 2,
            sessions_capacity: 0,
            drops: vec![("bad_ip_checksum".into(), 3), ("no_route".into(), 1)],
            events: vec![("toa_inserted".into(), 4)],
            loops: 0,
            steering: None,
            vlans: vec![],
        };
        let w1 = WorkerStats {
            worker: 1,
            lcore: 2,
            rx_packets: 4_000_000_000,
            tx_packets: 3_999_999_000,
            redirected_in: 5,
            sessions_live: 1,
            drops: vec![("ttl_exceeded".into(), 7), ("no_route".into(), 2)],
            ..Default::default()
        };
        let want = "\
Worker Lcore      RxPkts      TxPkts   RedirIn  RedirOut   Sessions    Created    Expired
0      1             123         120         0         5          2         10          8
1      2      4000000000  3999999000         5         0          1          0          0
Drop reason                   Total       W0       W1
bad_ip_checksum                   3        3        0
no_route                          3        1        2
ttl_exceeded                      7        0        7
Event                         Total       W0       W1
toa_inserted                      4        4        0
";
        assert_eq!(workers(&[w0, w1], &[]), want);
        assert_eq!(
            workers(&[], &[]),
            "Worker Lcore      RxPkts      TxPkts   RedirIn  RedirOut   Sessions    Created    Expired\nDrop reason                   Total\n"
        );
        let w =
            WorkerStats { steering: Some("flow; client=handoff server=flow".into()), ..Default::default() };
        assert!(
            workers(&[w], &[]).contains("\nReply steering: flow; client=handoff server=flow\nDrop reason")
        );
    }

    #[test]
    fn golden_workers_ports() {
        let p = |port: &str, device: &str, rx, missed| PortStats {
            port: port.into(),
            device: device.into(),
            rx_packets: rx,
            rx_bytes: rx * 60,
            tx_packets: rx - 1,
            tx_bytes: (rx - 1) * 60,
            rx_missed: missed,
            rx_errors: 2,
            tx_errors: 3,
            rx_nombuf: 4,
        };
        let ports = [p("client", "net_af_packet0", 1000, 17), p("server", "0000:03:00.0", 5_000_000_000, 0)];
        let w = WorkerStats { vlans: vec![], ..Default::default() };
        let out = workers(&[w], &ports);
        let want = "\
Port         Device                RxPkts      TxPkts   RxMissed  RxErrors  RxNoMbuf  TxErrors
client       net_af_packet0          1000         999         17         2         4         3
server       0000:03:00.0      5000000000  4999999999          0         2         4         3
";
        assert!(out.ends_with(want), "{out}");
        assert!(!workers(&[], &[]).contains("Device"));
    }

    #[test]
    fn golden_workers_vlans() {
        let v = |vlan, rx, drops| rvs_proto::VlanStats {
            port: "server".into(),
            vlan,
            rx_packets: rx,
            rx_bytes: rx * 100,
            tx_packets: rx + 1,
            tx_bytes: (rx + 1) * 100,
            drops,
        };
        let w0 = WorkerStats { vlans: vec![v(10, 5, 1), v(20, 7, 0)], ..Default::default() };
        let w1 = WorkerStats { worker: 1, vlans: vec![v(10, 2, 0), v(20, 0, 0)], ..Default::default() };
        let out = workers(&[w0, w1], &[]);
        let want = "\
Port          VLAN Worker      RxPkts       RxBytes      TxPkts       TxBytes     Drops
server          10 0                5           500           6           600         1
server          10 1                2           200           3           300         0
server          10 all              7           700           9           900         1
server          20 0                7           700           8           800         0
server          20 1                0             0           1           100         0
server          20 all              7           700           9           900         0
";
        assert!(out.ends_with(want), "{out}");
    }
}
