// What the bindings rely on from the client core, pinned where the hooks depend on it.
import { createClient, type Message } from '@holdfast/client'
import { act, render } from '@testing-library/react'
import { describe, expect, test, vi } from 'vitest'
import { HoldfastProvider, useSubscription } from '../src'
import { closeAfterTest, Show, setup, text, until } from './render'

describe('the plain client re-asks a refused channel', () => {
  test('after `forbidden`, unsubscribe then subscribe in the same tick sends a subscribe and reports the answer', async () => {
    let allowed = false
    const { server, client } = setup({ refuse: () => !allowed })
    const first = { onError: vi.fn() }
    const sub = client.subscribe('secret', () => {}, first)
    await until(() =>
      expect(first.onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'forbidden' })),
    )

    allowed = true
    const again = { onSubscribed: vi.fn(), onError: vi.fn() }
    const got: Message[] = []
    sub.unsubscribe()
    client.subscribe('secret', (m) => got.push(m), again)
    await until(() => expect(again.onSubscribed).toHaveBeenCalledTimes(1))
    expect(server.sent('subscribe', 'secret')).toHaveLength(2)
    server.publish('secret', 1)
    await until(() => expect(got.map((m) => m.data)).toEqual([1]))
    expect(again.onError).not.toHaveBeenCalled()
  })
})

/**
 * A long-polling server as `@holdfast/server` and `@holdfast/testing` answer (`pollHandler.ts`): a poll
 * lists a `subscribed` entry only for a channel without a cursor, or one that could not be resumed; with
 * nothing to say it is held until a message arrives or the hold runs out (`endHolds`).
 */
function longPollServer() {
  const log = new Map<string, unknown[]>()
  /** Held polls: each is woken with `true` when the hold runs out, `false` when a message arrives. */
  const held = new Set<(expired: boolean) => void>()
  const wake = (expired: boolean) => {
    for (const fn of [...held]) fn(expired)
  }
  const json = (body: unknown) =>
    new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input))
    if (url.pathname === '/health') return json({ ok: true })
    const since = new Map<string, number>()
    for (const part of (url.searchParams.get('since') ?? '').split(',').filter(Boolean)) {
      const [channel, cursor] = part.split('=') as [string, string]
      since.set(channel, Number(cursor.slice(2)))
    }
    for (;;) {
      const body = { since: '', messages: [] as Message[], subscribed: [] as object[] }
      const next: string[] = []
      for (const channel of url.searchParams.getAll('channel')) {
        const messages = log.get(channel) ?? []
        const from = since.get(channel)
        if (from === undefined)
          body.subscribed.push({ channel, epoch: 'e', cursor: `e:${messages.length}`, recovered: true })
        for (let n = (from ?? messages.length) + 1; n <= messages.length; n++)
          body.messages.push({ channel, cursor: `e:${n}`, data: messages[n - 1] })
        next.push(`${channel}=e:${Math.max(from ?? 0, messages.length)}`)
      }
      body.since = next.join(',')
      if (body.messages.length > 0 || body.subscribed.length > 0) return json(body)
      const expired = await new Promise<boolean>((resolve, reject) => {
        const done = (expired: boolean) => {
          held.delete(done)
          resolve(expired)
        }
        held.add(done)
        init?.signal?.addEventListener('abort', () => {
          held.delete(done)
          reject(new DOMException('aborted', 'AbortError'))
        })
      })
      if (expired) return json(body)
    }
  }
  return {
    fetch,
    /** Polls the server holds right now. */
    get held() {
      return held.size
    },
    publish(channel: string, data: unknown) {
      const messages = log.get(channel) ?? []
      log.set(channel, messages)
      messages.push(data)
      wake(false)
    },
    /** The server's hold runs out: every held poll is answered, empty. */
    endHolds: () => wake(true),
  }
}

function longPollClient(server: ReturnType<typeof longPollServer>) {
  return closeAfterTest(
    createClient({ url: 'http://rt.test', transports: ['longpoll'], fetch: server.fetch, onOnline: false }),
  )
}

function ResumedFeed() {
  const { status } = useSubscription('room', { since: 'e:1' })
  return <p data-testid="room">{status}</p>
}

describe('confirmations the bindings depend on', () => {
  test('long polling: a channel subscribed with a cursor is confirmed (onSubscribed) once the server answered', async () => {
    const server = longPollServer()
    server.publish('room', 1)
    server.publish('room', 2)
    const client = longPollClient(server)
    const onSubscribed = vi.fn()
    const got: Message[] = []
    client.subscribe('room', (m) => got.push(m), { since: 'e:1', onSubscribed })
    // The answer that carried e:2 accepted the channel; its `subscribed` entries would come before its messages.
    await until(() => expect(got.map((m) => m.cursor)).toEqual(['e:2']))
    expect(onSubscribed).toHaveBeenCalled()
  })

  test('long polling: a hook resumed from a cursor on a quiet channel goes live once the server answered', async () => {
    const server = longPollServer()
    server.publish('room', 1)
    const client = longPollClient(server)
    render(
      <HoldfastProvider client={client}>
        <ResumedFeed />
      </HoldfastProvider>,
    )
    // Nothing after e:1: the first poll is held until the hold runs out, then answered empty.
    await until(() => expect(server.held).toBe(1))
    act(() => server.endHolds())
    await until(() => expect(client.state.status).toBe('connected'))
    // The client took the answer and polls again: the server has said all it will say.
    await until(() => expect(server.held).toBe(1))
    await act(async () => {})
    expect(text('room')).toBe('live')
  })

  test('a hook joining a channel that a plain `client.subscribe` holds live is live (no onSubscribed comes for it)', async () => {
    const { server, client, wrap } = setup()
    const onSubscribed = vi.fn()
    client.subscribe('room', () => {}, { onSubscribed })
    await until(() => expect(onSubscribed).toHaveBeenCalledTimes(1))
    render(wrap(<Show channel="room" />))
    await act(async () => {})
    // The server is asked nothing (the channel is live), and on a quiet channel no message confirms it.
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
    expect(text('room')).toBe('live:null')
  })
})
