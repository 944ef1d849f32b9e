//! SYN proxy: rvsd answers client SYNs itself with SYN cookies and opens the connection to the
//! real server only once the client has proven its address with a valid ACK.
//!
//! The building blocks are sans-IO functions over IPv4 packets in byte buffers:
//!
//! - [`cookie`]: Linux-style SYN cookies keyed with SipHash-2-4, options carried in the
//!   timestamp, [`CookieSecrets`] (current + previous key) made by the control plane and shared
//!   read-only by every worker.
//! - [`handshake`]: the SYN/ACK to the client, the validation of its ACK, the SYN to the real
//!   server, the [`Translation`] learned from the server's SYN/ACK, RST replies.
//! - [`seq`]: sequence arithmetic across the 2^32 wrap and the per-connection translation of
//!   seq/ack numbers, SACK blocks, timestamps and windows with incremental checksums.
//!
//! See [`handshake`] for the message flow and what the session keeps.

pub mod cookie;
pub mod handshake;
pub mod seq;

pub use cookie::{cookie_counter, CookieError, CookieSecrets, FourTuple, SecretKey, TsOptions};
pub use handshake::{
    build_server_syn, on_server_synack, rst_reply, synack_from_syn, validate_ack, HandshakeError, SynOptions,
    SynProxyConfig, SynProxyState, ValidatedAck,
};
pub use seq::{seq_ge, seq_gt, seq_le, seq_lt, SeqDelta, Translation, WindowShift};

#[cfg(test)]
mod tests;

/// Packet builders shared by the tests of synproxy, toa and proxyproto.
#[cfg(test)]
pub(crate) mod testutil {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use crate::wire::ipv4::Ipv4Packet;
    use crate::wire::tcp::{TcpFlags, TcpPacket};
    use crate::wire::IpProtocol;

    /// A TCP segment to build.
    #[derive(Debug, Clone)]
    pub struct Seg<'a> {
        pub src: Ipv4Addr,
        pub dst: Ipv4Addr,
        pub sport: u16,
        pub dport: u16,
        pub seq: u32,
        pub ack: u32,
        pub flags: TcpFlags,
        pub window: u16,
        /// Raw options; padded with zeros (EOL) to a multiple of 4.
        pub opts: &'a [u8],
        pub payload: &'a [u8],
        /// IP options bytes (a multiple of 4).
        pub ip_opts: &'a [u8],
    }

    impl Default for Seg<'_> {
        fn default() -> Self {
            Seg {
                src: Ipv4Addr::new(192, 168, 1, 10),
                dst: Ipv4Addr::new(10, 0, 0, 1),
                sport: 54321,
                dport: 80,
                seq: 0x1a2b3c4d,
                ack: 0,
                flags: TcpFlags::SYN,
                window: 64240,
                opts: &[],
                payload: &[],
                ip_opts: &[],
            }
        }
    }

    /// An IPv4 packet with full checksums, followed by `tailroom` bytes of 0xEE.
    pub fn build(s: &Seg<'_>, tailroom: usize) -> Vec<u8> {
        let opt_len = s.opts.len().div_ceil(4) * 4;
        let ihl = 20 + s.ip_opts.len();
        let tcp_len = 20 + opt_len + s.payload.len();
        let total = ihl + tcp_len;
        let mut b = vec![0u8; total + tailroom];
        b[total..].fill(0xee);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[..total]);
            ip.set_version(4);
            ip.set_header_len(ihl);
            ip.set_total_len(total as u16);
            ip.set_ttl(64);
            ip.set_ident(0x4321);
            ip.set_dont_frag(true);
            ip.set_protocol(IpProtocol::TCP);
            ip.set_src_addr(s.src);
            ip.set_dst_addr(s.dst);
            ip.options_mut().copy_from_slice(s.ip_opts);
            ip.fill_checksum();
        }
        let mut t = TcpPacket::new_unchecked(&mut b[ihl..total]);
        t.set_src_port(s.sport);
        t.set_dst_port(s.dport);
        t.set_seq_number(s.seq);
        t.set_ack_number(s.ack);
        t.set_header_len(20 + opt_len);
        t.set_flags(s.flags);
        t.set_window(s.window);
        t.options_mut()[..s.opts.len()].copy_from_slice(s.opts);
        t.payload_mut().copy_from_slice(s.payload);
        t.fill_checksum(s.src, s.dst);
        b
    }

    /// Asserts that the IPv4 packet at the start of `b` has right IP and TCP checksums, equal
    /// bit for bit to a full recomputation, and returns (IP header length, total length).
    pub fn assert_checksums(b: &[u8]) -> (usize, usize) {
        let ip = Ipv4Packet::new_checked(b).expect("ip");
        assert!(ip.verify_checksum(), "ip checksum");
        let mut h = ip.header().to_vec();
        let mut full = Ipv4Packet::new_unchecked(&mut h[..]);
        full.fill_checksum();
        assert_eq!(full.checksum(), ip.checksum(), "ip checksum: incremental == full");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("tcp");
        assert!(tcp.verify_checksum(ip.src_addr(), ip.dst_addr()), "tcp checksum");
        let mut seg = ip.payload().to_vec();
        let mut full = TcpPacket::new_unchecked(&mut seg[..]);
        full.fill_checksum(ip.src_addr(), ip.dst_addr());
        assert_eq!(full.checksum(), tcp.checksum(), "tcp checksum: incremental == full");
        (ip.header_len(), ip.total_len() as usize)
    }

    /// The TCP segment of the IPv4 packet at the start of `b`.
    pub fn tcp(b: &[u8]) -> TcpPacket<&[u8]> {
        let ip = Ipv4Packet::new_checked(b).unwrap();
        let (hl, tl) = (ip.header_len(), ip.total_len() as usize);
        TcpPacket::new_checked(&b[hl..tl]).unwrap()
    }

    /// The TCP option bytes of the IPv4 packet at the start of `b`.
    pub fn tcp_options(b: &[u8]) -> &[u8] {
        let ip = Ipv4Packet::new_checked(b).unwrap();
        let (hl, tl) = (ip.header_len(), ip.total_len() as usize);
        let t = &b[hl..tl];
        &t[20..(t[12] >> 4) as usize * 4]
    }

    /// The parsed TCP options of the IPv4 packet at the start of `b`.
    pub fn tcp_opts(b: &[u8]) -> Vec<crate::wire::tcp::TcpOption<'_>> {
        crate::wire::tcp::TcpOptionIter::new(tcp_options(b)).collect()
    }

    /// The TCP segment of the IPv4 packet at the start of `b`, mutably.
    pub fn tcp_mut(b: &mut [u8]) -> TcpPacket<&mut [u8]> {
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        let (hl, tl) = (ip.header_len(), ip.total_len() as usize);
        TcpPacket::new_checked(&mut b[hl..tl]).unwrap()
    }

    /// One TCP option of any kind we know plus an unknown one, as bytes.
    pub fn arb_option() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![1]),
            any::<u16>().prop_map(|m| {
                let b = m.to_be_bytes();
                vec![2, 4, b[0], b[1]]
            }),
            (0u8..15).prop_map(|w| vec![3, 3, w]),
            Just(vec![4, 2]),
            proptest::collection::vec(any::<u32>(), 1..=4).prop_map(|lefts| {
                let mut v = vec![5, 2 + 8 * lefts.len() as u8];
                for l in lefts {
                    v.extend_from_slice(&l.to_be_bytes());
                    v.extend_from_slice(&l.wrapping_add(1460).to_be_bytes());
                }
                v
            }),
            (any::<u32>(), any::<u32>()).prop_map(|(a, e)| {
                let mut v = vec![8, 10];
                v.extend_from_slice(&a.to_be_bytes());
                v.extend_from_slice(&e.to_be_bytes());
                v
            }),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(|d| {
                let mut v = vec![30, 2 + d.len() as u8];
                v.extend_from_slice(&d);
                v
            }),
        ]
    }

    /// An option list of at most 40 bytes at every alignment (NOPs of any count in between).
    pub fn arb_options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(arb_option(), 0..10).prop_map(|os| {
            let mut v = Vec::new();
            for o in os {
                if v.len() + o.len() <= 40 {
                    v.extend_from_slice(&o);
                }
            }
            v
        })
    }

    /// The option layouts every insertion/translation must handle, by name.
    pub fn layouts() -> Vec<(&'static str, Vec<u8>)> {
        let sack3: Vec<u8> = [1, 1, 5, 26]
            .into_iter()
            .chain((0..6u32).flat_map(|i| (0xffff_f000u32.wrapping_add(i * 0x800)).to_be_bytes()))
            .collect();
        vec![
            ("none", vec![]),
            ("mss", vec![2, 4, 5, 0xb4]),
            ("linux-syn", LINUX_SYN_OPTS.to_vec()),
            ("ts-ack", vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            ("sack3", sack3),
            ("ts+sack", {
                let mut v = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18];
                v.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5]);
                v
            }),
            // A lone NOP puts the SACK blocks at odd offsets.
            ("odd-nop-sack", {
                let mut v = vec![1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20];
                v.push(0);
                v
            }),
            ("odd-nop-ts", vec![1, 8, 10, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0]),
            ("eol-padding", vec![2, 4, 5, 0xb4, 0, 0, 0, 0]),
            ("full-40", {
                let mut v = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 26];
                v.extend((0..24u8).map(|i| i * 7));
                v
            }),
        ]
    }

    /// The Linux SYN option set: MSS 1460, SACK-permitted, TS, NOP, WS 7.
    pub const LINUX_SYN_OPTS: [u8; 20] =
        [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0x9a, 0x8b, 0x7c, 0, 0, 0, 0, 1, 3, 3, 7];
}
