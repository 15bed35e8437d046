-- One protected attempt: count it everywhere, read every counter, the history and the bans.
-- ARGV: now, then one value per dimension (DIMS order; '' when absent).
local now = tonumber(ARGV[1])
local vals = {}
for i = 1, #DIMS do vals[i] = ARGV[i + 1] end

local function hll_keys(base, wi)
  local keys, cur = {}, math.floor(now / DWW[wi])
  for b = cur - BUCKETS + 1, cur do keys[#keys + 1] = base .. wi .. ':' .. b end
  return keys
end

-- Distinct members per window: exact (member -> last seen) up to CAP members within the
-- largest window, then HyperLogLogs per (window, bucket), merged by PFCOUNT.
local function distinct(key, member)
  local counts = {}
  local base = key .. ':x:'
  local mode = redis.call('HGET', key, '~h')
  local hll = mode and now - tonumber(mode) < MAXW
  if not hll then
    if member ~= '' then redis.call('HSET', key, member, ARGV[1]) end
    local all = redis.call('HGETALL', key)
    local live, stale = {}, {}
    for j = 1, #all, 2 do
      local t = tonumber(all[j + 1])
      if string.sub(all[j], 1, 1) == '~' or t == nil or now - t >= MAXW then
        stale[#stale + 1] = all[j]
      else
        live[#live + 1] = {all[j], t}
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    if #live <= CAP then
      for wi = 1, #DW do
        local n = 0
        for _, e in ipairs(live) do
          if now - e[2] < DW[wi] then n = n + 1 end
        end
        counts[wi] = n
      end
      redis.call('PEXPIRE', key, TTL_MS)
      return counts
    end
    -- Too many members: seed the HyperLogLogs from the exact set, then count with them.
    for _, e in ipairs(live) do
      for wi = 1, #DW do
        if now - e[2] < DW[wi] then
          local hk = base .. wi .. ':' .. math.floor(e[2] / DWW[wi])
          redis.call('PFADD', hk, e[1])
          redis.call('PEXPIRE', hk, TTL_MS)
        end
      end
    end
    redis.call('DEL', key)
  end
  local added = {}
  if member ~= '' then
    for wi = 1, #DW do
      local hk = base .. wi .. ':' .. math.floor(now / DWW[wi])
      added[wi] = redis.call('PFADD', hk, member)
      redis.call('PEXPIRE', hk, TTL_MS)
    end
  end
  -- Merging 12 HyperLogLogs per window is the expensive part: do it at most once per REFRESH
  -- seconds; in between, add the members that changed a register to the cached counts.
  local state = redis.call('HMGET', key, '~t', '~c')
  local at = tonumber(state[1])
  if at and now >= at and now - at < REFRESH and state[2] then
    local i = 0
    for c in string.gmatch(state[2], '%d+') do
      i = i + 1
      counts[i] = tonumber(c) + (added[i] or 0)
    end
  else
    for wi = 1, #DW do counts[wi] = redis.call('PFCOUNT', unpack(hll_keys(base, wi))) end
    redis.call('HSET', key, '~t', ARGV[1])
  end
  redis.call('HSET', key, '~h', ARGV[1], '~c', table.concat(counts, ','))
  redis.call('PEXPIRE', key, TTL_MS)
  return counts
end

-- The account's history (returned raw; the caller decodes it) and whether it is still live.
local hist, known = false, false
if vals[ACCOUNT] ~= '' then
  hist = redis.call('GET', P .. 'h:' .. vals[ACCOUNT])
  if hist then
    local ok, rec = pcall(cjson.decode, hist)
    known = ok and type(rec) == 'table' and type(rec.t) == 'number' and rec.t > now - HDAYS * 86400
  end
end

local out = {}
local MEASURES = {'a', 'f', 's'}
local acct_sums = nil
for d = 1, #DIMS do
  local v = vals[d]
  local sums, dcounts = nil, {}
  if v ~= '' then
    local key = counter_key(d, v)
    bump(now, key, DWW, measures(d), 'a')
    sums = totals(key, DWW, measures(d))
    for k, spec in ipairs(DISTINCT[d]) do
      dcounts[k] = distinct(P .. 'd:' .. DIMS[d] .. ':' .. v .. ':' .. spec[1], vals[spec[2]])
    end
    if d == ACCOUNT then acct_sums = sums end
  end
  for wi = 1, #DW do
    for _, m in ipairs(MEASURES) do out[#out + 1] = sums and sums[wi][m] or 0 end
    for k = 1, #DISTINCT[d] do out[#out + 1] = dcounts[k] and dcounts[k][wi] or 0 end
  end
end
for wi = 1, #DW do
  out[#out + 1] = acct_sums and acct_sums[wi]['ff'] or 0
  out[#out + 1] = acct_sums and acct_sums[wi]['fu'] or 0
end

local site = P .. 'site'
bump(now, site, SWW, MS_SITE, 'a')
if vals[ACCOUNT] ~= '' and not known then bump(now, site, SWW, MS_SITE, 'u') end
local ssums = totals(site, SWW, MS_SITE)
for wi = 1, #SW do
  for _, m in ipairs({'a', 'f', 's', 'u'}) do out[#out + 1] = ssums[wi][m] or 0 end
end

-- The harshest active ban on any of ip/subnet/asn/account/fp.
local fields = {}
for _, d in ipairs(BAN_DIMS) do
  if vals[d] ~= '' then fields[#fields + 1] = DIMS[d] .. ':' .. vals[d] end
end
local ban, ban_exp = false, now
if #fields > 0 then
  for _, raw in ipairs(redis.call('HMGET', KEYS[1], unpack(fields))) do
    if raw then
      local b = cjson.decode(raw)
      if b.e > ban_exp then ban, ban_exp = raw, b.e end
    end
  end
end
return {out, hist, ban}
