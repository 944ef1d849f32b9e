//! `--owned`, `--takeover`, `--release`, `--sync` (`-L --daemon`) and `--cluster` output.

use rvs_proto::{ClusterInfo, OwnershipInfo, SyncInfo};
use std::fmt::Write;

/// One line per address: `198.18.0.100  VIP  owned`.
pub fn ownership(o: &OwnershipInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Ownership: {}",
        if o.owns_by_default {
            "master (owns every VIP/LIP not listed as released)"
        } else {
            "backup (owns only what is listed as owned)"
        }
    );
    let _ = writeln!(out, "{:<40} {:<5} State", "Address", "Kind");
    for a in &o.addresses {
        let _ = writeln!(
            out,
            "{:<40} {:<5} {}",
            a.addr,
            a.kind.to_uppercase(),
            if a.owned { "owned" } else { "released" }
        );
    }
    out
}

/// ipvsadm's `-L --daemon` prints `master sync daemon (mcast=..., syncid=...)`; this adds
/// the peers and counters.
pub fn sync(s: &SyncInfo) -> String {
    let mut out = String::new();
    if !s.enabled {
        out.push_str("sync: off (no [sync] section in rvsd's configuration)\n");
        return out;
    }
    // ipvsadm's lines first, for the scripts that read them: a director sends its own
    // sessions and takes its peers', both daemons at once, as keepalived 2 runs them.
    let group = match s.destinations.as_slice() {
        [one] => match one.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_multicast() => format!(", group={}, port={}", a.ip(), a.port()),
            _ => String::new(),
        },
        _ => String::new(),
    };
    for role in ["master", "backup"] {
        let _ = writeln!(out, "{role} sync daemon (mcast={}, syncid={}{group})", s.interface, s.sync_id);
    }
    let _ = writeln!(
        out,
        "sync daemon (syncid={}, member={}, epoch={}, interface={}, to={})",
        s.sync_id,
        s.member,
        s.epoch,
        s.interface,
        s.destinations.join(",")
    );
    let _ = writeln!(
        out,
        "sent: {} msgs, {} records, {} bytes; received: {} msgs, {} records; installed: {}",
        s.sent_msgs, s.sent_records, s.sent_bytes, s.recv_msgs, s.recv_records, s.installed
    );
    let _ = writeln!(
        out,
        "worker rings full: {}; send errors: {}; bulk answered: {}, requested: {}; lag: {} ms",
        s.ring_full, s.send_errors, s.bulk_answered, s.bulk_requested, s.lag_ms
    );
    let _ = writeln!(out, "{}", initial_sync(s));
    let _ = writeln!(
        out,
        "{:<10} {:<22} {:>10} {:>10} {:>8} {:>12} {:>10}",
        "Peer", "Address", "Epoch", "Sessions", "Behind", "Records", "Heard ms"
    );
    for p in &s.peers {
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:>10} {:>10} {:>8} {:>12} {:>10}",
            p.member, p.addr, p.epoch, p.sessions, p.behind, p.recv_records, p.last_heard_ms
        );
    }
    let _ = writeln!(out, "{:<24} {:>10}", "Refused", "Count");
    for (r, n) in &s.refused {
        let _ = writeln!(out, "{r:<24} {n:>10}");
    }
    if !s.install_failed.is_empty() {
        let _ = writeln!(out, "{:<24} {:>10}", "Not installed", "Count");
        for (r, n) in &s.install_failed {
            let _ = writeln!(out, "{r:<24} {n:>10}");
        }
    }
    out
}

/// `--cluster`: this member, then one line per member it hears.
pub fn cluster(c: &ClusterInfo) -> String {
    let mut out = String::new();
    if !c.enabled {
        out.push_str("cluster: off (no [cluster] section in rvsd's configuration)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "cluster member {} (epoch {}): {} for {} ms, generation {}, placement {}",
        c.member, c.epoch, c.state, c.state_ms, c.generation, c.placement
    );
    let _ = writeln!(
        out,
        "local ports {}-{} (slice {} of {}); hello {} ms, hold {} ms; sessions {}; sync lag {} ms",
        c.port_range.0, c.port_range.1, c.member, c.port_slices, c.hello_ms, c.hold_ms, c.sessions, c.lag_ms
    );
    if c.state == "joining" {
        let alone = match c.alone_after_ms {
            0 => "never alone: waiting for a member to answer".to_string(),
            ms => format!("alone after {ms} ms if no member answers"),
        };
        let _ = writeln!(out, "joining: not announced until the start-up sync is over; {alone}");
    }
    if c.bulk_from != 0 {
        let _ = writeln!(out, "bulk sync: {} records from member {}", c.bulk_records, c.bulk_from);
    }
    let _ = writeln!(out, "table digest {:#x} ({} synced sessions)", c.digest, c.digest_sessions);
    let _ = writeln!(
        out,
        "{:<8} {:<8} {:<22} {:>10} {:>10} {:>10} {:>18} {:<14} {:>6} {:>12} {:>8}",
        "Member",
        "State",
        "Address",
        "Epoch",
        "Gen",
        "Sessions",
        "Digest",
        "Agrees",
        "Slices",
        "Records",
        "Heard ms"
    );
    for m in &c.members {
        let agrees = match m.digest_differs_ms {
            None => "yes".to_string(),
            Some(ms) => format!("no ({ms} ms)"),
        };
        let _ = writeln!(
            out,
            "{:<8} {:<8} {:<22} {:>10} {:>10} {:>10} {:>#18x} {:<14} {:>6} {:>12} {:>8}",
            m.member,
            m.state,
            m.addr,
            m.epoch,
            m.generation,
            m.sessions,
            m.digest,
            agrees,
            m.port_slices,
            m.recv_records,
            m.last_heard_ms
        );
    }
    out
}

/// `start-up sync: complete from member 2 (41 records in 830 ms); ready` — the bulk
/// sync rvsd asked for when it started, which rvs-ctrl waits for before VRRP may preempt.
fn initial_sync(s: &SyncInfo) -> String {
    let state = if s.initial_sync.is_empty() { "unknown" } else { &s.initial_sync };
    let detail = match state {
        "syncing" if s.initial_sync_from != 0 => format!(" from member {}", s.initial_sync_from),
        "complete" | "incomplete" => format!(
            " from member {} ({} records in {} ms)",
            s.initial_sync_from, s.initial_sync_records, s.initial_sync_ms
        ),
        _ => String::new(),
    };
    let ready = if s.initial_sync_ready { "ready" } else { "not ready (VRRP held back)" };
    format!(
        "start-up sync: {state}{detail}; {ready}; our sessions: {}; bulk records received: {}",
        s.sessions, s.bulk_records
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::{AddrOwnership, SyncPeer};

    #[test]
    fn ownership_lists_each_address() {
        let o = OwnershipInfo {
            owns_by_default: false,
            addresses: vec![
                AddrOwnership { addr: "198.18.0.100".parse().unwrap(), kind: "vip".into(), owned: true },
                AddrOwnership { addr: "198.19.0.200".parse().unwrap(), kind: "lip".into(), owned: false },
            ],
        };
        let t = ownership(&o);
        assert!(t.starts_with("Ownership: backup"), "{t}");
        assert!(t.contains("198.18.0.100") && t.contains("VIP   owned"), "{t}");
        assert!(t.contains("LIP   released"), "{t}");
    }

    #[test]
    fn sync_shows_peers_and_refusals() {
        assert!(sync(&SyncInfo::default()).starts_with("sync: off"));
        let s = SyncInfo {
            enabled: true,
            sync_id: 9,
            member: 2,
            epoch: 100,
            interface: "sync0".into(),
            destinations: vec!["224.0.0.81:8848".into()],
            peers: vec![SyncPeer {
                member: 1,
                addr: "198.18.2.1:8848".into(),
                epoch: 99,
                sessions: 20,
                last_heard_ms: 300,
                recv_records: 42,
                behind: 3,
            }],
            sessions: 17,
            initial_sync: "complete".into(),
            initial_sync_ready: true,
            initial_sync_from: 1,
            initial_sync_records: 41,
            initial_sync_ms: 830,
            refused: vec![("bad_tag".into(), 3)],
            ..Default::default()
        };
        let t = sync(&s);
        // ipvsadm's two lines first, as `ipvsadm -L --daemon` prints them under keepalived 2.
        let head: Vec<&str> = t.lines().take(2).collect();
        assert_eq!(
            head,
            [
                "master sync daemon (mcast=sync0, syncid=9, group=224.0.0.81, port=8848)",
                "backup sync daemon (mcast=sync0, syncid=9, group=224.0.0.81, port=8848)"
            ]
        );
        let unicast =
            SyncInfo { destinations: vec!["198.18.2.1:8848".into(), "198.18.2.3:8848".into()], ..s.clone() };
        assert!(sync(&unicast).starts_with("master sync daemon (mcast=sync0, syncid=9)\n"));
        assert!(t.contains("syncid=9") && t.contains("224.0.0.81:8848"), "{t}");
        assert!(t.contains("198.18.2.1:8848"), "{t}");
        assert!(t.lines().any(|l| l.starts_with("bad_tag") && l.ends_with(" 3")), "{t}");
        assert!(
            t.contains(
                "start-up sync: complete from member 1 (41 records in 830 ms); ready; our sessions: 17"
            ),
            "{t}"
        );
        let peer = t.lines().find(|l| l.starts_with("1 ")).unwrap();
        assert_eq!(
            peer.split_whitespace().collect::<Vec<_>>(),
            ["1", "198.18.2.1:8848", "99", "20", "3", "42", "300"]
        );
        let waiting =
            SyncInfo { initial_sync: "syncing".into(), initial_sync_ready: false, initial_sync_from: 2, ..s };
        assert!(sync(&waiting).contains("start-up sync: syncing from member 2; not ready (VRRP held back)"));
    }

    #[test]
    fn cluster_shows_digests_and_whether_they_agree() {
        assert!(cluster(&ClusterInfo::default()).starts_with("cluster: off"));
        let m = |member, digest, differs| rvs_proto::ClusterMember {
            member,
            addr: format!("198.18.9.{member}:8848"),
            state: "active".into(),
            epoch: 7,
            generation: 3,
            sessions: 30,
            digest,
            port_slices: 4,
            last_heard_ms: 120,
            recv_records: 99,
            digest_differs_ms: differs,
        };
        let c = ClusterInfo {
            enabled: true,
            member: 3,
            state: "active".into(),
            digest: 0x1234,
            digest_sessions: 30,
            members: vec![m(1, 0x1234, None), m(2, 0x99, Some(4200))],
            ..Default::default()
        };
        let t = cluster(&c);
        assert!(t.contains("table digest 0x1234 (30 synced sessions)"), "{t}");
        let row =
            |id: &str| t.lines().find(|l| l.starts_with(id)).unwrap().split_whitespace().collect::<Vec<_>>();
        assert_eq!(row("1 ")[6..8], ["0x1234", "yes"]);
        assert_eq!(row("2 ")[6..9], ["0x99", "no", "(4200"]);
    }
}
