-- Several reads of one restaurant's keys as of one moment, in one round trip (hub/live/store.py
-- snapshot_state, history_since). A script, not MULTI/EXEC: as atomic, and a cluster client sends it
-- as one command (redis-py 8.1 runs each command queued in a cluster transaction on a new thread
-- with a new event loop, which cost more than the reads themselves).
-- KEYS: the keys, all in the restaurant's slot
-- ARGV: one read per key: 'get', 'hvals', 'none' (a placeholder, false), 'xfirst' (the stream's
--       first entry), 'xfrom' (entries from ARGV[#KEYS + 1], at most ARGV[#KEYS + 2] of them)
-- Returns one reply per key, in order. Read only.
local n = #KEYS
local out = {}
for i = 1, n do
  local how = ARGV[i]
  if how == 'get' then
    out[i] = redis.call('GET', KEYS[i])
  elseif how == 'hvals' then
    out[i] = redis.call('HVALS', KEYS[i])
  elseif how == 'xfirst' then
    out[i] = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)
  elseif how == 'xfrom' then
    out[i] = redis.call('XRANGE', KEYS[i], ARGV[n + 1], '+', 'COUNT', ARGV[n + 2])
  else
    out[i] = false
  end
end
return out
