-- Stops a run (ADR 0010), bounded per vault key: the record the reserve script checks and the key's
-- index of live stops, in one step in the key's slot, so a key never passes its bound however many
-- replicas take stops at once. A stop already recorded is never removed early (only refreshed).
--
-- KEYS[1]  the key's live stops ({vk:<scope>}:revoked-runs, sorted set, score: until)
-- KEYS[2]  the run's record ({vk:<scope>}:revoked-run:<runId>)
-- ARGV[1]  now (epoch ms)
-- ARGV[2]  until (epoch ms): when no token of the run can be valid any more
-- ARGV[3]  the run id
-- ARGV[4]  the most live stops the key may have
--
-- Returns 1 when the run is stopped (newly or again), 0 when the key already has ARGV[4] live stops
-- and this run is not one of them: nothing was written.

local now = tonumber(ARGV[1])
local untilMs = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local known = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not known and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
if not known or tonumber(known) < untilMs then
  redis.call('ZADD', KEYS[1], untilMs, ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', math.max(untilMs, now + 1))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
