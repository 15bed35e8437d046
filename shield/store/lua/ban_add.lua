-- Add or escalate a ban. KEYS[1]: the bans hash.
-- ARGV: now, scope, value, ttl, reason, source, escalate ('1'/'0'), max_ttl.
local now, scope, value = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local ttl, reason, source = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local escalate, max_ttl = ARGV[7] == '1', tonumber(ARGV[8])
local field = scope .. ':' .. value
local offk = P .. 'offenses'
local offenses = 1
local prev = redis.call('HGET', offk, field)
if escalate and prev then
  local c, last, kept = string.match(prev, '^(%d+)|([^|]+)|([^|]+)$')
  if c and now - tonumber(last) < tonumber(kept) then offenses = tonumber(c) + 1 end
end
local dur = ttl
if escalate then dur = math.min(ttl * 2 ^ (offenses - 1), math.max(max_ttl, ttl)) end
local expires = now + dur
local cur = redis.call('HGET', KEYS[1], field)
if cur then
  local b = cjson.decode(cur)
  if b.e > now and b.e > expires then expires = b.e end
end
local kept = math.max(max_ttl, ttl)
local ban = cjson.encode({s = scope, v = value, r = reason, c = now, e = expires, o = offenses, src = source})
redis.call('HSET', KEYS[1], field, ban)
redis.call('HSET', offk, field, offenses .. '|' .. ARGV[1] .. '|' .. kept)
-- When the field next needs looking at (its ban's end: its offenses are kept as long or longer):
-- ban_list deletes what expired from this index's front, a bounded number per call.
redis.call('ZADD', P .. 'banexp', string.format('%.17g', math.min(expires, now + kept)), field)
-- The change log (shield.store.redis_bans): the field at the next sequence number, or at the clock in
-- microseconds when that is ahead (so a replica promoted without the last few writes numbers its own
-- past the cursors that saw those). banmeta: e the log's epoch (its first number), s the last number,
-- f the floor (the log answers any cursor at or above it); the oldest entries past 65,536 go.
local meta, log = P .. 'banmeta', P .. 'banlog'
local s = tonumber(redis.call('HGET', meta, 's'))
local seq = string.format('%d', math.max((s or 0) + 1, math.floor(now * 1e6)))
if s then
  redis.call('HSET', meta, 's', seq)
else
  redis.call('HSET', meta, 'e', seq, 's', seq, 'f', seq)
end
redis.call('ZADD', log, seq, field)
local n = redis.call('ZCARD', log)
if n > 65536 + 1024 then
  local cut = n - 65536 - 1
  redis.call('HSET', meta, 'f', redis.call('ZRANGE', log, cut, cut, 'WITHSCORES')[2])
  redis.call('ZREMRANGEBYRANK', log, 0, cut)
end
return ban
