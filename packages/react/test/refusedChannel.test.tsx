// Issue 11, item 10: a refused channel that the app asks for again is sent again, and the hook's status is
// what the server answered: `subscribing` until `subscribed` arrives, then `live`; `error` when refused again.
import { act, render, screen } from '@testing-library/react'
import { useState } from 'react'
import { describe, expect, test } from 'vitest'
import type { SubscriptionResult } from '../src'
import { Show, setup, text, until, waitText } from './render'

type Seen = (r: SubscriptionResult) => void

/** The refused channel is asked for again by a keyed remount. */
function KeyedRemount({ seen }: { seen: Seen }) {
  const [key, setKey] = useState(0)
  return (
    <>
      <Show key={key} channel="secret" seen={seen} />
      <button type="button" onClick={() => setKey(key + 1)}>
        again
      </button>
    </>
  )
}

/** The refused channel is asked for again by turning `enabled` off, then on. */
function EnabledToggle({ seen }: { seen: Seen }) {
  const [enabled, setEnabled] = useState(true)
  return (
    <>
      <Show channel="secret" options={{ enabled }} seen={seen} />
      <button type="button" onClick={() => setEnabled(false)}>
        off
      </button>
      <button type="button" onClick={() => setEnabled(true)}>
        again
      </button>
    </>
  )
}

function Other({ seen }: { seen: Seen }) {
  return <Show channel="secret" seen={seen} />
}

/**
 * One component on the refused channel is replaced by another in the same commit: the channel's last
 * subscriber leaves and a new one comes in the same tick.
 */
function Swap({ seen }: { seen: Seen }) {
  const [other, setOther] = useState(false)
  return (
    <>
      {other ? <Other seen={seen} /> : <Show channel="secret" seen={seen} />}
      <button type="button" onClick={() => setOther(true)}>
        again
      </button>
    </>
  )
}

const paths = [
  { path: 'a keyed remount', App: KeyedRemount },
  { path: '`enabled` toggled off and on', App: EnabledToggle },
  { path: 'unsubscribe and subscribe in the same tick (one component replaced by another)', App: Swap },
]

describe.each([
  { mode: 'StrictMode', strict: true },
  { mode: 'no StrictMode', strict: false },
])('a refused channel asked for again ($mode)', ({ strict }) => {
  test.each(paths)(
    'after $path: a subscribe goes out, `subscribing` until the server confirms, then `live` and messages arrive',
    async ({ App }) => {
      let allowed = false
      let holding = false
      const { server, wrap } = setup(
        { refuse: (c) => c === 'secret' && !allowed, hold: () => holding },
        {},
        strict,
      )
      const statuses: string[] = []
      render(wrap(<App seen={(r) => statuses.push(r.status)} />))
      await waitText('secret', 'error:null:forbidden')
      expect(server.sent('subscribe', 'secret')).toHaveLength(1)

      allowed = true
      holding = true
      if (App === EnabledToggle) {
        await act(async () => screen.getByText('off').click())
        await waitText('secret', 'idle:null')
      }
      await act(async () => screen.getByText('again').click())
      await until(() => expect(server.sent('subscribe', 'secret')).toHaveLength(2))
      // The server has not answered yet: the subscription is not live.
      expect(text('secret')).toBe('subscribing:null')

      statuses.length = 0
      act(() => server.answerHeld())
      await waitText('secret', 'live:null')
      act(() => {
        server.publish('secret', 1)
      })
      await waitText('secret', 'live:1')
      expect(statuses).not.toContain('error')
    },
  )

  test.each(paths)(
    'after $path, refused again: a subscribe goes out and the status goes from `subscribing` to `error`, never `live`',
    async ({ App }) => {
      let holding = false
      const { server, wrap } = setup({ refuse: (c) => c === 'secret', hold: () => holding }, {}, strict)
      const statuses: string[] = []
      render(wrap(<App seen={(r) => statuses.push(r.status)} />))
      await waitText('secret', 'error:null:forbidden')
      expect(statuses).not.toContain('live')

      holding = true
      if (App === EnabledToggle) {
        await act(async () => screen.getByText('off').click())
        await waitText('secret', 'idle:null')
      }
      await act(async () => screen.getByText('again').click())
      await until(() => expect(server.sent('subscribe', 'secret')).toHaveLength(2))
      expect(text('secret')).toBe('subscribing:null')

      act(() => server.answerHeld())
      await waitText('secret', 'error:null:forbidden')
      expect(statuses).not.toContain('live')
    },
  )
})
