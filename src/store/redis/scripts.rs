//! The store's Lua scripts: each runs atomically on the server, on keys of one hash slot.

/// The session hash's fields as the scripts list them, in [`FIELDS`] order (one spelling for
/// both scripts; a test holds it to `FIELDS`).
macro_rules! session_fields {
    () => {
        "'body', 'gen', 'sec', 'rot', 'used', 'rep', 'idle', 'abs', 'rr', 'ra'"
    };
}

pub(super) const ROTATE: &str = concat!(
    r#"
local k = KEYS[1]
local presented, now, idle, grace, maxrep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local secret, retention, recover, settle = ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1', ARGV[9] == '1'
local f = redis.call('HMGET', k, 'gen', 'rot', 'rep', 'idle', 'abs', 'rr', 'ra', 'jkt', 'rfp')
if not f[1] then return {0} end
local bound = f[8] and f[8] ~= ''
local gen, rot, rep, idle_exp, abs = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
local code
local function rotate_from(g)
  local ni = math.min(now + idle, abs)
  redis.call('HSET', k, 'gen', g + 1, 'sec', secret, 'rot', now, 'used', now, 'rep', 0, 'idle', ni)
  redis.call('EXPIRE', k, ni - now + retention)
end
local settling = settle and not bound and presented == gen and gen > 1 and now < rot + grace
if f[6] ~= '' or now >= math.min(idle_exp, abs) then
  code = 5
elseif bound and f[8] ~= ARGV[10] then
  code = 8
elseif ARGV[11] ~= '' and ARGV[11] ~= '0' and f[9] ~= '0' and f[9] ~= ARGV[11] then
  code = 9
elseif presented == gen and not settling then
  rotate_from(gen)
  code = 1
elseif presented > gen and recover then
  rotate_from(presented)
  code = 7
elseif presented > gen then
  code = 4
elseif settling or (presented + 1 == gen and (bound or now < rot + grace)) then
  if rep >= maxrep and not bound then
    code = 6
  else
    redis.call('HSET', k, 'rep', rep + 1, 'used', now)
    code = 2
  end
else
  redis.call('HSET', k, 'rr', 'reuse_detected', 'ra', now)
  redis.call('EXPIRE', k, retention)
  code = 3
end
"#,
    "return {code, redis.call('HMGET', k, ",
    session_fields!(),
    "), gen}\n"
);

pub(super) const REVOKE: &str = concat!(
    r#"
local k = KEYS[1]
local now, reason, retention = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local f = redis.call('HMGET', k, 'idle', 'abs', 'rr')
if not f[1] then return {0} end
if f[3] ~= '' or now >= math.min(tonumber(f[1]), tonumber(f[2])) then return {0} end
redis.call('HSET', k, 'rr', reason, 'ra', now)
redis.call('EXPIRE', k, retention)
"#,
    "return {1, redis.call('HMGET', k, ",
    session_fields!(),
    ")}\n"
);

/// Add a session to its subject's index and make the index live at least as long as this
/// session (never shorter: another login with a shorter policy must not cut the index below a
/// longer session still in it). `TTL` is -1 on a new key, so the first login sets it.
pub(super) const INDEX: &str = r#"
redis.call('SADD', KEYS[1], ARGV[1])
local want = tonumber(ARGV[2])
if redis.call('TTL', KEYS[1]) < want then
  redis.call('EXPIRE', KEYS[1], want)
end
return 1
"#;

/// Append entries: each member is `version:entry:fingerprint`, the history fingerprint chained
/// with SHA-1 over the previous one and the member (16 hex digits), the newest in `meta.head`.
pub(super) const APPEND: &str = r#"
local log, meta, channel = KEYS[1], KEYS[2], ARGV[1]
redis.call('HSETNX', meta, 'epoch', ARGV[2])
local v = 0
local head = redis.call('HGET', meta, 'head') or ''
for i = 3, #ARGV do
  v = redis.call('HINCRBY', meta, 'next', 1)
  local member = v .. ':' .. ARGV[i]
  head = string.sub(redis.sha1hex(head .. '|' .. member), 1, 16)
  redis.call('ZADD', log, v, member .. ':' .. head)
end
if v == 0 then
  v = tonumber(redis.call('HGET', meta, 'next') or '0')
else
  redis.call('HSET', meta, 'head', head)
end
redis.call('PUBLISH', channel, v)
return v
"#;

/// Raise the log's floor (and the fingerprint at it) to ARGV[1], never lower it.
pub(super) const FLOOR: &str = r#"
local cur = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'floor', ARGV[1], 'floor_head', ARGV[2])
end
return 1
"#;

/// The field list the scripts spell, for the test that holds it to [`FIELDS`](super::codec::FIELDS).
#[cfg(test)]
pub(super) const SCRIPT_FIELDS: &str = session_fields!();
