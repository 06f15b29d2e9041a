// Issue 11, item 10: a feed inside React's `<Activity>` hidden, then shown, resumes from its last delivered
// cursor, not from its mount-time `since`: nothing published while hidden is skipped without a gap, nothing
// is delivered twice (which would break `key={m.cursor}`). React 19 only: React 18 has no `<Activity>`.
import { act, render, screen } from '@testing-library/react'
import { Activity, useState } from 'react'
import { describe, expect, test } from 'vitest'
import type { SubscriptionResult, UseSubscriptionOptions } from '../src'
import { cursors, recorder, Show, setup, until, waitText } from './render'

type Seen = (r: SubscriptionResult<number>) => void

/** A feed of `room` inside `<Activity>`, hidden and shown by two buttons. */
function HiddenFeed({ options, seen }: { options?: UseSubscriptionOptions<number>; seen: Seen }) {
  const [visible, setVisible] = useState(true)
  return (
    <>
      <Activity mode={visible ? 'visible' : 'hidden'}>
        <Show<number>
          channel="room"
          id="feed"
          options={{ keep: Number.POSITIVE_INFINITY, ...options }}
          seen={seen}
        />
      </Activity>
      <button type="button" onClick={() => setVisible(false)}>
        hide
      </button>
      <button type="button" onClick={() => setVisible(true)}>
        show
      </button>
    </>
  )
}

describe.each([
  { mode: 'StrictMode', strict: true },
  { mode: 'no StrictMode', strict: false },
])('a feed inside <Activity> hidden, then shown ($mode)', ({ strict }) => {
  test('gets what was published while it was hidden, once each, resuming from its last delivered cursor', async () => {
    const { server, wrap } = setup({}, {}, strict)
    const { seen, record } = recorder()
    render(wrap(<HiddenFeed seen={record} />))
    await waitText('feed', 'live:null')
    act(() => {
      server.publish('room', 1)
      server.publish('room', 2)
    })
    await waitText('feed', 'live:2')

    await act(async () => screen.getByText('hide').click())
    await until(() => expect(server.sent('unsubscribe', 'room')).toHaveLength(1))
    act(() => {
      server.publish('room', 3)
      server.publish('room', 4)
    })
    await act(async () => screen.getByText('show').click())
    await until(() => expect(server.sent('subscribe', 'room')).toHaveLength(2))
    expect(server.sent('subscribe', 'room')[1]?.since).toBe('e:2')
    await waitText('feed', 'live:4')
    act(() => {
      server.publish('room', 5)
    })
    await waitText('feed', 'live:5')
    expect(seen.last?.messages.map((m) => m.data)).toEqual([1, 2, 3, 4, 5])
    expect(cursors(seen.last?.messages)).toEqual(['e:1', 'e:2', 'e:3', 'e:4', 'e:5'])
    expect(seen.last?.gap).toBeUndefined()
  })

  test('with `since` given at mount, is not replayed from that `since` again (no message twice)', async () => {
    const { server, wrap } = setup({}, {}, strict)
    const { seen, record } = recorder()
    server.publish('room', 1)
    render(wrap(<HiddenFeed options={{ since: 'e:0' }} seen={record} />))
    await waitText('feed', 'live:1')
    act(() => {
      server.publish('room', 2)
    })
    await waitText('feed', 'live:2')

    await act(async () => screen.getByText('hide').click())
    await until(() => expect(server.sent('unsubscribe', 'room')).toHaveLength(1))
    act(() => {
      server.publish('room', 3)
    })
    await act(async () => screen.getByText('show').click())
    await waitText('feed', 'live:3')
    expect(server.sent('subscribe', 'room').map((f) => f.since)).toEqual(['e:0', 'e:2'])
    expect(cursors(seen.last?.messages)).toEqual(['e:1', 'e:2', 'e:3'])
  })

  test('hidden before any message arrived: resumes from where the server started it', async () => {
    const { server, wrap } = setup({}, {}, strict)
    const { seen, record } = recorder()
    server.publish('room', 1)
    render(wrap(<HiddenFeed seen={record} />))
    await waitText('feed', 'live:null')
    await act(async () => screen.getByText('hide').click())
    await until(() => expect(server.sent('unsubscribe', 'room')).toHaveLength(1))
    act(() => {
      server.publish('room', 2)
    })
    await act(async () => screen.getByText('show').click())
    await waitText('feed', 'live:2')
    expect(server.sent('subscribe', 'room')[1]?.since).toBe('e:1')
    expect(cursors(seen.last?.messages)).toEqual(['e:2'])
  })

  test('while another component keeps the channel subscribed: reports the messages it missed as a gap, and none twice', async () => {
    const { server, wrap } = setup({}, {}, strict)
    const { seen, record } = recorder()
    render(
      wrap(
        <>
          <Show channel="room" id="other" />
          <HiddenFeed seen={record} />
        </>,
      ),
    )
    await waitText('feed', 'live:null')
    act(() => {
      server.publish('room', 1)
      server.publish('room', 2)
    })
    await waitText('feed', 'live:2')

    await act(async () => screen.getByText('hide').click())
    act(() => {
      server.publish('room', 3)
      server.publish('room', 4)
    })
    await waitText('other', 'live:4')
    await act(async () => screen.getByText('show').click())
    await until(() =>
      expect(seen.last?.gap).toEqual({ channel: 'room', since: 'e:2', epoch: 'e', cursor: 'e:4' }),
    )
    act(() => {
      server.publish('room', 5)
    })
    await waitText('feed', 'live:5')
    expect(cursors(seen.last?.messages)).toEqual(['e:1', 'e:2', 'e:5'])
    // One network subscription throughout: the other component held it.
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
  })
})
