-- One protected attempt: count it everywhere, read every counter, the history and the bans.
-- ARGV: now, then one value per dimension (DIMS order; '' when absent).
local now = tonumber(ARGV[1])
local vals = {}
for i = 1, #DIMS do vals[i] = ARGV[i + 1] end

-- Distinct set k of an entity (hash h, already read): exact member -> last seen up to CAP live
-- members, then HyperLogLogs per (window, bucket) with the same two-bucket approximation.
local function distinct(key, base, h, k, member, w, del)
  local counts = {}
  local mode = tonumber(h[k .. '~'])
  if not (mode and now - mode < MAXW) then
    local prefix = k .. '|'
    local live = {}
    if member ~= '' then h[prefix .. member] = ARGV[1]; w[#w + 1] = prefix .. member; w[#w + 1] = ARGV[1] end
    for f, t in pairs(h) do
      if string.sub(f, 1, #prefix) == prefix then
        local seen = tonumber(t)
        if now - seen >= MAXW then del[#del + 1] = f else live[#live + 1] = {string.sub(f, #prefix + 1), seen} end
      end
    end
    if #live <= CAP then
      for wi = 1, #DW do
        local n = 0
        for _, e in ipairs(live) do if now - e[2] < DW[wi] then n = n + 1 end end
        counts[wi] = n
      end
      return counts
    end
    -- Too many members: seed the HyperLogLogs from the exact set, then count with them.
    for _, e in ipairs(live) do
      del[#del + 1] = prefix .. e[1]
      for wi = 1, #DW do
        local b = math.floor(e[2] / DW[wi])
        if b >= math.floor(now / DW[wi]) - 1 then
          local hk = base .. wi .. ':' .. b
          redis.call('PFADD', hk, e[1])
          redis.call('PEXPIRE', hk, TTL_MS)
        end
      end
    end
    -- drop the pending write of the member just added (it is in the HyperLogLogs now)
    if member ~= '' then w[#w] = nil; w[#w] = nil end
  end
  w[#w + 1] = k .. '~'; w[#w + 1] = ARGV[1]
  local added = {}
  for wi = 1, #DW do
    added[wi] = 0
    if member ~= '' then
      local hk = base .. wi .. ':' .. math.floor(now / DW[wi])
      -- a register changed (always so for a new key): (re)arm the expiry; unchanged keys keep theirs
      if redis.call('PFADD', hk, member) == 1 then
        added[wi] = 1
        redis.call('PEXPIRE', hk, TTL_MS)
      end
    end
  end
  -- Counting is the expensive part (a union of two HyperLogLogs per window): at most once per
  -- REFRESH seconds and per bucket; in between, members that changed a register add one.
  local at = tonumber(h[k .. '~t'])
  local cur, prev = {}, {}
  local fresh = at and now >= at and now - at < REFRESH and h[k .. '~c'] and h[k .. '~p']
  if fresh then
    for wi = 1, #DW do
      if math.floor(at / DW[wi]) ~= math.floor(now / DW[wi]) then fresh = false end
    end
  end
  if fresh then
    local i = 0
    for c in string.gmatch(h[k .. '~c'], '%d+') do i = i + 1; cur[i] = tonumber(c) + added[i] end
    i = 0
    for c in string.gmatch(h[k .. '~p'], '%d+') do i = i + 1; prev[i] = tonumber(c) end
  else
    for wi = 1, #DW do
      local b = math.floor(now / DW[wi])
      cur[wi] = redis.call('PFCOUNT', base .. wi .. ':' .. b)
      local union = redis.call('PFCOUNT', base .. wi .. ':' .. b, base .. wi .. ':' .. (b - 1))
      prev[wi] = math.max(0, union - cur[wi])
    end
    w[#w + 1] = k .. '~t'; w[#w + 1] = ARGV[1]
    w[#w + 1] = k .. '~p'; w[#w + 1] = table.concat(prev, ',')
  end
  w[#w + 1] = k .. '~c'; w[#w + 1] = table.concat(cur, ',')
  for wi = 1, #DW do
    local weight = 1 - (now / DW[wi] - math.floor(now / DW[wi]))
    counts[wi] = cur[wi] + math.floor((prev[wi] or 0) * weight + 0.5)
  end
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

local out, n = {}, 0
local acct, acct_at = nil, now
for d = 1, #DIMS do
  local v = vals[d]
  if v ~= '' then
    local key = counter_key(d, v)
    local h = hgetall(key)
    local w, del = {}, {}
    local ms = measures(d)
    local at = roll(h, DWW, ms, now, w)
    add(h, DWW, 'a', w)
    local dcounts = {}
    for k, spec in ipairs(DISTINCT[d]) do
      dcounts[k] = distinct(key, P .. 'x:' .. DIMS[d] .. ':' .. v .. ':' .. k .. ':', h, k, vals[spec[2]], w, del)
    end
    if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    write(key, w)
    if d == ACCOUNT then acct, acct_at = h, at end
    for wi = 1, #DW do
      out[n + 1] = estimate(h, DWW, wi, 'a', at)
      out[n + 2] = estimate(h, DWW, wi, 'f', at)
      out[n + 3] = estimate(h, DWW, wi, 's', at)
      n = n + 3
      for k = 1, #DISTINCT[d] do n = n + 1; out[n] = dcounts[k][wi] end
    end
  else
    for _ = 1, #DW * (3 + #DISTINCT[d]) do n = n + 1; out[n] = 0 end
  end
end
for wi = 1, #DW do
  out[n + 1] = acct and estimate(acct, DWW, wi, 'ff', acct_at) or 0
  out[n + 2] = acct and estimate(acct, DWW, wi, 'fu', acct_at) or 0
  n = n + 2
end

local site = P .. 'site'
local sh = bump(now, site, SWW, MS_SITE, 'a', (vals[ACCOUNT] ~= '' and not known) and 'u' or nil)
local sat = math.max(now, tonumber(sh.t) or now)
for wi = 1, #SW do
  for _, m in ipairs(MS_SITE) do n = n + 1; out[n] = estimate(sh, SWW, wi, m, sat) end
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
