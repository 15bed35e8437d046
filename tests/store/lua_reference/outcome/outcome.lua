-- Login outcomes on one node, a batch of them in one call. KEYS[1]: this node's site shard.
-- ARGV: per outcome STRIDE values: now, measure ('s' or 'f'), familiar ('1' or '0'), owned (one
-- '1'/'0' per dimension), site ('1': count it in the shard), per dimension (DIMS order) its entity's
-- key (counter_key's, built by the caller: a string less to make here per entity) or '' (absent),
-- lat, lon ('' when unknown), confirmed ('1': a confirmed success, '0': an unconfirmed one), ripe
-- (pending successes at or before this time count as confirmed). Returns how many outcomes were recorded.
local STRIDE = 9 + #DIMS

local function num(v) return type(v) == 'number' end

-- Dimension d's value, from its entity's key (counter_key(d, value)); '' for ''. A SPREAD
-- dimension's key ends in ':' and 4 hex digits of the value's SHA-1 (counter_key): not the value's.
local function value_of(d, key)
  if key == '' then return '' end
  return string.sub(key, #T + #DIMS[d] + 3, SPREAD[d] and -7 or -2)
end

-- The rows this call counts in: each is read once, moved and counted in memory outcome by outcome (at
-- each outcome's time, as separate bumps would), and written once when the batch is done (a batch
-- often counts one subnet or fingerprint many times). Nothing in the call reads them back. rows[fr]:
-- key -> counters of the rows of frame fr; `legacy` the keys still holding the previous layout's
-- fields, `rearm` those one of whose counts re-armed the expiry (both rare: made when first needed;
-- every table made here is Redis CPU).
local rows, legacy, rearm = {}, false, false
local function count(key, fr, j, j2)
  local per = rows[fr]
  if not per then per = {}; rows[fr] = per end
  local a = per[key]
  if not a then
    local raw = redis.call('HMGET', key, unpack(fr.fields))
    a = unpack_counts(fr, raw)
    per[key] = a
    if raw[#fr.fields] then legacy = legacy or {}; legacy[key] = true end
  end
  roll(fr, a)
  add(fr, a, j)
  if j2 then add(fr, a, j2) end
  -- pack_counts's re-arming, at this outcome's time
  if NOW - a[2] >= REARM or NOW < a[2] then
    a[2] = NOW
    rearm = rearm or {}
    rearm[key] = true
  end
end

-- Every counted row written back (cut into its fields as pack_counts does), then its previous
-- layout's fields dropped, its expiry re-armed if one of its counts did.
local function write_rows()
  for fr, per in pairs(rows) do
    local w = {}
    for key, a in pairs(per) do
      local row = struct.pack(fr.fmt, unpack(a, 1, fr.n))
      for i, c in ipairs(fr.chunks) do w[2 * i - 1], w[2 * i] = c[1], string.sub(row, c[2], c[3]) end
      redis.call('HSET', key, unpack(w))
      if legacy and legacy[key] then redis.call('HDEL', key, unpack(fr.legacy)) end
      if rearm and rearm[key] then redis.call('PEXPIRE', key, TTL_MS) end
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

local function one(o)
  local now = NOW
  local m, familiar = ARGV[o + 2], ARGV[o + 3] == '1'
  -- dimension d's key is ARGV[v + d], owned if byte d of `owned` is '1' (no tables: each is Redis CPU)
  local v, owned = o + 5, ARGV[o + 4]
  local lat, lon = ARGV[o + #DIMS + 6], ARGV[o + #DIMS + 7]
  local confirmed, ripe = ARGV[o + #DIMS + 8] == '1', tonumber(ARGV[o + #DIMS + 9])

  for d = 1, #DIMS do
    local key = ARGV[v + d]
    if key ~= '' and string.byte(owned, d) == 49 then
      local extra = nil
      if d == ACCOUNT and m == 'f' then extra = MI[familiar and 'ff' or 'fu'] end
      count(key, frame_of(d), MI[m], extra)
    end
  end
  if ARGV[o + 5] == '1' then count(KEYS[1], SITE_FRAME, MI[m]) end

  local account = ARGV[v + ACCOUNT]
  if account == '' or string.byte(owned, ACCOUNT) ~= 49 then return end
  -- The account history (same shape as shield.store.records).
  local hkey = account .. ':h'
  local raw = redis.call('GET', hkey)
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
    redis.call('SET', hkey, cjson.encode(rec), 'KEEPTTL')
    return
  end
  rec = settle(rec, horizon, ripe)
  local new
  if not confirmed then
    local e = {t = now}
    for _, spec in ipairs(HISTORY) do
      local value = value_of(spec[2], ARGV[v + spec[2]])
      if value ~= '' then e[spec[1]] = value end
    end
    if lat ~= '' and lon ~= '' then e.lat, e.lon = tonumber(lat), tonumber(lon) end
    if ARGV[v + COUNTRY] ~= '' then e.cc = value_of(COUNTRY, ARGV[v + COUNTRY]) end
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
      local kind, value = spec[1], value_of(spec[2], ARGV[v + spec[2]])
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
    if ARGV[v + COUNTRY] ~= '' then new.cc = value_of(COUNTRY, ARGV[v + COUNTRY]) end
  end
  redis.call('SET', hkey, cjson.encode(new), 'PX', HDAYS * 86400000)
  return
end
for o = 0, #ARGV - STRIDE, STRIDE do
  set_now(tonumber(ARGV[o + 1]))
  one(o)
end
write_rows()
return #ARGV / STRIDE
