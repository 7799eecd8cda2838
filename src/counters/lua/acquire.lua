-- Counts a call's rate windows and takes its leases (ADR 0007 §5, §8), before a cost lookup or the
-- forward of a write that locks. On one server or Sentinel both halves run in this one script; in
-- Cluster mode the store runs it twice, concurrently: once with the windows (slot {vk:<scope>}),
-- once with the leases (slot {lease:<account>}).
--
-- KEYS[1 .. w]          rate window counters ({vk:<scope>}:minute:<n>)
-- KEYS[w + 1 .. w + l]  leases ({lease:<account>}:<object>)
-- KEYS[w + l + 1]       last-used record ({vk:<scope>}:last), present only when w > 0
-- ARGV[1] w   ARGV[2] l   ARGV[3] the call's time, epoch ms   ARGV[4] last-used TTL seconds
-- ARGV[5] lease token (random per call)   ARGV[6] lease TTL in milliseconds
-- ARGV[7 + 3(i-1) ..]  window i: limit, amount, ttl seconds
--
-- Returns {1} counted and leased, {0, i, used, limit} refused by window i (nothing was written),
-- {3, j} lease j is held by another call (the windows were counted: a retry loop is rate limited).

local w = tonumber(ARGV[1])
local l = tonumber(ARGV[2])

for i = 1, w do
  local base = 7 + (i - 1) * 3
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local limit = tonumber(ARGV[base])
  if used + tonumber(ARGV[base + 1]) > limit then
    return {0, i, used, limit}
  end
end

for i = 1, w do
  local base = 7 + (i - 1) * 3
  redis.call('INCRBY', KEYS[i], ARGV[base + 1])
  if redis.call('TTL', KEYS[i]) < 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[base + 2])
  end
end

if w > 0 then
  local last = KEYS[w + l + 1]
  local previous = redis.call('GET', last)
  local latest = ARGV[3]
  if previous and tonumber(previous) > tonumber(latest) then latest = previous end
  redis.call('SET', last, latest, 'EX', ARGV[4])
end

-- All or none: a busy object leaves every other lease untaken.
for j = 1, l do
  if redis.call('EXISTS', KEYS[w + j]) == 1 then
    return {3, j}
  end
end
for j = 1, l do
  redis.call('SET', KEYS[w + j], ARGV[5], 'PX', ARGV[6])
end
return {1}
