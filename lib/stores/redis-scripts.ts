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
 * A seat is `{ peer, state, instance, connection, everBound, token, graceUntil }`: its state
 * (`reserved`, `bound` to a connection, or `suspended`: a session peer that dropped), the
 * instance answerable for it, the id of its connection, whether a connection was ever bound,
 * the session token and, while suspended, the grace deadline (ms since epoch).
 *
 * ARGV[1] is the prefix of the instances' pub/sub channels (the instance id completes it).
 * A message to an instance is `<kind><length of connection id>:<connection id><payload>`, its
 * kind one of `MessageKind`.
 */
import type { Result } from 'ioredis'
import type { RelayOutcome, ReserveResult, SessionGrant } from './store.js'

/** The first byte of a message to an instance: what to do with the connection it names. */
export const MessageKind = {
  /** Deliver the payload, a frame from the partner. */
  Deliver: 'd',
  /** The partner left: end the connection. */
  End: 'e',
  /** The partner's presence changed; the payload is the new state. */
  Presence: 'p',
  /** Another connection took over the seat. */
  Replace: 'r'
} as const
export type MessageKind = typeof MessageKind[keyof typeof MessageKind]

const prologue = `
local room, queue, channels = KEYS[1], KEYS[2], ARGV[1]
local DELIVER, END, PRESENCE, REPLACE = '${MessageKind.Deliver}', '${MessageKind.End}', '${MessageKind.Presence}', '${MessageKind.Replace}'

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
  return redis.call('PUBLISH', channels .. seat.instance,
    kind .. #seat.connection .. ':' .. seat.connection .. (payload or ''))
end

-- A room with no bound seat expires after ms (never sooner than it already would): if every
-- instance answerable for it vanished, nothing else would ever remove it.
local function lease (seats, ms)
  for _, seat in ipairs(seats) do
    if seat.state == 'bound' then
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

-- A queue entry: who queued it, the frame, and when (ms since epoch).
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
-- Returns {'ended', tokens...}: the caller drops the tokens' index entries.
local function finish (seats, leaver)
  local reply = {'ended'}
  for _, seat in ipairs(seats) do
    if seat.token ~= nil then reply[#reply + 1] = seat.token end
    if seat.peer ~= leaver and seat.state == 'bound' then send(seat, END) end
  end
  redis.call('DEL', room, queue)
  return reply
end
`

/** ARGV: channels, peer, instance, lease ms. Returns created, joined or full. */
const reserve = `
local seats = load()
if #seats >= 2 then return 'full' end
local seat = { peer = ARGV[2], state = 'reserved', instance = ARGV[3], everBound = false }
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
if mine == nil or mine.state ~= 'reserved' then return 0 end
if #seats == 1 then
  redis.call('DEL', room, queue)
  return 1
end
redis.call('HDEL', room, 'seat:' .. mine.peer)
return 0
`

/** ARGV: channels, peer, instance, connection. Returns {'gone'} (no seat) or {'attached', frames queued for the peer...}. */
const attach = `
local seats, queued = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {'gone'} end
local previous = mine.state == 'bound'
if previous then send(mine, REPLACE) end
local comeback = mine.everBound
mine.state, mine.instance, mine.connection, mine.everBound, mine.graceUntil = 'bound', ARGV[3], ARGV[4], true, nil
save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
local reply = filter(queued, function (from) return from == mine.peer end)
table.insert(reply, 1, 'attached')
if not previous and partner ~= nil and partner.state == 'bound' then
  send(partner, PRESENCE, comeback and 'back' or 'joined')
end
return reply
`

/** ARGV: channels, sender, frame, now, max messages, max bytes. Returns the RelayOutcome. */
const relay = `
local seats, queued, bytes = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return 'gone' end
local frame = ARGV[3]
-- Once a frame of this sender waits in the queue, the next ones wait behind it (order).
if partner ~= nil and partner.state == 'bound' and queued[mine.peer] == nil then
  -- Nobody listening: the partner's instance is dead (reaped soon) or reconnecting to Redis
  -- (it drains the queue when it is back).
  if send(partner, DELIVER, frame) > 0 then return 'delivered' end
end
if redis.call('LLEN', queue) >= tonumber(ARGV[5]) or bytes + #frame > tonumber(ARGV[6]) then return 'queue_full' end
redis.call('RPUSH', queue, ARGV[4] .. ':' .. #mine.peer .. ':' .. mine.peer .. frame)
redis.call('HINCRBY', room, 'bytes', #frame)
redis.call('HINCRBY', room, 'queued:' .. mine.peer, 1)
local ttl = redis.call('PTTL', room)
if ttl > 0 then redis.call('PEXPIRE', queue, ttl) end
return 'queued'
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
 * Returns {'not_mine'} (not this connection's seat) or {'ended', tokens...}.
 */
const leave = `
local seats = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.connection ~= ARGV[3] or (ARGV[4] == '1' and mine.state ~= 'suspended') then return {'not_mine'} end
return finish(seats, mine.peer)
`

/** ARGV: channels, peer, connection, grace deadline, lease ms. Returns 1 when the seat is held. */
const suspend = `
local seats = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil or mine.connection ~= ARGV[3] then return 0 end
mine.state, mine.graceUntil = 'suspended', tonumber(ARGV[4])
save(mine)
if partner ~= nil and partner.state == 'bound' then send(partner, PRESENCE, 'reconnecting') end
lease(seats, ARGV[5])
return 1
`

/** ARGV: channels, peer, token. Returns {token, partner: absent|connected|away, 1 if the token is new}. */
const openSession = `
local seats = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {ARGV[3], 'absent', 0} end
local fresh = 0
if mine.token == nil then
  mine.token = ARGV[3]
  save(mine)
  redis.call('HSET', room, 'token:' .. mine.token, mine.peer)
  fresh = 1
end
local state = 'absent'
if partner ~= nil then
  if partner.state == 'bound' then state = 'connected' elseif partner.everBound then state = 'away' end
end
return {mine.token, state, fresh}
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
 * Returns {'gone'} (the call is over), {'replaced'} (another connection holds the seat) or
 * {'resynced', frames...}.
 */
const resync = `
local seats, queued = load()
local mine, partner = find(seats, ARGV[2])
if mine == nil then return {'gone'} end
if mine.connection ~= ARGV[3] then return {'replaced'} end
local back = mine.state == 'suspended'
mine.state, mine.instance, mine.graceUntil = 'bound', ARGV[4], nil
save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
if back and partner ~= nil and partner.state == 'bound' then send(partner, PRESENCE, 'back') end
local reply = filter(queued, function (from) return from == mine.peer end)
table.insert(reply, 1, 'resynced')
return reply
`

/**
 * Takes over the seats a dead instance was answerable for. A bound seat without a session (or a
 * suspended one whose grace is over) ends the call; a bound session seat is suspended, as if its
 * connection had dropped; suspended seats are adopted with their deadline; reserved ones released.
 * ARGV: channels, dead instance, this instance, now, grace ms, lease ms.
 * Returns {'ended', tokens...} or {'adopted', peer, connection, deadline, ...}.
 */
const reap = `
local seats = load()
local dead, now, grace = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
for _, seat in ipairs(seats) do
  if seat.instance == dead and ((seat.state == 'bound' and (seat.token == nil or grace == 0))
      or (seat.state == 'suspended' and seat.graceUntil <= now)) then
    return finish(seats, seat.peer)
  end
end
local reply, left, dropped = {'adopted'}, {}, {}
for _, seat in ipairs(seats) do
  if seat.instance ~= dead then
    left[#left + 1] = seat
  elseif seat.state == 'reserved' then
    redis.call('HDEL', room, 'seat:' .. seat.peer)
  else
    if seat.state == 'bound' then
      seat.state, seat.graceUntil = 'suspended', now + grace
      dropped[#dropped + 1] = seat
    end
    seat.instance = ARGV[3]
    save(seat)
    left[#left + 1] = seat
    reply[#reply + 1] = seat.peer
    reply[#reply + 1] = seat.connection
    reply[#reply + 1] = seat.graceUntil
  end
end
if #left == 0 then
  redis.call('DEL', room, queue)
  return reply
end
for _, seat in ipairs(dropped) do
  for _, other in ipairs(left) do
    if other.peer ~= seat.peer and other.state == 'bound' then send(other, PRESENCE, 'reconnecting') end
  end
end
lease(left, ARGV[6])
return reply
`

/**
 * Deletes a dead instance's marker, unless it changed since it was judged (the instance is back).
 * KEYS[1]: the marker. ARGV: the marker it was judged by ('' for none). Returns 1 when deleted.
 */
const condemn = `
local marker = redis.call('GET', KEYS[1]) or ''
if marker ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`

/** The scripts by command name, as ioredis's `scripts` option takes them. */
export const storeScripts = {
  rtcNotifyReserve: roomScript(reserve),
  rtcNotifyRelease: roomScript(release),
  rtcNotifyAttach: roomScript(attach),
  rtcNotifyRelay: roomScript(relay),
  rtcNotifyExpire: roomScript(expire),
  rtcNotifyLeave: roomScript(leave),
  rtcNotifySuspend: roomScript(suspend),
  rtcNotifyOpenSession: roomScript(openSession),
  rtcNotifyClaim: roomScript(claim),
  rtcNotifyResync: roomScript(resync),
  rtcNotifyReap: roomScript(reap),
  rtcNotifyCondemn: { numberOfKeys: 1, lua: condemn }
}

// A room script takes the room's two keys and starts with the shared functions.
function roomScript (body: string): { numberOfKeys: number, lua: string } {
  return { numberOfKeys: 2, lua: prologue + body }
}

/** What a script returns in Buffer mode: the frames as they were queued. */
export type BufferReply = Array<Buffer | number | null>
/** A reply of strings and numbers. */
export type Reply = Array<string | number | null>

// The keys and channel prefix every room script takes first.
type R = [room: string, queue: string, channels: string]

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rtcNotifyReserve (...args: [...R, peer: string, instance: string, leaseMs: number]): Result<ReserveResult, Context>
    rtcNotifyRelease (...args: [...R, peer: string]): Result<number, Context>
    rtcNotifyAttachBuffer (...args: [...R, peer: string, instance: string, connection: string]): Result<BufferReply, Context>
    rtcNotifyRelay (...args: [...R, sender: string, frame: string | Buffer, now: number, maxMessages: number, maxBytes: number]): Result<RelayOutcome, Context>
    rtcNotifyExpire (...args: [...R, sender: string, now: number, maxAgeMs: number]): Result<[number, number], Context>
    rtcNotifyLeave (...args: [...R, peer: string, connection: string, onlyIfSuspended: '1' | '0']): Result<Reply, Context>
    rtcNotifySuspend (...args: [...R, peer: string, connection: string, graceUntil: number, leaseMs: number]): Result<number, Context>
    rtcNotifyOpenSession (...args: [...R, peer: string, token: string]): Result<[string, SessionGrant['partner'], number], Context>
    rtcNotifyClaim (...args: [...R, token: string]): Result<string | null, Context>
    rtcNotifyResyncBuffer (...args: [...R, peer: string, connection: string, instance: string]): Result<BufferReply, Context>
    rtcNotifyReap (...args: [...R, dead: string, instance: string, now: number, graceMs: number, leaseMs: number]): Result<Reply, Context>
    rtcNotifyCondemn (marker: string, judgedBy: string): Result<number, Context>
  }
}

/** What a message to an instance says: its kind, the connection it is for, where its payload starts. */
export function parseInstanceMessage (message: Buffer): { kind: string, id: string, payload: number } {
  const colon = message.indexOf(0x3a, 1)
  const start = colon + 1
  const payload = start + Number(message.toString('latin1', 1, colon))
  return { kind: String.fromCharCode(message[0]), id: message.toString('utf8', start, payload), payload }
}
