-- Protected attempts on one node, a batch of them in one call (shield.store.pipelining merges a
-- loop turn's observes bound for one master): each counted in the entities this node holds, their
-- counters read, the history (if it holds the account), the bans (if it holds them) and its site
-- shard (if asked): common.lua's observe_attempt.
-- KEYS[1]: this node's site shard. ARGV[1]: the reads mask (the call's, shared by its attempts: per
-- distinct set in DISTINCT order, one '1'/'0' per window: whether a rule reads it; a set with no
-- window read is not stored, a window no rule reads is neither counted nor returned). Then
-- the attempts' blocks back to back (shield.store.scripts.BATCHED), each: now, flags, then one value
-- per flag of a dimension that is not '0' (DIMS order). Flags: per dimension
-- '1' this call counts it, 'r' only returns its stored row, 'd' counts it in its distinct sets and
-- returns its stored row (a hot entity: the worker counts its row, shield.store.batched), 'v' only
-- its value (a member of the distinct sets, or a ban scope), '0' absent or not needed here (no
-- value sent: every argument is Redis CPU on every master an attempt reaches); then the site
-- ('1': count the attempt in the shard and return it, 'r': only return it, '0': neither), then
-- bans ('1': read them).
-- The reply is ONE flat list, per attempt its reply's length, then its reply (observe_attempt's): a
-- list in a reply costs Redis ~4k instructions to convert (a list per attempt did, on every master
-- an attempt reaches); shield.store.pipelining cuts it into each caller's reply. The list is reused
-- call after call, its end marked by a nil (Redis reads a reply list up to its first nil).
-- security: a short or ragged ARGV is refused whole (never a block read past its end, nothing counted).
local n, starts, heads = #ARGV, OBS_AT, OBS_HEAD
local nb, o = split_blocks(ARGV, 1, 2, starts, heads)
if not nb then return redis.error_reply('ERR observe: a ragged block at ' .. o) end
if o ~= n then return redis.error_reply('ERR observe: ' .. n .. ' arguments, not its call\'s') end
local mask, out, at, shard = mask_of(ARGV[1]), OBS_REPLY, 0, KEYS[1]
-- The bans of every attempt that reads them ('1'), in ONE HMGET for the call (a command is ~5k
-- instructions of call machinery, on the ban table's master for every attempt): each attempt's
-- fields (its ip/subnet/asn/account/fp values, BAN_DIMS order), and where they start and end.
local fields, nf, ends = BAN_FIELDS, 0, OBS_BANS
for i = 1, nb do
  local f = heads[i]
  ends[i] = nf
  if f.byte[NDIMS + 2] == 49 then
    local bp = f.bans -- per flags string (made once): each ban dimension's value's place, its field's prefix
    if not bp then
      bp = {}
      for j = 1, #BAN_DIMS do
        local d = BAN_DIMS[j]
        for x = 1, f.n do
          if f.dims[x] == d then bp[#bp + 1] = x; bp[#bp + 1] = DIMS[d] .. ':' end
        end
      end
      f.bans = bp
    end
    local o = starts[i] + 2
    for j = 1, #bp, 2 do
      local v = ARGV[o + bp[j]]
      if v ~= '' then nf = nf + 1; fields[nf] = bp[j + 1] .. v end
    end
  end
end
ends[nb + 1] = nf
local bans = nf > 0 and redis.call('HMGET', B, unpack(fields, 1, nf)) -- (rcall: set by a call's first set_now)
for i = 1, nb do
  at = observe_attempt(shard, ARGV, starts[i], heads[i], mask, out, at, bans, ends[i], ends[i + 1])
end
out[at + 1] = nil
return out
