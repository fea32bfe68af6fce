"""The Lua scripts of `RedisBudget`: every change to a shared bucket is one atomic script.

Keys of one model class (`{ns}:{class}` is the prefix; the braces keep a class's keys in
one Redis Cluster slot):

- `b` (hash): `t` (server seconds of the last update), `l1`..`l3` (signed levels of the
  requests / input / output buckets), `pause` (server time before which nothing is granted),
  `seq` (ticket counter), `admitted` (grants, for statistics).
- `q` (sorted set): the FIFO ticket queue, one ticket per waiting process, scored by `seq`.
- `qd` (sorted set): each ticket's deadline; a ticket whose holder did not come back by
  then (it crashed) is dropped so it cannot block the queue.
- `r:{id}` (hash, with a TTL): one reservation, `n1`..`n3`, until it is settled.

Time is the server's (`TIME`), clamped so it never goes backwards (a stepped-back clock
holds time still). A script may be given an explicit time instead (`at`), which is how
the tests compare it with the in-memory `TokenBucket` on the same sequence of times.
Floats go in and out as strings: Redis converts Lua numbers in replies to integers.
"""

from __future__ import annotations

__all__ = ["DROP_TICKET", "PAUSE", "PULL_DOWN", "RESERVE", "SETTLE", "keys_of"]

_PRELUDE = """
local function clock(at)
  if at ~= '' then return tonumber(at) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.17g', x) end
-- Load a bucket refilled to `now` (clamped to its last update); nil levels if it is missing.
local function load(b, now)
  local st = redis.call('HMGET', b, 't', 'l1', 'l2', 'l3', 'pause')
  local last = tonumber(st[1])
  local pause = tonumber(st[5]) or 0
  if last == nil or st[2] == false then return nil, now, pause end
  if now < last then now = last end
  local lv = {}
  for i = 1, 3 do
    local cap, rate = tonumber(ARGV[i]), tonumber(ARGV[i + 3])
    lv[i] = math.min(cap, tonumber(st[i + 1]) + rate * (now - last))
  end
  return lv, now, pause
end
local function store(b, now, lv, ttl)
  redis.call('HSET', b, 't', f(now), 'l1', f(lv[1]), 'l2', f(lv[2]), 'l3', f(lv[3]))
  redis.call('PEXPIRE', b, ttl)
end
"""

#: KEYS: b, q, qd, r:{id}. ARGV: cap1..3, rate1..3, need1..3, ticket, initial fill
#: (fraction of capacity a missing bucket starts with), reservation TTL ms, ticket grace s,
#: idle TTL ms, minimum poll s, at ('' = server time).
#: Returns {granted (0/1), wait seconds, created (0/1), l1, l2, l3} (floats as strings).
RESERVE = (
    _PRELUDE
    + """
local b, q, qd, r = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ticket = ARGV[10]
local ttl = tonumber(ARGV[14])
local lv, now, pause = load(b, clock(ARGV[16]))
local created = 0
if lv == nil then
  created = 1
  lv = {}
  for i = 1, 3 do lv[i] = tonumber(ARGV[i]) * tonumber(ARGV[11]) end
end
local expired = redis.call('ZRANGEBYSCORE', qd, '-inf', f(now))
for _, x in ipairs(expired) do
  if x ~= ticket then
    redis.call('ZREM', q, x)
    redis.call('ZREM', qd, x)
  end
end
local head = redis.call('ZRANGE', q, 0, 0)[1]
local first = (head == nil) or (head == ticket)
local wait = 0
for i = 1, 3 do
  local need = math.min(tonumber(ARGV[i + 6]), tonumber(ARGV[i]))
  local short = need - lv[i]
  if short > 1e-9 * math.max(1, need) then
    wait = math.max(wait, short / tonumber(ARGV[i + 3]))
  end
end
if pause > now then wait = math.max(wait, pause - now) end
if first and wait == 0 then
  for i = 1, 3 do lv[i] = lv[i] - tonumber(ARGV[i + 6]) end
  store(b, now, lv, ttl)
  redis.call('HINCRBY', b, 'admitted', 1)
  redis.call('ZREM', q, ticket)
  redis.call('ZREM', qd, ticket)
  redis.call('HSET', r, 'n1', ARGV[7], 'n2', ARGV[8], 'n3', ARGV[9])
  redis.call('PEXPIRE', r, ARGV[12])
  return {1, '0', created, f(lv[1]), f(lv[2]), f(lv[3])}
end
if redis.call('ZSCORE', q, ticket) == false then
  redis.call('ZADD', q, redis.call('HINCRBY', b, 'seq', 1), ticket)
end
if not first then wait = math.max(wait, tonumber(ARGV[15])) end
redis.call('ZADD', qd, f(now + wait + tonumber(ARGV[13])), ticket)
store(b, now, lv, ttl)
redis.call('PEXPIRE', q, ttl)
redis.call('PEXPIRE', qd, ttl)
return {0, f(wait), created, f(lv[1]), f(lv[2]), f(lv[3])}
"""
)

#: KEYS: b, r:{id}. ARGV: cap1..3, rate1..3, real1..3, refund (1: settle, 0: release),
#: idle TTL ms, at. Returns 1 if the reservation existed (and is now gone), else 0.
SETTLE = (
    _PRELUDE
    + """
local b, r = KEYS[1], KEYS[2]
local n = redis.call('HMGET', r, 'n1', 'n2', 'n3')
if n[1] == false then return 0 end
redis.call('DEL', r)
if ARGV[10] ~= '1' then return 1 end
local lv, now = load(b, clock(ARGV[12]))
if lv == nil then return 1 end
for i = 2, 3 do
  local delta = tonumber(n[i]) - tonumber(ARGV[i + 6])
  if delta > 0 then
    lv[i] = math.min(tonumber(ARGV[i]), lv[i] + delta)
  else
    lv[i] = lv[i] + delta
  end
end
store(b, now, lv, tonumber(ARGV[11]))
return 1
"""
)

#: KEYS: b. ARGV: cap1..3, rate1..3, ceiling1..3 ('' = no reading), idle TTL ms, at.
#: Lowers each level to at most its ceiling. Returns the three amounts removed.
PULL_DOWN = (
    _PRELUDE
    + """
local b = KEYS[1]
local lv, now = load(b, clock(ARGV[11]))
if lv == nil then return {'0', '0', '0'} end
local out = {}
for i = 1, 3 do
  out[i] = '0'
  if ARGV[i + 6] ~= '' then
    local ceiling = tonumber(ARGV[i + 6])
    if ceiling < lv[i] then
      out[i] = f(lv[i] - ceiling)
      lv[i] = ceiling
    end
  end
end
store(b, now, lv, tonumber(ARGV[10]))
return out
"""
)

#: KEYS: b. ARGV: seconds, idle TTL ms, at. Extends the class's shared pause (never
#: shortens it). Returns the pause's end (server seconds).
PAUSE = """
local b = KEYS[1]
local now
if ARGV[3] ~= '' then now = tonumber(ARGV[3]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', b, 'pause')) or 0
if until_ > current then
  redis.call('HSET', b, 'pause', string.format('%.17g', until_))
  redis.call('PEXPIRE', b, ARGV[2])
  return string.format('%.17g', until_)
end
return string.format('%.17g', current)
"""

#: KEYS: q, qd. ARGV: ticket. A process leaves the queue (its last waiter was cancelled).
DROP_TICKET = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
"""


def keys_of(namespace: str, model_class: str) -> tuple[str, str, str, str]:
    """(bucket, queue, ticket deadlines, reservation prefix) keys of one model class."""
    prefix = f"{namespace}:{{{model_class}}}"
    return f"{prefix}:b", f"{prefix}:q", f"{prefix}:qd", f"{prefix}:r:"
