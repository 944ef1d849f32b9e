//! `[cluster]`: this director as a member of an ECMP cluster of active directors (#11).
//! It carries the sync link's settings (the same keys as `[sync]`, which it replaces)
//! and the cluster's own: the member id, the port slices, the hello/dead timers, how new
//! flows are placed, the LIPs this member takes ports from, and the drain time of a
//! graceful leave. See `docs/cluster.md`.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::ha::{default_true, parse_sync, RawSync, SyncConfig};
use super::{ConfigError, Ctx};

/// How a member places a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Every service whose scheduler is not a hash of the client (`mh`, `sh`, `dh` are
    /// kept) places new flows by a Maglev table of the client's address and port, so
    /// every member with the same real servers picks the same one for a flow.
    Maglev,
    /// Each service's own scheduler (members may disagree on flows the router moves
    /// before their first sync record).
    Scheduler,
}

/// `[cluster]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// 1..=`members`; its local ports are slice `member_id - 1` of `local_port_range`.
    pub member_id: u32,
    /// Port slices: the most members the cluster will have.
    pub members: u8,
    pub hello_interval: Duration,
    /// A member is gone after this long without a hello (the dead timer).
    pub hold: Duration,
    pub placement: Placement,
    /// The LIPs this member takes local ports from (empty: every LIP of a service, in
    /// its port slice). Replies to them must be routed to this member while it lives.
    pub local_addresses: Vec<Ipv4Addr>,
    /// A leaving member keeps serving this long after its routes are withdrawn.
    pub drain: Duration,
    /// A joining member that hears no other member turns active alone after this long
    /// (the first member of a new cluster); None: never. Until then it is not announced:
    /// a member whose sync link is broken must not take flows with an empty table.
    pub alone_after: Option<Duration>,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    member_id: Spanned<u32>,
    members: Option<Spanned<u8>>,
    hello_interval_ms: Option<Spanned<u64>>,
    hold_ms: Option<Spanned<u64>>,
    placement: Option<Spanned<String>>,
    #[serde(default)]
    local_addresses: Vec<Spanned<String>>,
    drain_ms: Option<u64>,
    alone_after_ms: Option<Spanned<u64>>,
    // The sync link, as in `[sync]`.
    #[serde(default = "default_true")]
    enable: bool,
    sync_id: Option<Spanned<u8>>,
    key_file: Spanned<PathBuf>,
    interface: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    multicast_group: Option<Spanned<String>>,
    #[serde(default)]
    peers: Vec<Spanned<String>>,
    port: Option<Spanned<u16>>,
    sync_threshold: Option<Spanned<u32>>,
    sync_period: Option<Spanned<u32>>,
    sync_refresh_period: Option<u32>,
    sync_retries: Option<Spanned<u8>>,
    sync_mtu: Option<Spanned<usize>>,
    ring_size: Option<Spanned<usize>>,
}

/// Default cluster size for port slices.
pub const DEFAULT_MEMBERS: u8 = 8;
/// How long a joining member that hears nobody waits before it serves alone.
pub const DEFAULT_ALONE_AFTER_MS: u64 = 10_000;

/// `[cluster]` and the `[sync]` it implies. `sync_present` is the span of a `[sync]`
/// section's key file, if there is one (a conflict).
pub(super) fn parse_cluster(
    cx: &Ctx,
    raw: Option<RawCluster>,
    sync_present: Option<std::ops::Range<usize>>,
    port_range: (u16, u16),
    workers: usize,
) -> Result<Option<(ClusterConfig, SyncConfig)>, ConfigError> {
    let Some(r) = raw else { return Ok(None) };
    let line = cx.line_of(r.member_id.span().start);
    if let Some(span) = sync_present {
        return cx.err(
            span,
            "[sync] and [cluster] together: [cluster] carries the sync settings; move them there",
        );
    }
    let members = match &r.members {
        None => DEFAULT_MEMBERS,
        Some(m) if !(1..=64).contains(m.get_ref()) => return cx.err(m.span(), "members must be 1 to 64"),
        Some(m) => *m.get_ref(),
    };
    let id = *r.member_id.get_ref();
    if id == 0 || id > u32::from(members) {
        return cx.err(
            r.member_id.span(),
            format!("member_id {id}: must be 1 to `members` ({members}); it names the member's port slice"),
        );
    }
    let slice = crate::laddr::member_slice(port_range, id as u16 - 1, members as u16);
    if ((slice.1 - slice.0) as usize + 1) < workers.max(1) * 64 {
        let span = r.members.as_ref().map_or(r.member_id.span(), |m| m.span());
        return cx.err(
            span,
            format!(
                "local_port_range {}-{} split in {members} slices leaves {}-{} to this member: \
                 fewer than 64 ports per worker",
                port_range.0, port_range.1, slice.0, slice.1
            ),
        );
    }
    let ms = |v: &Option<Spanned<u64>>, default: u64, what: &str| -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_millis(default)),
            Some(x) if !(50..=60_000).contains(x.get_ref()) => {
                cx.err(x.span(), format!("{what} must be 50 to 60000 ms"))
            }
            Some(x) => Ok(Duration::from_millis(*x.get_ref())),
        }
    };
    let hello_interval = ms(&r.hello_interval_ms, 300, "hello_interval_ms")?;
    let hold = ms(&r.hold_ms, 1000, "hold_ms")?;
    if hold < hello_interval * 2 {
        let span = r.hold_ms.as_ref().map_or(r.member_id.span(), |h| h.span());
        return cx.err(span, "hold_ms must be at least twice hello_interval_ms");
    }
    let alone_after = match &r.alone_after_ms {
        None => Some(Duration::from_millis(DEFAULT_ALONE_AFTER_MS)),
        Some(x) if *x.get_ref() == 0 => None,
        Some(x) if (hold.as_millis() as u64..=3_600_000).contains(x.get_ref()) => {
            Some(Duration::from_millis(*x.get_ref()))
        }
        Some(x) => {
            return cx.err(
                x.span(),
                format!("alone_after_ms must be 0 (never) or {} (hold_ms) to 3600000", hold.as_millis()),
            )
        }
    };
    let placement = match &r.placement {
        None => Placement::Maglev,
        Some(p) => match p.get_ref().as_str() {
            "maglev" => Placement::Maglev,
            "scheduler" => Placement::Scheduler,
            other => {
                return cx.err(p.span(), format!("placement `{other}`: expected \"maglev\" or \"scheduler\""))
            }
        },
    };
    let mut local_addresses = Vec::new();
    for a in &r.local_addresses {
        match a.get_ref().parse::<Ipv4Addr>() {
            Ok(ip) => local_addresses.push(ip),
            Err(_) => return cx.err(a.span(), format!("bad local address `{}`", a.get_ref())),
        }
    }
    let raw_sync = RawSync {
        enable: r.enable,
        sync_id: r.sync_id,
        member_id: Some(r.member_id),
        key_file: r.key_file,
        interface: r.interface,
        source: r.source,
        multicast_group: r.multicast_group,
        peers: r.peers,
        port: r.port,
        sync_threshold: r.sync_threshold,
        sync_period: r.sync_period,
        sync_refresh_period: r.sync_refresh_period,
        sync_retries: r.sync_retries,
        sync_mtu: r.sync_mtu,
        ring_size: r.ring_size,
    };
    let sync = parse_sync(cx, Some(raw_sync))?.expect("a section was given");
    let cluster = ClusterConfig {
        member_id: id,
        members,
        hello_interval,
        hold,
        placement,
        local_addresses,
        drain: Duration::from_millis(r.drain_ms.unwrap_or(2000).min(600_000)),
        alone_after,
        line,
    };
    Ok(Some((cluster, sync)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    const BASE: &str = "[dataplane]\nworkers = [0]\n[[port]]\nname = \"c\"\ndevice = \"net_ring0\"\n";

    fn cfg(extra: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        parse(Path::new("t.toml"), &format!("{BASE}{extra}"))
    }

    #[test]
    fn cluster_implies_sync_and_names_bad_lines() {
        let c = cfg("[cluster]\nmember_id = 2\nmembers = 4\nkey_file = \"k\"\ninterface = \"sync0\"\nlocal_addresses = [\"198.19.0.202\"]\n")
            .unwrap();
        let cl = c.cluster.as_ref().unwrap();
        assert_eq!((cl.member_id, cl.members, cl.placement), (2, 4, Placement::Maglev));
        assert_eq!(cl.hold, Duration::from_millis(1000));
        assert_eq!(cl.local_addresses, [Ipv4Addr::new(198, 19, 0, 202)]);
        assert_eq!(cl.alone_after, Some(Duration::from_secs(10)));
        let s = c.sync.as_ref().unwrap();
        assert_eq!((s.member_id, s.group.to_string().as_str()), (2, "224.0.0.81:8848"));
        for (bad, line, what) in [
            ("[cluster]\nmember_id = 0\nkey_file = \"k\"\ninterface = \"s\"\n", 7, "1 to `members`"),
            ("[cluster]\nmember_id = 5\nmembers = 4\nkey_file = \"k\"\ninterface = \"s\"\n", 7, "port slice"),
            ("[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\nhold_ms = 400\n", 10, "twice"),
            ("[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\nplacement = \"rr\"\n", 10, "maglev"),
            ("[cluster]\nmember_id = 1\nkey_file = \"k\"\n", 8, "interface"),
            ("[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\nalone_after_ms = 500\n", 10, "0 (never) or 1000"),
            ("[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\nlocal_addresses = [\"x\"]\n", 10, "x"),
            (
                "[sync]\nkey_file = \"k\"\nsource = \"1.2.3.4\"\n[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\n",
                7,
                "together",
            ),
        ] {
            let Err(e) = cfg(bad) else { panic!("{bad}: accepted") };
            assert_eq!(e.line, line, "{bad}: {e}");
            assert!(e.message.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn alone_after_never_or_at_least_the_hold_time() {
        let with = |v: &str| {
            cfg(&format!(
                "[cluster]\nmember_id = 1\nkey_file = \"k\"\ninterface = \"s\"\nalone_after_ms = {v}\n"
            ))
            .map(|c| c.cluster.unwrap().alone_after)
        };
        assert_eq!(with("0").unwrap(), None);
        assert_eq!(with("1000").unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(with("60000").unwrap(), Some(Duration::from_secs(60)));
        assert!(with("999").is_err());
        assert!(with("3600001").is_err());
    }

    #[test]
    fn slices_must_leave_ports_for_every_worker() {
        let base = "[dataplane]\nworkers = [0, 1]\nlocal_port_range = [1024, 2047]\n[[port]]\nname = \"c\"\ndevice = \"net_ring0\"\n";
        let e = parse(
            Path::new("t.toml"),
            &format!("{base}[cluster]\nmember_id = 1\nmembers = 16\nkey_file = \"k\"\ninterface = \"s\"\n"),
        )
        .unwrap_err();
        assert!(e.message.contains("fewer than 64 ports per worker"), "{e}");
        assert!(parse(
            Path::new("t.toml"),
            &format!("{base}[cluster]\nmember_id = 1\nmembers = 4\nkey_file = \"k\"\ninterface = \"s\"\n"),
        )
        .is_ok());
    }
}
