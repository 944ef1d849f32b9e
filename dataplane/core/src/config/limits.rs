//! A `[[service]]`'s access lists and admission limits: `allow`/`deny` (source prefixes),
//! `source_conn_rate`/`conn_rate` (new connections per second, `"50"` or `"50:100"` with
//! a burst) and `max_conns`.

use serde_spanned::Spanned;

use super::{ConfigError, Ctx};
use rvs_proto::{Cidr, RateLimit, ServiceOptions};

/// The limit keys of a `[[service]]` as written.
#[derive(Default)]
pub(super) struct RawLimits<'a> {
    pub allow: &'a [Spanned<String>],
    pub deny: &'a [Spanned<String>],
    pub source_conn_rate: Option<&'a Spanned<toml::Value>>,
    pub conn_rate: Option<&'a Spanned<toml::Value>>,
    pub max_conns: Option<&'a Spanned<u32>>,
}

pub(super) fn parse_limits(cx: &Ctx, raw: RawLimits, o: &mut ServiceOptions) -> Result<(), ConfigError> {
    for (what, list, into) in [("allow", raw.allow, &mut o.allow), ("deny", raw.deny, &mut o.deny)] {
        for c in list {
            let cidr: Cidr = c.get_ref().parse().or_else(|e| cx.err(c.span(), format!("{what}: {e}")))?;
            if !cidr.addr().is_ipv4() {
                return cx
                    .err(c.span(), format!("{what} {cidr}: IPv6 is not supported by the dataplane yet"));
            }
            into.push(cidr);
        }
        if into.len() > rvs_proto::limits::ACL_MAX {
            return cx
                .err(list[0].span(), format!("{what}: at most {} prefixes", rvs_proto::limits::ACL_MAX));
        }
    }
    o.source_conn_rate = raw.source_conn_rate.map(|v| rate(cx, "source_conn_rate", v)).transpose()?;
    o.conn_rate = raw.conn_rate.map(|v| rate(cx, "conn_rate", v)).transpose()?;
    o.max_conns = raw.max_conns.map_or(0, |m| *m.get_ref());
    Ok(())
}

/// A rate as a number (per second, burst the same) or a string `"RATE:BURST"`.
fn rate(cx: &Ctx, what: &str, v: &Spanned<toml::Value>) -> Result<RateLimit, ConfigError> {
    let parsed = match v.get_ref() {
        toml::Value::Integer(n) => u32::try_from(*n)
            .map_err(|_| format!("{n} is out of range"))
            .and_then(|n| RateLimit::per_sec(n).check().map(|_| RateLimit::per_sec(n))),
        toml::Value::String(s) => s.parse(),
        _ => Err("expected a number or \"RATE:BURST\"".to_string()),
    };
    parsed.or_else(|e| cx.err(v.span(), format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = r#"
[dataplane]
workers = [1]

[[port]]
name = "client"
device = "net_af_packet0"
addresses = ["198.18.0.1/24"]

[[service]]
protocol = "udp"
address = "198.18.0.100:53"
local_addresses = ["198.19.0.200"]
"#;

    fn parse(extra: &str) -> Result<super::super::Config, super::ConfigError> {
        super::super::parse(
            Path::new("rvsd.toml"),
            &format!("{BASE}{extra}\nreal = [ {{ address = \"198.19.0.11:5353\" }} ]\n"),
        )
    }

    #[test]
    fn lists_and_limits_are_read() {
        let c = parse(
            "allow = [\"198.18.0.0/24\", \"198.18.1.7\"]\ndeny = [\"198.18.0.66\"]\n\
             source_conn_rate = 50\nconn_rate = \"1000:5000\"\nmax_conns = 20000",
        )
        .unwrap();
        let o = &c.services[0].spec.options;
        assert_eq!(
            o.allow.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            ["198.18.0.0/24", "198.18.1.7/32"]
        );
        assert_eq!(o.deny[0].to_string(), "198.18.0.66/32");
        assert_eq!(o.source_conn_rate, Some(rvs_proto::RateLimit { rate: 50, burst: 50 }));
        assert_eq!(o.conn_rate, Some(rvs_proto::RateLimit { rate: 1000, burst: 5000 }));
        assert_eq!(o.max_conns, 20000);
        assert_eq!(parse("").unwrap().services[0].spec.options, rvs_proto::ServiceOptions::default());
    }

    #[test]
    fn bad_values_name_their_line() {
        for (extra, want) in [
            (
                "allow = [\"198.18.0.5/24\"]",
                "allow: 198.18.0.5/24 has host bits set (the network is 198.18.0.0/24)",
            ),
            ("deny = [\"2001:db8::/32\"]", "IPv6 is not supported"),
            ("deny = [\"somewhere\"]", "not an address or prefix"),
            ("source_conn_rate = 0", "source_conn_rate: a connection rate must be between"),
            ("conn_rate = \"10:0\"", "conn_rate: a burst must be between"),
            ("conn_rate = true", "expected a number or"),
        ] {
            let e = parse(extra).unwrap_err();
            assert_eq!(e.line, 14, "{extra}: {e}");
            assert!(e.to_string().contains(want), "{extra}: {e}");
        }
    }
}
