//! rvsadm as a [`clap::Command`], for its man page and shell completions only: rvsadm
//! parses its arguments the ipvsadm way ([`super::args`]: clustered short options,
//! abbreviated long ones, `-p` with an optional value), which clap cannot. The options come
//! from the parser's own table; a test keeps this help table complete.

use clap::{Arg, ArgAction, Command};

/// Value name and help of each option, by long name.
const HELP: &[(&str, &str, &str)] = &[
    ("add-service", "", "Add a virtual service (with -t|-u and its options)"),
    ("edit-service", "", "Edit a virtual service; an omitted -s means the default scheduler, as in ipvsadm"),
    ("delete-service", "", "Delete a virtual service and its real servers"),
    ("clear", "", "Clear the whole table"),
    ("list", "", "List the table (-L and -l are the same)"),
    ("add-server", "", "Add a real server to a virtual service (-t|-u, -r)"),
    ("edit-server", "", "Edit a real server (weight, thresholds)"),
    ("delete-server", "", "Delete a real server"),
    ("set", "", "--set TCP TCPFIN UDP: set the connection timeouts in seconds (0 leaves one unchanged)"),
    ("save", "", "Print the table as rvsadm commands (for -R)"),
    ("restore", "", "Read rvsadm commands (as -S prints them) from stdin"),
    ("add-laddr", "", "Add a local address (FULLNAT source address) to a service (-t|-u, -z)"),
    ("del-laddr", "", "Delete a local address of a service"),
    ("get-laddr", "", "List the local addresses (of one service with -t|-u)"),
    ("help", "", "Print the help"),
    ("version", "", "Print the version and the control protocol version"),
    ("tcp-service", "VIP:PORT", "The TCP virtual service"),
    ("udp-service", "VIP:PORT", "The UDP virtual service"),
    ("scheduler", "SCHEDULER", "Scheduler: rr, wrr, lc, wlc, sh, dh, sed, nq, ... (default wlc)"),
    ("real-server", "RIP[:PORT]", "The real server (the service's port when omitted)"),
    ("fullnat", "", "Full NAT forwarding (rvsadm's default; invoked as ipvsadm, give it explicitly)"),
    ("masquerading", "", "Masquerading (NAT) forwarding"),
    ("gatewaying", "", "Gatewaying: direct routing (ipvsadm's default)"),
    ("ipip", "", "Tunnelling to the real server (IP-in-IP, or GUE with --tun-type)"),
    ("tun-type", "ipip|gue", "Tunnel type of -i (default ipip)"),
    ("tun-port", "PORT", "GUE: the real server's UDP port"),
    ("tun-nocsum", "", "GUE without checksum (what rvsd's GUE is; accepted as ipvsadm -S writes it)"),
    ("weight", "WEIGHT", "Real server weight, 0 to 65535 (default 1; 0 takes no new connections)"),
    ("numeric", "", "Numeric addresses and ports"),
    ("connection", "", "List the connections (sessions) instead of the services"),
    ("timeout", "", "List the timeouts (tcp tcpfin udp)"),
    ("stats", "", "List the counters: connections, packets and bytes in and out"),
    ("rate", "", "List the rates (per second, over the last second)"),
    ("exact", "", "Exact numbers, no K/M/G"),
    ("laddr", "LIP", "The local address for -P/-Q"),
    ("ifname", "IFNAME", "Accepted for DPVS compatibility, ignored"),
    ("workers", "", "List each worker's counters, the drop reasons, the reply steering and each port's NIC counters (frames missed before any worker saw them)"),
    ("sort", "", "Sort services and real servers by address and port"),
    ("nosort", "", "List them in rvsd's order (the default)"),
    ("socket", "PATH", "rvsd's control socket (default $RVSD_SOCKET, then /run/rvsd/rvsd.sock)"),
    ("zero", "", "Zero the counters of one service (-t|-u) or of all"),
    ("reload", "", "Make rvs-ctrl re-read its configuration (SIGHUP to the pid in --pidfile)"),
    ("pidfile", "PATH", "rvs-ctrl's pid file, for --reload (default /run/rvs-ctrl.pid)"),
    ("persistent", "TIMEOUT", "Persistent service; TIMEOUT in seconds is optional (default 300)"),
    ("netmask", "NETMASK", "Persistence granularity: clients in one NETMASK network stick together"),
    ("sched-flags", "FLAGS", "Scheduler flags, comma separated (sh-fallback, sh-port, ...)"),
    ("u-threshold", "N", "Upper connection threshold of a real server (0: none)"),
    ("l-threshold", "N", "Lower connection threshold: the server takes new connections again below it"),
    ("synproxy", "", "SYN proxy: answer SYNs with cookies, open the server side after the client's ACK (DPVS's `-j enable|disable` too)"),
    ("toa", "", "Send the client's address to the real server as TCP option 254 (TOA)"),
    ("proxy-protocol", "v1|v2", "Send a PROXY protocol header ahead of the client's first byte"),
    ("thresholds", "", "List the thresholds of the real servers"),
    ("proxy-protocol-send", "first-data|on-connect", "When the PROXY header goes out: with the client's first data (default) or on connect, for servers that speak first"),
    ("expire-quiescent-template", "", "Persistent clients of a weight-0 server are placed again on their next connection"),
    ("takeover", "", "--takeover [ADDR,...]: own these VIPs/LIPs (none: all) and send gratuitous ARPs"),
    ("release", "", "--release [ADDR,...]: stop answering ARP/ping and taking new connections for them (none: all); existing sessions are still forwarded"),
    ("owned", "", "List the VIPs/LIPs and whether rvsd owns them"),
    ("sync", "", "Session sync state, peers and counters (also -L --daemon)"),
    ("daemon", "", "With -L: the session sync state, as --sync"),
    ("cluster", "", "ECMP cluster membership: this member's state, generation and port slice, and every member heard"),
    ("leave", "", "With --cluster: leave the cluster gracefully (routes withdrawn, drain, then rvsd stops)"),
    ("neigh", "", "--neigh [show | add|replace ADDR lladdr MAC [dev IFACE] | del ADDR [dev IFACE] | flush [dev IFACE] [nud permanent|all]]: the workers' ARP/NDP tables as ip neigh shows the kernel's; add pins a static neighbour on every worker until rvsd stops (rvsd.toml's [[neighbour]] keeps one across restarts), del removes one, flush removes the learned ones (the pinned ones with nud permanent, both with nud all)"),
    ("mh-table-size", "PRIME", "mh scheduler: Maglev table size M, a prime (default 65537)"),
    ("allow", "PREFIX[,PREFIX...]", "Only sources in these prefixes may open connections to the service (DPVS's whitelist)"),
    ("deny", "PREFIX[,PREFIX...]", "Sources in these prefixes may not open connections (DPVS's blacklist; checked before --allow)"),
    ("source-rate", "RATE[:BURST]", "New connections per second from one source address (burst: how many at once; default RATE)"),
    ("conn-rate", "RATE[:BURST]", "New connections per second to the whole service"),
    ("max-conns", "N", "Connections the service holds at once; new ones beyond are refused"),
];

fn help_of(long: &str) -> Option<(&'static str, &'static str)> {
    HELP.iter().find(|(l, _, _)| *l == long).map(|(_, v, h)| (*v, *h))
}

/// rvsadm's options as clap describes them.
pub fn command() -> Command {
    let mut cmd = Command::new("rvsadm")
        .version(env!("CARGO_PKG_VERSION"))
        .about("ipvsadm-compatible administration of rvsd's virtual services")
        .long_about(
            "rvsadm changes and lists rvsd's virtual services, real servers, local addresses and \
             timeouts over rvsd's control socket, with ipvsadm's commands, options and output. Short \
             options may be clustered (-Ln), long ones abbreviated to a unique prefix. When rvs-ctrl \
             manages rvsd, it reverts changes made with rvsadm within 10 s: edit keepalived.conf and \
             run rvsadm --reload instead.",
        )
        .override_usage(
            "rvsadm -A|-E -t|-u VIP:PORT [-s SCHEDULER] [-p [TIMEOUT]] [-M NETMASK] [--sched-flags FLAGS] [--synproxy] [--toa] [--proxy-protocol v1|v2]\n       \
             rvsadm -D -t|-u VIP:PORT\n       rvsadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-w WEIGHT] [-x N] [-y N]\n       \
             rvsadm -d -t|-u VIP:PORT -r RIP[:PORT]\n       rvsadm -P|-Q -t|-u VIP:PORT -z LIP\n       \
             rvsadm -L|-l [-t|-u VIP:PORT] [-n] [-c] [--stats|--rate|--thresholds|--timeout] [--exact] [--sort]\n       \
             rvsadm -C | -S [-n] | -R | -Z [-t|-u VIP:PORT] | --set TCP TCPFIN UDP | --workers | --reload [--pidfile PATH]\n       \
             rvsadm --neigh [show | add ADDR lladdr MAC [dev IFACE] | del ADDR [dev IFACE] | flush [dev IFACE] [nud permanent|all]]",
        )
        .after_help(
            "Exit status: 0 success, 1 rvsd (or rvs-ctrl for --reload) refused the request, 2 usage error, 3 rvsd could not be reached.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true);
    let mut seen: Vec<&str> = Vec::new();
    for (short, long, takes_value) in super::args::documented_options() {
        if seen.contains(&long) {
            // -l is -L.
            if let Some(c) = short {
                cmd = cmd.mut_arg(long, |a| a.short_alias(c));
            }
            continue;
        }
        seen.push(long);
        let (value, help) = help_of(long).unwrap_or(("", ""));
        let mut arg = Arg::new(long).long(long).help(help);
        if let Some(c) = short {
            arg = arg.short(c);
        }
        arg = match (takes_value, long) {
            (true, "persistent") => arg.value_name(value).num_args(0..=1),
            (true, _) => arg.value_name(value).num_args(1),
            (false, _) => arg.action(ArgAction::SetTrue),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_documented_and_nothing_else() {
        let opts: Vec<_> = super::super::args::documented_options().map(|(_, l, _)| l).collect();
        for l in &opts {
            assert!(help_of(l).is_some_and(|(_, h)| !h.is_empty()), "--{l} has no help in adm::doc");
            assert!(super::super::usage().contains(&format!("--{l}")), "rvsadm -h does not mention --{l}");
        }
        for (l, _, _) in HELP {
            assert!(opts.contains(l), "adm::doc documents --{l}, which rvsadm does not take");
        }
        command().debug_assert();
    }
}
