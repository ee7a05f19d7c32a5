/**
 * The Lua scripts of the Redis store. Each seat operation is one script, so it is atomic across
 * every instance sharing the Redis: two joins racing for the last seat never both win.
 *
 * A room is two keys, both with the room id as a hash tag (one Redis Cluster slot):
 * - KEYS[1], a hash: `seat:<peer id>` a seat as JSON, `bytes` the bytes queued,
 *   `queued:<peer id>` how many frames that peer has queued, `token:<token>` the peer a resume
 *   token belongs to;
 * - KEYS[2], a list: the queued frames, each `<ms since epoch>:<length of sender id>:<sender id><frame>`.
 *
 * A seat is `{ peer, s, i, c, e, t, d }`: its state (`r` reserved, `b` bound to a connection,
 * `s` suspended: a session peer that dropped), the instance answerable for it, the connection id,
 * whether a connection was ever bound (1 or 0), the session token and, while suspended, the
 * grace deadline (ms since epoch).
 *
 * ARGV[1] is the prefix of the instances' pub/sub channels (the instance id completes it).
 * A message to an instance is `<kind><length of connection id>:<connection id><payload>`, with
 * kind `d` deliver (payload: the frame), `e` end, `p` presence (payload: the state), `r` replace.
 */

const prologue = `
local room, queue, channels = KEYS[1], KEYS[2], ARGV[1]

local function load ()
  local fields = redis.call('HGETALL', room)
  local seats, queued, bytes = {}, {}, 0
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 5) == 'seat:' then
      seats[#seats + 1] = cjson.decode(fields[i + 1])
    elseif string.sub(name, 1, 7) == 'queued:' then
      queued[string.sub(name, 8)] = tonumber(fields[i + 1])
    elseif name == 'bytes' then
      bytes = tonumber(fields[i + 1])
    end
  end
  return seats, queued, bytes
end

local function find (seats, peer)
  local mine, other
  for _, seat in ipairs(seats) do
    if seat.peer == peer then mine = seat else other = seat end
  end
  return mine, other
end

local function save (seat)
  redis.call('HSET', room, 'seat:' .. seat.peer, cjson.encode(seat))
end

-- Returns how many subscribers received it: 0 when the seat's instance is not listening.
local function send (seat, kind, payload)
  return redis.call('PUBLISH', channels .. seat.i, kind .. #seat.c .. ':' .. seat.c .. (payload or ''))
end

-- A room with no bound seat expires after ms (never sooner than it already would): if every
-- instance answerable for it vanished, nothing else would ever remove it.
local function lease (seats, ms)
  for _, seat in ipairs(seats) do
    if seat.s == 'b' then
      redis.call('PERSIST', room)
      redis.call('PERSIST', queue)
      return
    end
  end
  ms = tonumber(ms)
  local ttl = redis.call('PTTL', room)
  if ttl < ms then
    redis.call('PEXPIRE', room, ms)
    redis.call('PEXPIRE', queue, ms)
  end
end

local function unpackEntry (entry)
  local a = string.find(entry, ':', 1, true)
  local b = string.find(entry, ':', a + 1, true)
  local n = tonumber(string.sub(entry, a + 1, b - 1))
  return string.sub(entry, b + 1, b + n), string.sub(entry, b + n + 1), tonumber(string.sub(entry, 1, a - 1))
end

-- Keeps the queued entries for which keep(from, frame, at) holds, in order, and returns the
-- frames of the others, in order.
local function filter (queued, keep)
  local entries = redis.call('LRANGE', queue, 0, -1)
  local kept, removed, bytes, counts = {}, {}, 0, {}
  for _, entry in ipairs(entries) do
    local from, frame, at = unpackEntry(entry)
    if keep(from, frame, at) then
      kept[#kept + 1] = entry
      bytes = bytes + #frame
      counts[from] = (counts[from] or 0) + 1
    else
      removed[#removed + 1] = frame
    end
  end
  if #removed == 0 then return removed end
  local ttl = redis.call('PTTL', queue)
  redis.call('DEL', queue)
  for i = 1, #kept, 1000 do
    redis.call('RPUSH', queue, unpack(kept, i, math.min(i + 999, #kept)))
  end
  if ttl > 0 and #kept > 0 then redis.call('PEXPIRE', queue, ttl) end
  for from in pairs(queued) do redis.call('HDEL', room, 'queued:' .. from) end
  for from, n in pairs(counts) do redis.call('HSET', room, 'queued:' .. from, n) end
  redis.call('HSET', room, 'bytes', bytes)
  return removed
end

-- Ends the call: every other bound seat's connection is ended and the room is deleted.
-- Returns {1, tokens...}: the caller drops the tokens' index entries.
local function finish (seats, leaver)
  local reply = {1}
  for _, seat in ipairs(seats) do
    if seat.t ~= nil then reply[#reply + 1] = seat.t end
    if seat.peer ~= leaver and seat.s == 'b' then send(seat, 'e') end
  end
  redis.call('DEL', room, queue)
  return reply
end
`

/** ARGV: channels, peer, instance, lease ms. Returns created, joined or full. */
const reserve = `
local seats = load()
if #seats >= 2 then return 'full' end
local seat = { peer = ARGV[2], s = 'r', i = ARGV[3], e = 0 }
save(seat)
seats[#seats + 1] = seat
lease(seats, ARGV[4])
if #seats == 1 then return 'created' end
return 'joined'
`

/** ARGV: channels, peer. Returns 1 when the room was deleted. */
const release = `
local seats = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.s ~= 'r' then return 0 end
if #seats == 1 then
  redis.call('DEL', room, queue)
  return 1
end
redis.call('HDEL', room, 'seat:' .. mine.peer)
return 0
`

/** ARGV: channels, peer, instance, connection. Returns {0} (no seat) or {1, frames queued for the peer...}. */
const attach = `
local seats, queued = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {0} end
local previous = mine.s == 'b'
if previous then send(mine, 'r') end
local comeback = mine.e == 1
mine.s, mine.i, mine.c, mine.e, mine.d = 'b', ARGV[3], ARGV[4], 1, nil
save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
local reply = filter(queued, function (from) return from == mine.peer end)
table.insert(reply, 1, 1)
if not previous and partner ~= nil and partner.s == 'b' then
  send(partner, 'p', comeback and 'back' or 'joined')
end
return reply
`

/**
 * ARGV: channels, sender, frame, now, max messages, max bytes.
 * Returns 0 delivered, 1 queued, 2 queue full, 3 gone.
 */
const relay = `
local seats, queued, bytes = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return 3 end
local frame = ARGV[3]
-- Once a frame of this sender waits in the queue, the next ones wait behind it (order).
if partner ~= nil and partner.s == 'b' and queued[mine.peer] == nil then
  -- Nobody listening: the partner's instance is dead (reaped soon) or reconnecting to Redis
  -- (it drains the queue when it is back).
  if send(partner, 'd', frame) > 0 then return 0 end
end
if redis.call('LLEN', queue) >= tonumber(ARGV[5]) or bytes + #frame > tonumber(ARGV[6]) then return 2 end
redis.call('RPUSH', queue, ARGV[4] .. ':' .. #mine.peer .. ':' .. mine.peer .. frame)
redis.call('HINCRBY', room, 'bytes', #frame)
redis.call('HINCRBY', room, 'queued:' .. mine.peer, 1)
local ttl = redis.call('PTTL', room)
if ttl > 0 then redis.call('PEXPIRE', queue, ttl) end
return 1
`

/** ARGV: channels, sender, now, max age ms. Returns {dropped, next expiry or -1}. */
const expire = `
local seats, queued = load()
local peer, maxAge = ARGV[2], tonumber(ARGV[4])
local oldest, nextAt = tonumber(ARGV[3]) - maxAge, -1
local dropped = filter(queued, function (from, _, at)
  if from ~= peer then return true end
  if at > oldest then
    if nextAt < 0 then nextAt = at + maxAge end
    return true
  end
  return false
end)
return {#dropped, nextAt}
`

/**
 * ARGV: channels, peer, connection, only if suspended (1 or 0).
 * Returns {0} (not this connection's seat) or {1, tokens...}.
 */
const leave = `
local seats = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.c ~= ARGV[3] or (ARGV[4] == '1' and mine.s ~= 's') then return {0} end
return finish(seats, mine.peer)
`

/** ARGV: channels, peer, connection, grace deadline, lease ms. Returns 1 when the seat is held. */
const suspend = `
local seats = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil or mine.c ~= ARGV[3] then return 0 end
mine.s, mine.d = 's', tonumber(ARGV[4])
save(mine)
if partner ~= nil and partner.s == 'b' then send(partner, 'p', 'reconnecting') end
lease(seats, ARGV[5])
return 1
`

/** ARGV: channels, peer, token. Returns {token, partner: absent|connected|away, 1 if the token is new}. */
const openSession = `
local seats = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {ARGV[3], 'absent', 0} end
local fresh = 0
if mine.t == nil then
  mine.t = ARGV[3]
  save(mine)
  redis.call('HSET', room, 'token:' .. mine.t, mine.peer)
  fresh = 1
end
local state = 'absent'
if partner ~= nil then
  if partner.s == 'b' then state = 'connected' elseif partner.e == 1 then state = 'away' end
end
return {mine.t, state, fresh}
`

/** ARGV: channels, token. Returns the peer id the token names in this room, or nil. */
const claim = `
local peer = redis.call('HGET', room, 'token:' .. ARGV[2])
if not peer or redis.call('HEXISTS', room, 'seat:' .. peer) == 0 then return false end
return peer
`

/**
 * After this instance lost Redis for a while: rebinds a local connection's seat to the instance
 * and hands it what was queued meanwhile. ARGV: channels, peer, connection, instance.
 * Returns {0} (the call is gone), {1} (another connection holds the seat) or {2, frames...}.
 */
const resync = `
local seats, queued = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {0} end
if mine.c ~= ARGV[3] then return {1} end
local back = mine.s == 's'
mine.s, mine.i, mine.d = 'b', ARGV[4], nil
save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
if back and partner ~= nil and partner.s == 'b' then send(partner, 'p', 'back') end
local reply = filter(queued, function (from) return from == mine.peer end)
table.insert(reply, 1, 2)
return reply
`

/**
 * Takes over the seats a dead instance was answerable for. A bound seat without a session (or a
 * suspended one whose grace is over) ends the call; a bound session seat is suspended, as if its
 * connection had dropped; suspended seats are adopted with their deadline; reserved ones released.
 * ARGV: channels, dead instance, this instance, now, grace ms, lease ms.
 * Returns {1, tokens...} (the call ended) or {2, peer, connection, deadline, ...} (adopted seats).
 */
const reap = `
local seats = load()
local dead, now, grace = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
for _, seat in ipairs(seats) do
  if seat.i == dead and ((seat.s == 'b' and (seat.t == nil or grace == 0)) or (seat.s == 's' and seat.d <= now)) then
    return finish(seats, seat.peer)
  end
end
local reply, left, dropped = {2}, {}, {}
for _, seat in ipairs(seats) do
  if seat.i ~= dead then
    left[#left + 1] = seat
  elseif seat.s == 'r' then
    redis.call('HDEL', room, 'seat:' .. seat.peer)
  else
    if seat.s == 'b' then
      seat.s, seat.d = 's', now + grace
      dropped[#dropped + 1] = seat
    end
    seat.i = ARGV[3]
    save(seat)
    left[#left + 1] = seat
    reply[#reply + 1] = seat.peer
    reply[#reply + 1] = seat.c
    reply[#reply + 1] = seat.d
  end
end
if #left == 0 then
  redis.call('DEL', room, queue)
  return reply
end
for _, seat in ipairs(dropped) do
  for _, other in ipairs(left) do
    if other.peer ~= seat.peer and other.s == 'b' then send(other, 'p', 'reconnecting') end
  end
end
lease(left, ARGV[6])
return reply
`

/** The scripts by command name, each taking the room's two keys. */
export const roomScripts = {
  rtcNotifyReserve: reserve,
  rtcNotifyRelease: release,
  rtcNotifyAttach: attach,
  rtcNotifyRelay: relay,
  rtcNotifyExpire: expire,
  rtcNotifyLeave: leave,
  rtcNotifySuspend: suspend,
  rtcNotifyOpenSession: openSession,
  rtcNotifyClaim: claim,
  rtcNotifyResync: resync,
  rtcNotifyReap: reap
} as const

/** The full source of a script: the shared functions, then its body. */
export function scriptSource (body: string): string {
  return prologue + body
}

/** The connection id an instance message is for, and where its payload starts. */
export function parseInstanceMessage (message: Buffer): { id: string, payload: number } {
  const colon = message.indexOf(0x3a, 1)
  const start = colon + 1
  const payload = start + Number(message.toString('latin1', 1, colon))
  return { id: message.toString('utf8', start, payload), payload }
}
