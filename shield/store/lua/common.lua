-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows, approximated with two fixed buckets per window (shield.store.sliding):
-- a window of W seconds keeps its current bucket (W wide, aligned on absolute time) and the
-- previous one, weighted by the part of it still inside the window. One hash per entity:
--   "n"            packed (struct) doubles: the time of the last write (every window's current
--                  bucket follows from it) and the time the key's expiry was last armed
--   "<i>"          window i's counts, packed int32: per measure j the current and the previous
--                  bucket (one field per window keeps every value under Redis's 64-byte listpack
--                  limit: a bigger value turns the whole hash into a real hash table, 2-3x the memory)
--   "<k>|<member>" distinct set k's member -> last seen (exact, small sets)
--   "<k>~"         set k went HyperLogLog at that time; "<k>~t" / "<k>~c" / "<k>~p" its cached counts
-- Bucket starts and previous-bucket weights depend only on `now`: computed once per call.
local DWW, SWW = DW, SW
local MS = {'a', 'f', 's'}
local MS_ACCOUNT = {'a', 'f', 's', 'ff', 'fu'}
local MS_SITE = {'a', 'f', 's', 'u'}
local MI = {a = 1, f = 2, s = 3, ff = 4, fu = 5, u = 4}
-- Built once (a function library is loaded once; a script runs this every call), then each call's
-- bucket starts and previous-bucket weights are set by begin().
local function frame(ws, m)
  local f = {ws = ws, m = m, start = {}, weight = {}, wfmt = '<' .. string.rep('i4', 2 * m), fields = {'n'}}
  for i = 1, #ws do f.fields[i + 1] = tostring(i) end
  return f
end
local FRAMES, SITE_FRAME -- built by the first call (a library's load may not use string)
local NOW = 0

local function at(f)
  for i, w in ipairs(f.ws) do
    local b = math.floor(NOW / w)
    f.start[i] = b * w
    f.weight[i] = 1 - (NOW / w - b)
  end
end

-- The time every window's arithmetic uses (the caller's).
local function set_now(t)
  NOW = t
  if not FRAMES then FRAMES, SITE_FRAME = {[3] = frame(DW, 3), [5] = frame(DW, 5)}, frame(SW, 4) end
  at(FRAMES[3]); at(FRAMES[5]); at(SITE_FRAME)
end

-- Every call starts here: its time is ARGV[1] (ban_remove passes none).
local function begin(argv)
  set_now(tonumber(argv[1]) or 0)
  cjson.encode_number_precision(14) -- the maximum: milliseconds survive
end

local function frame_of(d)
  if d == ACCOUNT then return FRAMES[5] end
  return FRAMES[3]
end

-- The counters as one flat array: last write, armed, then per window and measure current, previous.
-- raw[1] is field "n", raw[1 + i] window i's field (nil when absent).
local function unpack_counts(fr, raw)
  local a = {0, 0}
  if raw[1] then a[1], a[2] = struct.unpack('<dd', raw[1]) end
  local k, n = 3, 2 * fr.m
  for i = 1, #fr.ws do
    local r = raw[i + 1]
    if r then
      local t = {struct.unpack(fr.wfmt, r)}
      for j = 1, n do a[k] = t[j]; k = k + 1 end
    else
      for _ = 1, n do a[k] = 0; k = k + 1 end
    end
  end
  return a
end

-- Move every window's buckets from the last write to now. A late write (now before the last one)
-- counts in the last write's buckets.
local function roll(fr, a)
  local last = a[1]
  if NOW <= last then return end
  if last == 0 then a[1] = NOW; return end -- a new entity: nothing to move
  local m = fr.m
  for i, w in ipairs(fr.ws) do
    local start = fr.start[i]
    if last < start then
      local keep = last >= start - w -- the last write is in what is now the previous bucket
      local base = 3 + 2 * (i - 1) * m
      for j = base, base + 2 * m - 2, 2 do
        if keep then a[j + 1] = a[j] else a[j + 1] = 0 end
        a[j] = 0
      end
    end
  end
  a[1] = NOW
end

local function add(fr, a, j)
  local m = fr.m
  for i = 1, #fr.ws do
    local k = 2 * ((i - 1) * m + j) + 1
    a[k] = a[k] + 1
  end
end

-- The estimate of measure j over window i (weights of now; a late write reads them at its last write).
local function estimate(fr, a, i, j, late)
  local k = 2 * ((i - 1) * fr.m + j) + 1
  local c, p = a[k], a[k + 1]
  if p == 0 then return c end
  local weight = fr.weight[i]
  if late then
    local w = fr.ws[i]
    weight = 1 - (a[1] / w - math.floor(a[1] / w))
  end
  return c + math.floor(p * weight + 0.5)
end

-- The key's expiry is (re)armed at most once per REARM seconds: TTL_MS covers the longest window's
-- previous bucket plus REARM, so a key always outlives the last write that matters by 2 windows.
-- Appends the packed counters' fields to w; whether to PEXPIRE the key (after writing it: a new
-- key must exist first).
local function pack_counts(fr, a, w)
  local arm = NOW - a[2] >= REARM or NOW < a[2]
  if arm then a[2] = NOW end
  local n = #w
  w[n + 1], w[n + 2] = 'n', struct.pack('<dd', a[1], a[2])
  n = n + 2
  local m2 = 2 * fr.m
  for i = 1, #fr.ws do
    local s = 3 + (i - 1) * m2
    w[n + 1], w[n + 2] = fr.fields[i + 1], struct.pack(fr.wfmt, unpack(a, s, s + m2 - 1))
    n = n + 2
  end
  return arm
end

-- Count measure j (and j2) now in an entity's counters (record_outcome's path: no members read).
local function bump(key, fr, j, j2)
  local a = unpack_counts(fr, redis.call('HMGET', key, unpack(fr.fields)))
  roll(fr, a)
  add(fr, a, j)
  if j2 then add(fr, a, j2) end
  local w = {}
  local arm = pack_counts(fr, a, w)
  redis.call('HSET', key, unpack(w))
  if arm then redis.call('PEXPIRE', key, TTL_MS) end
  return a
end

-- Every entity has its own hash tag, so entities spread over the Cluster's slots (and masters);
-- its HyperLogLogs and (accounts) history share the tag: one entity's keys sit on one node.
local function counter_key(d, v)
  return '{' .. T .. DIMS[d] .. ':' .. v .. '}'
end

-- The site counters of one shard (key): bumped (measure j, j2) or only read, then returned
-- raw, per site window and measure the current and previous bucket (the caller adds up the
-- shards and estimates). A late shard (now before its last write) returns its estimates as current.
local function site_shard(key, bump_it, j, j2)
  local a
  if bump_it then
    a = bump(key, SITE_FRAME, j, j2)
  else
    a = unpack_counts(SITE_FRAME, redis.call('HMGET', key, unpack(SITE_FRAME.fields)))
    roll(SITE_FRAME, a)
  end
  local late, out = a[1] > NOW, {}
  for i = 1, #SW do
    for m = 1, SITE_FRAME.m do
      local k = 2 * ((i - 1) * SITE_FRAME.m + m) + 1
      if late then
        out[#out + 1] = estimate(SITE_FRAME, a, i, m, true); out[#out + 1] = 0
      else
        out[#out + 1] = a[k]; out[#out + 1] = a[k + 1]
      end
    end
  end
  return out
end
