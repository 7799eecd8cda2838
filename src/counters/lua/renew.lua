-- Renews one call's leases (ADR 0007 §5): compare-and-extend, so a call whose price lookup outlasted
-- a lease learns it lost it instead of extending a lease another call has taken since. All or none:
-- every lease is checked before any is extended.
--
-- KEYS[2j - 1]  lease j: its exclusive holder ({lease:<account>}:<object>), all of one account (one
--               hash slot)
-- KEYS[2j]      lease j: its shared holders, tokens by expiry (acquire.lua)
-- ARGV[1]       the call's lease token
-- ARGV[2]       the new TTL in milliseconds, from now
-- ARGV[3]       lease modes, a character each: e exclusive, s shared (lease-names.ts)
--
-- Returns 0 when every lease was extended, else j: lease j no longer carries the token (nothing was
-- extended).

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
local modes = ARGV[3]
local l = #KEYS / 2

for j = 1, l do
  if string.sub(modes, j, j) == 'e' then
    if redis.call('GET', KEYS[2 * j - 1]) ~= ARGV[1] then
      return j
    end
  else
    local expires = redis.call('ZSCORE', KEYS[2 * j], ARGV[1])
    if not expires or tonumber(expires) <= now then
      return j
    end
  end
end
for j = 1, l do
  if string.sub(modes, j, j) == 'e' then
    redis.call('PEXPIRE', KEYS[2 * j - 1], ttl)
  else
    local shared = KEYS[2 * j]
    redis.call('ZADD', shared, 'XX', now + ttl, ARGV[1])
    if redis.call('PTTL', shared) < ttl then
      redis.call('PEXPIRE', shared, ttl)
    end
  end
end
return 0
