//! A tiny reader and writer of classic libpcap files, for golden tests.
//!
//! Format: a 24-byte global header (magic, version 2.4, thiszone, sigfigs, snaplen, link
//! type) and records of a 16-byte header (seconds, microseconds, captured length, original
//! length) followed by the captured bytes, all in the byte order the magic reveals.
//!
//! The reader accepts both byte orders, microsecond (`a1b2c3d4`) and nanosecond (`a1b23c4d`)
//! resolution, link type 1 (Ethernet) only. It never panics on a corrupt file: every problem is
//! a [`PcapError`]. The writer writes little-endian, microsecond, Ethernet, so its output is
//! the same on every host.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

/// Link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length the writer declares (tcpdump's default).
pub const DEFAULT_SNAPLEN: u32 = 262_144;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// What is wrong with a pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than the 24-byte global header.
    TruncatedHeader,
    /// Not a pcap magic number in either byte order (pcapng, for instance); the value as read
    /// little-endian.
    BadMagic(u32),
    /// A major version other than 2.
    UnsupportedVersion { major: u16, minor: u16 },
    /// A link type other than Ethernet.
    UnsupportedLinkType(u32),
    /// The file ends inside the record starting at `offset`.
    TruncatedRecord { offset: usize },
    /// A record whose captured length exceeds its original length, or whose sub-second field is
    /// out of range; `offset` is where its header starts.
    BadRecord { offset: usize },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::TruncatedHeader => f.write_str("pcap: file shorter than its header"),
            PcapError::BadMagic(m) => write!(f, "pcap: bad magic 0x{m:08x}"),
            PcapError::UnsupportedVersion { major, minor } => {
                write!(f, "pcap: unsupported version {major}.{minor}")
            }
            PcapError::UnsupportedLinkType(t) => write!(f, "pcap: unsupported link type {t}"),
            PcapError::TruncatedRecord { offset } => write!(f, "pcap: truncated record at offset {offset}"),
            PcapError::BadRecord { offset } => write!(f, "pcap: bad record at offset {offset}"),
        }
    }
}

impl std::error::Error for PcapError {}

/// One captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    /// Since the Unix epoch.
    pub timestamp: Duration,
    /// The packet's length on the wire (`data` may be shorter when the capture was cut).
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Reads records from a pcap file in memory. An `Iterator` of `Result<PcapRecord, PcapError>`
/// that stops after the first error.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    rest: &'a [u8],
    offset: usize,
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Checks the global header.
    pub fn new(bytes: &'a [u8]) -> Result<PcapReader<'a>, PcapError> {
        let h: &[u8; GLOBAL_HEADER_LEN] = bytes
            .get(..GLOBAL_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(PcapError::TruncatedHeader)?;
        let magic = [h[0], h[1], h[2], h[3]];
        let (big_endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (MAGIC_USEC, _) => (false, false),
            (MAGIC_NSEC, _) => (false, true),
            (_, MAGIC_USEC) => (true, false),
            (_, MAGIC_NSEC) => (true, true),
            (m, _) => return Err(PcapError::BadMagic(m)),
        };
        let r = PcapReader {
            rest: &bytes[GLOBAL_HEADER_LEN..],
            offset: 24,
            big_endian,
            nanos,
            snaplen: 0,
            failed: false,
        };
        let (major, minor) = (r.u16_at(h, 4), r.u16_at(h, 6));
        if major != 2 {
            return Err(PcapError::UnsupportedVersion { major, minor });
        }
        let link = r.u32_at(h, 20);
        if link != LINKTYPE_ETHERNET {
            return Err(PcapError::UnsupportedLinkType(link));
        }
        Ok(PcapReader { snaplen: r.u32_at(h, 16), ..r })
    }

    /// True when the file is big-endian.
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// True for nanosecond timestamps.
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn u16_at(&self, b: &[u8], o: usize) -> u16 {
        let v = [b[o], b[o + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], o: usize) -> u32 {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn next_record(&mut self) -> Result<PcapRecord<'a>, PcapError> {
        let offset = self.offset;
        let rest = self.rest;
        let h = rest.get(..RECORD_HEADER_LEN).ok_or(PcapError::TruncatedRecord { offset })?;
        let (secs, frac) = (self.u32_at(h, 0), self.u32_at(h, 4));
        let (incl, orig) = (self.u32_at(h, 8), self.u32_at(h, 12));
        let limit = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        if incl > orig || frac >= limit {
            return Err(PcapError::BadRecord { offset });
        }
        let end =
            RECORD_HEADER_LEN.checked_add(incl as usize).ok_or(PcapError::TruncatedRecord { offset })?;
        let data = rest.get(RECORD_HEADER_LEN..end).ok_or(PcapError::TruncatedRecord { offset })?;
        let nanos = if self.nanos { frac } else { frac * 1000 };
        self.rest = &rest[end..];
        self.offset += end;
        Ok(PcapRecord { timestamp: Duration::new(secs as u64, nanos), orig_len: orig, data })
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.next_record();
        self.failed = r.is_err();
        Some(r)
    }
}

impl std::iter::FusedIterator for PcapReader<'_> {}

/// Reads every record of a file, or the first error.
pub fn read_all(bytes: &[u8]) -> Result<Vec<PcapRecord<'_>>, PcapError> {
    PcapReader::new(bytes)?.collect()
}

/// Writes a pcap file (little-endian, microseconds, Ethernet) to any `Write`, such as a
/// `Vec<u8>` or a `File`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header with [`DEFAULT_SNAPLEN`].
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_snaplen(out, DEFAULT_SNAPLEN)
    }

    /// Writes the global header; longer packets are cut to `snaplen` bytes.
    pub fn with_snaplen(mut out: W, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; GLOBAL_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Appends a record. The timestamp is kept to the microsecond; seconds beyond `u32` are an
    /// `InvalidInput` error, as is a packet longer than `u32::MAX`.
    pub fn write_packet(&mut self, timestamp: Duration, data: &[u8]) -> io::Result<()> {
        let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_string());
        let secs = u32::try_from(timestamp.as_secs()).map_err(|_| invalid("pcap: timestamp beyond 2106"))?;
        let orig = u32::try_from(data.len()).map_err(|_| invalid("pcap: packet too long"))?;
        let incl = orig.min(self.snaplen);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&timestamp.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&incl.to_le_bytes());
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..incl as usize])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let pkts: [(Duration, Vec<u8>); 3] = [
            (Duration::new(1_700_000_000, 123_456_000), vec![1, 2, 3]),
            (Duration::new(1_700_000_001, 0), vec![]),
            (Duration::new(0, 999_999_999), (0..=255).collect()),
        ];
        for (t, d) in &pkts {
            w.write_packet(*t, d).unwrap();
        }
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), 24 + 3 * 16 + 3 + 256);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        let r = PcapReader::new(&bytes).unwrap();
        assert!(!r.is_big_endian() && !r.is_nanosecond());
        assert_eq!(r.snaplen(), DEFAULT_SNAPLEN);
        let recs = read_all(&bytes).unwrap();
        assert_eq!(recs.len(), 3);
        for (rec, (t, d)) in recs.iter().zip(&pkts) {
            // Microsecond resolution.
            assert_eq!(rec.timestamp, Duration::new(t.as_secs(), t.subsec_micros() * 1000));
            assert_eq!(rec.data, &d[..]);
            assert_eq!(rec.orig_len as usize, d.len());
        }
        assert_eq!(read_all(&bytes[..24]).unwrap(), []);
    }

    #[test]
    fn snaplen_cuts() {
        let mut w = PcapWriter::with_snaplen(Vec::new(), 4).unwrap();
        w.write_packet(Duration::ZERO, &[9; 10]).unwrap();
        w.flush().unwrap();
        let bytes = w.into_inner();
        let recs = read_all(&bytes).unwrap();
        assert_eq!((recs[0].data, recs[0].orig_len), (&[9u8; 4][..], 10));
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        assert!(w.write_packet(Duration::from_secs(1 << 33), &[]).is_err());
    }

    /// Hand-made big-endian, nanosecond file with two Ethernet records.
    #[test]
    fn big_endian_file() {
        #[rustfmt::skip]
        let bytes: Vec<u8> = vec![
            0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0,
            0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
            // record 1: 1.000002 s, 2 of 60 bytes
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3c,
            0xab, 0xcd,
            // record 2: 0x01020304 s, 999999 us, 1 byte
            0x01, 0x02, 0x03, 0x04, 0x00, 0x0f, 0x42, 0x3f, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
            0xef,
        ];
        let r = PcapReader::new(&bytes).unwrap();
        assert!(r.is_big_endian() && !r.is_nanosecond());
        assert_eq!(r.snaplen(), 65535);
        let recs = read_all(&bytes).unwrap();
        assert_eq!(
            recs,
            [
                PcapRecord { timestamp: Duration::new(1, 2_000), orig_len: 60, data: &[0xab, 0xcd] },
                PcapRecord { timestamp: Duration::new(0x01020304, 999_999_000), orig_len: 1, data: &[0xef] },
            ]
        );
        // The same as nanosecond.
        let mut ns = bytes.clone();
        ns[2..4].copy_from_slice(&[0x3c, 0x4d]);
        let r = PcapReader::new(&ns).unwrap();
        assert!(r.is_nanosecond());
        assert_eq!(read_all(&ns).unwrap()[0].timestamp, Duration::new(1, 2));
    }

    #[test]
    fn corrupt_files() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Duration::ZERO, &[1, 2, 3, 4]).unwrap();
        let good = w.into_inner();
        assert_eq!(PcapReader::new(&good[..23]).unwrap_err(), PcapError::TruncatedHeader);
        let mut b = good.clone();
        b[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]); // pcapng
        assert_eq!(PcapReader::new(&b).unwrap_err(), PcapError::BadMagic(0x0a0d0d0a));
        let mut b = good.clone();
        b[4] = 1;
        assert_eq!(PcapReader::new(&b).unwrap_err(), PcapError::UnsupportedVersion { major: 1, minor: 4 });
        let mut b = good.clone();
        b[20] = 113;
        assert_eq!(PcapReader::new(&b).unwrap_err(), PcapError::UnsupportedLinkType(113));
        // Cut inside the record header, inside the data.
        for cut in [25, 39, 41, 43] {
            assert_eq!(
                read_all(&good[..cut]).unwrap_err(),
                PcapError::TruncatedRecord { offset: 24 },
                "{cut}"
            );
        }
        // incl_len > orig_len, huge incl_len, usec out of range.
        let mut b = good.clone();
        b[32] = 5;
        assert_eq!(read_all(&b).unwrap_err(), PcapError::BadRecord { offset: 24 });
        let mut b = good.clone();
        b[32..40].copy_from_slice(&[0xff; 8]);
        assert_eq!(read_all(&b).unwrap_err(), PcapError::TruncatedRecord { offset: 24 });
        let mut b = good.clone();
        b[28..32].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(read_all(&b).unwrap_err(), PcapError::BadRecord { offset: 24 });
        // The iterator stops after an error.
        let mut two = good.clone();
        two.extend_from_slice(&[0; 5]);
        let mut it = PcapReader::new(&two).unwrap();
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(PcapError::TruncatedRecord { offset: 44 })));
        assert_eq!(it.next(), None);
        assert!(PcapError::BadMagic(1).to_string().contains("0x00000001"));
    }

    proptest! {
        #[test]
        fn never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..200), hdr in 0u8..3) {
            // Give most inputs a valid header so the record parser is exercised too.
            if hdr > 0 && data.len() >= 24 {
                let w = if hdr == 2 { PcapWriter::with_snaplen(Vec::new(), 65535) } else { PcapWriter::new(Vec::new()) };
                let w = w.unwrap();
                data[..24].copy_from_slice(&w.into_inner());
            }
            if let Ok(r) = PcapReader::new(&data) {
                for rec in r.flatten() {
                    prop_assert!(rec.data.len() as u32 <= rec.orig_len);
                }
            }
        }

        #[test]
        fn round_trip_random(pkts in proptest::collection::vec(
            (any::<u32>(), 0u32..1_000_000, proptest::collection::vec(any::<u8>(), 0..100)), 0..8)) {
            let mut w = PcapWriter::new(Vec::new()).unwrap();
            for (s, us, d) in &pkts {
                w.write_packet(Duration::new(*s as u64, us * 1000), d).unwrap();
            }
            let bytes = w.into_inner();
            let recs = read_all(&bytes).unwrap();
            prop_assert_eq!(recs.len(), pkts.len());
            for (r, (s, us, d)) in recs.iter().zip(&pkts) {
                prop_assert_eq!(r.timestamp, Duration::new(*s as u64, us * 1000));
                prop_assert_eq!(r.data, &d[..]);
            }
        }
    }
}
