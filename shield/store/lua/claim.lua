-- Claim a key once within ttl (challenge replay). KEYS[1]: the claim's key (its own hash tag: claims
-- spread over a Cluster). ARGV: now, ttl. Time is the caller's `now`; the Redis expiry only reclaims memory.
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local k = KEYS[1]
local till = redis.call('GET', k)
if till and tonumber(till) > now then return 0 end
redis.call('SET', k, string.format('%.6f', now + ttl), 'PX', math.max(1, math.ceil(ttl * 1000)))
return 1
