import type { IncomingMessage, ServerResponse } from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createDispatcher, type Dispatcher, type DispatcherOptions } from '../src/dispatcher/index'
import { sign } from '../src/index'
import { createReceiver, type ReceivedWebhook } from '../src/receiver/index'
import { resolvesTo, SECRET, startServer, type TestServer, until } from './helpers'

// Real fetch, real sockets, real timers: the dispatcher talks to the receiver over 127.0.0.1.
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

interface Captured {
  headers: Record<string, string>
  body: string
}

/** A receiver behind a front door that can fail requests, delay answers, and records what came in. */
async function receiverServer(
  front: (hit: number, req: IncomingMessage, res: ServerResponse) => 'pass' | 'handled' = () => 'pass',
) {
  const processed: ReceivedWebhook[] = []
  const captured: Captured[] = []
  const receiver = createReceiver({ secret: SECRET, handler: (webhook) => void processed.push(webhook) })
  let hits = 0
  const server: TestServer = await startServer((req, res) => {
    hits++
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([name]) => name.startsWith('webhook-') || name === 'content-type'),
    ) as Record<string, string>
    if (front(hits, req, res) === 'handled') return
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      captured.push({ headers, body: body.toString() })
      ;(req as IncomingMessage & { body?: Buffer }).body = body
      void receiver(req, res)
    })
  })
  cleanups.push(async () => {
    await receiver.drain()
    await server.close()
  })
  return { url: server.url, processed, captured, hits: () => hits, receiver }
}

function loopbackDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const dispatcher = createDispatcher({
    allowPrivateNetworks: true,
    retryDelaysMs: [30, 30, 30, 30],
    jitter: 0,
    ...options,
  })
  cleanups.push(() => dispatcher.close())
  return dispatcher
}

const failWith =
  (code: number) =>
  (_: number, req: IncomingMessage, res: ServerResponse): 'handled' => {
    req.resume()
    res.writeHead(code).end()
    return 'handled'
  }

describe('real sender and receiver on loopback', () => {
  it('a receiver that fails the first 3 times then succeeds processes the delivery exactly once', async () => {
    const target = await receiverServer((hit, req, res) => (hit <= 3 ? failWith(503)(hit, req, res) : 'pass'))
    const dispatcher = loopbackDispatcher()
    await dispatcher.addEndpoint({
      url: `${target.url}/hooks`,
      eventTypes: ['invoice.paid'],
      secrets: [SECRET],
    })
    const { messageId } = await dispatcher.send({ eventType: 'invoice.paid', payload: { id: 'in_1' } })

    await until(() => target.processed.length === 1)
    await dispatcher.whenIdle()
    await target.receiver.drain()
    expect(target.hits()).toBe(4)
    expect(target.processed).toHaveLength(1)
    expect(target.processed[0]).toMatchObject({ id: messageId, payload: { id: 'in_1' } })
    expect(dispatcher.metrics()).toMatchObject({ attempts: 4, succeeded: 1, retries: 3, deadLettered: 0 })
    expect(await dispatcher.listDeadLetters()).toEqual([])
  })

  it('duplicates and delayed re-sends of a delivered message are processed once', async () => {
    const target = await receiverServer()
    const dispatcher = loopbackDispatcher()
    await dispatcher.addEndpoint({ url: target.url, eventTypes: ['*'], secrets: [SECRET] })
    const { messageId } = await dispatcher.send({ eventType: 'e', payload: { n: 1 }, id: 'msg_once' })
    await until(() => target.processed.length === 1)
    await dispatcher.whenIdle()

    // The exact same request again (a network-level duplicate).
    const original = target.captured[0]!
    const duplicate = await fetch(target.url, {
      method: 'POST',
      headers: original.headers,
      body: original.body,
    })
    expect(await duplicate.json()).toEqual({ ok: true, duplicate: true })

    // The sender sends the same message id again, later and freshly signed.
    await dispatcher.send({ eventType: 'e', payload: { n: 1 }, id: messageId })
    await until(() => target.hits() === 3)
    await dispatcher.whenIdle()

    // A delayed re-send signed by a third party with the same id.
    const resent = await sign({
      id: messageId,
      timestamp: new Date(),
      payload: original.body,
      secret: SECRET,
    })
    const late = await fetch(target.url, { method: 'POST', headers: resent, body: original.body })
    expect(await late.json()).toEqual({ ok: true, duplicate: true })

    await target.receiver.drain()
    expect(target.processed).toHaveLength(1)
    expect(dispatcher.metrics().succeeded).toBe(2)
  })

  it('an acknowledgement that arrives too late makes the sender retry, and the retry is not processed twice', async () => {
    // The dispatcher's request timeout fires when the test says so, not after some milliseconds of a
    // machine that may be busy: the first answer is held until that timeout has cut the request.
    const TIMEOUT_MS = 15_000
    const heldTimeouts = new Set<() => void>()
    const timers = {
      setTimeout: (callback: () => void, delayMs: number): unknown => {
        if (delayMs !== TIMEOUT_MS) return setTimeout(callback, delayMs)
        heldTimeouts.add(callback)
        return callback
      },
      clearTimeout: (handle: unknown) => {
        if (!heldTimeouts.delete(handle as () => void)) clearTimeout(handle as ReturnType<typeof setTimeout>)
      },
    }
    const target = await receiverServer((hit, _req, res) => {
      if (hit === 1) {
        // Hold the receiver's 2xx until the sender gave up on it, as a slow proxy would; then send it.
        const writeHead = res.writeHead.bind(res)
        const end = res.end.bind(res)
        let headArgs: Parameters<typeof writeHead> | undefined
        res.writeHead = ((...args: Parameters<typeof writeHead>) => {
          headArgs = args
          return res
        }) as typeof res.writeHead
        res.end = ((...args: Parameters<typeof end>) => {
          res.once('close', () => {
            writeHead(...headArgs!)
            end(...args)
          })
          return res
        }) as typeof res.end
      }
      return 'pass'
    })
    const dispatcher = loopbackDispatcher({ timeoutMs: TIMEOUT_MS, timers })
    await dispatcher.addEndpoint({ url: target.url, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: { n: 1 } })

    await until(() => target.processed.length === 1 && heldTimeouts.size === 1)
    for (const fire of [...heldTimeouts]) fire()
    await until(() => target.hits() === 2)
    await dispatcher.whenIdle()
    await target.receiver.drain()
    expect(target.processed).toHaveLength(1)
    expect(await dispatcher.getDelivery(deliveries[0]!.id)).toBeUndefined()
    expect(dispatcher.metrics()).toMatchObject({ attempts: 2, succeeded: 1, failed: 1 })
  })

  it('a receiver that always fails ends in the dead-letter queue; a replay succeeds once it recovers', async () => {
    let healthy = false
    const target = await receiverServer((hit, req, res) => (healthy ? 'pass' : failWith(500)(hit, req, res)))
    const dispatcher = loopbackDispatcher({ retryDelaysMs: [20, 20] })
    await dispatcher.addEndpoint({ url: target.url, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries, messageId } = await dispatcher.send({ eventType: 'e', payload: { n: 7 } })

    await until(() => target.hits() === 3)
    await dispatcher.whenIdle()
    const dead = await dispatcher.listDeadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({
      id: deliveries[0]!.id,
      attempts: 3,
      deadReason: 'exhausted',
      lastFailure: { kind: 'status', status: 500 },
    })
    expect(target.processed).toHaveLength(0)

    healthy = true
    await dispatcher.replay(dead[0]!.id)
    await until(() => target.processed.length === 1)
    await dispatcher.whenIdle()
    expect(target.processed[0]).toMatchObject({ id: messageId, payload: { n: 7 } })
    expect(await dispatcher.listDeadLetters()).toEqual([])
    expect(target.hits()).toBe(4)
  })

  it('a receiver answering 410 Gone disables its endpoint', async () => {
    const target = await receiverServer(failWith(410))
    const dispatcher = loopbackDispatcher()
    const endpoint = await dispatcher.addEndpoint({ url: target.url, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await until(() => target.hits() === 1)
    await dispatcher.whenIdle()
    expect((await dispatcher.listEndpoints()).find((e) => e.id === endpoint.id)).toMatchObject({
      disabled: true,
    })
    expect((await dispatcher.send({ eventType: 'e', payload: {} })).deliveries).toEqual([])
  })

  it('without allowPrivateNetworks the SSRF guard refuses the loopback receiver, by IP and by name', async () => {
    const target = await receiverServer()
    const dispatcher = createDispatcher({ autoStart: false })
    await expect(dispatcher.addEndpoint({ url: target.url, eventTypes: ['*'] })).rejects.toMatchObject({
      code: 'blocked_address',
    })
    const port = new URL(target.url).port
    await expect(
      dispatcher.addEndpoint({ url: `http://localhost:${port}/`, eventTypes: ['*'] }),
    ).rejects.toMatchObject({
      code: 'blocked_address',
    })
    expect(target.hits()).toBe(0)
  })

  it('connects to the addresses its lookup gave, not to what a second DNS query says', async () => {
    const target = await receiverServer()
    const port = new URL(target.url).port
    // `.invalid` never resolves in real DNS: only the injected lookup can take the request to loopback.
    const dispatcher = loopbackDispatcher({ lookup: resolvesTo('127.0.0.1') })
    await dispatcher.addEndpoint({
      url: `http://hooks.invalid:${port}/`,
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    await dispatcher.send({ eventType: 'e', payload: { n: 1 } })
    await until(() => target.processed.length === 1)
    expect(dispatcher.metrics()).toMatchObject({ attempts: 1, succeeded: 1 })
  })

  it('DNS rebinding: a name that turns into a loopback address between the check and the connection is refused', async () => {
    const target = await receiverServer()
    const port = new URL(target.url).port
    let calls = 0
    // addEndpoint's check and the check before sending see a public address; the connection sees loopback.
    const rebinding = vi.fn(async () =>
      (++calls <= 2 ? resolvesTo('93.184.216.34') : resolvesTo('127.0.0.1'))(''),
    )
    const dispatcher = loopbackDispatcher({ allowPrivateNetworks: false, lookup: rebinding })
    await dispatcher.addEndpoint({
      url: `http://rebind.invalid:${port}/`,
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    await dispatcher.send({ eventType: 'e', payload: { n: 1 } })
    await dispatcher.whenIdle()
    const [dead] = await dispatcher.listDeadLetters()
    expect(dead).toMatchObject({ deadReason: 'blocked_address', lastFailure: { kind: 'blocked' } })
    expect(dead!.lastFailure!.message).toMatch(/at connect time it resolves to 127\.0\.0\.1/)
    expect(rebinding).toHaveBeenCalledTimes(3)
    expect(target.hits()).toBe(0)
  })
})
