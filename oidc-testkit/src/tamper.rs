//! The hostile-provider switch.

/// How the [`TestProvider`](super::TestProvider) misbehaves, to test that a relying party
/// rejects what a broken or malicious provider sends.
///
/// Set it with [`TestProvider::set_tamper`](super::TestProvider::set_tamper) (or
/// [`TestProviderBuilder::tamper`](super::TestProviderBuilder::tamper)); it applies to every
/// following response of the kind it names (token responses of both the `authorization_code`
/// and the `refresh_token` grant, or authorization responses for the `*InCallback` variants)
/// until it is changed back to [`Tamper::None`].
///
/// ```
/// use oidc_testkit::{Tamper, TestProvider};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let provider = TestProvider::start().await?;
/// provider.set_tamper(Tamper::AlgNone);
/// // ... a login through the relying party must now fail ...
/// provider.set_tamper(Tamper::None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tamper {
    /// Behave correctly.
    #[default]
    None,
    /// The ID token was issued to another client: `aud` is `["another-client"]` and `azp` is
    /// `another-client`.
    WrongAudience,
    /// The ID token's `iss` is `{issuer}/not-the-issuer` (a prefix of it is the right issuer, to
    /// catch prefix matching).
    WrongIssuer,
    /// The ID token expired an hour ago (`iat` two hours ago).
    ExpiredIdToken,
    /// The ID token's `iat` is 10 minutes in the future (and `exp` is moved along with it).
    IssuedInFuture,
    /// The ID token's `nonce` differs from the one sent in the authorization request.
    WrongNonce,
    /// The ID token has no `nonce` although the authorization request had one.
    MissingNonce,
    /// The RS256 signature has its first and last bytes flipped.
    BadSignature,
    /// Header `{"alg":"none"}` and an empty signature (`header.payload.`).
    AlgNone,
    /// Header `alg` is `HS256` and the token is signed with HMAC-SHA256 using the provider's
    /// public key PEM (as served, in SPKI form) as the secret: the classic key-confusion attack.
    HmacWithPublicKey,
    /// Signed by a second RSA key whose `kid` (`testkit-unknown-key`) is not in the JWKS.
    UnknownKid,
    /// `at_hash` is computed over a different access token.
    WrongAtHash,
    /// A correctly signed ID token carrying a 100 KB `padding` claim: over the relying party's
    /// 64 KiB ID-token cap, well under a 1 MiB HTTP body cap.
    OversizedIdToken,
    /// `aud` is `[client_id, "another-client"]` and `azp` is `another-client`.
    AzpMismatch,
    /// The `iss` parameter of the authorization response (RFC 9207) is `{issuer}/not-the-issuer`.
    WrongIssInCallback,
    /// The authorization response has no `iss` parameter although discovery announces
    /// `authorization_response_iss_parameter_supported`.
    MissingIssInCallback,
    /// The token endpoint answers `500 Internal Server Error` (the code is not consumed).
    TokenEndpointError,
    /// The token endpoint answers `200 OK`, `Content-Type: application/json`, with a body that is
    /// not JSON (the code is not consumed).
    GarbageTokenResponse,
    /// A valid ID token signed with ES256 by a P-256 key the JWKS publishes (`kid`
    /// `testkit-es256-1`; discovery advertises RS256 and ES256): a client that pinned RS256, the
    /// OpenID default, refuses it.
    Es256Signed,
    /// The ID token's `nbf` is 10 minutes in the future.
    NotYetValid,
    /// The ID token's `iat` is an hour old (its `exp` is still in the future): older than the
    /// 10 minutes a client accepts by default.
    StaleIssuedAt,
    /// `c_hash` is computed over a different authorization code.
    WrongCodeHash,
    /// The token response's `token_type` is `DPoP` instead of `Bearer`.
    WrongTokenType,
    /// The token response's `expires_in` is `u64::MAX` (a valid response otherwise: the client
    /// must clamp it, and must not overflow).
    HugeExpiresIn,
    /// `aud` is `[client_id, "testkit-project"]` and `azp` is the client: acceptable only to a
    /// client that trusts `testkit-project` as an extra audience (Zitadel adds its project id).
    ExtraAudience,
    /// `aud` is only the client, but `azp` is `another-client`.
    ForeignAzp,
    /// The ID token has no `kid` and is signed with the second of the two published RSA keys
    /// (`testkit-rs256-2`): valid, the client must try each key that fits.
    NoKidSeveralKeys,
    /// The ID token's `sub` is `u-9999-someone-else` (acceptable at a login; a refreshed ID token
    /// must keep the login's `sub`).
    OtherSubject,
    /// The ID token's `auth_time` is one second later than the sign-in (acceptable at a login;
    /// a refreshed ID token must keep the login's `auth_time`).
    ChangedAuthTime,
}

impl Tamper {
    /// Every variant, [`Tamper::None`] first: handy to run one test per misbehaviour.
    pub const ALL: &'static [Tamper] = &[
        Tamper::None,
        Tamper::WrongAudience,
        Tamper::WrongIssuer,
        Tamper::ExpiredIdToken,
        Tamper::IssuedInFuture,
        Tamper::WrongNonce,
        Tamper::MissingNonce,
        Tamper::BadSignature,
        Tamper::AlgNone,
        Tamper::HmacWithPublicKey,
        Tamper::UnknownKid,
        Tamper::WrongAtHash,
        Tamper::OversizedIdToken,
        Tamper::AzpMismatch,
        Tamper::WrongIssInCallback,
        Tamper::MissingIssInCallback,
        Tamper::TokenEndpointError,
        Tamper::GarbageTokenResponse,
        Tamper::Es256Signed,
        Tamper::NotYetValid,
        Tamper::StaleIssuedAt,
        Tamper::WrongCodeHash,
        Tamper::WrongTokenType,
        Tamper::HugeExpiresIn,
        Tamper::ExtraAudience,
        Tamper::ForeignAzp,
        Tamper::NoKidSeveralKeys,
        Tamper::OtherSubject,
        Tamper::ChangedAuthTime,
    ];

    /// Whether this variant changes the ID token (as opposed to the authorization response or
    /// the token endpoint's answer as a whole).
    pub fn affects_id_token(self) -> bool {
        !matches!(
            self,
            Tamper::None
                | Tamper::WrongIssInCallback
                | Tamper::MissingIssInCallback
                | Tamper::TokenEndpointError
                | Tamper::GarbageTokenResponse
                | Tamper::WrongTokenType
                | Tamper::HugeExpiresIn
        )
    }

    /// Whether a correct client with the default configuration refuses a login through a
    /// provider misbehaving like this. The others are valid answers a client must cope with
    /// ([`Tamper::HugeExpiresIn`], [`Tamper::NoKidSeveralKeys`]) or that only a refresh must
    /// refuse ([`Tamper::OtherSubject`], [`Tamper::ChangedAuthTime`]).
    pub fn refused_at_login(self) -> bool {
        !matches!(
            self,
            Tamper::None
                | Tamper::HugeExpiresIn
                | Tamper::NoKidSeveralKeys
                | Tamper::OtherSubject
                | Tamper::ChangedAuthTime
        )
    }
}

/// The extra audience of [`Tamper::ExtraAudience`].
pub(super) const EXTRA_AUDIENCE: &str = "testkit-project";

/// The `sub` of [`Tamper::OtherSubject`].
pub(super) const OTHER_SUBJECT: &str = "u-9999-someone-else";

/// The size of [`Tamper::OversizedIdToken`]'s padding claim.
pub(super) const OVERSIZED_PADDING: usize = 100_000;

/// The `aud`/`azp` value used by [`Tamper::WrongAudience`] and [`Tamper::AzpMismatch`].
pub(super) const OTHER_CLIENT: &str = "another-client";

/// The wrong issuer used by [`Tamper::WrongIssuer`] and [`Tamper::WrongIssInCallback`].
pub(super) fn wrong_issuer(issuer: &str) -> String {
    format!("{issuer}/not-the-issuer")
}
