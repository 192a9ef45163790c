//! [`RedisStore`]: session records in Redis, shared by every instance of an app.
//!
//! The key layout is in [`RedisStore`]'s docs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::two_tier::{ChangeFeed, Invalidate};
use crate::{Error, Fingerprint, Lease, Record, SessionId, SessionStore};

/// The first byte of every stored value: the encoding that follows (JSON, version 1).
const FORMAT_JSON_V1: u8 = 1;

/// How a [`RedisStore`] connects and names its keys.
///
/// ```
/// use std::time::Duration;
/// use session_store::RedisConfig;
///
/// let config = RedisConfig::new("rediss://:s3cret@redis.internal:6380/2")
///     .key_prefix("myapp:sessions:")
///     .response_timeout(Duration::from_secs(1));
/// // The password never shows up in logs.
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    key_prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// PEM certificates trusted instead of the system's roots (`rediss://`).
    tls_roots: Option<Vec<u8>>,
    /// PEM certificate and key presented to Redis (`rediss://`).
    tls_client: Option<(Vec<u8>, Vec<u8>)>,
}

impl RedisConfig {
    /// The default key prefix.
    pub const DEFAULT_KEY_PREFIX: &'static str = "oidc-layer:";

    /// Connects to `url`: `redis://[:password@]host[:port][/db]`, `rediss://...` for TLS
    /// (rustls, the system's root certificates), or `redis+unix:///path/to/socket`. Usernames
    /// (Redis 6 ACL) go before the password: `redis://user:password@host`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            tls_roots: None,
            tls_client: None,
        }
    }

    /// Prepends `prefix` to every key and to the invalidation channel (default
    /// `oidc-layer:`). Apps sharing one Redis database need different prefixes.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long connecting may take before an operation fails (default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long Redis may take to answer before an operation fails (default 2 s): what a
    /// request waits at most when Redis hangs.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// For `rediss://`: trusts the CA certificates in `pem` (one or more PEM blocks) instead of
    /// the system's roots, for a Redis whose certificate comes from a private CA.
    #[must_use]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// For `rediss://`: presents this client certificate and its private key (both PEM) to
    /// Redis, which asks for one by default when TLS is on (`tls-auth-clients yes`).
    #[must_use]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_client = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// The URL without its password, for logs.
    pub fn redacted_url(&self) -> String {
        match url_password_span(&self.url) {
            Some((start, end)) => format!("{}***{}", &self.url[..start], &self.url[end..]),
            None => self.url.clone(),
        }
    }
}

/// Where the password sits in `scheme://user:password@host...`, if anywhere.
fn url_password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let at = url[authority_start..authority_end].rfind('@')? + authority_start;
    let colon = url[authority_start..at].find(':')? + authority_start;
    Some((colon + 1, at))
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("tls_root_certificates", &self.tls_roots.is_some())
            .field("tls_client_certificate", &self.tls_client.is_some())
            .finish()
    }
}

/// A [`SessionStore`] in Redis: every instance of an app pointed at the same Redis (and key
/// prefix) shares the sessions.
///
/// One multiplexed connection carries every request (`redis`'s [`ConnectionManager`]): when
/// Redis goes away, operations fail with [`Error::Backend`] (after at most the response
/// timeout) and the connection is re-established by itself once Redis is back.
///
/// Records are serialized (`T: Serialize + DeserializeOwned`): a `load` is a network round
/// trip and a decode. Put a [`TwoTierStore`](crate::TwoTierStore) in front to serve hot
/// sessions from memory.
///
/// Clones share the connection.
///
/// # Layout
///
/// With the key prefix `P` (default `oidc-layer:`):
///
/// | key | type | what |
/// |---|---|---|
/// | `P` `s:` *fingerprint* | hash | one record: field `v` = format byte `1` + JSON `{"e": expiry in ns since the epoch, "d": data}`, field `t` = the tags as a JSON array. Expires (`PEXPIREAT`) with the record. |
/// | `P` `t:` *tag* | set | fingerprints of the records carrying the tag. Expires with the longest-lived record ever added; members whose record is gone are pruned on every add and by `delete_tagged`. |
/// | `P` `l:` *fingerprint* | string | the session's lock ([`SessionStore::try_lock`]): the holder's [`Lease`]. Expires (`PX`) after the lock's time to live; taken and released by scripts. |
/// | `P` `changes` | pub/sub channel | the fingerprint of every record saved or deleted (see [`TwoTierStore`](crate::TwoTierStore)). |
///
/// Keys hold the session id's [`Fingerprint`] (SHA-256), never the id itself: reading Redis
/// does not give anyone a session. Every write is one Lua script, so it is atomic: `create`
/// writes only when the key is absent, `save` only when it exists (a save after a delete or
/// an expiry never brings the session back), and the tag index changes in the same step.
///
/// The scripts build tag keys from the prefix: on Redis Cluster, put a hash tag in the prefix
/// (e.g. `{oidc}:`) so that every key lives in one slot.
pub struct RedisStore<T> {
    inner: Arc<Inner>,
    _records: PhantomData<fn() -> T>,
}

struct Inner {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    channel: String,
    config: RedisConfig,
}

impl<T> Clone for RedisStore<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _records: PhantomData,
        }
    }
}

impl<T> fmt::Debug for RedisStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> Error {
    Error::Backend(Box::new(e))
}

fn codec(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Codec(Box::new(e))
}

impl<T> RedisStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A store for `config`, without contacting Redis yet: the connection is made on first use
    /// (and re-made whenever it breaks). Fails only on a malformed URL.
    ///
    /// Needs a Tokio runtime.
    pub fn open(config: RedisConfig) -> Result<Self, Error> {
        let client = if config.tls_roots.is_some() || config.tls_client.is_some() {
            let certificates = redis::TlsCertificates {
                client_tls: config.tls_client.as_ref().map(|(certificate, key)| {
                    redis::ClientTlsConfig {
                        client_cert: certificate.clone(),
                        client_key: key.clone(),
                    }
                }),
                root_cert: config.tls_roots.clone(),
            };
            redis::Client::build_with_tls(config.url.as_str(), certificates)
        } else {
            redis::Client::open(config.url.as_str())
        }
        .map_err(backend)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            // Few, quick retries: a request waits at most about a second for a reconnection
            // before it fails (and the next one tries again).
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), manager).map_err(backend)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                connection,
                channel: format!("{}changes", config.key_prefix),
                prefix: config.key_prefix.clone(),
                config,
            }),
            _records: PhantomData,
        })
    }

    /// [`open`](Self::open), then a `PING`: fails when Redis cannot be reached now (for apps
    /// that prefer to fail at start-up).
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        let store = Self::open(config)?;
        store.ping().await?;
        Ok(store)
    }
}

impl<T> RedisStore<T> {
    /// Sends `PING`: whether Redis answers right now.
    pub async fn ping(&self) -> Result<(), Error> {
        let ping = redis::cmd("PING");
        let _: String = self
            .run(|mut connection| {
                let ping = &ping;
                async move { ping.query_async(&mut connection).await }
            })
            .await?;
        Ok(())
    }

    /// Runs `operation` on the shared connection; once more when the connection turns out to
    /// be broken (Redis restarted, network blip): the manager reconnects on that error, and
    /// the retry goes through the new connection, or fails fast when Redis is still away.
    /// Timeouts are not retried.
    async fn run<R, F, Fut>(&self, mut operation: F) -> Result<R, Error>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<R>>,
    {
        match operation(self.inner.connection.clone()).await {
            Err(e) if e.is_connection_dropped() || e.is_connection_refusal() => {
                operation(self.inner.connection.clone())
                    .await
                    .map_err(backend)
            }
            outcome => outcome.map_err(backend),
        }
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    fn record_key(&self, fingerprint: &str) -> String {
        format!("{}s:{fingerprint}", self.inner.prefix)
    }

    fn lock_key(&self, id: &SessionId) -> String {
        format!("{}l:{}", self.inner.prefix, id.fingerprint().encode())
    }

    fn tag_key(&self, tag: &str) -> Vec<u8> {
        let mut key = self.inner.prefix.as_bytes().to_vec();
        key.extend_from_slice(b"t:");
        key.extend_from_slice(tag.as_bytes());
        key
    }
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

/// The key's `PEXPIREAT`: the record's expiry rounded up to the millisecond, so Redis never
/// drops a record before its own expiry (`load` checks the exact one).
fn expire_at_ms(at: SystemTime) -> u64 {
    nanos_since_epoch(at).div_ceil(1_000_000).max(1)
}

fn encode<T: Serialize>(record: &Record<T>) -> Result<(Vec<u8>, Vec<u8>), Error> {
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

fn decode<T: DeserializeOwned>(value: &[u8], tags: Option<&[u8]>) -> Result<Record<T>, Error> {
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

/// Helpers shared by the scripts. `index` adds a record to a tag's set, pushes the set's
/// expiry to the record's (so the set lives as long as its longest-lived record and no
/// longer), and prunes a few members whose record is gone, so a tag in constant use (a user
/// who logs in every day) does not collect dead members.
const LUA_HELPERS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function index(prefix, tag, fp, at)
  local set = prefix .. 't:' .. tag
  redis.call('SADD', set, fp)
  local ttl = redis.call('PTTL', set)
  if ttl < 0 or now_ms() + ttl < tonumber(at) then
    redis.call('PEXPIREAT', set, at)
  end
  for _, member in ipairs(redis.call('SRANDMEMBER', set, 8)) do
    if member ~= fp and redis.call('EXISTS', prefix .. 's:' .. member) == 0 then
      redis.call('SREM', set, member)
    end
  end
end
local function carries(tags, tag)
  for _, t in ipairs(tags) do
    if t == tag then return true end
  end
  return false
end
local function remove(prefix, fp, tags, channel)
  for _, tag in ipairs(tags) do redis.call('SREM', prefix .. 't:' .. tag, fp) end
  redis.call('DEL', prefix .. 's:' .. fp)
  redis.call('PUBLISH', channel, fp)
end
";

/// KEYS[1] record. ARGV: prefix, fingerprint, value, tags (JSON), expire at (ms), tag...
/// Returns 1 when created, 0 when the key exists.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 't', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
for i = 6, #ARGV do index(ARGV[1], ARGV[i], ARGV[2], ARGV[5]) end
return 1"
    ))
});

/// KEYS[1] record. ARGV: prefix, fingerprint, value, tags (JSON), expire at (ms), channel,
/// tag... Returns 1 when saved, 0 (and writes nothing) when the record is gone.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LUA_HELPERS}
local old = redis.call('HGET', KEYS[1], 't')
if not old then return 0 end
local keep = {{}}
for i = 7, #ARGV do keep[ARGV[i]] = true end
for _, tag in ipairs(cjson.decode(old)) do
  if not keep[tag] then redis.call('SREM', ARGV[1] .. 't:' .. tag, ARGV[2]) end
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 't', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
for i = 7, #ARGV do index(ARGV[1], ARGV[i], ARGV[2], ARGV[5]) end
redis.call('PUBLISH', ARGV[6], ARGV[2])
return 1"
    ))
});

/// KEYS[1] record. ARGV: prefix, fingerprint, channel. Returns 1 when a record was deleted.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[1], 't')
if not old then return 0 end
for _, tag in ipairs(cjson.decode(old)) do
  redis.call('SREM', ARGV[1] .. 't:' .. tag, ARGV[2])
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1",
    )
});

/// KEYS[1] the tag's set. ARGV: prefix, tag, channel. Deletes every live record that still
/// carries the tag (a save may have dropped it), then the set; returns how many.
static DELETE_TAGGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LUA_HELPERS}
local deleted = 0
for _, fp in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local old = redis.call('HGET', ARGV[1] .. 's:' .. fp, 't')
  if old then
    local tags = cjson.decode(old)
    if carries(tags, ARGV[2]) then
      remove(ARGV[1], fp, tags, ARGV[3])
      deleted = deleted + 1
    end
  end
end
redis.call('DEL', KEYS[1])
return deleted"
    ))
});

/// KEYS[1] the tag's set. ARGV: prefix, tag, channel, keep, spared fingerprint. Keeps the
/// spared record (if it carries the tag) and the others that expire last, `keep` in all;
/// deletes the rest and prunes members whose record is gone. Returns how many it deleted.
static TRIM_TAGGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LUA_HELPERS}
local others = {{}}
local keep = tonumber(ARGV[4])
for _, fp in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 's:' .. fp
  local old = redis.call('HGET', key, 't')
  if not old then
    redis.call('SREM', KEYS[1], fp)
  else
    local tags = cjson.decode(old)
    if not carries(tags, ARGV[2]) then
      redis.call('SREM', KEYS[1], fp)
    elseif fp == ARGV[5] then
      keep = keep - 1
    else
      table.insert(others, {{fp = fp, tags = tags, ttl = redis.call('PTTL', key)}})
    end
  end
end
table.sort(others, function(a, b) return a.ttl > b.ttl end)
local deleted = 0
for i, other in ipairs(others) do
  if i > keep then
    remove(ARGV[1], other.fp, other.tags, ARGV[3])
    deleted = deleted + 1
  end
end
return deleted"
    ))
});

/// Takes the lock `KEYS[1]` for lease `ARGV[1]` for `ARGV[2]` ms unless another lease holds it;
/// 1 when the lease holds it now. Idempotent, so a retry after a lost answer (`run` retries
/// once on a broken connection) does not mistake the first attempt's lock for someone else's.
static TRY_LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if held == ARGV[1] then return 1 end
return 0",
    )
});

/// Deletes the lock `KEYS[1]` if it holds the lease `ARGV[1]`.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
    )
});

#[async_trait]
impl<T> SessionStore<T> for RedisStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        let (value, tags) = encode(&record)?;
        let expire_at = expire_at_ms(record.expires_at);
        loop {
            let id = SessionId::generate()?;
            if record.is_expired_at(SystemTime::now()) {
                // Accepted, never returned: nothing to write.
                return Ok(id);
            }
            let fingerprint = id.fingerprint().encode();
            let mut invocation = CREATE.key(self.record_key(&fingerprint));
            invocation
                .arg(&self.inner.prefix)
                .arg(&fingerprint)
                .arg(&value)
                .arg(&tags)
                .arg(expire_at);
            for tag in &record.tags {
                invocation.arg(tag);
            }
            let invocation = &invocation;
            let created: i64 = self
                .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
                .await?;
            // With 256 random bits a collision (0) is not expected to ever happen.
            if created == 1 {
                return Ok(id);
            }
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<T>>>, Error> {
        let key = self.record_key(&id.fingerprint().encode());
        let mut command = redis::cmd("HMGET");
        command.arg(&key).arg("v").arg("t");
        let command = &command;
        let (value, tags): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .run(|mut connection| async move { command.query_async(&mut connection).await })
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let record = decode(&value, tags.as_deref())?;
        // Redis keeps the key up to a millisecond longer than the record lives.
        Ok((!record.is_expired_at(SystemTime::now())).then(|| Arc::new(record)))
    }

    async fn save(&self, id: &SessionId, record: Record<T>) -> Result<bool, Error> {
        if record.is_expired_at(SystemTime::now()) {
            // Saving an expired record ends the session: same as deleting it, but tells
            // whether there was one.
            return self.delete_existing(id).await;
        }
        let (value, tags) = encode(&record)?;
        let fingerprint = id.fingerprint().encode();
        let mut invocation = SAVE.key(self.record_key(&fingerprint));
        invocation
            .arg(&self.inner.prefix)
            .arg(&fingerprint)
            .arg(&value)
            .arg(&tags)
            .arg(expire_at_ms(record.expires_at))
            .arg(&self.inner.channel);
        for tag in &record.tags {
            invocation.arg(tag);
        }
        let invocation = &invocation;
        let saved: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(saved == 1)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.delete_existing(id).await.map(|_| ())
    }

    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let mut invocation = DELETE_TAGGED.key(self.tag_key(tag));
        invocation
            .arg(&self.inner.prefix)
            .arg(tag)
            .arg(&self.inner.channel);
        let invocation = &invocation;
        self.run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        let mut invocation = TRIM_TAGGED.key(self.tag_key(tag));
        invocation
            .arg(&self.inner.prefix)
            .arg(tag)
            .arg(&self.inner.channel)
            .arg(keep)
            .arg(spare.fingerprint().encode());
        let invocation = &invocation;
        self.run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        let lease = Lease::generate()?;
        let mut invocation = TRY_LOCK.key(self.lock_key(id));
        invocation
            .arg(lease.as_str())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let invocation = &invocation;
        let taken: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok((taken == 1).then_some(lease))
    }

    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        let mut invocation = UNLOCK.key(self.lock_key(id));
        invocation.arg(lease.as_str());
        let invocation = &invocation;
        let _: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(())
    }
}

impl<T> RedisStore<T> {
    /// Deletes the record of `id`; whether there was one.
    async fn delete_existing(&self, id: &SessionId) -> Result<bool, Error> {
        let fingerprint = id.fingerprint().encode();
        let mut invocation = DELETE.key(self.record_key(&fingerprint));
        invocation
            .arg(&self.inner.prefix)
            .arg(&fingerprint)
            .arg(&self.inner.channel);
        let invocation = &invocation;
        let deleted: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(deleted == 1)
    }
}

/// How often the subscription connection is pinged: a connection that stopped answering is
/// replaced within about twice this.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to subscribe while Redis is away.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(2);

/// Tells [`TwoTierStore`](crate::TwoTierStore)s about every record saved or deleted by any
/// instance, through the pub/sub channel `P` `changes`.
///
/// One task per watching store keeps a dedicated subscription connection: it pings it every
/// second, replaces it when it breaks, and on every (re)subscription tells the store to forget
/// its whole local tier (changes published while it was not subscribed are lost).
impl<T> ChangeFeed for RedisStore<T>
where
    T: Send + Sync + 'static,
{
    fn watch(&self, sink: Weak<dyn Invalidate>) {
        let client = self.inner.client.clone();
        let channel = self.inner.channel.clone();
        let timeout = self.inner.config.connect_timeout;
        tokio::spawn(subscribe(client, channel, timeout, sink));
    }
}

async fn subscribe(
    client: redis::Client,
    channel: String,
    timeout: Duration,
    sink: Weak<dyn Invalidate>,
) {
    let mut delay = Duration::from_millis(50);
    let mut failures = 0u32;
    while sink.strong_count() > 0 {
        let connected = tokio::time::timeout(timeout, async {
            let (mut commands, messages) = client.get_async_pubsub().await?.split();
            commands.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>((commands, messages))
        })
        .await;
        let (mut commands, mut messages) = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "cannot subscribe to session changes; retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
                continue;
            }
            Err(_) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("subscribing to session changes timed out; retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
                continue;
            }
        };
        // Whatever was published while unsubscribed is lost: start over.
        match sink.upgrade() {
            Some(sink) => sink.invalidate_all(),
            None => return,
        }
        tracing::info!(channel, "subscribed to session changes");
        delay = Duration::from_millis(50);
        failures = 0;
        let mut ping = tokio::time::interval(SUBSCRIPTION_PING);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let Some(sink) = sink.upgrade() else { return };
                    match Fingerprint::parse(message.get_payload_bytes()) {
                        Some(fingerprint) => sink.invalidate(&fingerprint),
                        // Not ours (or a future format): be safe.
                        None => sink.invalidate_all(),
                    }
                }
                _ = ping.tick() => {
                    if sink.strong_count() == 0 {
                        return;
                    }
                    let answered = tokio::time::timeout(
                        SUBSCRIPTION_PING,
                        commands.ping::<redis::Value>(),
                    )
                    .await;
                    if !matches!(answered, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        tracing::warn!(
            channel,
            "lost the subscription to session changes; resubscribing (meanwhile other instances' changes show within the staleness bound)"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_the_password_nor_the_client_key() {
        let config = RedisConfig::new("rediss://user:hunter2-secret@host:6380/0")
            .tls_client_certificate("CERTIFICATE", "PRIVATE-KEY-secret");
        let store_config = format!("{config:?}");
        assert!(!store_config.contains("secret"), "{store_config}");
        assert!(store_config.contains("rediss://user:***@host:6380/0"));
    }

    #[cfg(feature = "conformance")]
    #[test]
    fn the_test_servers_tls_settings_hide_the_private_key() {
        let tls = crate::redis_server::ServerTls {
            certificate_pem: "CERTIFICATE".into(),
            key_pem: "PRIVATE-KEY-secret".into(),
            client_ca_pem: "CA".into(),
        };
        assert!(!format!("{tls:?}").contains("secret"), "{tls:?}");
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:pw@host/1", "redis://:***@host/1"),
            (
                "rediss://user:p%40ss@host:6380",
                "rediss://user:***@host:6380",
            ),
            ("redis://user@host", "redis://user@host"),
            ("redis://host/0?x=a:b@c", "redis://host/0?x=a:b@c"),
        ] {
            assert_eq!(RedisConfig::new(url).redacted_url(), shown, "{url}");
        }
    }

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
