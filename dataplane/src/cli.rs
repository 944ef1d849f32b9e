//! rvsd's command line, in the library so that `rvsd-gen-docs` makes its man page and
//! shell completions from the definition rvsd parses with.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rvsd",
    version,
    about = "RVS dataplane: DPDK FULLNAT layer-4 load balancer",
    long_about = "rvsd runs the data plane: it initialises DPDK (EAL arguments from `eal_args` in the [dataplane] table of \
its configuration), starts one polling worker per configured CPU, and serves the control socket that \
rvsadm and rvs-ctrl use. Start-up is all or nothing: a bad configuration, a port that does not start \
or a socket already in use makes rvsd exit non-zero naming the cause (FILE:LINE for configuration errors).",
    after_help = "Signals: SIGTERM/SIGINT stop rvsd (its sessions are lost: clients reconnect). \
The configuration is read once; change services at run time with rvsadm or rvs-ctrl."
)]
pub struct Args {
    /// Path of the TOML configuration.
    #[arg(short, long, value_name = "FILE", default_value = "/etc/rvs/rvsd.toml")]
    pub config: PathBuf,
    /// Validate the configuration and exit (0 when it would run).
    #[arg(short = 't', long)]
    pub check: bool,
}
