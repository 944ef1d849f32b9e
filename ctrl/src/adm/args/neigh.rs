//! `--neigh`'s words, as `ip neigh` takes them: nothing or `show` lists; `add` (or
//! `replace`) ADDR `lladdr` MAC [`dev` IFACE] pins a neighbour; `del` ADDR [`dev` IFACE]
//! removes one; `flush` [`all`] [`dev` IFACE] [`nud all` | `nud permanent`] removes the
//! learned ones, or the kind `nud` names.

use super::{usage_err, UsageError};
use rvs_proto::{FlushStates, NeighChange};
use std::net::IpAddr;

/// The change the words ask for; None: the listing.
pub(super) fn parse_neigh_words(
    words: &mut dyn Iterator<Item = String>,
) -> Result<Option<NeighChange>, UsageError> {
    let Some(verb) = words.next() else { return Ok(None) };
    let add = match verb.as_str() {
        "show" | "list" | "ls" => return Ok(None),
        "add" | "replace" | "change" => true,
        "del" | "delete" => false,
        "flush" => return parse_flush(words).map(Some),
        other => {
            return usage_err(format!(
                "--neigh: unknown command `{other}' (show, add, replace, del or flush)"
            ))
        }
    };
    let addr: IpAddr = match words.next() {
        Some(a) => a.parse().or_else(|_| usage_err(format!("--neigh {verb}: illegal address `{a}'")))?,
        None => return usage_err(format!("--neigh {verb}: which address?")),
    };
    let (mut mac, mut dev) = (None, None);
    while let Some(word) = words.next() {
        let slot = match word.as_str() {
            "lladdr" if add => &mut mac,
            "dev" => &mut dev,
            // `ip neigh add ... nud permanent`: what every entry added here is.
            "nud" if add => match words.next().as_deref() {
                Some("permanent") => continue,
                Some(s) => {
                    return usage_err(format!("--neigh {verb}: only `nud permanent' is kept, not `{s}'"))
                }
                None => return usage_err(format!("--neigh {verb}: `nud' needs a state")),
            },
            _ => return usage_err(format!("--neigh {verb}: unexpected `{word}'")),
        };
        match words.next() {
            Some(v) if slot.is_none() => *slot = Some(v),
            Some(_) => return usage_err(format!("--neigh {verb}: `{word}' given twice")),
            None => return usage_err(format!("--neigh {verb}: `{word}' needs a value")),
        }
    }
    Ok(Some(if add {
        let Some(mac) = mac else { return usage_err(format!("--neigh {verb}: `lladdr MAC' is required")) };
        NeighChange::Add { addr, mac, dev }
    } else {
        NeighChange::Del { addr, dev }
    }))
}

/// `flush`'s words after the verb.
fn parse_flush(words: &mut dyn Iterator<Item = String>) -> Result<NeighChange, UsageError> {
    let (mut dev, mut nud) = (None, None);
    while let Some(word) = words.next() {
        match word.as_str() {
            // `ip neigh flush all`: every address, which is what a flush here is.
            "all" => continue,
            "dev" | "nud" => {}
            _ => return usage_err(format!("--neigh flush: unexpected `{word}'")),
        }
        let Some(value) = words.next() else {
            return usage_err(format!("--neigh flush: `{word}' needs a value"));
        };
        let given = if word == "dev" { dev.replace(value).is_some() } else { nud.replace(value).is_some() };
        if given {
            return usage_err(format!("--neigh flush: `{word}' given twice"));
        }
    }
    let nud = match nud.as_deref() {
        None => FlushStates::Learned,
        Some("permanent") => FlushStates::Permanent,
        Some("all") => FlushStates::All,
        Some(s) => return usage_err(format!("--neigh flush: `nud' takes `permanent' or `all', not `{s}'")),
    };
    Ok(NeighChange::Flush { dev, nud })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<NeighChange>, UsageError> {
        parse_neigh_words(&mut line.split_whitespace().map(String::from))
    }

    #[test]
    fn words_as_ip_neigh_takes_them() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("show"), Ok(None));
        let addr: IpAddr = "198.19.0.11".parse().unwrap();
        let mac = "02:00:00:00:00:0b".to_string();
        assert_eq!(
            parse("add 198.19.0.11 lladdr 02:00:00:00:00:0b"),
            Ok(Some(NeighChange::Add { addr, mac: mac.clone(), dev: None }))
        );
        assert_eq!(
            parse("replace 198.19.0.11 lladdr 02:00:00:00:00:0b dev server.10 nud permanent"),
            Ok(Some(NeighChange::Add { addr, mac, dev: Some("server.10".into()) }))
        );
        assert_eq!(parse("del 198.19.0.11"), Ok(Some(NeighChange::Del { addr, dev: None })));
        assert_eq!(
            parse("delete 2001:db8::1 dev server"),
            Ok(Some(NeighChange::Del { addr: "2001:db8::1".parse().unwrap(), dev: Some("server".into()) }))
        );
        let flush = |dev: Option<&str>, nud| Ok(Some(NeighChange::Flush { dev: dev.map(String::from), nud }));
        assert_eq!(parse("flush"), flush(None, FlushStates::Learned));
        assert_eq!(parse("flush all"), flush(None, FlushStates::Learned));
        assert_eq!(parse("flush dev server.10"), flush(Some("server.10"), FlushStates::Learned));
        assert_eq!(parse("flush all nud all"), flush(None, FlushStates::All));
        assert_eq!(parse("flush nud permanent dev client"), flush(Some("client"), FlushStates::Permanent));
        for (bad, want) in [
            ("gc", "unknown command `gc'"),
            ("flush to 198.19.0.0/24", "unexpected `to'"),
            ("flush nud stale", "takes `permanent' or `all', not `stale'"),
            ("flush dev", "`dev' needs a value"),
            ("flush dev a dev b", "`dev' given twice"),
            ("add", "which address?"),
            ("add 198.19.0.300 lladdr 02:00:00:00:00:0b", "illegal address `198.19.0.300'"),
            ("add 198.19.0.11", "`lladdr MAC' is required"),
            ("add 198.19.0.11 lladdr", "`lladdr' needs a value"),
            ("add 198.19.0.11 lladdr 02:00:00:00:00:0b nud reachable", "only `nud permanent'"),
            ("add 198.19.0.11 lladdr a lladdr b", "`lladdr' given twice"),
            ("del 198.19.0.11 lladdr 02:00:00:00:00:0b", "unexpected `lladdr'"),
            ("del 198.19.0.11 dev", "`dev' needs a value"),
        ] {
            let e = parse(bad).unwrap_err().0;
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
