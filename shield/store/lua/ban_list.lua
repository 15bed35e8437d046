-- Every active ban; expired bans and forgotten offenses are deleted. KEYS[1]: the bans hash.
local now = tonumber(ARGV[1])
local active, stale = {}, {}
local all = redis.call('HGETALL', KEYS[1])
for j = 1, #all, 2 do
  local ok, b = pcall(cjson.decode, all[j + 1])
  if ok and type(b) == 'table' and type(b.e) == 'number' and b.e > now then
    active[#active + 1] = all[j + 1]
  else
    stale[#stale + 1] = all[j]
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
local offk = P .. 'offenses'
local off = redis.call('HGETALL', offk)
local forgotten = {}
for j = 1, #off, 2 do
  local _, last, kept = string.match(off[j + 1], '^(%d+)|([^|]+)|([^|]+)$')
  if not last or now - tonumber(last) >= tonumber(kept) then forgotten[#forgotten + 1] = off[j] end
end
if #forgotten > 0 then redis.call('HDEL', offk, unpack(forgotten)) end
return active
