//! keepalived's notify FIFO: one line per state change, `INSTANCE "VI_1" MASTER 100` or
//! `GROUP "G1" BACKUP 0`. rvs-ctrl makes the FIFO and reads it; keepalived writes to it
//! without blocking (both open it read-write, so neither sees an end of file when the other
//! goes away). A line costs no fork, so rvsd's ownership follows within a poll of the change.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The states keepalived reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VrrpState {
    /// Not reported yet (keepalived starting or not running).
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl VrrpState {
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
            VrrpState::Stop => "STOP",
        }
    }

    /// The value of `rvs_vrrp_state` (keepalived's SNMP numbering: init 0, backup 1,
    /// master 2, fault 3; stop 4).
    pub fn metric(self) -> u8 {
        match self {
            VrrpState::Init => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
            VrrpState::Stop => 4,
        }
    }
}

/// One line of the FIFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub group: bool,
    pub name: String,
    pub state: VrrpState,
    pub priority: u8,
}

/// Parses one line; None for the events that are not states (`MASTER_RX_LOWER_PRI`,
/// priority changes) and for anything malformed.
pub fn parse_line(line: &str) -> Option<Report> {
    let line = line.trim_end();
    let (kind, rest) = line.split_once(' ')?;
    let group = match kind {
        "INSTANCE" => false,
        "GROUP" => true,
        _ => return None,
    };
    let rest = rest.strip_prefix('"')?;
    let (name, rest) = rest.split_once("\" ")?;
    let mut words = rest.split(' ');
    let state = match words.next()? {
        "MASTER" => VrrpState::Master,
        "BACKUP" => VrrpState::Backup,
        "FAULT" => VrrpState::Fault,
        "STOP" | "DELETED" => VrrpState::Stop,
        _ => return None,
    };
    let priority = words.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some(Report { group, name: name.to_string(), state, priority })
}

/// `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`: a master heard a lower-priority advert (a
/// peer that thought itself master, if briefly, and may have announced the addresses):
/// the instance's name.
pub fn parse_lower_prio(line: &str) -> Option<&str> {
    let rest = line.trim_end().strip_prefix("INSTANCE \"")?;
    let (name, rest) = rest.split_once("\" ")?;
    rest.starts_with("MASTER_RX_LOWER_PRI").then_some(name)
}

/// The FIFO, made and opened by rvs-ctrl.
pub struct Fifo {
    path: PathBuf,
    file: std::fs::File,
    buf: Vec<u8>,
}

impl Fifo {
    pub fn create(path: &Path) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the FIFO's path"))?;
        // SAFETY: mkfifo with a NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Fifo { path: path.to_path_buf(), file, buf: Vec::new() })
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Every complete line available now.
    pub fn read_lines(&mut self) -> Vec<String> {
        use std::io::Read;
        let mut chunk = [0u8; 4096];
        loop {
            match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: drained
            }
        }
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            out.push(String::from_utf8_lossy(&line[..nl]).into_owned());
        }
        out
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_keepalived_writes_them() {
        assert_eq!(
            parse_line("INSTANCE \"VI_1\" MASTER 100\n"),
            Some(Report { group: false, name: "VI_1".into(), state: VrrpState::Master, priority: 100 })
        );
        assert_eq!(
            parse_line("GROUP \"G 1\" FAULT 0"),
            Some(Report { group: true, name: "G 1".into(), state: VrrpState::Fault, priority: 0 })
        );
        assert_eq!(parse_line("INSTANCE \"VI_1\" DELETED 100").unwrap().state, VrrpState::Stop);
        assert_eq!(parse_line("INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100"), None);
        assert_eq!(parse_lower_prio("INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n"), Some("VI_1"));
        assert_eq!(parse_lower_prio("INSTANCE \"VI_1\" MASTER 100"), None);
        assert_eq!(parse_line("INSTANCE VI_1 MASTER 100"), None);
        assert_eq!(parse_line("garbage"), None);
    }

    #[test]
    fn fifo_reads_whole_lines_only() {
        let dir = crate::testutil::TempDir::new("fifo");
        let p = dir.path().join("k.fifo");
        let mut f = Fifo::create(&p).unwrap();
        assert!(f.read_lines().is_empty());
        {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            w.write_all(b"INSTANCE \"A\" BACKUP 90\nINSTANCE \"A\" MAS").unwrap();
        }
        assert_eq!(f.read_lines(), ["INSTANCE \"A\" BACKUP 90"]);
        {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            w.write_all(b"TER 90\n").unwrap();
        }
        assert_eq!(f.read_lines(), ["INSTANCE \"A\" MASTER 90"]);
        drop(f);
        assert!(!p.exists());
    }
}
