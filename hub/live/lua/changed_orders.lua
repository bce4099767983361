-- The open orders the predictor has not seen since its last look, and from now on every one a commit writes.
-- KEYS: 1 changed orders (a set; "" marks that the predictor follows), 2 open orders (hash id -> JSON)
-- ARGV: 1 how long the set lives without a look (ms), 2 "all" for every open order (a first look, a resync)
-- Returns {ids, jsons}: each id with its JSON, or false for an order no longer open.
local ids = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], '')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if ARGV[2] == 'all' then
  local all = redis.call('HGETALL', KEYS[2])
  local names, values = {}, {}
  for i = 1, #all, 2 do
    names[#names + 1] = all[i]
    values[#values + 1] = all[i + 1]
  end
  return {names, values}
end
local wanted = {}
for _, id in ipairs(ids) do
  if id ~= '' then wanted[#wanted + 1] = id end
end
if #wanted == 0 then
  return {{}, {}}
end
return {wanted, redis.call('HMGET', KEYS[2], unpack(wanted))}
