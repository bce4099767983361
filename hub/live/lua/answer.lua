-- A command's answer alone, for a decision that changes nothing and tells nothing (an acknowledgement a screen's
-- twin made first, a bill's preview): stored for every retry of its id as commit.lua stores it, without decoding a
-- document of writes that are not there. Used where no replica is waited for; a cluster's commits use commit.lua.
-- KEYS: 1 command result, 2 seq, 3 epoch, 4 the command's claim
-- ARGV: 1 fingerprint, 2 result (JSON), 3 seconds kept, 4 epoch (used only if the stream is new),
--       5 the running copy's claim token ('' for none), which goes with the answer as in commit.lua
-- Returns {'dup', stored} | {'ok', offset, 0}
local function release()
  if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) == ARGV[5] then
    redis.call('DEL', KEYS[4])
  end
end
local prior = redis.call('GET', KEYS[1])
if prior then
  release()
  return {'dup', prior}
end
redis.call('SET', KEYS[3], ARGV[4], 'NX')
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[1], '{"fp":"' .. ARGV[1] .. '","offset":' .. last .. ',"result":' .. ARGV[2] .. '}', 'EX', ARGV[3])
release()
return {'ok', last, 0}
