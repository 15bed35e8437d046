-- Login outcomes on one node, a batch of them in one call. KEYS[1]: this node's site shard.
-- ARGV: per outcome: now, flags, then one key per dimension flag not '0', then (when the account's
-- flag is '1') lat, lon ('' when unknown), confirmed ('1': a confirmed success, '0': an unconfirmed
-- one), ripe (pending successes at or before this time count as confirmed). Flags: per dimension
-- (DIMS order) '1' count it (its entity's key follows), 'k' only its key follows (the history's
-- values, on the account's node), '0' none (absent, or another node's: every argument is Redis CPU
-- on every master an outcome reaches); then the measure ('s' or 'f'), familiar ('1' or '0') and
-- site ('1': count it in the shard). A key is counter_key's, built by the caller (a string less to
-- make here per entity). Returns how many outcomes were recorded; a ragged entry refuses the call.
-- An entity's count is not read and written here: it waits in a field of the entity's hash, numbered
-- in the order written (the node's counter, KEYS[1] .. ':q'), and the entity's next observe counts
-- it into the row (common.lua's count_later, fold_deltas). The site shard's count (a shard this call
-- is asked to count) is read and written here.
-- The work is common.lua's (outcome_one, count_later, count, write_rows): no closure made per call.
local starts, heads = OUT_AT, OUT_HEAD
local ne, o = split_blocks(ARGV, 0, 3, starts, heads)
if not ne then return redis.error_reply('ERR outcome: a ragged entry at ' .. o) end
local shard = KEYS[1]
outcome_start(shard, ne)
for i = 1, ne do
  local at = starts[i]
  set_now(tonumber(ARGV[at + 1]))
  outcome_one(shard, ARGV, at, heads[i])
end
write_rows()
return ne
