-- Reserves every window of one call atomically (DESIGN.md §6): check all, then apply all.
-- All keys share the hash tag {vk:<scope>}, so this runs on one node of a cluster.
--
-- KEYS[1]      idempotency record ({vk:<scope>}:idem:<key>); unused when ARGV[1] is '0'
-- KEYS[2]      last-used record ({vk:<scope>}:last)
-- KEYS[3]      stopped-run record of the call's run key ({vk:<scope>}:revoked-run:<runId>, ADR 0010);
--              unused when ARGV[6] is '0'
-- KEYS[4]      the scope's epoch record ({vk:<scope>}:epoch): names this incarnation of its money windows
-- KEYS[4 + i]  counter of window i ({vk:<scope>}:<bucket>)
-- ARGV[1]      '1' when KEYS[1] is a real idempotency key
-- ARGV[2]      idempotency record TTL in seconds
-- ARGV[3]      the call's time, epoch ms (from the proxy's clock)
-- ARGV[4]      last-used record TTL in seconds
-- ARGV[5]      the call's fingerprint (sha256 hex): the value of its idempotency record
-- ARGV[6]      '1' when the call was made with a run key (KEYS[3] is its stopped-run record)
-- ARGV[7]      the epoch this call proposes, should the scope have none (unique per proxy process and call: a random nonce and a call count, proposedEpoch)
-- ARGV[8 + 4(i-1) ..]  window i: money ('1'|'0'), limit, amount, ttl seconds
--
-- Returns {1, r, epoch} reserved (r = 1 when this call wrote the idempotency record; epoch: the
-- scope's epoch record once money was reserved, else false), {2} replay (money
-- already reserved by an earlier call with the same key and the same fingerprint; the record is
-- marked replayed),
-- {0, i, used, limit} refused by window i, {3} refused: the run key's run was stopped (nothing was
-- written in either case). Values stay below 2^53, where Lua numbers are exact.

-- A stopped run moves nothing, not even a replay: checked before anything is read or written.
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  return {3}
end

local has_idem = ARGV[1] == '1'
local recorded = false
if has_idem then recorded = redis.call('GET', KEYS[1]) end
-- Only the same call is a replay (ADR 0007 §4): a key reused with another fingerprint is a new call.
-- A record whose call has been replayed holds the fingerprint and '+' (REPLAYED_MARK in store.ts).
local replayed = ARGV[5] .. '+'
local replay = has_idem and (recorded == ARGV[5] or recorded == replayed)
local n = #KEYS - 4

-- A replay skips the money windows but still counts towards the call rate.
local function applies(base)
  return not (replay and ARGV[base] == '1')
end

for i = 1, n do
  local base = 8 + (i - 1) * 4
  if applies(base) then
    local used = tonumber(redis.call('GET', KEYS[4 + i]) or '0')
    local limit = tonumber(ARGV[base + 1])
    if used + tonumber(ARGV[base + 2]) > limit then
      return {0, i, used, limit}
    end
  end
end

local money = false
local money_ttl = 0
for i = 1, n do
  local base = 8 + (i - 1) * 4
  if applies(base) then
    local key = KEYS[4 + i]
    redis.call('INCRBY', key, ARGV[base + 2])
    -- Only a new key gets a TTL: later writes must not push the bucket's expiry out.
    if redis.call('TTL', key) < 0 then
      redis.call('EXPIRE', key, ARGV[base + 3])
    end
    if ARGV[base] == '1' then
      money = true
      money_ttl = math.max(money_ttl, tonumber(ARGV[base + 3]))
    end
  end
end

-- The epoch record tells settle.lua whether the windows it would lower are the ones this call raised:
-- after Redis lost its data (a restart without persistence, a flush) they start again under a new
-- epoch, and a reservation made before must not lower them (docs/counters.md). It outlives every
-- money window of the scope, so it only ever expires after them.
local epoch = false
if money then
  epoch = redis.call('GET', KEYS[4])
  if not epoch then
    epoch = ARGV[7]
    redis.call('SET', KEYS[4], epoch, 'EX', money_ttl)
  elseif redis.call('TTL', KEYS[4]) < money_ttl then
    redis.call('EXPIRE', KEYS[4], money_ttl)
  end
end

-- Replicas' clocks differ a little: keep the latest time seen, but always refresh the TTL.
local previous = redis.call('GET', KEYS[2])
local latest = ARGV[3]
if previous and tonumber(previous) > tonumber(latest) then latest = previous end
redis.call('SET', KEYS[2], latest, 'EX', ARGV[4])

if replay then
  -- Marked, keeping the record's expiry: should the first call still be refused by the vendor (it
  -- may be in flight), settle.lua keeps its money counted, for this replay may have moved it.
  if recorded ~= replayed then
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then redis.call('SET', KEYS[1], replayed, 'PX', ttl) end
  end
  return {2}
end
-- The first call's record stands: another call under the same key does not replace it.
if has_idem and money and not recorded then
  redis.call('SET', KEYS[1], ARGV[5], 'EX', ARGV[2])
  return {1, 1, epoch}
end
return {1, 0, epoch}
