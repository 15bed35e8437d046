-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows, approximated with two fixed buckets per window (shield.store.sliding):
-- a window of W seconds keeps its current bucket (W wide, aligned on absolute time) and the
-- previous one, weighted by the part of it still inside the window.
-- Counters (layout 2): one hash per entity, key '{<tag><dim>:<value>}:2', plain integer fields
-- that Redis reads and writes natively (no packing in Lua):
--   "t<i>"        window i's current bucket number (floor(time / W_i)) at the last write
--   "<m><i><p>"   measure m's count in window i's bucket of parity p (bucket number mod 2): the
--                 bucket t<i> and the one before it; a bucket's slot is zeroed when its window
--                 moves two buckets on
--   "e"           when the key's expiry was last armed
-- Every value is short: the hash stays a listpack (compact) under Redis's 64-byte field limit.
-- Bucket numbers and previous-bucket weights depend only on `now`: computed once per call.
local MI = {a = 1, f = 2, s = 3, ff = 4, fu = 5, u = 4}
-- A frame: the field names of one kind of counter hash (windows ws, measures ms), built once.
-- fields = {'e', 't1'..'tW', then per window i and measure j the parity 0 and 1 fields}.
local function frame(ws, ms)
  local f = {ws = ws, m = #ms, b = {}, weight = {}, fields = {'e'}, cf = {}}
  local n = #ws
  for i = 1, n do f.fields[1 + i] = 't' .. i end
  for i = 1, n do
    for j = 1, #ms do
      for p = 0, 1 do
        local name = ms[j] .. i .. p
        f.fields[#f.fields + 1] = name
        f.cf[#f.cf + 1] = name
      end
    end
  end
  return f
end
local FRAMES, SITE_FRAME -- built by the first call (a library's load may not use string)
local NOW = 0

local function at(f)
  for i, w in ipairs(f.ws) do
    local b = math.floor(NOW / w)
    f.b[i] = b
    f.weight[i] = 1 - (NOW / w - b)
  end
end

-- The time every window's arithmetic uses (the caller's).
local function set_now(t)
  NOW = t
  if not FRAMES then
    FRAMES = {[3] = frame(DW, {'a', 'f', 's'}), [5] = frame(DW, {'a', 'f', 's', 'ff', 'fu'})}
    SITE_FRAME = frame(SW, {'a', 'f', 's', 'u'})
  end
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

-- One entity's counters after moving every window to now: c[k] the count of counter field k
-- (frame.cf order), cur[i] the parity of window i's current bucket, wt[i] the previous bucket's
-- weight. Zeroed slots and new bucket numbers are appended to w (field, value pairs) for one HSET.
-- A late write (now in a bucket before t<i>) counts in bucket t<i>, as if at its start (weight 1).
local function load(key, fr, w)
  local r = redis.call('HMGET', key, unpack(fr.fields))
  local n, m2 = #fr.ws, 2 * fr.m
  local c, cur, wt, late = {}, {}, {}, {}
  for k = 1, #fr.cf do c[k] = tonumber(r[1 + n + k]) or 0 end
  for i = 1, n do
    local b, t = fr.b[i], tonumber(r[1 + i])
    local wi = fr.weight[i]
    if t and t > b then
      b, wi, late[i] = t, 1, true
    elseif t ~= b then
      local base = (i - 1) * m2
      -- the slot of bucket b holds bucket b-2 (t == b-1) or both are older: zero them
      for p = 0, 1 do
        if t ~= b - 1 or p == b % 2 then
          for k = base + 1 + p, base + m2, 2 do
            if c[k] ~= 0 then c[k] = 0; w[#w + 1] = fr.cf[k]; w[#w + 1] = 0 end
          end
        end
      end
      w[#w + 1] = fr.fields[1 + i]; w[#w + 1] = b
    end
    cur[i], wt[i] = b % 2, wi
  end
  return {c = c, cur = cur, wt = wt, late = late, e = tonumber(r[1])}
end

-- Count measure j once in every window.
local function add(fr, s, j, w)
  local m2 = 2 * fr.m
  for i = 1, #fr.ws do
    local k = (i - 1) * m2 + 2 * (j - 1) + 1 + s.cur[i]
    s.c[k] = s.c[k] + 1
    w[#w + 1] = fr.cf[k]; w[#w + 1] = s.c[k]
  end
end

-- The estimate of measure j over window i.
local function estimate(fr, s, i, j)
  local k = (i - 1) * 2 * fr.m + 2 * (j - 1) + 1
  local cur = s.cur[i]
  local c, p = s.c[k + cur], s.c[k + 1 - cur]
  if p == 0 then return c end
  return c + math.floor(p * s.wt[i] + 0.5)
end

-- Write the changes (one HSET) and (re)arm the key's expiry at most once per REARM seconds:
-- TTL_MS covers the longest window's previous bucket plus REARM, so a key always outlives the
-- last write that matters by 2 windows.
local function store(key, s, w)
  local arm = not s.e or NOW - s.e >= REARM or NOW < s.e
  if arm then w[#w + 1] = 'e'; w[#w + 1] = NOW end
  if #w > 0 then redis.call('HSET', key, unpack(w)) end
  if arm then redis.call('PEXPIRE', key, TTL_MS) end
end

-- Count measure j (and j2) now in an entity's counters (record_outcome's path).
local function bump(key, fr, j, j2)
  local w = {}
  local s = load(key, fr, w)
  add(fr, s, j, w)
  if j2 then add(fr, s, j2, w) end
  store(key, s, w)
  return s
end

-- Every entity has its own hash tag, so entities spread over the Cluster's slots (and masters);
-- its counters, distinct sets, HyperLogLogs and (accounts) history share the tag: one entity's
-- keys sit on one node.
local function counter_key(d, v)
  return '{' .. T .. DIMS[d] .. ':' .. v .. '}'
end

-- The counters' hash (layout 2: the ':2' suffix leaves an older release's keys to expire).
local function counts_key(d, v)
  return counter_key(d, v) .. ':2'
end

-- The site counters of one shard (key): bumped (measure j, j2) or only read, then returned
-- raw, per site window and measure the current and previous bucket (the caller adds up the
-- shards and estimates). A late window returns its estimate as current.
local function site_shard(key, bump_it, j, j2)
  local s
  if bump_it then
    s = bump(key, SITE_FRAME, j, j2)
  else
    s = load(key, SITE_FRAME, {})
  end
  local out = {}
  local m = SITE_FRAME.m
  for i = 1, #SW do
    local late = s.late[i]
    for j = 1, m do
      if late then
        out[#out + 1] = estimate(SITE_FRAME, s, i, j); out[#out + 1] = 0
      else
        local k = (i - 1) * 2 * m + 2 * (j - 1) + 1 + s.cur[i]
        out[#out + 1] = s.c[k]; out[#out + 1] = s.c[k - 2 * s.cur[i] + 1]
      end
    end
  end
  return out
end
