//! Per-service access lists and admission limits as the control protocol carries them:
//! source prefixes (`198.18.0.0/24`) and rates (`50` or `50:100`, connections per second
//! with a burst).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix: `addr/len`, host bits clear. A bare address is a host (/32, /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// `addr/len`; refuses a length beyond the family's and set host bits (an operator who
    /// wrote `198.18.0.5/24` meant either the host or the network: we do not guess).
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("{addr}/{len}: a prefix length must be at most {max}"));
        }
        let net = Cidr::masked(addr, len);
        if net != addr {
            return Err(format!("{addr}/{len} has host bits set (the network is {net}/{len})"));
        }
        Ok(Cidr { addr, len })
    }

    fn masked(addr: IpAddr, len: u8) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && Cidr::masked(ip, self.len) == self.addr
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("{s:?} is not an address or prefix"))?;
        let len = match len {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(l) => l.trim().parse().map_err(|_| format!("{s:?}: bad prefix length"))?,
        };
        Cidr::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A connection rate: `rate` new connections per second, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub rate: u32,
    pub burst: u32,
}

/// Largest rate and burst taken (a worker's GCRA interval stays above a nanosecond).
pub const RATE_MAX: u32 = 100_000_000;

impl RateLimit {
    /// `rate` per second with a burst of one second's worth.
    pub fn per_sec(rate: u32) -> RateLimit {
        RateLimit { rate, burst: rate }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.rate == 0 || self.rate > RATE_MAX {
            return Err(format!("a connection rate must be between 1 and {RATE_MAX} per second"));
        }
        if self.burst == 0 || self.burst > RATE_MAX {
            return Err(format!("a burst must be between 1 and {RATE_MAX}"));
        }
        Ok(())
    }
}

/// `RATE` or `RATE:BURST`.
impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<RateLimit, String> {
        let num =
            |v: &str| v.trim().parse::<u32>().map_err(|_| format!("{s:?}: expected RATE or RATE:BURST"));
        let r = match s.split_once(':') {
            Some((r, b)) => RateLimit { rate: num(r)?, burst: num(b)? },
            None => RateLimit::per_sec(num(s)?),
        };
        r.check()?;
        Ok(r)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.burst == self.rate {
            write!(f, "{}", self.rate)
        } else {
            write!(f, "{}:{}", self.rate, self.burst)
        }
    }
}

/// Entries an allow or deny list may hold.
pub const ACL_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_print_and_match() {
        let c: Cidr = "198.18.0.0/24".parse().unwrap();
        assert_eq!(c.to_string(), "198.18.0.0/24");
        assert!(c.contains("198.18.0.77".parse().unwrap()));
        assert!(!c.contains("198.18.1.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        assert_eq!("198.18.0.9".parse::<Cidr>().unwrap().to_string(), "198.18.0.9/32");
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix_len(), 0);
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("1.2.3.4".parse().unwrap()));
        assert_eq!(
            "198.18.0.5/24".parse::<Cidr>(),
            Err("198.18.0.5/24 has host bits set (the network is 198.18.0.0/24)".into())
        );
        assert!("198.18.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert_eq!("2001:db8::/32".parse::<Cidr>().unwrap().to_string(), "2001:db8::/32");
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"198.18.0.0/24\"");
        assert_eq!(serde_json::from_str::<Cidr>(&j).unwrap(), c);
        assert!(serde_json::from_str::<Cidr>("\"198.18.0.1/8\"").is_err());
    }

    #[test]
    fn rates_parse_and_print() {
        assert_eq!("50".parse::<RateLimit>(), Ok(RateLimit { rate: 50, burst: 50 }));
        assert_eq!("50:200".parse::<RateLimit>(), Ok(RateLimit { rate: 50, burst: 200 }));
        assert_eq!(RateLimit { rate: 50, burst: 200 }.to_string(), "50:200");
        assert_eq!(RateLimit::per_sec(7).to_string(), "7");
        assert!("0".parse::<RateLimit>().is_err());
        assert!("5:0".parse::<RateLimit>().is_err());
        assert!("fast".parse::<RateLimit>().is_err());
    }
}
