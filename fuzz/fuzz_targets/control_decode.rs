//! rvsd's control socket reading raw bytes, as one connection's reader does
//! (`serve_client`, `dataplane/src/control/server.rs`): bounded JSON lines decoded into
//! `Request`s with `rvs_proto::read_msg_limited`, one after another, through reader
//! buffers of any size (a line split across reads), under limits from 1 byte to rvsd's
//! `MAX_REQUEST`; each request decoded is answered by rvsd's own control code
//! (`rvs_core::control::ControlState`, without workers).
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

use libfuzzer_sys::fuzz_target;
use rvs_proto::{read_msg_limited, write_msg, ProtoError, Request, Response};

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
    let (mut ctl, _) = control::state(4, 8);
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
                let was = format!("{:?}", ctl.registry());
                let resp = match ctl.respond(req, &mut control::NoWorkers) {
                    Ok(reply) => Response::ok(reply),
                    Err(e) => {
                        assert_eq!(was, format!("{:?}", ctl.registry()), "a refused request changed the registry: {e}");
                        Response::error(e)
                    }
                };
                control::check(ctl.registry(), 4, 8);
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
