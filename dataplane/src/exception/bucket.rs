//! A token bucket in whole frames: `rate` per second, at most `burst` saved up.

/// Tokens are kept in nanosecond-frames (`1e9` per frame) so refills need no division
/// remainder bookkeeping and a slow rate still refills smoothly.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    cap: u64,
    tokens: u64,
    last_ns: u64,
}

const NS: u64 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket at time `now_ns`.
    pub fn new(rate: u32, burst: u32, now_ns: u64) -> Self {
        let cap = u64::from(burst.max(1)) * NS;
        TokenBucket { rate: u64::from(rate.max(1)), cap, tokens: cap, last_ns: now_ns }
    }

    /// Takes one frame's token if there is one.
    #[inline]
    pub fn take(&mut self, now_ns: u64) -> bool {
        let dt = now_ns.saturating_sub(self.last_ns);
        if dt > 0 {
            self.tokens = self.tokens.saturating_add(dt.saturating_mul(self.rate)).min(self.cap);
            self.last_ns = now_ns;
        }
        if self.tokens >= NS {
            self.tokens -= NS;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(1000, 10, 0);
        let first: usize = (0..100).filter(|_| b.take(0)).count();
        assert_eq!(first, 10, "a full bucket gives its burst");
        // 1000/s: one frame per millisecond afterwards.
        assert!(!b.take(500_000));
        assert!(b.take(1_000_000));
        assert!(!b.take(1_000_000));
        // A second of flood at 1 frame per microsecond passes about the rate.
        let passed = (1..=1_000_000u64).filter(|i| b.take(1_000_000 + i * 1000)).count();
        assert!((999..=1011).contains(&passed), "{passed}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let mut b = TokenBucket::new(10, 3, 0);
        for _ in 0..3 {
            assert!(b.take(0));
        }
        assert!(!b.take(0));
        let later = 3600 * NS;
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 3);
    }
}
