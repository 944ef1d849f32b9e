//! `rvsadm`: an ipvsadm-compatible front end to `rvsd`'s control socket.

pub mod args;
pub mod doc;
pub mod format;
pub mod report;
mod restore;

/// Held around libc's `getservbyname`/`getservbyport`, which answer in one static buffer:
/// rvsadm calls them from one thread, its tests from many at once.
pub(crate) static SERVICES_DB: std::sync::Mutex<()> = std::sync::Mutex::new(());
pub mod run;

pub use args::{
    parse_args, parse_args_as, Action, AdmCommand, Dialect, Invocation, ListOptions, ListView, UsageError,
};
pub use run::{execute, Clock, Env, RunError, SystemClock, Transport};

/// The program name used in messages.
pub const PROGRAM: &str = "rvsadm";

/// Environment variable naming the control socket when `--socket` is not given.
pub const SOCKET_ENV: &str = "RVSD_SOCKET";

/// Where `rvs-ctrl` writes its pid unless told otherwise (`--pidfile`), and where
/// `rvsadm --reload` looks for it.
pub const DEFAULT_CTRL_PIDFILE: &str = "/run/rvs-ctrl.pid";

/// `rvsadm -v`.
pub fn version_string() -> String {
    format!(
        "{PROGRAM} v{} (ipvsadm-compatible), control protocol {}",
        env!("CARGO_PKG_VERSION"),
        rvs_proto::PROTO_VERSION
    )
}

/// Socket path: `--socket`, else `$RVSD_SOCKET` (if non-empty), else the protocol default.
pub fn socket_path(opt: Option<&str>, env: Option<&str>) -> String {
    opt.or(env.filter(|s| !s.is_empty())).unwrap_or(rvs_proto::DEFAULT_SOCKET).to_string()
}

/// `rvsadm -h`.
pub fn usage() -> String {
    let p = PROGRAM;
    format!(
        "{version}
Usage:
  {p} -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask]
        [--sched-flags flags] [--synproxy] [--toa] [--proxy-protocol v1|v2]
        [--proxy-protocol-send first-data|on-connect] [--expire-quiescent-template]
        [--mh-table-size prime] [--allow prefixes] [--deny prefixes]
        [--source-rate rate[:burst]] [--conn-rate rate[:burst]] [--max-conns n]
  {p} -D -t|u service-address
  {p} -C
  {p} -R
  {p} -S [-n]
  {p} -a|e -t|u service-address -r server-address [options]
  {p} -d -t|u service-address -r server-address
  {p} -P|Q -t|u service-address -z local-address [-F ifname]
  {p} -G [-t|u service-address]
  {p} -L|l [-t|u service-address] [options]
  {p} --set tcp tcpfin udp
  {p} --workers
  {p} -Z [-t|u service-address]
  {p} --reload [--pidfile path]
  {p} --install-alias [dir]
  {p} --takeover|--release [address[,address...]]
  {p} --owned
  {p} --sync | -L --daemon
  {p} --cluster [--leave]
  {p} --neigh [show | add address lladdr mac [dev iface] | del address [dev iface]
          | flush [dev iface] [nud permanent|all]]
  {p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --add-laddr       -P        add local address (FULLNAT source address)
  --del-laddr       -Q        delete local address
  --get-laddr       -G        list local addresses
  --list            -L|-l     list the table
  --set tcp tcpfin udp        set connection timeout values (0 = unchanged)
  --workers                   list per-worker counters and drop reasons
  --zero         -Z           zero the counters of a service or of all
  --reload                    make rvs-ctrl re-read its configuration (SIGHUP)
  --install-alias [dir]       symlink dir/ipvsadm (default {alias_dir}) to this binary: invoked
                              as ipvsadm it takes ipvsadm's defaults (-g, -b = --sched-flags,
                              sorted lists) and prints ipvsadm 1.31's layouts
  --takeover [addresses]      own these VIPs/LIPs (none: all) and send gratuitous ARPs
  --release [addresses]       stop answering ARP/ping and taking new connections for them
                              (none: all); existing sessions are still forwarded
  --owned                     list the VIPs/LIPs and whether rvsd owns them
  --sync                      session sync state, peers and counters (also -L --daemon)
  --cluster                   ECMP cluster members, state, generation, sync lag, sessions
  --leave                     with --cluster: leave gracefully (withdraw, drain, stop)
  --neigh                     the workers' ARP/NDP tables, as ip neigh; add pins a static
                              neighbour on every worker until rvsd stops, del removes one,
                              flush the learned ones (nud permanent: the pinned ones)
  --help            -h        display this help message
  --version         -v        display the version

Options:
  --tcp-service  -t service-address   service-address is host:port
  --udp-service  -u service-address   service-address is host:port
  --scheduler    -s scheduler         one of {schedulers},
                                      the default scheduler is {sched}.
  --persistent   -p [timeout]         persistent service (default timeout {persist} s)
  --netmask      -M netmask           persistent granularity mask
  --sched-flags     flags             scheduler flags, comma separated:
                                      {flags}
  --synproxy     -j                   answer SYNs with cookies, open the server side after the handshake
  --toa                               client address as TCP option 254 towards the server
  --proxy-protocol  v1|v2             PROXY protocol header ahead of the client's first byte
  --proxy-protocol-send  first-data|on-connect
                                      on-connect: the header on its own right after the
                                      server's handshake (server-speaks-first protocols)
  --expire-quiescent-template         persistent clients of a weight-0 server are placed
                                      afresh (IPVS's expire_quiescent_template)
  --mh-table-size   prime             mh: Maglev table size M (default 65537)
  --allow        prefix[,prefix...]   only these sources may open connections
  --deny         prefix[,prefix...]   these sources may not (checked before --allow)
  --source-rate  rate[:burst]         new connections per second from one source
  --conn-rate    rate[:burst]         new connections per second to the service
  --max-conns    n                    connections the service holds at once
  --real-server  -r server-address    server-address is host (and port)
  --fullnat      -b                   full NAT (the default; as ipvsadm: --fullnat only)
  --masquerading -m                   masquerading (NAT)
  --gatewaying   -g                   gatewaying (direct routing) (ipvsadm's default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --tun-type     ipip|gue             tunnel type of -i (default ipip)
  --tun-port     port                 GUE: the real server's UDP port
  --tun-nocsum                        GUE without checksum (rvsd's GUE; as ipvsadm -S writes it)
  --weight       -w weight            capacity of real server (default 1)
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --laddr        -z local-address     FULLNAT local address
  --ifname       -F ifname            accepted for DPVS compatibility, ignored
  --connection   -c                   output of current connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --numeric      -n                   numeric output of addresses and ports
  --sort                              sort services and real servers by address and port
  --nosort                            list them as rvsd returns them (the default)
  --socket       path                 rvsd control socket (default ${env}, then {default})
  --pidfile      path                 rvs-ctrl's pid file, for --reload (default {pidfile})
",
        version = version_string(),
        sched = args::DEFAULT_SCHEDULER,
        schedulers = rvs_proto::check::SCHEDULERS.join("|"),
        flags = rvs_proto::check::SCHED_FLAGS.join(", "),
        persist = args::DEFAULT_PERSISTENT_TIMEOUT,
        env = SOCKET_ENV,
        default = rvs_proto::DEFAULT_SOCKET,
        pidfile = DEFAULT_CTRL_PIDFILE,
        alias_dir = args::DEFAULT_ALIAS_DIR,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_protocol() {
        assert_eq!(
            version_string(),
            format!("rvsadm v0.1.0 (ipvsadm-compatible), control protocol {}", rvs_proto::PROTO_VERSION)
        );
    }

    #[test]
    fn help_lists_every_scheduler_and_option() {
        let u = usage();
        for s in rvs_proto::check::SCHEDULERS {
            assert!(
                u.contains(&format!("|{s}|"))
                    || u.contains(&format!(" {s}|"))
                    || u.contains(&format!("|{s},")),
                "{s}"
            );
        }
        for o in [
            "--persistent",
            "--u-threshold",
            "--thresholds",
            "--sort",
            "--sched-flags",
            "--synproxy",
            "--toa",
        ] {
            assert!(u.contains(o), "{o}");
        }
    }

    #[test]
    fn socket_path_precedence() {
        assert_eq!(socket_path(Some("/a"), Some("/b")), "/a");
        assert_eq!(socket_path(None, Some("/b")), "/b");
        assert_eq!(socket_path(None, Some("")), rvs_proto::DEFAULT_SOCKET);
        assert_eq!(socket_path(None, None), rvs_proto::DEFAULT_SOCKET);
    }
}
