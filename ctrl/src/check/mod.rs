//! Health checking with keepalived's semantics.
//!
//! * [`state`]: the pure state machines (checker timing, retries, up/down, quorum,
//!   sorry server, inhibit) and the real-server table they call for;
//! * [`http`]: HTTP_GET's (and SSL_GET's) request and its verdict on a response, pure;
//! * [`tls`]: SSL_GET's TLS client (rustls, no certificate verification, as keepalived);
//! * [`md5`]: the digest HTTP_GET compares;
//! * [`dns`]: DNS_CHECK's query and its verdict on a response, pure;
//! * [`smtp`]: SMTP_CHECK's conversation, pure;
//! * [`file`]: FILE_CHECK's reading of a tracked file, pure;
//! * [`probe`]: the I/O: nonblocking connects, HTTP(S) exchanges, UDP probes, DNS queries,
//!   tracked-file reads and MISC_CHECK processes, all driven by one poll(2) loop.

pub mod dns;
pub mod file;
pub mod http;
pub mod md5;
pub mod ping;
pub mod probe;
pub mod smtp;
pub mod state;
pub mod tls;

pub use state::{CheckerId, Event, Health, Outcome, Table};
