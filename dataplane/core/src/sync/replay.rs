//! The anti-replay sliding window of IPsec (RFC 4303 §3.4.3), over 64-bit sequence
//! numbers: the highest number accepted so far, and one bit per number in the `W` below it
//! (`W = 64 × WORDS`). A number above the highest slides the window; one inside it is
//! accepted once; one below it is too old.
//!
//! The bitmap is a ring indexed by `seq % W` (the layout of RFC 6479), so sliding clears
//! only the bits of the numbers skipped, a word at a time.

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("sequence number {0} already received")]
    Replayed(u64),
    #[error("sequence number {seq} is older than the window (highest {highest})")]
    TooOld { seq: u64, highest: u64 },
}

/// A replay window of `64 × WORDS` sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow<const WORDS: usize> {
    /// The highest number accepted; None before the first.
    highest: Option<u64>,
    bits: [u64; WORDS],
}

/// The window the receiver uses: 1024 sequence numbers.
pub type Window1024 = ReplayWindow<16>;

impl<const WORDS: usize> Default for ReplayWindow<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
    /// How many sequence numbers the window spans (the highest one included).
    pub const WIDTH: u64 = 64 * WORDS as u64;

    pub const fn new() -> Self {
        ReplayWindow { highest: None, bits: [0; WORDS] }
    }

    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    fn slot(seq: u64) -> (usize, u64) {
        let bit = seq % Self::WIDTH;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    /// Whether `seq` would be accepted, without recording it. Check before the expensive
    /// work, [`ReplayWindow::accept`] after it succeeded.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        let Some(h) = self.highest else { return Ok(()) };
        if seq > h {
            return Ok(());
        }
        if h - seq >= Self::WIDTH {
            return Err(ReplayError::TooOld { seq, highest: h });
        }
        let (w, m) = Self::slot(seq);
        if self.bits[w] & m != 0 {
            return Err(ReplayError::Replayed(seq));
        }
        Ok(())
    }

    /// Records `seq` if [`ReplayWindow::check`] accepts it.
    pub fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        match self.highest {
            Some(h) if seq <= h => {}
            Some(h) => {
                // Numbers h+1 ..= seq are new: clear their stale bits from the last lap.
                if seq - h >= Self::WIDTH {
                    self.bits = [0; WORDS];
                } else {
                    self.clear(h + 1, seq);
                }
                self.highest = Some(seq);
            }
            None => {
                self.bits = [0; WORDS];
                self.highest = Some(seq);
            }
        }
        let (w, m) = Self::slot(seq);
        self.bits[w] |= m;
        Ok(())
    }

    /// Clears the bits of `from ..= to` (fewer than `WIDTH` numbers).
    fn clear(&mut self, from: u64, to: u64) {
        let mut s = from;
        while s <= to {
            let bit = s % Self::WIDTH;
            let off = bit % 64;
            let n = (64 - off).min(to - s + 1);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << off };
            self.bits[(bit / 64) as usize] &= !mask;
            s += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type W64 = ReplayWindow<1>;

    #[test]
    fn first_number_is_accepted_whatever_it_is() {
        for first in [0, 1, 1000, u64::MAX] {
            let mut w = Window1024::new();
            assert_eq!(w.accept(first), Ok(()));
            assert_eq!(w.accept(first), Err(ReplayError::Replayed(first)));
            assert_eq!(w.highest(), Some(first));
        }
    }

    #[test]
    fn reordering_within_the_window_is_accepted_once() {
        let mut w = Window1024::new();
        w.accept(100).unwrap();
        for s in [99, 50, 2000, 1999, 977] {
            assert_eq!(w.accept(s), Ok(()), "{s}");
            assert_eq!(w.accept(s), Err(ReplayError::Replayed(s)), "{s}");
        }
        // 2000 is highest: 2000 - 1023 = 977 is the oldest in the window, 976 too old.
        assert_eq!(w.check(976), Err(ReplayError::TooOld { seq: 976, highest: 2000 }));
        assert_eq!(w.accept(978), Ok(()));
        assert_eq!(w.accept(100), Err(ReplayError::TooOld { seq: 100, highest: 2000 }));
    }

    #[test]
    fn window_edges_of_a_64_wide_window() {
        let mut w = W64::new();
        w.accept(63).unwrap();
        assert_eq!(w.accept(0), Ok(()));
        w.accept(64).unwrap();
        // Slot of 0 is the slot of 64: it was cleared by the slide and 0 is now too old.
        assert_eq!(w.accept(0), Err(ReplayError::TooOld { seq: 0, highest: 64 }));
        assert_eq!(w.accept(1), Ok(()));
        assert_eq!(w.accept(1), Err(ReplayError::Replayed(1)));
        // A jump beyond the width clears everything.
        w.accept(64 + 1000).unwrap();
        for s in 64 + 1000 - 63..64 + 1000 {
            assert_eq!(w.check(s), Ok(()), "{s}");
        }
        assert!(w.check(64 + 1000 - 64).is_err());
    }

    #[test]
    fn sliding_clears_only_the_skipped_numbers() {
        let mut w = Window1024::new();
        for s in 0..1024 {
            w.accept(s).unwrap();
        }
        // Slide by 100: 1024..=1123 are new, 100..=1023 stay recorded.
        w.accept(1123).unwrap();
        for s in 100..1024 {
            assert_eq!(w.check(s), Err(ReplayError::Replayed(s)), "{s}");
        }
        for s in 1024..1123 {
            assert_eq!(w.check(s), Ok(()), "{s}");
        }
        assert!(matches!(w.check(99), Err(ReplayError::TooOld { .. })));
    }

    #[test]
    fn check_does_not_record() {
        let mut w = Window1024::new();
        w.accept(5).unwrap();
        assert_eq!(w.check(6), Ok(()));
        assert_eq!(w.check(6), Ok(()));
        assert_eq!(w.highest(), Some(5));
        w.accept(6).unwrap();
        assert_eq!(w.check(6), Err(ReplayError::Replayed(6)));
    }

    /// The window against a model: the set of all numbers ever accepted.
    fn model_run<const N: usize>(seqs: &[u64]) -> Result<(), TestCaseError> {
        let mut w = ReplayWindow::<N>::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut highest: Option<u64> = None;
        for &s in seqs {
            let expect = if seen.contains(&s) {
                match highest {
                    Some(h) if h - s >= ReplayWindow::<N>::WIDTH => "old",
                    _ => "dup",
                }
            } else {
                match highest {
                    Some(h) if s < h && h - s >= ReplayWindow::<N>::WIDTH => "old",
                    _ => "ok",
                }
            };
            let got = match w.accept(s) {
                Ok(()) => "ok",
                Err(ReplayError::Replayed(_)) => "dup",
                Err(ReplayError::TooOld { .. }) => "old",
            };
            prop_assert_eq!(got, expect, "seq {} highest {:?}", s, highest);
            if got == "ok" {
                seen.insert(s);
                highest = Some(highest.map_or(s, |h| h.max(s)));
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_the_model_64(seqs in proptest::collection::vec(0u64..300, 1..400)) {
            model_run::<1>(&seqs)?;
        }

        #[test]
        fn matches_the_model_1024(seqs in proptest::collection::vec(0u64..5000, 1..600)) {
            model_run::<16>(&seqs)?;
        }

        #[test]
        fn in_order_with_jumps(start in 0u64..1 << 60, jumps in proptest::collection::vec(1u64..3000, 1..100)) {
            let mut w = Window1024::new();
            let mut s = start;
            for j in jumps {
                prop_assert_eq!(w.accept(s), Ok(()));
                prop_assert_eq!(w.accept(s), Err(ReplayError::Replayed(s)));
                s += j;
            }
        }
    }
}
