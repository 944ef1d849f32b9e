//! Address, number and timeout parsing, as ipvsadm does it.

use super::*;

/// ipvsadm's parse_service, numeric only: `a.b.c.d[:port]`, `[v6][:port]` or a bare v6
/// address. Returns the address and the port if one was given.
pub fn parse_addr_port(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let ip: Ipv6Addr = addr.parse().ok()?;
        let port = match tail {
            "" => None,
            t => Some(parse_port(t.strip_prefix(':')?)?),
        };
        return Some((IpAddr::V6(ip), port));
    }
    if let Ok(ip) = text.parse::<Ipv6Addr>() {
        return Some((IpAddr::V6(ip), None));
    }
    match text.rsplit_once(':') {
        Some((addr, port)) => Some((IpAddr::V4(addr.parse().ok()?), Some(parse_port(port)?))),
        None => Some((IpAddr::V4(text.parse().ok()?), None)),
    }
}

/// ipvsadm's parse_service in full: as [`parse_addr_port`], or with a host name
/// (`gethostbyname`: its IPv4 address, else an IPv6 one) and/or a port name looked up in
/// the services database for `proto` (`getservbyname`): `www.example.com:http`,
/// `[2001:db8::1]:https`. A number alone is not a host name, as in ipvsadm.
pub fn resolve_addr_port(text: &str, proto: Protocol) -> Option<(IpAddr, Option<u16>)> {
    if let Some(numeric) = parse_addr_port(text) {
        return Some(numeric);
    }
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = |p: &str| parse_port(p).or_else(|| service_port(p, proto));
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        return Some((IpAddr::V6(addr.parse().ok()?), Some(port(tail.strip_prefix(':')?)?)));
    }
    let (host, p) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(port(p)?)),
        None => (text, None),
    };
    let ip = match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => IpAddr::V4(ip),
        Err(_) => host_addr(host)?,
    };
    Some((ip, p))
}

/// A host name's address (IPv4 first, as ipvsadm's gethostbyname takes only those).
/// Only names are looked up: not short dotted numbers such as `10.1` (which inet_aton
/// would read as 10.0.0.1), nor text with characters no host name has.
fn host_addr(name: &str) -> Option<IpAddr> {
    use std::net::ToSocketAddrs;
    let name_char = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if name.is_empty()
        || !name.bytes().all(name_char)
        || name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return None;
    }
    let addrs: Vec<IpAddr> = (name, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied()
}

/// `getservbyname(name, "tcp"|"udp")`: /etc/services, or as nsswitch.conf says.
fn service_port(name: &str, proto: Protocol) -> Option<u16> {
    let name = std::ffi::CString::new(name).ok()?;
    let p: &[u8] = match proto {
        Protocol::Tcp => b"tcp\0",
        Protocol::Udp => b"udp\0",
    };
    let _db = crate::adm::SERVICES_DB.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: both strings are NUL-terminated; getservbyname returns NULL or a pointer to
    // static storage, read at once while `_db` keeps other callers out.
    unsafe {
        let s = libc::getservbyname(name.as_ptr(), p.as_ptr().cast());
        if s.is_null() {
            return None;
        }
        Some(u16::from_be((*s).s_port as u16))
    }
}

pub(super) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decimal number in `min..=max` (ipvsadm's string_to_number).
/// A dotted netmask (`255.255.255.0`) or a prefix length (`24`) as a prefix length.
pub(super) fn netmask_prefix(s: &str) -> Option<u8> {
    if let Ok(n) = s.trim_start_matches('/').parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let m = u32::from(s.parse::<std::net::Ipv4Addr>().ok()?);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
}

/// An IPv6 service's `-M`: a prefix length (`64` or `/64`), 1 to 128 as ipvsadm takes it.
pub(super) fn prefix_len_v6(s: &str) -> Option<u8> {
    let n = s.trim_start_matches('/').parse::<u8>().ok()?;
    (1..=128).contains(&n).then_some(n)
}

pub(super) fn parse_number(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

pub(super) fn parse_timeout(s: &str) -> Result<u32, UsageError> {
    parse_number(s, 0, MAX_TIMEOUT)
        .ok_or_else(|| UsageError(format!("invalid timeout value `{s}' specified")))
}

/// `--allow`/`--deny`: prefixes, comma separated (`198.18.0.0/24,198.18.1.7`).
pub(super) fn parse_cidrs(opt: &str, s: &str) -> Result<Vec<rvs_proto::Cidr>, UsageError> {
    let list: Vec<rvs_proto::Cidr> = s
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|e| UsageError(format!("illegal {opt} prefix: {e}"))))
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(UsageError(format!("--{opt} needs at least one address or prefix")));
    }
    Ok(list)
}

/// `--source-rate`/`--conn-rate`: `RATE` or `RATE:BURST` new connections per second.
pub(super) fn parse_rate(opt: &str, s: &str) -> Result<rvs_proto::RateLimit, UsageError> {
    s.parse().map_err(|e| UsageError(format!("illegal {opt}: {e}")))
}

/// Splits one `-R` input line into words (whitespace separated, `#` starts a comment,
/// single or double quotes group). `None` for a blank or comment line.
///
/// As ipvsadm's restore (config_stream_read), a word that is exactly `ipvsadm` is dropped,
/// so that a script of `ipvsadm -A ...` lines restores as its rules do; a line of nothing
/// else is skipped. A path (`/sbin/ipvsadm`) is kept, and refused, as ipvsadm does.
pub fn split_line(line: &str) -> Result<Option<Vec<String>>, UsageError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c == '#' && !in_word => break,
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return usage_err(format!("unterminated quote in `{}'", line.trim_end()));
    }
    if in_word {
        words.push(cur);
    }
    words.retain(|w| w != "ipvsadm");
    Ok(if words.is_empty() { None } else { Some(words) })
}
