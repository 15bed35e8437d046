-- The ban table's changes since a cursor, or every active ban. KEYS[1]: the bans hash.
-- ARGV: now[, epoch, sequence] (the cursor: shield.store.redis_bans).
-- Reply: epoch, sequence (the next cursor), then 0 and per change its field and the ban's JSON (nil:
-- none held), or 1 and every ban's JSON (some may have expired) (no cursor, or one this log cannot answer: another
-- epoch after a flush, trimmed past, or ahead of it after a failover).
-- First the bans that expired (and offenses forgotten) at the front of the expiry index (ban_add.lua)
-- are deleted, at most 2,000 a call: every worker calls this every second.
local now = tonumber(ARGV[1])
local offk, exp, meta = P .. 'offenses', P .. 'banexp', P .. 'banmeta'
local due = redis.call('ZRANGEBYSCORE', exp, '-inf', ARGV[1], 'LIMIT', 0, 2000)
for _, field in ipairs(due) do
  local next_at = nil
  local cur = redis.call('HGET', KEYS[1], field)
  if cur then
    local ok, b = pcall(cjson.decode, cur)
    if ok and type(b) == 'table' and type(b.e) == 'number' and b.e > now then
      next_at = b.e
    else
      redis.call('HDEL', KEYS[1], field)
    end
  end
  local off = redis.call('HGET', offk, field)
  if off then
    local _, last, kept = string.match(off, '^(%d+)|([^|]+)|([^|]+)$')
    if not last or now - tonumber(last) >= tonumber(kept) then
      redis.call('HDEL', offk, field)
    elseif not next_at or tonumber(last) + tonumber(kept) < next_at then
      next_at = tonumber(last) + tonumber(kept)
    end
  end
  if next_at then
    redis.call('ZADD', exp, string.format('%.17g', next_at), field)
  else
    redis.call('ZREM', exp, field)
  end
end
local m = redis.call('HMGET', meta, 'e', 's', 'f', 'x')
local epoch, seq, floor, indexed = m[1], m[2], m[3], m[4]
if not epoch then
  seq = string.format('%d', math.floor(now * 1e6))
  epoch, floor = seq, seq
  redis.call('HSET', meta, 'e', epoch, 's', seq, 'f', floor)
end
local at = tonumber(ARGV[3])
if ARGV[2] == epoch and at and at >= tonumber(floor) and at <= tonumber(seq) then
  local out = {epoch, seq, 0}
  local fields = redis.call('ZRANGEBYSCORE', P .. 'banlog', '(' .. ARGV[3], '+inf')
  for i = 1, #fields, 1000 do  -- unpack's stack is bounded
    local j = math.min(i + 999, #fields)
    local got = redis.call('HMGET', KEYS[1], unpack(fields, i, j))
    for k = i, j do
      out[#out + 1] = fields[k]
      out[#out + 1] = got[k - i + 1]
    end
  end
  return out
end
-- The whole table, as it is (the caller leaves out what expired: the index deletes it). The first
-- time in a log's life, every ban and offense goes into the expiry index (bans written before there
-- was one are deleted when they expire, as the ones written since).
if indexed then
  local out = redis.call('HVALS', KEYS[1])
  table.insert(out, 1, 1)
  table.insert(out, 1, seq)
  table.insert(out, 1, epoch)
  return out
end
local out, stale = {epoch, seq, 1}, {}
local all = redis.call('HGETALL', KEYS[1])
for j = 1, #all, 2 do
  local ok, b = pcall(cjson.decode, all[j + 1])
  if ok and type(b) == 'table' and type(b.e) == 'number' and b.e > now then
    out[#out + 1] = all[j + 1]
    redis.call('ZADD', exp, string.format('%.17g', b.e), all[j])
  else
    stale[#stale + 1] = all[j]
  end
end
for i = 1, #stale, 1000 do redis.call('HDEL', KEYS[1], unpack(stale, i, math.min(i + 999, #stale))) end
do
  local off = redis.call('HGETALL', offk)
  local forgotten = {}
  for j = 1, #off, 2 do
    local _, last, kept = string.match(off[j + 1], '^(%d+)|([^|]+)|([^|]+)$')
    if not last or now - tonumber(last) >= tonumber(kept) then
      forgotten[#forgotten + 1] = off[j]
    else
      redis.call('ZADD', exp, 'NX', string.format('%.17g', tonumber(last) + tonumber(kept)), off[j])
    end
  end
  for i = 1, #forgotten, 1000 do redis.call('HDEL', offk, unpack(forgotten, i, math.min(i + 999, #forgotten))) end
  redis.call('HSET', meta, 'x', '1')
end
return out
