//! The Lua scripts every write runs as (one script per operation, so each is atomic).

use std::sync::LazyLock;

use redis::Script;

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
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static SAVE: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static DELETE_TAGGED: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static TRIM_TAGGED: LazyLock<Script> = LazyLock::new(|| {
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

/// KEYS[1] the tag's set. ARGV: prefix, tag, limit. Reads only: of the records that carry the
/// tag, those that expire last, at most `limit`, as a flat list of value, tags, value, tags...
pub(super) static LIST_TAGGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LUA_HELPERS}
local found = {{}}
for _, fp in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 's:' .. fp
  local fields = redis.call('HMGET', key, 'v', 't')
  if fields[1] and fields[2] and carries(cjson.decode(fields[2]), ARGV[2]) then
    table.insert(found, {{v = fields[1], t = fields[2], ttl = redis.call('PTTL', key)}})
  end
end
table.sort(found, function(a, b) return a.ttl > b.ttl end)
local out = {{}}
for i, record in ipairs(found) do
  if i > tonumber(ARGV[3]) then break end
  table.insert(out, record.v)
  table.insert(out, record.t)
end
return out"
    ))
});

/// Takes the lock `KEYS[1]` for lease `ARGV[1]` for `ARGV[2]` ms unless another lease holds it;
/// 1 when the lease holds it now. Idempotent, so a retry after a lost answer (`run` retries
/// once on a broken connection) does not mistake the first attempt's lock for someone else's.
pub(super) static TRY_LOCK: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
    )
});
