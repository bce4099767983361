-- Let go of a claim (a money command's copy running): only by the copy that holds it.
-- KEYS: 1 the claim; ARGV: 1 the holder's token. Returns 1 if it was let go, 0 if another holds it (or none).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
