import { describe, expect, test } from 'vitest'
import {
  CloseCode,
  closeAction,
  compareCursors,
  comparePositions,
  decodeClientFrame,
  decodeServerFrame,
  ErrorCode,
  formatCursorMap,
  formatPosition,
  formatRetryAfterReason,
  isChannelName,
  isErrorCode,
  parseCursor,
  parseCursorMap,
  parseRetryAfter,
  parseRetryAfterReason,
  resolveResume,
} from '../src'

describe('cursors', () => {
  test('parse plain and Redis-style offsets', () => {
    expect(parseCursor('ab:12')).toEqual({ epoch: 'ab', major: 12, minor: 0 })
    expect(parseCursor('ab:1700000000000-3')).toEqual({ epoch: 'ab', major: 1700000000000, minor: 3 })
    for (const bad of [
      '',
      'ab',
      ':1',
      'ab:',
      'ab:x',
      'a b:1',
      'ab:1-',
      'ab:-1',
      'ab:99999999999999999',
      42,
      null,
    ]) {
      expect(parseCursor(bad)).toBeNull()
    }
  })

  test('compare within an epoch; different epochs are not comparable', () => {
    expect(compareCursors('e:2', 'e:10')).toBeLessThan(0)
    expect(compareCursors('e:5-1', 'e:5-0')).toBeGreaterThan(0)
    expect(compareCursors('e:5', 'e:5-0')).toBe(0)
    expect(compareCursors('e:1', 'f:1')).toBeNaN()
    expect(compareCursors('e:1', 'garbage')).toBeNaN()
  })

  test('cursor maps round-trip and reject any malformed entry whole', () => {
    const map = new Map([
      ['chat.room:42', 'e1:7'],
      ['news', 'e2:0'],
    ])
    expect(parseCursorMap(formatCursorMap(map))).toEqual(map)
    expect(parseCursorMap('')).toEqual(new Map())
    expect(parseCursorMap('a=e:1,b')).toBeNull()
    expect(parseCursorMap('a=e:1,b=notacursor')).toBeNull()
    expect(parseCursorMap('bad name=e:1')).toBeNull()
    expect(parseCursorMap('x'.repeat(20_000))).toBeNull()
  })

  test('channel names', () => {
    expect(isChannelName('chat.room:42/a@b~c_d-e')).toBe(true)
    for (const bad of ['', 'a b', 'a,b', 'a=b', 'x'.repeat(201), 'ü', 7])
      expect(isChannelName(bad)).toBe(false)
  })
})

describe('client frames', () => {
  test('valid frames decode to exactly their fields', () => {
    expect(decodeClientFrame('{"type":"subscribe","id":1,"channel":"c","since":"e:3","extra":1}')).toEqual({
      ok: true,
      frame: { type: 'subscribe', id: 1, channel: 'c', since: 'e:3' },
    })
    expect(
      decodeClientFrame('{"type":"publish","id":2,"channel":"c","data":null,"key":"k-1"}'),
    ).toMatchObject({
      ok: true,
      frame: { data: null, key: 'k-1' },
    })
  })

  test.each([
    ['not json', 'bad_frame'],
    ['[1,2]', 'bad_frame'],
    ['{"id":1}', 'bad_frame'],
    ['{"type":"nope"}', 'bad_frame'],
    ['{"type":"subscribe","id":-1,"channel":"c"}', 'bad_frame'],
    ['{"type":"subscribe","id":1.5,"channel":"c"}', 'bad_frame'],
    ['{"type":"subscribe","id":1,"channel":"a b"}', 'invalid_channel'],
    ['{"type":"subscribe","id":1,"channel":"c","since":"zz"}', 'invalid_cursor'],
    ['{"type":"publish","id":1,"channel":"c"}', 'bad_frame'],
    ['{"type":"publish","id":1,"channel":"c","data":1,"key":"has space"}', 'bad_frame'],
    ['{"type":"auth","id":1,"token":""}', 'bad_frame'],
  ])('%s is rejected with %s', (raw, code) => {
    const result = decodeClientFrame(raw)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error.code).toBe(code)
  })

  test('binary input is rejected, not thrown', () => {
    expect(decodeClientFrame(Buffer.from('{}'))).toMatchObject({ ok: false })
  })
})

describe('server frames and close codes', () => {
  test('messages need channel, cursor and data', () => {
    expect(decodeServerFrame('{"type":"message","channel":"c","cursor":"e:1","data":1}').ok).toBe(true)
    expect(decodeServerFrame('{"type":"message","channel":"c","data":1}').ok).toBe(false)
    expect(decodeServerFrame('{"type":"error","code":"made_up","message":"x"}').ok).toBe(false)
  })

  test('the close-code classes tell the client what to do', () => {
    expect(closeAction(CloseCode.ServerRestart)).toBe('reconnect')
    expect(closeAction(CloseCode.SlowConsumer)).toBe('reconnect')
    expect(closeAction(CloseCode.TokenExpired)).toBe('refresh')
    expect(closeAction(CloseCode.Unauthorized)).toBe('refresh')
    expect(closeAction(CloseCode.Forbidden)).toBe('stop')
    expect(closeAction(CloseCode.ProtocolError)).toBe('stop')
    expect(closeAction(1006)).toBe('reconnect')
  })

  test('retry-after close reasons', () => {
    expect(parseRetryAfterReason(formatRetryAfterReason(1234.4))).toBe(1234)
    expect(parseRetryAfterReason('{"retryAfterMs":-1}')).toBeUndefined()
    expect(parseRetryAfterReason('restarting')).toBeUndefined()
    expect(parseRetryAfterReason('{broken')).toBeUndefined()
  })
})

describe('resume rule', () => {
  const log = { epoch: 'e', head: { major: 10, minor: 0 }, trimmedThrough: { major: 4, minor: 0 } }

  test('without since: start at the head, nothing to replay', () => {
    expect(resolveResume(undefined, log)).toEqual({ recovered: true, from: 'e:10', after: log.head })
  })

  test('since between the trim point and the head (both included) is recovered', () => {
    for (const since of ['e:4', 'e:7', 'e:10', 'e:7-2']) {
      const point = resolveResume(since, log)
      expect(point.recovered, since).toBe(true)
      expect(point.from).toBe(since)
      expect(point.after).toEqual(parseCursor(since) && { ...parseCursor(since) })
    }
  })

  test('another epoch, a trimmed position, a position past the head or garbage is a gap from the trim point', () => {
    for (const since of ['x:7', 'e:3', 'e:3-9', 'e:11', 'e:10-1', 'nonsense']) {
      expect(resolveResume(since, log), since).toEqual({
        recovered: false,
        from: 'e:4',
        after: log.trimmedThrough,
      })
    }
  })

  test('positions order by major then minor; formatPosition drops a zero minor', () => {
    expect(comparePositions({ major: 5, minor: 1 }, { major: 5, minor: 0 })).toBeGreaterThan(0)
    expect(comparePositions({ major: 4, minor: 9 }, { major: 5, minor: 0 })).toBeLessThan(0)
    expect(formatPosition('e', { major: 5, minor: 0 })).toBe('e:5')
    expect(formatPosition('e', { major: 5, minor: 2 })).toBe('e:5-2')
  })
})

describe('Retry-After (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('Tue, 24 Nov 2026 10:00:00 GMT')
  test('delay-seconds and HTTP dates, in ms from now', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
    expect(parseRetryAfter('2147484', now)).toBe(2_147_484_000)
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:02:00 GMT', now)).toBe(120_000)
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0)
  })
  test('absent or unreadable values are undefined, not 0', () => {
    for (const bad of [null, undefined, '', '1.5', '-3', 'soon', '5 s']) {
      expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined()
    }
  })
})

test('isErrorCode knows exactly the codes of ErrorCode', () => {
  for (const code of Object.values(ErrorCode)) expect(isErrorCode(code), code).toBe(true)
  for (const bad of ['', ' ', 'made_up', 'forbidden ', 'bad_frame bad_request', 'Forbidden', 42, null])
    expect(isErrorCode(bad), String(bad)).toBe(false)
})
