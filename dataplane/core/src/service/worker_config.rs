//! What a worker takes from the control side, as one immutable value.
//!
//! Services, timeouts and SYN-cookie secrets change at different times (a `rvsadm -a`,
//! a `--set`, a rotation), but a worker swaps them in together, between bursts: it
//! never runs a burst with the services of one update and the timeouts of another, and
//! the control side has one message to send and one value to test.

use std::sync::Arc;

use super::Snapshot;
use crate::synproxy::CookieSecrets;
use rvs_proto::Timeouts;

/// One worker configuration. Cheap to clone: the services are shared.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub services: Arc<Snapshot>,
    pub timeouts: Timeouts,
    pub cookie_secrets: CookieSecrets,
}

impl WorkerConfig {
    pub fn new(services: Arc<Snapshot>, timeouts: Timeouts, cookie_secrets: CookieSecrets) -> Self {
        WorkerConfig { services, timeouts, cookie_secrets }
    }

    /// A copy with other services.
    pub fn with_services(&self, services: Arc<Snapshot>) -> Self {
        WorkerConfig { services, ..self.clone() }
    }

    /// A copy with other timeouts.
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Self {
        WorkerConfig { timeouts, ..self.clone() }
    }

    /// A copy with other SYN-cookie secrets.
    pub fn with_cookie_secrets(&self, cookie_secrets: CookieSecrets) -> Self {
        WorkerConfig { cookie_secrets, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use crate::stats::WorkerCounters;
    use crate::synproxy::SecretKey;
    use crate::testkit::{config, registry};
    use crate::time::Time;
    use crate::wire::MacAddr;

    #[test]
    fn a_worker_takes_the_whole_configuration_and_keeps_services_it_already_has() {
        let services = Arc::new(registry(1).snapshot());
        let counters = Arc::new(WorkerCounters::new(16, 64));
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(
            config(1024, MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])),
            services.clone(),
            counters,
            Time::ZERO,
        );
        let secrets = CookieSecrets::new(SecretKey::from_bytes([1; 16]));
        let t = Timeouts { tcp: 11, tcp_fin: 12, udp: 13 };
        let cfg = WorkerConfig::new(services.clone(), t, secrets);
        p.set_config(&cfg);
        assert_eq!(p.timeouts(), t);
        assert!(Arc::ptr_eq(p.snapshot(), &services), "same services: not rebuilt");

        let other = Arc::new(registry(2).snapshot());
        p.set_config(&cfg.with_services(other.clone()).with_timeouts(Timeouts { tcp: 21, ..t }));
        assert!(Arc::ptr_eq(p.snapshot(), &other));
        assert_eq!(p.timeouts().tcp, 21);
    }
}
