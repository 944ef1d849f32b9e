//! Health checking with keepalived's semantics.
//!
//! * [`state`]: the pure state machines (checker timing, retries, up/down, quorum,
//!   sorry server, inhibit) and the real-server table they call for;
//! * [`http`]: HTTP_GET's request and its verdict on a response, pure;
//! * [`md5`]: the digest HTTP_GET compares;
//! * [`probe`]: the I/O: nonblocking connects, HTTP exchanges, UDP probes and MISC_CHECK
//!   processes, all driven by one poll(2) loop.

pub mod http;
pub mod md5;
pub mod probe;
pub mod state;

pub use state::{CheckerId, Event, Health, Outcome, Table};
