// usePresence over the fake server: StrictMode everywhere (setup's default), so every test also proves
// that the double mount keeps one subscription and one member.
import { act, render, screen } from '@testing-library/react'
import { useState } from 'react'
import { describe, expect, test, vi } from 'vitest'
import { type PresenceResult, usePresence } from '../src/presence'
import { countStateListeners, type FakeServer } from './fakeServer'
import { Show, setup, text, until, waitText } from './render'

const m = (clientId: string, connectionId: string, info?: unknown) => ({
  clientId,
  connectionId,
  ...(info === undefined ? {} : { info }),
})
let offset = 10
function push(server: FakeServer, data: unknown, cursor = `e:${++offset}`) {
  for (const socket of server.sockets)
    if (socket.channels.has('room~presence'))
      socket.push({ type: 'message', channel: 'room~presence', cursor, data })
}
const snapshot = (members: ReturnType<typeof m>[]) => ({
  event: 'snapshot',
  members,
  count: members.length,
  clients: new Set(members.map((x) => x.clientId)).size,
  more: false,
})

function Who({ id = 'who', enter, info }: { id?: string; enter?: boolean; info?: unknown }) {
  const p = usePresence('room', { enter, info })
  return (
    <p data-testid={id}>
      {p.status}:{p.members.map((u) => `${u.clientId}x${u.connections.length}`).join(',')}:{p.count}
      {p.error ? `:${p.error.code}` : ''}
    </p>
  )
}

/** Renames, stops entering, unmounts `Who` by its buttons. */
function Controls() {
  const [info, setInfo] = useState('A')
  const [enter, setEnter] = useState(true)
  const [shown, setShown] = useState(true)
  return (
    <>
      {shown && <Who enter={enter} info={info} />}
      <button type="button" onClick={() => setInfo('B')}>
        rename
      </button>
      <button type="button" onClick={() => setEnter(false)}>
        leave
      </button>
      <button type="button" onClick={() => setShown(false)}>
        unmount
      </button>
    </>
  )
}

/** Watches `room` only once its button turned `enabled` on; subscribes to `other` meanwhile. */
function Toggle() {
  const [enabled, setEnabled] = useState(false)
  const p = usePresence('room', { enabled, enter: true })
  return (
    <>
      <Show channel="other" />
      <p data-testid="toggle">
        {p.status}:{p.count}
      </p>
      <button type="button" onClick={() => setEnabled(true)}>
        enable
      </button>
    </>
  )
}

/** Watches `room`, then `lobby` once its button is clicked. */
function Move() {
  const [channel, setChannel] = useState('room')
  const p = usePresence(channel)
  return (
    <>
      <p data-testid="move">
        {channel}:{p.status}:{p.members.map((u) => u.clientId).join(',')}
      </p>
      <button type="button" onClick={() => setChannel('lobby')}>
        move
      </button>
    </>
  )
}

function Probe({ seen }: { seen: PresenceResult[] }) {
  seen.push(usePresence('room', { enter: true }))
  return null
}

describe('usePresence', () => {
  test('shows the snapshot, then re-renders on join and leave', async () => {
    const { server, wrap } = setup()
    render(wrap(<Who />))
    await until(() => expect(server.sent('subscribe', 'room~presence')).toHaveLength(1))
    expect(text('who')).toBe('syncing::0')
    act(() => push(server, snapshot([m('alice', 'conn0001'), m('alice', 'conn0002')]), 'e:5-999999'))
    await waitText('who', 'live:alicex2:2')
    act(() => push(server, { event: 'join', member: m('bob', 'conn0003'), count: 3, clients: 2 }))
    await waitText('who', 'live:alicex2,bobx1:3')
    act(() =>
      push(server, {
        event: 'leave',
        member: m('alice', 'conn0001'),
        count: 2,
        clients: 2,
        reason: 'expired',
      }),
    )
    await waitText('who', 'live:alicex1,bobx1:2')
  })

  test('components of one channel share one watch and one member, through a StrictMode double mount', async () => {
    const { server, client, wrap } = setup()
    const subscribe = vi.spyOn(client, 'subscribe')
    render(
      wrap(
        <>
          <Who id="a" enter info={{ name: 'A' }} />
          <Who id="b" enter />
        </>,
      ),
    )
    // The enter's publish is acked after both subscribes: a second subscribe or an unsubscribe (had the
    // double mount or the second component made one) would be on the wire by then.
    await until(() => expect(server.sent('publish')).toHaveLength(1))
    await waitText('a', 'syncing::0')
    expect(subscribe.mock.calls.map(([channel]) => channel.replace(/~presence~.*/, '~presence~…'))).toEqual([
      'room~presence',
      'room~presence~…',
    ])
    expect(server.sent('subscribe', 'room~presence')).toHaveLength(1)
    expect(server.sent('subscribe').filter((f) => /~presence~/.test(f.channel!))).toHaveLength(1)
    expect(server.sent('unsubscribe')).toEqual([])
    expect(server.sent('publish').map((f) => f.data)).toEqual([{ info: { name: 'A' } }])
  })

  test('a new info is an update; enter turned off leaves; unmounting the last component unsubscribes', async () => {
    const { server, client, wrap } = setup()
    const stateListeners = countStateListeners(client)
    render(wrap(<Controls />))
    const enterChannel = () => server.sent('subscribe').find((f) => /~presence~/.test(f.channel!))?.channel
    await until(() => expect(enterChannel()).toBeDefined())
    act(() => screen.getByText('rename').click())
    await until(() =>
      expect(server.sent('publish').map((f) => f.data)).toEqual([{ info: 'A' }, { info: 'B' }]),
    )
    act(() => screen.getByText('leave').click())
    await until(() => expect(server.sent('unsubscribe').map((f) => f.channel)).toEqual([enterChannel()]))
    act(() => screen.getByText('unmount').click())
    await until(() =>
      expect(server.sent('unsubscribe').map((f) => f.channel)).toEqual([enterChannel(), 'room~presence']),
    )
    // Nothing left behind by the observer (the double mount included) on the client.
    expect(stateListeners()).toBe(0)
  })

  test('enabled: false watches and enters nothing and shows idle; turning it on does both', async () => {
    const { server, wrap } = setup()
    render(wrap(<Toggle />))
    // The connection is up and carries another channel: a presence subscribe would have been sent with it.
    await waitText('other', 'live:null')
    expect(text('toggle')).toBe('idle:0')
    expect(server.sent('subscribe').map((f) => f.channel)).toEqual(['other'])
    act(() => screen.getByText('enable').click())
    await until(() =>
      expect(server.sent('subscribe').map((f) => f.channel!.replace(/~presence~.*/, '~presence~…'))).toEqual([
        'other',
        'room~presence',
        'room~presence~…',
      ]),
    )
    await waitText('toggle', 'syncing:0')
  })

  test("a new channel drops the old one's watch and never shows its members", async () => {
    const { server, wrap } = setup()
    render(wrap(<Move />))
    await until(() => expect(server.sent('subscribe', 'room~presence')).toHaveLength(1))
    act(() => push(server, snapshot([m('alice', 'conn0001')]), 'e:5-999999'))
    await waitText('move', 'room:live:alice')
    act(() => screen.getByText('move').click())
    expect(text('move')).toMatch(/^lobby:(idle|syncing):$/)
    await until(() => expect(server.sent('subscribe', 'lobby~presence')).toHaveLength(1))
    await until(() => expect(server.sent('unsubscribe').map((f) => f.channel)).toEqual(['room~presence']))
    await waitText('move', 'lobby:syncing:')
  })

  test('a refused enter is state: error with its code, still watching', async () => {
    const { server, wrap } = setup()
    const seen: PresenceResult[] = []
    render(wrap(<Probe seen={seen} />))
    await until(() => expect(server.sent('subscribe').some((f) => /~presence~/.test(f.channel!))).toBe(true))
    const channel = server.sent('subscribe').find((f) => /~presence~/.test(f.channel!))!.channel!
    act(() => {
      for (const s of server.sockets)
        s.push({
          type: 'message',
          channel,
          cursor: 'presence:1700000000000',
          data: { event: 'refused', code: 'too_many_subscriptions', message: 'full' },
        })
    })
    await until(() => expect(seen.at(-1)?.error?.code).toBe('too_many_subscriptions'))
    expect(seen.at(-1)?.status).toBe('syncing')
  })
})
