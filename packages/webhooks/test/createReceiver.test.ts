import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sign } from '../src/index'
import {
  createReceiver,
  type DedupeStore,
  MemoryDedupeStore,
  type ReceivedWebhook,
  type ReceiverOptions,
} from '../src/receiver/index'
import { SECRET, startServer, type TestServer, until } from './helpers'

let server: TestServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function serve(options: Partial<ReceiverOptions> & { handler?: ReceiverOptions['handler'] } = {}) {
  const handled: ReceivedWebhook[] = []
  const receiver = createReceiver({
    secret: SECRET,
    handler: (webhook) => {
      handled.push(webhook)
    },
    onError: () => {},
    ...options,
  })
  server = await startServer(receiver)
  return { receiver, handled, url: server.url }
}

async function signedRequest(options: { id?: string; payload?: string; timestampSec?: number } = {}) {
  const body = options.payload ?? '{"type":"invoice.paid","data":{"id":"in_1"}}'
  const headers = await sign({
    id: options.id ?? `msg_${Math.random().toString(36).slice(2)}`,
    timestamp: options.timestampSec ?? Math.floor(Date.now() / 1000),
    payload: body,
    secret: SECRET,
  })
  return { headers: { ...headers, 'content-type': 'application/json' }, body }
}

async function post(url: string, request: { headers: Record<string, string>; body: string }) {
  const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body })
  return { status: response.status, json: (await response.json()) as Record<string, any> }
}

describe('createReceiver', () => {
  it('answers 200 before the handler finishes, then runs the handler with the parsed payload', async () => {
    let finish!: () => void
    const gate = new Promise<void>((resolve) => (finish = resolve))
    const started: string[] = []
    const finished: string[] = []
    const { url } = await serve({
      handler: async (webhook) => {
        started.push(webhook.id)
        await gate
        finished.push(webhook.id)
      },
    })
    const request = await signedRequest({ id: 'msg_fast_ack' })
    const response = await post(url, request)
    expect(response).toEqual({ status: 200, json: { ok: true } })
    expect(finished).toEqual([])
    await until(() => started.length === 1)
    finish()
    await until(() => finished.length === 1)
    expect(finished).toEqual(['msg_fast_ack'])
  })

  it('gives the handler the id, timestamp and parsed payload', async () => {
    const { url, handled, receiver } = await serve()
    const timestampSec = Math.floor(Date.now() / 1000)
    await post(url, await signedRequest({ id: 'msg_payload', timestampSec }))
    await receiver.drain()
    expect(handled).toHaveLength(1)
    expect(handled[0]).toMatchObject({
      id: 'msg_payload',
      timestamp: timestampSec,
      payload: { type: 'invoice.paid', data: { id: 'in_1' } },
    })
  })

  it('processes a duplicate once: the second copy answers 200 duplicate without running the handler', async () => {
    const { url, handled, receiver } = await serve()
    const request = await signedRequest({ id: 'msg_dup' })
    expect(await post(url, request)).toEqual({ status: 200, json: { ok: true } })
    expect(await post(url, request)).toEqual({ status: 200, json: { ok: true, duplicate: true } })
    // A re-send of the same id with a fresh timestamp and signature is a duplicate too.
    const resent = await signedRequest({ id: 'msg_dup', timestampSec: Math.floor(Date.now() / 1000) + 1 })
    expect(await post(url, resent)).toEqual({ status: 200, json: { ok: true, duplicate: true } })
    await receiver.drain()
    expect(handled).toHaveLength(1)
  })

  it('answers 401 invalid_signature for a tampered body and does not run the handler', async () => {
    const { url, handled, receiver } = await serve()
    const request = await signedRequest()
    const response = await post(url, { ...request, body: request.body.replace('in_1', 'in_2') })
    expect(response.status).toBe(401)
    expect(response.json.error).toMatchObject({ code: 'invalid_signature' })
    expect(response.json.error.message).toMatch(/^\[holdfast\]/)
    await receiver.drain()
    expect(handled).toHaveLength(0)
  })

  it('answers 401 timestamp_too_old for a replay outside the 5-minute window', async () => {
    const { url } = await serve()
    const response = await post(
      url,
      await signedRequest({ timestampSec: Math.floor(Date.now() / 1000) - 600 }),
    )
    expect(response.status).toBe(401)
    expect(response.json.error.code).toBe('timestamp_too_old')
  })

  it('answers 400 missing_header when a webhook header is absent', async () => {
    const { url } = await serve()
    const request = await signedRequest()
    const { 'webhook-signature': _, ...headers } = request.headers
    const response = await post(url, { headers, body: request.body })
    expect(response.status).toBe(400)
    expect(response.json.error.code).toBe('missing_header')
  })

  it('answers 400 invalid_payload when the verified body is not JSON', async () => {
    const { url, handled, receiver } = await serve()
    const response = await post(url, await signedRequest({ payload: 'hello' }))
    expect(response.status).toBe(400)
    expect(response.json.error.code).toBe('invalid_payload')
    await receiver.drain()
    expect(handled).toHaveLength(0)
  })

  it('accepts any body with parse: "none"', async () => {
    const { url, handled, receiver } = await serve({ parse: 'none' })
    expect((await post(url, await signedRequest({ payload: 'hello' }))).status).toBe(200)
    await receiver.drain()
    expect(handled[0]!.text()).toBe('hello')
  })

  it('does not let a forged request burn an id: dedupe runs after verification', async () => {
    const { url, handled, receiver } = await serve()
    const request = await signedRequest({ id: 'msg_forged_first' })
    expect((await post(url, { ...request, body: '{"evil":true}' })).status).toBe(401)
    expect(await post(url, request)).toEqual({ status: 200, json: { ok: true } })
    await receiver.drain()
    expect(handled).toHaveLength(1)
  })

  it('answers 413 payload_too_large for a body (with Content-Length) over maxBodyBytes', async () => {
    const { url, handled } = await serve({ maxBodyBytes: 64 })
    const response = await post(
      url,
      await signedRequest({ payload: JSON.stringify({ pad: 'x'.repeat(100) }) }),
    )
    expect(response.status).toBe(413)
    expect(response.json.error.code).toBe('payload_too_large')
    expect(handled).toHaveLength(0)
  })

  it('answers 413 for a chunked body that grows past maxBodyBytes', async () => {
    const { url } = await serve({ maxBodyBytes: 64 })
    const request = await signedRequest()
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${url}/`, { method: 'POST', headers: request.headers }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      for (let i = 0; i < 10; i++) req.write('x'.repeat(32))
      req.end()
    })
    expect(status).toBe(413)
  })

  it('answers 500 body_unavailable when a framework already parsed the body, and accepts a raw Buffer body', async () => {
    const handled: string[] = []
    const receiver = createReceiver({
      secret: SECRET,
      handler: (w) => void handled.push(w.id),
      onError: () => {},
    })
    const request = await signedRequest({ id: 'msg_raw_buffer' })
    server = await startServer((req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const raw = Buffer.concat(chunks)
        // Like express.json() for /parsed, like express.raw() for /raw.
        req.body = req.url === '/parsed' ? JSON.parse(raw.toString()) : raw
        void receiver(req, res)
      })
    })
    const parsed = await post(`${server.url}/parsed`, request)
    expect(parsed.status).toBe(500)
    expect(parsed.json.error.code).toBe('body_unavailable')
    expect(parsed.json.error.message).toMatch(/express\.raw/)
    expect(await post(`${server.url}/raw`, request)).toEqual({ status: 200, json: { ok: true } })
    await receiver.drain()
    expect(handled).toEqual(['msg_raw_buffer'])
  })

  it('when the async handler throws: reports it to onError and releases the id so a re-send is processed', async () => {
    const onError = vi.fn()
    let calls = 0
    const { url, receiver } = await serve({
      onError,
      handler: () => {
        calls++
        if (calls === 1) throw new Error('database down')
      },
    })
    const request = await signedRequest({ id: 'msg_handler_fails' })
    expect((await post(url, request)).status).toBe(200)
    await receiver.drain()
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'database down' }),
      expect.objectContaining({ id: 'msg_handler_fails' }),
    )
    expect(await post(url, request)).toEqual({ status: 200, json: { ok: true } })
    await receiver.drain()
    expect(calls).toBe(2)
  })

  it('with releaseOnError: false, a failed id stays taken', async () => {
    let calls = 0
    const { url, receiver } = await serve({
      releaseOnError: false,
      handler: () => {
        calls++
        throw new Error('boom')
      },
    })
    const request = await signedRequest({ id: 'msg_keep_taken' })
    await post(url, request)
    await receiver.drain()
    expect((await post(url, request)).json).toEqual({ ok: true, duplicate: true })
    await receiver.drain()
    expect(calls).toBe(1)
  })

  it('with awaitHandler: true, a failing handler answers 500 so the sender retries, and the retry is processed', async () => {
    let calls = 0
    const { url } = await serve({
      awaitHandler: true,
      handler: () => {
        calls++
        if (calls === 1) throw new Error('transient')
      },
    })
    const request = await signedRequest({ id: 'msg_sync' })
    const first = await post(url, request)
    expect(first.status).toBe(500)
    expect(first.json.error.code).toBe('handler_failed')
    expect(await post(url, request)).toEqual({ status: 200, json: { ok: true } })
    expect(calls).toBe(2)
  })

  it('answers 503 unavailable when the dedupe store fails, without running the handler', async () => {
    const broken: DedupeStore = {
      claim: async () => {
        throw new Error('redis down')
      },
      release: async () => {},
    }
    const { url, handled, receiver } = await serve({ dedupe: broken })
    const response = await post(url, await signedRequest())
    expect(response.status).toBe(503)
    expect(response.json.error.code).toBe('unavailable')
    await receiver.drain()
    expect(handled).toHaveLength(0)
  })

  it('handle() runs the same pipeline for other frameworks, with a Headers instance', async () => {
    const handled: string[] = []
    const receiver = createReceiver({ secret: [SECRET], handler: (w) => void handled.push(w.id) })
    const request = await signedRequest({ id: 'msg_handle' })
    const response = await receiver.handle({ headers: new Headers(request.headers), rawBody: request.body })
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toMatch(/application\/json/)
    expect(JSON.parse(response.body)).toEqual({ ok: true })
    await receiver.drain()
    expect(handled).toEqual(['msg_handle'])
    const again = await receiver.handle({ headers: new Headers(request.headers), rawBody: request.body })
    expect(JSON.parse(again.body)).toEqual({ ok: true, duplicate: true })
  })

  it('refuses an invalid secret at creation', () => {
    expect(() => createReceiver({ secret: 'whsec_%%%', handler: () => {} })).toThrow(
      expect.objectContaining({ code: 'invalid_secret' }),
    )
  })
})

describe('MemoryDedupeStore', () => {
  it('remembers an id for the TTL (48 h in the receiver), then forgets it', async () => {
    let now = 0
    const store = new MemoryDedupeStore({ now: () => now })
    const ttl = 48 * 3600_000
    expect(await store.claim('a', ttl)).toBe(true)
    expect(await store.claim('a', ttl)).toBe(false)
    now = ttl - 1
    expect(await store.claim('a', ttl)).toBe(false)
    now = ttl
    expect(await store.claim('a', ttl)).toBe(true)
  })

  it('release() lets the id be claimed again', async () => {
    const store = new MemoryDedupeStore()
    await store.claim('a', 1000)
    await store.release('a')
    expect(await store.claim('a', 1000)).toBe(true)
  })

  it('stays within maxEntries by forgetting the oldest ids', async () => {
    const store = new MemoryDedupeStore({ maxEntries: 2 })
    for (const id of ['a', 'b', 'c']) await store.claim(id, 60_000)
    expect(await store.claim('c', 60_000)).toBe(false)
    expect(await store.claim('b', 60_000)).toBe(false)
    expect(await store.claim('a', 60_000)).toBe(true)
  })

  it('the receiver uses a 48 h TTL by default', async () => {
    const claim = vi.fn(async () => true)
    const receiver = createReceiver({
      secret: SECRET,
      handler: () => {},
      dedupe: { claim, release: async () => {} },
    })
    const request = await signedRequest()
    await receiver.handle({ headers: request.headers, rawBody: request.body })
    expect(claim).toHaveBeenCalledWith(request.headers['webhook-id'], 48 * 60 * 60 * 1000)
  })
})
