//! Helpers shared by unit tests.

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvs-ctrl-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// rvsd's listing of one service, TCP 198.18.0.100:80 by rr without local addresses, whose
/// one real server is 198.19.0.11:80 (FULLNAT, weight 1) with `active` and `inactive`
/// connections; `t` is the traffic of both.
pub fn one_service_info(t: rvs_proto::TrafficStats, active: u64, inactive: u64) -> rvs_proto::ServiceInfo {
    use rvs_proto::{ForwardMethod, Protocol, RealInfo, RealSpec, ServiceInfo, ServiceKey, ServiceSpec};
    ServiceInfo {
        spec: ServiceSpec {
            options: Default::default(),
            key: ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() },
            scheduler: "rr".into(),
            local_addrs: vec![],
        },
        reals: vec![RealInfo {
            spec: RealSpec {
                thresholds: Default::default(),
                addr: "198.19.0.11:80".parse().unwrap(),
                weight: 1,
                method: ForwardMethod::FullNat,
                tunnel: None,
            },
            active_conns: active,
            inactive_conns: inactive,
            stats: t,
        }],
        stats: t,
    }
}
