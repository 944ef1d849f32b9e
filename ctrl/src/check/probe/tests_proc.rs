//! MISC_CHECK processes and SMTP_CHECK conversations against real processes and sockets.

use super::tests::{closed_port, conf, run, sh, ID};
use super::*;
use std::net::TcpListener;
use std::thread;

#[test]
fn misc_check_exit_codes() {
    assert_eq!(run(&sh("exit 0", false, None)), Outcome::Up);
    assert_eq!(run(&sh("exit 1", false, None)), Outcome::Down("exit status 1".into()));
    assert_eq!(run(&sh("exit 7", false, None)), Outcome::Down("exit status 7".into()));
    assert_eq!(run(&sh("exit 7", true, None)), Outcome::UpWeight(5));
    assert_eq!(run(&sh("exit 2", true, None)), Outcome::UpWeight(0));
    assert_eq!(run(&sh("exit 1", true, None)), Outcome::Down("exit status 1".into()));
}

#[test]
fn misc_check_timeout_kills_the_process() {
    let t = Instant::now();
    let o = run(&sh("sleep 5", false, Some(Duration::from_millis(200))));
    assert_eq!(o, Outcome::Down("misc_timeout exceeded".into()));
    assert!(t.elapsed() < Duration::from_secs(2));
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

fn wait_gone(p: &mut Prober, pid: &str, within: Duration) -> bool {
    let stop = Instant::now() + within;
    while Instant::now() < stop {
        p.poll(Instant::now() + Duration::from_millis(50), None);
        if p.dying() == 0 && gone(pid) {
            return true;
        }
    }
    false
}

#[test]
fn misc_check_timeout_ends_the_scripts_children_and_blocks_nothing() {
    let dir = crate::testutil::TempDir::new("misc-group");
    let pidf = dir.path().join("pid");
    // The script's child, not the script, is what hangs; and it ignores SIGTERM.
    let script = format!("trap '' TERM; sleep 30 & echo $! > {}; wait", pidf.display());
    let mut p = Prober::new();
    let t0 = Instant::now();
    p.start(ID, &sh(&script, false, Some(Duration::from_millis(300))), t0);
    let tcp = CheckerId { vs: 0, rs: 1, ck: 0 };
    p.start(tcp, &conf(CheckKind::Tcp, closed_port()), t0);
    let mut got = Vec::new();
    while got.len() < 2 && t0.elapsed() < Duration::from_secs(5) {
        got.extend(p.poll(Instant::now() + Duration::from_millis(50), None));
    }
    assert_eq!(got[0].0, tcp, "the other check is not held up by the script");
    assert_eq!(got[1], (ID, Outcome::Down("misc_timeout exceeded".into())));
    assert!(t0.elapsed() < Duration::from_secs(1), "failed at its timeout, not after the grace");
    let pid = std::fs::read_to_string(&pidf).unwrap().trim().to_string();
    assert!(!gone(&pid), "SIGTERM is ignored: the child lives through the grace");
    assert!(wait_gone(&mut p, &pid, TERM_GRACE + Duration::from_secs(3)), "SIGKILL for the group");
}

#[test]
fn misc_check_timeout_terms_the_group_first() {
    let dir = crate::testutil::TempDir::new("misc-term");
    let pidf = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidf.display());
    let mut p = Prober::new();
    p.start(ID, &sh(&script, false, Some(Duration::from_millis(200))), Instant::now());
    let stop = Instant::now() + Duration::from_secs(3);
    while p.in_flight() > 0 && Instant::now() < stop {
        p.poll(Instant::now() + Duration::from_millis(50), None);
    }
    let pid = std::fs::read_to_string(&pidf).unwrap().trim().to_string();
    assert!(wait_gone(&mut p, &pid, TERM_GRACE / 2), "SIGTERM reaches the script's child");
}

#[test]
fn misc_check_missing_program() {
    let c = conf(
        CheckKind::Misc {
            argv: vec!["/nonexistent/check".into()],
            timeout: None,
            dynamic: false,
            user: None,
        },
        "127.0.0.1:1".parse().unwrap(),
    );
    assert!(matches!(run(&c), Outcome::Down(m) if m.starts_with("cannot run /nonexistent/check")));
}

#[test]
fn misc_outcome_table() {
    assert_eq!(misc_outcome(Some(255), true), Outcome::UpWeight(253));
    assert_eq!(misc_outcome(None, true), Outcome::Down("killed by a signal".into()));
}

/// An SMTP server that greets with `greeting`, answers the first line it reads with
/// `helo_reply` and the second with `221 bye`; returns the lines it read.
fn smtp_server(
    greeting: &'static str,
    helo_reply: &'static str,
) -> (SocketAddr, thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = std::io::BufReader::new(s);
        w.write_all(greeting.as_bytes()).unwrap();
        let mut seen = Vec::new();
        for reply in [helo_reply, "221 bye\r\n"] {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 {
                break;
            }
            seen.push(line);
            w.write_all(reply.as_bytes()).unwrap();
        }
        seen
    });
    (addr, h)
}

#[test]
fn smtp_check_greeting_helo_quit() {
    let (addr, srv) = smtp_server("220-mx.test ESMTP\r\n220 ready\r\n", "250 mx.test\r\n");
    let kind = CheckKind::Smtp { helo: "lb.example".into() };
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Up);
    assert_eq!(srv.join().unwrap(), ["HELO lb.example\r\n", "QUIT\r\n"]);

    let (addr, srv) = smtp_server("554 no service\r\n", "250 x\r\n");
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Down("SMTP greeting 554, not 220".into()));
    drop(srv);
    let (addr, srv) = smtp_server("220 hi\r\n", "421 shutting down\r\n");
    assert_eq!(run(&conf(kind.clone(), addr)), Outcome::Down("SMTP HELO reply 421, not 250".into()));
    drop(srv);
}

#[test]
fn smtp_check_on_a_silent_server_times_out() {
    // A server that accepts and never greets: a TCP connect would pass, SMTP_CHECK does not.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = conf(CheckKind::Smtp { helo: "x".into() }, l.local_addr().unwrap());
    c.connect_timeout = Duration::from_millis(200);
    assert_eq!(run(&c), Outcome::Down("SMTP exchange timed out".into()));
}

#[test]
fn misc_check_runs_as_its_user() {
    // As root (the lab, a director): nobody's ids; otherwise our own (no switch possible).
    // SAFETY: geteuid/getegid only read the process's ids.
    let (uid, gid) = if unsafe { libc::geteuid() } == 0 {
        (65534, 65534)
    } else {
        unsafe { (libc::geteuid(), libc::getegid()) }
    };
    let script = format!("[ \"$(id -u)\" = {uid} ] && [ \"$(id -g)\" = {gid} ] && [ \"$(id -G)\" = {gid} ]");
    let mut c = sh(&script, false, None);
    if let CheckKind::Misc { user, .. } = &mut c.kind {
        *user = Some((uid, gid));
    }
    assert_eq!(run(&c), Outcome::Up);
}
