//! Schedulers: which real server gets a new connection.
//!
//! Each worker keeps its own scheduler state per service (no shared cursor between
//! cores); over many connections the per-worker sequences add up to the same
//! proportions. Weight 0 means quiescent: no new connections.

mod rr;
mod wrr;

pub use rr::RoundRobin;
pub use wrr::WeightedRoundRobin;

/// Scheduler names the dataplane implements, as ipvsadm spells them.
pub const NAMES: &[&str] = &["rr", "wrr"];

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

/// What a scheduler sees of one real server.
pub trait Candidate {
    fn weight(&self) -> u32;
}

impl Candidate for u32 {
    fn weight(&self) -> u32 {
        *self
    }
}

/// Per-worker scheduler state of one service.
#[derive(Debug, Clone)]
pub enum Scheduler {
    Rr(RoundRobin),
    Wrr(WeightedRoundRobin),
}

impl Scheduler {
    /// The scheduler called `name`; None for an unknown name.
    pub fn new(name: &str) -> Option<Scheduler> {
        match name {
            "rr" => Some(Scheduler::Rr(RoundRobin::default())),
            "wrr" => Some(Scheduler::Wrr(WeightedRoundRobin::default())),
            _ => None,
        }
    }

    /// Index of the chosen real server, or None when none can take a connection.
    #[inline]
    pub fn pick<C: Candidate>(&mut self, reals: &[C]) -> Option<usize> {
        match self {
            Scheduler::Rr(s) => s.pick(reals),
            Scheduler::Wrr(s) => s.pick(reals),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds() {
        for n in NAMES {
            assert!(Scheduler::new(n).is_some(), "{n}");
        }
        assert!(Scheduler::new("nope").is_none());
    }
}
