-- Make a restaurant's events up to an offset visible, once a replica holds them (the caller WAITed).
-- KEYS: 1 acknowledged offset. ARGV: 1 offset, 2 wake-up channel.
-- Replication keeps the master's order, so a replica holding this offset holds every earlier one:
-- the acknowledged offset only rises, and one wake-up covers the commands acknowledged before it.
local offset = tonumber(ARGV[1])
if offset > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], offset)
  redis.call('PUBLISH', ARGV[2], offset)
end
return offset
