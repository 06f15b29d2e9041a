import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
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
})
