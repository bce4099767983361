-- One turn on the leases of a node's shards (hub/workers/shares.py), all of one kind's keys in one slot.
-- KEYS: the shard leases; ARGV: 1 the node's name, 2 the lease (ms), 3 'renew', 'take' or 'give'.
-- renew: extend each lease this node holds; take: each free lease becomes this node's; give: let go of each
-- this node holds. Returns per key 1 when the lease is (renew, take) or was (give) this node's, else 0.
local out = {}
for i, key in ipairs(KEYS) do
  if ARGV[3] == 'take' then
    out[i] = redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
  elseif redis.call('GET', key) == ARGV[1] then
    if ARGV[3] == 'renew' then
      redis.call('PEXPIRE', key, ARGV[2])
    else
      redis.call('DEL', key)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
