-- The durable writer's watermarks, for many restaurants in one call: everything at or below one is in Postgres.
-- KEYS: per restaurant, its stream then its persisted key. ARGV: 1 the writers' consumer group.
-- A mark is just below the oldest entry read and not yet acknowledged; with none pending, the last one given out.
local function seq(id)
  return tonumber(string.match(id, '^(%d+)'))
end
for i = 1, #KEYS, 2 do
  local pending = redis.call('XPENDING', KEYS[i], ARGV[1])
  local mark = 0
  if pending[1] > 0 then
    mark = seq(pending[2]) - 1
  else
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[i])) do
      local name, last
      for j = 1, #group, 2 do
        if group[j] == 'name' then
          name = group[j + 1]
        elseif group[j] == 'last-delivered-id' then
          last = group[j + 1]
        end
      end
      if name == ARGV[1] then
        mark = seq(last)
      end
    end
  end
  redis.call('SET', KEYS[i + 1], mark)
end
return #KEYS / 2
