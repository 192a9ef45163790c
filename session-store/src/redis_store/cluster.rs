//! The writes of a [`RedisStore`] on Redis Cluster, where a script may touch the keys of one
//! hash slot only: each script here touches one key, and the tag index is kept in a second
//! step, ordered so that `delete_tagged` never misses a record (see "Redis Cluster" in
//! [`RedisStore`]'s docs).

use std::sync::LazyLock;

use futures_util::future::{join_all, try_join_all};
use redis::Script;

use super::RedisStore;
use std::sync::Arc;
use std::time::SystemTime;

use crate::codec::{decode, encode, expire_at_ms};
use crate::{Error, Record, SessionId};

/// How many requests one `delete_tagged`/`trim_tagged` (or one create's tags) keeps in flight.
const IN_FLIGHT: usize = 32;

/// A script run with `EVALSHA`, and `EVAL` when the node does not know it yet (a replica just
/// promoted by a failover has an empty script cache). `Script::invoke_async` would send
/// `SCRIPT LOAD` to every node instead, which fails while one of them is down.
struct ClusterScript {
    code: &'static str,
    hash: String,
}

impl ClusterScript {
    fn new(code: &'static str) -> Self {
        Self {
            code,
            hash: Script::new(code).get_hash().to_owned(),
        }
    }
}

/// KEYS[1] a tag's sorted set. ARGV: fingerprint, expire at (ms). Adds the fingerprint with
/// the record's expiry as its score (never lowering a score), prunes the members whose score
/// has passed (their record has expired: a save raises the score first) and lets the set
/// expire with its longest-lived member.
static INDEX: LazyLock<ClusterScript> = LazyLock::new(|| {
    ClusterScript::new(
        "local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or now + ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1",
    )
});

/// KEYS[1] record. ARGV: value, tags (JSON), expire at (ms). 1 when created, 0 when it exists.
static CREATE: LazyLock<ClusterScript> = LazyLock::new(|| {
    ClusterScript::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1",
    )
});

/// KEYS[1] record. ARGV: value, tags (JSON), expire at (ms), channel, fingerprint. 1 when
/// saved, 0 (and nothing written) when the record is gone.
static SAVE: LazyLock<ClusterScript> = LazyLock::new(|| {
    ClusterScript::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1",
    )
});

/// KEYS[1] record. ARGV: channel, fingerprint, and optionally a tag the record must carry.
/// Deletes the record (if it exists, and carries the tag) and returns its tags (JSON), else nil.
static DELETE: LazyLock<ClusterScript> = LazyLock::new(|| {
    ClusterScript::new(
        "local old = redis.call('HGET', KEYS[1], 't')
if not old then return false end
if ARGV[3] then
  local found = false
  for _, t in ipairs(cjson.decode(old)) do
    if t == ARGV[3] then found = true end
  end
  if not found then return false end
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return old",
    )
});

/// KEYS[1] record: its tags (JSON) and remaining lifetime (ms), or nil when it is gone.
static TAGS_AND_TTL: LazyLock<ClusterScript> = LazyLock::new(|| {
    ClusterScript::new(
        "local tags = redis.call('HGET', KEYS[1], 't')
if not tags then return false end
return {tags, redis.call('PTTL', KEYS[1])}",
    )
});

fn script_command(name: &str, body: &str, key: &[u8], args: &[&[u8]]) -> redis::Cmd {
    let mut command = redis::cmd(name);
    command.arg(body).arg(1).arg(key);
    for arg in args {
        command.arg(*arg);
    }
    command
}

impl<T> RedisStore<T> {
    /// Runs `script` on `key` with `args` (see [`ClusterScript`]).
    async fn eval<R: redis::FromRedisValue>(
        &self,
        script: &ClusterScript,
        key: &[u8],
        args: &[&[u8]],
    ) -> Result<R, Error> {
        let evalsha = script_command("EVALSHA", &script.hash, key, args);
        let eval = script_command("EVAL", script.code, key, args);
        let (evalsha, eval) = (&evalsha, &eval);
        self.run(|mut connection| async move {
            match evalsha.query_async(&mut connection).await {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    eval.query_async(&mut connection).await
                }
                outcome => outcome,
            }
        })
        .await
    }

    /// Adds `fingerprint` to the set of every tag in `tags` (concurrently).
    async fn index(&self, tags: &[String], fingerprint: &str, expire_at: u64) -> Result<(), Error> {
        let expire_at = expire_at.to_string();
        for chunk in tags.chunks(IN_FLIGHT) {
            try_join_all(
                chunk
                    .iter()
                    .map(|tag| self.index_one(tag, fingerprint, &expire_at)),
            )
            .await?;
        }
        Ok(())
    }

    async fn index_one(&self, tag: &str, fingerprint: &str, expire_at: &str) -> Result<(), Error> {
        let _: i64 = self
            .eval(
                &INDEX,
                &self.tag_key(tag),
                &[fingerprint.as_bytes(), expire_at.as_bytes()],
            )
            .await?;
        Ok(())
    }

    /// Removes `fingerprint` from the sets of `tags` (JSON), after its record was deleted. A
    /// failure only leaves a member that points to nothing, pruned when its score passes.
    async fn unindex(&self, tags: &[u8], fingerprint: &str) {
        let Ok(tags) = serde_json::from_slice::<Vec<String>>(tags) else {
            return;
        };
        for chunk in tags.chunks(IN_FLIGHT) {
            let outcomes =
                join_all(chunk.iter().map(|tag| self.unindex_one(tag, fingerprint))).await;
            if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
                tracing::debug!(error = %e, "could not unindex a deleted session (harmless)");
            }
        }
    }

    async fn unindex_one(&self, tag: &str, fingerprint: &str) -> Result<(), Error> {
        let mut command = redis::cmd("ZREM");
        command.arg(self.tag_key(tag)).arg(fingerprint);
        let command = &command;
        let _: i64 = self
            .run(|mut connection| async move { command.query_async(&mut connection).await })
            .await?;
        Ok(())
    }

    pub(super) async fn cluster_create<D>(&self, record: Record<D>) -> Result<SessionId, Error>
    where
        D: serde::Serialize,
    {
        let (value, tags) = encode(&record)?;
        let expire_at = expire_at_ms(record.expires_at);
        let expire_at_arg = expire_at.to_string();
        loop {
            let id = SessionId::generate()?;
            if record.is_expired_at(std::time::SystemTime::now()) {
                return Ok(id);
            }
            let fingerprint = id.fingerprint().encode();
            // Tags first: from the moment the record exists, delete_tagged finds it.
            self.index(&record.tags, &fingerprint, expire_at).await?;
            let created: i64 = self
                .eval(
                    &CREATE,
                    self.record_key(&fingerprint).as_bytes(),
                    &[&value, &tags, expire_at_arg.as_bytes()],
                )
                .await?;
            if created == 1 {
                return Ok(id);
            }
        }
    }

    pub(super) async fn cluster_save<D>(
        &self,
        id: &SessionId,
        record: &Record<D>,
    ) -> Result<bool, Error>
    where
        D: serde::Serialize,
    {
        let (value, tags) = encode(record)?;
        let fingerprint = id.fingerprint().encode();
        let expire_at = expire_at_ms(record.expires_at);
        // Tags first (raising their scores to the new expiry), as in create. Tags the save
        // drops keep the member until its score passes: delete_tagged checks the record's tags.
        self.index(&record.tags, &fingerprint, expire_at).await?;
        let saved: i64 = self
            .eval(
                &SAVE,
                self.record_key(&fingerprint).as_bytes(),
                &[
                    &value,
                    &tags,
                    expire_at.to_string().as_bytes(),
                    self.inner.channel.as_bytes(),
                    fingerprint.as_bytes(),
                ],
            )
            .await?;
        Ok(saved == 1)
    }

    /// Deletes the record of `fingerprint` (only if it carries `tag`, when given) and then
    /// unindexes it; whether it was deleted.
    async fn cluster_delete_fingerprint(
        &self,
        fingerprint: &str,
        tag: Option<&str>,
    ) -> Result<bool, Error> {
        let mut args: Vec<&[u8]> = vec![self.inner.channel.as_bytes(), fingerprint.as_bytes()];
        if let Some(tag) = tag {
            args.push(tag.as_bytes());
        }
        let old: Option<Vec<u8>> = self
            .eval(&DELETE, self.record_key(fingerprint).as_bytes(), &args)
            .await?;
        let Some(old) = old else {
            return Ok(false);
        };
        self.unindex(&old, fingerprint).await;
        Ok(true)
    }

    pub(super) async fn cluster_delete(&self, id: &SessionId) -> Result<bool, Error> {
        self.cluster_delete_fingerprint(&id.fingerprint().encode(), None)
            .await
    }

    /// Every fingerprint in the set of `tag` (some may point to records that are gone, or no
    /// longer carry the tag).
    async fn members(&self, tag: &str) -> Result<Vec<String>, Error> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(self.tag_key(tag)).arg(0).arg(-1);
        let command = &command;
        self.run(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    /// Deletes every record in the tag's set that carries the tag. Members whose record is
    /// gone or does not carry the tag stay (a create or save may be adding it right now); they
    /// leave when their score passes.
    pub(super) async fn cluster_delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        let members = self.members(tag).await?;
        self.delete_carrying(tag, &members).await
    }

    /// Deletes the records of `fingerprints` that carry `tag` (concurrently); how many.
    async fn delete_carrying(&self, tag: &str, fingerprints: &[String]) -> Result<u64, Error> {
        let mut deleted = 0;
        for chunk in fingerprints.chunks(IN_FLIGHT) {
            let outcomes = try_join_all(
                chunk
                    .iter()
                    .map(|fingerprint| self.cluster_delete_fingerprint(fingerprint, Some(tag))),
            )
            .await?;
            deleted += outcomes.into_iter().map(u64::from).sum::<u64>();
        }
        Ok(deleted)
    }

    /// A record's tags (JSON) and remaining lifetime (ms), or `None` when it is gone.
    async fn tags_and_ttl(&self, fingerprint: &str) -> Result<Option<(Vec<u8>, i64)>, Error> {
        self.eval(&TAGS_AND_TTL, self.record_key(fingerprint).as_bytes(), &[])
            .await
    }

    pub(super) async fn cluster_trim_tagged(
        &self,
        tag: &str,
        keep: usize,
        spare: &SessionId,
    ) -> Result<u64, Error> {
        let spare = spare.fingerprint().encode();
        let members = self.members(tag).await?;
        let mut keep = keep;
        let mut others = Vec::new();
        for chunk in members.chunks(IN_FLIGHT) {
            let found = try_join_all(
                chunk
                    .iter()
                    .map(|fingerprint| self.tags_and_ttl(fingerprint)),
            )
            .await?;
            for (fingerprint, meta) in chunk.iter().zip(found) {
                let Some((tags, ttl)) = meta else { continue };
                let carries = serde_json::from_slice::<Vec<String>>(&tags)
                    .is_ok_and(|tags| tags.iter().any(|t| t == tag));
                if !carries {
                    continue;
                }
                if *fingerprint == spare {
                    keep = keep.saturating_sub(1);
                } else {
                    others.push((fingerprint.clone(), ttl));
                }
            }
        }
        // Those that end last stay.
        others.sort_by_key(|&(_, ttl)| std::cmp::Reverse(ttl));
        let doomed: Vec<String> = others
            .into_iter()
            .skip(keep)
            .map(|(fingerprint, _)| fingerprint)
            .collect();
        self.delete_carrying(tag, &doomed).await
    }

    /// The records in the tag's set that carry the tag and live, those that expire last
    /// first, at most `limit`: each record read on its own master (concurrently).
    pub(super) async fn cluster_list_tagged<D>(
        &self,
        tag: &str,
        limit: usize,
    ) -> Result<Vec<Arc<Record<D>>>, Error>
    where
        D: serde::de::DeserializeOwned,
    {
        let members = self.members(tag).await?;
        let now = SystemTime::now();
        let mut records = Vec::new();
        for chunk in members.chunks(IN_FLIGHT) {
            let found =
                try_join_all(chunk.iter().map(|fingerprint| self.fields(fingerprint))).await?;
            for (value, tags) in found.into_iter().flatten() {
                let record: Record<D> = decode(&value, Some(&tags))?;
                if record.tags.iter().any(|t| t == tag) && !record.is_expired_at(now) {
                    records.push(Arc::new(record));
                }
            }
        }
        records.sort_by_key(|record| std::cmp::Reverse(record.expires_at));
        records.truncate(limit);
        Ok(records)
    }

    /// A record's value and tags, or `None` when it is gone.
    async fn fields(&self, fingerprint: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>, Error> {
        let mut command = redis::cmd("HMGET");
        command.arg(self.record_key(fingerprint)).arg("v").arg("t");
        let command = &command;
        let (value, tags): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .run(|mut connection| async move { command.query_async(&mut connection).await })
            .await?;
        Ok(value.zip(tags))
    }
}
