-- Refused attempts (shield.proxy.ban_refusal, a ban in force) counted on one node, a batch of them in
-- one call, off the request path (shield.store.redis_counts): each entity's attempt is written, not
-- read. KEYS[1]: this node's site shard (its ':q' numbers the pending counts, as outcome.lua's).
-- ARGV: pairs of an attempt's time as sent and the key of an entity it counts on this node (a key
-- is counter_key's, built by the caller; a frame-3 entity: a refusal has no account).
-- An attempt is a pending field "+10<now>" -> its sequence number (fold_deltas's format, measure 1:
-- attempts), which the entity's next observe folds into the row before its own count, at the time it
-- was sent and in the order written: what observe would have counted then. Its expiry is re-armed
-- (never shorter than an observe's: the pending count must outlive the windows it counts in).
-- Bounded: an entity holding more than FOLD_AT fields (a banned address refused for an hour and never
-- observed) has its pending counts folded into the row here (fold_key's read, once per ~FOLD_AT
-- counts), and a count already pending at the same time is folded at once (count_later's way).
-- Returns how many counts were written; a ragged ARGV refuses the call, nothing counted.
local n = #ARGV
if n % 2 ~= 0 then return redis.error_reply('ERR count: ' .. n .. ' arguments, not pairs') end
if not TTL_ARG then observe_strings() end
local ne = n / 2
local q = KEYS[1] .. ':q'
local seq = rcall('INCRBY', q, ne) - ne
rcall('PEXPIRE', q, TTL_ARG)
local fr, FOLD_AT = FRAMES[3], 96
for i = 1, ne do
  local stamp, key = ARGV[2 * i - 1], ARGV[2 * i]
  local t = tonumber(stamp)
  if t then
    set_now(t)
    if rcall('HSETNX', key, '+10' .. stamp, tostring(seq + i)) == 1 then
      if rcall('HLEN', key) > FOLD_AT then
        local s, arm, legacy = fold_key(key, fr)
        write_folded(key, fr, s, arm, legacy)
      end
    else -- the same count at the same time is pending: the row is made now, then this one counted
      local s, arm, legacy = fold_key(key, fr)
      local a
      s, a = counted(fr, s, 1)
      write_folded(key, fr, s, arm or a, legacy)
    end
    rcall('PEXPIRE', key, TTL_ARG)
  end
end
return ne
