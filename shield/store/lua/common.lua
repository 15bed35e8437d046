-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows, approximated with two fixed buckets per window (shield.store.sliding):
-- a window of W seconds keeps its current bucket (W wide, aligned on absolute time) and the
-- previous one, weighted by the part of it still inside the window. One hash per entity:
--   "c1".."cK"     the packed counter row (shield.store.packed): doubles last write and expiry
--                  armed, then per window and measure the current and previous bucket as int32,
--                  cut into fields of at most 64 bytes (Redis's listpack limit: a bigger value
--                  turns the whole hash into a real hash table, 2-3x the memory)
--   "<k>|<member>" distinct set k's member -> last seen (exact, small sets)
--   "<k>~"         set k went HyperLogLog at that time; "<k>~t" / "<k>~c" / "<k>~p" its cached counts
-- The row is unpacked once, moved, bumped, packed once and returned as it is: the window estimates
-- are the worker's work (Redis's CPU is the one every worker shares).
-- Bucket starts and previous-bucket weights depend only on `now`: computed once per call.
local DWW, SWW = DW, SW
local MS = {'a', 'f', 's'}
local MS_ACCOUNT = {'a', 'f', 's', 'ff', 'fu'}
local MS_SITE = {'a', 'f', 's', 'u'}
local MI = {a = 1, f = 2, s = 3, ff = 4, fu = 5, u = 4}
-- Built once (a function library is loaded once; a script runs this every call), then each call's
-- bucket starts and previous-bucket weights are set by begin(). `fields` are the row's fields, then
-- "n" (the previous layout's: its presence says the old fields are to be deleted); `legacy` those.
local function frame(ws, m, chunks)
  local n = 2 + 2 * m * #ws
  local f = {ws = ws, m = m, start = {}, weight = {}, n = n, len = 16 + 8 * m * #ws, chunks = chunks,
             fmt = '<dd' .. string.rep('i4', n - 2), fields = {}, legacy = {'n'}, zero = {}}
  for i, c in ipairs(chunks) do f.fields[i] = c[1] end
  f.fields[#chunks + 1] = 'n'
  for i = 1, #ws do f.legacy[i + 1] = tostring(i) end
  for i = 1, n do f.zero[i] = 0 end
  return f
end
-- The reads mask (observe's ARGV[5]) decoded, per mask: per dimension, per set k whether it is kept
-- and per window whether it is counted. A library keeps it across calls (a rule reload brings a new
-- mask; a few are kept).
local MASKS, NMASKS = {}, 0
local function mask_of(reads)
  local m = MASKS[reads]
  if m then return m end
  if NMASKS >= 8 then MASKS, NMASKS = {}, 0 end
  m = {}
  for d = 1, #DIMS do
    local per = {kept = {}, rws = {}, any = false}
    for k = 1, #DISTINCT[d] do
      local rw, at = {}, (DOFF[d] + k - 1) * #DW
      per.kept[k] = false
      for wi = 1, #DW do
        rw[wi] = string.byte(reads, at + wi) == 49
        per.kept[k] = per.kept[k] or rw[wi]
      end
      per.rws[k] = rw
      per.any = per.any or per.kept[k]
    end
    m[d] = per
  end
  MASKS[reads], NMASKS = m, NMASKS + 1
  return m
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
  if not FRAMES then
    FRAMES, SITE_FRAME = {[3] = frame(DW, 3, ROW3), [5] = frame(DW, 5, ROW5)}, frame(SW, 4, ROWSITE)
    FRAMES.hllfmt = '<dd' .. string.rep('i4', 2 * #DW) -- a large set's packed state (observe.lua)
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

-- The counters as one flat array: last write, armed, then per window and measure current, previous.
-- raw: the values of fr.fields (false when absent); an absent or foreign row reads as zeros.
local function unpack_counts(fr, raw)
  local s = raw[1]
  local k = #fr.chunks
  if s and k > 1 then
    local parts = {s}
    for i = 2, k do
      parts[i] = raw[i]
      if not parts[i] then s = false; break end
    end
    if s then s = table.concat(parts) end
  end
  if s and #s == fr.len then return {struct.unpack(fr.fmt, s)} end
  return {unpack(fr.zero)}
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
-- Appends the row's fields to w; returns whether to PEXPIRE the key (after writing it: a new key
-- must exist first) and the packed row.
local function pack_counts(fr, a, w)
  local arm = NOW - a[2] >= REARM or NOW < a[2]
  if arm then a[2] = NOW end
  local row = struct.pack(fr.fmt, unpack(a, 1, fr.n))
  local n = #w
  for _, c in ipairs(fr.chunks) do
    w[n + 1], w[n + 2] = c[1], string.sub(row, c[2], c[3])
    n = n + 2
  end
  return arm, row
end

-- Count measure j (and j2) now in an entity's counters (record_outcome's path: no members read).
local function bump(key, fr, j, j2)
  local raw = redis.call('HMGET', key, unpack(fr.fields))
  local a = unpack_counts(fr, raw)
  roll(fr, a)
  add(fr, a, j)
  if j2 then add(fr, a, j2) end
  local w = {}
  local arm = pack_counts(fr, a, w)
  redis.call('HSET', key, unpack(w))
  if raw[#fr.fields] then redis.call('HDEL', key, unpack(fr.legacy)) end -- the previous layout's fields
  if arm then redis.call('PEXPIRE', key, TTL_MS) end
  return a
end

-- Every entity has its own hash tag, so entities spread over the Cluster's slots (and masters);
-- its HyperLogLogs and (accounts) history share the tag: one entity's keys sit on one node. A /24's
-- tag carries 4 hex digits of its SHA-1 (shield.store.routing.SPREAD: CRC16 is linear); the last one
-- is remembered (an observe makes a subnet's key twice; a table of them cost more than the digests).
local SPREAD_V, SPREAD_T = nil, nil
local function counter_key(d, v)
  if SPREAD[d] then
    if v ~= SPREAD_V then SPREAD_V, SPREAD_T = v, v .. ':' .. string.sub(redis.sha1hex(v), 1, 4) end
    v = SPREAD_T
  end
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
