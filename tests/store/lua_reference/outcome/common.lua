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
  f.chunk_index = {}
  for i, c in ipairs(chunks) do f.fields[i], f.chunk_index[c[1]] = c[1], i end
  f.fields[#chunks + 1] = 'n'
  for i = 1, #ws do f.legacy[i + 1] = tostring(i) end
  for i = 1, n do f.zero[i] = 0 end
  -- A new entity's counters after its first attempt, but for the two doubles (observe.lua)
  local first = {}
  for i = 1, n - 2 do first[i] = 0 end
  for i = 1, #ws do first[2 * (i - 1) * m + 1] = 1 end
  f.first = struct.pack('<' .. string.rep('i4', n - 2), unpack(first))
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
    FRAMES[5].start, FRAMES[5].weight = FRAMES[3].start, FRAMES[3].weight -- the same windows
  end
  at(FRAMES[3]); at(SITE_FRAME)
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
local KEYPFX = {}
for d = 1, #DIMS do KEYPFX[d] = '{' .. T .. DIMS[d] .. ':' end
local SPREAD_V, SPREAD_T = nil, nil
local function counter_key(d, v)
  if SPREAD[d] then
    if v ~= SPREAD_V then SPREAD_V, SPREAD_T = v, v .. ':' .. string.sub(redis.sha1hex(v), 1, 4) end
    v = SPREAD_T
  end
  return KEYPFX[d] .. v .. '}'
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

-- observe.lua's work per entity, here so that a call creates no closures (a library's functions
-- are built once). Set per call by observe_begin: its values (DIMS order), its time as sent
-- (ARGV[1]: a set member's last seen) and its reads mask (mask_of).
local OVALS, OSTAMP, OMASK
local NDW = #DW
local HLLLEN = 16 + 8 * NDW -- a large set's packed state (FRAMES.hllfmt)
-- Field name prefixes "<k>|" and "<k>~", a set's HyperLogLog keys' infix ":x:<k>:", and the keys' expiry as redis.call's argument: strings
-- made once (a number argument or a number in a concatenation is formatted every time).
local MPFX, SPFX, XPFX, TTL_ARG = {}, {}, {}, nil
local sbyte, tonum -- string.byte, tonumber (a library's load cannot reach string)
local function observe_begin(vals, stamp, mask)
  OVALS, OSTAMP, OMASK = vals, stamp, mask
  if not TTL_ARG then
    TTL_ARG, sbyte, tonum = string.format('%d', TTL_MS), string.byte, tonumber
    for d = 1, #DIMS do
      for k = 1, #DISTINCT[d] do MPFX[k], SPFX[k], XPFX[k] = k .. '|', k .. '~', ':x:' .. k .. ':' end
    end
  end
end

-- The HyperLogLog bucket keys' suffixes ("<window>:<bucket>") of NOW, made again when a bucket
-- changes (formatting numbers is what costs).
local CURSFX, PREVSFX, SFXB = {}, {}, {}
local function suffixes()
  for wi = 1, NDW do
    local b = math.floor(NOW / DW[wi])
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
-- merged, then per window the current bucket's count and the previous bucket's own members.
-- Writes set k's counts into dc (window-major, nd sets) and its state into w.
local ADDED, HST = {}, {}
local function hll_counts(state, base, k, member, w, rw, dc, nd)
  suffixes()
  local st = state and {struct.unpack(FRAMES.hllfmt, state)}
  for wi = 1, NDW do ADDED[wi] = 0 end
  if member ~= '' then
    for wi = 1, NDW do
      if rw[wi] then
        ADDED[wi] = redis.call('PFADD', base .. CURSFX[wi], member)
        -- security (cost): windows nest, so a member that changed nothing in a shorter window's bucket
        -- changes nothing in the longer ones (their registers are never lower): skip those PFADDs.
        if NESTED and ADDED[wi] == 0 then break end
      end
    end
  end
  local at = st and st[2]
  local fresh = at and NOW >= at and NOW - at < REFRESH
  if fresh then
    local start = FRAMES[3].start
    for wi = 1, NDW do
      if at < start[wi] then fresh = false end
    end
  end
  HST[1] = NOW
  if fresh then
    for wi = 1, NDW do
      local c = st[2 + wi]
      if c == 0 and ADDED[wi] == 1 then -- the bucket's first member: the key was just created
        redis.call('PEXPIRE', base .. CURSFX[wi], TTL_ARG)
      end
      HST[2 + wi], HST[2 + NDW + wi] = c + ADDED[wi], st[2 + NDW + wi]
    end
  else
    at = NOW
    for wi = 1, NDW do
      if rw[wi] then
        local hk = base .. CURSFX[wi]
        local cur = redis.call('PFCOUNT', hk)
        HST[2 + wi], HST[2 + NDW + wi] = cur, math.max(0, redis.call('PFCOUNT', hk, base .. PREVSFX[wi]) - cur)
        -- a new bucket always forces this merge: its key gets its expiry here
        redis.call('PEXPIRE', hk, TTL_ARG)
      else
        HST[2 + wi], HST[2 + NDW + wi] = 0, 0
      end
    end
  end
  HST[2] = at
  local weight = FRAMES[3].weight
  for wi = 1, NDW do
    if rw[wi] then dc[(wi - 1) * nd + k] = HST[2 + wi] + math.floor(HST[2 + NDW + wi] * weight[wi] + 0.5) end
  end
  w[#w + 1] = SPFX[k]; w[#w + 1] = struct.pack(FRAMES.hllfmt, unpack(HST, 1, 2 + 2 * NDW))
end

-- A new entity (empty hash): each kept set's only member is this attempt's value.
local function distinct_new(d, w, dc, nd)
  local specs, mask = DISTINCT[d], OMASK[d]
  for k = 1, #specs do
    if mask.kept[k] then
      local member, rw = OVALS[specs[k][2]], mask.rws[k]
      if member ~= '' then w[#w + 1] = MPFX[k] .. member; w[#w + 1] = OSTAMP end
      local n = member ~= '' and 1 or 0
      for wi = 1, NDW do
        if rw[wi] then dc[(wi - 1) * nd + k] = n end
      end
    end
  end
end

-- Distinct sets of one entity (its hash read as `all`, field, value, ...; `states` its "<k>~"
-- fields, `members` the positions in `all` of its "<k>|<member>" fields): exact member -> last
-- seen up to CAP live members per set, then HyperLogLogs. An unkept set's members and state, kept
-- by an earlier rule pack, and a stale member are deleted (del); a kept set's counts go to dc.
local HLLK, MF, PRESENT, LIVE, CNT, MEMBERK = {}, {}, {}, {}, {}, {}
local function distinct_all(d, key, all, states, members, nm, w, del, dc, nd)
  local specs = DISTINCT[d]
  local kept, rws = OMASK[d].kept, OMASK[d].rws
  local now = NOW
  for k = 1, #specs do
    local state = states[k]
    HLLK[k] = kept[k] and state ~= nil and #state == HLLLEN and now - struct.unpack('<d', state) < MAXW
    if state and not kept[k] then del[#del + 1] = SPFX[k] end
    local member = OVALS[specs[k][2]]
    MF[k] = kept[k] and HLLK[k] == false and member ~= '' and MPFX[k] .. member
    PRESENT[k], LIVE[k] = false, 0
    for wi = 1, NDW do CNT[(wi - 1) * nd + k] = 0 end
  end
  for i = 1, nm do
    local j = members[i]
    local f, k = all[j], MEMBERK[i]
    local seen = kept[k] and HLLK[k] == false and tonum(all[j + 1]) -- (no other member's value is read)
    if f == MF[k] then PRESENT[k] = true end
    if seen and (f == MF[k] or now - seen < MAXW) then -- patched: a member back after a day counts
      LIVE[k] = LIVE[k] + 1
      local age = f == MF[k] and 0 or now - seen -- its last seen moves to now
      local rw, at = rws[k], k
      for wi = 1, NDW do
        if rw[wi] and age < DW[wi] then CNT[at] = CNT[at] + 1 end
        at = at + nd
      end
    else
      del[#del + 1] = f
    end
  end
  for k, spec in ipairs(specs) do
    local member = OVALS[spec[2]]
    if not kept[k] then -- its counts stay -1
    elseif not HLLK[k] then
      local rw = rws[k]
      if member ~= '' then
        -- a new member counts now; one present but stale (deleted above) is written back, not counted
        if not PRESENT[k] then
          LIVE[k] = LIVE[k] + 1
          for wi = 1, NDW do
            if rw[wi] then CNT[(wi - 1) * nd + k] = CNT[(wi - 1) * nd + k] + 1 end
          end
        end
        w[#w + 1] = MF[k]; w[#w + 1] = OSTAMP
      end
      if LIVE[k] <= CAP then
        for wi = 1, NDW do
          if rw[wi] then dc[(wi - 1) * nd + k] = CNT[(wi - 1) * nd + k] end
        end
      else
        -- Too many members: seed the HyperLogLogs from the exact set, then count with them.
        local base = key .. XPFX[k]
        if member ~= '' then w[#w] = nil; w[#w] = nil end
        local l = {}
        for i = 1, nm do
          local j = members[i]
          local f = all[j]
          local seen = tonumber(all[j + 1])
          if string.byte(f, 1) - 48 == k and seen and now - seen < MAXW then
            l[#l + 1] = f; l[#l + 1] = f == MF[k] and now or seen
          end
        end
        if member ~= '' and not PRESENT[k] then l[#l + 1] = MF[k]; l[#l + 1] = now end
        -- one PFADD (its members in the same order) and one PEXPIRE per bucket key
        local names, order = {}, {}
        for j = 1, #l, 2 do
          del[#del + 1] = l[j]
          local name = string.sub(l[j], 3)
          for wi = 1, NDW do
            local b = math.floor(l[j + 1] / DW[wi])
            if rw[wi] and b >= math.floor(now / DW[wi]) - 1 then
              local hk = base .. wi .. ':' .. b
              local g = names[hk]
              if not g then g = {}; names[hk] = g; order[#order + 1] = hk end
              g[#g + 1] = name
            end
          end
        end
        for _, hk in ipairs(order) do
          redis.call('PFADD', hk, unpack(names[hk]))
          redis.call('PEXPIRE', hk, TTL_ARG)
        end
        hll_counts(nil, base, k, '', w, rw, dc, nd)
      end
    else
      hll_counts(states[k], key .. XPFX[k], k, member, w, rws[k], dc, nd)
    end
  end
end

-- Count the attempt in one entity (own: its row too; else only its distinct sets) and read it back:
-- its packed row after counting ('' when not counted here: its stored row as it is), then its
-- distinct counts per window and set (window-major; -1: not kept).
local RAW, STATES, MEMBERS = {}, {}, {}
local UNKEPT = {} -- per number of sets, the distinct counts of none kept (-1 each)
for d = 1, #DIMS do
  local nd = #DISTINCT[d]
  UNKEPT[nd] = {}
  for i = 1, NDW * nd do UNKEPT[nd][i] = -1 end
end
local function observe_entity(d, v, own)
  local key = counter_key(d, v)
  local all = redis.call('HGETALL', key)
  local fr = frame_of(d)
  local nd = #DISTINCT[d]
  local dc = {unpack(UNKEPT[nd])} -- sized once (filled one by one, it grows 4 or 5 times)
  local w, del = {}, {}
  local arm, row = false, ''
  if #all == 0 then -- a new entity: its row is the attempt alone
    arm = true
    if own then -- as pack_counts would (armed at 0: armed now, but for a time before REARM)
      arm = NOW >= REARM or NOW < 0
      row = struct.pack('<dd', NOW, arm and NOW or 0) .. fr.first
      for _, c in ipairs(fr.chunks) do
        w[#w + 1] = c[1]; w[#w + 1] = string.sub(row, c[2], c[3])
      end
    end
    distinct_new(d, w, dc, nd)
  else
    local chunks = fr.chunks
    local nc = #chunks
    for i = 1, nc do RAW[i] = false end
    for k = 1, nd do STATES[k] = nil end
    local legacy, nm = false, 0
    for j = 1, #all, 2 do
      local f = all[j]
      local b1, b2 = sbyte(f, 1, 2)
      if b2 == 124 then -- "<k>|<member>"
        nm = nm + 1; MEMBERS[nm], MEMBERK[nm] = j, b1 - 48
      elseif b2 == 126 and #f == 2 then -- "<k>~"
        local k = b1 - 48
        if k >= 1 and k <= nd then STATES[k] = all[j + 1] end
      elseif f == 'n' then
        legacy = true
      else
        local i = fr.chunk_index[f]
        if i then RAW[i] = all[j + 1] end
      end
    end
    if legacy then -- the previous layout's fields
      for _, f in ipairs(fr.legacy) do del[#del + 1] = f end
    end
    -- only the row: no set's members to count or delete
    if OMASK[d].any or #all ~= 2 * nc then distinct_all(d, key, all, STATES, MEMBERS, nm, w, del, dc, nd) end
    if own then
      local a = unpack_counts(fr, RAW)
      roll(fr, a)
      add(fr, a, 1)
      arm, row = pack_counts(fr, a, w)
    else
      local whole = true
      for i = 1, nc do whole = whole and RAW[i] end
      if whole then row = table.concat(RAW, '', 1, nc) end
    end
  end
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
  if #w > 0 then redis.call('HSET', key, unpack(w)) end
  if arm and (#w > 0 or #all > 0) then redis.call('PEXPIRE', key, TTL_ARG) end
  return row, dc
end
