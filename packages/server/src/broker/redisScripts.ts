import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

// Stream ids are `<ms>-<seq>`; both parts stay far below 2^53, so Lua's doubles hold them exactly.
const HELPERS = `
local function pos(id)
  local dash = string.find(id, '-', 1, true)
  if dash then return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1)) end
  return tonumber(id), 0
end
local function cmp(ams, aseq, bms, bseq)
  if ams ~= bms then return ams < bms and -1 or 1 end
  if aseq ~= bseq then return aseq < bseq and -1 or 1 end
  return 0
end
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function current_epoch(meta, log, candidate)
  local m = redis.call('HMGET', meta, 'epoch', 'head')
  if m[1] then return m[1], m[2] end
  -- The log's metadata is gone, so whatever the stream holds cannot be vouched for: start a new epoch.
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', candidate, 'head', '0')
  return candidate, '0'
end
`

/**
 * Append + cursor + notify, atomically. Each entry stores the id of the entry before it (`p`), so a
 * reader can tell exactly whether anything between its cursor and the oldest retained entry was trimmed.
 *
 * KEYS: meta (hash: epoch, head), log (stream), idempotency key (or the meta key again when there is none)
 * ARGV: json, candidate epoch, history size, history ttl ms, idempotency window ms, Pub/Sub channel,
 *       '1' when an idempotency key applies
 * Returns {duplicate (0|1), cursor}.
 */
export const PUBLISH_SCRIPT = `${HELPERS}
if ARGV[7] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {1, seen} end
end
local epoch, head = current_epoch(KEYS[1], KEYS[2], ARGV[2])
local id = '*'
if head ~= '0' and redis.call('EXISTS', KEYS[2]) == 0 then
  -- Every entry expired but the epoch lives on: continue it with an id above the old head, even if
  -- the clock went back meanwhile.
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local hms, hseq = pos(head)
  if now > hms then id = string.format('%.0f-0', now) else id = string.format('%.0f-%.0f', hms, hseq + 1) end
end
id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id, 'd', ARGV[1], 'p', head)
local ms = pos(id)
redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%.0f', ms - tonumber(ARGV[4])))
redis.call('HSET', KEYS[1], 'head', id)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local cursor = epoch .. ':' .. id
if ARGV[7] == '1' then redis.call('SET', KEYS[3], cursor, 'NX', 'PX', ARGV[5]) end
redis.call('PUBLISH', ARGV[6], cursor .. '\\n' .. ARGV[1])
return {0, cursor}
`

/**
 * A consistent snapshot of a channel's log from a cursor.
 *
 * KEYS: meta, log
 * ARGV: candidate epoch, ttl ms, '1' when since is given, since epoch, since ms, since seq, limit ('' = none)
 * Returns {epoch, head} without since, else {epoch, head, recovered (0|1), from id, entries}.
 */
export const READ_SCRIPT = `${HELPERS}
-- The resume rule of @holdfast/protocol resolveResume: recovered when since has the epoch and lies between
-- the trim point (the first kept entry's previous position, field p) and the head, both included.
local epoch, head = current_epoch(KEYS[1], KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '1' then return {epoch, head} end
local hms, hseq = pos(head)
local sms, sseq = tonumber(ARGV[5]), tonumber(ARGV[6])
local recovered = 0
if ARGV[4] == epoch then
  local c = cmp(sms, sseq, hms, hseq)
  if c == 0 then
    recovered = 1
  elseif c < 0 then
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
    if first then
      local pms, pseq = pos(field(first[2], 'p'))
      if cmp(sms, sseq, pms, pseq) >= 0 then recovered = 1 end
    end
  end
end
local start = '-'
if recovered == 1 then start = '(' .. ARGV[5] .. '-' .. ARGV[6] end
local entries
if ARGV[7] ~= '' then
  entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', tonumber(ARGV[7]) + 1)
else
  entries = redis.call('XRANGE', KEYS[2], start, '+')
end
local from = ''
if recovered == 0 then
  if entries[1] then from = field(entries[1][2], 'p') else from = head end
end
return {epoch, head, recovered, from, entries}
`

/** A Lua script run by its SHA1 (EVALSHA), sent in full only when Redis does not know it (NOSCRIPT). */
export class LuaScript {
  readonly source: string
  readonly sha: string

  constructor(source: string) {
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      // A restarted or flushed Redis forgets scripts; EVAL loads it again for the next EVALSHA.
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error
      return redis.eval(this.source, keys.length, ...keys, ...args)
    }
  }
}
