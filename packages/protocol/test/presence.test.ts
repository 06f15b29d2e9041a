import { describe, expect, test } from 'vitest'
import { compareCursors, isChannelName, parseCursor } from '../src'
import {
  decodePresenceEvent,
  isConnectionId,
  parsePresenceChannel,
  presenceChannel,
  presenceEnterChannel,
  SNAPSHOT_DONE_MINOR,
  snapshotCursor,
  snapshotStage,
} from '../src/presence'

describe('presence channel names (PROTOCOL.md §8)', () => {
  test('a watch name and an enter name round-trip, and are channel names', () => {
    expect(parsePresenceChannel(presenceChannel('chat.room~42'))).toEqual({ channel: 'chat.room~42' })
    const enter = presenceEnterChannel('chat.room', 'abcdEFGH_-12')
    expect(enter).toBe('chat.room~presence~abcdEFGH_-12')
    expect(parsePresenceChannel(enter)).toEqual({ channel: 'chat.room', connectionId: 'abcdEFGH_-12' })
    expect(isChannelName(enter)).toBe(true)
  })

  test('ordinary names are not presence names, even with "presence" or "~" in them', () => {
    for (const name of ['chat', 'a~b', 'presence', 'a~presenceX', 'a~presences~b', 'a.presence'])
      expect(parsePresenceChannel(name)).toBeUndefined()
  })

  test('a reserved segment used wrongly is null (answered invalid_channel), never an ordinary channel', () => {
    for (const name of [
      '~presence',
      '~presence~abcdefgh',
      'a~presence~short',
      `a~presence~${'x'.repeat(65)}`,
      'a~presence~abc.defgh',
      `${'a'.repeat(195)}~presence`,
    ])
      expect(parsePresenceChannel(name), name).toBeNull()
  })

  test('connection ids are 8 to 64 of A-Z a-z 0-9 _ -', () => {
    expect(isConnectionId('12345678')).toBe(true)
    expect(isConnectionId('x'.repeat(64))).toBe(true)
    expect(isConnectionId('1234567')).toBe(false)
    expect(isConnectionId('1234567.')).toBe(false)
    expect(isConnectionId(12345678)).toBe(false)
  })
})

describe('snapshot cursors', () => {
  test('start < pages < last < the next event, all valid cursors of the log epoch', () => {
    const cursors = [
      'e:41',
      snapshotCursor('e', 41, 'start'),
      snapshotCursor('e', 41, 1),
      snapshotCursor('e', 41, 2),
      snapshotCursor('e', 41, 'last'),
      'e:42',
    ]
    for (const c of cursors) expect(parseCursor(c), c).not.toBeNull()
    for (let i = 1; i < cursors.length; i++)
      expect(compareCursors(cursors[i - 1]!, cursors[i]!), `${cursors[i - 1]} < ${cursors[i]}`).toBeLessThan(
        0,
      )
    expect(snapshotCursor('e', 41, 'last')).toBe(`e:41-${SNAPSHOT_DONE_MINOR}`)
  })

  test('a cursor says whether it holds a whole state', () => {
    expect(snapshotStage(parseCursor('e:41')!.minor)).toBe('event')
    expect(snapshotStage(parseCursor(snapshotCursor('e', 41, 'start'))!.minor)).toBe('start')
    expect(snapshotStage(parseCursor(snapshotCursor('e', 41, 3))!.minor)).toBe('page')
    expect(snapshotStage(parseCursor(snapshotCursor('e', 41, 'last'))!.minor)).toBe('done')
  })
})

describe('presence events', () => {
  const member = { clientId: 'alice', connectionId: 'conn0001', info: { name: 'Alice' } }
  test('valid events decode as themselves', () => {
    const events = [
      { event: 'snapshot', members: [member], count: 1, clients: 1, more: false },
      { event: 'join', member, count: 1, clients: 1 },
      { event: 'update', member, count: 1, clients: 1 },
      { event: 'leave', member, count: 0, clients: 0, reason: 'expired' },
      { event: 'refused', code: 'too_many_subscriptions', message: 'full' },
    ]
    for (const e of events) expect(decodePresenceEvent(e)).toBe(e)
  })

  test('anything else is undefined, never a partial event', () => {
    for (const bad of [
      null,
      'join',
      { event: 'join', member, count: 1 },
      { event: 'join', member: { clientId: 'a', connectionId: 'short' }, count: 1, clients: 1 },
      { event: 'leave', member, count: 0, clients: 0, reason: 'gone' },
      { event: 'snapshot', members: [member], count: 1, clients: 1 },
      { event: 'snapshot', members: [{}], count: 1, clients: 1, more: false },
      { event: 'refused', code: 'no_such_code', message: 'x' },
      { event: 'other', count: 1, clients: 1 },
      { event: 'join', member, count: -1, clients: 1 },
    ])
      expect(decodePresenceEvent(bad), JSON.stringify(bad)).toBeUndefined()
  })
})
