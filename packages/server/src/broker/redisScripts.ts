import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

// Stream ids are `<ms>-<seq>`; both parts stay far below 2^53, so Lua's doubles hold them exactly.
export const HELPERS = `
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
 * Append + cursor + notify, atomically. Each entry stores the position before it (`p`), so a reader can
 * tell exactly whether anything between its cursor and the next retained entry is missing: trimmed, or
 * lost in a failover.
 *
 * Ids come from the server clock and always lie above the head, never merely above the stream's newest
 * entry: an expired stream continues above its old head even if the clock went back meanwhile, and after
 * a failover lost entries a repair (REPAIR_SCRIPT) may have raised the head above what the stream holds.
 *
 * KEYS: meta (hash: epoch, head, lost), log (stream), idempotency key (or the meta key again when there is none)
 * ARGV: json, candidate epoch, history size, history ttl ms, idempotency window ms, Pub/Sub channel,
 *       '1' when an idempotency key applies, '1' to notify with SPUBLISH (Redis Cluster) instead of PUBLISH
 * Returns {duplicate (0|1), cursor}.
 */
export const PUBLISH_SCRIPT = `${HELPERS}
if ARGV[7] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {1, seen} end
end
local epoch, head = current_epoch(KEYS[1], KEYS[2], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hms, hseq = pos(head)
local id
if now > hms then id = string.format('%.0f-0', now) else id = string.format('%.0f-%.0f', hms, hseq + 1) end
id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], id, 'd', ARGV[1], 'p', head)
local ms = pos(id)
redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%.0f', ms - tonumber(ARGV[4])))
redis.call('HSET', KEYS[1], 'head', id)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local cursor = epoch .. ':' .. id
if ARGV[7] == '1' then redis.call('SET', KEYS[3], cursor, 'NX', 'PX', ARGV[5]) end
if ARGV[8] == '1' then
  redis.call('SPUBLISH', ARGV[6], cursor .. '\\n' .. ARGV[1])
else
  redis.call('PUBLISH', ARGV[6], cursor .. '\\n' .. ARGV[1])
end
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
-- The resume rule of @holdfast/protocol resolveResume, made exact by the chain of previous positions:
-- since is recovered when it has the epoch, is not past the head nor before a recorded loss, and the log
-- vouches for it: it is the head, or the first entry after it points back at it (nothing in between was
-- trimmed or lost), or it is the recorded loss itself and the entry after it was written after the loss.
local epoch, head = current_epoch(KEYS[1], KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '1' then return {epoch, head} end
local lost = redis.call('HGET', KEYS[1], 'lost')
local hms, hseq = pos(head)
local sms, sseq = tonumber(ARGV[5]), tonumber(ARGV[6])
local lms, lseq = -1, -1
if lost then lms, lseq = pos(lost) end
local function range(start)
  if ARGV[7] ~= '' then return redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', tonumber(ARGV[7]) + 1) end
  return redis.call('XRANGE', KEYS[2], start, '+')
end
if ARGV[4] == epoch and cmp(sms, sseq, hms, hseq) <= 0 and cmp(sms, sseq, lms, lseq) >= 0 then
  local entries = range('(' .. ARGV[5] .. '-' .. ARGV[6])
  local recovered = 0
  if entries[1] then
    local pms, pseq = pos(field(entries[1][2], 'p'))
    local c = cmp(pms, pseq, sms, sseq)
    if c == 0 or (c < 0 and cmp(sms, sseq, lms, lseq) == 0) then recovered = 1 end
  elseif cmp(sms, sseq, hms, hseq) == 0 then
    recovered = 1
  end
  if recovered == 1 then return {epoch, head, 1, '', entries} end
end
-- Not recovered: replay what is kept after the newest position known to be gone (the trim point, or a
-- recorded loss when that is later), so that resuming from it replays the same messages.
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
local from = head
if first then from = field(first[2], 'p') end
local start = '-'
if lost then
  local fms, fseq = pos(from)
  if cmp(lms, lseq, fms, fseq) > 0 then
    from = lost
    start = '(' .. lost
  end
end
return {epoch, head, 0, from, range(start)}
`

/**
 * Records that an acknowledged position of a channel's log is gone: after a failover the promoted replica
 * may lack entries the failed master had acknowledged (replication is asynchronous). A process that saw
 * `cursor` (it published it, or delivered it live) runs this once the channel's master is reachable again.
 * When the log no longer holds that position, and it was neither trimmed nor already recorded, the loss is
 * recorded (`lost`) and the head raised to it: every resume from before it is then told recovered:false,
 * a resume from exactly it continues with what was written after the loss, and new ids stay above it.
 *
 * KEYS: meta, log
 * ARGV: epoch, cursor ms, cursor seq
 * Returns 1 when it recorded a loss, else 0.
 */
export const REPAIR_SCRIPT = `${HELPERS}
local m = redis.call('HMGET', KEYS[1], 'epoch', 'head', 'lost')
if not m[1] or m[1] ~= ARGV[1] then return 0 end
local cms, cseq = tonumber(ARGV[2]), tonumber(ARGV[3])
local id = ARGV[2] .. '-' .. ARGV[3]
local hms, hseq = pos(m[2])
local vs_head = cmp(cms, cseq, hms, hseq)
if vs_head == 0 then return 0 end
if m[3] then
  local lms, lseq = pos(m[3])
  if cmp(cms, cseq, lms, lseq) <= 0 then return 0 end
end
if redis.call('XRANGE', KEYS[2], id, id)[1] then return 0 end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
if first then
  local pms, pseq = pos(field(first[2], 'p'))
  -- At or before the trim point: gone by design, and resumes from before it already say so.
  if cmp(cms, cseq, pms, pseq) <= 0 then return 0 end
elseif vs_head < 0 then
  -- Every entry expired: the same.
  return 0
end
redis.call('HSET', KEYS[1], 'lost', id)
if vs_head > 0 then redis.call('HSET', KEYS[1], 'head', id) end
return 1
`

/** A connection that runs scripts: one Redis, or a Redis Cluster client that routes them by their keys. */
export type ScriptRunner = Redis | Cluster

/** A Lua script run by its SHA1 (EVALSHA), sent in full only when Redis does not know it (NOSCRIPT). */
export class LuaScript {
  readonly source: string
  readonly sha: string

  constructor(source: string) {
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  async run(redis: ScriptRunner, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      // A restarted or flushed Redis forgets scripts; EVAL loads it again for the next EVALSHA.
      if (!isNoScript(error)) throw error
      return redis.eval(this.source, keys.length, ...keys, ...args)
    }
  }

  /**
   * Runs the script, then `WAIT replicas timeoutMs` on the same connection (so on the node that ran it),
   * and resolves with the script's reply once that many replicas acknowledged it or the timeout passed.
   */
  async runAndWait(
    redis: ScriptRunner,
    keys: string[],
    args: Array<string | number>,
    wait: { replicas: number; timeoutMs: number },
  ): Promise<{ reply: unknown; replicas: number }> {
    let loaded = false
    for (;;) {
      const pipeline = redis.pipeline()
      if (loaded) pipeline.eval(this.source, keys.length, ...keys, ...args)
      else pipeline.evalsha(this.sha, keys.length, ...keys, ...args)
      pipeline.wait(wait.replicas, wait.timeoutMs)
      const results = (await pipeline.exec()) ?? []
      const [scriptError, reply] = results[0] ?? [new Error('[holdfast] empty pipeline reply'), undefined]
      if (scriptError) {
        if (!loaded && isNoScript(scriptError)) {
          loaded = true
          continue
        }
        throw scriptError
      }
      const [waitError, replicas] = results[1] ?? [undefined, 0]
      if (waitError) throw waitError
      return { reply, replicas: Number(replicas) }
    }
  }
}

function isNoScript(error: unknown): boolean {
  return String((error as Error)?.message).startsWith('NOSCRIPT')
}
