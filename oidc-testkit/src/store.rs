//! In-memory authorization codes, access tokens and refresh tokens.
//!
//! Every code and every token belongs to a grant (one sign-in of one user for one client);
//! detecting a replayed code or refresh token revokes the whole grant, as RFC 6749 4.1.2 and the
//! OAuth 2.0 Security BCP recommend and as real providers do.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Lifetime of an authorization code.
pub(super) const CODE_TTL: Duration = Duration::from_secs(60);

/// A random opaque value with 256 bits of entropy, base64url.
pub(super) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Identifies one grant.
pub(super) type GrantId = u64;

/// What an authorization code was issued for.
#[derive(Clone, Debug)]
pub(super) struct CodeGrant {
    pub grant: GrantId,
    pub client_id: String,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    pub expires_at: Instant,
    pub consumed: bool,
}

/// What an access token grants.
#[derive(Clone, Debug)]
pub(super) struct AccessGrant {
    pub username: String,
    pub scopes: Vec<String>,
    pub expires_at: Instant,
    grant: GrantId,
}

/// What a refresh token can be exchanged for.
#[derive(Clone, Debug)]
pub(super) struct RefreshGrant {
    pub grant: GrantId,
    pub client_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub auth_time: u64,
    pub expires_at: Instant,
    pub consumed: bool,
}

/// All live grants of one provider.
#[derive(Debug, Default)]
pub(super) struct Store {
    codes: HashMap<String, CodeGrant>,
    access_tokens: HashMap<String, AccessGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    next_grant: GrantId,
}

/// A freshly issued access token and refresh token.
pub(super) struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
}

impl Store {
    /// A new grant id.
    pub(super) fn new_grant(&mut self) -> GrantId {
        self.next_grant += 1;
        self.next_grant
    }

    /// Stores a code.
    pub(super) fn insert_code(&mut self, code: String, grant: CodeGrant) {
        self.purge_expired();
        self.codes.insert(code, grant);
    }

    /// The code's grant, or `None` if unknown or expired.
    pub(super) fn code_mut(&mut self, code: &str) -> Option<&mut CodeGrant> {
        let now = Instant::now();
        self.codes.get_mut(code).filter(|g| g.expires_at > now)
    }

    /// The refresh token's grant, or `None` if unknown or expired.
    pub(super) fn refresh_mut(&mut self, token: &str) -> Option<&mut RefreshGrant> {
        let now = Instant::now();
        self.refresh_tokens
            .get_mut(token)
            .filter(|g| g.expires_at > now)
    }

    /// The access token's grant, or `None` if unknown, expired or revoked.
    pub(super) fn access(&self, token: &str) -> Option<&AccessGrant> {
        let now = Instant::now();
        self.access_tokens.get(token).filter(|g| g.expires_at > now)
    }

    /// Issues an access token (`access_token`, e.g. a JWT, or a random opaque one when `None`)
    /// and a fresh (unconsumed) refresh token for `grant`.
    pub(super) fn issue_tokens(
        &mut self,
        grant: &RefreshGrant,
        access_token: Option<String>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<IssuedTokens, getrandom::Error> {
        self.purge_expired();
        let access_token = match access_token {
            Some(token) => token,
            None => random_token()?,
        };
        let refresh_token = random_token()?;
        self.access_tokens.insert(
            access_token.clone(),
            AccessGrant {
                username: grant.username.clone(),
                scopes: grant.scopes.clone(),
                expires_at: Instant::now() + access_ttl,
                grant: grant.grant,
            },
        );
        self.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                expires_at: Instant::now() + refresh_ttl,
                consumed: false,
                ..grant.clone()
            },
        );
        Ok(IssuedTokens {
            access_token,
            refresh_token,
        })
    }

    /// Revokes every token issued under `grant`.
    pub(super) fn revoke_grant(&mut self, grant: GrantId) {
        self.access_tokens.retain(|_, g| g.grant != grant);
        self.refresh_tokens.retain(|_, g| g.grant != grant);
    }

    fn purge_expired(&mut self) {
        let now = Instant::now();
        // Consumed codes stay until they expire so that a replay is recognised as one.
        self.codes.retain(|_, g| g.expires_at > now);
        self.access_tokens.retain(|_, g| g.expires_at > now);
        self.refresh_tokens.retain(|_, g| g.expires_at > now);
    }
}
