-- What a command on one order reads, in one round trip instead of three (hub/live/store.py order_inputs).
-- KEYS: 1 open orders, 2 closed orders, 3 counters, 4 stock, 5 screens, 6 menu, 7 the restaurant's settings
-- ARGV: 1 order id, 2 now (ms), 3 '1' for the kitchen's inputs (the day's counters, the stations with a
--       live screen, the stock of every item on the order), 4 '1' for the menu, 5 '1' for the restaurant's
--       settings (the node's copy is due to be read again), 6.. menu item ids whose stock to read as well (an
--       item about to be added)
-- Returns {order or false, counters or false, {stock records}, {screens members}, menu or false,
--          settings or false}.
-- Read only. The order is decoded here only when the restaurant counts stock at all, for its item ids.
local order = redis.call('HGET', KEYS[1], ARGV[1])
if not order then
  order = redis.call('HGET', KEYS[2], ARGV[1])
end
local kitchen = ARGV[3] == '1'
local counters = false
local screens = {}
if kitchen then
  counters = redis.call('GET', KEYS[3])
  screens = redis.call('ZRANGEBYSCORE', KEYS[5], ARGV[2], '+inf')
end
local ids = {}
for i = 6, #ARGV do
  ids[#ids + 1] = ARGV[i]
end
if kitchen and order and redis.call('EXISTS', KEYS[4]) == 1 then
  for _, item in ipairs(cjson.decode(order).items or {}) do
    ids[#ids + 1] = item.menu_item_id
  end
end
local stock = {}
if #ids > 0 then
  for _, v in ipairs(redis.call('HMGET', KEYS[4], unpack(ids))) do
    if v then
      stock[#stock + 1] = v
    end
  end
end
local menu = false
if ARGV[4] == '1' then
  menu = redis.call('GET', KEYS[6])
end
local settings = false
if ARGV[5] == '1' then
  settings = redis.call('GET', KEYS[7])
end
return {order or false, counters, stock, screens, menu, settings}
