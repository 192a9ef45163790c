//! The record encoding of the serializing stores (Redis, PostgreSQL, SQLite): a format byte,
//! then JSON with the expiry to the nanosecond; the tags as a JSON array beside it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Record};

/// The first byte of every stored value: the encoding that follows (JSON, version 1).
const FORMAT_JSON_V1: u8 = 1;

fn codec(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Codec(Box::new(e))
}

/// What is stored in field `v` after the format byte.
#[derive(Serialize)]
struct StoredRef<'a, T> {
    /// Expiry, nanoseconds since the Unix epoch.
    e: u64,
    d: &'a T,
}

#[derive(Deserialize)]
struct Stored<T> {
    e: u64,
    d: T,
}

fn nanos_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The record's expiry rounded up to the millisecond (Redis's `PEXPIREAT`, the SQL stores'
/// `expires_at` column), so a store never drops a record before its own expiry (`load`
/// checks the exact one).
pub(crate) fn expire_at_ms(at: SystemTime) -> u64 {
    nanos_since_epoch(at).div_ceil(1_000_000).max(1)
}

pub(crate) fn encode<T: Serialize>(record: &Record<T>) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut value = vec![FORMAT_JSON_V1];
    serde_json::to_writer(
        &mut value,
        &StoredRef {
            e: nanos_since_epoch(record.expires_at),
            d: &record.data,
        },
    )
    .map_err(codec)?;
    let tags = serde_json::to_vec(&record.tags).map_err(codec)?;
    Ok((value, tags))
}

/// `decode`, for the fuzz targets (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn decode_record<T: DeserializeOwned>(
    value: &[u8],
    tags: Option<&[u8]>,
) -> Result<Record<T>, Error> {
    decode(value, tags)
}

/// `encode`, for the fuzz targets (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn encode_record<T: Serialize>(record: &Record<T>) -> Result<(Vec<u8>, Vec<u8>), Error> {
    encode(record)
}

#[derive(Debug, thiserror::Error)]
#[error("unknown record format {0} (written by a newer version?)")]
struct UnknownFormat(u8);

#[derive(Debug, thiserror::Error)]
#[error("a record without its tags field")]
struct MissingTags;

pub(crate) fn decode<T: DeserializeOwned>(
    value: &[u8],
    tags: Option<&[u8]>,
) -> Result<Record<T>, Error> {
    let (&format, rest) = value.split_first().ok_or_else(|| codec(UnknownFormat(0)))?;
    if format != FORMAT_JSON_V1 {
        return Err(codec(UnknownFormat(format)));
    }
    let stored: Stored<T> = serde_json::from_slice(rest).map_err(codec)?;
    let tags: Vec<String> =
        serde_json::from_slice(tags.ok_or_else(|| codec(MissingTags))?).map_err(codec)?;
    Ok(Record {
        data: stored.d,
        expires_at: UNIX_EPOCH + Duration::from_nanos(stored.e),
        tags,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_versioned_and_keeps_the_expiry_to_the_nanosecond() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let record = Record::new("data".to_owned(), at).with_tags(["a", "b ü"]);
        let (value, tags) = encode(&record).unwrap();
        assert_eq!(value[0], FORMAT_JSON_V1);
        let back: Record<String> = decode(&value, Some(&tags)).unwrap();
        assert_eq!(back, record);
        assert_eq!(expire_at_ms(at), 1_700_000_000_124);
        let mut future = value.clone();
        future[0] = 2;
        assert!(matches!(
            decode::<String>(&future, Some(&tags)),
            Err(Error::Codec(_))
        ));
        assert!(matches!(
            decode::<String>(&[], Some(&tags)),
            Err(Error::Codec(_))
        ));
        assert!(matches!(
            decode::<String>(&value, None),
            Err(Error::Codec(_))
        ));
    }
}
