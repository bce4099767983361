-- Manager PIN checks, counted before the slow hash: take a slot, then say how it went.
-- KEYS: 1 this device's wrong PINs (counter), 2 its checks in flight (zset token -> deadline ms),
--       3 the restaurant's wrong PINs (counter), 4 its checks in flight
-- ARGV: 1 op (take | wrong | right), 2 token, 3 now ms, 4 device limit, 5 restaurant limit,
--       6 window ms, 7 longest a check may hold its slot, ms
-- take:  {'ok'} | {'device', wait ms} | {'restaurant', wait ms}. A check counts against both limits while
--        in flight, so guesses sent at once cannot all pass: wrong + in flight never exceeds a limit.
-- wrong: {device wrong, restaurant wrong}: the slot becomes a wrong PIN, kept until its window ends.
-- right: {}: the slot is given back; a right PIN costs nothing (and wipes nothing).
local op, token, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local window, hold = tonumber(ARGV[6]), tonumber(ARGV[7])

local function used(failures, checks)
  redis.call('ZREMRANGEBYSCORE', checks, '-inf', now)  -- a check whose node died frees its slot
  return tonumber(redis.call('GET', failures) or '0') + redis.call('ZCARD', checks)
end

local function wait(failures)
  local ttl = redis.call('PTTL', failures)
  if ttl > 0 then return ttl end
  return hold  -- full of checks in flight only: one of them ends within this
end

if op == 'take' then
  if used(KEYS[1], KEYS[2]) >= tonumber(ARGV[4]) then return {'device', wait(KEYS[1])} end
  if used(KEYS[3], KEYS[4]) >= tonumber(ARGV[5]) then return {'restaurant', wait(KEYS[3])} end
  for _, checks in ipairs({KEYS[2], KEYS[4]}) do
    redis.call('ZADD', checks, now + hold, token)
    redis.call('PEXPIRE', checks, hold)
  end
  return {'ok'}
end
redis.call('ZREM', KEYS[2], token)
redis.call('ZREM', KEYS[4], token)
if op == 'wrong' then
  local counts = {}
  for i, failures in ipairs({KEYS[1], KEYS[3]}) do
    counts[i] = redis.call('INCR', failures)
    if counts[i] == 1 then redis.call('PEXPIRE', failures, window) end  -- the window starts at its first
  end
  return counts
end
return {}
