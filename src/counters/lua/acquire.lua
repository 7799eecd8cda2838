-- Counts a call's rate windows and takes its leases (ADR 0007 §5, §8), before a cost lookup or the
-- forward of a write that locks. On one server or Sentinel both halves run in this one script; in
-- Cluster mode the store runs it twice, concurrently: once with the windows and ceilings (slot
-- {vk:<scope>}), once with the leases (slot {lease:<account>}).
--
-- KEYS[1 .. w]                  rate window counters ({vk:<scope>}:minute:<n>)
-- KEYS[w + 1 .. w + c]          ceilings: money windows checked, never written ({vk:<scope>}:day:…)
-- KEYS[w + c + 2j - 1]          lease j (1 .. l): its exclusive holder ({lease:<account>}:<object>)
-- KEYS[w + c + 2j]              lease j: its shared holders, a sorted set of tokens by expiry (epoch
--                               ms, the server's clock) ({lease:<account>}:<the object's shared name>)
-- KEYS[w + c + 2l + 1]          last-used record ({vk:<scope>}:last), used only when w > 0
-- ARGV[1] w   ARGV[2] l   ARGV[3] the call's time, epoch ms   ARGV[4] last-used TTL seconds
-- ARGV[5] lease token (random per call)   ARGV[6] lease TTL in milliseconds   ARGV[7] c
-- ARGV[8] lease modes, a character each: e exclusive, s shared (lease-names.ts)
-- ARGV[9 + 3(i-1) ..]  window i (1 .. w + c): limit, amount, ttl seconds
--
-- Returns {1} counted and leased, {0, i, used, limit} refused by window i (nothing was written; the
-- ceilings are checked first: a spent cap answers 403 before the rate's 429), {3, j} lease j is held
-- by another call (the windows were counted: a retry loop is rate limited). An exclusive lease is
-- held while anyone holds it either way, a shared one while someone holds it exclusive.

local w = tonumber(ARGV[1])
local l = tonumber(ARGV[2])
local c = tonumber(ARGV[7])

local function over(i)
  local base = 9 + (i - 1) * 3
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local limit = tonumber(ARGV[base])
  if used + tonumber(ARGV[base + 1]) > limit then
    return {0, i, used, limit}
  end
  return nil
end

for i = w + 1, w + c do
  local refused = over(i)
  if refused then return refused end
end
for i = 1, w do
  local refused = over(i)
  if refused then return refused end
end

for i = 1, w do
  local base = 9 + (i - 1) * 3
  redis.call('INCRBY', KEYS[i], ARGV[base + 1])
  if redis.call('TTL', KEYS[i]) < 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[base + 2])
  end
end

if w > 0 then
  local last = KEYS[w + c + 2 * l + 1]
  local previous = redis.call('GET', last)
  local latest = ARGV[3]
  if previous and tonumber(previous) > tonumber(latest) then latest = previous end
  redis.call('SET', last, latest, 'EX', ARGV[4])
end

if l == 0 then return {1} end

-- The server's clock, as PX expiries use: a shared holder's expiry is a score, compared with it.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[6])
local modes = ARGV[8]

-- All or none: a busy object leaves every other lease untaken.
for j = 1, l do
  local exclusive = KEYS[w + c + 2 * j - 1]
  local shared = KEYS[w + c + 2 * j]
  if redis.call('EXISTS', exclusive) == 1 then
    return {3, j}
  end
  if string.sub(modes, j, j) == 'e' then
    redis.call('ZREMRANGEBYSCORE', shared, '-inf', now)
    if redis.call('ZCARD', shared) > 0 then
      return {3, j}
    end
  end
end
for j = 1, l do
  if string.sub(modes, j, j) == 'e' then
    redis.call('SET', KEYS[w + c + 2 * j - 1], ARGV[5], 'PX', ttl)
  else
    local shared = KEYS[w + c + 2 * j]
    redis.call('ZADD', shared, now + ttl, ARGV[5])
    if redis.call('PTTL', shared) < ttl then
      redis.call('PEXPIRE', shared, ttl)
    end
  end
end
return {1}
