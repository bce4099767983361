-- Claim a command id for one running copy (a money command), and read what its twins left, in one call.
-- KEYS: 1 the claim, 2 the stored answer, 3 the stored refusal, 4 the replicas' acknowledged offset.
-- ARGV: 1 this copy's token, 2 how long the claim lasts (ms).
-- Returns {holder's token, stored answer or false, refusal or false, acknowledged offset or false}.
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
