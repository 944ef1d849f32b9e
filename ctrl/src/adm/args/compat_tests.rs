//! ipvsadm compatibility of the parser: command lines as operators' scripts write them,
//! checked against ipvsadm 1.31's parse_options/process_options.

use super::*;

fn ipvsadm(args: &[&str]) -> AdmCommand {
    match parse_args_as(args, Dialect::Ipvsadm) {
        Ok(Invocation { action: Action::Command(c), .. }) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn ipvsadm_err(args: &[&str]) -> String {
    match parse_args_as(args, Dialect::Ipvsadm) {
        Err(UsageError(m)) => m,
        other => panic!("{args:?} should fail, got {other:?}"),
    }
}

fn tcp(a: &str) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, addr: a.parse().unwrap() }
}

/// `-d` takes the real server's port as given (ipvsadm copies the service's port only for
/// `-a`/`-e` with -g/-i, or when `-r` has none): a NAT server on another port is deleted.
#[test]
fn delete_server_keeps_the_given_port() {
    assert_eq!(
        ipvsadm(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.13:8080"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.13:8080".parse().unwrap() }
    );
    assert_eq!(
        ipvsadm(&["-d", "-t", "198.18.0.100:80", "-r", "198.19.0.13"]),
        AdmCommand::DelReal { service: tcp("198.18.0.100:80"), addr: "198.19.0.13:80".parse().unwrap() }
    );
}
