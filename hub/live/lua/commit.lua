-- The one atomic commit: idempotency, version checks, state, events, trim, wake-up (also for a due check alone).
-- KEYS: 1 stream, 2 seq, 3 command result, 4 persisted offset, 5 epoch, 6 versions,
--       7 open orders, 8 closed orders, 9 tables, 10 counters, 11 stock, 12 due, 13 today's prep statistics, 14 restaurant, 15 menu,
--       16 staff, 17 PIN hashes, 18 print jobs, 19 print jobs on the manual list, 20 printer health,
--       21 acknowledged offset (what readers may see), 22 closed orders by when they closed (the archiver's),
--       23 the command's claim (one copy running, bus.py), 24 open orders changed since the predictor last
--       looked (only while it follows the restaurant: the set exists; hub/live/lua/changed_orders.lua)
-- ARGV[1]: JSON {checks=[[field, expected, archived]], hset=[[key, field, data, vfield, version]],
--                hdel=[[key, field]], set=[[key, data, vfield, version]],
--                events=[[type, channels, data, order ids]], zadd=[[member, at]], zrem=[member], prep=[[field, ms]],
--                ts, fp, ttl, maxlen, prep_ttl, durable, wake, epoch, setup, actor, replicated, claim}
-- ARGV[2]: the command's result (JSON), stored with its fingerprint and offset for every retry to get
-- ARGV[3...]: the records' and events' JSON, each an argument of its own; a "data" above is its index here,
--   so the script decodes only the small JSON of ARGV[1] and stores the records as they came
--   latest: [] or [name, figure]: the last event goes only if figure (a decimal string) is above the one
--           kept under name in the versions hash (then kept instead); the reply's third element says 1 if
--           it did not go
--   claim: the running copy's token ('' for none): its claim goes with the answer (stored now or before),
--          so the copy needs no round trip of its own to let go (unclaim.lua)
--   replicated: the caller WAITs for replicas, then makes the events visible (ack.lua); until then the
--               acknowledged offset stays where it was and nobody is woken
--   setup: "<channel> <restaurant>" when the restaurant's settings change: every node drops its cached copy
--   archived: 1 for an order: no version at all means it was archived (evict.lua) and read back from the
--             archive, so it passes; the write puts its version back, so a second such command conflicts
-- Returns {'dup', stored} | {'conflict', field, current} | {'ok', offset, dropped}
local p = cjson.decode(ARGV[1])
local function release()
  if p.claim ~= '' and redis.call('GET', KEYS[23]) == p.claim then
    redis.call('DEL', KEYS[23])
  end
end
local prior = redis.call('GET', KEYS[3])
if prior then
  release()
  if p.replicated then
    redis.call('SET', KEYS[3], prior, 'KEEPTTL')  -- a write, so the caller's WAIT covers what it answers
  end
  return {'dup', prior}
end
for _, c in ipairs(p.checks) do
  local stored = redis.call('HGET', KEYS[6], c[1])
  local current = tonumber(stored or '0')
  if current ~= c[2] and not (stored == false and c[3] == 1) then
    return {'conflict', c[1], tostring(current)}
  end
end
local dropped = 0
if #p.latest > 0 then
  local told = tonumber(redis.call('HGET', KEYS[6], p.latest[1]) or '-1')
  if told >= tonumber(p.latest[2]) then
    p.events[#p.events] = nil
    dropped = 1
  else
    redis.call('HSET', KEYS[6], p.latest[1], p.latest[2])
  end
end
for _, w in ipairs(p.hset) do
  redis.call('HSET', KEYS[w[1]], w[2], ARGV[w[3]])
  redis.call('HSET', KEYS[6], w[4], w[5])
  if w[1] == 8 then
    redis.call('ZADD', KEYS[22], p.ts, w[2])
  end
end
for _, d in ipairs(p.hdel) do
  redis.call('HDEL', KEYS[d[1]], d[2])
  if d[1] == 8 then
    redis.call('ZREM', KEYS[22], d[2])
  end
end
if p.noted ~= 0 and redis.call('EXISTS', KEYS[24]) == 1 then
  for _, w in ipairs(p.hset) do
    if w[1] == 7 then redis.call('SADD', KEYS[24], w[2]) end
  end
  for _, d in ipairs(p.hdel) do
    if d[1] == 7 then redis.call('SADD', KEYS[24], d[2]) end
  end
end
for _, w in ipairs(p.set) do
  redis.call('SET', KEYS[w[1]], ARGV[w[2]])
  redis.call('HSET', KEYS[6], w[3], w[4])
end
for _, z in ipairs(p.zadd) do
  redis.call('ZADD', KEYS[12], z[2], z[1])
end
for _, m in ipairs(p.zrem) do
  redis.call('ZREM', KEYS[12], m)
end
for _, s in ipairs(p.prep) do
  local f, ms = s[1], s[2]
  redis.call('HINCRBY', KEYS[13], f .. '|n', 1)
  redis.call('HINCRBY', KEYS[13], f .. '|sum', ms)
  local lo = tonumber(redis.call('HGET', KEYS[13], f .. '|min') or '-1')
  if lo < 0 or ms < lo then redis.call('HSET', KEYS[13], f .. '|min', ms) end
  local hi = tonumber(redis.call('HGET', KEYS[13], f .. '|max') or '-1')
  if ms > hi then redis.call('HSET', KEYS[13], f .. '|max', ms) end
end
if #p.prep > 0 then
  redis.call('PEXPIRE', KEYS[13], p.prep_ttl)  -- a day's statistics outlive the window, then go
end
redis.call('SET', KEYS[5], p.epoch, 'NX')
local n = #p.events
local last
if n > 0 then
  last = redis.call('INCRBY', KEYS[2], n)
  local first = last - n
  for i, ev in ipairs(p.events) do
    redis.call('XADD', KEYS[1], (first + i) .. '-0', 't', ev[1], 'c', ev[2], 'd', ARGV[ev[3]], 'ts', p.ts, 'a', p.actor or '', 'o', ev[4])
  end
  local keep = last - p.maxlen
  local persisted = tonumber(redis.call('GET', KEYS[4]) or '0')
  if p.durable and persisted < keep then
    keep = persisted
  end
  if keep > 0 then
    redis.call('XTRIM', KEYS[1], 'MINID', (keep + 1) .. '-0')
  end
  if not p.replicated then
    redis.call('SET', KEYS[21], last)
    redis.call('PUBLISH', p.wake, last)
  elseif redis.call('EXISTS', KEYS[21]) == 0 then
    redis.call('SET', KEYS[21], first)
  end
else
  last = tonumber(redis.call('GET', KEYS[2]) or '0')
  if #p.zadd > 0 then
    -- no event, but a check that falls due: the nodes' due checks read a restaurant a commit woke (at
    -- the offset readers may already see, so no feed reads past it)
    redis.call('PUBLISH', p.wake, redis.call('GET', KEYS[21]) or '0')
  end
end
if p.setup ~= '' then
  local space = string.find(p.setup, ' ', 1, true)
  redis.call('PUBLISH', string.sub(p.setup, 1, space - 1), string.sub(p.setup, space + 1))
end
redis.call('SET', KEYS[3], '{"fp":"' .. p.fp .. '","offset":' .. last .. ',"result":' .. ARGV[2] .. '}', 'EX', p.ttl)
release()
return {'ok', last, dropped}
