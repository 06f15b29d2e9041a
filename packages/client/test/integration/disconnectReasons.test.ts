// Fault kind: the reason a connection failed reaches the app: the classifier keeps the cause (status, close
// code, which hop answered) and the error says what happened and how to fix it.
import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterEach, expect, test } from 'vitest'
import WebSocket from 'ws'
import type { HoldfastError } from '../../src'
import { until } from '../helpers/collect'
import { createHttpProxy, type HttpProxy } from '../helpers/httpProxy'
import { nodeClients } from '../helpers/nodeClients'

let server: HoldfastServer | undefined
let proxy: HttpProxy | undefined
const clients = nodeClients()

afterEach(async () => {
  clients.closeAll()
  await proxy?.close()
  await server?.close()
  proxy = server = undefined
})

async function start(options: Parameters<typeof createServer>[0] = {}) {
  server = createServer({ poll: { timeoutMs: 2000 }, ...options })
  await server.listen(0)
  proxy = await createHttpProxy(server.port!)
  return proxy
}

function watch(client: ReturnType<typeof clients.create>) {
  const errors: HoldfastError[] = []
  client.on('error', (e) => errors.push(e))
  return errors
}

test('a proxy that drops the Upgrade header: the server answers 426 and the error says so; the client moves to SSE', async () => {
  const p = await start()
  p.fault('/ws', 'strip-upgrade')
  const debug: string[] = []
  const client = clients.create({
    url: p.url,
    transports: ['websocket', 'sse'],
    debug: (message, details) => debug.push(`${message} ${(details as Error | undefined)?.message ?? ''}`),
  })
  const errors = watch(client)
  client.subscribe('room', () => {})
  await until(() => client.state.status === 'connected', 10_000, 'connected over SSE')
  expect(client.state).toMatchObject({ transport: 'sse' })
  const upgrade = errors.find((e) => e.code === 'transport_unavailable')
  expect(upgrade?.message).toMatch(/426.*a proxy dropped the Upgrade header.*docs\/proxies\.md/)
  expect(upgrade?.cause).toEqual({ status: 426, hop: 'proxy' })
  // rws reports a failed handshake as a close with code 1000; the log must not repeat that.
  expect(debug.join('\n')).not.toMatch(/\(1000\)/)
  expect(debug.join('\n')).toMatch(/websocket closed: unusable.*426/)
})

test("a refused Origin: the WebSocket handshake's 403 is named as such", async () => {
  await start({ allowedOrigins: ['https://app.example'] })
  class FromElsewhere extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { origin: 'https://evil.example' })
    }
  }
  const client = clients.create({
    url: server!.url!,
    transports: ['websocket'],
    WebSocket: FromElsewhere as never,
  })
  const errors = watch(client)
  client.subscribe('room', () => {})
  await until(() => errors.length > 0, 10_000, 'the refusal')
  expect(errors[0]!.message).toMatch(/HTTP 403 .*the page's Origin is not in allowedOrigins/)
})

test("a proxy's 504 on a long poll: named as the proxy's, with the fix, without its HTML page", async () => {
  const p = await start()
  p.fault('/poll', 'gateway-timeout')
  const client = clients.create({ url: p.url, transports: ['longpoll'] })
  const errors = watch(client)
  client.subscribe('room', () => {})
  await until(() => errors.length > 0, 10_000, 'the 504')
  const [error] = errors
  expect(error!.code).toBe('disconnected')
  expect(error!.message).toMatch(/^\[holdfast\] HTTP 504 without a Holdfast error body: a proxy timed out/)
  expect(error!.message).toMatch(/read timeout must exceed the long-poll hold/)
  expect(error!.message).not.toMatch(/<html|nginx/)
  expect(error!.cause).toEqual({ status: 504, hop: 'proxy' })
})

test('a proxy that holds even the response headers of the SSE stream: said within the open timeout, not as a 45 s silence', async () => {
  const p = await start()
  p.fault('/sse', 'hold-headers')
  const client = clients.create({ url: p.url, transports: ['sse'], openTimeoutMs: 1000 })
  const errors = watch(client)
  client.subscribe('room', () => {})
  await until(() => errors.length > 0, 10_000, 'the timeout')
  expect(errors[0]!.message).toMatch(/no answer from the SSE endpoint within 1000 ms.*a proxy holds it/)
})

test('a proxy that buffers the SSE stream: said as such', async () => {
  const p = await start()
  p.fault('/sse', 'hold-body')
  const client = clients.create({ url: p.url, transports: ['sse'], openTimeoutMs: 1000 })
  const errors = watch(client)
  client.subscribe('room', () => {})
  await until(() => errors.length > 0, 10_000, 'the buffering')
  expect(errors[0]).toMatchObject({ code: 'proxy_buffering' })
  expect(errors[0]!.message).toMatch(
    /first event did not arrive within 1000 ms: a proxy buffers it; turn buffering off/,
  )
})
