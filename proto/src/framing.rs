//! Framing: one JSON object per line, written and read (with or without a length limit),
//! and the errors of the socket, the JSON and the version.

use crate::PROTO_VERSION;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("peer closed the connection")]
    Closed,
    #[error("message longer than {max} bytes")]
    TooLong { max: usize },
    #[error("protocol version {got} is not {PROTO_VERSION}")]
    Version { got: u32 },
}

/// Writes one message as a JSON line.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), ProtoError> {
    let mut line = serde_json::to_vec(msg)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()?;
    Ok(())
}

/// Reads one JSON line; `Closed` at end of stream.
pub fn read_msg<R: BufRead, T: for<'de> Deserialize<'de>>(r: &mut R) -> Result<T, ProtoError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(ProtoError::Closed);
    }
    Ok(serde_json::from_str(&line)?)
}

/// Reads one JSON line of at most `max` bytes (newline included); `TooLong` past that,
/// without reading the rest into memory, so a runaway or hostile peer costs at most
/// `max` bytes.
pub fn read_msg_limited<R: BufRead, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> Result<T, ProtoError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() {
                return Err(ProtoError::Closed);
            }
            break; // a last line without its newline
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(ProtoError::TooLong { max });
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            break;
        }
    }
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
mod limited_read_tests {
    use super::*;

    #[test]
    fn a_line_within_the_limit_is_read_and_the_next_one_waits() {
        let data = b"{\"a\":1}\n{\"a\":2}\n".to_vec();
        let mut r = std::io::BufReader::with_capacity(4, &data[..]);
        let v: serde_json::Value = read_msg_limited(&mut r, 64).unwrap();
        assert_eq!(v["a"], 1);
        let v: serde_json::Value = read_msg_limited(&mut r, 64).unwrap();
        assert_eq!(v["a"], 2);
        assert!(matches!(read_msg_limited::<_, serde_json::Value>(&mut r, 64), Err(ProtoError::Closed)));
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit_without_reading_it_all() {
        // 10 MB without a newline: refused having buffered no more than the limit.
        let data = vec![b'x'; 10 << 20];
        let mut r = std::io::BufReader::with_capacity(8192, &data[..]);
        assert!(matches!(
            read_msg_limited::<_, serde_json::Value>(&mut r, 1 << 20),
            Err(ProtoError::TooLong { max }) if max == 1 << 20
        ));
        // What is left unread is most of it.
        let rest = r.fill_buf().unwrap().len() + r.get_ref().len();
        assert!(rest > 8 << 20, "{rest}");
    }
}
