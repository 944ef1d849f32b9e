//! rvsd's control socket reading raw bytes, as one connection's reader does
//! (`serve_client`, `dataplane/src/control/server.rs`): bounded JSON lines decoded into
//! `Request`s with `rvs_proto::read_msg_limited`, one after another, through reader
//! buffers of any size (a line split across reads), under limits from 1 byte to rvsd's
//! `MAX_REQUEST`; each request decoded is applied to a registry the way rvsd's control
//! thread does (`common/control.rs`, see the `control` target for why it is repeated there).
//!
//! The first input byte sets the reader's buffer size, the second the line limit; the rest
//! is what the peer sent.
//!
//! Properties, beyond "no panic": reading a line never takes more than the limit from the
//! stream (a hostile peer costs at most that); a decoded request written again reads back
//! the same; a refused request leaves the registry as it was, and it answers the next one;
//! what the registry holds passes `common::check`.
#![no_main]
use std::io::BufReader;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rvs_core::service::{Registry, WorkerConfig};
use rvs_core::synproxy::{CookieSecrets, SecretKey};
use rvs_proto::{read_msg_limited, write_msg, ProtoError, Reply, Request, Response};

#[path = "common/control.rs"]
mod control;

const LIMITS: [usize; 8] = [1, 2, 16, 64, 256, 1024, 4096, control::MAX_REQUEST];

/// Bytes left to read: in the reader's buffer and behind it.
fn left(r: &BufReader<&[u8]>) -> usize {
    r.buffer().len() + r.get_ref().len()
}

fuzz_target!(|data: &[u8]| {
    let Some((&[cap, limit], rest)) = data.split_first_chunk::<2>() else { return };
    let mut r = BufReader::with_capacity(1 + cap as usize, rest);
    let limit = LIMITS[limit as usize % LIMITS.len()];
    let mut reg = Registry::new(4, 8);
    let secrets = CookieSecrets::new(SecretKey::from_bytes([7; 16]));
    let mut cfg = WorkerConfig::new(Arc::new(reg.snapshot()), control::DEFAULT_TIMEOUTS, secrets);
    loop {
        let before = left(&r);
        let read = read_msg_limited::<_, Request>(&mut r, limit);
        assert!(before - left(&r) <= limit, "read {} bytes past the limit {limit}", before - left(&r));
        let resp = match read {
            Ok(req) => {
                let mut line = Vec::new();
                write_msg(&mut line, &req).expect("a request is written");
                let back: Request =
                    read_msg_limited(&mut &line[..], usize::MAX).expect("a written request reads back");
                assert_eq!(back, req, "a request changed when written again");
                let was = format!("{reg:?}");
                let resp = match control::respond(&mut reg, &mut cfg, req) {
                    Ok(_) => Response::ok(Reply::Ok),
                    Err(e) => {
                        assert_eq!(was, format!("{reg:?}"), "a refused request changed the registry: {e}");
                        Response::error(e)
                    }
                };
                control::check(&reg, 4, 8);
                resp
            }
            Err(ProtoError::Closed) => break,
            // Answered, then the connection is closed.
            Err(e @ (ProtoError::Json(_) | ProtoError::TooLong { .. })) => {
                let resp = Response::error(format!("malformed request: {e}"));
                write_msg(&mut Vec::new(), &resp).expect("an answer is written");
                break;
            }
            Err(e) => panic!("reading from memory: {e}"),
        };
        write_msg(&mut Vec::new(), &resp).expect("an answer is written");
    }
});
