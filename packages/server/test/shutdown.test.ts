import { createServer as createHttpServer } from 'node:http'
import net from 'node:net'
import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ConnectionRegistry } from '../src/ConnectionRegistry'
import { createServer } from '../src/index'
import { connect, eventually, openSse, startServer, TestSocket, wsUrl } from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

describe('graceful shutdown', () => {
  it('tells every client when to come back, spread over the drain window, then closes', async () => {
    // Draws 0.1, 0.5, 0.9, ... so the spread is visible and checkable.
    const draws = [0.1, 0.5, 0.9, 0.3, 0.7]
    let i = 0
    const server = await startServer({ random: () => draws[i++ % draws.length]! })
    const sockets = [await connect(server), await connect(server), await connect(server)]
    const stream = await openSse(server, 'channel=a')
    await stream.until((s) => s.events.length === 1)
    const since = (await (await fetch(`${server.url}/poll?channel=a`)).json()).since
    const heldPoll = fetch(`${server.url}/poll?channel=a&since=${encodeURIComponent(since)}`)
    await eventually(() => expect(server.connectionCount).toBe(5))

    await server.close({ drainMs: 2000 })

    const delays: number[] = []
    for (const socket of sockets) {
      const reconnect = await socket.nextOfType('reconnect')
      const closed = await socket.closed
      expect(closed.code).toBe(CloseCode.ServerRestart)
      expect(parseRetryAfterReason(closed.reason)).toBe(reconnect.retryAfterMs)
      delays.push(reconnect.retryAfterMs)
    }
    await stream.until((s) => s.ended)
    const goodbye = stream.events.at(-1)!
    expect(goodbye.event).toBe('reconnect')
    const sseDelay = JSON.parse(goodbye.data).retryAfterMs
    expect(goodbye.retry).toBe(sseDelay)
    delays.push(sseDelay)
    const poll = await heldPoll
    expect(poll.status).toBe(503)
    expect(poll.headers.get('retry-after')).toMatch(/^\d+$/)
    // Not kept alive: a retry dials again, and a load balancer can send it to another process.
    expect(poll.headers.get('connection')).toBe('close')
    expect((await poll.json()).error.code).toBe('server_restart')

    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThanOrEqual(2000)
    }
    expect(new Set(delays).size).toBeGreaterThan(2)
    expect(server.connectionCount).toBe(0)
    await expect(fetch(`${server.url}/health`)).rejects.toThrow()
  })

  it('answers 503 on health and refuses new connections while draining, and cuts stragglers at the timeout', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, limits: { pingIntervalMs: 1e9 } })
    const straggler = await connect(server)
    // A client that never reads its close frame keeps the drain waiting.
    ;(straggler.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const closing = server.close({ drainMs: 0, timeoutMs: 3000 })
    const health = await fetch(`${server.url}/health`)
    expect(health.status).toBe(503)
    expect(await health.json()).toEqual({ status: 'draining' })
    expect(health.headers.get('retry-after')).toBe('1')
    expect(health.headers.get('connection')).toBe('close')
    const late = new TestSocket(wsUrl(server))
    await expect(late.opened).rejects.toThrow('503')
    const publish = await fetch(`${server.url}/publish`, { method: 'POST', body: '{}' })
    expect(publish.status).toBe(503)
    expect(server.connectionCount).toBe(1)
    clock.advance(3000)
    await closing
    expect(server.connectionCount).toBe(0)
    // It was told, then cut without waiting for its half of the closing handshake.
    ;(straggler.ws as unknown as { _socket: { resume(): void } })._socket.resume()
    expect((await straggler.closed).code).toBe(CloseCode.ServerRestart)
    expect(await straggler.nextOfType('reconnect')).toEqual({ type: 'reconnect', retryAfterMs: 0 })
  })

  it('closes a WebSocket at once even while it has stopped reading behind a backlog of requests', async () => {
    const clock = new ManualClock()
    let release = () => {}
    const gate = new Promise<boolean>((resolve) => {
      release = () => resolve(true)
    })
    // A slow authorize hook: the publishes pile up and the server stops reading the socket.
    const server = await startServer({ clock, authorize: () => gate, limits: { pingIntervalMs: 1e9 } })
    const socket = await connect(server)
    for (let i = 1; i <= 200; i++) socket.send({ type: 'publish', id: i, channel: 'a', data: i })
    await new Promise((resolve) => setTimeout(resolve, 100))
    let closed = false
    const closing = server.close({ drainMs: 0, timeoutMs: 60_000 }).then(() => {
      closed = true
    })
    // Nothing advances the clock: only a socket that reads the peer's close frame lets this finish.
    await eventually(() => expect(closed).toBe(true))
    expect((await socket.closed).code).toBe(CloseCode.ServerRestart)
    release()
    await closing
  })

  it('drains a connection that registers after the drain began (an upgrade or auth check in flight)', async () => {
    const registry = new ConnectionRegistry()
    registry.drainAll(1000, () => 0.25)
    const drained: number[] = []
    registry.add({
      transport: 'websocket',
      address: '127.0.0.1',
      drain: (ms) => drained.push(ms),
      terminate: () => {},
    })
    expect(drained).toEqual([])
    await Promise.resolve()
    expect(drained).toEqual([250])
  })

  it('closes drained SSE and idle keep-alive connections at once, so retries go to another process', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, limits: { pingIntervalMs: 1e9 } })
    const straggler = await connect(server)
    ;(straggler.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    const port = Number(new URL(server.url).port)
    const sse = await rawRequest(port, '/sse?channel=a')
    const idle = await rawRequest(port, '/health')
    await eventually(() => expect(idle.received()).toContain('{"status":"ok"}'))
    const closing = server.close({ drainMs: 0, timeoutMs: 60_000 })
    // The straggler keeps the shutdown waiting; the other two are already gone.
    await eventually(() => expect([sse.isClosed(), idle.isClosed()]).toEqual([true, true]))
    expect(sse.received()).toContain('event: reconnect')
    clock.advance(60_000)
    await closing
  })

  it('closes a drained SSE connection on a host server too, where idle connections belong to the host app', async () => {
    const clock = new ManualClock()
    const host = createHttpServer()
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => host.close(() => resolve())))
    const server = createServer({ clock, limits: { pingIntervalMs: 1e9 } })
    server.attach(host)
    const port = (host.address() as net.AddressInfo).port
    const sse = await rawRequest(port, '/sse?channel=a')
    await server.close({ drainMs: 0 })
    await eventually(() => expect(sse.isClosed()).toBe(true))
    expect(sse.received()).toContain('event: reconnect')
  })
})

async function rawRequest(port: number, path: string) {
  const socket = net.connect(port, '127.0.0.1')
  onTestFinished(() => {
    socket.destroy()
  })
  let received = ''
  let closed = false
  socket.on('data', (chunk) => {
    received += chunk
  })
  socket.once('close', () => {
    closed = true
  })
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`)
  await eventually(() => expect(received).toContain('\r\n\r\n'))
  return { received: () => received, isClosed: () => closed }
}
