//! The diagnostics context and the small parsers every block uses.

use super::super::lexer::Loc;
use super::super::parser::Stmt;
use super::super::{Diag, Severity};
use super::Script;
use std::net::IpAddr;
use std::time::Duration;

pub(super) struct Ctx {
    pub(super) diags: Vec<Diag>,
    pub(super) errors: Vec<Diag>,
}

impl Ctx {
    pub(super) fn error(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.errors.push(Diag::new(Severity::Error, Some(loc.clone()), msg));
    }
    pub(super) fn warn(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(Diag::new(Severity::Warning, Some(loc.clone()), msg));
    }
    pub(super) fn info(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(Diag::new(Severity::Info, Some(loc.clone()), msg));
    }

    pub(super) fn unknown(&mut self, s: &Stmt, context: &str, known: &[&str]) {
        let hint = match s.keyword.as_str() {
            // keepalived 1.x's, which configs carried into 2.x still have.
            "nat_mask" => {
                " (keepalived 1.x's netmask of a NAT service: keepalived 2 dropped it, IPVS never read it)"
                    .to_string()
            }
            k => suggest(k, known).map(|k| format!(" (did you mean '{k}'?)")).unwrap_or_default(),
        };
        self.warn(&s.loc, format!("unknown keyword '{}' in {context}, ignored{hint}", s.keyword));
    }

    pub(super) fn unsupported(&mut self, s: &Stmt, what: &str) {
        self.warn(&s.loc, format!("'{}' is not supported by the dataplane yet, ignored{what}", s.keyword));
    }

    pub(super) fn arg<'a>(&mut self, s: &'a Stmt, i: usize) -> Option<&'a str> {
        let a = s.args.get(i).map(String::as_str);
        if a.is_none() {
            self.error(&s.loc, format!("'{}' needs a value", s.keyword));
        }
        a
    }

    pub(super) fn u32(&mut self, s: &Stmt) -> Option<u32> {
        let a = self.arg(s, 0)?;
        match a.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(&s.loc, format!("'{}': {a:?} is not a non-negative integer", s.keyword));
                None
            }
        }
    }

    pub(super) fn secs(&mut self, s: &Stmt) -> Option<Duration> {
        let a = self.arg(s, 0)?;
        match a.parse::<f64>() {
            Ok(v) if (0.0..1e9).contains(&v) => Some(Duration::from_secs_f64(v)),
            _ => {
                self.error(&s.loc, format!("'{}': {a:?} is not a number of seconds", s.keyword));
                None
            }
        }
    }

    /// `flag` or `flag on|off|yes|no|true|false`.
    pub(super) fn flag(&mut self, s: &Stmt) -> bool {
        match s.args.first().map(|a| a.to_ascii_lowercase()) {
            None => true,
            Some(a) if matches!(a.as_str(), "on" | "yes" | "true" | "1") => true,
            Some(a) if matches!(a.as_str(), "off" | "no" | "false" | "0") => false,
            Some(a) => {
                self.warn(&s.loc, format!("'{}': {a:?} is not on/off, taken as on", s.keyword));
                true
            }
        }
    }

    pub(super) fn ip(&mut self, loc: &Loc, what: &str, a: &str) -> Option<IpAddr> {
        match a.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(loc, format!("{what}: bad IP address {a:?}"));
                None
            }
        }
    }

    pub(super) fn port(&mut self, loc: &Loc, what: &str, a: &str) -> Option<u16> {
        match self.service_port(loc, what, a) {
            Some(0) => {
                self.error(loc, format!("{what}: port 0 is not a port to connect to"));
                None
            }
            p => p,
        }
    }

    /// A virtual or real server's port, where 0 is LVS's "every port" (a persistent
    /// virtual service's catch-all; a real server's "the port the client asked for").
    pub(super) fn service_port(&mut self, loc: &Loc, what: &str, a: &str) -> Option<u16> {
        match a.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.error(loc, format!("{what}: bad port {a:?}"));
                None
            }
        }
    }

    pub(super) fn script(&mut self, s: &Stmt) -> Option<Script> {
        let cmd = self.arg(s, 0)?;
        let argv = split_words(cmd);
        if argv.is_empty() {
            self.error(&s.loc, format!("'{}': empty command", s.keyword));
            return None;
        }
        if s.args.len() > 1 {
            self.warn(
                &s.loc,
                format!("'{}': user/group arguments ignored, scripts run as rvs-ctrl's user", s.keyword),
            );
        }
        Some(Script { argv, loc: s.loc.clone() })
    }
}

/// keepalived's splitting of a command string into words: blanks separate, single or
/// double quotes group.
pub fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut have = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                have = true;
            }
            None if c.is_whitespace() => {
                if have || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                have = false;
            }
            None => cur.push(c),
        }
    }
    if have || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The closest known keyword within a small edit distance, for "did you mean".
pub(super) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let best = known.iter().map(|k| (edit_distance(word, k), *k)).min_by_key(|(d, _)| *d)?;
    (best.0 <= 2.max(word.len() / 4) && best.0 > 0).then_some(best.1)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The most addresses one range or prefix may stand for (each becomes a service).
const MAX_RANGE: u128 = 65_536;

/// `198.19.0.200-210`: a range over the last byte (IPv4) or the last group (IPv6);
/// keepalived 2's `198.19.0.200-198.19.1.10` (a whole end address) and `198.19.0.0/30`
/// (every address of the prefix, whose host bits must be 0) too.
pub(super) fn expand_range(entry: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((net, len)) = entry.split_once('/') {
        let ip: IpAddr = net.parse().map_err(|_| format!("bad IP address {net:?}"))?;
        let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
        let len: u32 = match len.parse() {
            Ok(l) if (1..=bits).contains(&l) => l,
            _ => return Err(format!("bad prefix length in {entry:?}")),
        };
        let host = bits - len;
        let start = ip_bits(ip);
        if host > 0 && start & ((1u128 << host) - 1) != 0 {
            return Err(format!("{entry:?} has host bits set (the address must be the prefix's first)"));
        }
        let count = 1u128.checked_shl(host).filter(|&c| c <= MAX_RANGE && host < 128);
        let Some(count) = count else {
            return Err(format!("{entry:?} stands for more than {MAX_RANGE} addresses"));
        };
        return Ok((0..count).map(|i| bits_ip(ip.is_ipv4(), start + i)).collect());
    }
    let Some((first, last)) = entry.split_once('-') else {
        return entry.parse::<IpAddr>().map(|ip| vec![ip]).map_err(|_| format!("bad IP address {entry:?}"));
    };
    let ip: IpAddr = first.parse().map_err(|_| format!("bad IP address {first:?}"))?;
    let full_end = if ip.is_ipv4() { last.contains('.') } else { last.contains(':') };
    let end: IpAddr = if full_end {
        match last.parse::<IpAddr>() {
            Ok(e) if e.is_ipv4() == ip.is_ipv4() => e,
            _ => return Err(format!("bad range end {last:?} in {entry:?}")),
        }
    } else {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                let end: u8 = last.parse().map_err(|_| format!("bad range end {last:?} in {entry:?}"))?;
                IpAddr::from([o[0], o[1], o[2], end])
            }
            IpAddr::V6(v6) => {
                let mut seg = v6.segments();
                seg[7] = u16::from_str_radix(last, 16)
                    .map_err(|_| format!("bad range end {last:?} in {entry:?}"))?;
                IpAddr::from(seg)
            }
        }
    };
    let (a, b) = (ip_bits(ip), ip_bits(end));
    if b < a {
        return Err(format!("range {entry:?} ends before it starts"));
    }
    if b - a >= MAX_RANGE {
        return Err(format!("range {entry:?} stands for more than {MAX_RANGE} addresses"));
    }
    Ok((a..=b).map(|x| bits_ip(ip.is_ipv4(), x)).collect())
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn bits_ip(v4: bool, x: u128) -> IpAddr {
    if v4 {
        IpAddr::from(std::net::Ipv4Addr::from(x as u32))
    } else {
        IpAddr::from(std::net::Ipv6Addr::from(x))
    }
}
