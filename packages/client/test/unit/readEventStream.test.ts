// readEventStream against the WHATWG rules for interpreting an event stream (HTML, "Server-sent events":
// "Parsing an event stream" and "Interpreting an event stream"), one rule per test. Each test drives the reader
// through a fake fetch whose body the test writes chunk by chunk; `send` resolves only once the reader has taken
// the chunk in and is waiting for the next one, so "dispatched without waiting for the next chunk" is observable
// without sleeps.
import type { EventSourceMessage } from 'eventsource-parser'
import { describe, expect, test } from 'vitest'
import type { Timers } from '../../src/core/timers'
import { readEventStream } from '../../src/sse/readEventStream'

type Chunk = string | number[]

// The idle timeout is not under test here: its timer never fires.
const idleNeverFires: Timers = { setTimeout: () => ({}), clearTimeout: () => {} }

function openStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let readerWaits!: () => void
  let waiting = new Promise<void>((resolve) => {
    readerWaits = resolve
  })
  // highWaterMark 0: `pull` runs exactly when the reader asks for a chunk and none is queued.
  const body = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c
      },
      pull: () => readerWaits(),
    },
    { highWaterMark: 0 },
  )
  const events: EventSourceMessage[] = []
  const lastEventIds: string[] = []
  const retries: number[] = []
  const calls: string[] = []
  const ended = readEventStream({
    fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
    url: 'http://sse.test/events',
    headers: {},
    signal: new AbortController().signal,
    idleTimeoutMs: 45_000,
    timers: idleNeverFires,
    now: () => 0,
    onOpen: () => {},
    onEvent: (event) => {
      events.push(event)
      calls.push(`onEvent ${event.id}`)
    },
    onLastEventId: (id) => {
      lastEventIds.push(id)
      calls.push(`onLastEventId ${id}`)
    },
    onRetry: (ms) => retries.push(ms),
  })
  return {
    events,
    lastEventIds,
    retries,
    calls,
    /** Writes one chunk (text is UTF-8 encoded; numbers are raw bytes) and waits until the reader has fed it. */
    async send(chunk: Chunk) {
      await waiting
      waiting = new Promise((resolve) => {
        readerWaits = resolve
      })
      controller.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk))
      await waiting
    },
    /** Ends the response body and waits for the reader to finish. */
    async end() {
      await waiting
      controller.close()
      expect(await ended).toEqual({ opened: true, error: undefined })
    },
  }
}

/** Sends each chunk on its own, then ends the response. */
async function read(...chunks: Chunk[]) {
  const stream = openStream()
  for (const chunk of chunks) await stream.send(chunk)
  await stream.end()
  return stream
}

const bytes = (text: string) => [...new TextEncoder().encode(text)]
const data = (stream: { events: EventSourceMessage[] }) => stream.events.map((e) => e.data)

describe('decoding: UTF-8, with one leading BOM dropped', () => {
  test('a BOM at the start of the stream is dropped, even when split across chunks', async () => {
    expect(data(await read([0xef], [0xbb, 0xbf, ...bytes('data: x\n\n')]))).toEqual(['x'])
  })

  test('only one BOM is dropped: a second U+FEFF is part of the first field name, which is then unknown', async () => {
    expect(data(await read('\uFEFF\uFEFFdata: x\n\ndata: y\n\n'))).toEqual(['y'])
  })

  test('a U+FEFF after the start of the stream is text: at the start of a later chunk, or in a value', async () => {
    expect(data(await read('data: a\n\n', '\uFEFFdata: b\n\n', 'data: \uFEFFc\n\n'))).toEqual([
      'a',
      '\uFEFFc',
    ])
  })

  test('the bytes of a BOM decoded as Latin-1 text ("ï»¿") are not a BOM and are not dropped', async () => {
    expect(data(await read('ï»¿data: x\n\ndata: y\n\n'))).toEqual(['y'])
  })

  test('a character split across chunks is joined, and invalid UTF-8 becomes U+FFFD', async () => {
    const chunks = [...bytes('data: é€😀'), 0xff, ...bytes('\n\n')].map((b) => [b])
    expect(data(await read(...chunks))).toEqual(['é€😀\uFFFD'])
  })
})

describe('line endings: CRLF, lone CR and lone LF', () => {
  test('each ends a line, mixed in one stream', async () => {
    expect(data(await read('data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\n\n'))).toEqual(['a\nb\nc', 'd'])
  })

  test('a CRLF split between two chunks is one line end, not a line end and a blank line', async () => {
    expect(data(await read('data: a\r', '\ndata: b\r\n\r\n'))).toEqual(['a\nb'])
  })

  test('a chunk that decodes to no text (empty, or the start of a character) leaves the line-end state alone', async () => {
    const stream = await read('data: a\r', [], '\ndata: ', [0xc3], [0xa9, 0x0d], [], [0x0d])
    expect(data(stream)).toEqual(['a\né'])
  })

  test('a live stream dispatches an event ended by a CR blank line at once, without waiting for the next chunk', async () => {
    const stream = openStream()
    await stream.send('data: x\r\r')
    expect(data(stream)).toEqual(['x'])
    await stream.send('data: y\r')
    await stream.send('\r')
    expect(data(stream)).toEqual(['x', 'y'])
    await stream.end()
  })

  test('a blank line whose CRLF is split is acted on at its CR, and its LF then is not another blank line', async () => {
    const stream = openStream()
    await stream.send('id: 1\ndata: x\r\n\r')
    expect(stream.events).toEqual([{ id: '1', event: undefined, data: 'x' }])
    await stream.send('\nid: 2\n')
    await stream.send('\n')
    expect(stream.events).toHaveLength(1)
    expect(stream.lastEventIds).toEqual(['1', '2'])
    await stream.end()
  })

  test('an event ended by CR CR right before the end of the stream is dispatched', async () => {
    expect(data(await read('data: x\r\r'))).toEqual(['x'])
  })
})

describe('lines and fields', () => {
  test('a line starting with a colon is a comment: ignored, even inside an event', async () => {
    expect(data(await read(': data: no\n\ndata: a\n: data: no\ndata: b\n\n'))).toEqual(['a\nb'])
  })

  test('the value is everything after the first colon, less one leading space', async () => {
    expect(data(await read('data:x\n\ndata:  y\n\ndata: a: b\n\ndata:\tz\n\n'))).toEqual([
      'x',
      ' y',
      'a: b',
      '\tz',
    ])
  })

  test('a line with no colon is a field name with an empty value', async () => {
    const stream = await read('data\ndata\n\nevent\ndata: x\n\n')
    expect(stream.events).toEqual([
      { id: undefined, event: undefined, data: '\n' },
      { id: undefined, event: undefined, data: 'x' },
    ])
  })

  test('field names are compared exactly: other case, trailing space or unknown names are ignored', async () => {
    expect(data(await read('Data: a\nDATA: b\ndata : c\nfoo: d\ndata: e\n\n'))).toEqual(['e'])
  })
})

describe('dispatch at a blank line', () => {
  test('data lines are joined with LF and only the final LF is removed', async () => {
    expect(data(await read('data: a\ndata:\ndata: b\n\ndata:\ndata:\n\ndata: c\n\n'))).toEqual([
      'a\n\nb',
      '\n',
      'c',
    ])
  })

  test('a single empty data line is an event with empty data', async () => {
    expect(data(await read('data:\n\n'))).toEqual([''])
  })

  test('a block with no data field dispatches no event', async () => {
    expect(data(await read('event: a\n\n: comment\n\nretry: 5\n\nfoo: bar\n\n\n\n\r\r\r\n\r\n'))).toEqual([])
  })

  test('event names the event; when absent or empty it is the default, and it never carries over', async () => {
    const stream = await read(
      'event: a\nevent: b\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\nevent: c\n\ndata: 4\n\n',
    )
    expect(stream.events.map((e) => [e.event, e.data])).toEqual([
      ['b', '1'],
      [undefined, '2'],
      [undefined, '3'],
      [undefined, '4'],
    ])
  })
})

describe('the last event id', () => {
  test('an id field sets it for the event of its block, before that event is delivered', async () => {
    const stream = await read('id: 1\ndata: a\n\n')
    expect(stream.calls).toEqual(['onLastEventId 1', 'onEvent 1'])
  })

  test('a block with an id and no data moves it, though no event is dispatched', async () => {
    const stream = await read('data: a\n\nid: 7\n\n')
    expect(data(stream)).toEqual(['a'])
    expect(stream.lastEventIds).toEqual(['7'])
  })

  test('an empty id (with or without a colon) resets it to the empty string', async () => {
    const stream = await read('id: 1\n\nid\n\nid:\ndata: x\n\n')
    expect(stream.lastEventIds).toEqual(['1', '', ''])
    expect(stream.events).toEqual([{ id: '', event: undefined, data: 'x' }])
  })

  test('an id containing U+0000 is ignored: an earlier id of the block stands, or none', async () => {
    const stream = await read('id: 1\nid: a\u0000b\ndata: x\n\nid: \u0000\ndata: y\n\nid: \u0000\n\n')
    expect(stream.events.map((e) => e.id)).toEqual(['1', undefined])
    expect(stream.lastEventIds).toEqual(['1'])
  })

  test('a block without an id leaves it alone', async () => {
    const stream = await read('id: 1\ndata: a\n\ndata: b\n\n: c\n\n')
    expect(stream.events.map((e) => e.id)).toEqual(['1', undefined])
    expect(stream.lastEventIds).toEqual(['1'])
  })
})

describe('retry', () => {
  test('a value of only ASCII digits sets the reconnection time at once, even in a block never dispatched', async () => {
    const stream = openStream()
    await stream.send('retry: 1500\n')
    expect(stream.retries).toEqual([1500])
    await stream.send('retry: 0\nretry:007\n')
    await stream.end()
    expect(stream.retries).toEqual([1500, 0, 7])
  })

  test('any other value is ignored', async () => {
    const values = ['1.5', '-1', '+1', '1e3', ' 1000', '10 00', '1000 ', '١٠', '０', '', '0x10']
    const stream = await read(...values.map((v) => `retry: ${v}\n`), '\n')
    expect(stream.retries).toEqual([])
  })
})

describe('end of the stream', () => {
  test('an event with no blank line before the end is not dispatched, whatever its last line end', async () => {
    for (const tail of ['data: b\n', 'data: b\r\n', 'data: b\r', 'data: b']) {
      expect(data(await read('data: a\n\n', tail))).toEqual(['a'])
    }
  })

  test('the id of a block cut off by the end never takes effect', async () => {
    const stream = await read('id: 1\n\nid: 2\ndata: x\n')
    expect(stream.lastEventIds).toEqual(['1'])
    expect(stream.events).toEqual([])
  })
})

describe('all rules together', () => {
  // A literal reading of the spec over the whole body at once: the reader, fed the same bytes cut at random
  // places, must agree with it.
  function reference(body: Uint8Array) {
    const text = new TextDecoder().decode(body)
    const lines = text.split(/\r\n|\r|\n/)
    lines.pop() // an unterminated last line is pending data, discarded at the end
    const events: EventSourceMessage[] = []
    const lastEventIds: string[] = []
    const retries: number[] = []
    let buffer = ''
    let type = ''
    let id: string | undefined
    for (const line of lines) {
      if (line === '') {
        if (id !== undefined) lastEventIds.push(id)
        if (buffer !== '') events.push({ id, event: type || undefined, data: buffer.slice(0, -1) })
        buffer = ''
        type = ''
        id = undefined
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') type = value
      else if (field === 'data') buffer += `${value}\n`
      else if (field === 'id' && !value.includes('\0')) id = value
      else if (field === 'retry' && /^[0-9]+$/.test(value)) retries.push(Number(value))
    }
    return { events, lastEventIds, retries }
  }

  test('matches a literal reading of the algorithm on random streams cut at random places', async () => {
    let seed = 11 // mulberry32, so a failure reproduces
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
    }
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!
    const tokens = [
      'data',
      'id',
      'event',
      'retry',
      ':',
      ': ',
      'x',
      '7',
      ' ',
      '\0',
      'é',
      '\uFEFF',
      '\r',
      '\n',
      '\r\n',
    ]
    for (let round = 0; round < 300; round++) {
      let text = random() < 0.2 ? '\uFEFF' : ''
      const length = Math.floor(random() * 60)
      for (let i = 0; i < length; i++) text += pick(tokens)
      const body = new TextEncoder().encode(text)
      const chunks: number[][] = []
      for (let start = 0; start < body.length; ) {
        const end = start + Math.floor(random() * 6) // 0 to 5 bytes: empty chunks too
        chunks.push([...body.subarray(start, end)])
        start = end
      }
      const stream = await read(...chunks)
      const got = { events: stream.events, lastEventIds: stream.lastEventIds, retries: stream.retries }
      expect(got, JSON.stringify(text)).toEqual(reference(body))
    }
  })
})
