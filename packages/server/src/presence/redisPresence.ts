import type { Cursor } from '@holdfast/protocol'
import { presenceChannel } from '@holdfast/protocol/presence'
import type { Cluster, Redis } from 'ioredis'
import { HELPERS, LuaScript } from '../broker/redisScripts'
import {
  type EnterOutcome,
  memberJson as memberJsonOf,
  type PresenceSnapshot,
  type PresenceStore,
} from './PresenceStore'

/**
 * Every presence operation of one channel, in one script: the member set (`pm` member JSON, `po` owner,
 * `pd` deadlines, `pc` connections per client) and the channel's presence log share the hash tag of
 * `<channel>~presence`, so each run touches one slot, changes the members and appends their events as one
 * atomic step, and a leave is appended once however many processes sweep. Event ids are `<ms>-0`, always
 * above the head (`<n>-<m>` with m > 0 stays free for snapshot cursors, PROTOCOL.md §8). Times are Redis'
 * own (TIME), so processes with skewed clocks agree on every deadline.
 *
 * KEYS: meta, log, pm, po, pd, pc, the member's pending-info key (or meta again)
 * ARGV: op, candidate epoch, history size, history ttl ms, Pub/Sub channel, '1' for SPUBLISH, then the op's
 */
export const PRESENCE_SCRIPT = `${HELPERS}
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local META, LOG, PM, PO, PD, PC, PENDING = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local TTL = ARGV[4]
local function keep()
  for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], TTL) end
end
local function append(json)
  local epoch, head = current_epoch(META, LOG, ARGV[2])
  local hms = pos(head)
  local n = NOW
  if n <= hms then n = hms + 1 end
  local id = string.format('%.0f-0', n)
  redis.call('XADD', LOG, 'MAXLEN', '~', ARGV[3], id, 'd', json, 'p', head)
  redis.call('XTRIM', LOG, 'MINID', '~', string.format('%.0f', NOW - tonumber(TTL)))
  redis.call('HSET', META, 'head', id)
  local cursor = epoch .. ':' .. id
  if ARGV[6] == '1' then
    redis.call('SPUBLISH', ARGV[5], cursor .. '\\n' .. json)
  else
    redis.call('PUBLISH', ARGV[5], cursor .. '\\n' .. json)
  end
  return cursor
end
local function event(kind, json, reason)
  local s = '{"event":"' .. kind .. '","member":' .. json .. ',"count":' .. redis.call('HLEN', PM) ..
    ',"clients":' .. redis.call('HLEN', PC)
  if reason then s = s .. ',"reason":"' .. reason .. '"' end
  return s .. '}'
end
local function remove(id, reason)
  local json = redis.call('HGET', PM, id)
  redis.call('HDEL', PO, id)
  redis.call('ZREM', PD, id)
  if not json then return nil end
  redis.call('HDEL', PM, id)
  local client = cjson.decode(id)[1]
  if redis.call('HINCRBY', PC, client, -1) <= 0 then redis.call('HDEL', PC, client) end
  return append(event('leave', json, reason))
end
local function sweep()
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', PD, '-inf', NOW)) do remove(id, 'expired') end
end
local op = ARGV[1]
if op == 'enter' then
  -- ARGV: id, member json, owner, ttl ms, max members, '1' when the info is the token's, member json
  -- without its closing brace (to add declared info to), client id
  sweep()
  local id = ARGV[7]
  local deadline = NOW + tonumber(ARGV[10])
  local current = redis.call('HGET', PM, id)
  if current then
    redis.call('HSET', PO, id, ARGV[9])
    redis.call('ZADD', PD, deadline, id)
    if ARGV[12] == '1' and current ~= ARGV[8] then
      redis.call('HSET', PM, id, ARGV[8])
      append(event('update', ARGV[8]))
    end
    keep()
    return 'present'
  end
  if redis.call('HLEN', PM) >= tonumber(ARGV[11]) then return 'full' end
  local json = ARGV[8]
  if ARGV[12] ~= '1' then
    local pending = redis.call('GET', PENDING)
    if pending then json = ARGV[13] .. ',"info":' .. pending .. '}' end
  end
  if PENDING ~= META then redis.call('DEL', PENDING) end
  redis.call('HSET', PM, id, json)
  redis.call('HSET', PO, id, ARGV[9])
  redis.call('ZADD', PD, deadline, id)
  redis.call('HINCRBY', PC, ARGV[14], 1)
  append(event('join', json))
  keep()
  return 'joined'
elseif op == 'refresh' then
  -- ARGV: ttl ms, then id and owner ('' for any) pairs
  local deadline = NOW + tonumber(ARGV[7])
  for i = 8, #ARGV, 2 do
    local score = redis.call('ZSCORE', PD, ARGV[i])
    if score and tonumber(score) > NOW and (ARGV[i + 1] == '' or redis.call('HGET', PO, ARGV[i]) == ARGV[i + 1]) then
      redis.call('ZADD', PD, deadline, ARGV[i])
    end
  end
  keep()
  return 'ok'
elseif op == 'release' then
  -- ARGV: id, owner, grace ms
  if redis.call('HGET', PO, ARGV[7]) ~= ARGV[8] then return 'other' end
  redis.call('HSET', PO, ARGV[7], '')
  local deadline = NOW + tonumber(ARGV[9])
  local score = redis.call('ZSCORE', PD, ARGV[7])
  if score and tonumber(score) > deadline then redis.call('ZADD', PD, deadline, ARGV[7]) end
  return 'released'
elseif op == 'leave' then
  -- ARGV: id
  if redis.call('HEXISTS', PM, ARGV[7]) == 0 then return 0 end
  remove(ARGV[7], 'left')
  keep()
  return 1
elseif op == 'declare' then
  -- ARGV: id, member json with the info, the info, pending ms
  sweep()
  local current = redis.call('HGET', PM, ARGV[7])
  if not current then
    redis.call('SET', PENDING, ARGV[9], 'PX', ARGV[10])
    return 'pending'
  end
  if current == ARGV[8] then return 'unchanged' end
  redis.call('HSET', PM, ARGV[7], ARGV[8])
  append(event('update', ARGV[8]))
  keep()
  return 'updated'
elseif op == 'sweep' then
  sweep()
  local first = redis.call('ZRANGE', PD, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(0, tonumber(first[2]) - NOW) end
  return -1
elseif op == 'snapshot' then
  -- ARGV: limit
  sweep()
  local epoch, head = current_epoch(META, LOG, ARGV[2])
  redis.call('PEXPIRE', META, TTL)
  local ids = redis.call('HKEYS', PM)
  table.sort(ids)
  local listed = {}
  for i = 1, math.min(#ids, tonumber(ARGV[7])) do listed[i] = ids[i] end
  local members = {}
  if #listed > 0 then members = redis.call('HMGET', PM, unpack(listed)) end
  return {epoch, head, #ids, redis.call('HLEN', PC), members}
end
return redis.error_reply('unknown presence op ' .. tostring(op))
`

export interface RedisPresenceOptions {
  commands: Redis | Cluster
  prefix: string
  metaKey(channel: string): string
  logKey(channel: string): string
  /** The Pub/Sub channel a log's notifications go to. */
  liveName(channel: string): string
  generateEpoch(): string
  historySize: number
  historyTtlMs: number
  /** Notify with SPUBLISH (Redis Cluster). */
  sharded: boolean
}

/** Presence for `redisBroker`: one Lua script per operation over the keys of `<channel>~presence`. */
export function redisPresence(o: RedisPresenceOptions): PresenceStore {
  const script = new LuaScript(PRESENCE_SCRIPT)

  function run(channel: string, op: string, args: Array<string | number>, pendingOf?: string) {
    const log = presenceChannel(channel)
    const tag = `${o.prefix}{${log}}`
    const meta = o.metaKey(log)
    const keys = [
      meta,
      o.logKey(log),
      `${tag}:pm`,
      `${tag}:po`,
      `${tag}:pd`,
      `${tag}:pc`,
      pendingOf === undefined ? meta : `${tag}:pi:${pendingOf}`,
    ]
    return script.run(o.commands, keys, [
      op,
      o.generateEpoch(),
      o.historySize,
      o.historyTtlMs,
      o.liveName(log),
      o.sharded ? '1' : '0',
      ...args,
    ])
  }

  return {
    async enter(channel, record, options) {
      const json = memberJsonOf(record)
      return (await run(
        channel,
        'enter',
        [
          record.id,
          json,
          options.owner,
          options.ttlMs,
          options.maxMembers,
          options.fixedInfo ? '1' : '0',
          memberJsonOf({ ...record, info: undefined }).slice(0, -1),
          record.clientId,
        ],
        record.id,
      )) as EnterOutcome
    },
    async refresh(channel, members, ttlMs) {
      if (members.length === 0) return
      await run(channel, 'refresh', [ttlMs, ...members.flatMap((m) => [m.id, m.owner ?? ''])])
    },
    async release(channel, id, owner, graceMs) {
      await run(channel, 'release', [id, owner, graceMs])
    },
    async leave(channel, id) {
      return (await run(channel, 'leave', [id])) === 1
    },
    async declare(channel, record, pendingMs) {
      return (await run(
        channel,
        'declare',
        [record.id, memberJsonOf(record), record.info ?? 'null', pendingMs],
        record.id,
      )) as 'updated' | 'unchanged' | 'pending'
    },
    async sweep(channel) {
      const next = Number(await run(channel, 'sweep', []))
      return next < 0 ? undefined : next
    },
    async snapshot(channel, limit): Promise<PresenceSnapshot> {
      const [epoch, head, count, clients, members] = (await run(channel, 'snapshot', [limit])) as [
        string,
        string,
        number,
        number,
        string[],
      ]
      return { epoch, head: `${epoch}:${head}` as Cursor, members, count, clients }
    },
  }
}
