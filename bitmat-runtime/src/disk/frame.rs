//! The framing of a cache entry: magic, bitmat compiler version, key, payload, checksum.
//!
//! ```text
//! "BITMAT\0\x01" | u32 version len | version | u32 key len | key | u64 payload len | payload | blake3 (32 bytes)
//! ```
//! Lengths are little-endian; the checksum covers everything before it.

const MAGIC: &[u8; 8] = b"BITMAT\0\x01";
const CHECKSUM: usize = 32;

/// Why an entry was not trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    /// Too short, bad magic, bad lengths or checksum mismatch.
    #[error("corrupted entry ({0})")]
    Corrupted(&'static str),
    /// Written by another bitmat version.
    #[error("written by bitmat {found}, this is {expected}")]
    Version {
        /// This bitmat's version.
        expected: String,
        /// The entry's.
        found: String,
    },
    /// Written for another key (a hash collision of file names).
    #[error("entry belongs to another key")]
    Key,
}

/// This build's compiler version ([`crate::compiler_version`]), recorded in every entry.
pub(crate) fn version() -> &'static str {
    crate::version::compiler_version()
}

/// Frames `payload` stored under `key`.
pub(crate) fn seal(payload: &[u8], key: &str) -> Vec<u8> {
    let v = version().as_bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 16 + v.len() + key.len() + payload.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(v);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// The entry's version, key and payload, after checking magic, lengths and checksum.
fn parse(bytes: &[u8]) -> Result<(&str, &str, &[u8]), EntryError> {
    if bytes.len() < MAGIC.len() + CHECKSUM || &bytes[..MAGIC.len()] != MAGIC {
        return Err(EntryError::Corrupted("bad header"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM);
    if blake3::hash(body).as_bytes() != sum {
        return Err(EntryError::Corrupted("checksum mismatch"));
    }
    let mut rest = &body[MAGIC.len()..];
    let mut take = |n: usize| -> Result<&[u8], EntryError> {
        if rest.len() < n {
            return Err(EntryError::Corrupted("truncated"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let len32 = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
    let n = len32(take(4)?);
    let version = std::str::from_utf8(take(n)?).map_err(|_| EntryError::Corrupted("version"))?;
    let n = len32(take(4)?);
    let key = std::str::from_utf8(take(n)?).map_err(|_| EntryError::Corrupted("key"))?;
    let n = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let payload = take(usize::try_from(n).map_err(|_| EntryError::Corrupted("length"))?)?;
    if !rest.is_empty() {
        return Err(EntryError::Corrupted("trailing bytes"));
    }
    Ok((version, key, payload))
}

/// The payload of an entry that must belong to `key` and this bitmat version.
pub(crate) fn open<'a>(bytes: &'a [u8], key: &str) -> Result<&'a [u8], EntryError> {
    let (found_key, payload) = open_checked_version(bytes)?;
    if found_key != key {
        return Err(EntryError::Key);
    }
    Ok(payload)
}

/// The payload of an entry of this bitmat version, whatever its key.
pub(crate) fn open_any(bytes: &[u8]) -> Result<&[u8], EntryError> {
    open_checked_version(bytes).map(|(_, p)| p)
}

fn open_checked_version(bytes: &[u8]) -> Result<(&str, &[u8]), EntryError> {
    let (v, key, payload) = parse(bytes)?;
    if v != version() {
        return Err(EntryError::Version {
            expected: version().to_string(),
            found: v.to_string(),
        });
    }
    Ok((key, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let framed = seal(b"payload", "k");
        assert_eq!(open(&framed, "k").unwrap(), b"payload");
        assert_eq!(open(&framed, "other"), Err(EntryError::Key));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let framed = seal(b"some payload bytes", "key");
        for len in 0..framed.len() {
            assert!(open(&framed[..len], "key").is_err(), "truncated to {len}");
        }
        for i in 0..framed.len() {
            let mut bad = framed.clone();
            bad[i] ^= 0x10;
            assert!(open(&bad, "key").is_err(), "bit flip at {i}");
        }
    }

    #[test]
    fn another_version_is_rejected() {
        let mut framed = seal(b"p", "k");
        // Rewrite the version's first digit and re-seal the checksum.
        framed[12] = b'9';
        let n = framed.len() - CHECKSUM;
        let sum = blake3::hash(&framed[..n]);
        framed[n..].copy_from_slice(sum.as_bytes());
        assert!(matches!(
            open(&framed, "k"),
            Err(EntryError::Version { .. })
        ));
    }
}
