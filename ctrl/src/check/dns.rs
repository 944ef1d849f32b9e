//! DNS_CHECK's query and its verdict on a response, pure (the UDP exchange is in
//! [`super::probe`]).
//!
//! keepalived's check: one question (`name`, default the root ".", of `type`, default SOA,
//! class IN, recursion desired) with a random id, sent over UDP to the real server; the server
//! is up when a response (QR set) with the same id comes back with RCODE 0 (NOERROR). The
//! answer records are not looked at. Datagrams that are not that response (too short,
//! another id, a query) are ignored and the wait goes on until `connect_timeout`.

/// The record types keepalived's DNS_CHECK knows, by name.
pub const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("RRSIG", 46),
    ("DNSKEY", 48),
];

/// keepalived's defaults.
pub const DEFAULT_TYPE: u16 = 6;
pub const DEFAULT_NAME: &str = ".";

const HEADER: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_RD: u16 = 0x0100;
const CLASS_IN: u16 = 1;

/// The type number of a type name (case-insensitive), if keepalived knows it.
pub fn qtype(name: &str) -> Option<u16> {
    TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, t)| t)
}

/// The name of a type number ("TYPE<n>" for others).
pub fn type_name(t: u16) -> String {
    TYPES.iter().find(|&&(_, n)| n == t).map_or_else(|| format!("TYPE{t}"), |(n, _)| n.to_string())
}

/// The name in wire format: length-prefixed labels and the root's empty label. A trailing
/// dot is optional ("example.com" and "example.com." are the same name).
pub fn encode_name(name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(name.len() + 2);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() {
                return Err(format!("{name:?}: empty label"));
            }
            if label.len() > 63 {
                return Err(format!("{name:?}: label longer than 63 bytes"));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() > 255 {
        return Err(format!("{name:?}: longer than 255 bytes"));
    }
    Ok(out)
}

/// The query datagram.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let qname = encode_name(name)?;
    let mut q = Vec::with_capacity(HEADER + qname.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&FLAG_RD.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // ANCOUNT, NSCOUNT, ARCOUNT
    q.extend_from_slice(&qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// What a datagram received means for the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not the response to our query: keep waiting.
    Ignore(&'static str),
    Up,
    Down(String),
}

/// RCODE names of RFC 1035 and 2136 for the log.
fn rcode_name(rc: u16) -> &'static str {
    match rc {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "unknown",
    }
}

/// The verdict on datagram `resp` for the query with id `id`.
pub fn judge(id: u16, resp: &[u8]) -> Verdict {
    if resp.len() < HEADER {
        return Verdict::Ignore("shorter than a DNS header");
    }
    if u16::from_be_bytes([resp[0], resp[1]]) != id {
        return Verdict::Ignore("another id");
    }
    let flags = u16::from_be_bytes([resp[2], resp[3]]);
    if flags & FLAG_QR == 0 {
        return Verdict::Ignore("a query, not a response");
    }
    match flags & 0x000f {
        0 => Verdict::Up,
        rc => Verdict::Down(format!("DNS response code {rc} ({})", rcode_name(rc))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name_and_number() {
        assert_eq!(qtype("a"), Some(1));
        assert_eq!(qtype("AAAA"), Some(28));
        assert_eq!((qtype("rrsig"), qtype("DNSKEY")), (Some(46), Some(48)));
        assert_eq!(qtype("soa"), Some(DEFAULT_TYPE));
        assert_eq!(qtype("SRV"), None);
        assert_eq!(type_name(15), "MX");
        assert_eq!(type_name(33), "TYPE33");
    }

    #[test]
    fn names_in_wire_format() {
        assert_eq!(encode_name(".").unwrap(), [0]);
        assert_eq!(encode_name("").unwrap(), [0]);
        let want = b"\x07example\x03com\x00".to_vec();
        assert_eq!(encode_name("example.com").unwrap(), want);
        assert_eq!(encode_name("example.com.").unwrap(), want);
        assert!(encode_name("a..b").unwrap_err().contains("empty label"));
        assert!(encode_name(&"x".repeat(64)).unwrap_err().contains("63"));
        let long = vec!["abcdefghij"; 24].join(".");
        assert!(encode_name(&long).unwrap_err().contains("255"));
    }

    #[test]
    fn query_layout() {
        let q = query(0xbeef, "lab.test", 1).unwrap();
        assert_eq!(&q[..12], &[0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..22], b"\x03lab\x04test\x00");
        assert_eq!(&q[22..], &[0, 1, 0, 1]);
        // The root's SOA, keepalived's default question.
        let root = query(7, DEFAULT_NAME, DEFAULT_TYPE).unwrap();
        assert_eq!(&root[12..], &[0, 0, 6, 0, 1]);
    }

    /// A response to `q` with the given flags (answers are not looked at).
    fn response(q: &[u8], flags: u16) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        r
    }

    #[test]
    fn verdicts() {
        let q = query(0x1234, "lab.test", 1).unwrap();
        assert_eq!(judge(0x1234, &response(&q, 0x8180)), Verdict::Up);
        assert_eq!(
            judge(0x1234, &response(&q, 0x8183)),
            Verdict::Down("DNS response code 3 (NXDOMAIN)".into())
        );
        assert_eq!(
            judge(0x1234, &response(&q, 0x8182)),
            Verdict::Down("DNS response code 2 (SERVFAIL)".into())
        );
        assert!(matches!(judge(0x1234, &response(&q, 0x8185)), Verdict::Down(s) if s.contains("REFUSED")));
        assert_eq!(judge(0x1235, &response(&q, 0x8180)), Verdict::Ignore("another id"));
        assert_eq!(judge(0x1234, &q), Verdict::Ignore("a query, not a response"));
        assert_eq!(judge(0x1234, &q[..11]), Verdict::Ignore("shorter than a DNS header"));
        assert_eq!(judge(0x1234, &response(&q, 0x8180)[..12]), Verdict::Up, "a bare header is enough");
    }
}
