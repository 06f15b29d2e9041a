import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { generateSecret, sign, verify, WebhookVerificationError } from '../src/index'

// The secret and message of the Standard Webhooks reference test suites.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const OTHER_SECRET = 'whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz'
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek'
const PAYLOAD = '{"test": 2432232314}'
const NOW_MS = 1_700_000_000_000
const NOW_SEC = NOW_MS / 1000
const now = () => NOW_MS

async function expectCode(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(WebhookVerificationError)
  expect((error as WebhookVerificationError).code).toBe(code)
}

describe('interoperability with the standardwebhooks package', () => {
  it('signs byte-for-byte like standardwebhooks for a fixed id, timestamp and payload', async () => {
    const theirs = new Webhook(SECRET).sign(ID, new Date(NOW_MS), PAYLOAD)
    const ours = await sign({ id: ID, timestamp: NOW_SEC, payload: PAYLOAD, secret: SECRET })
    expect(ours['webhook-signature']).toBe(theirs)
    expect(ours['webhook-id']).toBe(ID)
    expect(ours['webhook-timestamp']).toBe(String(NOW_SEC))
  })

  it('our signature verifies with standardwebhooks', async () => {
    const timestamp = new Date()
    const headers = await sign({ id: ID, timestamp, payload: PAYLOAD, secret: SECRET })
    expect(new Webhook(SECRET).verify(PAYLOAD, { ...headers })).toEqual({ test: 2432232314 })
  })

  it('a standardwebhooks signature verifies with ours', async () => {
    const signature = new Webhook(SECRET).sign(ID, new Date(NOW_MS), PAYLOAD)
    const webhook = await verify({
      headers: { 'webhook-id': ID, 'webhook-timestamp': String(NOW_SEC), 'webhook-signature': signature },
      rawBody: PAYLOAD,
      secret: SECRET,
      now,
    })
    expect(webhook.id).toBe(ID)
    expect(webhook.timestamp).toBe(NOW_SEC)
    expect(webhook.json()).toEqual({ test: 2432232314 })
  })

  it('standardwebhooks rejects our signature made with another secret, and we reject theirs likewise', async () => {
    const ours = await sign({ id: ID, timestamp: new Date(), payload: PAYLOAD, secret: OTHER_SECRET })
    expect(() => new Webhook(SECRET).verify(PAYLOAD, { ...ours })).toThrow(/No matching signature/)
    const theirs = new Webhook(OTHER_SECRET).sign(ID, new Date(NOW_MS), PAYLOAD)
    await expectCode(
      verify({
        headers: { 'webhook-id': ID, 'webhook-timestamp': String(NOW_SEC), 'webhook-signature': theirs },
        rawBody: PAYLOAD,
        secret: SECRET,
        now,
      }),
      'invalid_signature',
    )
  })

  it('rotated keys: one signature per secret, and standardwebhooks accepts either key', async () => {
    const headers = await sign({
      id: ID,
      timestamp: new Date(),
      payload: PAYLOAD,
      secret: [OTHER_SECRET, SECRET],
    })
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2)
    expect(new Webhook(SECRET).verify(PAYLOAD, { ...headers })).toEqual({ test: 2432232314 })
    expect(new Webhook(OTHER_SECRET).verify(PAYLOAD, { ...headers })).toEqual({ test: 2432232314 })
  })
})

describe('verify', () => {
  async function signed(
    overrides: { payload?: string; secret?: string | string[]; timestamp?: number } = {},
  ) {
    return sign({
      id: ID,
      timestamp: overrides.timestamp ?? NOW_SEC,
      payload: overrides.payload ?? PAYLOAD,
      secret: overrides.secret ?? SECRET,
    })
  }

  it('accepts a valid delivery and returns the id, timestamp and body (not a boolean)', async () => {
    const webhook = await verify({ headers: await signed(), rawBody: PAYLOAD, secret: SECRET, now })
    expect(webhook).toMatchObject({ id: ID, timestamp: NOW_SEC })
    expect(webhook.text()).toBe(PAYLOAD)
    expect(new TextDecoder().decode(webhook.rawBody)).toBe(PAYLOAD)
  })

  it('rejects a tampered body with invalid_signature', async () => {
    await expectCode(
      verify({ headers: await signed(), rawBody: PAYLOAD.replace('2432', '2433'), secret: SECRET, now }),
      'invalid_signature',
    )
  })

  it('rejects a body that was re-serialised (whitespace changed) with invalid_signature', async () => {
    const reserialised = JSON.stringify(JSON.parse(PAYLOAD))
    await expectCode(
      verify({ headers: await signed(), rawBody: reserialised, secret: SECRET, now }),
      'invalid_signature',
    )
  })

  it('rejects a tampered id or timestamp (they are signed too)', async () => {
    const headers = await signed()
    await expectCode(
      verify({ headers: { ...headers, 'webhook-id': 'msg_other' }, rawBody: PAYLOAD, secret: SECRET, now }),
      'invalid_signature',
    )
    await expectCode(
      verify({
        headers: { ...headers, 'webhook-timestamp': String(NOW_SEC - 1) },
        rawBody: PAYLOAD,
        secret: SECRET,
        now,
      }),
      'invalid_signature',
    )
  })

  it('rejects the wrong secret with invalid_signature', async () => {
    await expectCode(
      verify({ headers: await signed(), rawBody: PAYLOAD, secret: OTHER_SECRET, now }),
      'invalid_signature',
    )
  })

  it('ignores signatures of other versions (v1a, v2) and rejects when no v1 matches', async () => {
    const headers = await signed()
    const value = headers['webhook-signature'].slice(3)
    await expectCode(
      verify({
        headers: { ...headers, 'webhook-signature': `v1a,${value} v2,${value}` },
        rawBody: PAYLOAD,
        secret: SECRET,
        now,
      }),
      'invalid_signature',
    )
  })

  it('rejects a timestamp more than 300 s old with timestamp_too_old, and accepts exactly 300 s', async () => {
    await expectCode(
      verify({ headers: await signed({ timestamp: NOW_SEC - 301 }), rawBody: PAYLOAD, secret: SECRET, now }),
      'timestamp_too_old',
    )
    await expect(
      verify({ headers: await signed({ timestamp: NOW_SEC - 300 }), rawBody: PAYLOAD, secret: SECRET, now }),
    ).resolves.toMatchObject({ id: ID })
  })

  it('rejects a timestamp more than 300 s in the future with timestamp_too_new, and accepts exactly 300 s', async () => {
    await expectCode(
      verify({ headers: await signed({ timestamp: NOW_SEC + 301 }), rawBody: PAYLOAD, secret: SECRET, now }),
      'timestamp_too_new',
    )
    await expect(
      verify({ headers: await signed({ timestamp: NOW_SEC + 300 }), rawBody: PAYLOAD, secret: SECRET, now }),
    ).resolves.toMatchObject({ id: ID })
  })

  it('honours a custom toleranceSec', async () => {
    const headers = await signed({ timestamp: NOW_SEC - 20 })
    await expectCode(
      verify({ headers, rawBody: PAYLOAD, secret: SECRET, now, toleranceSec: 10 }),
      'timestamp_too_old',
    )
  })

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const)(
    'rejects a delivery without %s with missing_header',
    async (name) => {
      const headers: Record<string, string> = { ...(await signed()) }
      delete headers[name]
      await expectCode(verify({ headers, rawBody: PAYLOAD, secret: SECRET, now }), 'missing_header')
      await expectCode(
        verify({ headers: { ...headers, [name]: '' }, rawBody: PAYLOAD, secret: SECRET, now }),
        'missing_header',
      )
    },
  )

  it('rejects a non-numeric timestamp and a repeated id with invalid_header', async () => {
    const headers = await signed()
    await expectCode(
      verify({
        headers: { ...headers, 'webhook-timestamp': '1700000000abc' },
        rawBody: PAYLOAD,
        secret: SECRET,
        now,
      }),
      'invalid_header',
    )
    await expectCode(
      verify({ headers: { ...headers, 'webhook-id': [ID, 'msg_2'] }, rawBody: PAYLOAD, secret: SECRET, now }),
      'invalid_header',
    )
  })

  it('rotated keys: accepts when any of several signatures matches, and with several receiver secrets', async () => {
    const both = await signed({ secret: [OTHER_SECRET, SECRET] })
    await expect(verify({ headers: both, rawBody: PAYLOAD, secret: SECRET, now })).resolves.toBeTruthy()
    await expect(verify({ headers: both, rawBody: PAYLOAD, secret: OTHER_SECRET, now })).resolves.toBeTruthy()
    const onlyOld = await signed({ secret: OTHER_SECRET })
    await expect(
      verify({ headers: onlyOld, rawBody: PAYLOAD, secret: [SECRET, OTHER_SECRET], now }),
    ).resolves.toBeTruthy()
    const third = generateSecret()
    await expectCode(verify({ headers: both, rawBody: PAYLOAD, secret: [third], now }), 'invalid_signature')
  })

  it('reads headers case-insensitively from a plain object, a Headers instance and Node IncomingHttpHeaders', async () => {
    const headers = await signed()
    const upper = {
      'Webhook-Id': headers['webhook-id'],
      'WEBHOOK-TIMESTAMP': headers['webhook-timestamp'],
      'Webhook-Signature': headers['webhook-signature'],
    }
    await expect(verify({ headers: upper, rawBody: PAYLOAD, secret: SECRET, now })).resolves.toBeTruthy()
    await expect(
      verify({ headers: new Headers(upper), rawBody: PAYLOAD, secret: SECRET, now }),
    ).resolves.toBeTruthy()
    // Node gives repeated headers as arrays; two signature headers must still be read.
    const [good] = headers['webhook-signature'].split(' ')
    const incoming = { ...headers, 'webhook-signature': ['v1,AAAA', good!] }
    await expect(verify({ headers: incoming, rawBody: PAYLOAD, secret: SECRET, now })).resolves.toBeTruthy()
    const fetchHeaders = new Headers(headers)
    fetchHeaders.set('webhook-signature', 'v1,AAAA')
    fetchHeaders.append('webhook-signature', good!)
    await expect(
      verify({ headers: fetchHeaders, rawBody: PAYLOAD, secret: SECRET, now }),
    ).resolves.toBeTruthy()
  })

  it('verifies over raw bytes: a Uint8Array body with non-UTF-8 bytes, signed and verified as bytes', async () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x80])
    const headers = await sign({ id: ID, timestamp: NOW_SEC, payload: bytes, secret: SECRET })
    await expect(verify({ headers, rawBody: bytes, secret: SECRET, now })).resolves.toBeTruthy()
    await expect(verify({ headers, rawBody: bytes.buffer, secret: SECRET, now })).resolves.toBeTruthy()
    // Decoding to text and back replaces the invalid bytes, so the signature no longer matches.
    await expectCode(
      verify({ headers, rawBody: new TextDecoder().decode(bytes), secret: SECRET, now }),
      'invalid_signature',
    )
  })

  it('reports a body that is not JSON as invalid_payload from json()', async () => {
    const webhook = await verify({
      headers: await signed({ payload: 'not json' }),
      rawBody: 'not json',
      secret: SECRET,
      now,
    })
    expect(() => webhook.json()).toThrow(expect.objectContaining({ code: 'invalid_payload' }))
  })
})

describe('secrets and signing input', () => {
  it('generateSecret makes whsec_ secrets of 32 random bytes that sign and verify', async () => {
    const secret = generateSecret()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(generateSecret()).not.toBe(secret)
    const headers = await sign({ id: ID, timestamp: NOW_SEC, payload: PAYLOAD, secret })
    expect(new Webhook(secret).sign(ID, new Date(NOW_MS), PAYLOAD)).toBe(headers['webhook-signature'])
  })

  it('rejects malformed secrets with invalid_secret', async () => {
    await expectCode(
      sign({ id: ID, timestamp: NOW_SEC, payload: PAYLOAD, secret: 'whsec_!!not base64!!' }),
      'invalid_secret',
    )
    await expectCode(verify({ headers: {}, rawBody: '', secret: [], now }), 'missing_header')
    await expectCode(
      verify({
        headers: await sign({ id: ID, timestamp: NOW_SEC, payload: '', secret: SECRET }),
        rawBody: '',
        secret: [],
        now,
      }),
      'invalid_secret',
    )
  })

  it('refuses to sign with a secret shorter than the 24 bytes the spec requires', async () => {
    const short = `whsec_${btoa('sixteen-bytes-xx')}`
    await expectCode(sign({ id: ID, timestamp: NOW_SEC, payload: PAYLOAD, secret: short }), 'invalid_secret')
  })

  it('refuses ids containing "." and millisecond timestamps when signing', async () => {
    await expectCode(
      sign({ id: 'msg.1', timestamp: NOW_SEC, payload: PAYLOAD, secret: SECRET }),
      'invalid_header',
    )
    await expectCode(sign({ id: ID, timestamp: NOW_MS, payload: PAYLOAD, secret: SECRET }), 'invalid_header')
  })
})
