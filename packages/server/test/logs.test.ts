import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import pino from 'pino'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { redisBroker } from '../src/index'
import { eventually, openSse, SECRET, signToken, startServer, TestSocket, wsUrl } from './helpers/fixtures'

const redisUrl = inject('redisUrl')
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/

/** A pino logger at debug level writing into memory, as the CLI's does into stderr. */
function memoryLogger() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), text: () => lines.join('') }
}

/** A Redis user with a password, so the broker's URL carries a secret. */
async function redisWithPassword(password: string): Promise<string> {
  const admin = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
  const user = `log-test-${randomUUID()}`
  await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all')
  onTestFinished(async () => {
    await admin.call('ACL', 'DELUSER', user)
    await admin.quit()
  })
  const url = new URL(redisUrl!)
  url.username = user
  url.password = password
  return url.toString()
}

describe('logs', () => {
  it('never contain tokens, the JWT secret or the Redis password, at debug level, across every path that logs', async () => {
    const { logger, text } = memoryLogger()
    const redisPassword = `redis-pw-${randomUUID()}`
    const broker = redisUrl
      ? redisBroker({
          url: await redisWithPassword(redisPassword),
          keyPrefix: `logs:${randomUUID()}:`,
          logger,
        })
      : undefined
    onTestFinished(() => broker?.close())
    const server = await startServer({
      auth: { secret: SECRET, expiryGraceMs: 50 },
      logger,
      ...(broker ? { broker } : {}),
    })
    const good = await signToken({ sub: 'alice' })
    const short = await signToken({ sub: 'alice', expSec: 1 })
    const forged = await signToken({ sub: 'mallory' }, 'some-other-secret-that-is-long-enough-too')
    const expired = await signToken({ sub: 'alice', expSec: -10 })
    const tokens = [good, short, forged, expired]

    // WebSocket: a good session with a refresh (good and bad), then refused tokens.
    const ws = new TestSocket(wsUrl(server))
    await ws.opened
    ws.send({ type: 'connect', token: short })
    await ws.nextOfType('welcome')
    ws.send({ type: 'subscribe', id: 1, channel: 'room' })
    await ws.nextOfType('subscribed')
    ws.send({ type: 'auth', id: 2, token: forged })
    await ws.next((f) => f.type === 'error' && f.id === 2)
    ws.send({ type: 'auth', id: 3, token: good })
    await ws.nextOfType('ack')
    ws.send({ type: 'publish', id: 4, channel: 'room', data: { token: 'not-a-real-one' }, key: 'k1' })
    await ws.next((f) => f.type === 'ack' && f.id === 4)
    for (const token of [forged, expired, 'not.a.jwt']) {
      const refused = new TestSocket(wsUrl(server))
      await refused.opened
      refused.send({ type: 'connect', token })
      await refused.closed
    }
    // HTTP: Bearer tokens on every endpoint, good and bad, and a token someone put in the query string.
    const sse = await openSse(server, 'channel=room', { authorization: `Bearer ${good}` })
    await sse.until((s) => s.events.length === 1)
    for (const token of [good, forged, expired]) {
      const headers = { authorization: `Bearer ${token}` }
      await (await fetch(`${server.url}/poll?channel=room&timeoutMs=0`, { headers })).text()
      await (await fetch(`${server.url}/sse?channel=room`, { headers, signal: AbortSignal.timeout(200) }))
        .text()
        .catch(() => {})
      await (
        await fetch(`${server.url}/publish`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ channel: 'room', data: 1 }),
        })
      ).text()
    }
    await (await fetch(`${server.url}/poll?channel=room&access_token=${forged}&token=${good}`)).text()
    // Redis: a dropped connection logs where it was connected to.
    if (broker) {
      const admin = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
      onTestFinished(async () => {
        await admin.quit()
      })
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
      await eventually(() => expect(text()).toContain('Redis subscriber is back'))
    }
    await server.close({ timeoutMs: 500 })

    const logged = text()
    // Something was logged on each path, so the checks below are not vacuous.
    for (const expected of ['WebSocket auth refused', 'HTTP auth refused', 'WebSocket opened'])
      expect(logged).toContain(expected)
    if (broker) expect(logged).toContain(':***@127.0.0.1')
    expect(logged).not.toContain(SECRET)
    for (const token of tokens) expect(logged).not.toContain(token)
    expect(logged).not.toMatch(JWT)
    expect(logged).not.toContain(redisPassword)
  })
})
