-- A worker's batch of counts of the hot entities this node holds (shield.store.batched): the
-- site shard, countries, ASNs. KEYS[1]: this node's site shard (routing only). ARGV: per entity
-- three values: the frame ('s': a site shard, 'd': a dimension's entity), its key, and the counts
-- to add as a packed row (the worker's own buckets, as of its last count). Each stored row is
-- moved on to the later of the two rows' times, the counts added bucket by bucket (both rows are
-- aligned on absolute time), and written back. Returns each entity's row after the merge.
local rows = {}
for o = 1, #ARGV - 2, 3 do
  local fr = ARGV[o] == 's' and SITE_FRAME or FRAMES[3]
  local key, delta = ARGV[o + 1], ARGV[o + 2]
  if #delta == fr.len then
    local raw = redis.call('HMGET', key, unpack(fr.fields))
    local a = unpack_counts(fr, raw)
    local b = {struct.unpack(fr.fmt, delta)}
    local t = math.max(a[1], b[1])
    set_now(t)
    if fr == SITE_FRAME then site_frame() end
    roll(fr, a)
    roll(fr, b)
    for i = 3, fr.n do a[i] = a[i] + b[i] end
    a[1] = t
    local w = {}
    local arm, row = pack_counts(fr, a, w)
    redis.call('HSET', key, unpack(w))
    if raw[#fr.fields] then redis.call('HDEL', key, unpack(fr.legacy)) end -- the previous layout's fields
    if arm then redis.call('PEXPIRE', key, TTL_MS) end
    rows[#rows + 1] = row
  else
    rows[#rows + 1] = false -- a row of another configuration: not added
  end
end
return rows
