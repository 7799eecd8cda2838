-- Renews one call's leases (ADR 0007 §5): compare-and-extend, so a call whose price lookup outlasted
-- a lease learns it lost it instead of extending a lease another call has taken since. All or none:
-- every lease is checked before any is extended.
--
-- KEYS[1 ..]  leases ({lease:<account>}:<object>), all of one account (one hash slot)
-- ARGV[1]     the call's lease token
-- ARGV[2]     the new TTL in milliseconds, from now
--
-- Returns 0 when every lease was extended, else j: lease j no longer carries the token (nothing was
-- extended).

for j = 1, #KEYS do
  if redis.call('GET', KEYS[j]) ~= ARGV[1] then
    return j
  end
end
for j = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[j], ARGV[2])
end
return 0
