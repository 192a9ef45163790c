//! Access tokens: requests that carry `Authorization: Bearer <token>` (RFC 6750) or
//! `Authorization: DPoP <token>` with a proof (RFC 9449) are authenticated by the token alone,
//! never by the session cookie, never redirected, and never create or touch a session.
//!
//! A token is checked once and then found in the [token cache](crate::state::token_cache) by its SHA-256 (the token itself is
//! never kept nor logged; logs name it by [`fingerprint`](crate::state::token_cache::fingerprint)):
//! - a JWT (RFC 9068, [`jwt`]): the provider of its issuer whose `api_audience` it names, the
//!   provider's keys, `typ`, times, subject, client;
//! - an opaque token, at the one provider with `introspection = true` ([`introspect`], RFC 7662).
//!
//! Its claims then go through the login's mapping (required claims, username, groups, roles:
//! `admission::identify`), and a user's through the account resolver as a lookup (a token
//! never creates or links an account); a machine's (client credentials) skips it. A DPoP-bound
//! token (`cnf.jkt`) is accepted only under the DPoP scheme with a valid proof of the bound
//! key, checked at every request (a cache hit too). Refusals are RFC 6750 / RFC 9449
//! challenges with problem+json bodies ([`error`]).

mod dpop;
pub(crate) mod error;
mod header;
mod introspect;
mod jwt;

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, Response};
use serde_json::{Map, Value};

use crate::accounts::{Resolution, ResolveRequest};
use crate::admission::{AdmissionError, identify};
use crate::identity::{Authentication, Identity};
use crate::pages::PageBody;
use crate::state::Shared;
use crate::state::token_cache::{
    BearerState, Entry, INACTIVE_TTL, Known, TokenHash, Verified, fingerprint, token_hash,
};
use error::BearerError;
use header::Presented;
pub(crate) use header::Scheme;
use introspect::{Introspection, IntrospectionClient};

/// A presented token found in the cache (or just verified).
pub(crate) struct Found {
    scheme: Scheme,
    hash: TokenHash,
    entry: Arc<Entry>,
}

/// A presented token not seen before: to verify (cold, async).
pub(crate) struct Pending {
    scheme: Scheme,
    hash: TokenHash,
    token: String,
}

/// Why the request is answered by the bearer path: the error, and how the token came (for
/// the challenge's scheme).
#[derive(Debug)]
pub(crate) struct Refusal {
    error: BearerError,
    scheme: Option<Scheme>,
    /// The token is DPoP-bound (its challenge is a DPoP one whatever the scheme).
    bound: bool,
}

impl Refusal {
    /// The answer: RFC 6750 / RFC 9449 challenge and problem+json.
    pub(crate) fn into_response(self, bearer: &BearerState) -> Response<PageBody> {
        self.error
            .into_response(&bearer.realm, self.scheme, self.bound)
    }
}

/// The first, synchronous step: what the request's `Authorization` header presents.
pub(crate) enum Lookup {
    /// No `Bearer`/`DPoP` credential: the request goes on as without the bearer path.
    NotOurs,
    Found(Found),
    Unknown(Pending),
    Refused(Refusal),
}

/// Reads the `Authorization` header and looks its token up in the cache.
pub(crate) fn lookup(bearer: &BearerState, headers: &HeaderMap) -> Lookup {
    match header::presented(headers) {
        Presented::Nothing => Lookup::NotOurs,
        Presented::Malformed(why) => {
            tracing::info!(why, "malformed Authorization header");
            Lookup::Refused(Refusal {
                error: BearerError::InvalidRequest(why),
                scheme: None,
                bound: false,
            })
        }
        // Refused before it is hashed or copied.
        Presented::Token { scheme, token } if token.len() > jwt::MAX_TOKEN_BYTES => {
            Lookup::Refused(Refusal {
                error: BearerError::invalid_token("the access token is too large"),
                scheme: Some(scheme),
                bound: false,
            })
        }
        Presented::Token { scheme, token } => {
            let hash = token_hash(token);
            match bearer.cache.get(&hash) {
                Some(entry) => Lookup::Found(Found {
                    scheme,
                    hash,
                    entry,
                }),
                None => Lookup::Unknown(Pending {
                    scheme,
                    hash,
                    token: token.to_owned(),
                }),
            }
        }
    }
}

/// Verifies a token not in the cache and caches the outcome (refusals that are the token's
/// fault are not cached, except an introspection's `active: false`).
pub(crate) async fn verify(
    shared: &Shared,
    bearer: &BearerState,
    pending: Pending,
) -> Result<Found, Refusal> {
    let now = SystemTime::now();
    match check(shared, bearer, &pending.token, now).await {
        Ok((known, until)) => {
            if let Known::Valid(verified) = &known {
                tracing::debug!(
                    token = %fingerprint(&pending.hash),
                    sub = verified.identity.sub(),
                    provider = verified.identity.provider(),
                    "access token verified"
                );
            }
            let entry = bearer
                .cache
                .insert(pending.hash, pending.token.len(), known, until);
            Ok(Found {
                scheme: pending.scheme,
                hash: pending.hash,
                entry,
            })
        }
        Err(error) => {
            tracing::info!(token = %fingerprint(&pending.hash), error = ?error, "access token refused");
            Err(Refusal {
                error,
                scheme: Some(pending.scheme),
                bound: false,
            })
        }
    }
}

/// The last, synchronous step: the identity of a known token, once its binding is checked
/// against the scheme and (for DPoP) the request's proof.
pub(crate) fn accept(
    shared: &Shared,
    found: &Found,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Identity, Refusal> {
    let refuse = |error: BearerError, bound: bool| {
        tracing::info!(token = %fingerprint(&found.hash), error = ?error, "access token refused");
        Err(Refusal {
            error,
            scheme: Some(found.scheme),
            bound,
        })
    };
    let verified = match &found.entry.known {
        Known::Valid(verified) => verified,
        Known::Inactive => {
            return refuse(
                BearerError::invalid_token("the access token is not active"),
                false,
            );
        }
    };
    match (found.scheme, verified.jkt) {
        (Scheme::Bearer, None) => Ok(verified.identity.clone()),
        (Scheme::Bearer, Some(_)) => refuse(
            BearerError::invalid_token(
                "the access token is bound to a key: present it with the DPoP scheme and a proof",
            ),
            true,
        ),
        (Scheme::Dpop, None) => refuse(
            BearerError::invalid_token("the access token is not DPoP-bound"),
            false,
        ),
        (Scheme::Dpop, Some(jkt)) => match check_proof(shared, jkt, method, path, headers) {
            Ok(()) => Ok(verified.identity.clone()),
            Err(error) => refuse(error, true),
        },
    }
}

/// RFC 9449 section 4.3 and 7.1: exactly one `DPoP` header, a valid proof for this request
/// and this token, signed with the key the token is bound to, not seen before.
fn check_proof(
    shared: &Shared,
    jkt: [u8; 32],
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), BearerError> {
    let mut proofs = headers.get_all("dpop").iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return Err(BearerError::invalid_proof(
            "exactly one DPoP proof header is needed",
        ));
    };
    let proof = proof
        .to_str()
        .map_err(|_| BearerError::invalid_proof("the DPoP proof is malformed"))?;
    let Presented::Token { token, .. } = header::presented(headers) else {
        return Err(BearerError::InvalidRequest("no access token"));
    };
    // RFC 9449 4.3 item 9: the request's URI without query and fragment, as the client saw it.
    let htu = dpop::request_htu(&shared.config.external, path);
    let check = dpop::ProofCheck {
        method,
        htu: &htu,
        access_token: token,
        now: SystemTime::now(),
        leeway: shared.config.clock_leeway,
    };
    let proof = dpop::verify_proof(proof, &check).map_err(BearerError::from)?;
    if !proof.matches(&jkt) {
        return Err(dpop::DpopError::KeyMismatch.into());
    }
    if !shared
        .durable
        .dpop_replay
        .first_use(proof.replay_key(), proof.remember_for)
    {
        return Err(dpop::DpopError::Replayed.into());
    }
    Ok(())
}

/// Every check of a token not seen before: what is known of it, and until when.
async fn check(
    shared: &Shared,
    bearer: &BearerState,
    token: &str,
    now: SystemTime,
) -> Result<(Known, SystemTime), BearerError> {
    if token.len() > jwt::MAX_TOKEN_BYTES {
        return Err(BearerError::invalid_token("the access token is too large"));
    }
    if !jwt::looks_like_jwt(token) {
        return match bearer.introspecting {
            Some(index) => introspected(shared, index, token, now).await,
            None => Err(BearerError::invalid_token("the access token is malformed")),
        };
    }
    let checked = jwt::verify(shared, token, now).await?;
    let jkt = binding(&checked.claims)?;
    let identity = admit(
        shared,
        checked.provider,
        checked.claims,
        Some(checked.client_id),
        jkt.is_some(),
    )
    .await?;
    Ok((Known::Valid(Verified { identity, jkt }), checked.expires))
}

/// The token's DPoP binding (`cnf.jkt`). A `cnf` naming another kind of key (an mTLS
/// certificate, RFC 8705) is a binding this layer cannot check: such a token is refused rather
/// than accepted as a plain bearer token.
fn binding(claims: &Map<String, Value>) -> Result<Option<[u8; 32]>, BearerError> {
    dpop::jkt_of(claims.get("cnf")).map_err(|e| BearerError::invalid_token(e.to_string()))
}

/// An opaque token, at the introspecting provider: `active`, then the same audience, issuer
/// and time rules as a JWT's (RFC 7662 section 4: the resource server checks them).
async fn introspected(
    shared: &Shared,
    index: usize,
    token: &str,
    now: SystemTime,
) -> Result<(Known, SystemTime), BearerError> {
    let provider = &shared.providers[index];
    let settings = &provider.settings;
    let discovered = provider.client.discovered().await.map_err(|e| {
        tracing::warn!(provider = %settings.slug, error = %e, "opaque access token not checked: the provider is unavailable");
        BearerError::Unavailable
    })?;
    let Some(endpoint) = discovered.metadata.introspection_endpoint.as_ref() else {
        tracing::error!(provider = %settings.slug, "introspection is configured but the provider advertises no introspection_endpoint");
        return Err(BearerError::Unavailable);
    };
    let client = IntrospectionClient {
        http: &shared.durable.http,
        endpoint,
        client_id: &settings.client_id,
        client_secret: settings.client_secret.as_ref().map(|s| s.expose()),
        post_auth: discovered.metadata.uses_client_secret_post(),
    };
    let mut claims = match introspect::introspect(&client, token).await {
        Ok(Introspection::Active(claims)) => claims,
        Ok(Introspection::Inactive) => return Ok((Known::Inactive, now + INACTIVE_TTL)),
        Err(e) => {
            tracing::warn!(provider = %settings.slug, error = %e, "token introspection failed");
            return Err(BearerError::Unavailable);
        }
    };
    // Introspection answers for refresh tokens too (`token_type_hint` is only a hint): a
    // token typed as anything but an access token is not one.
    if let Some(kind) = claims.get("token_type").and_then(Value::as_str)
        && !kind.eq_ignore_ascii_case("bearer")
        && !kind.eq_ignore_ascii_case("dpop")
    {
        return Err(BearerError::invalid_token(
            "the token is not an access token",
        ));
    }
    let aud = jwt::audiences(claims.get("aud"));
    if !settings
        .api_audiences
        .iter()
        .any(|a| aud.contains(&a.as_str()))
    {
        return Err(BearerError::invalid_token(
            "the access token is not for this API",
        ));
    }
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss != discovered.metadata.issuer => {
            return Err(BearerError::invalid_token(
                "the access token's issuer is not trusted here",
            ));
        }
        Some(_) => {}
        None => {
            claims.insert("iss".into(), discovered.metadata.issuer.clone().into());
        }
    }
    let leeway = shared.config.clock_leeway;
    let time = |name| {
        jwt::numeric_date(&claims, name)
            .map_err(|()| BearerError::invalid_token("the introspected token has a malformed time"))
    };
    let exp = time("exp")?;
    if exp.is_some_and(|exp| exp.checked_add(leeway).is_some_and(|end| end <= now)) {
        return Err(BearerError::invalid_token("the access token has expired"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(BearerError::invalid_token(
            "the access token is not valid yet (nbf)",
        ));
    }
    let client_id = claims
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    // A client-credentials token has no user: the client is the subject.
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let Some(client) = &client_id else {
            return Err(BearerError::invalid_token(
                "the access token names neither a subject nor a client",
            ));
        };
        claims.insert("sub".into(), client.clone().into());
    }
    let jkt = binding(&claims)?;
    let reuse_until = now + shared.config.introspection_cache;
    let until = exp.map_or(reuse_until, |exp| exp.min(reuse_until));
    let identity = admit(shared, index, claims, client_id, jkt.is_some()).await?;
    Ok((Known::Valid(Verified { identity, jkt }), until))
}

/// The login's mapping for a token's claims (required claims, username, groups, roles), what
/// the token says beyond them, and the account: a user's through the resolver as a lookup, a
/// machine's none.
async fn admit(
    shared: &Shared,
    index: usize,
    claims: Map<String, Value>,
    client_id: Option<String>,
    bound: bool,
) -> Result<Identity, BearerError> {
    let provider = &shared.providers[index];
    let settings = &provider.settings;
    let scopes = scopes_of(&claims);
    let machine = is_machine(&claims, client_id.as_deref());
    let identity = identify(provider, claims).map_err(|e| match e {
        AdmissionError::NoSubject => BearerError::invalid_token("the access token has no subject"),
        AdmissionError::RequiredClaim { claim } => {
            BearerError::Forbidden(format!("The access token's `{claim}` claim is not true."))
        }
        AdmissionError::NoRole => {
            BearerError::Forbidden("The access token's user has no role in this app.".into())
        }
        AdmissionError::Refused { reason, .. } => BearerError::Forbidden(reason),
        AdmissionError::AccountStore(_) => BearerError::Unavailable,
    })?;
    let authentication = if bound {
        Authentication::Dpop
    } else {
        Authentication::Bearer
    };
    let identity = identity.with_token(authentication, scopes, client_id, machine);
    if machine {
        return Ok(identity);
    }
    let request = ResolveRequest::new(&settings.slug, settings.allow_new_users, &identity, None)
        .with_provider_name(&settings.name)
        .lookup_only();
    match shared.durable.accounts.resolve(request).await {
        Ok(Resolution::Account(account)) => Ok(identity.with_account(account.id, account.username)),
        Ok(Resolution::Refused { reason }) => {
            tracing::info!(sub = identity.sub(), reason = %reason, "access token refused by the account resolver");
            Err(BearerError::Forbidden(reason))
        }
        Err(e) => {
            tracing::error!(error = %e, "account store failed");
            Err(BearerError::Unavailable)
        }
    }
}

/// The token's scopes: `scope` (RFC 9068 section 2.2.3, space-separated), else `scp` (a list,
/// or Entra ID's space-separated string).
fn scopes_of(claims: &Map<String, Value>) -> Vec<String> {
    let words = |s: &str| {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => words(scope),
        (_, Some(Value::String(scp))) => words(scp),
        (_, Some(Value::Array(scp))) => scp
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the token was issued to a client for itself (client credentials): its subject is
/// the client (RFC 9068 section 2.2, and Auth0's `<client>@clients`), or the provider says so
/// (Auth0's `gty`, Entra ID's `idtyp`).
fn is_machine(claims: &Map<String, Value>, client_id: Option<&str>) -> bool {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let sub = text("sub");
    client_id.is_some_and(|client| {
        sub == Some(client) || sub.and_then(|s| s.strip_suffix("@clients")) == Some(client)
    }) || text("gty") == Some("client-credentials")
        || text("idtyp") == Some("app")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(
            scopes_of(&claims(json!({"scope": "read  write"}))),
            ["read", "write"]
        );
        assert_eq!(
            scopes_of(&claims(json!({"scp": ["a", 1, "b"]}))),
            ["a", "b"]
        );
        assert_eq!(
            scopes_of(&claims(json!({"scp": "User.Read Mail.Send"}))),
            ["User.Read", "Mail.Send"]
        );
        assert_eq!(
            scopes_of(&claims(json!({"scope": "x", "scp": ["y"]}))),
            ["x"]
        );
        assert!(scopes_of(&claims(json!({"scope": 3}))).is_empty());
    }

    #[test]
    fn machines_are_clients_acting_for_themselves() {
        let machine = |c: Value, client: Option<&str>| is_machine(&claims(c), client);
        assert!(machine(json!({"sub": "cli"}), Some("cli")));
        assert!(machine(json!({"sub": "cli@clients"}), Some("cli")));
        assert!(machine(
            json!({"sub": "x", "gty": "client-credentials"}),
            None
        ));
        assert!(machine(json!({"sub": "x", "idtyp": "app"}), Some("c")));
        assert!(!machine(json!({"sub": "u-1"}), Some("cli")));
        assert!(!machine(json!({"sub": "cli"}), None));
        assert!(!machine(json!({"sub": "other@clients"}), Some("cli")));
    }

    #[test]
    fn only_dpop_bindings_are_accepted() {
        assert_eq!(binding(&claims(json!({}))).unwrap(), None);
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        assert!(
            binding(&claims(json!({"cnf": {"jkt": jkt}})))
                .unwrap()
                .is_some()
        );
        // An mTLS-bound token (RFC 8705) cannot be checked here: refused, not accepted as plain.
        assert!(matches!(
            binding(&claims(json!({"cnf": {"x5t#S256": "abc"}}))),
            Err(BearerError::InvalidToken(_))
        ));
        assert!(binding(&claims(json!({"cnf": {"jkt": "short"}}))).is_err());
    }
}
