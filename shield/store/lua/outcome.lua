-- Login outcomes on one node, a batch of them in one call. KEYS[1]: this node's site shard.
-- ARGV: per outcome: now, flags, then one key per dimension flag not '0', then (when the account's
-- flag is '1') lat, lon ('' when unknown), confirmed ('1': a confirmed success, '0': an unconfirmed
-- one), ripe (pending successes at or before this time count as confirmed). Flags: per dimension
-- (DIMS order) '1' count it (its entity's key follows), 'k' only its key follows (the history's
-- values, on the account's node), '0' none (absent, or another node's: every argument is Redis CPU
-- on every master an outcome reaches); then the measure ('s' or 'f'), familiar ('1' or '0') and
-- site ('1': count it in the shard). A key is counter_key's, built by the caller (a string less to
-- make here per entity). Returns how many outcomes were recorded; a ragged entry refuses the call.
local nd = #DIMS
-- An entry's length (arguments) at offset o, from its flags (common.lua's flags_of); nil when malformed.
local function entry_len(o)
  local f = flags_of(ARGV[o + 2], 3)
  return f and 2 + f.n + (f.byte[ACCOUNT] == 49 and 4 or 0)
end
local starts, at, total = {}, 0, #ARGV
while at < total do
  local len = entry_len(at)
  if not len or at + len > total then return redis.error_reply('ERR outcome: a ragged entry at ' .. at) end
  starts[#starts + 1] = at
  at = at + len
end

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
local rows, legacy, rearm = {}, false, false
local function count(key, fr, j, j2)
  local per = rows[fr]
  if not per then per = {}; rows[fr] = per end
  local s = per[key]
  if not s then
    local raw = rcall('HMGET', key, unpack(fr.fields))
    s = joined(fr, raw)
    if raw[#fr.fields] then legacy = legacy or {}; legacy[key] = true end
  end
  local arm
  s, arm = counted(fr, s, j, j2)
  per[key] = s
  if arm then
    rearm = rearm or {}
    rearm[key] = true
  end
end

-- Every counted row written back (cut into its fields as pack_counts does), then its previous
-- layout's fields dropped, its expiry re-armed if one of its counts did.
local function write_rows()
  for fr, per in pairs(rows) do
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

local KEYV = {} -- the entry's key per dimension ('' when none was sent)
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
local function one(o)
  local now = NOW
  local f = flags_of(ARGV[o + 2], 3)
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
      count(key, frame_of(d), MI[m], extra)
    end
  end
  if flag[nd + 3] == 49 then count(KEYS[1], site_frame(), MI[m]) end

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
for _, o in ipairs(starts) do
  set_now(tonumber(ARGV[o + 1]))
  one(o)
end
write_rows()
return #starts
