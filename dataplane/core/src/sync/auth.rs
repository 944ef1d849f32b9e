//! The cluster key and message authentication: HMAC-SHA-256 truncated to 128 bits
//! (RFC 4868's HMAC-SHA-256-128, as IPsec uses it) over the header and the body.
//!
//! The configured secret is never used directly: HKDF-SHA-256 (RFC 5869) derives one
//! subkey per purpose (message tags, SYN-cookie slots, table digests), so a key that leaks
//! from one use says nothing about the others.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::TAG_LEN;

type HmacSha256 = Hmac<Sha256>;

/// Salt of the passphrase extraction and of every subkey derivation.
const SALT: &[u8] = b"rvs-sync-v1";
const INFO_AUTH: &[u8] = b"rvs sync message authentication";
pub(super) const INFO_COOKIE: &[u8] = b"rvs synproxy cookie slot ";
const INFO_DIGEST: &[u8] = b"rvs sync table digest";

/// Shortest raw key accepted (hex form), and shortest passphrase.
pub const MIN_KEY_BYTES: usize = 16;
pub const MIN_PASSPHRASE_LEN: usize = 16;

/// Why a configured key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the sync key is empty")]
    Empty,
    #[error("the sync key is not valid hex: {0}")]
    BadHex(&'static str),
    #[error("the sync key has {0} bytes, at least {MIN_KEY_BYTES} needed")]
    TooShort(usize),
    #[error("the sync passphrase has {0} characters, at least {MIN_PASSPHRASE_LEN} needed")]
    PassphraseTooShort(usize),
    #[error("cannot read the sync key file: {0}")]
    File(String),
}

/// The secret every member of a sync group shares: a 32-byte pseudorandom key (the HKDF
/// extraction of what was configured).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    prk: [u8; 32],
}

/// Keys never show up in logs.
impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, KeyError> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(KeyError::BadHex("odd number of digits"));
    }
    b.chunks_exact(2)
        .map(|p| match (hex_val(p[0]), hex_val(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(KeyError::BadHex("not a hex digit")),
        })
        .collect()
}

impl ClusterKey {
    /// From raw key bytes (at least 16): HKDF-Extract(salt, bytes).
    pub fn from_bytes(key: &[u8]) -> Result<ClusterKey, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(Self::extract(key))
    }

    fn extract(ikm: &[u8]) -> ClusterKey {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(SALT), ikm);
        let mut k = [0u8; 32];
        k.copy_from_slice(&prk);
        ClusterKey { prk: k }
    }

    /// From a configuration string, surrounding whitespace ignored:
    /// - `hex:<digits>`: a raw key of at least 16 bytes in hex;
    /// - exactly 64 hex digits: a raw 32-byte key (what `openssl rand -hex 32` prints);
    /// - anything else: a passphrase of at least 16 characters. HKDF is not a slow
    ///   password hash: the passphrase must be long and random, not a word.
    pub fn from_config(s: &str) -> Result<ClusterKey, KeyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(h) = s.strip_prefix("hex:") {
            return Self::from_bytes(&decode_hex(h)?);
        }
        if s.len() == 64 && s.bytes().all(|c| hex_val(c).is_some()) {
            return Self::from_bytes(&decode_hex(s)?);
        }
        let n = s.chars().count();
        if n < MIN_PASSPHRASE_LEN {
            return Err(KeyError::PassphraseTooShort(n));
        }
        Ok(Self::extract(s.as_bytes()))
    }

    /// From a key file holding what [`ClusterKey::from_config`] accepts. (Control plane
    /// only: the core never reads files on the packet path.)
    pub fn from_file(path: &std::path::Path) -> Result<ClusterKey, KeyError> {
        let s =
            std::fs::read_to_string(path).map_err(|e| KeyError::File(format!("{}: {e}", path.display())))?;
        Self::from_config(&s)
    }

    /// HKDF-Expand(prk, info) into `out` (at most 255 × 32 bytes; callers ask for ≤ 32).
    pub(super) fn expand(&self, info: &[&[u8]], out: &mut [u8]) {
        let hk = Hkdf::<Sha256>::from_prk(&self.prk)
            .unwrap_or_else(|_| Hkdf::<Sha256>::new(Some(SALT), &self.prk));
        // `out` is at most 32 bytes: expand cannot fail (it fails above 255 × 32).
        let _ = hk.expand_multi_info(info, out);
    }

    /// The key of the message tags.
    pub fn authenticator(&self) -> Authenticator {
        let mut k = [0u8; 32];
        self.expand(&[INFO_AUTH], &mut k);
        Authenticator::new(&k)
    }

    /// The SipHash key of [`super::TableDigest`].
    pub(super) fn digest_key(&self) -> (u64, u64) {
        let mut k = [0u8; 16];
        self.expand(&[INFO_DIGEST], &mut k);
        let (a, b) = k.split_at(8);
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(a);
        y.copy_from_slice(b);
        (u64::from_le_bytes(x), u64::from_le_bytes(y))
    }
}

/// Computes and checks message tags. Holds the HMAC state after the key pads, so a tag
/// costs the message's own compressions plus two.
#[derive(Clone)]
pub struct Authenticator {
    mac: HmacSha256,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

impl Authenticator {
    fn new(key: &[u8; 32]) -> Authenticator {
        // HMAC takes keys of any length: this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        Authenticator { mac }
    }

    /// The tag of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut m = self.mac.clone();
        m.update(data);
        let full = m.finalize().into_bytes();
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&full[..TAG_LEN]);
        t
    }

    /// Writes the tag of `msg[..len - TAG_LEN]` into its last `TAG_LEN` bytes.
    pub fn seal(&self, msg: &mut [u8]) {
        if msg.len() < TAG_LEN {
            return;
        }
        let at = msg.len() - TAG_LEN;
        let t = self.tag(&msg[..at]);
        msg[at..].copy_from_slice(&t);
    }

    /// Whether `tag` is the tag of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac.clone();
        m.update(data);
        tag.len() == TAG_LEN && m.verify_truncated_left(tag).is_ok()
    }
}
