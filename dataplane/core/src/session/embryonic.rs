//! The slots of recent SYN_RECV sessions, oldest first (`SessionTable::evict_embryonic`).
//!
//! A ring of fixed size: noting a new session is a store and two index updates, the
//! oldest entry making room when it is full, where a growable deque checks for growth
//! and wraps by division on every push.

#[derive(Debug)]
pub(super) struct EmbryonicRing {
    slots: Box<[u32]>,
    /// Where the oldest entry is, and how many there are.
    head: usize,
    len: usize,
}

impl EmbryonicRing {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        EmbryonicRing { slots: vec![0; capacity].into_boxed_slice(), head: 0, len: 0 }
    }

    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Appends `slot`; when full, the oldest entry goes first.
    #[inline]
    pub(super) fn push_evicting(&mut self, slot: u32) {
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        if self.len == n {
            self.head = if self.head + 1 == n { 0 } else { self.head + 1 };
            self.len -= 1;
        }
        let at = self.head + self.len;
        let at = if at >= n { at - n } else { at };
        self.slots[at] = slot;
        self.len += 1;
    }

    /// Takes the oldest entry.
    pub(super) fn pop_front(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots[self.head];
        self.head = if self.head + 1 == self.slots.len() { 0 } else { self.head + 1 };
        self.len -= 1;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_in_order() {
        let mut r = EmbryonicRing::with_capacity(3);
        for i in 0..5 {
            r.push_evicting(i);
        }
        assert_eq!(r.pop_front(), Some(2), "0 and 1 made room");
        r.push_evicting(5);
        r.push_evicting(6);
        let rest: Vec<u32> = std::iter::from_fn(|| r.pop_front()).collect();
        assert_eq!(rest, [4, 5, 6], "3 made room for 6");
        let mut none = EmbryonicRing::with_capacity(0);
        none.push_evicting(1);
        assert_eq!(none.pop_front(), None);
    }
}
