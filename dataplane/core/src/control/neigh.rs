//! `rvsadm --neigh`: the workers' neighbour tables as one listing, `ip neigh` style. Each
//! worker keeps its own table (what one learns reaches the others as a message), so the
//! same neighbour is usually in every one: rows that agree are shown once, with the
//! workers that hold them.

use std::net::IpAddr;

use crate::neigh::NeighEntry;
use crate::wire::MacAddr;
use rvs_proto::NeighInfo;

/// The workers' tables (`tables[w]` is worker `w`'s) as rows, sorted by address and
/// interface; `names` names the interfaces by number.
pub fn neighbour_rows(names: &[String], tables: &[Vec<NeighEntry>], only: Option<IpAddr>) -> Vec<NeighInfo> {
    let mut rows: Vec<NeighInfo> = Vec::new();
    for (w, table) in tables.iter().enumerate() {
        for e in table.iter().filter(|e| only.is_none_or(|a| a == e.addr)) {
            let dev = names.get(e.iface as usize).cloned().unwrap_or_else(|| format!("if{}", e.iface));
            let mac = e.mac.map(|m| MacAddr(m).to_string());
            let state = e.state.name();
            match rows
                .iter_mut()
                .find(|r| r.addr == e.addr && r.dev == dev && r.mac == mac && r.state == state)
            {
                Some(r) => {
                    r.queued += e.queued as u64;
                    r.workers.push(w as u16);
                }
                None => rows.push(NeighInfo {
                    addr: e.addr,
                    dev,
                    mac,
                    state: state.into(),
                    queued: e.queued as u64,
                    workers: vec![w as u16],
                }),
            }
        }
    }
    // IPv4 before IPv6, then by address, interface and the first worker.
    rows.sort_by(|a, b| (a.addr, &a.dev, a.workers.first()).cmp(&(b.addr, &b.dev, b.workers.first())));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neigh::NeighState;

    fn entry(addr: &str, iface: u16, mac: Option<u8>, state: NeighState, queued: usize) -> NeighEntry {
        NeighEntry { addr: addr.parse().unwrap(), iface, mac: mac.map(|m| [2, 0, 0, 0, 0, m]), state, queued }
    }

    #[test]
    fn rows_that_agree_are_one_and_name_their_workers() {
        let names = vec!["client".to_string(), "server".into(), "server.10".into()];
        let rs = entry("198.19.0.11", 1, Some(11), NeighState::Permanent, 0);
        let tables = vec![
            vec![
                rs,
                entry("198.18.0.10", 0, Some(10), NeighState::Reachable, 0),
                entry("2001:db8::5", 2, None, NeighState::Incomplete, 2),
            ],
            vec![
                entry("198.18.0.10", 0, Some(10), NeighState::Stale, 0),
                rs,
                entry("2001:db8::5", 2, None, NeighState::Incomplete, 1),
                entry("198.19.0.12", 7, Some(12), NeighState::Reachable, 0),
            ],
        ];
        let rows = neighbour_rows(&names, &tables, None);
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.addr.to_string(),
                    r.dev.as_str(),
                    r.mac.as_deref(),
                    r.state.as_str(),
                    r.queued,
                    r.workers.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("198.18.0.10".into(), "client", Some("02:00:00:00:00:0a"), "reachable", 0, vec![0]),
                ("198.18.0.10".into(), "client", Some("02:00:00:00:00:0a"), "stale", 0, vec![1]),
                ("198.19.0.11".into(), "server", Some("02:00:00:00:00:0b"), "permanent", 0, vec![0, 1]),
                ("198.19.0.12".into(), "if7", Some("02:00:00:00:00:0c"), "reachable", 0, vec![1]),
                ("2001:db8::5".into(), "server.10", None, "incomplete", 3, vec![0, 1]),
            ]
        );
        let one = neighbour_rows(&names, &tables, Some("198.19.0.11".parse().unwrap()));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].workers, [0, 1]);
    }
}
