-- One protected attempt on one node: count it in the entities this node holds, read their counters,
-- the history (if it holds the account), the bans (if it holds them) and its site shard (if asked).
-- KEYS[1]: this node's site shard. ARGV: now, owned (one character per dimension: '1' this call
-- counts it, 'r' only returns its stored row, 'd' counts it in its distinct sets and returns its
-- stored row (a hot entity: the worker counts its row, shield.store.batched), '0' neither), site ('1': count the attempt in the shard and return it, 'r': only return it, '0':
-- neither), bans ('1': read them), reads (per distinct set in DISTINCT order, one '1'/'0' per window:
-- whether a rule reads it; a set with no window read is not stored, a window no rule reads is not
-- counted, and either returns -1), then one value per
-- dimension (DIMS order; '' when absent; every value is a member of the distinct sets).
local now = NOW
local vals, own, mode = {}, {}, {}
for i = 1, #DIMS do
  vals[i] = ARGV[i + 5]
  mode[i] = string.byte(ARGV[2], i)
  own[i] = mode[i] == 49
end
local reads = ARGV[5]
local NDW = #DW

local WEIGHT, CURSFX, PREVSFX = FRAMES[3].weight, nil, nil
-- The HyperLogLog bucket keys' suffixes ("<window>:<bucket>"), made when a large set is first met.
local function suffixes()
  CURSFX, PREVSFX = {}, {}
  for wi = 1, NDW do
    local b = math.floor(now / DW[wi])
    CURSFX[wi], PREVSFX[wi] = wi .. ':' .. b, wi .. ':' .. (b - 1)
  end
end
-- A large set's state, packed in field "<k>~": since when it is a HyperLogLog, when its counts were
-- last merged, then per window the current bucket's count and the previous bucket's own members.
local HLLFMT, HLLLEN = FRAMES.hllfmt, 16 + 8 * NDW

-- A large set (HyperLogLog mode): PFADD the member into each read window's current bucket (rw[wi]),
-- count with the same two-bucket weighting (-1 for a window no rule reads). Counting (a union of two
-- HyperLogLogs per window) is the expensive part: done at most once per REFRESH seconds and per
-- bucket; in between, members that changed a register add one to the cached counts.
local function hll_counts(state, base, k, member, w, rw)
  if not CURSFX then suffixes() end
  local st = state and {struct.unpack(HLLFMT, state)}
  local added = {}
  for wi = 1, NDW do added[wi] = 0 end
  if member ~= '' then
    for wi = 1, NDW do
      if rw[wi] then
        added[wi] = redis.call('PFADD', base .. CURSFX[wi], member)
        -- security (cost): windows nest, so a member that changed nothing in a shorter window's bucket
        -- changes nothing in the longer ones (their registers are never lower): skip those PFADDs.
        if NESTED and added[wi] == 0 then break end
      end
    end
  end
  local at = st and st[2]
  local fresh = at and now >= at and now - at < REFRESH
  if fresh then
    for wi = 1, NDW do
      if at < FRAMES[3].start[wi] then fresh = false end
    end
  end
  local cur, prev = {}, {}
  if fresh then
    for wi = 1, NDW do
      local c = st[2 + wi]
      if c == 0 and added[wi] == 1 then -- the bucket's first member: the key was just created
        redis.call('PEXPIRE', base .. CURSFX[wi], TTL_MS)
      end
      cur[wi] = c + added[wi]
      prev[wi] = st[2 + NDW + wi]
    end
  else
    at = now
    for wi = 1, NDW do
      if rw[wi] then
        local hk = base .. CURSFX[wi]
        cur[wi] = redis.call('PFCOUNT', hk)
        prev[wi] = math.max(0, redis.call('PFCOUNT', hk, base .. PREVSFX[wi]) - cur[wi])
        -- a new bucket always forces this merge: its key gets its expiry here
        redis.call('PEXPIRE', hk, TTL_MS)
      else
        cur[wi], prev[wi] = 0, 0
      end
    end
  end
  local packed = {now, at}
  local counts = {}
  for wi = 1, NDW do
    packed[2 + wi], packed[2 + NDW + wi] = cur[wi], prev[wi]
    counts[wi] = rw[wi] and cur[wi] + math.floor(prev[wi] * WEIGHT[wi] + 0.5) or -1
  end
  w[#w + 1] = k .. '~'; w[#w + 1] = struct.pack(HLLFMT, unpack(packed))
  return counts
end

-- Distinct sets of one entity (hash h, already read): exact member -> last seen up to CAP live
-- members per set, then HyperLogLogs. One pass over the hash for all of the entity's kept sets
-- (an unkept set's members, kept by an earlier rule pack, are deleted; its counts are false).
local MASK = mask_of(reads)

-- A new entity (empty hash): each kept set's only member is this attempt's value.
local function distinct_new(d, w)
  local specs, mask, out = DISTINCT[d], MASK[d], {}
  for k = 1, #specs do
    if mask.kept[k] then
      local member, rw, counts = vals[specs[k][2]], mask.rws[k], {}
      if member ~= '' then w[#w + 1] = k .. '|' .. member; w[#w + 1] = ARGV[1] end
      local n = member ~= '' and 1 or 0
      for wi = 1, NDW do counts[wi] = rw[wi] and n or -1 end
      out[k] = counts
    else
      out[k] = false
    end
  end
  return out
end

local function distinct_all(d, v, h, w, del)
  local specs = DISTINCT[d]
  local kept, rws = MASK[d].kept, MASK[d].rws
  local hll, live = {}, {}
  for k = 1, #specs do
    local state = h[k .. '~']
    hll[k] = kept[k] and state ~= nil and #state == HLLLEN and now - struct.unpack('<d', state) < MAXW
    if state and not kept[k] then del[#del + 1] = k .. '~' end
    live[k] = {}
  end
  for f, t in pairs(h) do
    if string.byte(f, 2) == 124 then -- "<k>|<member>"
      local k = string.byte(f, 1) - 48
      local seen = tonumber(t)
      -- patched: a member back after a day counts (see test_count_attempt)
      if hll[k] == false and kept[k] and seen and (now - seen < MAXW or f == k .. '|' .. vals[specs[k][2]]) then
        local l = live[k]
        l[#l + 1] = f
        l[#l + 1] = seen
      else
        del[#del + 1] = f
      end
    end
  end
  local out = {}
  for k, spec in ipairs(specs) do
    local member = vals[spec[2]]
    local counts
    if not kept[k] then
      counts = false
    elseif not hll[k] then
      local l = live[k]
      if member ~= '' then
        local f = k .. '|' .. member
        if h[f] == nil then l[#l + 1] = f; l[#l + 1] = now else
          for j = 1, #l, 2 do if l[j] == f then l[j + 1] = now end end
        end
        w[#w + 1] = f; w[#w + 1] = ARGV[1]
      end
      if #l <= 2 * CAP then
        counts = {}
        for wi = 1, NDW do
          if rws[k][wi] then
            local n, span = 0, DW[wi]
            for j = 2, #l, 2 do if now - l[j] < span then n = n + 1 end end
            counts[wi] = n
          else
            counts[wi] = -1
          end
        end
      else
        -- Too many members: seed the HyperLogLogs from the exact set, then count with them.
        local base = counter_key(d, v) .. ':x:' .. k .. ':'
        if member ~= '' then w[#w] = nil; w[#w] = nil end
        for j = 1, #l, 2 do
          del[#del + 1] = l[j]
          local name = string.sub(l[j], 3)
          for wi = 1, NDW do
            local b = math.floor(l[j + 1] / DW[wi])
            if rws[k][wi] and b >= math.floor(now / DW[wi]) - 1 then
              local hk = base .. wi .. ':' .. b
              redis.call('PFADD', hk, name)
              redis.call('PEXPIRE', hk, TTL_MS)
            end
          end
        end
        counts = hll_counts(nil, base, k, '', w, rws[k])
      end
    else
      counts = hll_counts(h[k .. '~'], counter_key(d, v) .. ':x:' .. k .. ':', k, member, w, rws[k])
    end
    out[k] = counts
  end
  return out
end

-- The account's history (returned raw; the caller decodes it) and whether it is still live.
local hist, known = false, false
if vals[ACCOUNT] ~= '' and own[ACCOUNT] then
  hist = redis.call('GET', counter_key(ACCOUNT, vals[ACCOUNT]) .. ':h')
  if hist then
    local ok, rec = pcall(cjson.decode, hist)
    known = ok and type(rec) == 'table' and type(rec.t) == 'number' and rec.t > now - HDAYS * 86400
  end
end

-- Per counted entity (DIMS order) its packed row after counting the attempt (the caller estimates
-- the windows from it), then its distinct counts per window and kept set (-1: not kept).
local out = {}
for d = 1, #DIMS do
  local v = vals[d]
  local nd = #DISTINCT[d]
  if v ~= '' and mode[d] == 114 then -- 'r': the stored row only
    local fr = frame_of(d)
    local raw = redis.call('HMGET', counter_key(d, v), unpack(fr.fields))
    local parts = {}
    for i = 1, #fr.chunks do parts[i] = raw[i] or '' end
    out[#out + 1] = table.concat(parts)
    out[#out + 1] = {}
  elseif v ~= '' and (own[d] or mode[d] == 100) then
    local key = counter_key(d, v)
    local all = redis.call('HGETALL', key)
    local fr = frame_of(d)
    local w, del = {}, {}
    local a, dcounts
    local arm, row = false, ''
    if #all == 0 then -- a new entity
      a = {unpack(fr.zero)}
      a[1] = now
      add(fr, a, 1)
      arm = true
    else
      local h = {}
      for j = 1, #all, 2 do h[all[j]] = all[j + 1] end
      local raw = {}
      for i, c in ipairs(fr.chunks) do raw[i] = h[c[1]] end
      if own[d] then
        a = unpack_counts(fr, raw)
        roll(fr, a)
        add(fr, a, 1)
      else
        local whole = true
        for i = 1, #fr.chunks do whole = whole and raw[i] ~= nil end
        if whole then row = table.concat(raw, '', 1, #fr.chunks) end
      end
      if h.n then -- the previous layout's fields
        for _, f in ipairs(fr.legacy) do del[#del + 1] = f end
      end
      -- only the row: no set's members to count or delete
      if not MASK[d].any and #all == 2 * #fr.chunks then dcounts = {} end
      dcounts = dcounts or distinct_all(d, v, h, w, del)
    end
    if own[d] then arm, row = pack_counts(fr, a, w) end
    dcounts = dcounts or distinct_new(d, w)
    if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    if #w > 0 then redis.call('HSET', key, unpack(w)) end
    if arm and (#w > 0 or #all > 0) then redis.call('PEXPIRE', key, TTL_MS) end
    local dc = {}
    for wi = 1, NDW do
      for k = 1, nd do dc[#dc + 1] = dcounts[k] and dcounts[k][wi] or -1 end
    end
    out[#out + 1] = row
    out[#out + 1] = dc
  end
end

-- The shard that counts the attempt is the account's node's (it knows whether the account is known).
local site = {}
if ARGV[3] ~= '0' then
  site = site_shard(KEYS[1], ARGV[3] == '1', 1, (vals[ACCOUNT] ~= '' and not known) and 4 or nil)
end

-- The harshest active ban on any of ip/subnet/asn/account/fp.
local fields = {}
if ARGV[4] == '1' then
  for _, d in ipairs(BAN_DIMS) do
    if vals[d] ~= '' then fields[#fields + 1] = DIMS[d] .. ':' .. vals[d] end
  end
end
local ban, ban_exp = false, now
if #fields > 0 then
  for _, raw in ipairs(redis.call('HMGET', B, unpack(fields))) do
    if raw then
      local b = cjson.decode(raw)
      if b.e > ban_exp then ban, ban_exp = raw, b.e end
    end
  end
end
return {out, hist, ban, site}
