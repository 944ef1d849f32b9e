//! Sessions: the per-worker connection table of FULLNAT.
//!
//! A session joins the two flows of one connection: the client's (CIP:cport → VIP:vport)
//! and the real server's reply flow (RIP:rport → LIP:lport). Both are indexed, so a packet
//! from either side finds its session with one hash lookup, and each key holds exactly
//! what the rewrite of the other direction needs.

mod client_tags;
mod embryonic;
mod index;
mod input_only;
mod state;
mod table;
pub mod v6;

pub use index::{FlowHash, FlowIndex, Hint, Hit};
pub use state::{Direction, SessionState, StateTimeouts, SYN_RECV_PRESSURE_TIMEOUT, SYN_RECV_TIMEOUT};
pub use table::{Found, Hop, LookupSide, SessionId, SessionTable, TableFull};

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::time::Time;

/// IP protocol numbers carried in keys.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// A unidirectional IPv4 flow as seen on the wire. (IPv6 gets its own key type and index
/// when it arrives; the session keeps both flows so rewrites stay table-driven.)
#[derive(Debug, Clone, Copy, Eq)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// Field by field, as derived, but without a branch per field: the addresses as one
/// word and the ports as another (`KeyWords`), which the session lookup compares on every
/// packet.
impl PartialEq for FlowKey {
    #[inline(always)]
    fn eq(&self, o: &Self) -> bool {
        self.words() == o.words()
    }
}

/// A flow key as the three words its equality compares: what the fast path reads from a
/// header (`from_header`) and compares with a session's key without building a
/// `FlowKey` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyWords {
    /// Source and destination address, their bytes in wire order.
    addrs: u64,
    /// `sport | dport << 16`.
    ports: u32,
    pub proto: u8,
}

impl KeyWords {
    /// The key of the IPv4 header (20 bytes, no options) and TCP/UDP ports at `h[14..38]`
    /// of an Ethernet frame.
    #[inline(always)]
    pub fn from_header(h: &[u8; 38]) -> KeyWords {
        let (addrs, ports) = (h[26..34].first_chunk(), h[34..38].first_chunk());
        KeyWords {
            addrs: addrs.map_or(0, |a| u64::from_ne_bytes(*a)),
            // `sport << 16 | dport` turned round: a load, a byte swap and a rotate.
            ports: ports.map_or(0, |p| u32::from_be_bytes(*p).rotate_left(16)),
            proto: h[23],
        }
    }

    #[inline(always)]
    pub fn dport(&self) -> u16 {
        (self.ports >> 16) as u16
    }

    /// The `FlowKey` (off the fast path: a full probe, a hand-over).
    #[inline]
    pub fn key(&self) -> FlowKey {
        let a = self.addrs.to_ne_bytes();
        FlowKey {
            src: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
            dst: Ipv4Addr::new(a[4], a[5], a[6], a[7]),
            sport: self.ports as u16,
            dport: self.dport(),
            proto: self.proto,
        }
    }
}

impl FlowKey {
    /// The words `eq` compares.
    #[inline(always)]
    pub fn words(&self) -> KeyWords {
        let (s, d) = (self.src.octets(), self.dst.octets());
        KeyWords {
            addrs: u64::from_ne_bytes([s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3]]),
            ports: self.sport as u32 | (self.dport as u32) << 16,
            proto: self.proto,
        }
    }
}

/// Every field, as `eq` compares them, in two words: two calls into the map's hasher, not
/// the seven (length prefixes included) of hashing the fields one by one.
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64((u32::from(self.src) as u64) << 32 | u32::from(self.dst) as u64);
        h.write_u64((self.sport as u64) << 32 | (self.dport as u64) << 16 | self.proto as u64);
    }
}

impl FlowKey {
    pub fn src_sock(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.src, self.sport)
    }
    pub fn dst_sock(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.dst, self.dport)
    }
}

/// One connection: 48 bytes, so that with its timer link, next-hop cache and checksum
/// deltas a table slot is one cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// CIP:cport → VIP:vport.
    pub client: FlowKey,
    /// RIP:rport → LIP:lport.
    pub reply: FlowKey,
    pub state: SessionState,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Stat slot of the virtual service (see `service::registry`, at most 65535).
    pub service_slot: u16,
    /// Stat slot of the real server.
    pub real_slot: u32,
    /// The (masked) client of the persistence template that pinned this session, which
    /// the template outlives at least as long as the session does.
    pub persist_client: PersistClient,
    pub expires: Time,
}

/// An optional IPv4 client address in four bytes: 0.0.0.0, never a client, is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistClient([u8; 4]);

impl PersistClient {
    pub const NONE: PersistClient = PersistClient([0; 4]);
    #[inline]
    pub fn get(self) -> Option<Ipv4Addr> {
        (self != Self::NONE).then_some(Ipv4Addr::from(self.0))
    }
}

impl From<Option<Ipv4Addr>> for PersistClient {
    fn from(a: Option<Ipv4Addr>) -> Self {
        PersistClient(a.map_or([0; 4], |a| a.octets()))
    }
}

const _: () = assert!(std::mem::size_of::<Session>() == 48);

/// The session has an entry in the pipeline's extension table (SYN proxy, PROXY protocol).
pub const FLAG_EXT: u8 = 1;
/// TOA still to be inserted into the next client ACK/data segment.
pub const FLAG_TOA_PENDING: u8 = 2;
/// The service inserts TOA: the server's MSS is lowered to leave room.
pub const FLAG_TOA: u8 = 4;
/// Forwarding method NAT: no local address; `reply` is the real server's reply as it
/// arrives (RIP:rport -> CIP:cport), rewritten back to come from VIP:vport.
pub const FLAG_NAT: u8 = 8;
/// Forwarding method DR: the frame goes to the real server's MAC unchanged; replies never
/// pass through us, so the state follows the client's packets only.
pub const FLAG_DR: u8 = 16;
/// Forwarding method TUN: IPIP (or GUE) to the real server; input-only like DR.
pub const FLAG_TUN: u8 = 32;
/// The session was synced (a record of it sent, or it came from one): it is in the
/// worker's table digest (`sync::TableDigest`), which members compare.
pub const FLAG_SYNCED: u8 = 64;
/// The methods whose sessions see only the client's packets (IPVS's input-only table).
pub const FLAG_INPUT_ONLY: u8 = FLAG_DR | FLAG_TUN;
/// Any method other than FULLNAT: the session holds no local address.
pub const FLAG_NO_LADDR: u8 = FLAG_NAT | FLAG_DR | FLAG_TUN;

impl Session {
    pub fn client_addr(&self) -> SocketAddrV4 {
        self.client.src_sock()
    }
    pub fn virtual_addr(&self) -> SocketAddrV4 {
        self.client.dst_sock()
    }
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.reply.dst_sock()
    }
    pub fn real_addr(&self) -> SocketAddrV4 {
        self.reply.src_sock()
    }
}

/// Flow `i` of a test's many: TCP to 198.18.0.100:80, from a client address and port
/// numbered by `i`.
#[cfg(test)]
pub(crate) fn numbered_flow(i: u32) -> FlowKey {
    FlowKey {
        src: Ipv4Addr::from(0xc612_0000 + (i >> 16)),
        dst: Ipv4Addr::new(198, 18, 0, 100),
        sport: i as u16,
        dport: 80,
        proto: 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(f: (u32, u32, u16, u16, u8)) -> FlowKey {
        FlowKey { src: f.0.into(), dst: f.1.into(), sport: f.2, dport: f.3, proto: f.4 }
    }

    proptest! {
        /// `FlowKey`'s equality by words is the equality of every field.
        #[test]
        fn key_equality_is_fieldwise(a in any::<(u32, u32, u16, u16, u8)>(), b in any::<(u32, u32, u16, u16, u8)>(), which in 0..6usize) {
            // Half the time b is a with one field (or none) taken from b.
            let mut c = a;
            match which {
                0 => c.0 = b.0,
                1 => c.1 = b.1,
                2 => c.2 = b.2,
                3 => c.3 = b.3,
                4 => c.4 = b.4,
                _ => {}
            }
            prop_assert_eq!(key(a) == key(c), a == c);
            prop_assert_eq!(key(a) == key(b), a == b);
        }

        /// The words of a key read from a header are the key's, and give it back.
        #[test]
        fn key_words_from_a_header_are_the_keys(f in any::<(u32, u32, u16, u16, u8)>()) {
            let k = key(f);
            let mut h = [0u8; 38];
            h[23] = k.proto;
            h[26..30].copy_from_slice(&k.src.octets());
            h[30..34].copy_from_slice(&k.dst.octets());
            h[34..36].copy_from_slice(&k.sport.to_be_bytes());
            h[36..38].copy_from_slice(&k.dport.to_be_bytes());
            let w = KeyWords::from_header(&h);
            prop_assert_eq!(w, k.words());
            prop_assert_eq!(w.key(), k);
            prop_assert_eq!(w.dport(), k.dport);
        }
    }
}
