//! [`RedisStore`]: session records in Redis, shared by every instance of an app.
//!
//! The key layout is in [`RedisStore`]'s docs. Beside the store and its `SessionStore` impl:
//! `config` ([`RedisConfig`]), `connection` (one Redis or a Redis Cluster), `scripts` (the Lua
//! scripts every write runs), `cluster` (the writes on Redis Cluster, with their scripts) and
//! `feed` (the `ChangeFeed` over pub/sub).

mod cluster;
mod config;
mod connection;
mod feed;
mod scripts;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{decode, encode, expire_at_ms};
#[cfg(feature = "fuzzing")]
pub use crate::codec::{decode_record, encode_record};
pub use config::RedisConfig;
use connection::{Connection, Handle, node_client};
use scripts::{CREATE, DELETE, DELETE_TAGGED, LIST_TAGGED, SAVE, TRIM_TAGGED, TRY_LOCK, UNLOCK};

use crate::{Error, Lease, Record, SessionId, SessionStore};

/// A [`SessionStore`] in Redis: every instance of an app pointed at the same Redis (and key
/// prefix) shares the sessions.
///
/// One multiplexed connection carries every request (`redis`'s `ConnectionManager`; on Redis
/// Cluster one per node, see below): when
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
/// | `P` `t:` *tag* | set (on Redis Cluster: sorted set, see below) | fingerprints of the records carrying the tag. Expires with the longest-lived record ever added; members whose record is gone are pruned on every add and by `delete_tagged`. |
/// | `P` `l:` *fingerprint* | string | the session's lock ([`SessionStore::try_lock`]): the holder's [`Lease`]. Expires (`PX`) after the lock's time to live; taken and released by scripts. |
/// | `P` `changes` | pub/sub channel | the fingerprint of every record saved or deleted (see [`TwoTierStore`](crate::TwoTierStore)). |
///
/// Keys hold the session id's [`Fingerprint`](crate::Fingerprint) (SHA-256), never the id
/// itself: reading Redis does not give anyone a session. On a single Redis every write is one
/// Lua script, so it is atomic: `create` writes only when the key is absent, `save` only when
/// it exists (a save after a delete or an expiry never brings the session back), and the tag
/// index changes in the same step.
///
/// # Redis Cluster
///
/// [`RedisConfig::cluster`] connects through redis-rs's cluster client, which sends each
/// command to the master owning its key's hash slot, follows `MOVED`/`ASK` redirections and
/// re-reads the slot map when a node fails. Keys carry no hash tag, so sessions, and one
/// user's sessions, spread over every master (do not put a hash tag such as `{oidc}` in the
/// key prefix: it would send every key to one master).
///
/// A script may only touch the keys of one slot, and a record and its tags' sets live in
/// different slots. So on a cluster every script touches one key, and what was one step
/// takes two, ordered so that `delete_tagged` never misses a record:
///
/// * A tag's key `P` `t:` *tag* is a sorted set: member = fingerprint, score = the record's
///   expiry in ms, raised by every save (`ZADD GT`). Every add prunes the members whose score
///   has passed (their records have expired), and the set expires with its last member.
/// * `create` and `save` first add the session to its tags' sets, then write the record (one
///   script: `create` only when the key is absent, `save` only when it exists). A crash in
///   between leaves a member without a record, which is harmless, never a record its tags
///   cannot find.
/// * `delete_tagged` reads the set, then deletes each record that carries the tag (one script
///   per record, so each is deleted, counted and published once); `trim_tagged` reads each
///   member's tags and lifetime first, then deletes the same way. Members whose record is
///   missing or no longer carries the tag stay until their score passes: a create or a save
///   may be adding them right now. A deleted record leaves its tags' sets afterwards.
/// * Not atomic any more: `delete_tagged` and `trim_tagged` as a whole. A session created with
///   the tag while `delete_tagged` runs may outlive it (as if created just after it); run it
///   again to be sure. A tag dropped by a save keeps its member until the score passes
///   (`delete_tagged` checks the record's tags, so it does not delete it).
/// * Writes cost two round trips in sequence (the tags' sets, concurrently, then the record);
///   `load` and the locks one, as on a single Redis.
/// * The change feed: the scripts `PUBLISH` on the record's master, and a cluster forwards
///   classic pub/sub messages to every node, so each watching store subscribes on one of the
///   configured nodes and moves to the next one when it fails (forgetting its local tier on
///   every (re)subscription). Sharded pub/sub (`SPUBLISH`, Redis 7) is not used: it keeps a
///   message within the shard of its channel, a script may only publish to a channel its own
///   node serves (Redis 7.0 refuses others: "Script attempted to access a non local key"), and
///   every instance needs every change. The price: every node relays every
///   save and delete (never a load).
///
/// **Failover.** While a master is down, requests for its slots (and, once the others mark it
/// failed, with the default `cluster-require-full-coverage yes`, every request) fail with
/// [`Error::Backend`] after at most the response timeout; when a replica has taken over
/// (`cluster-node-timeout` plus an election) the client finds it by itself and requests work
/// again. Redis replicates asynchronously: a write the master acknowledged just before it died
/// may be missing on the replica that takes over. Such a lost write is a lost save (the
/// session goes back to its previous state, e.g. the refresh token before the last refresh), a
/// lost create (the new cookie points at nothing: the user logs in again) or a lost delete (a
/// logout undone: the session works again until it expires or is logged out again). The test
/// suite kills a master under load and counts these; see the crate's README.
pub struct RedisStore<T> {
    inner: Arc<Inner>,
    _records: PhantomData<fn() -> T>,
}

struct Inner {
    /// What the change feed subscribes through: the one server, or the cluster's seed nodes
    /// (tried in turn; classic pub/sub reaches every node of a cluster).
    subscribers: Vec<redis::Client>,
    connection: Connection,
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

impl<T> RedisStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A store for `config`, without contacting Redis yet: the connection is made on first use
    /// (and re-made whenever it breaks). Fails only on a malformed URL.
    ///
    /// Needs a Tokio runtime.
    pub fn open(config: RedisConfig) -> Result<Self, Error> {
        let subscribers = config
            .urls
            .iter()
            .map(|url| node_client(url, &config))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        if subscribers.is_empty() {
            return Err(backend(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "no Redis URL",
            ))));
        }
        let connection = Connection::open(&config).map_err(backend)?;
        if config.cluster
            && let Some(open) = config.key_prefix.find('{')
            && config.key_prefix[open + 1..]
                .find('}')
                .is_some_and(|close| close > 0)
        {
            tracing::warn!(
                prefix = config.key_prefix,
                "the Redis key prefix holds a hash tag: on a cluster, every session goes to one master"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                subscribers,
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
        F: FnMut(Handle) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<R>>,
    {
        let handle = self.inner.connection.handle().await.map_err(backend)?;
        match operation(handle).await {
            // The cluster client retries by itself (within the response timeout).
            Err(e)
                if (e.is_connection_dropped() || e.is_connection_refusal())
                    && !self.inner.config.cluster =>
            {
                let handle = self.inner.connection.handle().await.map_err(backend)?;
                operation(handle).await.map_err(backend)
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

#[async_trait]
impl<T> SessionStore<T> for RedisStore<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn create(&self, record: Record<T>) -> Result<SessionId, Error> {
        if self.inner.config.cluster {
            return self.cluster_create(record).await;
        }
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
        if self.inner.config.cluster {
            return self.cluster_save(id, &record).await;
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
        if self.inner.config.cluster {
            return self.cluster_delete_tagged(tag).await;
        }
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
        if self.inner.config.cluster {
            return self.cluster_trim_tagged(tag, keep, spare).await;
        }
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

    async fn list_tagged(&self, tag: &str, limit: usize) -> Result<Vec<Arc<Record<T>>>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if self.inner.config.cluster {
            return self.cluster_list_tagged(tag, limit).await;
        }
        let mut invocation = LIST_TAGGED.key(self.tag_key(tag));
        invocation.arg(&self.inner.prefix).arg(tag).arg(limit);
        let invocation = &invocation;
        let fields: Vec<Vec<u8>> = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        let now = SystemTime::now();
        let mut records = Vec::with_capacity(fields.len() / 2);
        for pair in fields.chunks_exact(2) {
            let record: Record<T> = decode(&pair[0], Some(&pair[1]))?;
            // Redis keeps a key up to a millisecond longer than its record lives.
            if !record.is_expired_at(now) {
                records.push(Arc::new(record));
            }
        }
        Ok(records)
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
        if self.inner.config.cluster {
            return self.cluster_delete(id).await;
        }
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
