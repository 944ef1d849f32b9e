//! Making rvsd own what the VRRP states say: a declarative reconcile (like the table sync)
//! between the addresses the MASTER instances move and what rvsd reports it owns. Only
//! addresses some instance moves are touched; others are the operator's (rvsd's `[ha]`,
//! `rvsadm --takeover`, the JSON API, a cluster manager).

use rvs_proto::{Client, Command, OwnershipInfo, Reply};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// rvsd's ownership, as the reconcile needs it.
pub trait Ownership {
    /// What rvsd owns now.
    fn owned(&mut self) -> Result<BTreeSet<IpAddr>, String>;
    /// Takes over (with gratuitous ARPs) or releases these addresses; never called empty
    /// (an empty list means every address to rvsd).
    fn take(&mut self, addrs: &[IpAddr]) -> Result<(), String>;
    fn release(&mut self, addrs: &[IpAddr]) -> Result<(), String>;
}

/// What one reconcile changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub taken: Vec<IpAddr>,
    pub released: Vec<IpAddr>,
}

/// Brings rvsd's ownership of the `managed` addresses to `desired` (a subset of them).
/// Releases go first: an address moving between instances is never left unowned longer
/// than one request.
pub fn reconcile(
    o: &mut dyn Ownership,
    managed: &BTreeSet<IpAddr>,
    desired: &BTreeSet<IpAddr>,
) -> Result<Changes, String> {
    let owned = o.owned()?;
    let take: Vec<IpAddr> = desired.difference(&owned).copied().collect();
    let release: Vec<IpAddr> =
        owned.intersection(managed).filter(|a| !desired.contains(a)).copied().collect();
    if !take.is_empty() {
        o.take(&take)?;
    }
    if !release.is_empty() {
        o.release(&release)?;
    }
    Ok(Changes { taken: take, released: release })
}

/// rvsd over its control socket; one connection per call.
pub struct Rvsd<'a>(pub &'a str);

impl Rvsd<'_> {
    /// rvsd's whole ownership report.
    pub fn info(&self) -> Result<OwnershipInfo, String> {
        self.call(Command::Owned)
    }

    fn call(&self, cmd: Command) -> Result<OwnershipInfo, String> {
        let mut c = Client::connect(self.0).map_err(|e| format!("rvsd at {}: {e}", self.0))?;
        match c.call(cmd).map_err(|e| format!("rvsd: {e}"))? {
            Ok(Reply::Ownership { ownership }) => Ok(ownership),
            Ok(other) => Err(format!("rvsd: unexpected reply {other:?}")),
            Err(e) => Err(format!("rvsd: {e}")),
        }
    }

    /// rvsd's session sync (`rvsadm --sync`).
    pub fn sync(&self) -> Result<rvs_proto::SyncInfo, String> {
        let mut c = Client::connect(self.0).map_err(|e| format!("rvsd at {}: {e}", self.0))?;
        match c.call(Command::SyncStatus).map_err(|e| format!("rvsd: {e}"))? {
            Ok(Reply::Sync { sync }) => Ok(*sync),
            Ok(other) => Err(format!("rvsd: unexpected reply {other:?}")),
            Err(e) => Err(format!("rvsd: {e}")),
        }
    }

    pub fn take_addrs(&self, addrs: &[IpAddr]) -> Result<OwnershipInfo, String> {
        if addrs.is_empty() {
            return self.info();
        }
        self.call(Command::Takeover { addrs: addrs.to_vec() })
    }

    pub fn release_addrs(&self, addrs: &[IpAddr]) -> Result<OwnershipInfo, String> {
        if addrs.is_empty() {
            return self.info();
        }
        self.call(Command::Release { addrs: addrs.to_vec() })
    }
}

impl Ownership for Rvsd<'_> {
    fn owned(&mut self) -> Result<BTreeSet<IpAddr>, String> {
        Ok(self.info()?.addresses.into_iter().filter(|a| a.owned).map(|a| a.addr).collect())
    }
    fn take(&mut self, addrs: &[IpAddr]) -> Result<(), String> {
        self.take_addrs(addrs).map(drop)
    }
    fn release(&mut self, addrs: &[IpAddr]) -> Result<(), String> {
        self.release_addrs(addrs).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        owned: BTreeSet<IpAddr>,
        calls: Vec<String>,
    }

    impl Ownership for Fake {
        fn owned(&mut self) -> Result<BTreeSet<IpAddr>, String> {
            Ok(self.owned.clone())
        }
        fn take(&mut self, a: &[IpAddr]) -> Result<(), String> {
            assert!(!a.is_empty());
            self.calls.push(format!("take {a:?}"));
            self.owned.extend(a);
            Ok(())
        }
        fn release(&mut self, a: &[IpAddr]) -> Result<(), String> {
            assert!(!a.is_empty());
            self.calls.push(format!("release {a:?}"));
            a.iter().for_each(|x| {
                self.owned.remove(x);
            });
            Ok(())
        }
    }

    fn set(s: &[&str]) -> BTreeSet<IpAddr> {
        s.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn takes_and_releases_only_managed_addresses() {
        let managed = set(&["198.18.0.100", "198.19.0.200"]);
        let mut f = Fake { owned: set(&["198.18.0.101"]), ..Default::default() };
        let c = reconcile(&mut f, &managed, &managed).unwrap();
        assert_eq!(c.taken.len(), 2);
        assert_eq!(f.owned, set(&["198.18.0.100", "198.18.0.101", "198.19.0.200"]));
        // Nothing to do twice.
        assert_eq!(reconcile(&mut f, &managed, &managed).unwrap(), Changes::default());
        // BACKUP: the managed ones go, the operator's own stays.
        let c = reconcile(&mut f, &managed, &BTreeSet::new()).unwrap();
        assert_eq!(c.released.len(), 2);
        assert_eq!(f.owned, set(&["198.18.0.101"]));
        assert_eq!(f.calls.len(), 2);
    }
}
