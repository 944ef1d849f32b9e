//! The two-director sections: `[ha]` (which VIPs/LIPs this director owns at start) and
//! `[sync]` (the session sync thread: group, key, socket, IPVS's sync knobs).

use serde::Deserialize;
use serde_spanned::Spanned;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Ctx};
use crate::sync::SyncParams;

/// `[ha]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaParams {
    /// `initial = "master"` (the default: own every VIP and LIP, a lone director) or
    /// `"backup"` (own none until `rvsadm --takeover` or VRRP says so).
    pub initial_master: bool,
}

impl Default for HaParams {
    fn default() -> Self {
        HaParams { initial_master: true }
    }
}

/// `[sync]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub enabled: bool,
    /// The group (IPVS `syncid`): messages of another id are refused.
    pub sync_id: u8,
    /// This director's member id in the group (never 0); default: its `source` address.
    pub member_id: u32,
    /// File holding the cluster key (see `docs/sync.md`); must not be readable by group
    /// or others (checked at start).
    pub key_file: PathBuf,
    pub key_line: usize,
    /// Kernel interface to send and receive on (`SO_BINDTODEVICE`, multicast membership).
    pub interface: Option<String>,
    /// Address to send from (and bind to for unicast).
    pub source: Option<Ipv4Addr>,
    /// Multicast group and port (IPVS: 224.0.0.81:8848), used when `peers` is empty.
    pub group: SocketAddrV4,
    /// Unicast peers: messages go to each; only they are accepted.
    pub peers: Vec<SocketAddrV4>,
    /// UDP port we listen on.
    pub port: u16,
    /// IPVS's `sync_threshold`, `sync_period`, `sync_refresh_period`, `sync_retries`.
    pub params: SyncParams,
    /// IPVS's `sync_mtu` (bytes of IP datagram).
    pub mtu: usize,
    /// Records per worker ring (each direction).
    pub ring_size: usize,
    /// Line of the `[sync]` section, for start-up errors.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHa {
    initial: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    #[serde(default = "default_true")]
    pub(super) enable: bool,
    pub(super) sync_id: Option<Spanned<u8>>,
    pub(super) member_id: Option<Spanned<u32>>,
    pub(super) key_file: Spanned<PathBuf>,
    pub(super) interface: Option<Spanned<String>>,
    pub(super) source: Option<Spanned<String>>,
    pub(super) multicast_group: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) peers: Vec<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    pub(super) sync_threshold: Option<Spanned<u32>>,
    pub(super) sync_period: Option<Spanned<u32>>,
    /// Seconds.
    pub(super) sync_refresh_period: Option<u32>,
    pub(super) sync_retries: Option<Spanned<u8>>,
    pub(super) sync_mtu: Option<Spanned<usize>>,
    pub(super) ring_size: Option<Spanned<usize>>,
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn parse_ha(cx: &Ctx, raw: Option<RawHa>) -> Result<HaParams, ConfigError> {
    let Some(initial) = raw.and_then(|r| r.initial) else { return Ok(HaParams::default()) };
    // Any case: keepalived's `state` spells them MASTER and BACKUP.
    match initial.get_ref().to_ascii_lowercase().as_str() {
        "master" => Ok(HaParams { initial_master: true }),
        "backup" => Ok(HaParams { initial_master: false }),
        _ => cx.err(
            initial.span(),
            format!("[ha] initial `{}`: expected \"master\" or \"backup\"", initial.get_ref()),
        ),
    }
}

fn sock(cx: &Ctx, s: &Spanned<String>, default_port: u16) -> Result<SocketAddrV4, ConfigError> {
    let t = s.get_ref();
    if let Ok(a) = t.parse::<SocketAddrV4>() {
        return Ok(a);
    }
    match t.parse::<Ipv4Addr>() {
        Ok(ip) => Ok(SocketAddrV4::new(ip, default_port)),
        Err(_) => cx.err(s.span(), format!("bad address `{t}`: expected A.B.C.D[:PORT] (IPv4)")),
    }
}

pub(super) fn parse_sync(cx: &Ctx, raw: Option<RawSync>) -> Result<Option<SyncConfig>, ConfigError> {
    let Some(r) = raw else { return Ok(None) };
    let line = cx.line_of(r.key_file.span().start);
    let port = match &r.port {
        None => crate::sync::DEFAULT_PORT,
        Some(p) if *p.get_ref() == 0 => return cx.err(p.span(), "sync port must be 1 to 65535"),
        Some(p) => *p.get_ref(),
    };
    let source = match &r.source {
        None => None,
        Some(s) => Some(
            s.get_ref()
                .parse::<Ipv4Addr>()
                .or_else(|_| cx.err(s.span(), format!("bad source address `{}`", s.get_ref())))?,
        ),
    };
    if let Some(i) = &r.interface {
        if i.get_ref().is_empty() || i.get_ref().len() > super::exception::IFNAME_MAX {
            return cx.err(i.span(), "sync interface name must be 1 to 15 bytes");
        }
    }
    if r.interface.is_none() && source.is_none() {
        return cx.err(r.key_file.span(), "[sync] needs `interface` or `source` to send from");
    }
    let group = match &r.multicast_group {
        None => SocketAddrV4::new(crate::sync::DEFAULT_GROUP, port),
        Some(g) => {
            let a = sock(cx, g, port)?;
            if !a.ip().is_multicast() {
                return cx.err(g.span(), format!("multicast_group {} is not a multicast address", a.ip()));
            }
            a
        }
    };
    let mut peers = Vec::new();
    for p in &r.peers {
        let a = sock(cx, p, port)?;
        if a.ip().is_multicast() || a.ip().is_unspecified() {
            return cx.err(p.span(), format!("peer {a} must be a unicast address"));
        }
        peers.push(a);
    }
    if r.multicast_group.is_some() && !peers.is_empty() {
        return cx.err(r.peers[0].span(), "[sync] takes `multicast_group` or `peers`, not both");
    }
    let member_id = match (&r.member_id, source) {
        (Some(m), _) if *m.get_ref() == 0 => return cx.err(m.span(), "member_id must not be 0"),
        (Some(m), _) => *m.get_ref(),
        (None, Some(s)) => u32::from(s),
        (None, None) => return cx.err(r.key_file.span(), "[sync] needs `member_id` (or a `source` address)"),
    };
    let mut params = SyncParams::default();
    if let Some(t) = &r.sync_threshold {
        params.threshold = *t.get_ref();
    }
    if let Some(p) = &r.sync_period {
        params.period = *p.get_ref();
    }
    // IPVS refuses threshold >= period when period is set.
    if params.period > 0 && params.threshold >= params.period {
        let span = r.sync_threshold.as_ref().map_or(r.key_file.span(), |t| t.span());
        return cx.err(span, "sync_threshold must be below sync_period (or sync_period 0)");
    }
    if let Some(s) = r.sync_refresh_period {
        params.refresh_period = Duration::from_secs(u64::from(s));
    }
    if let Some(n) = &r.sync_retries {
        if *n.get_ref() > 3 {
            return cx.err(n.span(), "sync_retries is at most 3");
        }
        params = params.with_retries(*n.get_ref());
    }
    let mtu = match &r.sync_mtu {
        None => crate::sync::DEFAULT_SYNC_MTU,
        Some(m) if !(576..=9000).contains(m.get_ref()) => {
            return cx.err(m.span(), "sync_mtu must be between 576 and 9000")
        }
        Some(m) => *m.get_ref(),
    };
    let ring_size = match &r.ring_size {
        None => 8192,
        Some(n) if !(64..=1 << 20).contains(n.get_ref()) => {
            return cx.err(n.span(), "sync ring_size must be between 64 and 1048576")
        }
        Some(n) => *n.get_ref(),
    };
    Ok(Some(SyncConfig {
        enabled: r.enable,
        sync_id: r.sync_id.map_or(0, |s| s.into_inner()),
        member_id,
        key_line: line,
        key_file: r.key_file.into_inner(),
        interface: r.interface.map(|i| i.into_inner()),
        source,
        group,
        peers,
        port,
        params,
        mtu,
        ring_size,
        line,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    const BASE: &str = "[dataplane]\nworkers = [0]\n[[port]]\nname = \"c\"\ndevice = \"net_ring0\"\n";

    fn cfg(extra: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        parse(Path::new("t.toml"), &format!("{BASE}{extra}"))
    }

    #[test]
    fn ha_defaults_to_master_and_takes_backup() {
        assert!(cfg("").unwrap().ha.initial_master);
        assert!(!cfg("[ha]\ninitial = \"backup\"\n").unwrap().ha.initial_master);
        assert!(!cfg("[ha]\ninitial = \"BACKUP\"\n").unwrap().ha.initial_master);
        assert!(cfg("[ha]\ninitial = \"MASTER\"\n").unwrap().ha.initial_master);
        let e = cfg("[ha]\ninitial = \"slave\"\n").unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("master"), "{e}");
    }

    #[test]
    fn sync_defaults_and_errors_name_the_line() {
        assert!(cfg("").unwrap().sync.is_none());
        let s = cfg("[sync]\nkey_file = \"/etc/rvs/k\"\nsource = \"198.18.2.1\"\nsync_id = 7\n")
            .unwrap()
            .sync
            .unwrap();
        assert!(s.enabled);
        assert_eq!(s.group.to_string(), "224.0.0.81:8848");
        assert_eq!(s.member_id, u32::from(std::net::Ipv4Addr::new(198, 18, 2, 1)));
        assert_eq!((s.params.threshold, s.params.period), (3, 50));
        let s = cfg("[sync]\nkey_file = \"k\"\ninterface = \"sync0\"\nmember_id = 2\npeers = [\"198.18.2.2\"]\nsync_refresh_period = 10\n")
            .unwrap()
            .sync
            .unwrap();
        assert_eq!(s.peers[0].to_string(), "198.18.2.2:8848");
        assert_eq!(s.params.refresh_period.as_secs(), 10);
        for (bad, line, what) in [
            ("[sync]\nkey_file = \"k\"\n", 7, "interface"),
            ("[sync]\nkey_file = \"k\"\ninterface = \"s\"\n", 7, "member_id"),
            (
                "[sync]\nkey_file = \"k\"\nsource = \"1.2.3.4\"\nmulticast_group = \"10.0.0.1\"\n",
                9,
                "multicast",
            ),
            ("[sync]\nkey_file = \"k\"\nsource = \"1.2.3.4\"\nsync_threshold = 50\n", 9, "below"),
            ("[sync]\nkey_file = \"k\"\nsource = \"1.2.3.4\"\nmember_id = 0\n", 9, "0"),
            ("[sync]\nkey_file = \"k\"\nsource = \"1.2.3.4\"\nbogus = 1\n", 9, "bogus"),
            (
                "[sync]\nkey_file = \"k\"\nsource = \"198.18.2.1\"\nport = 0\n",
                9,
                "sync port must be 1 to 65535",
            ),
        ] {
            let e = cfg(bad).unwrap_err();
            assert_eq!(e.line, line, "{bad}: {e}");
            assert!(e.message.contains(what), "{bad}: {e}");
        }
    }
}
