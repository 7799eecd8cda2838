-- Releases one call's leases: compare-and-delete, so a lease that expired and was taken by another
-- call (another token) is never removed by a late release.
--
-- KEYS[1 ..]  leases ({lease:<account>}:<object>)
-- ARGV[1]     the call's lease token
--
-- Returns the number of leases removed.

local removed = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    removed = removed + 1
  end
end
return removed
