-- Take archived orders out of Redis, each only if it has not changed since it was archived.
-- KEYS: 1 versions, 2 closed orders, 3 closed orders by when they closed.
-- ARGV: order id, revision, order id, revision, ... (as the archive holds them)
-- Returns how many left. A command on an order that left finds no version for it and brings it
-- back from the archive (commit.lua's archived checks).
local gone = 0
for i = 1, #ARGV, 2 do
  local id, revision = ARGV[i], ARGV[i + 1]
  local field = 'order:' .. id
  if redis.call('HGET', KEYS[1], field) == revision and redis.call('HEXISTS', KEYS[2], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[1], field)
    redis.call('ZREM', KEYS[3], id)
    gone = gone + 1
  end
end
return gone
