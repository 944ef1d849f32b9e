//! How a failure is told, on stderr and in the exit status: rvsadm's way, or ipvsadm's
//! when invoked as `ipvsadm` (scripts test `$?` and grep or compare its messages).
//!
//! ipvsadm 1.31 prints libipvs's `ipvs_strerror` text alone on a line and exits 255 (its
//! `main` returns -1) when IPVS refuses a change; its `fail(2, ...)` usage errors are the
//! message alone with status 2; a listing that fails (`-L -t` of a missing service) exits
//! with status 1. rvsadm prefixes its name, adds a "Try" line to usage errors, and exits
//! 1 for a refusal.

use super::args::{AdmCommand, Dialect};
use super::format::{addr_port, service_switch};
use super::run::RunError;
use rvs_proto::{ForwardMethod, ServiceInfo, ServiceKey};

/// rvsd's refusal of `cmd` in ipvsadm's words (libipvs's ipvs_strerror table): rvsd says
/// "Service not defined" for any missing service, ipvsadm says "No such service" to
/// `-D`, `-E` and `-Z`. As `ipvsadm`, an unknown scheduler and a full table are told as
/// ipvsadm tells ENOENT and ENOMEM.
pub fn ipvsadm_wording(cmd: &AdmCommand, msg: &str, dialect: Dialect) -> String {
    let service_cmd = matches!(
        cmd,
        AdmCommand::DelService { .. } | AdmCommand::EditService { .. } | AdmCommand::Zero { .. }
    );
    if service_cmd && msg == "Service not defined" {
        return "No such service".into();
    }
    if dialect == Dialect::Ipvsadm {
        if msg.starts_with("Scheduler not found") {
            return "Scheduler or persistence engine not found".into();
        }
        if msg.starts_with("too many ") {
            return "Memory allocation problem".into();
        }
    }
    msg.to_string()
}

/// Exit status of a failed `cmd`.
pub fn exit_status(cmd: Option<&AdmCommand>, e: &RunError, dialect: Dialect) -> i32 {
    match (dialect, e) {
        (Dialect::Ipvsadm, RunError::Daemon(_) | RunError::Restore) => {
            let listing = matches!(cmd, Some(AdmCommand::List(_) | AdmCommand::Save { .. }));
            if listing {
                1
            } else {
                255
            }
        }
        _ => e.exit_code(),
    }
}

/// What goes to stderr for a failure (each line ends in a newline; empty when the lines
/// were printed as they happened, as `-R` as ipvsadm does).
pub fn stderr_text(program: &str, e: &RunError, dialect: Dialect) -> String {
    match (dialect, e) {
        (_, RunError::Restore) => String::new(),
        (Dialect::Ipvsadm, RunError::Daemon(m) | RunError::Usage(super::UsageError(m))) => format!("{m}\n"),
        (Dialect::Rvsadm, RunError::Usage(_)) => {
            format!("{program}: {e}\nTry `{program} -h' for more information.\n")
        }
        _ => format!("{program}: {e}\n"),
    }
}

/// A warning for each service of `list` (or just `only`) with a FULLNAT real server of an
/// address family none of its local addresses has: rvsd takes the change, but drops the
/// new connections to that server (`laddr_exhausted`) until one is added. An operator
/// coming from ipvsadm, whose `-a` defaults to DR, meets FULLNAT's need for LIPs here
/// first; DPVS's own tool says nothing.
pub fn missing_local_addrs(list: &[ServiceInfo], only: Option<&ServiceKey>) -> Vec<String> {
    let mut warnings = Vec::new();
    for svc in list.iter().filter(|s| only.is_none_or(|k| s.spec.key == *k)) {
        let key = &svc.spec.key;
        for v6 in [false, true] {
            let fullnat = |r: &&rvs_proto::RealInfo| {
                r.spec.method == ForwardMethod::FullNat && r.spec.addr.is_ipv6() == v6
            };
            if !svc.reals.iter().any(|r| fullnat(&r))
                || svc.spec.local_addrs.iter().any(|a| a.is_ipv6() == v6)
            {
                continue;
            }
            let flag = service_switch(key.protocol);
            let family = if v6 { "IPv6" } else { "IPv4" };
            warnings.push(format!(
                "warning: {flag} {svc_addr} has FULLNAT real servers and no {family} local address: \
                 their new connections are dropped (laddr_exhausted) until one is added \
                 (-P {flag} {svc_addr} -z LIP)",
                svc_addr = addr_port(&key.addr)
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adm::{UsageError, PROGRAM};
    use rvs_proto::{Protocol, ServiceKey};

    fn key() -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, addr: "198.18.0.100:80".parse().unwrap() }
    }

    #[test]
    fn missing_service_is_no_such_service_for_delete_edit_and_zero() {
        let del = AdmCommand::DelService { key: key() };
        let zero = AdmCommand::Zero { service: Some(key()) };
        let add_real = AdmCommand::DelReal { service: key(), addr: "198.19.0.11:80".parse().unwrap() };
        for d in [Dialect::Rvsadm, Dialect::Ipvsadm] {
            assert_eq!(ipvsadm_wording(&del, "Service not defined", d), "No such service");
            assert_eq!(ipvsadm_wording(&zero, "Service not defined", d), "No such service");
            // -a/-e/-d keep "Service not defined", as ipvsadm.
            assert_eq!(ipvsadm_wording(&add_real, "Service not defined", d), "Service not defined");
            assert_eq!(ipvsadm_wording(&del, "Destination already exists", d), "Destination already exists");
        }
        let add =
            AdmCommand::AddService { key: key(), scheduler: "wlcx".into(), options: Default::default() };
        let unknown = "Scheduler not found: wlcx (available: rr, wrr)";
        assert_eq!(
            ipvsadm_wording(&add, unknown, Dialect::Ipvsadm),
            "Scheduler or persistence engine not found"
        );
        assert_eq!(ipvsadm_wording(&add, unknown, Dialect::Rvsadm), unknown);
        let full = "too many services (the limit is 1; raise max_services in the config)";
        assert_eq!(ipvsadm_wording(&add, full, Dialect::Ipvsadm), "Memory allocation problem");
    }

    #[test]
    fn ipvsadm_exits_255_on_a_refusal_and_prints_the_message_alone() {
        let add = AdmCommand::AddService { key: key(), scheduler: "wlc".into(), options: Default::default() };
        let list = AdmCommand::List(Default::default());
        let refused = RunError::Daemon("Service already exists".into());
        assert_eq!(exit_status(Some(&add), &refused, Dialect::Ipvsadm), 255);
        assert_eq!(
            exit_status(Some(&list), &RunError::Daemon("No such service".into()), Dialect::Ipvsadm),
            1
        );
        assert_eq!(exit_status(Some(&add), &refused, Dialect::Rvsadm), 1);
        assert_eq!(stderr_text("ipvsadm", &refused, Dialect::Ipvsadm), "Service already exists\n");
        assert_eq!(stderr_text(PROGRAM, &refused, Dialect::Rvsadm), "rvsadm: Service already exists\n");

        let usage = RunError::Usage(UsageError("Zero port specified for non-persistent service".into()));
        assert_eq!(exit_status(None, &usage, Dialect::Ipvsadm), 2);
        assert_eq!(
            stderr_text("ipvsadm", &usage, Dialect::Ipvsadm),
            "Zero port specified for non-persistent service\n"
        );
        assert_eq!(
            stderr_text(PROGRAM, &usage, Dialect::Rvsadm),
            "rvsadm: Zero port specified for non-persistent service\nTry `rvsadm -h' for more information.\n"
        );
        assert_eq!(stderr_text("ipvsadm", &RunError::Restore, Dialect::Ipvsadm), "");
        assert_eq!(exit_status(Some(&AdmCommand::Restore), &RunError::Restore, Dialect::Ipvsadm), 255);
    }

    fn with(vip: &str, lips: &[&str], reals: &[(&str, ForwardMethod)]) -> ServiceInfo {
        ServiceInfo {
            spec: rvs_proto::ServiceSpec {
                options: Default::default(),
                key: ServiceKey { protocol: Protocol::Tcp, addr: vip.parse().unwrap() },
                scheduler: "rr".into(),
                local_addrs: lips.iter().map(|a| a.parse().unwrap()).collect(),
            },
            reals: reals
                .iter()
                .map(|&(addr, method)| rvs_proto::RealInfo {
                    spec: rvs_proto::RealSpec {
                        addr: addr.parse().unwrap(),
                        weight: 1,
                        method,
                        thresholds: Default::default(),
                        tunnel: None,
                    },
                    active_conns: 0,
                    inactive_conns: 0,
                    stats: Default::default(),
                })
                .collect(),
            stats: Default::default(),
        }
    }

    #[test]
    fn fullnat_real_servers_without_a_local_address_of_their_family_are_told() {
        use ForwardMethod::{DirectRoute, FullNat, Nat};
        let list = [
            // FULLNAT, no LIP: told.
            with("198.18.0.100:80", &[], &[("198.19.0.11:80", FullNat)]),
            // A LIP: fine. DR and NAT need none.
            with("198.18.0.101:80", &["198.19.0.200"], &[("198.19.0.11:80", FullNat)]),
            with("198.18.0.102:80", &[], &[("198.19.0.11:80", DirectRoute), ("198.19.0.12:80", Nat)]),
            // NAT64: an IPv6 VIP whose IPv4 real servers need an IPv4 LIP, not an IPv6 one.
            with("[2001:db8:1::100]:80", &["2001:db8:2::200"], &[("198.19.0.11:80", FullNat)]),
        ];
        let w = missing_local_addrs(&list, None);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0],
            "warning: -t 198.18.0.100:80 has FULLNAT real servers and no IPv4 local address: their new \
             connections are dropped (laddr_exhausted) until one is added (-P -t 198.18.0.100:80 -z LIP)"
        );
        assert!(
            w[1].starts_with("warning: -t [2001:db8:1::100]:80 has FULLNAT real servers and no IPv4"),
            "{}",
            w[1]
        );
        // Only the service a command changed.
        let only = list[2].spec.key;
        assert!(missing_local_addrs(&list, Some(&only)).is_empty());
        assert_eq!(missing_local_addrs(&list, Some(&list[0].spec.key)).len(), 1);
    }
}
