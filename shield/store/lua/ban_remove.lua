-- Lift a ban and forgive its offenses. KEYS[1]: the bans hash. ARGV: scope:value.
redis.call('HDEL', P .. 'offenses', ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
