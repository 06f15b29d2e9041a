// Issue 11, item 10: every resubscribe the bindings make resumes from the last delivered cursor, or
// reports a gap. Nothing published in between is skipped silently, nothing is delivered twice (which would
// break `key={m.cursor}`). `<Activity>` (React 19 only) is in activity.test.tsx.
import { act, render, screen } from '@testing-library/react'
import { useState } from 'react'
import { describe, expect, test } from 'vitest'
import type { SubscriptionResult } from '../src'
import { cursors, recorder, Show, setup, until, waitText } from './render'

type Seen = (r: SubscriptionResult<number>) => void

/** A feed of `room` whose `enabled` two buttons turn off and on. */
function PausedFeed({ seen }: { seen: Seen }) {
  const [enabled, setEnabled] = useState(true)
  return (
    <>
      <Show<number>
        channel="room"
        id="feed"
        options={{ keep: Number.POSITIVE_INFINITY, enabled }}
        seen={seen}
      />
      <button type="button" onClick={() => setEnabled(false)}>
        hide
      </button>
      <button type="button" onClick={() => setEnabled(true)}>
        show
      </button>
    </>
  )
}

/** A feed of `room` remounted (a new key) by a button, with `since` given at mount. */
function RemountedFeed({ since, seen }: { since: string; seen: Seen }) {
  const [key, setKey] = useState(0)
  return (
    <>
      <Show<number>
        key={key}
        channel="room"
        id="feed"
        options={{ keep: Number.POSITIVE_INFINITY, since }}
        seen={seen}
      />
      <button type="button" onClick={() => setKey(key + 1)}>
        remount
      </button>
    </>
  )
}

describe('resubscribes of the bindings', () => {
  test('`enabled` turned off and on keeps the messages and resumes from the last delivered cursor', async () => {
    const { server, wrap } = setup()
    const { seen, record } = recorder()
    render(wrap(<PausedFeed seen={record} />))
    await waitText('feed', 'live:null')
    act(() => {
      server.publish('room', 1)
      server.publish('room', 2)
    })
    await waitText('feed', 'live:2')
    await act(async () => screen.getByText('hide').click())
    await waitText('feed', 'idle:2')
    await until(() => expect(server.sent('unsubscribe', 'room')).toHaveLength(1))
    act(() => {
      server.publish('room', 3)
    })
    await act(async () => screen.getByText('show').click())
    await waitText('feed', 'live:3')
    expect(server.sent('subscribe', 'room')[1]?.since).toBe('e:2')
    expect(cursors(seen.last?.messages)).toEqual(['e:1', 'e:2', 'e:3'])
  })

  test('a keyed remount on a channel still held cannot be replayed from its `since`: it reports the gap', async () => {
    const { server, wrap } = setup()
    const { seen, record } = recorder()
    render(wrap(<RemountedFeed since="e:0" seen={record} />))
    await waitText('feed', 'live:null')
    act(() => {
      server.publish('room', 1)
      server.publish('room', 2)
    })
    await waitText('feed', 'live:2')
    // The old instance lets go a microtask after the new one subscribed, so the channel never drops and the
    // client keeps its one subscription: the new instance's `since` cannot be honoured.
    await act(async () => screen.getByText('remount').click())
    await until(() =>
      expect(seen.last?.gap).toEqual({ channel: 'room', since: 'e:0', epoch: 'e', cursor: 'e:2' }),
    )
    act(() => {
      server.publish('room', 3)
    })
    await waitText('feed', 'live:3')
    expect(cursors(seen.last?.messages)).toEqual(['e:3'])
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
  })
})
