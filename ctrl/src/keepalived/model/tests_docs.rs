//! docs/keepalived.md's keyword table stays in step with the parser, and the seed
//! configurations load with warnings only for keywords it lists as warned.

use super::keywords::*;
use crate::keepalived::{load, load_str, Severity};
use std::collections::BTreeMap;
use std::path::Path;

const DOC: &str = include_str!("../../../../docs/keepalived.md");

/// keyword -> status, from the rows of the doc's tables (every `word` of the first cell).
fn table() -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    // Only the keyword tables: those whose header is `| keyword | status | notes |`.
    let mut in_keywords = false;
    for line in DOC.lines() {
        if line.starts_with("| keyword | status |") {
            in_keywords = true;
        } else if !line.starts_with('|') {
            in_keywords = false;
        }
        if !in_keywords || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (first, status) = (cells[1], cells[2]);
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                t.insert(part.to_string(), status.to_string());
            }
        }
    }
    t
}

#[test]
fn every_keyword_is_in_the_docs_table() {
    let t = table();
    for status in t.values() {
        assert!(["taken", "warned", "refused", "info", "accepted"].contains(&status.as_str()), "{status}");
    }
    let known = [
        TOP,
        VS_KEYS,
        RS_KEYS,
        CHECKER_KEYS,
        URL_KEYS,
        TRACK_FILE_KEYS,
        VRRP_INSTANCE_KEYS,
        SYNC_GROUP_KEYS,
        VRRP_SCRIPT_KEYS,
    ]
    .concat();
    let missing: Vec<&str> = known.into_iter().filter(|k| !t.contains_key(*k)).collect();
    assert!(missing.is_empty(), "keywords missing from docs/keepalived.md: {missing:?}");
}

/// Every warning that a keyword is ignored is about one the table lists as warned.
fn warned_only_as_documented(name: &str, diags: &[crate::keepalived::Diag]) {
    let t = table();
    let ignored = |m: &str| m.contains("ignored") || m.contains("not supported") || m.contains("no effect");
    for d in diags.iter().filter(|d| d.severity == Severity::Warning && ignored(&d.msg)) {
        let kw = d.msg.split('\'').nth(1).unwrap_or_default();
        assert_eq!(t.get(kw).map(String::as_str), Some("warned"), "{name}: {d}");
    }
}

#[test]
fn seed_configs_load_and_warn_only_of_documented_keywords() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for f in ["examples/keepalived.conf", "ctrl/src/keepalived/testdata/dpvs.conf"] {
        let l = load(&root.join(f)).unwrap_or_else(|e| panic!("{f}: {:?}", e.lines()));
        warned_only_as_documented(f, &l.diags);
        // Beyond that, only dpvs.conf's UDP_CHECK payload "hello", which is not hex.
        let w: Vec<String> =
            l.diags.iter().filter(|d| d.severity == Severity::Warning).map(|d| d.msg.clone()).collect();
        assert!(w.iter().all(|m| m.starts_with("payload \"hello\" is not hex")), "{f}: {w:?}");
    }
}

#[test]
fn documented_warnings_are_the_ones_given() {
    // A config with every warned virtual_server keyword the docs list (values where needed).
    let t = table();
    let warned: Vec<&String> =
        t.iter().filter(|(k, s)| *s == "warned" && VS_KEYS.contains(&k.as_str())).map(|(k, _)| k).collect();
    assert!(warned.len() >= 8, "{warned:?}");
    let body: String = warned.iter().map(|k| format!(" {k} 1\n")).collect();
    let text = format!("local_address_group g {{ 198.19.0.200 }}\nvirtual_server 198.18.0.100 80 {{\n laddr_group_name g\n lb_algo rr\n{body}}}\n");
    let l = load_str("k.conf", &text).unwrap_or_else(|e| panic!("{:?}", e.lines()));
    warned_only_as_documented("k.conf", &l.diags);
    for k in warned {
        assert!(
            l.diags.iter().any(|d| d.severity == Severity::Warning && d.msg.contains(&format!("'{k}'"))),
            "no warning for {k}: {:?}",
            l.diags
        );
    }
}
