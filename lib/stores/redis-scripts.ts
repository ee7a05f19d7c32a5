/**
 * The Lua scripts of the Redis store. Each seat operation is one script, so it is atomic across
 * every instance sharing the Redis: two joins racing for the last seat never both win.
 *
 * A room is two keys, both with the room id as a hash tag (one Redis Cluster slot):
 * - KEYS[1], a hash: `meta` the room as JSON `{ size, createdAt }`, `seat:<peer id>` a seat as
 *   JSON, `bytes` the bytes queued, `queued:<sender id>><recipient id>` how many frames wait from
 *   one peer for another (the recipient empty for "the next peer to join"),
 *   `token:<token>` the peer a resume token belongs to;
 * - KEYS[2], a list: the queued frames, each
 *   `<ms since epoch>:<length of sender id>:<sender id>:<length of recipient id>:<recipient id><frame>`,
 *   the recipient empty for "the next peer to join".
 *
 * A seat is `{ peer, state, instance, connection, everBound, token, graceUntil, identity, since }`:
 * its state (`reserved`, `bound` to a connection, or `suspended`: a session peer that dropped),
 * the instance answerable for it, the id of its connection, whether a connection was ever bound,
 * the session token, the grace deadline while suspended (ms since epoch), the identity `authorize`
 * gave it (JSON text), and when it entered its state.
 *
 * ARGV[1] is the prefix of the instances' pub/sub channels: an instance's channel is the prefix,
 * then on a Redis Cluster the id of the node the script runs on and ':', then the instance id
 * (see redis-inbox.ts). A message to an instance is
 * `<kind><length of connection id>:<connection id><payload>`, its kind one of `MessageKind`.
 * Scripts publish with PUBLISH, which a cluster carries to every node, and take its count (the
 * subscribers of their own node) for whether the instance listens. Not SPUBLISH: a shard channel
 * must be in the script's slot, so an instance would have to subscribe a channel per room.
 */
import type { Result } from 'ioredis'
import type { RelayOutcome, ReserveResult } from './store.js'

/** The first byte of a message to an instance: what to do with the connection it names. */
export const MessageKind = {
  /** Deliver the payload, a frame for the peer. */
  Deliver: 'd',
  /** The other peer of a two-party room left: end the connection. */
  End: 'e',
  /** Another peer's presence changed; the payload is `<state>|<peer id>|<identity>`. */
  Presence: 'p',
  /** Another connection took over the seat. */
  Replace: 'r',
  /** The app dismissed the peer; the payload is `<kicked|room-closed>|<reason>`. */
  Dismiss: 'x',
  /** Nothing to do: marks a point in the channel (the in-process relay's switch-over); the payload is its number. */
  Barrier: 'b'
} as const
export type MessageKind = typeof MessageKind[keyof typeof MessageKind]

// The prologue of every room script; `node` is the Lua expression of the node's part of a channel.
const prologue = (node: string): string => `
local room, queue, channels = KEYS[1], KEYS[2], ARGV[1]
local DELIVER, END, PRESENCE, REPLACE, DISMISS, BARRIER = '${MessageKind.Deliver}', '${MessageKind.End}', '${MessageKind.Presence}', '${MessageKind.Replace}', '${MessageKind.Dismiss}', '${MessageKind.Barrier}'
local node

local function load ()
  local fields = redis.call('HGETALL', room)
  local seats, queued, bytes, meta = {}, {}, 0, nil
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 5) == 'seat:' then
      seats[#seats + 1] = cjson.decode(fields[i + 1])
    elseif string.sub(name, 1, 7) == 'queued:' then
      queued[string.sub(name, 8)] = tonumber(fields[i + 1])
    elseif name == 'bytes' then
      bytes = tonumber(fields[i + 1])
    elseif name == 'meta' then
      meta = cjson.decode(fields[i + 1])
    end
  end
  return seats, queued, bytes, meta or { size = 2, createdAt = 0 }
end

local function find (seats, peer)
  for _, seat in ipairs(seats) do
    if seat.peer == peer then return seat end
  end
  return nil
end

-- Returns the seat as saved (JSON).
local function save (seat)
  local saved = cjson.encode(seat)
  redis.call('HSET', room, 'seat:' .. seat.peer, saved)
  return saved
end

-- Returns how many subscribers received it: 0 when the seat's instance is not listening.
local function send (seat, kind, payload)
  node = node or ${node}
  return redis.call('PUBLISH', channels .. node .. seat.instance,
    kind .. #seat.connection .. ':' .. seat.connection .. (payload or ''))
end

-- What other peers are told of a seat.
local function info (seat)
  return { peerId = seat.peer, identity = seat.identity }
end

local function tell (seats, about, state)
  local payload = state .. '|' .. about.peer .. '|' .. (about.identity or '')
  for _, seat in ipairs(seats) do
    if seat.peer ~= about.peer and seat.state == 'bound' then send(seat, PRESENCE, payload) end
  end
end

-- The other seats as a peer is told of them: id, identity, state, and the instance a bound one
-- is connected to (so that an instance knows which peers of a room are its own).
local function others (seats, me)
  local list = {}
  for _, seat in ipairs(seats) do
    if seat.peer ~= me then
      local state = 'joining'
      if seat.state == 'bound' then state = 'connected' elseif seat.everBound then state = 'away' end
      list[#list + 1] = { peerId = seat.peer, identity = seat.identity, state = state, instance = seat.state == 'bound' and seat.instance or nil }
    end
  end
  if #list == 0 then return '[]' end
  return cjson.encode(list)
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

local function packEntry (at, from, to, frame)
  return at .. ':' .. #from .. ':' .. from .. ':' .. #to .. ':' .. to .. frame
end

-- A queue entry: who queued it, for whom ('' the next to join), the frame, and when.
local function unpackEntry (entry)
  local a = string.find(entry, ':', 1, true)
  local b = string.find(entry, ':', a + 1, true)
  local n = tonumber(string.sub(entry, a + 1, b - 1))
  local from = string.sub(entry, b + 1, b + n)
  local c = string.find(entry, ':', b + n + 2, true)
  local m = tonumber(string.sub(entry, b + n + 2, c - 1))
  return from, string.sub(entry, c + 1, c + m), string.sub(entry, c + m + 1), tonumber(string.sub(entry, 1, a - 1))
end

-- Keeps the queued entries for which keep(from, to, frame, at) holds, in order, and returns the
-- frames of the others, in order.
local function filter (queued, keep)
  local entries = redis.call('LRANGE', queue, 0, -1)
  local kept, removed, bytes, counts = {}, {}, 0, {}
  for _, entry in ipairs(entries) do
    local from, to, frame, at = unpackEntry(entry)
    if keep(from, to, frame, at) then
      kept[#kept + 1] = entry
      bytes = bytes + #frame
      counts[from .. '>' .. to] = (counts[from .. '>' .. to] or 0) + 1
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
  for pair in pairs(queued) do redis.call('HDEL', room, 'queued:' .. pair) end
  for pair, n in pairs(counts) do redis.call('HSET', room, 'queued:' .. pair, n) end
  redis.call('HSET', room, 'bytes', bytes)
  return removed
end

-- What a seat just bound to a connection is given: {status, the room's meta (JSON), the seat as
-- saved (JSON), the others (JSON), then the frames queued for it, taken from the queue}.
local function welcome (status, meta, saved, seats, queued, mine)
  local reply = {status, cjson.encode(meta), saved, others(seats, mine.peer)}
  local frames = filter(queued, function (from, to) return to ~= mine.peer and (to ~= '' or from == mine.peer) end)
  for _, frame in ipairs(frames) do reply[#reply + 1] = frame end
  return reply
end

-- Deletes the room. Returns {'ended', createdAt, the seats that had no connection (JSON), tokens...}:
-- the caller reports those seats' leave and drops the tokens' index entries.
local function remove (seats, meta, except)
  local unbound = {}
  local reply = {'ended', meta.createdAt, ''}
  for _, seat in ipairs(seats) do
    if seat.token ~= nil then reply[#reply + 1] = seat.token end
    if seat.peer ~= except and seat.state == 'suspended' then unbound[#unbound + 1] = info(seat) end
  end
  reply[3] = #unbound == 0 and '[]' or cjson.encode(unbound)
  redis.call('DEL', room, queue)
  return reply
end

-- The seat goes. In a two-party room that ends the call for the other peer (the original
-- protocol); in a group room the others hear 'left', and the room goes with its last seat.
-- Returns {'left'} or the room's end.
local function unseat (seats, queued, meta, mine)
  if meta.size == 2 then
    for _, seat in ipairs(seats) do
      if seat.peer ~= mine.peer and seat.state == 'bound' then send(seat, END) end
    end
    return remove(seats, meta, mine.peer)
  end
  local left = {}
  for _, seat in ipairs(seats) do
    if seat.peer ~= mine.peer then left[#left + 1] = seat end
  end
  if #left == 0 then return remove(seats, meta, mine.peer) end
  redis.call('HDEL', room, 'seat:' .. mine.peer)
  if mine.token ~= nil then redis.call('HDEL', room, 'token:' .. mine.token) end
  filter(queued, function (from, to) return from ~= mine.peer and to ~= mine.peer end)
  tell(left, mine, 'left')
  local reply = {'left'}
  if mine.token ~= nil then reply[2] = mine.token end
  return reply
end
`

/** ARGV: channels, peer, instance, lease ms, identity ('' for none), size, now. Returns created, joined or full. */
const reserve = `
local seats, _, _, meta = load()
local created = #seats == 0
if created then
  meta = { size = tonumber(ARGV[6]), createdAt = tonumber(ARGV[7]) }
  redis.call('HSET', room, 'meta', cjson.encode(meta))
elseif #seats >= meta.size then
  return 'full'
end
local seat = { peer = ARGV[2], state = 'reserved', instance = ARGV[3], everBound = false, since = tonumber(ARGV[7]) }
if ARGV[5] ~= '' then seat.identity = ARGV[5] end
save(seat)
seats[#seats + 1] = seat
lease(seats, ARGV[4])
if created then return 'created' end
return 'joined'
`

/** ARGV: channels, peer. Returns {'kept'} or the room's end (its last seat). */
const release = `
local seats, queued, _, meta = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.state ~= 'reserved' then return {'kept'} end
if #seats == 1 then return remove(seats, meta, mine.peer) end
redis.call('HDEL', room, 'seat:' .. mine.peer)
filter(queued, function (_, to) return to ~= mine.peer end)
return {'kept'}
`

/**
 * ARGV: channels, peer, instance, connection, now.
 * Returns {'gone'} (no seat) or {'attached', meta, seat, the others, frames queued for the peer...}
 * (see `welcome`).
 */
const attach = `
local seats, queued, _, meta = load()
local mine = find(seats, ARGV[2])
if mine == nil then return {'gone'} end
local previous = mine.state == 'bound'
if previous then send(mine, REPLACE) end
local comeback = mine.everBound
mine.state, mine.instance, mine.connection, mine.everBound, mine.graceUntil = 'bound', ARGV[3], ARGV[4], true, nil
if not previous then mine.since = tonumber(ARGV[5]) end
local saved = save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
if not previous then tell(seats, mine, comeback and 'back' or 'joined') end
return welcome('attached', meta, saved, seats, queued, mine)
`

/**
 * ARGV: channels, sender, frame, now, max messages, max bytes, recipient ('' for every other peer).
 * Returns the RelayOutcome.
 */
const relay = `
local seats, queued, bytes = load()
local mine = find(seats, ARGV[2])
if mine == nil then return 'gone' end
local frame, to = ARGV[3], ARGV[7]
local waiting, connected = {}, {}
if to ~= '' then
  local target = find(seats, to)
  if target == nil or target.peer == mine.peer then return 'no_peer' end
  if target.state == 'bound' then connected[1] = target else waiting[1] = to end
else
  local away = false
  for _, seat in ipairs(seats) do
    if seat.peer ~= mine.peer then
      if seat.state == 'bound' then connected[#connected + 1] = seat
      elseif seat.state == 'suspended' then waiting[#waiting + 1] = seat.peer; away = true end
    end
  end
  -- Nobody connected or away: the frame waits for the next peer to join.
  if #connected == 0 and not away then waiting[1] = '' end
end
-- A connected peer for which frames of this sender still wait (its instance did not listen
-- when they came) gets this one queued behind them: its instance drains them in order when it
-- resyncs or reaps it. Otherwise pub/sub keeps each channel's order.
local undelivered = {}
for _, seat in ipairs(connected) do
  if queued[mine.peer .. '>' .. seat.peer] ~= nil or send(seat, DELIVER, frame) == 0 then undelivered[#undelivered + 1] = seat.peer end
end
for _, peer in ipairs(undelivered) do waiting[#waiting + 1] = peer end
if #waiting == 0 then return 'delivered' end
if redis.call('LLEN', queue) + #waiting > tonumber(ARGV[5]) or bytes + #waiting * #frame > tonumber(ARGV[6]) then
  if #connected > #undelivered then return 'delivered' end
  return 'queue_full'
end
for _, peer in ipairs(waiting) do
  redis.call('RPUSH', queue, packEntry(ARGV[4], mine.peer, peer, frame))
  redis.call('HINCRBY', room, 'queued:' .. mine.peer .. '>' .. peer, 1)
end
redis.call('HINCRBY', room, 'bytes', #waiting * #frame)
local ttl = redis.call('PTTL', room)
if ttl > 0 then redis.call('PEXPIRE', queue, ttl) end
if #connected > #undelivered then return 'delivered' end
return 'queued'
`

/** ARGV: channels, sender, now, max age ms. Returns {dropped, next expiry or -1}. */
const expire = `
local seats, queued = load()
local peer, maxAge = ARGV[2], tonumber(ARGV[4])
local oldest, nextAt = tonumber(ARGV[3]) - maxAge, -1
local dropped = filter(queued, function (from, _, _, at)
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
 * Returns {'not_mine'} (not this connection's seat), {'left', token?} or the room's end.
 */
const leave = `
local seats, queued, _, meta = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.connection ~= ARGV[3] or (ARGV[4] == '1' and mine.state ~= 'suspended') then return {'not_mine'} end
return unseat(seats, queued, meta, mine)
`

/** ARGV: channels, peer, connection, grace deadline, lease ms, now. Returns 1 when the seat is held. */
const suspend = `
local seats = load()
local mine = find(seats, ARGV[2])
if mine == nil or mine.connection ~= ARGV[3] then return 0 end
mine.state, mine.graceUntil, mine.since = 'suspended', tonumber(ARGV[4]), tonumber(ARGV[6])
save(mine)
tell(seats, mine, 'reconnecting')
lease(seats, ARGV[5])
return 1
`

/** ARGV: channels, peer, token. Returns {token, the others (JSON), 1 if the token is new}. */
const openSession = `
local seats = load()
local mine = find(seats, ARGV[2])
if mine == nil then return {ARGV[3], '[]', 0} end
local fresh = 0
if mine.token == nil then
  mine.token = ARGV[3]
  save(mine)
  redis.call('HSET', room, 'token:' .. mine.token, mine.peer)
  fresh = 1
end
return {mine.token, others(seats, mine.peer), fresh}
`

/**
 * ARGV: channels, token, next token ('' to only look), identity ('' for none).
 * Returns {'unknown'}, {'wrong_identity'} or {'ok', peer, identity}; with a next token, the
 * token is replaced by it.
 */
const claim = `
local peer = redis.call('HGET', room, 'token:' .. ARGV[2])
if not peer then return {'unknown'} end
local raw = redis.call('HGET', room, 'seat:' .. peer)
if not raw then return {'unknown'} end
if ARGV[3] == '' then return {'ok', peer, ''} end
local seat = cjson.decode(raw)
if (seat.identity or '') ~= ARGV[4] then return {'wrong_identity'} end
redis.call('HDEL', room, 'token:' .. ARGV[2])
seat.token = ARGV[3]
save(seat)
redis.call('HSET', room, 'token:' .. seat.token, peer)
return {'ok', peer, seat.identity or ''}
`

/**
 * After this instance lost Redis for a while: rebinds a local connection's seat to the instance
 * and hands it what was queued meanwhile. ARGV: channels, peer, connection, instance.
 * Returns {'gone'} (the call is over), {'replaced'} (another connection holds the seat) or
 * {'resynced', meta, seat, the others, frames...} (see `welcome`).
 */
const resync = `
local seats, queued, _, meta = load()
local mine = find(seats, ARGV[2])
if mine == nil then return {'gone'} end
if mine.connection ~= ARGV[3] then return {'replaced'} end
local back = mine.state == 'suspended'
mine.state, mine.instance, mine.graceUntil = 'bound', ARGV[4], nil
local saved = save(mine)
redis.call('PERSIST', room)
redis.call('PERSIST', queue)
if back then tell(seats, mine, 'back') end
return welcome('resynced', meta, saved, seats, queued, mine)
`

/**
 * After Redis lost its data (it restarted empty): writes back a room whose every seat is bound
 * to a connection of this instance, as `welcome` last gave them, unless the room exists (a peer
 * created it anew meanwhile: the room is theirs). The queue is not restored.
 * ARGV: channels, meta (JSON), instance, the seats (JSON each). Returns 1 when written back.
 */
const restore = `
if redis.call('EXISTS', room) == 1 then return 0 end
redis.call('HSET', room, 'meta', ARGV[2])
for i = 4, #ARGV do
  local seat = cjson.decode(ARGV[i])
  seat.state, seat.instance, seat.graceUntil = 'bound', ARGV[3], nil
  save(seat)
  if seat.token ~= nil then redis.call('HSET', room, 'token:' .. seat.token, seat.peer) end
end
return 1
`

/**
 * Takes over the seats a dead instance was answerable for. A bound seat without a session (or a
 * suspended one whose grace is over) leaves; a bound session seat is suspended, as if its
 * connection had dropped; suspended seats are adopted with their deadline; reserved ones released.
 * ARGV: channels, dead instance, this instance, now, grace ms, lease ms.
 * Returns the room's end, or {'adopted', peer, connection, deadline, ...}.
 */
const reap = `
local seats, queued, _, meta = load()
local dead, now, grace = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])
-- Seats that leave, one at a time (a two-party room ends at the first).
while true do
  local victim = nil
  for _, seat in ipairs(seats) do
    if seat.instance == dead and ((seat.state == 'bound' and (seat.token == nil or grace == 0))
        or (seat.state == 'suspended' and seat.graceUntil <= now)) then
      victim = seat
      break
    end
  end
  if victim == nil then break end
  local result = unseat(seats, queued, meta, victim)
  if result[1] == 'ended' then return result end
  seats, queued = load()
end
local kept = {}
for _, seat in ipairs(seats) do
  if seat.instance == dead and seat.state == 'reserved' then
    redis.call('HDEL', room, 'seat:' .. seat.peer)
  else
    kept[#kept + 1] = seat
  end
end
seats = kept
if #seats == 0 then return remove(seats, meta, nil) end
local reply = {'adopted'}
for _, seat in ipairs(seats) do
  if seat.instance == dead then
    if seat.state == 'bound' then
      seat.state, seat.graceUntil, seat.since = 'suspended', now + grace, now
      tell(seats, seat, 'reconnecting')
    end
    seat.instance = ARGV[3]
    save(seat)
    reply[#reply + 1] = seat.peer
    reply[#reply + 1] = seat.connection
    reply[#reply + 1] = seat.graceUntil
  end
end
lease(seats, ARGV[6])
return reply
`

/**
 * ARGV: channels, peer, reason. The seat's token is dropped (no resume).
 * Returns {'none'}; {'dismissed', token} (its connection is dismissed where it is); or
 * {'away', token, the seat (JSON), then what the seat's leave returned: 'left' or the room's end}.
 */
const kick = `
local seats, queued, _, meta = load()
local mine = find(seats, ARGV[2])
if mine == nil then return {'none'} end
local token = mine.token or ''
if mine.token ~= nil then
  redis.call('HDEL', room, 'token:' .. mine.token)
  mine.token = nil
  save(mine)
end
if mine.state == 'bound' then
  send(mine, DISMISS, 'kicked|' .. ARGV[3])
  return {'dismissed', token}
end
local reply = {'away', token, cjson.encode(info(mine))}
for _, part in ipairs(unseat(seats, queued, meta, mine)) do reply[#reply + 1] = part end
return reply
`

/** ARGV: channels, reason. Returns nil (no room) or the room's end. */
const closeRoom = `
local seats, _, _, meta = load()
if #seats == 0 then return nil end
for _, seat in ipairs(seats) do
  if seat.state == 'bound' then send(seat, DISMISS, 'room-closed|' .. ARGV[2]) end
end
return remove(seats, meta, nil)
`

/** ARGV: channels, frame, recipient ('' for every peer). Returns 1 when the room (and the peer) exists. */
const sendApp = `
local seats = load()
if #seats == 0 then return 0 end
local found = ARGV[3] == ''
for _, seat in ipairs(seats) do
  if ARGV[3] == '' or seat.peer == ARGV[3] then
    found = true
    if seat.state == 'bound' then send(seat, DELIVER, ARGV[2]) end
  end
end
return found and 1 or 0
`

/**
 * ARGV: channels, instance, connection, the barrier's number. Sends the instance a Barrier for
 * the connection from the room's node, behind the room's frames. Returns how many subscribers
 * received it.
 */
const barrier = `
return send({ instance = ARGV[2], connection = ARGV[3] }, BARRIER, ARGV[4])
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

/**
 * The scripts by command name, as ioredis's `scripts` option takes them.
 * @param onCluster whether they run on a Redis Cluster: channels then name the node (see redis-inbox.ts)
 */
export function storeScripts (onCluster: boolean): Record<string, { numberOfKeys: number, lua: string }> {
  // A room script takes the room's two keys and starts with the shared functions.
  const room = (body: string): { numberOfKeys: number, lua: string } =>
    ({ numberOfKeys: 2, lua: prologue(onCluster ? "redis.call('CLUSTER', 'MYID') .. ':'" : "''") + body })
  return {
    rtcNotifyReserve: room(reserve),
    rtcNotifyRelease: room(release),
    rtcNotifyAttach: room(attach),
    rtcNotifyRelay: room(relay),
    rtcNotifyExpire: room(expire),
    rtcNotifyLeave: room(leave),
    rtcNotifySuspend: room(suspend),
    rtcNotifyOpenSession: room(openSession),
    rtcNotifyClaim: room(claim),
    rtcNotifyResync: room(resync),
    rtcNotifyRestore: room(restore),
    rtcNotifyReap: room(reap),
    rtcNotifyKick: room(kick),
    rtcNotifyCloseRoom: room(closeRoom),
    rtcNotifySend: room(sendApp),
    rtcNotifyBarrier: room(barrier),
    rtcNotifyCondemn: { numberOfKeys: 1, lua: condemn }
  }
}

/** A room's `meta` field. */
export interface RoomMeta {
  size: number
  /** Ms since epoch. */
  createdAt: number
}

/** A seat as stored (see the top of this file). */
export interface StoredSeat {
  peer: string
  state: 'reserved' | 'bound' | 'suspended'
  instance: string
  connection?: string
  everBound: boolean
  token?: string
  graceUntil?: number
  identity?: string
  since?: number
}

/** What a script returns in Buffer mode: the frames as they were queued. */
export type BufferReply = Array<Buffer | number | null>
/** A reply of strings and numbers. */
export type Reply = Array<string | number | null>

// The keys and channel prefix every room script takes first.
type R = [room: string, queue: string, channels: string]

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rtcNotifyReserve (...args: [...R, peer: string, instance: string, leaseMs: number, identity: string, size: number, now: number]): Result<ReserveResult, Context>
    rtcNotifyRelease (...args: [...R, peer: string]): Result<Reply, Context>
    rtcNotifyAttachBuffer (...args: [...R, peer: string, instance: string, connection: string, now: number]): Result<BufferReply, Context>
    rtcNotifyRelay (...args: [...R, sender: string, frame: string | Buffer, now: number, maxMessages: number, maxBytes: number, to: string]): Result<RelayOutcome, Context>
    rtcNotifyExpire (...args: [...R, sender: string, now: number, maxAgeMs: number]): Result<[number, number], Context>
    rtcNotifyLeave (...args: [...R, peer: string, connection: string, onlyIfSuspended: '1' | '0']): Result<Reply, Context>
    rtcNotifySuspend (...args: [...R, peer: string, connection: string, graceUntil: number, leaseMs: number, now: number]): Result<number, Context>
    rtcNotifyOpenSession (...args: [...R, peer: string, token: string]): Result<[string, string, number], Context>
    rtcNotifyClaim (...args: [...R, token: string, next: string, identity: string]): Result<string[], Context>
    rtcNotifyResyncBuffer (...args: [...R, peer: string, connection: string, instance: string]): Result<BufferReply, Context>
    rtcNotifyReap (...args: [...R, dead: string, instance: string, now: number, graceMs: number, leaseMs: number]): Result<Reply, Context>
    rtcNotifyKick (...args: [...R, peer: string, reason: string]): Result<Reply, Context>
    rtcNotifyCloseRoom (...args: [...R, reason: string]): Result<Reply | null, Context>
    rtcNotifySend (...args: [...R, frame: string, to: string]): Result<number, Context>
    rtcNotifyRestore (...args: [...R, meta: string, instance: string, ...seats: string[]]): Result<number, Context>
    rtcNotifyBarrier (...args: [...R, instance: string, connection: string, barrier: number]): Result<number, Context>
    rtcNotifyCondemn (marker: string, judgedBy: string): Result<number, Context>
  }
}

/** What a message to an instance says: its kind, the connection it is for, where its payload starts. */
export function parseInstanceMessage (message: Buffer): { kind: string, id: string, payload: number } {
  const colon = message.indexOf(0x3a, 1)
  const start = colon + 1
  const payload = start + Number(message.toString('latin1', 1, colon))
  return { kind: String.fromCharCode(message[0] ?? 0), id: message.toString('utf8', start, payload), payload }
}
