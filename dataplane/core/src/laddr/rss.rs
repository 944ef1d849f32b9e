//! Receive-side scaling as a NIC computes it: the Toeplitz hash over a reply's 4-tuple
//! and the redirection table (RETA) that maps the hash to an RX queue.
//!
//! With it a worker can choose the local port of a new session so that the real
//! server's replies (RIP:rport → LIP:lport) land on the worker's own queue, on NICs
//! without a flow API (DPVS lists this as never done). The Toeplitz hash is linear in
//! its input bits, so the hash of a reply is the hash of (RIP, LIP, rport, 0) XOR the
//! contribution of lport alone. The same linearity gives the whole hash: one 256-entry
//! table per input byte (12 KB, built once per port), so a hash is twelve loads and XORs
//! instead of a loop over 96 bits, and trying a candidate port costs two loads, an XOR
//! and a RETA lookup.

use std::net::Ipv4Addr;

/// The key most NICs and DPDK PMDs start with (Microsoft's RSS verification key).
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0,
    0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42,
    0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The symmetric key (0x6d5a repeated): both directions of a flow hash alike.
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// The Toeplitz hash of `input` under `key` (at least input length + 4 bytes of key).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    assert!(key.len() >= input.len() + 4, "RSS key too short for the input");
    let mut result = 0u32;
    // The 32-bit window of the key that starts at the current input bit.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, &byte) in input.iter().enumerate() {
        let next = key[i + 4];
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | ((next >> (7 - bit)) & 1) as u32;
        }
    }
    result
}

/// What a NIC does with IPv4 TCP/UDP packets: the key and the redirection table.
#[derive(Debug, Clone)]
pub struct Rss {
    /// RETA: hash % len → queue.
    reta: Vec<u16>,
    /// The hash contribution of each byte of the 12-byte IPv4 input (source, destination,
    /// source port, destination port), by its value.
    bytes: Box<[[u32; 256]; 12]>,
}

impl Rss {
    /// `reta` as the port has it (its length is a power of two on every NIC; the hash's
    /// low bits index it).
    pub fn new(key: &[u8], reta: Vec<u16>) -> Option<Rss> {
        if key.len() < 16 || reta.is_empty() || !reta.len().is_power_of_two() {
            return None;
        }
        let mut bytes = Box::new([[0u32; 256]; 12]);
        for (at, table) in bytes.iter_mut().enumerate() {
            for (b, slot) in table.iter_mut().enumerate() {
                let mut input = [0u8; 12];
                input[at] = b as u8;
                *slot = toeplitz(key, &input);
            }
        }
        Some(Rss { reta, bytes })
    }

    /// A RETA spread round robin over `queues`, as DPDK ports are set up by default.
    pub fn round_robin(key: &[u8], reta_size: usize, queues: u16) -> Option<Rss> {
        if queues == 0 {
            return None;
        }
        Rss::new(key, (0..reta_size).map(|i| (i % queues as usize) as u16).collect())
    }

    /// The hash of an IPv4 TCP/UDP packet from `src:sport` to `dst:dport`.
    pub fn hash_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        let mut input = [0u8; 12];
        input[0..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        input[8..10].copy_from_slice(&sport.to_be_bytes());
        input[10..12].copy_from_slice(&dport.to_be_bytes());
        input.iter().zip(self.bytes.iter()).fold(0, |h, (&b, table)| h ^ table[b as usize])
    }

    /// The queue a hash lands on.
    #[inline]
    pub fn queue(&self, hash: u32) -> u16 {
        self.reta[hash as usize & (self.reta.len() - 1)]
    }

    /// Hashes of replies from `rip:rport` to `lip`: the part without the local port.
    pub fn reply_base(&self, rip: Ipv4Addr, lip: Ipv4Addr, rport: u16) -> u32 {
        self.hash_v4(rip, lip, rport, 0)
    }

    /// The queue of the reply to local port `lport`, from `reply_base`.
    #[inline]
    pub fn reply_queue(&self, base: u32, lport: u16) -> u16 {
        let [hi, lo] = lport.to_be_bytes();
        self.queue(base ^ self.bytes[10][hi as usize] ^ self.bytes[11][lo as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// Microsoft's RSS verification suite, IPv4 with TCP ports, default key: (source,
    /// destination, expected hash).
    const VECTORS: [(&str, u16, &str, u16, u32); 5] = [
        ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51cc_c178),
        ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xc626_b0ea),
        ("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5c2b_394a),
        ("38.27.205.30", 48228, "209.142.163.6", 2217, 0xafc7_327f),
        ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10e8_28a2),
    ];

    #[test]
    fn toeplitz_matches_the_verification_suite() {
        let rss = Rss::round_robin(&DEFAULT_KEY, 128, 1).unwrap();
        for (src, sport, dst, dport, want) in VECTORS {
            assert_eq!(rss.hash_v4(ip(src), ip(dst), sport, dport), want, "{src}:{sport} -> {dst}:{dport}");
        }
    }

    #[test]
    fn the_table_hash_equals_the_bitwise_toeplitz() {
        // Both keys, 10,000 inputs from a fixed-seed xorshift (every byte value and position).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for key in [DEFAULT_KEY, SYMMETRIC_KEY] {
            let rss = Rss::round_robin(&key, 128, 4).unwrap();
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (src, dst) = (Ipv4Addr::from(x as u32), Ipv4Addr::from((x >> 32) as u32));
                let (sport, dport) = ((x >> 8) as u16, (x >> 40) as u16);
                let mut input = [0u8; 12];
                input[0..4].copy_from_slice(&src.octets());
                input[4..8].copy_from_slice(&dst.octets());
                input[8..10].copy_from_slice(&sport.to_be_bytes());
                input[10..12].copy_from_slice(&dport.to_be_bytes());
                assert_eq!(rss.hash_v4(src, dst, sport, dport), toeplitz(&key, &input));
            }
        }
    }

    #[test]
    fn ipv4_only_vectors() {
        // The same suite, addresses only (8 bytes of input).
        let h = |s: &str, d: &str| {
            let mut input = [0u8; 8];
            input[..4].copy_from_slice(&ip(s).octets());
            input[4..].copy_from_slice(&ip(d).octets());
            toeplitz(&DEFAULT_KEY, &input)
        };
        assert_eq!(h("66.9.149.187", "161.142.100.80"), 0x323e_8fc2);
        assert_eq!(h("199.92.111.2", "65.69.140.83"), 0xd718_262a);
    }

    #[test]
    fn the_symmetric_key_hashes_both_directions_alike() {
        let rss = Rss::round_robin(&SYMMETRIC_KEY, 128, 4).unwrap();
        for (src, sport, dst, dport, _) in VECTORS {
            assert_eq!(
                rss.hash_v4(ip(src), ip(dst), sport, dport),
                rss.hash_v4(ip(dst), ip(src), dport, sport)
            );
        }
    }

    #[test]
    fn reply_queue_from_the_base_equals_the_full_hash() {
        let rss = Rss::round_robin(&DEFAULT_KEY, 512, 8).unwrap();
        let (rip, lip) = (ip("198.19.0.11"), ip("198.19.0.200"));
        let base = rss.reply_base(rip, lip, 80);
        for lport in (0..=u16::MAX).step_by(97) {
            assert_eq!(rss.reply_queue(base, lport), rss.queue(rss.hash_v4(rip, lip, 80, lport)));
        }
    }
}
