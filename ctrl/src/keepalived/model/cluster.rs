//! `cluster { ... }`: rvs-ctrl's extension block for a director that is a member of an
//! ECMP cluster of active directors (issue 11). rvsd's own `[cluster]` section sets the
//! membership (rvs-ctrl cannot change it on a running rvsd); the block states what the
//! operator expects, is checked like the rest of the file (FILE:LINE), and rvs-ctrl warns
//! where the running rvsd differs. While a block is present, rvs-ctrl's BIRD gate
//! announces the VIPs only while rvsd is an active member (see `crate::bird`).
//!
//! ```text
//! cluster {
//!     member_id 2                  # 1..members: the member's port slice
//!     members 4                    # port slices (the most members the cluster will have)
//!     sync_interface sy            # the sync link
//!     sync_key_file /etc/rvs/cluster.key
//!     peers { 198.18.9.1 198.18.9.3 }   # or: multicast_group 224.0.0.81
//!     hello_interval_ms 300
//!     hold_ms 1200                 # the dead timer
//!     alone_after_ms 10000         # a joiner hearing nobody serves alone after this (0: never)
//! }
//! ```

use super::super::parser::Stmt;
use super::ctx::Ctx;
use super::Loc;
use std::net::IpAddr;
use std::path::PathBuf;

pub(super) const CLUSTER_KEYS: &[&str] = &[
    "member_id",
    "members",
    "sync_interface",
    "sync_key_file",
    "peers",
    "multicast_group",
    "hello_interval_ms",
    "hold_ms",
    "alone_after_ms",
];

/// A `cluster` block, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBlock {
    pub loc: Loc,
    pub member_id: u32,
    pub members: u8,
    pub sync_interface: String,
    pub sync_key_file: Option<PathBuf>,
    pub peers: Vec<IpAddr>,
    pub multicast_group: Option<IpAddr>,
    pub hello_ms: u64,
    pub hold_ms: u64,
    /// rvsd's `[cluster] alone_after_ms`, when the block states it (0: never alone).
    pub alone_after_ms: Option<u64>,
}

fn ms(cx: &mut Ctx, k: &Stmt) -> Option<u64> {
    let v = cx.u32(k)?;
    if !(50..=60_000).contains(&v) {
        cx.error(&k.loc, format!("'{}' must be 50 to 60000 ms", k.keyword));
        return None;
    }
    Some(u64::from(v))
}

fn ip(cx: &mut Ctx, k: &Stmt, a: &str) -> Option<IpAddr> {
    match a.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.error(&k.loc, format!("'{}': {a:?} is not an IP address", k.keyword));
            None
        }
    }
}

/// Reads a `cluster` block; errors name the line.
pub(super) fn cluster(cx: &mut Ctx, s: &Stmt) -> Option<ClusterBlock> {
    let mut b = ClusterBlock {
        loc: s.loc.clone(),
        member_id: 0,
        members: 8,
        sync_interface: String::new(),
        sync_key_file: None,
        peers: Vec::new(),
        multicast_group: None,
        hello_ms: 300,
        hold_ms: 1000,
        alone_after_ms: None,
    };
    let mut ok = true;
    let mut hold_loc = s.loc.clone();
    let mut alone_loc = s.loc.clone();
    for k in s.block.iter().flatten() {
        match k.keyword.as_str() {
            "member_id" => b.member_id = cx.u32(k).unwrap_or(0),
            "members" => match cx.u32(k) {
                Some(n @ 1..=64) => b.members = n as u8,
                Some(n) => {
                    cx.error(&k.loc, format!("'members' {n}: must be 1 to 64"));
                    ok = false;
                }
                None => ok = false,
            },
            "sync_interface" => b.sync_interface = cx.arg(k, 0).unwrap_or_default().to_string(),
            "sync_key_file" => b.sync_key_file = cx.arg(k, 0).map(PathBuf::from),
            "peers" => {
                let words: Vec<&str> = k
                    .args
                    .iter()
                    .map(String::as_str)
                    .chain(k.block.iter().flatten().flat_map(|x| {
                        std::iter::once(x.keyword.as_str()).chain(x.args.iter().map(String::as_str))
                    }))
                    .collect();
                for w in words {
                    match ip(cx, k, w) {
                        Some(a) if a.is_multicast() || a.is_unspecified() => {
                            cx.error(&k.loc, format!("'peers': {a} must be a unicast address"));
                            ok = false;
                        }
                        Some(a) => b.peers.push(a),
                        None => ok = false,
                    }
                }
            }
            "multicast_group" => match cx.arg(k, 0).and_then(|a| ip(cx, k, a)) {
                Some(a) if a.is_multicast() => b.multicast_group = Some(a),
                Some(a) => {
                    cx.error(&k.loc, format!("'multicast_group' {a} is not a multicast address"));
                    ok = false;
                }
                None => ok = false,
            },
            "hello_interval_ms" => b.hello_ms = ms(cx, k).unwrap_or(b.hello_ms),
            "hold_ms" => {
                hold_loc = k.loc.clone();
                b.hold_ms = ms(cx, k).unwrap_or(b.hold_ms);
            }
            "alone_after_ms" => {
                alone_loc = k.loc.clone();
                match cx.u32(k) {
                    Some(v) => b.alone_after_ms = Some(u64::from(v)),
                    None => ok = false,
                }
            }
            _ => cx.unknown(k, "cluster", CLUSTER_KEYS),
        }
    }
    if b.member_id == 0 || b.member_id > u32::from(b.members) {
        cx.error(
            &s.loc,
            format!("cluster: member_id must be 1 to members ({}); it names the port slice", b.members),
        );
        ok = false;
    }
    if b.sync_interface.is_empty() {
        cx.error(&s.loc, "cluster: sync_interface is required (the sync link)");
        ok = false;
    }
    if !b.peers.is_empty() && b.multicast_group.is_some() {
        cx.error(&s.loc, "cluster: 'peers' or 'multicast_group', not both");
        ok = false;
    }
    if b.hold_ms < 2 * b.hello_ms {
        cx.error(&hold_loc, "cluster: hold_ms must be at least twice hello_interval_ms");
        ok = false;
    }
    // As rvsd's `[cluster]` checks it: never, or no sooner than the dead timer.
    if let Some(a) = b.alone_after_ms.filter(|&a| a != 0 && !(b.hold_ms..=3_600_000).contains(&a)) {
        cx.error(
            &alone_loc,
            format!("cluster: alone_after_ms {a} must be 0 (never) or {} (hold_ms) to 3600000", b.hold_ms),
        );
        ok = false;
    }
    ok.then_some(b)
}

/// Where the running rvsd's membership differs from the block (empty: it agrees).
pub fn cluster_mismatch(b: &ClusterBlock, c: &rvs_proto::ClusterInfo) -> Vec<String> {
    let mut out = Vec::new();
    if !c.enabled {
        out.push("rvsd has no [cluster] section: it is not a cluster member".to_string());
        return out;
    }
    if c.member != b.member_id {
        out.push(format!("rvsd is member {}, the block says member_id {}", c.member, b.member_id));
    }
    if c.port_slices != b.members {
        out.push(format!(
            "rvsd partitions ports in {} slices, the block says members {}",
            c.port_slices, b.members
        ));
    }
    if c.hello_ms != b.hello_ms || c.hold_ms != b.hold_ms {
        out.push(format!(
            "rvsd's hello/hold are {}/{} ms, the block says {}/{} ms",
            c.hello_ms, c.hold_ms, b.hello_ms, b.hold_ms
        ));
    }
    if let Some(a) = b.alone_after_ms.filter(|&a| a != c.alone_after_ms) {
        out.push(format!("rvsd's alone_after_ms is {}, the block says {a}", c.alone_after_ms));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keepalived::load_str;

    const OK: &str = "cluster {\n  member_id 2\n  members 4\n  sync_interface sy\n  sync_key_file /etc/rvs/k\n  peers {\n    198.18.9.1\n    198.18.9.3\n  }\n  hold_ms 1200\n}\n";

    #[test]
    fn a_cluster_block_is_read_and_compared_with_rvsd() {
        let l = load_str("k.conf", OK).unwrap_or_else(|e| panic!("{:?}", e.lines()));
        let b = l.config.cluster.clone().expect("cluster block");
        assert_eq!((b.member_id, b.members, b.sync_interface.as_str()), (2, 4, "sy"));
        assert_eq!(b.peers.len(), 2);
        assert_eq!((b.hello_ms, b.hold_ms), (300, 1200));
        let mut c = rvs_proto::ClusterInfo {
            enabled: true,
            member: 2,
            port_slices: 4,
            hello_ms: 300,
            hold_ms: 1200,
            ..Default::default()
        };
        assert!(cluster_mismatch(&b, &c).is_empty());
        c.member = 3;
        c.port_slices = 8;
        let m = cluster_mismatch(&b, &c);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("member 3"), "{m:?}");
        c.enabled = false;
        assert!(cluster_mismatch(&b, &c)[0].contains("no [cluster]"));
    }

    #[test]
    fn alone_after_ms_is_checked_and_compared_when_stated() {
        let text = OK.replace("  hold_ms 1200\n", "  hold_ms 1200\n  alone_after_ms 10000\n");
        let b =
            load_str("k.conf", &text).unwrap_or_else(|e| panic!("{:?}", e.lines())).config.cluster.unwrap();
        assert_eq!(b.alone_after_ms, Some(10_000));
        let mut c = rvs_proto::ClusterInfo {
            enabled: true,
            member: 2,
            port_slices: 4,
            hello_ms: 300,
            hold_ms: 1200,
            alone_after_ms: 10_000,
            ..Default::default()
        };
        assert!(cluster_mismatch(&b, &c).is_empty());
        c.alone_after_ms = 0;
        let m = cluster_mismatch(&b, &c);
        assert_eq!(m, vec!["rvsd's alone_after_ms is 0, the block says 10000".to_string()]);
        // Not stated: whatever rvsd has is fine.
        let b = load_str("k.conf", OK).unwrap().config.cluster.unwrap();
        assert!(cluster_mismatch(&b, &c).is_empty());
        // 0 is never; between 1 and hold_ms is refused with the line.
        let zero = OK.replace("  hold_ms 1200\n", "  hold_ms 1200\n  alone_after_ms 0\n");
        assert_eq!(load_str("k.conf", &zero).unwrap().config.cluster.unwrap().alone_after_ms, Some(0));
        let short = OK.replace("  hold_ms 1200\n", "  hold_ms 1200\n  alone_after_ms 500\n");
        let Err(e) = load_str("k.conf", &short) else { panic!("alone_after_ms 500 accepted") };
        let e = e.lines();
        assert!(
            e.iter()
                .any(|l| l.starts_with("k.conf:11: cluster: alone_after_ms 500 must be 0 (never) or 1200")),
            "{e:?}"
        );
    }

    #[test]
    fn bad_cluster_blocks_name_the_line() {
        for (text, want) in [
            (
                "cluster {\n  member_id 5\n  members 4\n  sync_interface sy\n}\n",
                "k.conf:1: cluster: member_id must be 1 to members (4)",
            ),
            ("cluster {\n  member_id 1\n}\n", "k.conf:1: cluster: sync_interface is required"),
            (
                "cluster {\n  member_id 1\n  sync_interface sy\n  peers { 224.0.0.81 }\n}\n",
                "k.conf:4: 'peers': 224.0.0.81 must be a unicast",
            ),
            (
                "cluster {\n  member_id 1\n  sync_interface sy\n  multicast_group 10.0.0.1\n}\n",
                "k.conf:4: 'multicast_group' 10.0.0.1 is not a multicast",
            ),
            (
                "cluster {\n  member_id 1\n  sync_interface sy\n  hold_ms 100\n}\n",
                "k.conf:4: cluster: hold_ms must be at least twice",
            ),
            (
                "cluster {\n  member_id 1\n  sync_interface sy\n  members 65\n}\n",
                "k.conf:4: 'members' 65: must be 1 to 64",
            ),
            (&format!("{OK}{OK}"), "k.conf:12: a second cluster block (the first is at k.conf:1)"),
        ] {
            let e = match load_str("k.conf", text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => e.lines(),
            };
            assert!(e.iter().any(|l| l.starts_with(want)), "{text}: {e:?}");
        }
    }
}
