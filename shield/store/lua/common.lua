-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows, approximated with two fixed buckets per window (shield.store.sliding):
-- a window of W seconds keeps its current bucket (W wide, aligned on absolute time) and the
-- previous one, weighted by the part of it still inside the window. One hash per entity:
--   "t"           the time of the last write (every window's current bucket is derived from it)
--   "<m><i>"      measure m in window i's current bucket, "<m><i>p" in its previous bucket
--   "<k>|<member>" distinct set k's member -> last seen (exact, small sets)
--   "<k>~"        set k went HyperLogLog at that time; "<k>~t" / "<k>~p" its cached merge
local DWW, SWW = DW, SW  -- bucket widths: one window each
local MS = {'a', 'f', 's'}
local MS_ACCOUNT = {'a', 'f', 's', 'ff', 'fu'}
local MS_SITE = {'a', 'f', 's', 'u'}
-- Field names, built once per call instead of once per use: FC[i][m] current, FPV[i][m] previous.
local FC, FPV = {}, {}
for i = 1, math.max(#DW, #SW) do
  FC[i], FPV[i] = {}, {}
  for _, m in ipairs(MS_ACCOUNT) do FC[i][m] = m .. i; FPV[i][m] = m .. i .. 'p' end
  FC[i]['u'] = 'u' .. i; FPV[i]['u'] = 'u' .. i .. 'p'
end

local function measures(d)
  if d == ACCOUNT then return MS_ACCOUNT end
  return MS
end

-- The counter fields of an entity (for HMGET when its distinct members are not needed).
local function counter_fields(ws, ms)
  local f = {'t'}
  for i = 1, #ws do
    for _, m in ipairs(ms) do f[#f + 1] = FC[i][m]; f[#f + 1] = FPV[i][m] end
  end
  return f
end

local function as_table(fields, vals)
  local h = {}
  for j = 1, #fields do h[fields[j]] = vals[j] end
  return h
end

local function hgetall(key)
  local all = redis.call('HGETALL', key)
  local h = {}
  for j = 1, #all, 2 do h[all[j]] = all[j + 1] end
  return h
end

-- Move every window's buckets from the last write to `now` (h is updated, writes appended to w).
-- A late write (now before the last one) counts in the current bucket.
local function roll(h, ws, ms, now, w)
  local last = tonumber(h.t)
  if last and now <= last then return last end
  for i = 1, #ws do
    local cur = math.floor(now / ws[i])
    local lb = last and math.floor(last / ws[i])
    if lb ~= cur then
      for _, m in ipairs(ms) do
        local f, fp = FC[i][m], FPV[i][m]
        local p = 0
        if lb == cur - 1 then p = tonumber(h[f]) or 0 end
        if (tonumber(h[fp]) or 0) ~= p then h[fp] = p; w[#w + 1] = fp; w[#w + 1] = p end
        if (tonumber(h[f]) or 0) ~= 0 then h[f] = 0; w[#w + 1] = f; w[#w + 1] = 0 end
      end
    end
  end
  h.t = now
  w[#w + 1] = 't'; w[#w + 1] = ARGV[1]
  return now
end

local function add(h, ws, m, w)
  for i = 1, #ws do
    local f = FC[i][m]
    local v = (tonumber(h[f]) or 0) + 1
    h[f] = v
    w[#w + 1] = f; w[#w + 1] = v
  end
end

-- The estimate of measure m over window i at time `at` (the entity's last write or later).
local function estimate(h, ws, i, m, at)
  local c, p = tonumber(h[FC[i][m]]) or 0, tonumber(h[FPV[i][m]]) or 0
  if p == 0 then return c end
  local weight = 1 - (at / ws[i] - math.floor(at / ws[i]))
  return c + math.floor(p * weight + 0.5)
end

local function write(key, w)
  if #w > 0 then redis.call('HSET', key, unpack(w)) end
  redis.call('PEXPIRE', key, TTL_MS)
end

-- Count measure m now in a counter hash read with counter_fields (record_outcome's path).
local function bump(now, key, ws, ms, m, m2)
  local fields = counter_fields(ws, ms)
  local h = as_table(fields, redis.call('HMGET', key, unpack(fields)))
  local w = {}
  roll(h, ws, ms, now, w)
  add(h, ws, m, w)
  if m2 then add(h, ws, m2, w) end
  write(key, w)
  return h
end

local function counter_key(d, v)
  return P .. 'c:' .. DIMS[d] .. ':' .. v
end
