-- Adjusts the money windows of one reservation from what was reserved to the actual cost.
--
-- KEYS[1]      idempotency record; deleted when ARGV[1] is '1' (the call was released) and it still
--              holds this reservation's fingerprint ARGV[2] (never another call's record). When it
--              holds anything else, nothing is released and the script returns 2: ARGV[2] .. '+'
--              means a replay of the call was admitted while it was in flight and may have moved the
--              money; a record gone (evicted under memory pressure) or replaced cannot say that none
--              was (over-counting, the safe side).
-- KEYS[2]      the scope's epoch record; ARGV[3] the epoch reserve.lua returned for this reservation
-- KEYS[2 + i]  counter of money window i
-- ARGV[4]      the actual cost
-- ARGV[3 + 2i], ARGV[4 + 2i]  window i: delta (actual - reserved), ttl seconds for a re-created key
--
-- Never takes a counter below 0 (one that would reach 0 is deleted) and never changes an existing
-- key's TTL (INCRBY keeps it).

if ARGV[1] == '1' then
  if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 2 end
  redis.call('DEL', KEYS[1])
end

-- Another epoch (or none) means Redis lost the windows this call was reserved in: those counting now
-- never held its reservation, so none of it may be given back (a probe moved $120 against a $100 cap
-- so). What the call actually cost is counted in them instead: it was spent in this window too.
-- (A call whose price was exact is never settled: it stays, like every call before the loss, in the
-- budget the loss reset; docs/counters.md.)
local same_windows = redis.call('GET', KEYS[2]) == ARGV[3]

for i = 1, #KEYS - 2 do
  local key = KEYS[2 + i]
  local delta = tonumber(ARGV[3 + 2 * i])
  if not same_windows then delta = tonumber(ARGV[4]) end
  if delta > 0 then
    redis.call('INCRBY', key, delta)
    -- The bucket may have expired (or Redis lost it) since the reservation: spend is still recorded.
    if redis.call('TTL', key) < 0 then
      redis.call('EXPIRE', key, ARGV[4 + 2 * i])
    end
  elseif delta < 0 then
    local used = tonumber(redis.call('GET', key) or '0')
    if used + delta <= 0 then
      -- Nothing left spent: a window at 0 is the same as none, and calls the vendor refused must
      -- not leave keys behind (a fresh run id per refused call would fill the store for 7 days).
      redis.call('DEL', key)
    else
      redis.call('INCRBY', key, delta)
    end
  end
end
return 1
