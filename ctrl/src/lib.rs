//! rvs-ctrl: the administration side of RVS.
//!
//! [`adm`] holds `rvsadm`, the ipvsadm-compatible command line tool: argv parsing
//! ([`adm::args`]), output formatting ([`adm::format`]) and the glue that turns a parsed
//! command into control-socket calls ([`adm::run`]). Parsing and formatting are pure
//! functions so they can be tested without a daemon; the binary is a thin wrapper.

pub mod adm;
