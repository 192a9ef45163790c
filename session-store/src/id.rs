//! [`SessionId`]: 256 random bits, carried as 43 characters of unpadded base64url.

use std::fmt;
use std::hash::{BuildHasher as _, Hash, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;

/// Number of random bytes in a session id.
const ID_BYTES: usize = 32;
/// Length of the unpadded base64url encoding of [`ID_BYTES`] bytes.
const ENCODED_LEN: usize = 43;
/// How many characters of the encoding `Debug` and `Display` show: enough to tell ids apart in
/// logs, far too few to hijack a session.
const SHOWN_PREFIX_LEN: usize = 6;

/// Each base64url character's 6 bits; `INVALID` for anything else.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xFF;

/// The 6-bit values of up to 4 base64url characters, big-endian in the low bits; `None` when
/// one is not base64url.
fn sextets(chars: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    let mut seen = 0u8;
    for &c in chars {
        let value = DECODE[usize::from(c)];
        seen |= value;
        n = (n << 6) | u32::from(value & 0x3F);
    }
    (seen & 0xC0 == 0).then_some(n)
}

/// A session id: 32 bytes from the operating system's CSPRNG.
///
/// It travels (in a cookie, in a backend key) as [`SessionId::encode`]: exactly 43 characters
/// of unpadded base64url. Equality is checked in constant time; `Debug` and `Display` show only
/// the first 6 characters of the encoding followed by `…`, so an id written to a log cannot be
/// used to hijack the session.
#[derive(Clone)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// A fresh id from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] when the operating system's generator fails.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|err| Error::Random(err.to_string()))?;
        Ok(Self(bytes))
    }

    /// Parses the encoding made by [`SessionId::encode`]: exactly 43 characters of unpadded
    /// base64url in canonical form.
    ///
    /// Returns `None` for anything else (other lengths, padding, characters outside the
    /// base64url alphabet, non-zero trailing bits). Never panics, whatever the input.
    pub fn parse(encoded: &str) -> Option<Self> {
        Self::parse_bytes(encoded.as_bytes())
    }

    /// [`SessionId::parse`] on raw bytes (a cookie value as it arrived): anything that is not
    /// the canonical encoding, including non-ASCII bytes, is `None`.
    pub fn parse_bytes(encoded: &[u8]) -> Option<Self> {
        // Checked first so that oversized input is rejected without being decoded.
        let input: &[u8; ENCODED_LEN] = encoded.try_into().ok()?;
        // By hand, on the request path: a table lookup per character (a general base64 engine
        // costs about twice as much for these 43). Agrees with the `base64` crate's strict
        // decoding, which the tests check for every kind of input.
        let mut bytes = [0u8; ID_BYTES];
        let (groups, tail) = input.split_at(40);
        for (chunk, out) in groups.chunks_exact(4).zip(bytes.chunks_exact_mut(3)) {
            let n = sextets(chunk)?;
            out.copy_from_slice(&n.to_be_bytes()[1..]);
        }
        // 3 characters: 18 bits, of which the last 2 must be zero (one encoding per id).
        let n = sextets(tail)?;
        if n & 0b11 != 0 {
            return None;
        }
        let [_, _, high, low] = (n >> 2).to_be_bytes();
        bytes[30] = high;
        bytes[31] = low;
        Some(Self(bytes))
    }

    /// The id as 43 characters of unpadded base64url (the form [`SessionId::parse`] accepts).
    ///
    /// This is the full secret: put it in the session cookie, never in a log.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The raw 32 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// The id's [`Fingerprint`]: what shared backends name the session by, so that reading
    /// the backend (keys, invalidation messages) never reveals a usable id.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(Sha256::digest(self.0).into())
    }

    /// Writes the loggable form: the first characters of the encoding followed by `…`.
    fn fmt_prefix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 6 characters encode the first 36 bits: encoding 6 bytes (8 characters)
        // on the stack avoids allocating the full encoding.
        let mut buf = [0u8; 8];
        let written = URL_SAFE_NO_PAD
            .encode_slice(&self.0[..6], &mut buf)
            .map_err(|_| fmt::Error)?;
        let prefix = buf
            .get(..SHOWN_PREFIX_LEN.min(written))
            .and_then(|prefix| std::str::from_utf8(prefix).ok())
            .ok_or(fmt::Error)?;
        write!(f, "{prefix}…")
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SessionId {}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hashing leaks nothing useful to a timing attacker that comparing would: the map
        // still confirms a match with the constant-time `eq` above.
        self.0.hash(state);
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(")?;
        self.fmt_prefix(f)?;
        f.write_str(")")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_prefix(f)
    }
}

/// Builds the hashers of in-memory tables keyed by [`SessionId`]s or [`Fingerprint`]s.
///
/// Both are uniformly random (a CSPRNG, SHA-256), so their first eight bytes, mixed with a
/// random key of the table and a 64-bit finalizer, spread as well as SipHash in a fraction of
/// its instructions (the request path hashes the session id on every request). Only for such
/// keys: a table hashed this way holds ids the server made; a request can look any id up, but
/// cannot choose where entries go.
#[derive(Clone)]
pub(crate) struct RandomIdHasher {
    key: u64,
}

impl RandomIdHasher {
    pub(crate) fn new() -> Self {
        Self {
            key: std::collections::hash_map::RandomState::new().hash_one(0u8),
        }
    }
}

impl std::hash::BuildHasher for RandomIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.key }
    }
}

/// See [`RandomIdHasher`].
pub(crate) struct IdHasher {
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.state = self.state.rotate_left(23) ^ u64::from_le_bytes(first);
    }
    fn write_usize(&mut self, n: usize) {
        // The slice length `Hash` writes first (always 32 here).
        self.state = self.state.rotate_left(23) ^ n as u64;
    }
    fn finish(&self) -> u64 {
        // splitmix64's finalizer: every output bit depends on every input bit.
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A one-way digest (SHA-256) of a [`SessionId`], from [`SessionId::fingerprint`].
///
/// Shared backends key records and announce changes by fingerprint: whoever can read the
/// backend learns which sessions exist, but cannot present one (the id cannot be derived from
/// its fingerprint). Not a secret; `Debug` still shows only a prefix, to keep logs short.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint as 43 characters of unpadded base64url.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses what [`Fingerprint::encode`] makes (as bytes, e.g. a pub/sub payload); `None`
    /// for anything else.
    pub fn parse(encoded: &[u8]) -> Option<Self> {
        if encoded.len() != ENCODED_LEN {
            return None;
        }
        let mut bytes = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(encoded, &mut bytes) {
            Ok(32) => Some(Self(bytes)),
            _ => None,
        }
    }

    /// The raw 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        write!(
            f,
            "Fingerprint({}…)",
            encoded.get(..SHOWN_PREFIX_LEN).unwrap_or_default()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn generated_ids_roundtrip_through_their_encoding() {
        let id = SessionId::generate().unwrap();
        let encoded = id.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(SessionId::parse(&encoded), Some(id.clone()));
        assert_eq!(
            SessionId::parse(&encoded).unwrap().as_bytes(),
            id.as_bytes()
        );
    }

    #[test]
    fn generated_ids_differ() {
        let ids: HashSet<SessionId> = (0..1000).map(|_| SessionId::generate().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn debug_and_display_show_only_a_prefix() {
        let id = SessionId::generate().unwrap();
        let encoded = id.encode();
        let display = id.to_string();
        let debug = format!("{id:?}");
        assert_eq!(display, format!("{}…", &encoded[..SHOWN_PREFIX_LEN]));
        assert_eq!(
            debug,
            format!("SessionId({}…)", &encoded[..SHOWN_PREFIX_LEN])
        );
        for shown in [&display, &debug] {
            assert!(!shown.contains(&encoded), "{shown} leaks the id");
            assert!(
                !shown.contains(&encoded[..SHOWN_PREFIX_LEN + 1]),
                "{shown} shows too much"
            );
        }
        // Also through the alternate and padded formatters.
        assert!(!format!("{id:#?}").contains(&encoded));
        assert!(!format!("{id:>60}").contains(&encoded));
    }

    #[test]
    fn equality_and_hash_follow_the_bytes() {
        let a = SessionId([7; ID_BYTES]);
        let mut other_bytes = [7; ID_BYTES];
        other_bytes[ID_BYTES - 1] = 8;
        let b = SessionId(other_bytes);
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        let set: HashSet<SessionId> = [a.clone(), a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn parse_rejects_everything_but_the_canonical_encoding() {
        let encoded = SessionId([0xff; ID_BYTES]).encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        let rejected = [
            String::new(),
            encoded[..ENCODED_LEN - 1].to_string(),
            format!("{encoded}A"),
            format!("{encoded}="),
            // Standard (not URL-safe) alphabet.
            encoded.replace('_', "/"),
            encoded.replace('_', "+"),
            // Non-zero trailing bits: the last character of a 32-byte encoding carries
            // 4 data bits and 2 bits that must be zero; '_' (0b111111) sets them.
            format!("{}_", &encoded[..ENCODED_LEN - 1]),
            // Same length in bytes, but not ASCII.
            format!("{}é", &encoded[..ENCODED_LEN - 2]),
            "../".repeat(14) + ".",
            " ".repeat(ENCODED_LEN),
            "x".repeat(10_000),
        ];
        for input in &rejected {
            assert_eq!(SessionId::parse(input), None, "accepted {input:?}");
        }
        // The last character carries 4 data bits and 2 zero bits: for the all-ones id that
        // is 0b111100, '8'.
        assert_eq!(encoded, format!("{}8", "_".repeat(ENCODED_LEN - 1)));
        assert!(SessionId::parse(&encoded).is_some());
    }

    #[test]
    fn the_id_hasher_spreads_random_ids_and_differs_per_table() {
        use std::hash::BuildHasher as _;
        let (a, b) = (RandomIdHasher::new(), RandomIdHasher::new());
        let ids: Vec<SessionId> = (0..4096).map(|_| SessionId::generate().unwrap()).collect();
        // 4096 ids into 1024 buckets by the low bits (as hash tables index): about 4 each, and
        // never the dozens a poor spread would pile up.
        let mut buckets = [0u32; 1024];
        for id in &ids {
            buckets[usize::try_from(a.hash_one(id) % 1024).unwrap()] += 1;
        }
        assert!(
            buckets.iter().all(|&n| n < 30),
            "{:?}",
            buckets.iter().max()
        );
        assert!(ids.iter().any(|id| a.hash_one(id) != b.hash_one(id)));
        let fingerprint = ids[0].fingerprint();
        assert_eq!(a.hash_one(fingerprint), a.hash_one(fingerprint));
    }

    #[test]
    fn fingerprints_are_sha256_and_round_trip() {
        let id = SessionId([0; ID_BYTES]);
        // SHA-256 of 32 zero bytes.
        assert_eq!(id.fingerprint().as_bytes()[..4], [0x66, 0x68, 0x7a, 0xad]);
        let other = SessionId::generate().unwrap();
        assert_ne!(id.fingerprint(), other.fingerprint());
        let encoded = other.fingerprint().encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert!(!encoded.contains(&other.encode()));
        assert_eq!(
            Fingerprint::parse(encoded.as_bytes()),
            Some(other.fingerprint())
        );
        assert_eq!(Fingerprint::parse(b"*"), None);
        assert_eq!(Fingerprint::parse(&[b'_'; ENCODED_LEN]), None);
        assert_eq!(format!("{:?}", other.fingerprint()).chars().count(), 20);
    }

    /// What the `base64` crate's strict decoder makes of `input`, as an id's bytes.
    fn strict(input: &str) -> Option<[u8; ID_BYTES]> {
        let mut bytes = [0u8; ID_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(input, &mut bytes) {
            Ok(ID_BYTES) => Some(bytes),
            _ => None,
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = SessionId::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_id_length_alphabet_soup(input in "[A-Za-z0-9_=+/-]{43}") {
            if let Some(id) = SessionId::parse(&input) {
                // Whatever is accepted is canonical: it re-encodes to itself.
                prop_assert_eq!(id.encode(), input);
            }
        }

        #[test]
        fn parse_agrees_with_the_base64_crate(input in "[A-Za-z0-9_=+/.-]{43}") {
            prop_assert_eq!(SessionId::parse(&input).map(|id| id.0), strict(&input));
        }

        #[test]
        fn parse_agrees_with_the_base64_crate_on_canonical_tails(
            bytes in any::<[u8; ID_BYTES]>(),
            last in "[A-Za-z0-9_-]",
        ) {
            // Every possible last character after a valid prefix: only canonical ones pass.
            let mut input = SessionId(bytes).encode();
            input.replace_range(ENCODED_LEN - 1.., &last);
            prop_assert_eq!(SessionId::parse(&input).map(|id| id.0), strict(&input));
        }

        #[test]
        fn parse_inverts_encode(bytes in any::<[u8; ID_BYTES]>()) {
            let id = SessionId(bytes);
            let parsed = SessionId::parse(&id.encode());
            prop_assert_eq!(parsed.as_ref().map(SessionId::as_bytes), Some(&bytes));
            prop_assert_eq!(parsed, Some(id));
        }
    }
}
