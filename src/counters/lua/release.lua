-- Releases one call's leases: compare-and-delete, so a lease that expired and was taken by another
-- call (another token) is never removed by a late release.
--
-- KEYS[2j - 1]  lease j: its exclusive holder ({lease:<account>}:<object>)
-- KEYS[2j]      lease j: its shared holders, tokens by expiry (acquire.lua)
-- ARGV[1]       the call's lease token
-- ARGV[2]       lease modes, a character each: e exclusive, s shared (lease-names.ts)
--
-- Returns the number of leases removed.

local removed = 0
for j = 1, #KEYS / 2 do
  if string.sub(ARGV[2], j, j) == 'e' then
    if redis.call('GET', KEYS[2 * j - 1]) == ARGV[1] then
      redis.call('DEL', KEYS[2 * j - 1])
      removed = removed + 1
    end
  else
    removed = removed + redis.call('ZREM', KEYS[2 * j], ARGV[1])
  end
end
return removed
