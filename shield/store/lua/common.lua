-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows, approximated with two fixed buckets per window (shield.store.sliding):
-- a window of W seconds keeps its current bucket (W wide, aligned on absolute time) and the
-- previous one, weighted by the part of it still inside the window. One hash per entity:
--   "c1".."cK"     the packed counter row (shield.store.packed): doubles last write and expiry
--                  armed, then per window and measure the current and previous bucket as int32,
--                  cut into fields of at most 64 bytes (Redis's listpack limit: a bigger value
--                  turns the whole hash into a real hash table, 2-3x the memory)
--   "<k>#" .. chr(32 + i)  distinct set k's members and last seen, packed (exact, small sets: set_read)
--   "<k>|<member>" the previous layout's member -> last seen (read, packed and deleted: set_upgrade)
--   "<k>~"         set k went HyperLogLog at that time; "<k>~t" / "<k>~c" / "<k>~p" its cached counts
--   "+<j><j2><now>" an outcome's count of measure j (and j2, or 0) at time <now> as sent, not yet in
--                  the row -> its sequence number on the node (outcome.lua writes it instead of
--                  reading and writing the row; the entity's next observe counts the pending ones
--                  into the row, in the order written, and deletes them: fold_deltas)
-- The row is unpacked once, moved, bumped, packed once and returned as it is: the window estimates
-- are the worker's work (Redis's CPU is the one every worker shares).
-- Bucket starts and previous-bucket weights depend only on `now`: computed once per call.
local DWW, SWW = DW, SW
-- The library functions the hot paths call, as upvalues (a global function's lookup is two table
-- reads a call): set by the first call (a library's load cannot reach string, struct or redis.call).
local rcall, spack, sunpack, ssub, tconcat, floor
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
  f.chunk_index = {}
  f.split = '<'
  for i, c in ipairs(chunks) do
    f.fields[i], f.chunk_index[c[1]] = c[1], i
    f.split = f.split .. 'c' .. (c[3] - c[2] + 1) -- put_row's
  end
  f.fields[#chunks + 1] = 'n'
  for i = 1, #ws do f.legacy[i + 1] = tostring(i) end
  for i = 1, n do f.zero[i] = 0 end
  -- A new entity's counters after its first attempt, but for the two doubles (observe.lua)
  local first = {}
  for i = 1, n - 2 do first[i] = 0 end
  for i = 1, #ws do first[2 * (i - 1) * m + 1] = 1 end
  f.first = spack('<' .. string.rep('i4', n - 2), unpack(first))
  -- ... cut as its fields are (observe_entity writes a new entity's row as they are: no string.sub per
  -- field on every new entity): the first field's bytes after the two doubles, then the other fields
  local head = chunks[1][3] - 16
  f.first1, f.firstparts = ssub(f.first, 1, head), {}
  for i = 2, #chunks do f.firstparts[i] = ssub(f.first, chunks[i][2] - 16, chunks[i][3] - 16) end
  f.firsttail = ssub(f.first, head + 1)
  f.zerorow = spack(f.fmt, unpack(f.zero))
  f.patch = {} -- per measures counted, patch_format's
  return f
end
-- The reads mask (observe's ARGV[1]) decoded, per mask: per dimension, per set k whether it is kept
-- and per window whether it is counted, and where each counted window's count goes among the
-- entity's counts in a reply (slot[k][wi]: window-major, only the counted ones; `slots` of them:
-- shield.store.redis's kept_distinct). A library keeps it across calls (a rule reload brings a new
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
    local slot, c = {}, 0
    for k = 1, #DISTINCT[d] do slot[k] = {} end
    for wi = 1, #DW do
      for k = 1, #DISTINCT[d] do
        if per.rws[k][wi] then c = c + 1; slot[k][wi] = c end
      end
    end
    per.slot, per.slots = slot, c
    m[d] = per
  end
  MASKS[reads], NMASKS = m, NMASKS + 1
  return m
end
local FRAMES, SITE_FRAME -- built by the first call (a library's load may not use string)
local NOW = 0

-- Run for every attempt on every master it reaches (set_now): no C function called (ipairs, math.floor
-- cost a call each), q % 1 is q - floor(q) exactly, as math.floor's (exact for q >= 0: Sterbenz).
local function at(f)
  local ws, start, weight = f.ws, f.start, f.weight
  for i = 1, #ws do
    local w = ws[i]
    local q = NOW / w
    local b = q >= 0 and q - q % 1 or floor(q)
    start[i] = b * w
    weight[i] = 1 - (q - b)
  end
end

-- The time every window's arithmetic uses (the caller's). Per attempt on every master it reaches, so
-- FRAMES[3]'s window starts are made again only when NOW leaves the span [SLO, SHI) they were made
-- for (every window in the same bucket), and its weights only when asked (weights3: a large set's
-- counts): at ~50 instructions a bytecode, at()'s loop was 5k instructions an attempt. The span is
-- cut short by a margin of float rounding at each edge, so a time near a bucket's edge still takes
-- at()'s exact arithmetic (its floor of NOW / w, not the span's comparison); NaN too.
local SLO, SHI, WAT = 1, 0, nil
local function set_now(t)
  NOW = t
  if t >= SLO and t < SHI then return end
  if not FRAMES then
    rcall, spack, sunpack, ssub, tconcat, floor = redis.call, struct.pack, struct.unpack, string.sub, table.concat, math.floor
    FRAMES, SITE_FRAME = {[3] = frame(DW, 3, ROW3), [5] = frame(DW, 5, ROW5)}, frame(SW, 4, ROWSITE)
    FRAMES.hllfmt = '<dd' .. string.rep('i4', 2 * #DW) -- a large set's packed state (observe.lua)
    FRAMES[5].start, FRAMES[5].weight = FRAMES[3].start, FRAMES[3].weight -- the same windows
  end
  local f = FRAMES[3]
  at(f) -- SITE_FRAME's when a site shard is met (site_frame: most attempts meet none)
  WAT, FRAMES.span = t, (FRAMES.span or 0) + 1 -- span: which span (suffixes' test)
  local lo, hi = -math.huge, math.huge
  for i = 1, #f.ws do
    local b, w = f.start[i], f.ws[i]
    if b > lo then lo = b end
    if b + w < hi then hi = b + w end
  end
  local margin = (math.abs(lo) + math.abs(hi)) * 1e-12 + 1e-9 -- far above a division's rounding
  SLO, SHI = lo + margin, hi - margin
  if not (t >= SLO and t < SHI) then SLO, SHI = 1, 0 end -- near an edge (or NaN): at() every time
end

-- FRAMES[3]'s weights of NOW (at()'s: set_now makes them only with the starts).
local function weights3()
  if WAT ~= NOW then
    at(FRAMES[3])
    WAT = NOW
  end
  return FRAMES[3].weight
end

-- SITE_FRAME with its window starts and weights of NOW (made once per time: the call that counts or
-- reads a site shard asks for it).
local SITE_NOW
local function site_frame()
  if SITE_NOW ~= NOW then
    at(SITE_FRAME)
    SITE_NOW = NOW
  end
  return SITE_FRAME
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
    if s then s = tconcat(parts) end
  end
  if s and #s == fr.len then return {sunpack(fr.fmt, s)} end
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
    weight = 1 - (a[1] / w - floor(a[1] / w))
  end
  return c + floor(p * weight + 0.5)
end

-- The key's expiry is (re)armed at most once per REARM seconds: TTL_MS covers the longest window's
-- previous bucket plus REARM, so a key always outlives the last write that matters by 2 windows.
-- Appends the row's fields to w; returns whether to PEXPIRE the key (after writing it: a new key
-- must exist first) and the packed row.
-- Writes row's fields (name, bytes) into w from w[n + 1] on: one struct.unpack cuts a row of up to
-- 4 fields (a string.sub per field costs a C call and a string more per field). A row is its
-- frame's length (packed with its format, or joined's).
local SROW, SFR, S1, S2, S3, S4 -- the last row cut, and its fields (upvalues, as joined's)
local function put_row(fr, row, w, n)
  local c = fr.chunks
  local k = #c
  if k == 1 then
    w[n + 1], w[n + 2] = c[1][1], row
  elseif k <= 4 then
    local p1, p2, p3, p4
    if row == SROW and fr == SFR then -- the last row cut (the same row written to several entities)
      p1, p2, p3, p4 = S1, S2, S3, S4
    else
      p1, p2, p3, p4 = sunpack(fr.split, row) -- the position after them comes next
      SROW, SFR, S1, S2, S3, S4 = row, fr, p1, p2, p3, p4
    end
    w[n + 1], w[n + 2], w[n + 3], w[n + 4] = c[1][1], p1, c[2][1], p2
    if k >= 3 then w[n + 5], w[n + 6] = c[3][1], p3 end
    if k == 4 then w[n + 7], w[n + 8] = c[4][1], p4 end
  else
    for i = 1, k do w[n + 2 * i - 1], w[n + 2 * i] = c[i][1], ssub(row, c[i][2], c[i][3]) end
  end
end

local function pack_counts(fr, a, w)
  local arm = NOW - a[2] >= REARM or NOW < a[2]
  if arm then a[2] = NOW end
  local row = spack(fr.fmt, unpack(a, 1, fr.n))
  put_row(fr, row, w, #w)
  return arm, row
end

-- A row's bytes as one string: its fields joined (raw: their values, false when absent), or an
-- empty row when absent or foreign (unpack_counts's zeros).
-- The last row of two fields joined is kept (in upvalues: a write into an old table costs the
-- collector a pass over it again): the entities an attempt creates hold the same row (counted once,
-- at one time) and its outcome reads them back one after another.
local J1, J2, JROW
local function joined(fr, raw)
  local s = raw[1]
  local k = #fr.chunks
  if s and k > 1 then
    if k == 2 and s == J1 and raw[2] == J2 then return JROW end
    for i = 2, k do
      if not raw[i] then return fr.zerorow end
    end
    s = tconcat(raw, '', 1, k)
    if k == 2 and #s == fr.len then J1, J2, JROW = raw[1], raw[2], s end
  end
  if s and #s == fr.len then return s end
  return fr.zerorow
end

-- Counting measures j (and j2) changes two doubles and one int32 per window and measure: the row
-- read as those values and the bytes between them (one struct format per frame and measures, made
-- once): struct's work is per value, and a whole row is 26 or 42 of them.
-- Returns the format, the number of values and per changed int32 its position and its increment.
local function patch_format(fr, j, j2)
  local id = j * 8 + (j2 or 0)
  local p = fr.patch[id]
  if p then return p end
  local offsets, adds = {}, {}
  for i = 1, #fr.ws do
    -- measure x's current bucket in window i, a[k] with k = 2 * ((i - 1) * m + x) + 1 (add's), is
    -- at byte 16 + 4 * (k - 3) (0-based)
    local base = 16 + 8 * ((i - 1) * fr.m - 1)
    local a, b = base + 8 * j, j2 and base + 8 * j2
    if b == a then adds[a] = 2 else adds[a] = 1 end
    offsets[#offsets + 1] = a
    if b and b ~= a then adds[b] = 1; offsets[#offsets + 1] = b end
  end
  table.sort(offsets)
  local fmt, n, cursor, pos, inc = '<dd', 2, 16, {}, {}
  for _, off in ipairs(offsets) do
    if off > cursor then fmt, n = fmt .. 'c' .. (off - cursor), n + 1 end
    fmt, n = fmt .. 'i4', n + 1
    pos[#pos + 1], inc[#inc + 1] = n, adds[off]
    cursor = off + 4
  end
  if fr.len > cursor then fmt, n = fmt .. 'c' .. (fr.len - cursor), n + 1 end
  p = {fmt = fmt, n = n, pos = pos, inc = inc}
  fr.patch[id] = p
  return p
end

-- Row s (joined's) after counting measure j (and j2) now, byte for byte what unpack_counts, roll,
-- add and pack_counts make, and whether the key's expiry is to be re-armed (pack_counts's). When no
-- window's buckets move (the last write is in each one's current bucket, or not before now: the
-- usual case), only the counted values are unpacked and packed (patch_format).
-- The last count is kept (a pure function of its arguments and NOW; in upvalues, as joined's): the
-- rows an attempt created are alike (joined's), and its outcome counts them at one time.
local CFROM, CNOW, CFR, CJ, CJ2, CROW, CARM
local function counted(fr, s, j, j2)
  if s == CFROM and NOW == CNOW and fr == CFR and j == CJ and j2 == CJ2 then return CROW, CARM end
  local p = patch_format(fr, j, j2)
  local v = {sunpack(p.fmt, s)}
  local last, moves = v[1], false
  if NOW > last and last ~= 0 then
    for i = 1, #fr.ws do
      if last < fr.start[i] then moves = true end
    end
  end
  local arm
  if moves then
    local a = {sunpack(fr.fmt, s)}
    roll(fr, a)
    add(fr, a, j)
    if j2 then add(fr, a, j2) end
    arm = NOW - a[2] >= REARM or NOW < a[2]
    if arm then a[2] = NOW end
    local row = spack(fr.fmt, unpack(a, 1, fr.n))
    CFROM, CNOW, CFR, CJ, CJ2, CROW, CARM = s, NOW, fr, j, j2, row, arm
    return row, arm
  end
  if NOW > last then v[1] = NOW end -- roll's only change
  local pos, inc = p.pos, p.inc
  for x = 1, #pos do v[pos[x]] = v[pos[x]] + inc[x] end
  arm = NOW - v[2] >= REARM or NOW < v[2]
  if arm then v[2] = NOW end
  local row = spack(p.fmt, unpack(v, 1, p.n))
  CFROM, CNOW, CFR, CJ, CJ2, CROW, CARM = s, NOW, fr, j, j2, row, arm
  return row, arm
end


-- Count measure j (and j2) now in an entity's counters (record_outcome's path: no members read).
local function bump(key, fr, j, j2)
  local raw = rcall('HMGET', key, unpack(fr.fields))
  local a = unpack_counts(fr, raw)
  roll(fr, a)
  add(fr, a, j)
  if j2 then add(fr, a, j2) end
  local w = {}
  local arm = pack_counts(fr, a, w)
  rcall('HSET', key, unpack(w))
  if raw[#fr.fields] then rcall('HDEL', key, unpack(fr.legacy)) end -- the previous layout's fields
  if arm then rcall('PEXPIRE', key, TTL_MS) end
  return a
end

-- Every entity has its own hash tag, so entities spread over the Cluster's slots (and masters);
-- its HyperLogLogs and (accounts) history share the tag: one entity's keys sit on one node. A /24's
-- tag carries 4 hex digits of its SHA-1 (shield.store.routing.SPREAD: CRC16 is linear); the tags
-- made are kept, at most 256 (a batch's attempts take turns among an attack's few /24s: a digest is
-- ~6k instructions, a kept tag's lookup a table read).
local KEYPFX = {}
for d = 1, #DIMS do KEYPFX[d] = '{' .. T .. DIMS[d] .. ':' end
local SPREADS, NSPREADS = {}, 0
local function counter_key(d, v)
  if SPREAD[d] then
    local t = SPREADS[v]
    if not t then
      if NSPREADS >= 256 then SPREADS, NSPREADS = {}, 0 end
      t = v .. ':' .. ssub(redis.sha1hex(v), 1, 4)
      SPREADS[v], NSPREADS = t, NSPREADS + 1
    end
    v = t
  end
  return KEYPFX[d] .. v .. '}'
end

-- The site counters of one shard (key): bumped (measure j, j2) or only read, then returned
-- raw, per site window and measure the current and previous bucket (the caller adds up the
-- shards and estimates). A late shard (now before its last write) returns its estimates as current.
local function site_shard(key, bump_it, j, j2)
  site_frame()
  local a
  if bump_it then
    a = bump(key, SITE_FRAME, j, j2)
  else
    a = unpack_counts(SITE_FRAME, rcall('HMGET', key, unpack(SITE_FRAME.fields)))
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

-- observe.lua's work per entity, here so that a call creates no closures (a library's functions
-- are built once). Set per attempt by observe_attempt: its values (DIMS order) and the call's reads
-- mask (mask_of).
local OVALS, OMASK
local OSEEN -- the attempt's time as sent, as a number (NaN when it is not one: a stale member)
local NDW = #DW
local HLLLEN = 16 + 8 * NDW -- a large set's packed state (FRAMES.hllfmt)
-- Field name prefixes "<k>|" and "<k>~", a set's HyperLogLog keys' infix ":x:<k>:", and the keys' expiry as redis.call's argument: strings
-- made once (a number argument or a number in a concatenation is formatted every time).
local MPFX, SPFX, XPFX, TTL_ARG = {}, {}, {}, nil
local sbyte, tonum -- string.byte, tonumber (a library's load cannot reach string)
-- observe.lua's per-attempt state, made once: its values (DIMS order, overwritten by each attempt of
-- a call in turn).
local NDIMS, OBS_VALS = #DIMS, {}
local OBS_AT, OBS_HEAD, OBS_REPLY = {}, {}, {} -- a call's blocks (offset, flags) and its reply, reused
local OUT_AT, OUT_HEAD = {}, {} -- an outcome call's entries (offset, flags), reused
local BAN_FIELDS, OBS_BANS = {}, {} -- observe.lua's ban fields of a call (the first nf of them), where each block's start
-- A block's flags (observe.lua's: one per dimension, then `extra` more; outcome.lua's likewise),
-- decoded once per flags string and kept (few repeat): each flag's byte, the dimensions whose flag
-- is not '0' (a value or key follows for each, in order), and the block's length in arguments (now,
-- flags, those values; and an outcome's four history values when it counts the account). nil when
-- malformed. The callers look a string up in FLAGS[extra] first (a function call costs ~1k
-- instructions, on every master an attempt reaches).
local FLAGS, NFLAGS = {[2] = {}, [3] = {}}, 0
local function flags_of(flags, extra)
  if type(flags) ~= 'string' or #flags ~= NDIMS + extra then return nil end
  local known = FLAGS[extra]
  local f = known[flags]
  if f then return f end
  if NFLAGS >= 512 then FLAGS, NFLAGS = {[2] = {}, [3] = {}}, 0; known = FLAGS[extra] end
  f = {byte = {string.byte(flags, 1, #flags)}, dims = {}}
  for d = 1, NDIMS do
    if f.byte[d] ~= 48 then f.dims[#f.dims + 1] = d end
  end
  f.n = #f.dims
  f.len = 2 + f.n + ((extra == 3 and f.byte[ACCOUNT] == 49) and 4 or 0)
  known[flags], NFLAGS = f, NFLAGS + 1
  return f
end
-- A call's ARGV cut into its observe blocks (extra 2) or outcome entries (extra 3), each as long as its
-- own flags tell (flags_of), from offset `o`: each one's offset into `starts`, its flags into `heads`.
-- Returns how many and the offset reached, or nil and the offset of a ragged one (security: a block
-- is never read past ARGV's end).
local function split_blocks(argv, o, extra, starts, heads)
  local n, nb, known = #argv, 0, FLAGS[extra]
  while o < n do
    local f = known[argv[o + 2]] or flags_of(argv[o + 2], extra)
    if not f or o + f.len > n then return nil, o end
    nb = nb + 1
    starts[nb], heads[nb] = o, f
    o = o + f.len
  end
  return nb, o
end
-- The library's strings made at its first observe (a library's load cannot reach string).
local function observe_strings()
  TTL_ARG, sbyte, tonum = string.format('%d', TTL_MS), string.byte, tonumber
  for d = 1, #DIMS do
    for k = 1, #DISTINCT[d] do MPFX[k], SPFX[k], XPFX[k] = k .. '|', k .. '~', ':x:' .. k .. ':' end
  end
end

-- The HyperLogLog bucket keys' suffixes ("<window>:<bucket>") of NOW, made again when a bucket
-- changes (formatting numbers is what costs).
-- Not even looked at while NOW stays in the span they were made in (set_now's: every window's bucket
-- the same; a span near an edge, or NaN, is a new one at every set_now): floor and a division per
-- window were ~4k instructions per large set counted, on every attempt.
local CURSFX, PREVSFX, SFXB = {}, {}, {}
local function suffixes()
  local span = FRAMES.span
  if SFXB.span == span then return end
  SFXB.span = span
  for wi = 1, NDW do
    local b = floor(NOW / DW[wi])
    if SFXB[wi] ~= b then
      SFXB[wi], CURSFX[wi], PREVSFX[wi] = b, wi .. ':' .. b, wi .. ':' .. (b - 1)
    end
  end
end

-- A large set (HyperLogLog mode): PFADD the member into each read window's current bucket (rw[wi]),
-- count with the same two-bucket weighting (-1 for a window no rule reads). Counting (a union of two
-- HyperLogLogs per window) is the expensive part: done at most once per REFRESH seconds and per
-- bucket; in between, members that changed a register add one to the cached counts.
-- The state, packed in field "<k>~": since when it is a HyperLogLog, when its counts were last
-- merged, then per window the current bucket's count and the previous bucket's own members; st is
-- it unpacked (distinct_all's, which reads its first value), or nil for a set turning HyperLogLog.
-- Writes set k's counts into dc (window-major, nd sets, from dc[DCO + 1] on) and its state into w.
local ADDED, HST = {}, {}
local DCO = 0 -- where the entity being counted has its distinct counts in its table (observe_entity's)
local DSLOT -- and each counted window's place among them (slot[k][wi]: mask_of's)
-- The fields to write and to delete, one entity after another (observe_entity's): made once (a table
-- made per entity, and grown field by field, is 2 of them and their reallocations per entity on every
-- attempt), their first NW and NDEL values the entity's, counted from 0 when an entity starts (so
-- that a call an error cut short leaves nothing to the next; not cleared: a loop per entity). What
-- lies past them is an earlier entity's, unread: every writer appends at W[NW + 1] (DEL[NDEL + 1]).
local W, DEL, NW, NDEL = {}, {}, 0, 0
local function hll_counts(st, base, k, member, w, rw, dc, nd)
  suffixes()
  local stop = member == ''
  for wi = 1, NDW do
    local added = 0
    if not stop and rw[wi] then
      added = rcall('PFADD', base .. CURSFX[wi], member)
      -- security (cost): windows nest, so a member that changed nothing in a shorter window's bucket
      -- changes nothing in the longer ones (their registers are never lower): skip those PFADDs.
      if NESTED and added == 0 then stop = true end
    end
    ADDED[wi] = added
  end
  local at = st and st[2]
  local fresh = at and NOW >= at and NOW - at < REFRESH
  if fresh then
    local start = FRAMES[3].start
    for wi = 1, NDW do
      if at < start[wi] then fresh = false; break end
    end
  end
  HST[1] = NOW
  local weight = weights3()
  if fresh then -- (each window's count goes to dc in the same pass)
    for wi = 1, NDW do
      local c = st[2 + wi]
      if c == 0 and ADDED[wi] == 1 then -- the bucket's first member: the key was just created
        rcall('PEXPIRE', base .. CURSFX[wi], TTL_ARG)
      end
      local cur, prev = c + ADDED[wi], st[2 + NDW + wi]
      HST[2 + wi], HST[2 + NDW + wi] = cur, prev
      if rw[wi] then dc[DCO + DSLOT[k][wi]] = cur + floor(prev * weight[wi] + 0.5) end
    end
  else
    at = NOW
    for wi = 1, NDW do
      if rw[wi] then
        local hk = base .. CURSFX[wi]
        local cur = rcall('PFCOUNT', hk)
        HST[2 + wi], HST[2 + NDW + wi] = cur, math.max(0, rcall('PFCOUNT', hk, base .. PREVSFX[wi]) - cur)
        -- a new bucket always forces this merge: its key gets its expiry here
        rcall('PEXPIRE', hk, TTL_ARG)
        dc[DCO + DSLOT[k][wi]] = HST[2 + wi] + floor(HST[2 + NDW + wi] * weight[wi] + 0.5)
      else
        HST[2 + wi], HST[2 + NDW + wi] = 0, 0
      end
    end
  end
  HST[2] = at
  w[NW + 1], w[NW + 2], NW = SPFX[k], spack(FRAMES.hllfmt, unpack(HST, 1, 2 + 2 * NDW)), NW + 2
end

-- Exact sets, packed: set k's members and their last seen in one string, cut into hash fields
-- "<k>#" .. string.char(32 + i) (i = 1, 2, ...) of at most 64 bytes (Redis's listpack limit), so a
-- set is a few fields, not one per member: the member count (uint16), then per member in the order
-- first seen its length (uint16), its bytes and its last seen (a double: the time as sent, read as
-- a number once). One struct.unpack reads a whole set; a call rewrites only the fields it changed.
-- The previous layout's "<k>|<member>" -> last seen fields are read as members too and replaced.
local SETFIELD, UNPACKFMT, PACKFMT = {}, {}, {}
local SETMAX = 1024 -- security: members in a packed set read back (CAP + 1 at most; more is foreign)
local PCH, PN = {}, {} -- per set k of the entity being counted: its packed fields' values by index, highest index
local MAXSETS = 0
for d = 1, #DIMS do
  if #DISTINCT[d] > MAXSETS then MAXSETS = #DISTINCT[d] end
end
for k = 1, MAXSETS do PCH[k], PN[k] = {}, 0 end
-- the previous layout's member fields of the entity being counted: their positions in its HGETALL and sets
local MEMBERS, MEMBERK = {}, {}
local CHUNKK, CHUNKI = {}, {} -- a packed set's field name -> its set, its index
local function set_field(k, i)
  local t = SETFIELD[k]
  if not t then t = {}; SETFIELD[k] = t end
  local f = t[i]
  if not f then
    f = k .. '#' .. string.char(32 + i)
    t[i], CHUNKK[f], CHUNKI[f] = f, k, i
  end
  return f
end

-- security: a member's length is packed as a uint16; a longer value (none the worker sends: its
-- values are addresses, numbers and short digests) is cut rather than corrupting its set.
local function set_member(m)
  if #m > 65535 then return ssub(m, 1, 65535) end
  return m
end

-- Sets read as they were last written are not unpacked again (a library keeps its state across
-- calls; unpacking a set of 44 members is ~44k instructions): their parsed tables by their packed
-- string. Keyed by content, so a set another call or layout changed since misses; an entry is
-- taken out when read (its table is then the reader's to change) and cached again only as the
-- exact parse of the string written (set_keep). Bounded: at most SETCACHE_MAX sets, each of at most
-- SETCACHE_BYTES and CAP + 1 members (security: members are up to 64 KiB each, and a foreign set may
-- hold hundreds of empty ones; a few such sets would hold megabytes).
local SETCACHE, NSETCACHE, SETCACHE_MAX, SETCACHE_BYTES = {}, 0, 256, 4096
-- Caches v (n members: v[1] = n, member i at [2i], its last seen at [2i + 1]) as set string s's parse.
local function set_keep(s, v, n)
  if #s > SETCACHE_BYTES or n > CAP + 1 then return end -- (a set Shield writes has at most CAP + 1)
  if NSETCACHE >= SETCACHE_MAX then SETCACHE, NSETCACHE = {}, 0 end
  if not SETCACHE[s] then NSETCACHE = NSETCACHE + 1 end
  v[1] = n
  SETCACHE[s] = v
end

-- Set k's packed members: a table with member i at [2i] and its last seen at [2i + 1], and their
-- number (0: none, or a string that is not a packed set's), and the packed string.
local function set_read(k)
  local nc, chunks = PN[k], PCH[k]
  if nc == 0 then return nil, 0 end
  for i = 1, nc do
    if not chunks[i] then return nil, 0 end
  end
  local blob = nc == 1 and chunks[1] or tconcat(chunks, '', 1, nc)
  local hit = SETCACHE[blob]
  if hit then
    SETCACHE[blob], NSETCACHE = nil, NSETCACHE - 1
    return hit, hit[1], blob
  end
  if #blob < 12 then return nil, 0 end
  local n = sunpack('<H', blob)
  if n < 1 or n > SETMAX then return nil, 0 end
  local fmt = UNPACKFMT[n]
  if not fmt then fmt = '<' .. string.rep('Hc0d', n); UNPACKFMT[n] = fmt end
  local v = {pcall(sunpack, fmt, blob, 3)}
  if not v[1] or v[2 * n + 2] ~= #blob + 1 then return nil, 0 end
  return v, n, blob
end

-- Writes set k's new string s (nil: no member left) over its stored fields: the fields that changed
-- go to w, those no longer needed to del. A field is 64 bytes (more when a set would need more
-- than 223 fields: members far longer than any the worker sends). `from`: the first byte that may
-- have changed, past the count (nil: any).
local function set_write(k, s, w, del, from)
  local chunks, nc, i = PCH[k], PN[k], 0
  if s then
    local total, size = #s, 64
    if total > 64 * 223 then size = math.ceil(total / 223) end
    local skip = from and size == 64 and chunks[1] and floor((from - 1) / 64) or 0
    for p = 1, total, size do
      i = i + 1
      if i == 1 or i > skip then
        local c = (p == 1 and total <= size) and s or ssub(s, p, p + size - 1) -- one field: s itself
        if c ~= chunks[i] then w[NW + 1], w[NW + 2], NW = set_field(k, i), c, NW + 2 end
      end
    end
  end
  for j = i + 1, nc do
    if chunks[j] then NDEL = NDEL + 1; del[NDEL] = set_field(k, j) end
  end
end

-- The packed string of members v[2i] (i in 1..n) whose kept[i] (or all when kept is nil), last seen v[2i + 1].
local ARGS = {}
local function set_pack(v, n, kept)
  local c = 1
  for i = 1, n do
    if not kept or kept[i] then
      local m = v[2 * i]
      ARGS[c + 1], ARGS[c + 2], ARGS[c + 3] = #m, m, v[2 * i + 1]
      c = c + 3
    end
  end
  local count = (c - 1) / 3
  if count == 0 then return nil end
  ARGS[1] = count
  local fmt = PACKFMT[count]
  if not fmt then fmt = '<H' .. string.rep('Hc0d', count); PACKFMT[count] = fmt end
  return spack(fmt, unpack(ARGS, 1, c))
end

-- A new set of one member seen at OSEEN, packed; the last two are kept (an attempt's new entities
-- often start sets of the same member: its account's, its address's).
local NM1, NS1, NP1, NM2, NS2, NP2
local function new_set(member)
  if member == NM1 and OSEEN == NS1 then return NP1 end
  if member == NM2 and OSEEN == NS2 then return NP2 end
  local p = spack('<HHc0d', 1, #member, member, OSEEN)
  NM2, NS2, NP2, NM1, NS1, NP1 = NM1, NS1, NP1, member, OSEEN, p
  return p
end

-- A new entity (empty hash): each kept set's only member is this attempt's value.
local function distinct_new(d, w, dc, nd)
  local specs, mask = DISTINCT[d], OMASK[d]
  for k = 1, #specs do
    if mask.kept[k] then
      local member, rw = OVALS[specs[k][2]], mask.rws[k]
      if member ~= '' then
        set_write(k, new_set(set_member(member)), w, DEL)
      end
      local n = member ~= '' and 1 or 0
      for wi = 1, NDW do
        if rw[wi] then dc[DCO + DSLOT[k][wi]] = n end
      end
    end
  end
end

-- A set past CAP live members (v[2i], last seen v[2i + 1], those i with kept[i]; then `member` at
-- now when `new`): its HyperLogLogs are seeded from them (one PFADD, members in order, and one
-- PEXPIRE per bucket key), then counted.
-- The bucket keys of now and of the bucket before are made once per window (suffixes'), not per
-- member and window: a number in a concatenation is formatted every time (~2k instructions each).
local CURKEY, PREVKEY, LATEB, LATEKEY = {}, {}, {}, {}
local function to_hll(base, k, v, n, kept, member, new, w, rw, dc, nd)
  local now, names, order = NOW, {}, {}
  suffixes()
  for wi = 1, NDW do CURKEY[wi], PREVKEY[wi], LATEB[wi] = base .. CURSFX[wi], base .. PREVSFX[wi], nil end
  for i = 1, n + 1 do
    local name, seen
    if i <= n then
      if kept[i] then name, seen = v[2 * i], v[2 * i + 1] end
    elseif new then
      name, seen = member, now
    end
    if name then
      for wi = 1, NDW do
        local b, cb = floor(seen / DW[wi]), SFXB[wi] -- SFXB: math.floor(now / DW[wi])
        if rw[wi] and b >= cb - 1 then
          local hk = b == cb and CURKEY[wi] or b == cb - 1 and PREVKEY[wi] or b == LATEB[wi] and LATEKEY[wi]
          if not hk then -- a member last seen after now (a late attempt's set): the last such bucket's kept
            hk = base .. wi .. ':' .. b
            LATEB[wi], LATEKEY[wi] = b, hk
          end
          local g = names[hk]
          if not g then g = {}; names[hk] = g; order[#order + 1] = hk end
          g[#g + 1] = name
        end
      end
    end
  end
  for _, hk in ipairs(order) do
    rcall('PFADD', hk, unpack(names[hk]))
    rcall('PEXPIRE', hk, TTL_ARG)
  end
  hll_counts(nil, base, k, '', w, rw, dc, nd)
end

-- The previous layout's members of set k (fields "<k>|<member>", at positions MEMBERS[i] of `all`
-- with MEMBERK[i] == k) appended to v (n members; a member also packed keeps its packed entry),
-- their fields deleted. Returns v and the new n.
local function set_upgrade(k, v, n, all, nm, del)
  local packed = nil
  for i = 1, nm do
    if MEMBERK[i] == k then
      local j = MEMBERS[i]
      if not v then v = {} end
      if not packed then
        packed = {}
        for x = 1, n do packed[v[2 * x]] = true end
      end
      local name = ssub(all[j], 3)
      if not packed[name] then
        n = n + 1
        v[2 * n], v[2 * n + 1] = name, tonumber(all[j + 1]) or 0 / 0
        packed[name] = true
      end
      NDEL = NDEL + 1; del[NDEL] = all[j]
    end
  end
  return v, n
end

-- The number of fields the entity's hash (n fields, npacked of them packed sets') had in the previous
-- layout, one per member: an entity of as many fields as its row's, no set kept, is left as it was.
local function fields_before(n, npacked)
  if npacked == 0 then return n end
  n = n - npacked
  for k = 1, MAXSETS do
    local first = PN[k] > 0 and PCH[k][1]
    if first and #first >= 2 then
      local lo, hi = sbyte(first, 1, 2)
      n = n + lo + 256 * hi
    end
  end
  return n
end

local KEEP, CNT, FIRST = {}, {}, {}
local ASCENDING = true -- the windows, shortest first: a member within one is within every longer one
for wi = 2, NDW do
  if DW[wi] < DW[wi - 1] then ASCENDING = false end
end
-- Set k's members v[2i] (last seen v[2i + 1], i in 1..n) counted per window read (rw) into CNT,
-- `cur` (the attempt's member, or false) at age 0, a new one too; KEEP[i]: whether member i is
-- live. Returns whether cur is present, its index, the live members (cur included) and whether
-- one is stale (last seen MAXW or more ago: dropped). cur is live whenever it was last seen: it is
-- seen now (a member back after a day counts, as on the memory store).
local function set_pass(v, n, cur, rw)
  local now = NOW
  for wi = 1, NDW do CNT[wi], FIRST[wi] = 0, 0 end
  local present, at, live, stale = false, 0, 0, false
  for i = 1, n do
    local m, seen = v[2 * i], v[2 * i + 1]
    local mine = m == cur
    if mine then present, at = true, i end
    if mine or now - seen < MAXW then
      live = live + 1
      KEEP[i] = true
      local age = mine and 0 or now - seen -- its last seen moves to now
      if ASCENDING then -- counted in its first window and every longer one (added up below)
        local wi = 1
        while wi <= NDW and age >= DW[wi] do wi = wi + 1 end
        if wi <= NDW then FIRST[wi] = FIRST[wi] + 1 end
      else
        for wi = 1, NDW do
          if rw[wi] and age < DW[wi] then CNT[wi] = CNT[wi] + 1 end
        end
      end
    else
      KEEP[i], stale = false, true
    end
  end
  if ASCENDING then
    local sum = 0
    for wi = 1, NDW do
      sum = sum + FIRST[wi]
      if rw[wi] then CNT[wi] = sum end
    end
  end
  -- a new member counts now
  if cur and not present then
    live = live + 1
    for wi = 1, NDW do
      if rw[wi] then CNT[wi] = CNT[wi] + 1 end
    end
  end
  return present, at, live, stale
end

-- A kept parse's members' last seen, sorted (v.sorted), and each member's index (v.idx): made once
-- per kept set (false when a time is NaN or a member repeats: set_pass's work), kept in step by
-- set_moved. With them, a set none of whose members is stale is counted by a binary search per
-- window read, not a pass over its members (~2k instructions each).
local function sorted_of(v, n)
  local s, idx = {}, {}
  for i = 1, n do
    local m, seen = v[2 * i], v[2 * i + 1]
    if seen ~= seen or idx[m] then return false end
    s[i], idx[m] = seen, i
  end
  table.sort(s)
  return s, idx
end

-- set_pass's answers (CNT filled, present, at, live) without its pass, when v's sorted times are
-- kept (or made now), its oldest member is live (so is every other: none to drop) and the set stays
-- exact; else nil. Every comparison is set_pass's own (now - seen < w is monotone in seen).
local function set_sorted(v, n, cur, rw)
  if not v or n == 0 then return nil end
  local s, idx = v.sorted, v.idx
  if s == nil then
    s, idx = sorted_of(v, n)
    v.sorted, v.idx = s, idx
  end
  local now = NOW
  if not s or not (now - s[1] < MAXW) then return nil end
  local i = cur and idx[cur]
  local live = (cur and not i) and n + 1 or n
  if live > CAP then return nil end
  local own = i and now - v[2 * i + 1] -- the present member's age before this attempt
  for wi = 1, NDW do
    if rw[wi] then
      local w = DW[wi]
      local lo, hi = 1, n + 1 -- the first sorted index whose member is within w (n + 1: none)
      while lo < hi do
        local mid = (lo + hi - (lo + hi) % 2) / 2 -- no C call
        if now - s[mid] < w then hi = mid else lo = mid + 1 end
      end
      local c = n + 1 - lo
      if i then
        if not (own < w) then c = c + 1 end -- its age is 0 now
      elseif cur then
        c = c + 1 -- a new member
      end
      CNT[wi] = c
    end
  end
  return i ~= nil and i ~= false, i or 0, live
end

-- Keeps v's sorted times in step (if made) when member `at`'s last seen moves from `old` to `seen`
-- (at > n: a member appended, old is nil).
local function set_moved(v, at, old, seen)
  local s = v.sorted
  if not s then return end
  if seen ~= seen then v.sorted = false; return end
  local n = #s
  if old ~= nil then -- one entry equal to old goes: the first at or after it
    local lo, hi = 1, n
    while lo < hi do
      local mid = (lo + hi - (lo + hi) % 2) / 2 -- no C call
      if s[mid] < old then lo = mid + 1 else hi = mid end
    end
    if s[lo] ~= old then v.sorted = false; return end
    table.remove(s, lo)
    n = n - 1
  else
    v.idx[v[2 * at]] = at
  end
  local lo, hi = 1, n + 1 -- after every entry at or before seen
  while lo < hi do
    local mid = (lo + hi - (lo + hi) % 2) / 2 -- no C call
    if s[mid] <= seen then lo = mid + 1 else hi = mid end
  end
  table.insert(s, lo, seen)
end

-- Distinct sets of one entity (its hash read as `all`: `states` its "<k>~" fields, PCH/PN its packed
-- sets, `members` the positions in `all` of the previous layout's "<k>|<member>" fields): exact
-- member -> last seen up to CAP live members per set, then HyperLogLogs. An unkept set's members and
-- state, kept by an earlier rule pack, and a stale member are deleted; a kept set's counts go to dc.
local function distinct_all(d, key, all, states, nm, w, del, dc, nd)
  local specs = DISTINCT[d]
  local kept, rws = OMASK[d].kept, OMASK[d].rws
  local now = NOW
  for i = 1, nm do -- the previous layout's members of no set: deleted
    local k = MEMBERK[i]
    if not (k >= 1 and k <= nd) then NDEL = NDEL + 1; del[NDEL] = all[MEMBERS[i]] end
  end
  for k = 1, #specs do
    local state = states[k]
    local st = kept[k] and state ~= nil and #state == HLLLEN and {sunpack(FRAMES.hllfmt, state)}
    local hll = st and now - st[1] < MAXW
    if state and not kept[k] then NDEL = NDEL + 1; del[NDEL] = SPFX[k] end
    local member = OVALS[specs[k][2]]
    if not kept[k] or hll then -- its members go (its counts stay -1, or come from its HyperLogLogs)
      set_write(k, nil, w, del)
      set_upgrade(k, nil, 0, all, nm, del)
      if hll then hll_counts(st, key .. XPFX[k], k, member, w, rws[k], dc, nd) end
    else
      local v, n, blob = set_read(k)
      local packed = n
      if nm > 0 then v, n = set_upgrade(k, v, n, all, nm, del) end
      local cur = member ~= '' and set_member(member)
      local rw = rws[k]
      local present, at, live, stale = nil, 0, 0, false
      if nm == 0 then present, at, live = set_sorted(v, n, cur, rw) end -- none stale when it answers
      if present == nil then present, at, live, stale = set_pass(v, n, cur, rw) end
      local new = cur and not present
      if live <= CAP then
        for wi = 1, NDW do
          if rw[wi] then dc[DCO + DSLOT[k][wi]] = CNT[wi] end
        end
        local s, from = blob, nil
        if stale or n ~= packed then -- members to drop or to add from the previous layout: packed again
          if present and KEEP[at] then v[2 * at + 1] = OSEEN end
          if cur and not (present and KEEP[at]) then
            n = n + 1; v[2 * n], v[2 * n + 1], KEEP[n] = cur, OSEEN, true
          end
          s = set_pack(v, n, KEEP)
        elseif present then -- its last seen, in place (the usual case)
          local p = 3
          for i = 1, at - 1 do p = p + 10 + #v[2 * i] end
          p = p + 2 + #cur
          s, from = ssub(blob, 1, p - 1) .. spack('<d', OSEEN) .. ssub(blob, p + 8), p
          local was = v[2 * at + 1]
          v[2 * at + 1] = OSEEN -- v is now s's parse (a double packed and unpacked is itself)
          set_moved(v, at, was, OSEEN)
          set_keep(s, v, n)
        elseif cur then -- appended
          s = (n == 0 and spack('<H', 1) or spack('<H', n + 1) .. ssub(blob, 3))
            .. spack('<Hc0d', #cur, cur, OSEEN)
          from = blob and #blob + 1
          v = v or {}
          v[2 * n + 2], v[2 * n + 3] = cur, OSEEN -- over unpack's next position
          set_moved(v, n + 1, nil, OSEEN)
          set_keep(s, v, n + 1)
        elseif v then -- unchanged (no member counted)
          set_keep(blob, v, n)
        end
        if s ~= blob or not blob then set_write(k, s, w, del, from) end
      else
        set_write(k, nil, w, del)
        if present and KEEP[at] then v[2 * at + 1] = now end
        to_hll(key .. XPFX[k], k, v, n, KEEP, cur, new, w, rw, dc, nd)
      end
    end
  end
end

-- Count the attempt in one entity (own: its row too; else only its distinct sets) and read it back
-- into out from out[at + 1] on (observe.lua's reply, one flat list: a table in a reply costs Redis
-- ~4k instructions to convert, on every master an attempt reaches): its packed row after counting
-- ('' when not counted here: its stored row as it is), then its distinct counts per window and set
-- (window-major; only the windows the reads mask counts). Returns the position of its last value.
local RAW, STATES = {}, {}
-- Pending outcome counts ("+<j><j2><now>" fields, outcome.lua's), folded into the row by the next
-- writer in the order they were written: the positions in an HGETALL of them, and the row after them.
local DPOS = {}
local function fold_deltas(fr, s, all, del, NDPOS)
  local t0, arm = NOW, false
  if NDPOS > 1 then -- in the order written: by their sequence numbers (a hash's order is not kept
    -- once Redis makes it a hash table), ties as found; an insertion sort (a handful)
    for x = 2, NDPOS do
      local p = DPOS[x]
      local q = tonum(all[p + 1]) or 0
      local y = x - 1
      while y >= 1 and (tonum(all[DPOS[y] + 1]) or 0) > q do
        DPOS[y + 1] = DPOS[y]; y = y - 1
      end
      DPOS[y + 1] = p
    end
  end
  -- Three or more: the row unpacked once, each count made on its values as counted() makes it (its
  -- moves test, roll, add, the expiry's re-arm), packed once (counted() unpacks and packs the
  -- values it changes per count: ~10k instructions a count, a busy subnet's fold has a dozen).
  local v = NDPOS >= 3 and {sunpack(fr.fmt, s)}
  for x = 1, NDPOS do
    local f = all[DPOS[x]]
    NDEL = NDEL + 1; del[NDEL] = f
    local j, j2 = sbyte(f, 2, 3)
    local t = tonum(ssub(f, 4))
    if t and j2 then -- (a field that is not one is deleted, not counted)
      j, j2 = j - 48, j2 - 48
      if j >= 1 and j <= fr.m and j2 >= 0 and j2 <= fr.m then
        set_now(t)
        if v then
          local last, moves = v[1], false
          if NOW > last and last ~= 0 then
            for i = 1, #fr.ws do
              if last < fr.start[i] then moves = true end
            end
          end
          if moves then roll(fr, v) elseif NOW > last then v[1] = NOW end
          add(fr, v, j)
          if j2 ~= 0 then add(fr, v, j2) end
          if NOW - v[2] >= REARM or NOW < v[2] then v[2], arm = NOW, true end
        else
          local a
          s, a = counted(fr, s, j, j2 ~= 0 and j2 or nil)
          arm = arm or a
        end
      end
    end
  end
  if v then s = spack(fr.fmt, unpack(v, 1, fr.n)) end
  set_now(t0)
  return s, arm
end
local PDIRTY = true -- whether PCH and PN may hold an entity's packed sets (observe_entity clears them)
local NNOW, NFR, NC1, NROW -- a new entity's first field and row, of frame 3 (an attempt's ip, password, pair)
local function observe_entity(d, v, own, out, at)
  local key = counter_key(d, v)
  local all = rcall('HGETALL', key)
  if PDIRTY then -- the previous entity's packed sets
    for k = 1, MAXSETS do
      local t = PCH[k]
      for i = 1, PN[k] do t[i] = nil end
      PN[k] = 0
    end
    PDIRTY = false
  end
  local fr = frame_of(d)
  local nd = #DISTINCT[d]
  -- the distinct counts: out[at + 2 .. last], only the windows counted (the reads mask's), each
  -- written by its set's count (distinct_new, distinct_all): no -1 for the others (a value in a
  -- reply is ~550 instructions to convert, on every attempt)
  local mask = OMASK[d]
  local dc, last = out, at + 1 + mask.slots
  DCO, DSLOT = at + 1, mask.slot
  local w, del = W, DEL
  NW, NDEL = 0, 0
  local arm, row = false, ''
  if #all == 0 then -- a new entity: its row is the attempt alone
    arm = true
    if own then -- as pack_counts would (armed at 0: armed now, but for a time before REARM)
      arm = NOW >= REARM or NOW < 0
      local chunks = fr.chunks
      local c1
      if NOW == NNOW and fr == NFR then -- the attempt's other new entities of this frame: alike
        c1, row = NC1, NROW
      else
        c1 = spack('<ddc0', NOW, arm and NOW or 0, fr.first1) -- the first field (frame's first1)
        row = #chunks == 1 and c1 or c1 .. fr.firsttail
        if fr == FRAMES[3] then NNOW, NFR, NC1, NROW = NOW, fr, c1, row end
      end
      w[1], w[2] = chunks[1][1], c1
      for i = 2, #chunks do w[2 * i - 1], w[2 * i] = chunks[i][1], fr.firstparts[i] end
      NW = 2 * #chunks
    end
    distinct_new(d, w, dc, nd)
  else
    local chunks = fr.chunks
    local nc = #chunks
    for i = 1, nc do RAW[i] = false end
    for k = 1, nd do STATES[k] = nil end
    local legacy, nm, npacked, NDPOS = false, 0, 0, 0
    for j = 1, #all, 2 do
      local f = all[j]
      local r = fr.chunk_index[f]
      local k = not r and CHUNKK[f] -- a packed set's field, by its name (no C call)
      if r then
        RAW[r] = all[j + 1]
      elseif not k then
        local b1, b2, b3 = sbyte(f, 1, 3)
        if b2 == 35 and b3 and #f == 3 and b1 - 48 >= 1 and b1 - 48 <= MAXSETS and b3 > 32 then
          set_field(b1 - 48, b3 - 32) -- one this process has not made yet
          k = CHUNKK[f]
        elseif b2 == 124 then -- "<k>|<member>": the previous layout's member
          nm = nm + 1; MEMBERS[nm], MEMBERK[nm] = j, b1 - 48
        elseif b2 == 126 and #f == 2 then -- "<k>~"
          local s = b1 - 48
          if s >= 1 and s <= nd then STATES[s] = all[j + 1] end
        elseif b1 == 43 then -- "+<j><j2><now>": an outcome's count, pending
          NDPOS = NDPOS + 1; DPOS[NDPOS] = j
        elseif f == 'n' then
          legacy = true
        end
      end
      if k and k <= nd then
        local i = CHUNKI[f]
        PCH[k][i], npacked, PDIRTY = all[j + 1], npacked + 1, true
        if i > PN[k] then PN[k] = i end
      end
    end
    if legacy then -- the previous layout's fields
      for _, f in ipairs(fr.legacy) do NDEL = NDEL + 1; del[NDEL] = f end
    end
    -- only the row: no set's members to count or delete
    if OMASK[d].any or fields_before(#all / 2 - NDPOS, npacked) ~= nc then distinct_all(d, key, all, STATES, nm, w, del, dc, nd) end
    if NDPOS > 0 then -- outcomes' counts written since the row: counted first, in their order
      local armd
      row, armd = fold_deltas(fr, joined(fr, RAW), all, del, NDPOS)
      if own then row, arm = counted(fr, row, 1) end
      arm = arm or armd
      put_row(fr, row, w, NW)
      NW = NW + 2 * nc
    elseif own then
      row, arm = counted(fr, joined(fr, RAW), 1)
      put_row(fr, row, w, NW)
      NW = NW + 2 * nc
    else
      local whole = true
      for i = 1, nc do whole = whole and RAW[i] end
      if whole then row = tconcat(RAW, '', 1, nc) end
    end
  end
  if NDEL > 0 then rcall('HDEL', key, unpack(del, 1, NDEL)) end
  if NW > 0 then rcall('HSET', key, unpack(w, 1, NW)) end
  if arm and (NW > 0 or #all > 0) then rcall('PEXPIRE', key, TTL_ARG) end
  out[at + 1] = row
  return last
end

-- Entity `key`'s row (frame fr) with its pending outcome counts folded in (fold_deltas), read
-- whole: the row, whether a count re-armed the expiry, whether the previous layout's fields are
-- there; the pending fields' names are DEL's first NDEL (the caller deletes them with the row written).
local function fold_key(key, fr)
  local all = rcall('HGETALL', key)
  for i = 1, #fr.chunks do RAW[i] = false end
  NDEL = 0
  local legacy, NDPOS = false, 0
  for x = 1, #all, 2 do
    local f = all[x]
    local r = fr.chunk_index[f]
    if r then
      RAW[r] = all[x + 1]
    elseif sbyte(f, 1) == 43 then
      NDPOS = NDPOS + 1; DPOS[NDPOS] = x
    elseif f == 'n' then
      legacy = true
    end
  end
  local s, arm = fold_deltas(fr, joined(fr, RAW), all, DEL, NDPOS)
  return s, arm, legacy
end

-- Writes entity `key`'s row s (frame fr) as fold_key left it: the row, the fields it dropped (the
-- pending counts folded, DEL[1..NDEL], and a legacy layout's), the expiry re-armed when `arm`.
local function write_folded(key, fr, s, arm, legacy)
  local w = {}
  put_row(fr, s, w, 0)
  rcall('HSET', key, unpack(w, 1, 2 * #fr.chunks))
  if legacy then
    for _, f in ipairs(fr.legacy) do NDEL = NDEL + 1; DEL[NDEL] = f end
  end
  rcall('HDEL', key, unpack(DEL, 1, NDEL))
  if arm then rcall('PEXPIRE', key, TTL_ARG) end
end

-- One attempt's block of an observe call (lua/observe.lua), at offset o of ARGV with its decoded
-- flags f (flags_of), on the node whose site shard is `shard`: the attempt counted in the entities
-- this node holds, their counters read, the history (if it holds the account), the bans (if it
-- holds them) and its site shard (if asked). Its reply goes into the call's one flat list `out`
-- from out[at + 1] on: its length, then the history, the ban, the site shard's counters (false
-- when not read), then per entity met (DIMS order) its packed row ('r': its stored row, and
-- nothing more; counted: after counting the attempt; the caller estimates the windows from it),
-- then, when counted, its distinct counts per window and set, only those the reads mask counts
-- (mask_of's slots). Returns the position of its last value. Per attempt and node (paid on every master an
-- attempt reaches, whatever it counts there): no table made but the site shard's, no function
-- called but the ones that count.
local function observe_attempt(shard, ARGV, o, f, mask, out, at, bans, b0, b1)
  local stamp = ARGV[o + 1]
  local now = tonumber(stamp) or 0
  set_now(now)
  if not TTL_ARG then observe_strings() end
  local vals, dims, flag = OBS_VALS, f.dims, f.byte
  for d = 1, NDIMS do vals[d] = '' end
  for i = 1, f.n do vals[dims[i]] = ARGV[o + 2 + i] end
  OVALS, OMASK = vals, mask
  OSEEN = now ~= 0 and now or tonumber(stamp) or 0 / 0

  -- The account's history (returned raw; the caller decodes it) and whether it is still live.
  local hist, known = false, false
  local account = vals[ACCOUNT]
  if account ~= '' and flag[ACCOUNT] == 49 then
    hist = rcall('GET', counter_key(ACCOUNT, account) .. ':h')
    if hist then
      local ok, rec = pcall(cjson.decode, hist)
      known = ok and type(rec) == 'table' and type(rec.t) == 'number' and rec.t > now - HDAYS * 86400
    end
  end

  local base = at + 1 -- the block's length
  out[base + 1], out[base + 2], out[base + 3] = hist, false, false
  local n = base + 3
  for i = 1, f.n do
    local d = dims[i]
    local v = vals[d]
    if v ~= '' then
      local m = flag[d]
      if m == 114 then -- 'r': the stored row only
        local fr = frame_of(d)
        local raw = rcall('HMGET', counter_key(d, v), unpack(fr.fields))
        local parts = {}
        for i = 1, #fr.chunks do parts[i] = raw[i] or '' end
        out[n + 1] = tconcat(parts)
        n = n + 1
      elseif m == 49 or m == 100 then -- counted (observe_entity)
        n = observe_entity(d, v, m == 49, out, n)
      end
    end
  end

  -- The shard that counts the attempt is the account's node's (it knows whether the account is known).
  local site_flag = flag[NDIMS + 1]
  if site_flag ~= 48 then
    out[base + 3] = site_shard(shard, site_flag == 49, 1, (account ~= '' and not known) and 4 or nil)
  end

  -- The harshest active ban on any of ip/subnet/asn/account/fp (read on every attempt by the ban
  -- table's master: numeric loops, no ipairs call per element): its fields' values are
  -- bans[b0 + 1 .. b1], read for the whole call at once (ban_fields: nothing in an observe call
  -- writes the ban table, so one HMGET reads what each attempt's own would have).
  if flag[NDIMS + 2] == 49 and b1 > b0 then
    local ban, ban_exp = false, now
    for i = b0 + 1, b1 do
      local raw = bans[i]
      if raw then
        local b = cjson.decode(raw)
        if b.e > ban_exp then ban, ban_exp = raw, b.e end
      end
    end
    out[base + 2] = ban
  end
  out[base] = n - base
  return n
end

-- outcome.lua's work, here so that a call creates no closures (ten of them, made per call, were
-- ~36k instructions of an outcome call's fixed cost, paid on every master a batch reaches).
-- Its helpers are locals of a block (the library's chunk may hold at most 200 locals at once).
local outcome_start, outcome_one, write_rows
do
  local function num(v) return type(v) == 'number' end

  -- Dimension d's value, from its entity's key (counter_key(d, value)); '' for ''. A SPREAD
  -- dimension's key ends in ':' and 4 hex digits of the value's SHA-1 (counter_key): not the value's.
  local function value_of(d, key)
    if key == '' then return '' end
    return ssub(key, #T + #DIMS[d] + 3, SPREAD[d] and -7 or -2)
  end

  -- The rows this call counts in: each is read once, counted outcome by outcome (at each outcome's
  -- time, as separate bumps would: lua/common.lua's counted) and written once when the batch is done
  -- (a batch often counts one subnet or fingerprint many times). Nothing in the call reads them back.
  -- rows[fr]: key -> packed row of frame fr; `legacy` the keys still holding the previous layout's
  -- fields, `rearm` those one of whose counts re-armed the expiry (both rare: made when first needed;
  -- every table made here is Redis CPU).
  -- The call's pending counts (count_later): `names` "+<j><j2>" by j * 8 + j2; per call its node's
  -- site shard, its number of entries and the sequence number before its first (made when first
  -- needed); per entry its time as sent, its index and its sequence number as a string (made when
  -- first needed). One table: the chunk's main function may hold at most 200 locals.
  -- `ttl`: the keys whose expiry this call has checked (count_later), made per call.
  local OC = {names = {}, stamp = nil, shard = nil, n = 0, seq = nil, entry = 0, seqv = nil, ttl = nil}
  local ROWS, LEGACY, REARMS = nil, false, false -- set per call (outcome_start)
  function outcome_start(shard, ne)
    ROWS, LEGACY, REARMS = {}, false, false
    OC.shard, OC.n, OC.seq, OC.entry, OC.ttl = shard, ne, nil, 0, {}
    if not TTL_ARG then observe_strings() end
  end
  -- Counts measure j (and j2) of this entry's outcome in entity `key` (frame fr) without reading
  -- its row (an HMGET, a row unpacked and packed, an HSET: ~38k instructions an entity, against one
  -- HSETNX): a field "+<j><j2><now>" -> the entry's sequence number, which the entity's next observe
  -- folds into the row (fold_deltas: each at its own time, in the order written, as this call once
  -- counted them). Its expiry is not touched: the observe that made or counted the entity moments
  -- before armed it, and the fold re-arms it when a count would have.
  local function count_later(key, fr, j, j2)
    local oc = OC
    local id = j * 8 + (j2 or 0)
    local pfx = oc.names[id]
    if not pfx then pfx = '+' .. j .. (j2 or 0); oc.names[id] = pfx end
    local seqv = oc.seqv
    if not seqv then
      if not oc.seq then -- the call's first pending count: its entries' sequence numbers (the
        -- counter outlives every entity key it numbered a count of: each such key expires sooner)
        local q = oc.shard .. ':q'
        oc.seq = rcall('INCRBY', q, oc.n) - oc.n
        rcall('PEXPIRE', q, TTL_ARG)
      end
      seqv = tostring(oc.seq + oc.entry)
      oc.seqv = seqv
    end
    if rcall('HSETNX', key, pfx .. oc.stamp, seqv) == 1 then
      -- A key gone since its observe (evicted, flushed, lost in a failover) was made again just
      -- now, without an expiry: it gets one (PTTL, not PEXPIRE's NX: Redis < 7.0 runs this too).
      -- Once per key and call: a key this call saw with an expiry, or gave one, keeps it to the
      -- call's end (nothing here removes an expiry; a script's keys do not expire while it runs).
      local ttl = oc.ttl
      if not ttl[key] then
        ttl[key] = true
        if rcall('PTTL', key) == -1 then rcall('PEXPIRE', key, TTL_ARG) end
      end
      return
    end
    -- The same count at the same time is pending (two outcomes of one entity at one time, rare):
    -- the row is made now, its pending counts first (in their order), then this one.
    local s, arm, legacy = fold_key(key, fr)
    local a
    s, a = counted(fr, s, j, j2)
    write_folded(key, fr, s, arm or a, legacy)
  end
  local function count(key, fr, j, j2)
    local rows = ROWS
    local per = rows[fr]
    if not per then per = {}; rows[fr] = per end
    local s = per[key]
    if not s then
      local raw = rcall('HMGET', key, unpack(fr.fields))
      s = joined(fr, raw)
      if raw[#fr.fields] then LEGACY = LEGACY or {}; LEGACY[key] = true end
    end
    local arm
    s, arm = counted(fr, s, j, j2)
    per[key] = s
    if arm then
      REARMS = REARMS or {}
      REARMS[key] = true
    end
  end

  -- Every counted row written back (cut into its fields as pack_counts does), then its previous
  -- layout's fields dropped, its expiry re-armed if one of its counts did.
  function write_rows()
    local legacy, rearm = LEGACY, REARMS
    for fr, per in pairs(ROWS) do
      local w, nw = {}, 2 * #fr.chunks
      for key, row in pairs(per) do
        put_row(fr, row, w, 0)
        rcall('HSET', key, unpack(w, 1, nw))
        if legacy and legacy[key] then rcall('HDEL', key, unpack(fr.legacy)) end
        if rearm and rearm[key] then rcall('PEXPIRE', key, TTL_MS) end
      end
    end
  end

  -- The confirmed list `kind` of rec after learning value v seen at t (newest first, at most HSIZE).
  local function learn_value(rec, kind, v, t, horizon)
    local kept = {}
    if type(rec[kind]) == 'table' then
      for _, x in ipairs(rec[kind]) do if x[2] > horizon then kept[#kept + 1] = x end end
    end
    if type(v) == 'string' then
      local older = nil
      for _, x in ipairs(kept) do if x[1] == v then older = x end end
      if not older or older[2] < t then
        local again = {}
        for _, x in ipairs(kept) do if x[1] ~= v then again[#again + 1] = x end end
        again[#again + 1] = {v, t}
        table.sort(again, function(x, y) return x[2] > y[2] end)
        kept = again
      end
    end
    local cut = {}
    for i = 1, math.min(#kept, HSIZE) do cut[i] = kept[i] end
    rec[kind] = cut
  end

  -- rec with every pending success at or before `ripe` made confirmed (shield.store.records.settled).
  local function settle(rec, horizon, ripe)
    local pending, matured = {}, {}
    if type(rec.p) == 'table' then
      for _, e in ipairs(rec.p) do
        if type(e) == 'table' and num(e.t) and e.t > horizon then
          if e.t <= ripe then matured[#matured + 1] = e else pending[#pending + 1] = e end
        end
      end
    end
    table.sort(matured, function(x, y) return x.t < y.t end)
    for _, e in ipairs(matured) do
      for _, spec in ipairs(HISTORY) do learn_value(rec, spec[1], e[spec[1]], e.t, horizon) end
      if not num(rec.t) or e.t >= rec.t then
        rec.t = e.t
        if e.lat ~= nil then rec.lat = e.lat end
        if e.lon ~= nil then rec.lon = e.lon end
        if e.cc ~= nil then rec.cc = e.cc end
      end
    end
    rec.p = pending
    return rec
  end

  local function has_pending(rec, horizon)
    if type(rec.p) ~= 'table' then return false end
    for _, e in ipairs(rec.p) do
      if type(e) == 'table' and num(e.t) and e.t > horizon then return true end
    end
    return false
  end

  local KEYV = {} -- the entry's key per dimension ('' when none was sent), reused entry after entry
  -- The dimensions an entry's flags count ('1'): those of one attempt's own first (address, password,
  -- pair: new ones hold the same row, and count() keeps its last row joined and counted), then the
  -- account (its row is another frame's), then the shared ones (subnet, ASN, country, fingerprint,
  -- device). Made once per flags string.
  local SHARED = {subnet = true, asn = true, country = true, fp = true, device = true}
  local function counted_order(f)
    local order = {}
    for pass = 1, 3 do
      for i = 1, f.n do
        local d = f.dims[i]
        local rank = SHARED[DIMS[d]] and 3 or (d == ACCOUNT and 2 or 1)
        if f.byte[d] == 49 and rank == pass then order[#order + 1] = d end
      end
    end
    f.counted = order
    return order
  end
  function outcome_one(shard, ARGV, o, f)
    local now = NOW
    OC.stamp, OC.entry, OC.seqv = ARGV[o + 1], OC.entry + 1, nil
    local nd = NDIMS
    local flag, dims = f.byte, f.dims
    local m, familiar = flag[nd + 1] == 115 and 's' or 'f', flag[nd + 2] == 49
    for d = 1, nd do KEYV[d] = '' end
    for i = 1, f.n do KEYV[dims[i]] = ARGV[o + 2 + i] end
    local order = f.counted or counted_order(f)
    for i = 1, #order do
      local d = order[i]
      local key = KEYV[d]
      if key ~= '' then
        local extra = nil
        if d == ACCOUNT and m == 'f' then extra = MI[familiar and 'ff' or 'fu'] end
        count_later(key, frame_of(d), MI[m], extra)
      end
    end
    if flag[nd + 3] == 49 then count(shard, site_frame(), MI[m]) end

    local account = KEYV[ACCOUNT]
    if account == '' or flag[ACCOUNT] ~= 49 then return end
    local p = o + 2 + f.n
    local lat, lon = ARGV[p + 1], ARGV[p + 2]
    local confirmed, ripe = ARGV[p + 3] == '1', tonumber(ARGV[p + 4])
    -- The account history (same shape as shield.store.records).
    local hkey = account .. ':h'
    local raw = rcall('GET', hkey)
    if m ~= 's' and not raw then return end
    local rec = {}
    if raw then
      local ok, decoded = pcall(cjson.decode, raw)
      if ok and type(decoded) == 'table' then rec = decoded end
    end
    local horizon = now - HDAYS * 86400
    if m ~= 's' then
      -- A failed login is a contrary signal: the unconfirmed successes are forgotten (records.contradicted).
      if not has_pending(rec, horizon) then return end
      rec = settle(rec, horizon, ripe)
      rec.p = {}
      rcall('SET', hkey, cjson.encode(rec), 'KEEPTTL')
      return
    end
    rec = settle(rec, horizon, ripe)
    local new
    if not confirmed then
      local e = {t = now}
      for _, spec in ipairs(HISTORY) do
        local value = value_of(spec[2], KEYV[spec[2]])
        if value ~= '' then e[spec[1]] = value end
      end
      if lat ~= '' and lon ~= '' then e.lat, e.lon = tonumber(lat), tonumber(lon) end
      if KEYV[COUNTRY] ~= '' then e.cc = value_of(COUNTRY, KEYV[COUNTRY]) end
      local p = {e}
      for _, x in ipairs(rec.p) do
        if #p >= HSIZE then break end
        p[#p + 1] = x
      end
      rec.p = p
      new = rec
    else
      new = {t = now, p = rec.p}
      for _, spec in ipairs(HISTORY) do
        local kind, value = spec[1], value_of(spec[2], KEYV[spec[2]])
        local kept = {}
        if value ~= '' then kept[1] = {value, now} end
        if type(rec[kind]) == 'table' then
          for _, e in ipairs(rec[kind]) do
            if #kept >= HSIZE then break end
            if e[2] > horizon and e[1] ~= value then kept[#kept + 1] = e end
          end
        end
        new[kind] = kept
      end
      if lat ~= '' and lon ~= '' then new.lat, new.lon = tonumber(lat), tonumber(lon) end
      if KEYV[COUNTRY] ~= '' then new.cc = value_of(COUNTRY, KEYV[COUNTRY]) end
    end
    rcall('SET', hkey, cjson.encode(new), 'PX', HDAYS * 86400000)
    return
  end
end
