import { CloseCode } from '@holdfast/protocol'
import { register as globalRegistry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createServer } from '../src/index'
import {
  connect,
  eventually,
  openSse,
  SECRET,
  signToken,
  startServer,
  TestSocket,
  wsUrl,
} from './helpers/fixtures'

/** Parses Prometheus text into `name{labels} -> value`. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

async function scrape(server: { url: string }): Promise<Map<string, number>> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parse(await response.text())
}

describe('GET /metrics', () => {
  it('counts connections, messages, replays, gaps and delivery latency per transport', async () => {
    const server = await startServer()
    const socket = await connect(server)
    const stream = await openSse(server, 'channel=news')
    await stream.until((s) => s.events.length === 1)
    const epoch = stream.events[0]!.id!.split('=')[1]!.split(':')[0]!
    socket.send({ type: 'subscribe', id: 1, channel: 'news' })
    await socket.nextOfType('subscribed')
    socket.send({ type: 'publish', id: 2, channel: 'news', data: 'ws' })
    const ack = await socket.nextOfType('ack')
    await fetch(`${server.url}/publish`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'news', data: 'http' }),
    })
    await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'idempotency-key': 'k' },
      body: JSON.stringify({ channel: 'news', data: 'once' }),
    })
    await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'idempotency-key': 'k' },
      body: JSON.stringify({ channel: 'news', data: 'once' }),
    })
    await server.publish('news', 'server')
    await eventually(() => expect(socket.messages('news')).toHaveLength(4))
    await stream.until((s) => s.messages().length === 4)
    // A resume that works, and one from a lost epoch (a gap).
    socket.send({ type: 'subscribe', id: 3, channel: 'news', since: ack.cursor })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ recovered: true })
    socket.send({ type: 'subscribe', id: 4, channel: 'news', since: 'gone:5' })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ recovered: false })
    const poll = await fetch(`${server.url}/poll?channel=news&since=news=${epoch}:0`)
    expect((await poll.json()).messages).toHaveLength(4)
    await fetch(`${server.url}/poll?channel=news&since=news=gone:1`)

    const m = await scrape(server)
    expect(m.get('holdfast_connections{transport="websocket"}')).toBe(1)
    expect(m.get('holdfast_connections{transport="sse"}')).toBe(1)
    expect(m.get('holdfast_connects_total{transport="websocket"}')).toBe(1)
    expect(m.get('holdfast_connects_total{transport="sse"}')).toBe(1)
    expect(m.get('holdfast_messages_in_total{source="websocket"}')).toBe(1)
    expect(m.get('holdfast_messages_in_total{source="http"}')).toBe(2)
    expect(m.get('holdfast_messages_in_total{source="server"}')).toBe(1)
    expect(m.get('holdfast_duplicate_publishes_total')).toBe(1)
    // 4 live + 3 replayed after the ack's cursor + 4 replayed from the lost epoch on the WebSocket.
    expect(m.get('holdfast_messages_out_total{transport="websocket"}')).toBe(11)
    expect(m.get('holdfast_messages_out_total{transport="sse"}')).toBe(4)
    expect(m.get('holdfast_messages_out_total{transport="poll"}')).toBe(8)
    expect(m.get('holdfast_replayed_messages_total{transport="websocket"}')).toBe(7)
    expect(m.get('holdfast_replays_total{transport="websocket"}')).toBe(2)
    expect(m.get('holdfast_gaps_total{transport="websocket"}')).toBe(1)
    expect(m.get('holdfast_gaps_total{transport="poll"}')).toBe(1)
    // Every live delivery (4 on the WebSocket, 4 on SSE) is in the latency histogram, all well under 5 s.
    expect(m.get('holdfast_publish_to_deliver_seconds_count')).toBe(8)
    expect(m.get('holdfast_publish_to_deliver_seconds_bucket{le="5"}')).toBe(8)
    expect(m.get('holdfast_publish_to_deliver_seconds_sum')).toBeGreaterThanOrEqual(0)
  })

  it('counts auth failures and rate-limited connects', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      limits: { connectionRate: { perSecond: 0.001, burst: 1 } },
    })
    const token = await signToken()
    const bad = new TestSocket(wsUrl(server))
    await bad.opened
    bad.send({ type: 'connect', token: 'not.a.jwt' })
    expect((await bad.closed).code).toBe(CloseCode.Unauthorized)
    const expired = await signToken({ expSec: -60 })
    expect(
      (await fetch(`${server.url}/sse?channel=a`, { headers: { authorization: `Bearer ${expired}` } }))
        .status,
    ).toBe(401)
    expect((await fetch(`${server.url}/publish`, { method: 'POST', body: '{}' })).status).toBe(401)
    // Refused tokens spent nothing; the one slot goes to the first valid connection.
    await connect(server, token)
    const limited = new TestSocket(wsUrl(server))
    await limited.opened
    limited.send({ type: 'connect', token })
    expect((await limited.closed).code).toBe(CloseCode.RateLimited)
    const headers = { authorization: `Bearer ${token}` }
    expect((await fetch(`${server.url}/poll?channel=a`, { headers })).status).toBe(429)

    const m = await scrape(server)
    expect(m.get('holdfast_auth_failures_total{transport="websocket",code="unauthorized"}')).toBe(1)
    expect(m.get('holdfast_auth_failures_total{transport="sse",code="token_expired"}')).toBe(1)
    expect(m.get('holdfast_auth_failures_total{transport="publish",code="unauthorized"}')).toBe(1)
    expect(m.get('holdfast_rate_limited_connects_total{transport="websocket"}')).toBe(1)
    expect(m.get('holdfast_rate_limited_connects_total{transport="poll"}')).toBe(1)
  })

  it('counts slow-consumer closes', async () => {
    const server = await startServer({ limits: { sendBufferBytes: 64 * 1024, maxMessageBytes: 16 * 1024 } })
    const slow = await connect(server)
    slow.send({ type: 'subscribe', id: 1, channel: 'firehose' })
    await slow.nextOfType('subscribed')
    ;(slow.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const pad = 'z'.repeat(8 * 1024)
    for (let n = 0; n < 4000 && server.connectionCount > 0; n++) {
      await server.publish('firehose', { n, pad })
      if (n % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const m = await scrape(server)
    expect(m.get('holdfast_slow_consumer_closes_total{transport="websocket"}')).toBe(1)
  })

  it('keeps each server in a registry of its own, never the global one', async () => {
    const a = await startServer()
    const b = await startServer()
    await connect(a)
    expect((await scrape(a)).get('holdfast_connects_total{transport="websocket"}')).toBe(1)
    expect((await scrape(b)).get('holdfast_connects_total{transport="websocket"}')).toBe(0)
    expect(a.metrics).not.toBe(b.metrics)
    expect(await globalRegistry.metrics()).not.toContain('holdfast_')
  })

  it('with metrics.bearerToken, answers 401 unless the scraper sends that token', async () => {
    const token = 'scrape-token-0123456789'
    const server = await startServer({ metrics: { bearerToken: token } })
    const get = (authorization?: string) =>
      fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} })
    const missing = await get()
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="metrics"')
    expect(await missing.json()).toMatchObject({ error: { code: 'unauthorized' } })
    expect((await get(`Bearer ${token}x`)).status).toBe(401)
    expect((await get(token)).status).toBe(401)
    const ok = await get(`Bearer ${token}`)
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('holdfast_connections')
    expect(() => createServer({ metrics: { bearerToken: 'short' } })).toThrow(/at least 16/)
  })

  it('serves metrics while draining, and nothing with metrics: false', async () => {
    const off = await startServer({ metrics: false })
    expect(off.metrics).toBeUndefined()
    expect((await fetch(`${off.url}/metrics`)).status).toBe(404)
    const server = await startServer({ metrics: { prefix: 'rt_' } })
    const straggler = await connect(server)
    ;(straggler.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const closing = server.close({ drainMs: 0, timeoutMs: 300 })
    expect((await fetch(`${server.url}/health`)).status).toBe(503)
    expect((await scrape(server)).get('rt_connections{transport="websocket"}')).toBe(1)
    await closing
  })
})
