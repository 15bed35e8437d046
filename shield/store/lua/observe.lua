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
observe_begin(vals, ARGV[1], mask_of(reads))

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
  if v ~= '' and mode[d] == 114 then -- 'r': the stored row only
    local fr = frame_of(d)
    local raw = redis.call('HMGET', counter_key(d, v), unpack(fr.fields))
    local parts = {}
    for i = 1, #fr.chunks do parts[i] = raw[i] or '' end
    out[#out + 1] = table.concat(parts)
    out[#out + 1] = {}
  elseif v ~= '' and (own[d] or mode[d] == 100) then -- counted (lua/common.lua's observe_entity)
    local row, dc = observe_entity(d, v, own[d])
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
