//! `--neigh` output, in `ip neigh`'s layout: `ADDR dev IFACE lladdr MAC STATE`, with the
//! workers named when not all of them hold the row, and the packets waiting.

use rvs_proto::NeighInfo;
use std::fmt::Write;

/// One line per row of `rows`, of `workers` workers' tables.
pub fn neighbours(workers: u16, rows: &[NeighInfo]) -> String {
    let mut out = String::new();
    for r in rows {
        let _ = write!(out, "{} dev {}", r.addr, r.dev);
        if let Some(mac) = &r.mac {
            let _ = write!(out, " lladdr {mac}");
        }
        let _ = write!(out, " {}", r.state.to_uppercase());
        if r.queued > 0 {
            let _ = write!(out, " queued {}", r.queued);
        }
        if r.workers.len() < workers as usize {
            let list: Vec<String> = r.workers.iter().map(u16::to_string).collect();
            let word = if r.workers.len() == 1 { "worker" } else { "workers" };
            let _ = write!(out, " {word} {}", list.join(","));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_ip_neigh_prints_them() {
        let row = |addr: &str, mac: Option<&str>, state: &str, queued, workers: Vec<u16>| NeighInfo {
            addr: addr.parse().unwrap(),
            dev: "server".into(),
            mac: mac.map(String::from),
            state: state.into(),
            queued,
            workers,
        };
        let rows = [
            row("198.19.0.11", Some("02:00:00:00:00:0b"), "permanent", 0, vec![0, 1]),
            row("198.19.0.12", Some("02:00:00:00:00:0c"), "stale", 0, vec![1]),
            row("2001:db8::5", None, "incomplete", 3, vec![0, 1]),
        ];
        assert_eq!(
            neighbours(2, &rows),
            "198.19.0.11 dev server lladdr 02:00:00:00:00:0b PERMANENT\n\
             198.19.0.12 dev server lladdr 02:00:00:00:00:0c STALE worker 1\n\
             2001:db8::5 dev server INCOMPLETE queued 3\n"
        );
        assert_eq!(neighbours(2, &[]), "");
    }
}
