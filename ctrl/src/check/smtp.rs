//! SMTP_CHECK's conversation, pure (the socket is in [`super::probe`]).
//!
//! keepalived's exchange (check_smtp.c): the server's greeting must be `220`, the checker
//! sends `HELO <helo_name>` and needs `250`, then sends `QUIT` and needs one more line
//! (whatever it says). Each line the server sends has its own `connect_timeout`.
//!
//! One difference: a reply of several lines (`220-first` ... `220 last`) is read to its
//! last line, as RFC 5321 writes them, where keepalived reads only the first line and so
//! fails such a greeting.

/// keepalived's default `helo_name`.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// Replies longer than this fail the check (keepalived's buffer is 512 bytes a line).
pub const MAX_LINE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Greeting,
    Helo,
    Quit,
}

/// Where one conversation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    step: Step,
    helo: String,
}

/// What to do after a line from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Wait for another line (a continuation line of a reply).
    Read,
    /// Send these bytes, then wait for the reply.
    Send(Vec<u8>),
    /// The server passed.
    Up,
}

impl Conversation {
    pub fn new(helo: &str) -> Self {
        Conversation { step: Step::Greeting, helo: helo.to_string() }
    }

    /// Takes one line the server sent (without its line end). `Err` says why it failed.
    pub fn on_line(&mut self, line: &[u8]) -> Result<Next, String> {
        let want = match self.step {
            Step::Greeting => 220,
            Step::Helo => 250,
            // keepalived reads QUIT's answer and is done, whatever it says.
            Step::Quit => return Ok(Next::Up),
        };
        let (code, last) = reply_code(line).ok_or_else(|| {
            let text = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
            format!("not an SMTP reply: {text:?}")
        })?;
        if code != want {
            let what = if self.step == Step::Greeting { "greeting" } else { "HELO reply" };
            return Err(format!("SMTP {what} {code}, not {want}"));
        }
        if !last {
            return Ok(Next::Read);
        }
        Ok(match self.step {
            Step::Greeting => {
                self.step = Step::Helo;
                Next::Send(format!("HELO {}\r\n", self.helo).into_bytes())
            }
            _ => {
                self.step = Step::Quit;
                Next::Send(b"QUIT\r\n".to_vec())
            }
        })
    }
}

/// The code of a reply line and whether it is the reply's last line: three digits, then a
/// blank (or nothing) for the last line, `-` for a continuation.
pub fn reply_code(line: &[u8]) -> Option<(u16, bool)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = std::str::from_utf8(digits).ok()?.parse().ok()?;
    match line.get(3) {
        None | Some(b' ') => Some((code, true)),
        Some(b'-') => Some((code, false)),
        Some(_) => None,
    }
}

/// Splits the first complete line (ended by `\n`) off `buf`.
pub fn take_line(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let mut line: Vec<u8> = buf.drain(..=nl).collect();
    line.pop();
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_server_passes_after_quit() {
        let mut c = Conversation::new("me.example");
        assert_eq!(c.on_line(b"220 mx.example ESMTP\r"), Ok(Next::Send(b"HELO me.example\r\n".to_vec())));
        assert_eq!(c.on_line(b"250 mx.example\r"), Ok(Next::Send(b"QUIT\r\n".to_vec())));
        assert_eq!(c.on_line(b"221 bye\r"), Ok(Next::Up));
    }

    #[test]
    fn wrong_codes_fail() {
        let mut c = Conversation::new(DEFAULT_HELO);
        assert_eq!(c.on_line(b"554 go away\r"), Err("SMTP greeting 554, not 220".into()));
        let mut c = Conversation::new(DEFAULT_HELO);
        c.on_line(b"220 hi").unwrap();
        assert_eq!(c.on_line(b"501 syntax"), Err("SMTP HELO reply 501, not 250".into()));
        let mut c = Conversation::new(DEFAULT_HELO);
        assert!(c.on_line(b"SSH-2.0-OpenSSH_9.6\r").unwrap_err().starts_with("not an SMTP reply"));
        assert!(c.on_line(b"22").is_err());
        assert!(c.on_line(b"220x").is_err());
    }

    #[test]
    fn multi_line_replies_are_read_to_their_last_line() {
        let mut c = Conversation::new(DEFAULT_HELO);
        assert_eq!(c.on_line(b"220-mx.example ESMTP\r"), Ok(Next::Read));
        assert_eq!(c.on_line(b"220-more words\r"), Ok(Next::Read));
        assert!(matches!(c.on_line(b"220\r"), Ok(Next::Send(_))));
        assert_eq!(c.on_line(b"250-mx\r"), Ok(Next::Read));
        assert_eq!(c.on_line(b"250 ok\r"), Ok(Next::Send(b"QUIT\r\n".to_vec())));
        assert_eq!(c.on_line(b"whatever"), Ok(Next::Up));
    }

    #[test]
    fn lines_split_at_newlines() {
        let mut b = b"220 a\r\n250 b\r\n25".to_vec();
        assert_eq!(take_line(&mut b).as_deref(), Some(&b"220 a\r"[..]));
        assert_eq!(take_line(&mut b).as_deref(), Some(&b"250 b\r"[..]));
        assert_eq!(take_line(&mut b), None);
        assert_eq!(b, b"25");
    }
}
