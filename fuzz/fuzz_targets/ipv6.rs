//! The IPv6 view, its extension-header walk and ICMPv6/NDP parsing on arbitrary bytes:
//! errors, never panics; what parses emits back to the same fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rvs_core::wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use rvs_core::wire::ipv6::{walk_ext, Ipv6Packet, Ipv6Repr, MAX_EXT_HEADERS};

fuzz_target!(|data: &[u8]| {
    if let Ok(ip) = Ipv6Packet::new_checked(data) {
        let r = Ipv6Repr::parse(&ip);
        let mut b = data.to_vec();
        r.emit(&mut b);
        assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&b[..]).unwrap()), r);
        if let Ok(c) = ip.ext_chain() {
            assert!(c.offset <= ip.payload().len());
            assert!(c.count <= MAX_EXT_HEADERS);
            let upper = &ip.payload()[c.offset..];
            if let Ok(p) = Icmpv6Packet::new_checked(upper) {
                // Checksum failures are the common case on random bytes; also try the
                // message with a checksum that verifies, so the type parsers are reached.
                let _ = Icmpv6Repr::parse(&p, r.src, r.dst, r.hop_limit);
                let mut m = upper.to_vec();
                Icmpv6Packet::new_unchecked(&mut m[..]).fill_checksum(r.src, r.dst);
                let p = Icmpv6Packet::new_checked(&m[..]).unwrap();
                if let Ok(repr) = Icmpv6Repr::parse(&p, r.src, r.dst, r.hop_limit) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut out, r.src, r.dst);
                    let q = Icmpv6Packet::new_checked(&out[..]).unwrap();
                    assert_eq!(Icmpv6Repr::parse(&q, r.src, r.dst, r.hop_limit), Ok(repr));
                }
            }
        }
    }
    if let Some((&nh, rest)) = data.split_first() {
        let _ = walk_ext(nh, rest);
    }
});
