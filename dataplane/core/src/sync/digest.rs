//! An order-independent digest of a session table: the wrapping sum of a keyed hash
//! (SipHash-2-4, key derived from the cluster key) of each session's identity. Sessions
//! are added and removed in O(1), so a member keeps it current as its table changes and
//! announces it in its hellos and bulk markers; two members with the same sessions have
//! the same digest whatever the order they learnt them in.

use std::net::SocketAddr;

use super::auth::ClusterKey;
use super::conn::ConnRecord;
use crate::synproxy::cookie::siphash24;

/// The digest of a set of sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDigest {
    k0: u64,
    k1: u64,
    sum: u64,
    count: u64,
}

fn put(buf: &mut [u8; 38], at: &mut usize, a: SocketAddr) {
    let p = a.port().to_be_bytes();
    buf[*at..*at + 2].copy_from_slice(&p);
    *at += 2;
    let ip = match a {
        SocketAddr::V4(v) => v.ip().to_ipv6_mapped().octets(),
        SocketAddr::V6(v) => v.ip().octets(),
    };
    buf[*at..*at + 16].copy_from_slice(&ip);
    *at += 16;
}

impl TableDigest {
    pub fn new(key: &ClusterKey) -> TableDigest {
        let (k0, k1) = key.digest_key();
        TableDigest { k0, k1, sum: 0, count: 0 }
    }

    /// A digest with a fixed key (a pipeline whose sync thread has not given it the
    /// cluster key: tests and simulations; the values still compare between pipelines
    /// keyed alike).
    pub fn unkeyed() -> TableDigest {
        TableDigest { k0: 0, k1: 0, sum: 0, count: 0 }
    }

    /// The hash of a session's identity: protocol, client and virtual address.
    pub fn hash(&self, proto: u8, client: SocketAddr, virt: SocketAddr) -> u64 {
        let mut b = [0u8; 38];
        b[0] = proto;
        b[1] = 1;
        let mut at = 2;
        put(&mut b, &mut at, client);
        put(&mut b, &mut at, virt);
        siphash24(self.k0, self.k1, &b)
    }

    pub fn add(&mut self, r: &ConnRecord) {
        self.add_flow(r.proto, r.client, r.virt);
    }

    pub fn remove(&mut self, r: &ConnRecord) {
        self.remove_flow(r.proto, r.client, r.virt);
    }

    /// A session (by its identity) joins the digested set.
    pub fn add_flow(&mut self, proto: u8, client: SocketAddr, virt: SocketAddr) {
        self.sum = self.sum.wrapping_add(self.hash(proto, client, virt));
        self.count += 1;
    }

    /// A session added with [`Self::add_flow`] leaves it.
    pub fn remove_flow(&mut self, proto: u8, client: SocketAddr, virt: SocketAddr) {
        self.sum = self.sum.wrapping_sub(self.hash(proto, client, virt));
        self.count = self.count.saturating_sub(1);
    }

    /// The digest value (0 for an empty table).
    pub fn value(&self) -> u64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}
