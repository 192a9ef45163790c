//! Random tokens for the browser round trips (login state, nonce, PKCE verifier, logout state).

use base64::Engine as _;

/// `BYTES` bytes from the operating system's generator, base64url without padding.
pub(crate) fn random_token<const BYTES: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_fresh_and_as_long_as_asked() {
        let (a, b) = (random_token::<32>().unwrap(), random_token::<32>().unwrap());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(random_token::<24>().unwrap().len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
