//! IP fragments steered to their datagram's session (IPv4 and IPv6).
//!
//! rvsd does not reassemble: the real server or client at the end does. Only the first
//! fragment carries the ports, so it goes through the ordinary path (session lookup or
//! creation, FULLNAT rewrite of addresses, ports and L4 checksum — the checksum covers the
//! whole datagram, so its incremental update is right for it too), and what that decided is
//! remembered here under the datagram's (source, destination, identification, protocol):
//! the addresses the later fragments are rewritten to, or the worker they are handed to,
//! or that they are dropped. Later fragments that arrive before the first are held, a
//! bounded number, until it comes or the entry times out.
//!
//! Why steering and not reassembly (IPVS leaves it to the kernel's defrag, DPVS reassembles
//! into mbuf chains): FULLNAT changes no header size, so fragments forward as they are with
//! no copy; a reassembled datagram would not fit one mbuf of the usual 2 KB data room, and
//! the end host reassembles anyway. The cost is that fragments of one datagram must reach one
//! worker, which RSS gives (NICs hash fragments by their addresses) as does af_packet's
//! fanout hash; a reply's later fragments that land on another worker than its first follow
//! it there by the entry's hand-off.
//!
//! Bounds: `MAX_ENTRIES` datagrams per worker, `MAX_HELD` early fragments per datagram and
//! `MAX_HELD_TOTAL` in all, `TIMEOUT` per entry (from its first fragment seen); an entry is
//! removed as soon as every byte of its datagram went through. Every refusal is counted.

use std::collections::VecDeque;
use std::time::Duration;

use hashbrown::HashMap;

use crate::stats::DropReason;
use crate::time::Time;

/// Datagrams being steered at once, per worker.
pub(super) const MAX_ENTRIES: usize = 8192;
/// Early fragments (before their first) held per datagram.
pub(super) const MAX_HELD: usize = 64;
/// Early fragments held per worker in all.
pub(super) const MAX_HELD_TOTAL: usize = 512;
/// How long a datagram's fragments are steered after its first fragment seen (fragments of
/// one datagram arrive back to back; Linux waits 30 s to reassemble, for slow links).
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);

/// A datagram: its addresses (IPv4 in the first four bytes), identification and protocol
/// (IPv6: the Fragment header's Next Header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub id: u32,
    pub proto: u8,
}

/// What happens to a datagram's later fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Steer {
    /// Rewritten to these addresses (IPv4 in the first four bytes) and sent; counted as
    /// traffic of the real server slot (its service folds it in), inbound (client to
    /// server) or not.
    Translate { src: [u8; 16], dst: [u8; 16], real: u32, inbound: bool },
    /// Handed to the worker that owns the session (a reply's local port named it).
    Redirect(u16),
    /// Dropped (`fragment`): the first fragment found no session rvsd can follow.
    Drop,
}

/// The bytes a fragment covers: its data's offset in the datagram and length, and whether
/// more follow (clear on the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    pub offset: u32,
    pub len: u32,
    pub more: bool,
}

struct Entry<P> {
    born: Time,
    steer: Option<Steer>,
    held: Vec<P>,
    /// Data bytes seen, and the datagram's length once its last fragment was seen (0 before).
    seen: u32,
    total: u32,
}

/// What to do with a later fragment.
pub(super) enum Later<P> {
    Steer(Steer, P),
    /// Kept until the first fragment comes.
    Held,
    Refused(DropReason, P),
}

/// One worker's datagrams under way.
pub(super) struct FragTable<P> {
    map: HashMap<FragKey, Entry<P>, ahash::RandomState>,
    /// Entries by birth (expiry order); a key whose entry was removed, or born again, is
    /// skipped when it comes due.
    order: VecDeque<(Time, FragKey)>,
    held: usize,
    /// Scratch space: fragments released or expired by one call (no allocation per call).
    pub(super) scratch: Vec<P>,
}

impl<P> Default for FragTable<P> {
    fn default() -> Self {
        FragTable { map: HashMap::default(), order: VecDeque::new(), held: 0, scratch: Vec::new() }
    }
}

impl<P> FragTable<P> {
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Early fragments held now.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.held
    }

    /// The entry of `key`, made when there is room. The expiry queue is bounded too (keys of
    /// entries already removed stay in it until due).
    fn entry(&mut self, key: FragKey, now: Time) -> Option<&mut Entry<P>> {
        if !self.map.contains_key(&key) {
            if self.map.len() >= MAX_ENTRIES || self.order.len() >= 4 * MAX_ENTRIES {
                return None;
            }
            self.map.insert(key, Entry { born: now, steer: None, held: Vec::new(), seen: 0, total: 0 });
            self.order.push_back((now, key));
        }
        self.map.get_mut(&key)
    }

    /// Counts `piece` against its entry; removes the entry once the whole datagram went by.
    fn account(&mut self, key: &FragKey, piece: Piece) {
        let Some(e) = self.map.get_mut(key) else { return };
        e.seen = e.seen.saturating_add(piece.len);
        if !piece.more {
            e.total = piece.offset.saturating_add(piece.len);
        }
        if e.total != 0 && e.seen >= e.total && e.held.is_empty() {
            self.map.remove(key);
        }
    }

    /// A datagram's first fragment was handled as `steer` decided: remembered for the later
    /// ones. The fragments held for it are moved to `released`, to be steered the same way.
    pub(super) fn first(
        &mut self,
        key: FragKey,
        piece: Piece,
        steer: Steer,
        now: Time,
        released: &mut Vec<P>,
    ) {
        let Some(e) = self.entry(key, now) else { return };
        e.steer = Some(steer);
        let held = std::mem::take(&mut e.held);
        self.held -= held.len();
        released.extend(held);
        self.account(&key, piece);
    }

    /// A later fragment (offset > 0): steered as its first was, or held, or refused.
    pub(super) fn later(&mut self, key: FragKey, piece: Piece, now: Time, pkt: P) -> Later<P> {
        let total_held = self.held;
        let Some(e) = self.entry(key, now) else {
            return Later::Refused(DropReason::FragmentTableFull, pkt);
        };
        if let Some(s) = e.steer {
            self.account(&key, piece);
            return Later::Steer(s, pkt);
        }
        if e.held.len() >= MAX_HELD || total_held >= MAX_HELD_TOTAL {
            return Later::Refused(DropReason::FragmentHeldFull, pkt);
        }
        if !piece.more {
            e.total = piece.offset.saturating_add(piece.len);
        }
        e.seen = e.seen.saturating_add(piece.len);
        e.held.push(pkt);
        self.held += 1;
        Later::Held
    }

    /// Ends the entries older than `TIMEOUT`: their held fragments (whose first never came)
    /// go to `expired`, to be dropped and counted.
    pub(super) fn expire(&mut self, now: Time, expired: &mut Vec<P>) {
        while let Some(&(born, key)) = self.order.front() {
            if born + TIMEOUT > now {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|e| e.born == born) {
                let e = self.map.remove(&key).expect("present");
                self.held -= e.held.len();
                expired.extend(e.held);
            }
        }
    }
}

/// An IPv4 address as a key's 16 bytes.
pub(super) fn v4(a: std::net::Ipv4Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a.octets());
    b
}

/// The IPv4 address in a key's 16 bytes.
pub(super) fn to_v4(b: &[u8; 16]) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragKey {
        FragKey { src: [1; 16], dst: [2; 16], id, proto: 17 }
    }
    const T: Steer = Steer::Translate { src: [3; 16], dst: [4; 16], real: 0, inbound: true };
    fn piece(offset: u32, len: u32, more: bool) -> Piece {
        Piece { offset, len, more }
    }

    /// In order: the first decides, the others follow, and the entry goes once every byte did.
    #[test]
    fn in_order_fragments_follow_the_first_and_the_entry_ends_with_the_datagram() {
        let mut t: FragTable<u32> = FragTable::default();
        let mut rel = Vec::new();
        t.first(key(1), piece(0, 1448, true), T, Time::ZERO, &mut rel);
        assert!(rel.is_empty());
        assert!(matches!(t.later(key(1), piece(1448, 1448, true), Time::ZERO, 2), Later::Steer(T, 2)));
        assert_eq!(t.len(), 1);
        assert!(matches!(t.later(key(1), piece(2896, 112, false), Time::ZERO, 3), Later::Steer(T, 3)));
        assert!(t.is_empty(), "every byte went through");
    }

    /// Out of order: later fragments wait for the first and are released with it.
    #[test]
    fn early_fragments_are_held_until_the_first_comes() {
        let mut t: FragTable<u32> = FragTable::default();
        assert!(matches!(t.later(key(7), piece(2896, 112, false), Time::ZERO, 3), Later::Held));
        assert!(matches!(t.later(key(7), piece(1448, 1448, true), Time::ZERO, 2), Later::Held));
        assert_eq!(t.held(), 2);
        let mut rel = Vec::new();
        t.first(key(7), piece(0, 1448, true), Steer::Redirect(1), Time::ZERO, &mut rel);
        assert_eq!(rel, vec![3, 2]);
        assert_eq!(t.held(), 0);
        assert!(t.is_empty(), "the held bytes were counted when they came");
        // Another datagram's fragments are not affected.
        assert!(matches!(t.later(key(8), piece(8, 8, false), Time::ZERO, 9), Later::Held));
    }

    /// A first that never comes: its fragments are given back for dropping after TIMEOUT.
    #[test]
    fn held_fragments_time_out() {
        let mut t: FragTable<u32> = FragTable::default();
        assert!(matches!(t.later(key(1), piece(1448, 100, false), Time::from_secs(1), 5), Later::Held));
        let mut exp = Vec::new();
        t.expire(Time::from_secs(5), &mut exp);
        assert!(exp.is_empty(), "not yet");
        t.expire(Time::from_secs(6), &mut exp);
        assert_eq!(exp, vec![5]);
        assert!(t.is_empty() && t.held() == 0);
        // A steered entry whose last fragment never came ends too.
        let mut rel = Vec::new();
        t.first(key(2), piece(0, 1448, true), T, Time::from_secs(10), &mut rel);
        t.expire(Time::from_secs(16), &mut exp);
        assert!(t.is_empty());
    }

    /// An entry removed and made again is not ended by its predecessor's expiry.
    #[test]
    fn a_reborn_entry_keeps_its_own_deadline() {
        let mut t: FragTable<u32> = FragTable::default();
        let mut rel = Vec::new();
        t.first(key(1), piece(0, 8, true), T, Time::from_secs(1), &mut rel);
        assert!(matches!(t.later(key(1), piece(8, 8, false), Time::from_secs(1), 1), Later::Steer(..)));
        assert!(t.is_empty());
        assert!(matches!(t.later(key(1), piece(8, 8, false), Time::from_secs(4), 2), Later::Held));
        let mut exp = Vec::new();
        t.expire(Time::from_secs(6), &mut exp);
        assert!(exp.is_empty() && t.held() == 1, "born at 4 s, due at 9 s");
        t.expire(Time::from_secs(9), &mut exp);
        assert_eq!(exp, vec![2]);
    }

    /// Limits: held per datagram, held in all, entries in all.
    #[test]
    fn limits_refuse_and_say_why() {
        let mut t: FragTable<usize> = FragTable::default();
        for i in 0..MAX_HELD {
            assert!(matches!(
                t.later(key(1), piece(8 * (i as u32 + 1), 8, true), Time::ZERO, i),
                Later::Held
            ));
        }
        assert!(matches!(
            t.later(key(1), piece(9000, 8, true), Time::ZERO, 99),
            Later::Refused(DropReason::FragmentHeldFull, 99)
        ));
        let mut id = 2;
        while t.held() < MAX_HELD_TOTAL {
            assert!(matches!(t.later(key(id), piece(8, 8, true), Time::ZERO, 0), Later::Held));
            id += 1;
        }
        assert!(matches!(
            t.later(key(id), piece(8, 8, true), Time::ZERO, 1),
            Later::Refused(DropReason::FragmentHeldFull, 1)
        ));
        // Entries in all: steered ones hold nothing but still count.
        let mut rel = Vec::new();
        let mut id = 100_000;
        while t.len() < MAX_ENTRIES {
            t.first(key(id), piece(0, 8, true), T, Time::ZERO, &mut rel);
            id += 1;
        }
        assert!(matches!(
            t.later(key(id), piece(8, 8, true), Time::ZERO, 2),
            Later::Refused(DropReason::FragmentTableFull, 2)
        ));
        let mut exp = Vec::new();
        t.expire(Time::ZERO + TIMEOUT, &mut exp);
        assert_eq!(exp.len(), MAX_HELD_TOTAL);
        assert!(t.is_empty() && t.held() == 0);
    }

    /// Duplicates and overlaps only count bytes twice: the entry ends early, and what comes
    /// after is held under a new entry that times out (counted), never steered wrongly.
    #[test]
    fn duplicates_end_an_entry_early_but_never_misdirect() {
        let mut t: FragTable<u32> = FragTable::default();
        let mut rel = Vec::new();
        t.first(key(1), piece(0, 16, true), T, Time::ZERO, &mut rel);
        assert!(matches!(t.later(key(1), piece(16, 16, false), Time::ZERO, 1), Later::Steer(..)));
        assert!(t.is_empty());
        assert!(matches!(t.later(key(1), piece(16, 16, false), Time::ZERO, 2), Later::Held));
    }
}
