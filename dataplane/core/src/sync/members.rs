//! The members of a sync group as their hellos tell them: alive until their hold time
//! passes without a hello, with the generation, table size and digest they announced.
//! For `rvsadm --sync` and for the ECMP cluster (#11), which needs to know who is up and
//! whether tables agree.

use std::collections::BTreeMap;
use std::time::Duration;

use super::wire::{Control, Hello};
use super::{Body, Message};
use crate::time::Time;

/// What the last hello of a member said, and when it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub epoch: u32,
    pub hello: Hello,
    pub last_hello: Time,
}

impl Member {
    /// Alive: a hello arrived within its hold time.
    pub fn alive(&self, now: Time) -> bool {
        now - self.last_hello < Duration::from_millis(self.hello.hold_ms as u64)
    }
}

/// A change in the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberEvent {
    /// First hello of a member, or the first after it was declared gone.
    Joined(u32),
    /// A member restarted (a hello of a newer epoch): ask it for nothing, but expect it
    /// to ask for a bulk sync.
    Restarted(u32),
    /// Its hold time passed without a hello.
    Gone(u32),
}

/// Members by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    members: BTreeMap<u32, Member>,
}

impl Members {
    pub fn new() -> Members {
        Members::default()
    }

    /// Follows one authenticated message; hellos update the member.
    pub fn on_message(&mut self, msg: &Message<'_>, now: Time) -> Option<MemberEvent> {
        let Body::Control(Control::Hello(hello)) = msg.body else { return None };
        let (id, epoch) = (msg.header.sender, msg.header.epoch);
        let m = Member { epoch, hello, last_hello: now };
        match self.members.insert(id, m) {
            None => Some(MemberEvent::Joined(id)),
            Some(old) if epoch > old.epoch => Some(MemberEvent::Restarted(id)),
            Some(_) => None,
        }
    }

    /// Removes the members whose hold time passed; reports each.
    pub fn expire(&mut self, now: Time, mut gone: impl FnMut(MemberEvent)) {
        self.members.retain(|&id, m| {
            let keep = m.alive(now);
            if !keep {
                gone(MemberEvent::Gone(id));
            }
            keep
        });
    }

    pub fn get(&self, id: u32) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Members in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Member)> {
        self.members.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members alive at `now` whose announced digest differs from `digest` (tables that
    /// disagree with ours).
    pub fn disagreeing(&self, digest: u64, now: Time) -> impl Iterator<Item = u32> + '_ {
        self.members.iter().filter(move |(_, m)| m.alive(now) && m.hello.digest != digest).map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{ClusterKey, Receiver, ReceiverConfig, Sender, SenderConfig};

    fn key() -> ClusterKey {
        ClusterKey::from_config("a long test cluster passphrase").unwrap()
    }

    fn hello(member: u32, epoch: u32, digest: u64) -> Vec<u8> {
        let mut s = Sender::new(SenderConfig::new(1, member, epoch), &key()).unwrap();
        let mut b = [0u8; 128];
        let h = Hello { generation: 3, sessions: 10, digest, hold_ms: 3000, state: 0, port_slices: 0 };
        let n = s.control(&Control::Hello(h), &mut b).unwrap();
        b[..n].to_vec()
    }

    #[test]
    fn join_restart_and_hold_time() {
        let mut rx = Receiver::new(ReceiverConfig::new(1, 9), &key());
        let mut ms = Members::new();
        let t = Time::from_secs;
        let d = hello(2, 1, 77);
        let m = rx.receive(&d, t(1)).unwrap();
        assert_eq!(ms.on_message(&m, t(1)), Some(MemberEvent::Joined(2)));
        let d3 = hello(3, 1, 78);
        assert_eq!(ms.on_message(&rx.receive(&d3, t(2)).unwrap(), t(2)), Some(MemberEvent::Joined(3)));
        assert_eq!(ms.disagreeing(77, t(2)).collect::<Vec<_>>(), [3]);
        // Member 2 restarts: a hello of epoch 2 (sequence 1 again, accepted: new epoch).
        let again = hello(2, 2, 77);
        assert_eq!(ms.on_message(&rx.receive(&again, t(3)).unwrap(), t(3)), Some(MemberEvent::Restarted(2)));
        assert_eq!(ms.get(2).map(|m| (m.epoch, m.hello.sessions)), Some((2, 10)));
        // Member 3 said hold 3 s and was last heard at 2 s.
        assert!(ms.get(3).unwrap().alive(t(4)));
        let mut gone = Vec::new();
        ms.expire(t(5), |e| gone.push(e));
        assert_eq!(gone, [MemberEvent::Gone(3)]);
        assert_eq!(ms.iter().map(|(id, _)| id).collect::<Vec<_>>(), [2]);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms.disagreeing(77, t(5)).count(), 0);
    }
}
