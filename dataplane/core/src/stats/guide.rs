//! docs/operator-guide.md explains every drop reason and event to operators; these tests
//! keep its tables equal to the counters rvsd has, so the guide cannot go stale.

use super::{DropReason, Event};

const GUIDE: &str = include_str!("../../../../docs/operator-guide.md");

/// The first-column names (`` `name` ``) of the table rows between the line starting with
/// `from` and the next line starting with `to`.
fn names(from: &str, to: &str) -> Vec<String> {
    GUIDE
        .lines()
        .skip_while(|l| !l.starts_with(from))
        .skip(1)
        .take_while(|l| !l.starts_with(to))
        .filter_map(|l| l.strip_prefix("| `")?.split_once('`').map(|(n, _)| n.to_string()))
        .collect()
}

fn same(what: &str, guide: Vec<String>, code: Vec<&str>) {
    for n in &code {
        assert!(guide.iter().any(|g| g == n), "docs/operator-guide.md: the {what} table lacks `{n}`");
    }
    for g in &guide {
        assert!(
            code.contains(&g.as_str()),
            "docs/operator-guide.md: the {what} table names `{g}`, which rvsd does not count"
        );
    }
}

#[test]
fn every_drop_reason_is_explained() {
    same(
        "drop reasons",
        names("### Drop reasons", "Events (not drops)"),
        DropReason::ALL.iter().map(|r| r.name()).collect(),
    );
}

#[test]
fn every_event_is_explained() {
    same("events", names("Events (not drops)", "## "), Event::ALL.iter().map(|e| e.name()).collect());
}
