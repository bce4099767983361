-- The due checks of several restaurants, in one call: the pipeline it replaced cost the node more than Redis.
-- KEYS: each restaurant's due set (member -> when, ms). ARGV: 1 now (ms), 2 at most this many due per restaurant.
-- Returns, per key: {members due now with their times (flat: member, time, ...), the first time in the set or false}.
local out = {}
for i, key in ipairs(KEYS) do
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  out[i] = {due, first[2] or false}
end
return out
