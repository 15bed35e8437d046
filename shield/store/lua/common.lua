-- Shared by every script (prepended after the generated configuration prelude).
-- Sliding windows: BUCKETS sub-buckets per window; hash fields are "<window>:<bucket>:<measure>".
local function widths(seconds)
  local r = {}
  for i, s in ipairs(seconds) do r[i] = s / BUCKETS end
  return r
end
local DWW, SWW = widths(DW), widths(SW)

local function bump(now, key, ws, m)
  for i = 1, #ws do
    redis.call('HINCRBY', key, i .. ':' .. math.floor(now / ws[i]) .. ':' .. m, 1)
  end
  redis.call('PEXPIRE', key, TTL_MS)
end

local function counter_key(d, v)
  return P .. 'c:' .. DIMS[d] .. ':' .. v
end
