//! Schedulers: which real server gets a new connection, with IPVS semantics.
//!
//! | name  | family       | chooses                                                        |
//! |-------|--------------|----------------------------------------------------------------|
//! | rr    | `rr`         | the next available server in turn                              |
//! | wrr   | `wrr`        | in turn, server of weight w w times per cycle                  |
//! | lc    | `lc`         | least `active*256 + inactive`                                  |
//! | wlc   | `lc`         | least `(active*256 + inactive) / weight` (the default)         |
//! | sed   | `lc`         | least `(active + 1) / weight`                                  |
//! | nq    | `lc`         | an idle server (active 0) first, else as sed                   |
//! | fo    | `fo`         | highest weight that is not overloaded                          |
//! | ovf   | `fo`         | highest weight whose active count does not exceed its weight   |
//! | lblc  | `locality`   | the server remembered for the destination address, else wlc    |
//! | lblcr | `locality`   | least loaded of a server set per destination, grown/shrunk     |
//! | dh    | `hash`       | static 256-bucket hash of the destination address              |
//! | sh    | `hash`       | weighted 256-bucket hash of the source address (and port)      |
//! | mh    | `maglev`     | Maglev lookup table (prime size M) of the source (and port)    |
//! | twos  | `twos`       | the less loaded of two weighted random picks                   |
//!
//! Everywhere: weight 0 means quiescent (no new connections; existing sessions are not
//! the scheduler's business) and an overloaded server (see [`Overload`]) gets nothing.
//!
//! Sans-IO and per worker: each worker keeps its own `Scheduler` per service and calls
//! [`Scheduler::pick`] with a view of the real servers ([`Candidates`]) that carries the
//! worker's own connection counts (see [`RealSet`]), the key of the new connection and
//! the current time. Nothing here reads a clock, locks, or writes memory another core
//! writes. Derived state (Maglev table, sh/dh buckets, wrr weights) is rebuilt by
//! [`Scheduler::sync`], meant to run when a new service snapshot is installed.
//!
//! Connection counts across workers: every worker schedules on its own gauges. RSS
//! spreads clients uniformly over workers, so each worker's counts are a 1/W sample of
//! the global ones and least-connection choices made on them converge to the global
//! choice; optionally the control thread publishes the sum of the other workers'
//! gauges every ~100 ms ([`PeerLoad`], [`sum_peers`]), which a worker adds to its own
//! (stale by at most one period, never written by the worker).

mod fo;
mod hash;
mod lc;
mod locality;
pub mod maglev;
mod rr;
pub mod stable;
mod threshold;
mod twos;
mod view;
mod wrr;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::time::Time;

pub use hash::{DestHash, SourceHash};
pub use locality::{Lblc, Lblcr};
pub use maglev::{Maglev, MaglevTable};
pub use rr::RoundRobin;
pub use threshold::{Overload, Thresholds};
pub use twos::TwoChoices;
pub use view::{sum_peers, PeerLoad, RealSet};
pub use wrr::WeightedRoundRobin;

/// Scheduler names the dataplane implements, as ipvsadm spells them.
pub const NAMES: &[&str] =
    &["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos"];

/// The scheduler of a service that names none (as in IPVS).
pub const DEFAULT: &str = "wlc";

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

/// What a scheduler sees of one real server.
pub trait Candidate {
    fn weight(&self) -> u32;
    /// Established connections (IPVS `activeconns`).
    fn active(&self) -> u64 {
        0
    }
    /// Other live connections (IPVS `inactconns`).
    fn inactive(&self) -> u64 {
        0
    }
    /// Over its upper connection threshold and not yet below the lower one.
    fn overloaded(&self) -> bool {
        false
    }
    /// Stable identity (a hash of address and port): the same on every cluster member and
    /// across snapshots. Maglev derives its permutations from it; lblc/lblcr and
    /// persistence remember servers by it.
    fn id(&self) -> u64;
}

/// A bare weight: a candidate with no connections, never overloaded, identified by its
/// weight. For tests of the weight-only schedulers.
impl Candidate for u32 {
    fn weight(&self) -> u32 {
        *self
    }
    fn id(&self) -> u64 {
        u64::from(*self)
    }
}

/// The real servers of one service as a scheduler sees them: indexable without
/// allocating (the pipeline's view pairs the snapshot's reals with the worker's counters).
pub trait Candidates {
    fn len(&self) -> usize;
    fn weight(&self, i: usize) -> u32;
    fn active(&self, i: usize) -> u64;
    fn inactive(&self, i: usize) -> u64;
    fn overloaded(&self, i: usize) -> bool;
    fn id(&self, i: usize) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Can take a new connection: not quiescent, not overloaded (IPVS `!is_unavailable`).
    #[inline]
    fn available(&self, i: usize) -> bool {
        self.weight(i) > 0 && !self.overloaded(i)
    }
    /// IPVS `ip_vs_dest_conn_overhead`: active connections weigh 256 inactive ones.
    #[inline]
    fn overhead(&self, i: usize) -> u64 {
        self.active(i).saturating_mul(256).saturating_add(self.inactive(i))
    }
}

macro_rules! candidates_for_collection {
    ($($t:ty => [$($g:tt)*]),*) => {$(
        impl<C: Candidate, $($g)*> Candidates for $t {
            #[inline]
            fn len(&self) -> usize {
                <[C]>::len(self)
            }
            #[inline]
            fn weight(&self, i: usize) -> u32 {
                self[i].weight()
            }
            #[inline]
            fn active(&self, i: usize) -> u64 {
                self[i].active()
            }
            #[inline]
            fn inactive(&self, i: usize) -> u64 {
                self[i].inactive()
            }
            #[inline]
            fn overloaded(&self, i: usize) -> bool {
                self[i].overloaded()
            }
            #[inline]
            fn id(&self, i: usize) -> u64 {
                self[i].id()
            }
        }
    )*};
}

candidates_for_collection!([C] => [], Vec<C> => [], [C; N] => [const N: usize]);

/// Where a new connection comes from and goes to (the VIP side: `dst` is the VIP).
/// Addresses are `IpAddr` so IPv6 services fit without changing the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchedKey {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

impl SchedKey {
    pub fn v4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Self {
        SchedKey { src: IpAddr::V4(src), sport, dst: IpAddr::V4(dst), dport }
    }
}

impl Default for SchedKey {
    fn default() -> Self {
        SchedKey::v4(Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::UNSPECIFIED, 0)
    }
}

/// ipvsadm `-b` scheduler flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedFlags {
    /// sh: an unavailable server's keys go to the next available bucket.
    pub sh_fallback: bool,
    /// sh: hash the source port too.
    pub sh_port: bool,
    /// mh: an unavailable server's keys go to another table entry.
    pub mh_fallback: bool,
    /// mh: hash the source port too.
    pub mh_port: bool,
}

impl SchedFlags {
    pub const NAMES: &'static [&'static str] = &["sh-fallback", "sh-port", "mh-fallback", "mh-port"];

    /// Parses ipvsadm's comma-separated list (`"sh-fallback,sh-port"`); IPVS's generic
    /// `flag-1`/`flag-2` are accepted for the fallback/port flag of both sh and mh.
    pub fn parse(s: &str) -> Result<SchedFlags, String> {
        let mut f = SchedFlags::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "sh-fallback" => f.sh_fallback = true,
                "sh-port" => f.sh_port = true,
                "mh-fallback" => f.mh_fallback = true,
                "mh-port" => f.mh_port = true,
                "flag-1" => (f.sh_fallback, f.mh_fallback) = (true, true),
                "flag-2" => (f.sh_port, f.mh_port) = (true, true),
                _ => {
                    return Err(format!(
                        "unknown scheduler flag `{word}` (available: {})",
                        SchedFlags::NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// Everything a scheduler is configured with besides its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedParams {
    pub flags: SchedFlags,
    /// mh: lookup table size, a prime (IPVS: 65537, its `CONFIG_IP_VS_MH_TAB_INDEX` 12).
    pub maglev_size: u32,
    /// dh/sh: log2 of the bucket count (IPVS: 8, its `CONFIG_IP_VS_{DH,SH}_TAB_BITS`).
    pub hash_bits: u8,
    /// lblc/lblcr: a destination unused this long is forgotten (IPVS sysctl
    /// `lblc_expiration`/`lblcr_expiration`, 24 h); lblcr also drops a set member when the
    /// set did not grow for this long.
    pub locality_expiration: Duration,
    /// lblc/lblcr: per-worker bound on remembered destinations.
    pub locality_max_entries: usize,
    /// twos: PRNG seed; give each worker its own (e.g. the worker index).
    pub seed: u64,
}

impl Default for SchedParams {
    fn default() -> Self {
        SchedParams {
            flags: SchedFlags::default(),
            maglev_size: maglev::DEFAULT_SIZE,
            hash_bits: hash::DEFAULT_BITS,
            locality_expiration: Duration::from_secs(24 * 3600),
            locality_max_entries: locality::DEFAULT_MAX_ENTRIES,
            seed: 0,
        }
    }
}

impl SchedParams {
    /// Checks what the control plane should reject before building schedulers.
    pub fn validate(&self) -> Result<(), String> {
        if !maglev::valid_size(self.maglev_size) {
            return Err(format!(
                "maglev table size {} must be a prime in 3..={}",
                self.maglev_size,
                maglev::MAX_SIZE
            ));
        }
        if !(1..=16).contains(&self.hash_bits) {
            return Err(format!("hash table bits {} must be in 1..=16", self.hash_bits));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Algo {
    Rr(RoundRobin),
    Wrr(WeightedRoundRobin),
    Lc,
    Wlc,
    Sed,
    Nq,
    Fo,
    Ovf,
    Lblc(Lblc),
    Lblcr(Lblcr),
    Dh(DestHash),
    Sh(SourceHash),
    Mh(Maglev),
    Twos(TwoChoices),
}

/// Per-worker scheduler state of one service.
#[derive(Debug, Clone)]
pub struct Scheduler {
    algo: Algo,
    /// Snapshot version of the last `sync`.
    version: Option<u64>,
    /// Fingerprint (ids and weights) of the reals the derived state was built for.
    built_for: Option<u64>,
}

impl Scheduler {
    /// The scheduler called `name` with default parameters; None for an unknown name.
    pub fn new(name: &str) -> Option<Scheduler> {
        Scheduler::with_params(name, &SchedParams::default())
    }

    /// The scheduler called `name`; None for an unknown name or invalid parameters.
    pub fn with_params(name: &str, p: &SchedParams) -> Option<Scheduler> {
        p.validate().ok()?;
        let algo = match name {
            "rr" => Algo::Rr(RoundRobin::default()),
            "wrr" => Algo::Wrr(WeightedRoundRobin::default()),
            "lc" => Algo::Lc,
            "wlc" => Algo::Wlc,
            "sed" => Algo::Sed,
            "nq" => Algo::Nq,
            "fo" => Algo::Fo,
            "ovf" => Algo::Ovf,
            "lblc" => Algo::Lblc(Lblc::new(p.locality_expiration, p.locality_max_entries)),
            "lblcr" => Algo::Lblcr(Lblcr::new(p.locality_expiration, p.locality_max_entries)),
            "dh" => Algo::Dh(DestHash::new(p.hash_bits)),
            "sh" => Algo::Sh(SourceHash::new(p.hash_bits, p.flags.sh_fallback, p.flags.sh_port)),
            "mh" => Algo::Mh(Maglev::new(p.maglev_size, p.flags.mh_fallback, p.flags.mh_port)),
            "twos" => Algo::Twos(TwoChoices::new(p.seed)),
            _ => return None,
        };
        Some(Scheduler { algo, version: None, built_for: None })
    }

    pub fn name(&self) -> &'static str {
        match self.algo {
            Algo::Rr(_) => "rr",
            Algo::Wrr(_) => "wrr",
            Algo::Lc => "lc",
            Algo::Wlc => "wlc",
            Algo::Sed => "sed",
            Algo::Nq => "nq",
            Algo::Fo => "fo",
            Algo::Ovf => "ovf",
            Algo::Lblc(_) => "lblc",
            Algo::Lblcr(_) => "lblcr",
            Algo::Dh(_) => "dh",
            Algo::Sh(_) => "sh",
            Algo::Mh(_) => "mh",
            Algo::Twos(_) => "twos",
        }
    }

    /// Brings derived state (Maglev table, sh/dh buckets, wrr weight steps) up to date
    /// with `reals`, the servers of snapshot `version`. O(1) when the version is the one
    /// of the last call; otherwise O(reals) plus a rebuild when ids or weights changed
    /// (for mh an O(M log N) table build: call it off the packet path, when a snapshot is
    /// installed, or install a shared prebuilt table with [`Scheduler::install_maglev`]).
    pub fn sync<V: Candidates + ?Sized>(&mut self, reals: &V, version: u64) {
        if self.version == Some(version) {
            return;
        }
        self.refresh(reals);
        self.version = Some(version);
    }

    fn refresh<V: Candidates + ?Sized>(&mut self, reals: &V) {
        let fp = fingerprint(reals);
        if self.built_for == Some(fp) {
            return;
        }
        match &mut self.algo {
            Algo::Wrr(s) => s.update(reals),
            Algo::Dh(s) => s.update(reals),
            Algo::Sh(s) => s.update(reals),
            Algo::Mh(s) => s.update(reals, fp),
            _ => {}
        }
        self.built_for = Some(fp);
    }

    /// mh: uses `table` (built once, e.g. by the control thread, and shared read-only by
    /// every worker) instead of building one here. Ignored by the other schedulers; `sync`
    /// keeps it while the reals' fingerprint matches the table's.
    pub fn install_maglev(&mut self, table: Arc<MaglevTable>) {
        if let Algo::Mh(s) = &mut self.algo {
            self.built_for = Some(table.fingerprint());
            s.install(table);
        }
    }

    /// Index of the chosen real server, or None when none can take a connection.
    /// Builds derived state on first use if `sync` was never called.
    #[inline]
    pub fn pick<V: Candidates + ?Sized>(&mut self, reals: &V, key: &SchedKey, now: Time) -> Option<usize> {
        if self.built_for.is_none() {
            self.refresh(reals);
        }
        let i = match &mut self.algo {
            Algo::Rr(s) => s.pick(reals),
            Algo::Wrr(s) => s.pick(reals),
            Algo::Lc => lc::lc(reals),
            Algo::Wlc => lc::wlc(reals),
            Algo::Sed => lc::sed(reals),
            Algo::Nq => lc::nq(reals),
            Algo::Fo => fo::fo(reals),
            Algo::Ovf => fo::ovf(reals),
            Algo::Lblc(s) => s.pick(reals, key.dst, now),
            Algo::Lblcr(s) => s.pick(reals, key.dst, now),
            Algo::Dh(s) => s.pick(reals, key),
            Algo::Sh(s) => s.pick(reals, key),
            Algo::Mh(s) => s.pick(reals, key),
            Algo::Twos(s) => s.pick(reals),
        };
        debug_assert!(i.is_none_or(|i| i < reals.len()));
        i
    }

    /// Forgets what expired by `now` (lblc/lblcr destinations). Call it periodically
    /// (IPVS: every 60 s); lookups ignore expired entries anyway, this bounds memory.
    pub fn expire(&mut self, now: Time) {
        match &mut self.algo {
            Algo::Lblc(s) => s.expire(now),
            Algo::Lblcr(s) => s.expire(now),
            _ => {}
        }
    }
}

/// A hash of the reals' ids and weights in order: derived state depends on nothing else.
pub fn fingerprint<V: Candidates + ?Sized>(reals: &V) -> u64 {
    let mut h = stable::mix64(reals.len() as u64 ^ 0x5eed_f1e1_d000_0001);
    for i in 0..reals.len() {
        h = stable::mix64(h ^ reals.id(i)).wrapping_add(u64::from(reals.weight(i)));
    }
    stable::mix64(h)
}

/// Resolves a remembered server: `hint` is where it was, `id` what it is.
#[inline]
fn find_by_id<V: Candidates + ?Sized>(reals: &V, id: u64, hint: u32) -> Option<usize> {
    let h = hint as usize;
    if h < reals.len() && reals.id(h) == id {
        return Some(h);
    }
    (0..reals.len()).find(|&i| reals.id(i) == id)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::Candidate;

    /// A candidate with every property settable.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct T {
        pub w: u32,
        pub a: u64,
        pub i: u64,
        pub o: bool,
        pub id: u64,
    }

    impl Candidate for T {
        fn weight(&self) -> u32 {
            self.w
        }
        fn active(&self) -> u64 {
            self.a
        }
        fn inactive(&self) -> u64 {
            self.i
        }
        fn overloaded(&self) -> bool {
            self.o
        }
        fn id(&self) -> u64 {
            self.id
        }
    }

    /// Servers of the given weights, ids 1000, 1001, ...
    pub fn weights(ws: &[u32]) -> Vec<T> {
        ws.iter().enumerate().map(|(n, &w)| T { w, id: 1000 + n as u64, ..T::default() }).collect()
    }

    /// Servers of (weight, active, inactive).
    pub fn loads(l: &[(u32, u64, u64)]) -> Vec<T> {
        l.iter().enumerate().map(|(n, &(w, a, i))| T { w, a, i, id: 1000 + n as u64, o: false }).collect()
    }

    /// Chi-square statistic of observed counts against expected shares.
    pub fn chi_square(observed: &[u64], expected_share: &[f64]) -> f64 {
        let total: u64 = observed.iter().sum();
        let sum: f64 = expected_share.iter().sum();
        observed
            .iter()
            .zip(expected_share)
            .filter(|(_, &e)| e > 0.0)
            .map(|(&o, &e)| {
                let exp = total as f64 * e / sum;
                (o as f64 - exp).powi(2) / exp
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn every_name_builds_and_knows_its_name() {
        for n in NAMES {
            let s = Scheduler::new(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(s.name(), *n);
            assert!(is_known(n));
        }
        assert!(Scheduler::new("nope").is_none());
        assert!(is_known(DEFAULT));
    }

    #[test]
    fn every_scheduler_honours_quiescence_and_overload() {
        let key = SchedKey::v4(Ipv4Addr::new(10, 0, 0, 1), 1234, Ipv4Addr::new(10, 1, 0, 1), 80);
        for n in NAMES {
            let mut s = Scheduler::new(n).unwrap();
            let mut reals = weights(&[0, 3, 0, 2]);
            reals[3].o = true;
            for k in 0..50u16 {
                let key =
                    SchedKey { sport: k, src: Ipv4Addr::new(10, 0, (k / 7) as u8, k as u8).into(), ..key };
                let got = s.pick(&reals, &key, Time::from_secs(k as u64));
                // dh/sh/mh without fallback may find the hashed server unavailable.
                assert!(got.is_none() || got == Some(1), "{n}: {got:?}");
            }
            let none = weights(&[0, 0]);
            let mut s = Scheduler::new(n).unwrap();
            assert_eq!(s.pick(&none, &key, Time::ZERO), None, "{n}");
            assert_eq!(s.pick(&weights(&[]), &key, Time::ZERO), None, "{n}");
        }
    }

    #[test]
    fn every_scheduler_survives_snapshot_changes() {
        let key = SchedKey::v4(Ipv4Addr::new(10, 0, 0, 1), 1234, Ipv4Addr::new(10, 1, 0, 1), 80);
        for n in NAMES {
            let mut s = Scheduler::new(n).unwrap();
            let big = weights(&[1, 2, 3, 4, 5]);
            s.sync(&big, 1);
            for k in 0..20 {
                s.pick(&big, &SchedKey { sport: k, ..key }, Time::ZERO);
            }
            let small = weights(&[7]);
            s.sync(&small, 2);
            for k in 0..20 {
                assert_eq!(s.pick(&small, &SchedKey { sport: k, ..key }, Time::ZERO), Some(0), "{n}");
            }
        }
    }

    #[test]
    fn flags_parse() {
        let f = SchedFlags::parse("sh-fallback, mh-port").unwrap();
        assert!(f.sh_fallback && f.mh_port && !f.sh_port && !f.mh_fallback);
        let f = SchedFlags::parse("flag-1,flag-2").unwrap();
        assert_eq!(f, SchedFlags { sh_fallback: true, sh_port: true, mh_fallback: true, mh_port: true });
        assert_eq!(SchedFlags::parse("").unwrap(), SchedFlags::default());
        assert!(SchedFlags::parse("sh-bogus").is_err());
    }

    #[test]
    fn invalid_params_are_refused() {
        let p = SchedParams { maglev_size: 65536, ..SchedParams::default() };
        assert!(p.validate().is_err());
        assert!(Scheduler::with_params("mh", &p).is_none());
        let p = SchedParams { hash_bits: 0, ..SchedParams::default() };
        assert!(p.validate().is_err());
        assert!(SchedParams::default().validate().is_ok());
    }

    #[test]
    fn fingerprint_tracks_ids_and_weights_only() {
        let a = loads(&[(1, 5, 5), (2, 0, 0)]);
        let b = loads(&[(1, 0, 0), (2, 9, 9)]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&weights(&[1, 3])));
        assert_ne!(fingerprint(&a), fingerprint(&weights(&[2, 1])));
    }
}
