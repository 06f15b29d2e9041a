import { createServer, type HoldfastServer } from '@holdfast/server'
import { SignJWT } from 'jose'
import { afterEach, expect, test } from 'vitest'
import type { HoldfastError } from '../../src'
import { collectNumbers, until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'

const secret = 'integration-secret-integration-secret'
let server: HoldfastServer | undefined
const clients = nodeClients()

afterEach(async () => {
  clients.closeAll()
  await server?.close()
})

function token(sub: string, expSeconds: number) {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(new TextEncoder().encode(secret))
}

async function start() {
  server = createServer({
    auth: { secret },
    authorize: (user, channel) => !channel.startsWith('admin.') || user?.sub === 'root',
  })
  await server.listen(0)
  return server.url!
}

function client(url: string, getToken: () => Promise<string> | string) {
  return clients.create({
    url,
    getToken,
    transports: ['websocket'],
    lazy: false,
    backoff: { initialMs: 20, maxMs: 100 },
  })
}

test('a bad token stops the client with a typed error; everyone else keeps being served', async () => {
  const url = await start()
  const good = client(url, () => token('alice', 60))
  const got = collectNumbers(good, 'news')
  const bad = client(url, () => 'not-a-jwt')
  await until(() => bad.state.status === 'closed', 5000, 'the bad client to stop')
  expect(bad.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
  await until(() => good.state.status === 'connected', 5000, 'the good client')
  await new Promise((r) => setTimeout(r, 100))
  await server!.publish('news', 1)
  await until(() => got.received.length === 1, 5000, 'delivery to the good client')
})

test('an expired token is refreshed and the client connects with the new one', async () => {
  const url = await start()
  let calls = 0
  const c = client(url, () => (++calls === 1 ? token('bob', -60) : token('bob', 60)))
  await until(() => c.state.status === 'connected', 5000, 'connected after refresh')
  expect(calls).toBe(2)
})

test('an unauthorized channel gets forbidden on its own; other channels on the socket keep working', async () => {
  const url = await start()
  const c = client(url, () => token('alice', 60))
  const errors: HoldfastError[] = []
  c.subscribe('admin.audit', () => {}, { onError: (e) => errors.push(e) })
  const got = collectNumbers(c, 'news')
  await until(() => errors.length === 1, 5000, 'the refusal')
  expect(errors[0]!.code).toBe('forbidden')
  await expect(c.publish('admin.audit', { x: 1 })).rejects.toMatchObject({ code: 'forbidden' })
  await server!.publish('news', 7)
  await until(() => got.received.length === 1, 5000, 'delivery on the allowed channel')
  expect(c.state.status).toBe('connected')
})

test.each(['sse', 'longpoll'] as const)(
  '%s: an unauthorized channel gets forbidden on its own; the other channels keep working, as on WebSocket',
  async (transport) => {
    const url = await start()
    const c = clients.create({
      url,
      getToken: () => token('alice', 60),
      transports: [transport],
      lazy: false,
    })
    const errors: HoldfastError[] = []
    const otherErrors: HoldfastError[] = []
    c.subscribe('admin.audit', () => {}, { onError: (e) => errors.push(e) })
    c.subscribe('news', () => {}, { onError: (e) => otherErrors.push(e) })
    const got = collectNumbers(c, 'news')
    // Before the fix: the client went to closed(forbidden) and no onError was called.
    await until(() => errors.length === 1, 5000, 'the refusal')
    expect(errors[0]!.code).toBe('forbidden')
    await until(() => c.state.status === 'connected', 5000, 'connected with the other channels')
    await expect(c.publish('admin.audit', { x: 1 })).rejects.toMatchObject({ code: 'forbidden' })
    await c.publish('news', 7)
    await until(() => got.received.length === 1, 5000, 'delivery on the allowed channel')
    expect(c.state.status).toBe('connected')
    expect(otherErrors).toEqual([])
  },
)

test('an oversize publish is refused with message_too_large and the connection stays up', async () => {
  const url = await start()
  const c = client(url, () => token('alice', 60))
  await until(() => c.state.status === 'connected', 5000, 'connected')
  await expect(c.publish('news', 'x'.repeat(200 * 1024))).rejects.toMatchObject({ code: 'message_too_large' })
  await expect(c.publish('news', 'small')).resolves.toMatchObject({ duplicate: false })
})
