-- Keep a batch of one restaurant's riders' fixes and publish them (hub/live/positions.py). Never the stream.
-- KEYS: 1 the latest fix per rider (hash), 1+i the trail of the i-th fix's rider (list, newest first).
-- ARGV: 1 expiry (ms), 2 trail length, 3 the positions channel, 4 the batch as published (a JSON array),
--       then per fix: the rider, its latest fix (JSON, as in the batch), its trail point (JSON).
-- Returns how many fixes it kept.
local ttl, cap = ARGV[1], tonumber(ARGV[2])
local n = #KEYS - 1
for i = 1, n do
  local at = 4 + (i - 1) * 3
  local trail = KEYS[i + 1]
  redis.call('HSET', KEYS[1], ARGV[at + 1], ARGV[at + 2])
  redis.call('LPUSH', trail, ARGV[at + 3])
  redis.call('LTRIM', trail, 0, cap - 1)
  redis.call('PEXPIRE', trail, ttl)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return n
