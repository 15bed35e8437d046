-- Login outcomes on one node, a batch of them in one call. KEYS[1]: this node's site shard.
-- ARGV: per outcome STRIDE values: now, measure ('s' or 'f'), familiar ('1' or '0'), owned (one
-- '1'/'0' per dimension), site ('1': count it in the shard), the DIMS values, lat, lon ('' when
-- unknown). Returns how many outcomes were recorded.
local STRIDE = 7 + #DIMS
local function one(o)
  local now = NOW
  local m, familiar = ARGV[o + 2], ARGV[o + 3] == '1'
  local vals, own = {}, {}
  for i = 1, #DIMS do
    vals[i] = ARGV[o + i + 5]
    own[i] = string.byte(ARGV[o + 4], i) == 49
  end
  local lat, lon = ARGV[o + #DIMS + 6], ARGV[o + #DIMS + 7]

  for d = 1, #DIMS do
    if vals[d] ~= '' and own[d] then
      local extra = nil
      if d == ACCOUNT and m == 'f' then extra = MI[familiar and 'ff' or 'fu'] end
      bump(counter_key(d, vals[d]), frame_of(d), MI[m], extra)
    end
  end
  if ARGV[o + 5] == '1' then bump(KEYS[1], SITE_FRAME, MI[m]) end

  if m ~= 's' or vals[ACCOUNT] == '' or not own[ACCOUNT] then return end
  -- Success: update the account history (same shape as shield.store.records.updated_record).
  local hkey = counter_key(ACCOUNT, vals[ACCOUNT]) .. ':h'
  local raw = redis.call('GET', hkey)
  local rec = {}
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then rec = decoded end
  end
  local horizon = now - HDAYS * 86400
  local new = {t = now}
  for _, spec in ipairs(HISTORY) do
    local kind, v = spec[1], vals[spec[2]]
    local kept = {}
    if v ~= '' then kept[1] = {v, now} end
    if type(rec[kind]) == 'table' then
      for _, e in ipairs(rec[kind]) do
        if #kept >= HSIZE then break end
        if e[2] > horizon and e[1] ~= v then kept[#kept + 1] = e end
      end
    end
    new[kind] = kept
  end
  if lat ~= '' and lon ~= '' then new.lat, new.lon = tonumber(lat), tonumber(lon) end
  if vals[COUNTRY] ~= '' then new.cc = vals[COUNTRY] end
  redis.call('SET', hkey, cjson.encode(new), 'PX', HDAYS * 86400000)
  return
end
for o = 0, #ARGV - STRIDE, STRIDE do
  set_now(tonumber(ARGV[o + 1]))
  one(o)
end
return #ARGV / STRIDE
