import type { ConnectionState, HoldfastClient } from '@holdfast/client'
import { latest } from '@holdfast/client/delivery'
import { act, render, screen } from '@testing-library/react'
import { Component, type ReactNode, useEffect, useState } from 'react'
import { describe, expect, test, vi } from 'vitest'
import {
  HoldfastProvider,
  type PublishFunction,
  type SubscriptionResult,
  useConnectionState,
  useHoldfastClient,
  usePublish,
  useSubscription,
} from '../src'
import { countStateListeners, createFakeServer, fakeClient } from './fakeServer'
import { closeAfterTest, Show, setup, until, waitText } from './render'

/** Two subscribers of `room`; the button unmounts the second. */
function TwoOnRoom() {
  const [both, setBoth] = useState(true)
  return (
    <>
      <Show channel="room" id="a" />
      {both && <Show channel="room" id="b" />}
      <button type="button" onClick={() => setBoth(false)}>
        one
      </button>
    </>
  )
}

function Badge({ onStatus }: { onStatus: (status: ConnectionState['status']) => void }) {
  const state = useConnectionState()
  onStatus(state.status)
  return <span data-testid="badge">{state.status}</span>
}

class Boundary extends Component<{ children: ReactNode }, { error?: Error }> {
  override state: { error?: Error } = {}
  static getDerivedStateFromError(error: Error) {
    return { error }
  }
  override render() {
    const e = this.state.error as (Error & { code?: string }) | undefined
    return e ? <p data-testid="boundary">caught {e.code}</p> : this.props.children
  }
}

/** Subscribes to `room` once the button turns it on. */
function Toggle() {
  const [enabled, setEnabled] = useState(false)
  return (
    <>
      <Show channel="room" options={{ enabled }} />
      <button type="button" onClick={() => setEnabled(true)}>
        on
      </button>
    </>
  )
}

/** Channel `a`, then `b` after a click; reports every render as `channel=data`. */
function SwitchRoom({ onRender }: { onRender: (rendered: string) => void }) {
  const [channel, setChannel] = useState('a')
  const { data } = useSubscription<string>(channel)
  onRender(`${channel}=${data ?? '-'}`)
  return (
    <button type="button" onClick={() => setChannel('b')}>
      {channel}:{data ?? '-'}
    </button>
  )
}

/** Passes an onMessage that closes over state which changes right after mount. */
function LatestHandler({ onCall }: { onCall: (label: string) => void }) {
  const [label, setLabel] = useState('first')
  useEffect(() => setLabel('second'), [])
  return <Show channel="room" options={{ onMessage: () => onCall(label) }} />
}

/**
 * Re-renders once and hands out the publish function of every committed render (React 18's StrictMode
 * throws away the first render's `useCallback` on mount; what matters is what effects see).
 */
function Publisher({ onPublish }: { onPublish: (publish: PublishFunction<{ text: string }>) => void }) {
  const [, rerender] = useState(0)
  const publish = usePublish<{ text: string }>()
  useEffect(() => onPublish(publish))
  useEffect(() => rerender(1), [])
  return null
}

function Orphan() {
  useHoldfastClient()
  return null
}

function WhichClient({ onClient }: { onClient: (client: HoldfastClient) => void }) {
  onClient(useHoldfastClient())
  return null
}

describe('useSubscription in StrictMode', () => {
  test('two components on one channel share one network subscription and both get every message', async () => {
    const { server, wrap } = setup()
    render(
      wrap(
        <>
          <Show channel="room" id="a" />
          <Show channel="room" id="b" />
        </>,
      ),
    )
    await waitText('a', 'live:null')
    await waitText('b', 'live:null')
    await until(() => expect(server.sent('subscribe', 'room')).toHaveLength(1))
    act(() => {
      server.publish('room', { n: 1 })
    })
    await waitText('a', 'live:{"n":1}')
    await waitText('b', 'live:{"n":1}')
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
    expect(server.sent('unsubscribe')).toHaveLength(0)
    expect(server.constructed).toBe(1)
  })

  test("StrictMode's mount, unmount, mount keeps one client subscription per component (no churn)", async () => {
    const { client, wrap } = setup()
    const subscribe = vi.spyOn(client, 'subscribe')
    render(wrap(<Show channel="room" />))
    await waitText('room', 'live:null')
    // Without the deferred release StrictMode would subscribe, unsubscribe and subscribe again.
    expect(subscribe).toHaveBeenCalledTimes(1)
  })

  test('unmounting the last component sends unsubscribe and leaves no listener on the client', async () => {
    const { server, client, wrap } = setup()
    const stateListeners = countStateListeners(client)
    const view = render(wrap(<TwoOnRoom />))
    await waitText('b', 'live:null')
    await until(() => expect(server.sent('subscribe', 'room')).toHaveLength(1))
    expect(stateListeners()).toBe(2)

    await act(async () => screen.getByText('one').click())
    expect(stateListeners()).toBe(1)
    expect(server.sent('unsubscribe')).toHaveLength(0)

    view.unmount()
    await until(() => expect(server.sent('unsubscribe', 'room')).toHaveLength(1))
    expect(stateListeners()).toBe(0)
    act(() => {
      server.publish('room', 'after unmount')
    })
    expect(server.sockets[0]?.channels.has('room')).toBe(false)
  })
})

describe('state follows the connection', () => {
  test('useConnectionState goes connecting → connected → reconnecting after a drop, and useSubscription with it', async () => {
    const { server, wrap } = setup({}, { backoff: { initialMs: 60_000, maxMs: 60_000 } })
    const states: ConnectionState['status'][] = []
    const statuses: SubscriptionResult['status'][] = []
    render(
      wrap(
        <>
          <Badge onStatus={(status) => states.at(-1) !== status && states.push(status)} />
          <Show
            channel="room"
            seen={(r) => {
              if (statuses.at(-1) !== r.status) statuses.push(r.status)
            }}
          />
        </>,
      ),
    )
    await waitText('badge', 'connected')
    await waitText('room', 'live:null')
    act(() => server.dropAll())
    await waitText('badge', 'reconnecting')
    await waitText('room', 'subscribing:null')
    expect(states).toEqual(['connecting', 'connected', 'reconnecting'])
    expect(statuses).toEqual(['subscribing', 'live', 'subscribing'])
  })

  test('the result carries the connection state beside the data', async () => {
    const { wrap } = setup()
    let last: SubscriptionResult | undefined
    render(wrap(<Show channel="room" seen={(r) => (last = r)} />))
    await waitText('room', 'live:null')
    expect(last?.connection).toMatchObject({ status: 'connected', transport: 'websocket' })
  })
})

describe('messages', () => {
  test('data is the last message, messages the last `keep`, onMessage sees every one', async () => {
    const { server, wrap } = setup()
    const onMessage = vi.fn()
    let last: SubscriptionResult<number> | undefined
    render(wrap(<Show<number> channel="room" options={{ keep: 2, onMessage }} seen={(r) => (last = r)} />))
    await waitText('room', 'live:null')
    await until(() => expect(server.sent('subscribe')).toHaveLength(1))
    act(() => {
      for (const n of [1, 2, 3]) server.publish('room', n)
    })
    await waitText('room', 'live:3')
    expect(last?.messages.map((m) => m.data)).toEqual([2, 3])
    expect(last?.lastMessage).toEqual({ channel: 'room', cursor: 'e:3', data: 3 })
    expect(onMessage.mock.calls.map(([m]) => m.data)).toEqual([1, 2, 3])
  })

  test('keep defaults to 1; keep: 0 keeps no array but still the last message', async () => {
    const { server, wrap } = setup()
    const results: Record<string, SubscriptionResult<number>> = {}
    render(
      wrap(
        <>
          <Show<number> channel="room" id="one" seen={(r) => (results.one = r)} />
          <Show<number> channel="room" id="none" options={{ keep: 0 }} seen={(r) => (results.none = r)} />
        </>,
      ),
    )
    await until(() => expect(server.sent('subscribe')).toHaveLength(1))
    await waitText('one', 'live:null')
    act(() => {
      server.publish('room', 1)
      server.publish('room', 2)
    })
    await waitText('one', 'live:2')
    await waitText('none', 'live:2')
    expect(results.one?.messages.map((m) => m.data)).toEqual([2])
    expect(results.none?.messages).toEqual([])
  })

  test('an invalid keep throws during render with a message that says what is allowed', () => {
    const { wrap } = setup()
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    expect(() => render(wrap(<Show channel="room" options={{ keep: -1 }} />))).toThrow(/non-negative integer/)
    error.mockRestore()
  })

  test('delivery is passed to client.subscribe: `latest` hands over only the newest of a burst', async () => {
    const { server, wrap } = setup()
    const onMessage = vi.fn()
    render(wrap(<Show<number> channel="room" options={{ onMessage, delivery: latest('tick') }} />))
    await until(() => expect(server.sent('subscribe')).toHaveLength(1))
    await waitText('room', 'live:null')
    act(() => {
      for (const n of [1, 2, 3]) server.publish('room', n)
    })
    await waitText('room', 'live:3')
    expect(onMessage.mock.calls.map(([m]) => m.data)).toEqual([3])
  })
})

describe('errors and gaps are state', () => {
  test('a refused channel gives status error with the HoldfastError, without throwing', async () => {
    const { wrap } = setup({ refuse: (c) => c === 'secret' })
    render(wrap(<Show channel="secret" />))
    await waitText('secret', 'error:null:forbidden')
  })

  test('throwOnError hands the error to the nearest error boundary', async () => {
    const { wrap } = setup({ refuse: (c) => c === 'secret' })
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    render(
      wrap(
        <Boundary>
          <Show channel="secret" options={{ throwOnError: true }} />
        </Boundary>,
      ),
    )
    await waitText('boundary', 'caught forbidden')
    error.mockRestore()
  })

  test('throwOnError as a function decides per error', async () => {
    const { wrap } = setup({ refuse: (c) => c === 'secret' })
    const decide = vi.fn(() => false)
    render(wrap(<Show channel="secret" options={{ throwOnError: decide }} />))
    await waitText('secret', 'error:null:forbidden')
    expect(decide).toHaveBeenCalledWith(expect.objectContaining({ code: 'forbidden' }))
  })

  test('an invalid channel name is an error state, not a crash', async () => {
    const { wrap } = setup()
    render(wrap(<Show channel="no spaces allowed" id="bad" />))
    await waitText('bad', 'error:null:invalid_channel')
  })

  test('a resume the server cannot honour sets gap', async () => {
    const { wrap } = setup()
    let last: SubscriptionResult | undefined
    render(wrap(<Show channel="room" options={{ since: 'lost:5' }} seen={(r) => (last = r)} />))
    await until(() =>
      expect(last?.gap).toEqual({ channel: 'room', since: 'lost:5', epoch: 'e', cursor: 'e:0' }),
    )
    expect(last?.status).toBe('live')
  })
})

describe('options that change', () => {
  test('enabled: false subscribes to nothing; turning it on subscribes', async () => {
    const { server, wrap } = setup()
    render(wrap(<Toggle />))
    await until(() => expect(server.sent('connect')).toHaveLength(1))
    await waitText('room', 'idle:null')
    expect(server.sent('subscribe')).toHaveLength(0)
    await act(async () => screen.getByText('on').click())
    await waitText('room', 'live:null')
    await until(() => expect(server.sent('subscribe', 'room')).toHaveLength(1))
  })

  test("a new channel never shows the old channel's data and moves the network subscription", async () => {
    const { server, wrap } = setup()
    const rendered: string[] = []
    render(wrap(<SwitchRoom onRender={(r) => rendered.push(r)} />))
    await until(() => expect(server.sent('subscribe', 'a')).toHaveLength(1))
    act(() => {
      server.publish('a', 'from a')
    })
    await until(() => expect(screen.getByRole('button').textContent).toBe('a:from a'))
    await act(async () => screen.getByRole('button').click())
    await until(() => expect(server.sent('subscribe', 'b')).toHaveLength(1))
    await until(() => expect(server.sent('unsubscribe', 'a')).toHaveLength(1))
    expect(rendered).not.toContain('b=from a')
    act(() => {
      server.publish('b', 'from b')
    })
    await until(() => expect(screen.getByRole('button').textContent).toBe('b:from b'))
  })

  test('the latest onMessage is called, without resubscribing', async () => {
    const { server, wrap } = setup()
    const calls: string[] = []
    render(wrap(<LatestHandler onCall={(label) => calls.push(label)} />))
    await until(() => expect(server.sent('subscribe')).toHaveLength(1))
    await waitText('room', 'live:null')
    act(() => {
      server.publish('room', 1)
    })
    await until(() => expect(calls).toEqual(['second']))
    expect(server.sent('subscribe')).toHaveLength(1)
  })
})

describe('usePublish and the provider', () => {
  test('usePublish returns one stable function that publishes over the network', async () => {
    const { server, wrap } = setup()
    const fns = new Set<unknown>()
    let publish: PublishFunction<{ text: string }> | undefined
    render(
      wrap(
        <Publisher
          onPublish={(fn) => {
            publish = fn
            fns.add(fn)
          }}
        />,
      ),
    )
    await until(() => expect(server.sent('connect')).toHaveLength(1))
    const result = await act(() => publish!('room', { text: 'hi' }))
    expect(result).toEqual({ cursor: 'e:1', duplicate: false })
    expect(server.sent('publish')).toEqual([
      expect.objectContaining({ channel: 'room', data: { text: 'hi' } }),
    ])
    expect(fns.size).toBe(1)
  })

  test('useHoldfastClient outside a provider says how to fix it', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    expect(() => render(<Orphan />)).toThrow(/inside <HoldfastProvider client=\{client\}>/)
    error.mockRestore()
  })

  test('a nested provider gives its subtree another client', () => {
    const outer = setup()
    const inner = closeAfterTest(fakeClient(createFakeServer()))
    const seen: HoldfastClient[] = []
    render(
      outer.wrap(
        <>
          <WhichClient onClient={(c) => seen.push(c)} />
          <HoldfastProvider client={inner}>
            <WhichClient onClient={(c) => seen.push(c)} />
          </HoldfastProvider>
        </>,
      ),
    )
    expect(new Set(seen)).toEqual(new Set([outer.client, inner]))
  })
})
