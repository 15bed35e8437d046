-- Lift a ban and forgive its offenses. KEYS[1]: the bans hash. ARGV: scope:value.
redis.call('HDEL', P .. 'offenses', ARGV[1])
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
-- In the change log (lua/ban_add.lua) even when no ban was held here: a reader may hold one from
-- elsewhere (a ResilientStore's fallback during an outage). No log yet: no reader holds anything.
local meta = P .. 'banmeta'
local s = tonumber(redis.call('HGET', meta, 's'))
if s then
  local seq = string.format('%d', s + 1)
  redis.call('HSET', meta, 's', seq)
  redis.call('ZADD', P .. 'banlog', seq, ARGV[1])
end
return removed
