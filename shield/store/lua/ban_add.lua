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
local ban = cjson.encode({s = scope, v = value, r = reason, c = now, e = expires, o = offenses, src = source})
redis.call('HSET', KEYS[1], field, ban)
redis.call('HSET', offk, field, offenses .. '|' .. ARGV[1] .. '|' .. math.max(max_ttl, ttl))
return ban
