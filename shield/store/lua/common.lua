-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows: BUCKETS sub-buckets per window. Fields of a counter hash, per window i:
--   "i:<bucket>:<m>"  the bucket's count of measure m
--   "i:t:<m>"         the running total of m over the live buckets
--   "i:o"             the oldest live bucket (live buckets never span more than BUCKETS)
-- Reading a window is one HMGET of totals; a bucket is subtracted once, when it leaves.
local function widths(seconds)
  local r = {}
  for i, s in ipairs(seconds) do r[i] = s / BUCKETS end
  return r
end
local DWW, SWW = widths(DW), widths(SW)
local MS = {'a', 'f', 's'}
local MS_ACCOUNT = {'a', 'f', 's', 'ff', 'fu'}
local MS_SITE = {'a', 'f', 's', 'u'}

local function measures(d)
  if d == ACCOUNT then return MS_ACCOUNT end
  return MS
end

-- Subtract the buckets that left each window; the oldest live bucket per window.
local function advance(now, key, ws, ms)
  local of = {}
  for i = 1, #ws do of[i] = i .. ':o' end
  local olds = redis.call('HMGET', key, unpack(of))
  for i = 1, #ws do
    local o = tonumber(olds[i])
    local limit = math.floor(now / ws[i]) - BUCKETS
    if o and o <= limit then
      for b = o, math.min(limit, o + BUCKETS - 1) do
        for _, m in ipairs(ms) do
          local f = i .. ':' .. b .. ':' .. m
          local v = redis.call('HGET', key, f)
          if v then
            redis.call('HINCRBY', key, i .. ':t:' .. m, -tonumber(v))
            redis.call('HDEL', key, f)
          end
        end
      end
      o = limit + 1
      redis.call('HSET', key, i .. ':o', o)
    end
    olds[i] = o
  end
  return olds
end

local function bump(now, key, ws, ms, m)
  local olds = advance(now, key, ws, ms)
  for i = 1, #ws do
    local b = math.floor(now / ws[i])
    local o = olds[i]
    if not o then
      redis.call('HSET', key, i .. ':o', b)
    elseif b < o then
      b = o -- a late write (now older than the last one) lands in the oldest live bucket
    end
    redis.call('HINCRBY', key, i .. ':' .. b .. ':' .. m, 1)
    redis.call('HINCRBY', key, i .. ':t:' .. m, 1)
  end
  redis.call('PEXPIRE', key, TTL_MS)
end

-- sums[window][measure], after advance (bump advances).
local function totals(key, ws, ms)
  local f = {}
  for i = 1, #ws do
    for _, m in ipairs(ms) do f[#f + 1] = i .. ':t:' .. m end
  end
  local vals = redis.call('HMGET', key, unpack(f))
  local sums, k = {}, 0
  for i = 1, #ws do
    sums[i] = {}
    for _, m in ipairs(ms) do
      k = k + 1
      sums[i][m] = tonumber(vals[k]) or 0
    end
  end
  return sums
end

local function counter_key(d, v)
  return P .. 'c:' .. DIMS[d] .. ':' .. v
end
