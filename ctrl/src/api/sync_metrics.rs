//! The session-sync families of `/metrics` (`rvs_sync_*`): rvsd's `rvsadm --sync` state,
//! asked at each scrape. Nothing is exported when rvsd has no `[sync]` but
//! `rvs_sync_enabled 0`, so the alert rules can tell "off" from "rvsd down".

use super::metrics::{labels, Family};
use rvs_proto::SyncInfo;

/// The `rvs_sync_*` families (rvsd's sync state; None when rvsd did not answer).
pub(super) fn metrics(sync: Option<&SyncInfo>) -> String {
    let mut out = String::new();
    let Some(s) = sync else { return out };
    let mut enabled = Family::new("rvs_sync_enabled", "gauge", "Whether rvsd runs session sync ([sync])");
    enabled.add(String::new(), u8::from(s.enabled));
    enabled.render(&mut out);
    if !s.enabled {
        return out;
    }
    let one = |name: &str, kind: &'static str, help: &str, v: String| {
        let mut f = Family::new(name, kind, help);
        f.add(String::new(), v);
        f
    };
    let lag = format!("{:.3}", s.lag_ms as f64 / 1000.0);
    let mut fams = vec![
        one("rvs_sync_sent_messages_total", "counter", "Sync messages sent", s.sent_msgs.to_string()),
        one("rvs_sync_sent_records_total", "counter", "Session records sent", s.sent_records.to_string()),
        one("rvs_sync_sent_bytes_total", "counter", "Bytes of sync messages sent", s.sent_bytes.to_string()),
        one(
            "rvs_sync_received_messages_total",
            "counter",
            "Sync messages received and accepted",
            s.recv_msgs.to_string(),
        ),
        one(
            "rvs_sync_received_records_total",
            "counter",
            "Session records received",
            s.recv_records.to_string(),
        ),
        one(
            "rvs_sync_installed_total",
            "counter",
            "Received records installed into (or refreshing) a worker's table",
            s.installed.to_string(),
        ),
        one(
            "rvs_sync_ring_full_total",
            "counter",
            "Records a worker dropped because its ring to the sync thread was full",
            s.ring_full.to_string(),
        ),
        one(
            "rvs_sync_send_errors_total",
            "counter",
            "Send errors of the sync socket",
            s.send_errors.to_string(),
        ),
        one("rvs_sync_bulk_answered_total", "counter", "Bulk syncs answered", s.bulk_answered.to_string()),
        one("rvs_sync_bulk_requested_total", "counter", "Bulk syncs asked for", s.bulk_requested.to_string()),
        one(
            "rvs_sync_bulk_records_total",
            "counter",
            "Records received in answer to our bulk requests",
            s.bulk_records.to_string(),
        ),
        one(
            "rvs_sync_lag_seconds",
            "gauge",
            "How long the oldest record waiting to be sent has waited (grows while the sync thread is stuck)",
            lag,
        ),
        one(
            "rvs_sync_sessions",
            "gauge",
            "Live sessions rvsd announces to its peers",
            s.sessions.to_string(),
        ),
        one(
            "rvs_sync_initial_ready",
            "gauge",
            "Whether the bulk sync rvsd asked its peers for at start is over (VRRP is held back until then)",
            u8::from(s.initial_sync_ready).to_string(),
        ),
        one("rvs_sync_peers", "gauge", "Sync peers heard within their hold time", s.peers.len().to_string()),
    ];
    let mut initial = Family::new(
        "rvs_sync_initial_state",
        "gauge",
        "The start-up bulk sync's state (1 for the current one: waiting, syncing, complete, alone, incomplete)",
    );
    for st in ["waiting", "syncing", "complete", "alone", "incomplete"] {
        initial.add(labels(&[("state", st.to_string())]), u8::from(s.initial_sync == st));
    }
    let mut heard =
        Family::new("rvs_sync_peer_heard_seconds", "gauge", "Seconds since a peer's last message");
    let mut sessions =
        Family::new("rvs_sync_peer_sessions", "gauge", "Sessions a peer announced in its last hello");
    let mut behind = Family::new(
        "rvs_sync_peer_behind_sessions",
        "gauge",
        "A peer's sessions less ours: how far our table is behind the peer's (negative: the peer's is behind)",
    );
    let mut records = Family::new(
        "rvs_sync_peer_received_records_total",
        "counter",
        "Session records received from a peer",
    );
    for p in &s.peers {
        let l = labels(&[("member", p.member.to_string()), ("addr", p.addr.clone())]);
        heard.add(l.clone(), format!("{:.3}", p.last_heard_ms as f64 / 1000.0));
        sessions.add(l.clone(), p.sessions);
        behind.add(l.clone(), p.behind);
        records.add(l, p.recv_records);
    }
    let mut refused = Family::new("rvs_sync_refused_total", "counter", "Sync messages refused, by reason");
    for (r, n) in &s.refused {
        refused.add(labels(&[("reason", r.clone())]), n);
    }
    let mut failed =
        Family::new("rvs_sync_not_installed_total", "counter", "Received records not installed, by reason");
    for (r, n) in &s.install_failed {
        failed.add(labels(&[("reason", r.clone())]), n);
    }
    fams.extend([initial, heard, sessions, behind, records, refused, failed]);
    for f in &fams {
        f.render(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_proto::SyncPeer;

    #[test]
    fn sync_families() {
        assert_eq!(metrics(None), "");
        let off = metrics(Some(&SyncInfo::default()));
        assert!(off.contains("rvs_sync_enabled 0\n") && !off.contains("rvs_sync_lag"), "{off}");
        let s = SyncInfo {
            enabled: true,
            lag_ms: 1250,
            sessions: 40,
            initial_sync: "syncing".into(),
            initial_sync_ready: false,
            peers: vec![SyncPeer {
                member: 1,
                addr: "198.18.9.1:8848".into(),
                epoch: 7,
                sessions: 52,
                last_heard_ms: 400,
                recv_records: 9,
                behind: 12,
            }],
            refused: vec![("bad_tag".into(), 2)],
            install_failed: vec![("no_service".into(), 1)],
            ..Default::default()
        };
        let m = metrics(Some(&s));
        for want in [
            "# TYPE rvs_sync_lag_seconds gauge\nrvs_sync_lag_seconds 1.250\n",
            "rvs_sync_enabled 1\n",
            "rvs_sync_initial_ready 0\n",
            "rvs_sync_initial_state{state=\"syncing\"} 1\n",
            "rvs_sync_initial_state{state=\"complete\"} 0\n",
            "rvs_sync_peers 1\n",
            "rvs_sync_peer_heard_seconds{member=\"1\",addr=\"198.18.9.1:8848\"} 0.400\n",
            "rvs_sync_peer_behind_sessions{member=\"1\",addr=\"198.18.9.1:8848\"} 12\n",
            "rvs_sync_refused_total{reason=\"bad_tag\"} 2\n",
            "rvs_sync_not_installed_total{reason=\"no_service\"} 1\n",
            "# TYPE rvs_sync_sent_records_total counter\n",
        ] {
            assert!(m.contains(want), "missing {want:?} in\n{m}");
        }
    }
}
