import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createServer, HoldfastServerError } from '../src/index'
import { connect, SECRET, signToken, startServer } from './helpers/fixtures'

function publish(server: { url: string }, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function rawGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = ''
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('POST /publish', () => {
  it('stores the message and answers its cursor', async () => {
    const server = await startServer()
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'news' })
    await socket.nextOfType('subscribed')
    const response = await publish(server, { channel: 'news', data: { title: 'hello' } })
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body).toEqual({ cursor: expect.any(String), duplicate: false })
    expect(await socket.nextOfType('message')).toMatchObject({
      cursor: body.cursor,
      data: { title: 'hello' },
    })
  })

  it('honours Idempotency-Key: a retried request stores nothing and answers the first cursor', async () => {
    const server = await startServer()
    const first = await (
      await publish(server, { channel: 'news', data: 1 }, { 'idempotency-key': 'req-1' })
    ).json()
    const retry = await (
      await publish(server, { channel: 'news', data: 1 }, { 'idempotency-key': 'req-1' })
    ).json()
    expect(retry).toEqual({ cursor: first.cursor, duplicate: true })
    const other = await (
      await publish(server, { channel: 'news', data: 1 }, { 'idempotency-key': 'req-2' })
    ).json()
    expect(other.duplicate).toBe(false)
    const since = `${first.cursor.split(':')[0]}:0`
    const { messages } = await server.broker.read('news', { since })
    expect(messages).toHaveLength(2)
  })

  it('rejects bad bodies with typed 4xx errors', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 1024 } })
    const cases: Array<[string | object, Record<string, string>, number, string]> = [
      ['{not json', {}, 400, 'bad_request'],
      ['[1,2]', {}, 400, 'bad_request'],
      [{ data: 1 }, {}, 400, 'invalid_channel'],
      [{ channel: 'bad channel', data: 1 }, {}, 400, 'invalid_channel'],
      [{ channel: 'ok' }, {}, 400, 'bad_request'],
      [{ channel: 'ok', data: 1 }, { 'idempotency-key': 'has space' }, 400, 'bad_request'],
      [{ channel: 'ok', data: 'x'.repeat(2000) }, {}, 413, 'message_too_large'],
    ]
    for (const [body, headers, status, code] of cases) {
      const response = await publish(server, body, headers)
      expect([body, response.status]).toEqual([body, status])
      expect(await response.json()).toEqual({ error: { code, message: expect.any(String) } })
    }
  })

  it('stops reading a chunked body as soon as it exceeds the limit', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 1024 } })
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      // No Content-Length: the limit must be enforced while streaming.
      req.write('{"channel":"ok","data":"')
      req.write('x'.repeat(4096))
    })
    expect(status).toBe(413)
  })

  it('requires a valid token and authorization to publish', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: (_u, channel) => channel !== 'locked',
    })
    const body = { channel: 'open', data: 1 }
    expect((await publish(server, body)).status).toBe(401)
    const expired = await publish(server, body, {
      authorization: `Bearer ${await signToken({ expSec: -1 })}`,
    })
    expect(expired.status).toBe(401)
    expect((await expired.json()).error.code).toBe('token_expired')
    const auth = { authorization: `Bearer ${await signToken()}` }
    expect((await publish(server, { channel: 'locked', data: 1 }, auth)).status).toBe(403)
    expect((await publish(server, body, auth)).status).toBe(200)
  })
})

describe('HTTP basics', () => {
  it('reports health, 404s unknown paths, 405s wrong methods and 426s a plain GET on /ws', async () => {
    const server = await startServer()
    const health = await fetch(`${server.url}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
    const wrong = await fetch(`${server.url}/publish`)
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toContain('POST')
    expect((await fetch(`${server.url}/ws`)).status).toBe(426)
  })

  it('grants CORS to allowed origins, including preflight, and refuses others with 403', async () => {
    const server = await startServer({ allowedOrigins: ['https://app.example'] })
    const preflight = await fetch(`${server.url}/publish`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const allowed = preflight.headers.get('access-control-allow-headers')!.toLowerCase()
    for (const header of ['authorization', 'content-type', 'idempotency-key', 'last-event-id'])
      expect(allowed).toContain(header)
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')

    const poll = await fetch(`${server.url}/poll?channel=a`, { headers: { origin: 'https://app.example' } })
    expect(poll.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(poll.headers.get('access-control-expose-headers')).toContain('holdfast-gap')

    for (const method of ['OPTIONS', 'GET']) {
      const refused = await fetch(`${server.url}/poll?channel=a`, {
        method,
        headers: { origin: 'https://evil.example' },
      })
      expect(refused.status).toBe(403)
      expect(refused.headers.get('access-control-allow-origin')).toBeNull()
      expect((await refused.json()).error.code).toBe('forbidden')
    }
  })

  it('by default allows requests without Origin and from its own host only', async () => {
    const server = await startServer()
    const host = new URL(server.url).host
    expect((await fetch(`${server.url}/health`, { headers: { origin: `http://${host}` } })).status).toBe(200)
    expect((await fetch(`${server.url}/health`, { headers: { origin: 'http://elsewhere:1' } })).status).toBe(
      403,
    )
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    const anyOrigin = await startServer({ allowedOrigins: ['*'] })
    expect(
      (await fetch(`${anyOrigin.url}/health`, { headers: { origin: 'http://elsewhere:1' } })).status,
    ).toBe(200)
  })

  it('an open server trusts same-host pages only on loopback names (DNS rebinding), an authenticated one on any host', async () => {
    // A rebinding page on evil.test, resolved to 127.0.0.1, sends Host and Origin that match each other.
    const status = (url: string, host: string, upgrade = false) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${url}/poll?channel=a&timeoutMs=0`, {
          headers: {
            host,
            origin: `http://${host}`,
            ...(upgrade
              ? {
                  connection: 'Upgrade',
                  upgrade: 'websocket',
                  'sec-websocket-version': '13',
                  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
                  'sec-websocket-protocol': 'holdfast.v1',
                }
              : {}),
          },
          ...(upgrade ? { path: '/ws' } : {}),
        })
        req.on('response', (res) => {
          res.resume()
          resolve(res.statusCode!)
        })
        req.on('upgrade', (res, socket) => {
          socket.destroy()
          resolve(res.statusCode!)
        })
        req.on('error', reject)
        req.end()
      })
    const open = await startServer()
    const port = new URL(open.url).port
    expect(await status(open.url, `evil.test:${port}`)).toBe(403)
    expect(await status(open.url, `evil.test:${port}`, true)).toBe(403)
    for (const host of [`localhost:${port}`, `app.localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      expect(await status(open.url, host), host).toBe(200)
    expect(await status(open.url, `localhost:${port}`, true)).toBe(101)
    // With authentication a rebinding page has no token: same-host pages on a real name are the normal case.
    const authed = await startServer({ auth: { secret: SECRET } })
    const authedPort = new URL(authed.url).port
    expect(await status(authed.url, `rt.example.com:${authedPort}`)).toBe(401)
  })

  it('serves every endpoint under basePath', async () => {
    const server = await startServer({ basePath: '/holdfast' })
    expect(server.url).toMatch(/\/holdfast$/)
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    expect((await fetch(server.url.replace(/\/holdfast$/, '/health'))).status).toBe(404)
    const socket = await connect(server)
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
  })

  it('attaches to an existing HTTP server and leaves its own routes alone', async () => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('host app')
    })
    const holdfast = createServer()
    holdfast.attach(http)
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(async () => {
      await holdfast.close()
      await new Promise((resolve) => http.close(resolve))
    })
    const url = holdfast.url!
    expect(url).toBe(`http://127.0.0.1:${holdfast.port}`)
    expect(await (await fetch(`${url}/`)).text()).toBe('host app')
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' })
    const socket = await connect({ url })
    socket.send({ type: 'publish', id: 1, channel: 'c', data: 1 })
    await socket.nextOfType('ack')
  })

  it('serves a static site with index.html fallback and never outside its root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-static-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>demo</title>')
    writeFileSync(join(dir, 'app.js'), 'console.log(1)')
    const server = await startServer({ staticDir: dir })
    const index = await fetch(`${server.url}/`)
    expect(index.headers.get('content-type')).toContain('text/html')
    expect(await index.text()).toContain('<title>demo</title>')
    const script = await fetch(`${server.url}/app.js`)
    expect(script.headers.get('content-type')).toContain('javascript')
    expect(await (await fetch(`${server.url}/rooms/42`)).text()).toContain('<title>demo</title>')
    expect((await fetch(`${server.url}/missing.css`)).status).toBe(404)
    // A file right next to the root, reached with an encoded "../" that clients do not normalise away.
    const outside = join(dir, '..', `${dir.split('/').pop()}-secret.txt`)
    writeFileSync(outside, 'top secret')
    onTestFinished(() => rmSync(outside, { force: true }))
    const escaped = await rawGet(`${server.url}/..%2f${outside.split('/').pop()}`)
    expect(escaped.body).not.toContain('top secret')
    expect(escaped.status).toBe(404)
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' })
  })
})

describe('server.publish', () => {
  it('validates like the endpoints do', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 100 } })
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => 'resolved',
        (error: unknown) => (error instanceof HoldfastServerError ? error.code : String(error)),
      )
    expect(await codeOf(server.publish('bad channel', 1))).toBe('invalid_channel')
    expect(await codeOf(server.publish('ok', undefined))).toBe('bad_request')
    expect(await codeOf(server.publish('ok', 10n))).toBe('bad_request')
    expect(await codeOf(server.publish('ok', 'x'.repeat(200)))).toBe('message_too_large')
    expect(await codeOf(server.publish('ok', 1, { idempotencyKey: '' }))).toBe('bad_request')
    expect(await server.publish('ok', 1, { idempotencyKey: 'k' })).toMatchObject({ duplicate: false })
    expect(await server.publish('ok', 1, { idempotencyKey: 'k' })).toMatchObject({ duplicate: true })
  })

  it('rejects listen on a taken port and can listen again elsewhere', async () => {
    const taken = await startServer()
    const server = createServer()
    onTestFinished(() => server.close())
    await expect(server.listen(taken.port!, { host: '127.0.0.1' })).rejects.toThrow(/EADDRINUSE/)
    await server.listen(0, { host: '127.0.0.1' })
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('refuses nonsense options at creation with a message that says how to fix it', () => {
    expect(() => createServer({ allowedOrigins: ['app.example'] })).toThrow(/not an origin/)
    expect(() => createServer({ limits: { maxMessageBytes: 0 } })).toThrow(/maxMessageBytes/)
    expect(() => createServer({ basePath: 'holdfast' })).toThrow(/basePath/)
  })
})
