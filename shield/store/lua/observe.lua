-- One protected attempt on one node: count it in the entities this node holds, read their counters,
-- the history (if it holds the account), the bans (if it holds them) and its site shard (if asked).
-- KEYS[1]: this node's site shard. ARGV[1]: the reads mask (the call's, shared by its attempts: per
-- distinct set in DISTINCT order, one '1'/'0' per window: whether a rule reads it; a set with no
-- window read is not stored, a window no rule reads is not counted, and either returns -1). Then
-- the attempt's block from o + 1 (shield.store.scripts.BATCHED; common.lua's block_observe): now,
-- flags, then one value per flag of a dimension that is not '0' (DIMS order). Flags: per dimension
-- '1' this call counts it, 'r' only returns its stored row, 'd' counts it in its distinct sets and
-- returns its stored row (a hot entity: the worker counts its row, shield.store.batched), 'v' only
-- its value (a member of the distinct sets, or a ban scope), '0' absent or not needed here (no
-- value sent: every argument is Redis CPU on every master an attempt reaches); then the site
-- ('1': count the attempt in the shard and return it, 'r': only return it, '0': neither), then
-- bans ('1': read them).
-- Per attempt and node (paid on every master an attempt reaches, whatever it counts there): no table
-- is made but the reply's (the values go in OBS_VALS, reused), the flags are decoded once per string.
local now = NOW
local f = flags_of(ARGV[o + 2], 2)
local vals, dims, flag = OBS_VALS, f.dims, f.byte
for d = 1, NDIMS do vals[d] = '' end
for i = 1, f.n do vals[dims[i]] = ARGV[o + 2 + i] end
observe_begin(vals, ARGV[o + 1], mask_of(ARGV[1]))

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

-- The reply, one flat list (each table in a reply costs Redis ~4k instructions to convert, on every
-- master an attempt reaches): the history, the ban, the site shard's counters (false when not read),
-- then per entity met (DIMS order) its packed row ('r': its stored row, and nothing more; counted:
-- after counting the attempt; the caller estimates the windows from it), then, when counted, its
-- distinct counts per window and set (-1: not kept; #DW * #DISTINCT[d] of them).
-- The list is the attempt's pooled one (its position in the call's): sized by the calls before, its
-- end marked by a nil (Redis reads a reply list up to its first nil).
local out = OBS_OUT[slot]
if not out then
  out = {}
  if slot <= 512 then OBS_OUT[slot] = out end
end
out[1], out[2], out[3] = hist, false, false
local n = 3
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
    elseif m == 49 or m == 100 then -- counted (lua/common.lua's observe_entity)
      n = observe_entity(d, v, m == 49, out, n)
    end
  end
end
out[n + 1] = nil

-- The shard that counts the attempt is the account's node's (it knows whether the account is known).
local site_flag = flag[NDIMS + 1]
if site_flag ~= 48 then
  out[3] = site_shard(KEYS[1], site_flag == 49, 1, (account ~= '' and not known) and 4 or nil)
end

-- The harshest active ban on any of ip/subnet/asn/account/fp (read on every attempt by the ban
-- table's master: numeric loops, no ipairs call per element).
local ban = false
if flag[NDIMS + 2] == 49 then
  local fields, nf = BAN_FIELDS, 0 -- read up to nf: what an earlier attempt left past it is not sent
  for i = 1, #BAN_DIMS do
    local d = BAN_DIMS[i]
    local v = vals[d]
    if v ~= '' then nf = nf + 1; fields[nf] = DIMS[d] .. ':' .. v end
  end
  if nf > 0 then
    local ban_exp = now
    local got = rcall('HMGET', B, unpack(fields, 1, nf))
    for i = 1, nf do
      local raw = got[i]
      if raw then
        local b = cjson.decode(raw)
        if b.e > ban_exp then ban, ban_exp = raw, b.e end
      end
    end
  end
end
out[2] = ban
return out
