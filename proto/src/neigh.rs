//! The neighbour tables (`rvsadm --neigh`): what each worker resolved by ARP and Neighbor
//! Discovery, and the static entries an operator pins at run time, as `ip neigh` shows
//! and changes the kernel's.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One neighbour as one or more workers hold it: rows that agree on everything are one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighInfo {
    pub addr: IpAddr,
    /// The interface: a port's name, or `PORT.VLAN` for a VLAN of it.
    pub dev: String,
    /// `aa:bb:cc:dd:ee:ff`; None while unresolved.
    #[serde(default)]
    pub mac: Option<String>,
    /// `reachable`, `stale`, `incomplete` or `permanent`.
    pub state: String,
    /// Packets waiting for the answer, over these workers.
    #[serde(default)]
    pub queued: u64,
    /// The workers that hold this entry as shown.
    pub workers: Vec<u16>,
}

/// `rvsadm --neigh add|del`: what changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NeighChange {
    /// Pin `addr` at `mac` (a permanent entry, on every worker) until rvsd stops or the
    /// entry is deleted; it replaces what was learned.
    Add {
        addr: IpAddr,
        mac: String,
        /// The interface; None: the one whose connected subnet holds `addr`.
        #[serde(default)]
        dev: Option<String>,
    },
    /// Remove `addr`'s entries (learned or permanent) from every worker; a learned one
    /// comes back with the next packet that needs it.
    Del {
        addr: IpAddr,
        /// The interface; None: every interface that has an entry for `addr`.
        #[serde(default)]
        dev: Option<String>,
    },
    /// Remove the entries of `nud`'s kind from every worker, as `ip neigh flush` does:
    /// the learned ones unless told otherwise.
    Flush {
        /// The interface; None: every interface.
        #[serde(default)]
        dev: Option<String>,
        #[serde(default)]
        nud: FlushStates,
    },
}

/// Which entries `NeighChange::Flush` removes (`ip neigh flush ... nud STATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushStates {
    /// Learned ones (reachable, stale, incomplete): `ip neigh flush`'s default, which
    /// keeps what an operator pinned.
    #[default]
    Learned,
    /// Pinned ones only.
    Permanent,
    /// Every one.
    All,
}

impl NeighChange {
    /// The one address the change is about; None for a flush.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            NeighChange::Add { addr, .. } | NeighChange::Del { addr, .. } => Some(*addr),
            NeighChange::Flush { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_round_trips_and_an_omitted_dev_is_none() {
        let c: NeighChange = serde_json::from_str(r#"{"op":"del","addr":"198.19.0.11"}"#).unwrap();
        assert_eq!(c, NeighChange::Del { addr: "198.19.0.11".parse().unwrap(), dev: None });
        let add = NeighChange::Add {
            addr: "2001:db8::1".parse().unwrap(),
            mac: "02:00:00:00:00:01".into(),
            dev: Some("server.10".into()),
        };
        let back: NeighChange = serde_json::from_str(&serde_json::to_string(&add).unwrap()).unwrap();
        assert_eq!(back, add);
    }

    #[test]
    fn a_flush_keeps_pinned_entries_unless_told() {
        let c: NeighChange = serde_json::from_str(r#"{"op":"flush"}"#).unwrap();
        assert_eq!(c, NeighChange::Flush { dev: None, nud: FlushStates::Learned });
        assert_eq!(c.addr(), None);
        let all = NeighChange::Flush { dev: Some("server".into()), nud: FlushStates::All };
        let text = serde_json::to_string(&all).unwrap();
        assert!(text.contains(r#""nud":"all""#), "{text}");
        assert_eq!(serde_json::from_str::<NeighChange>(&text).unwrap(), all);
    }
}
