import { HoldfastServerError } from './HoldfastServerError'

/**
 * A message's data as the JSON text a broker stores, checked as client input: data that cannot be
 * encoded (nested too deeply for the encoder, a BigInt, a cycle) or that is too large is a typed
 * client error, never an `internal` one. Every publish path (WebSocket, `POST /publish`,
 * `server.publish`) goes through here.
 */
export function encodePayload(data: unknown, maxBytes: number): string {
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (error) {
    throw new HoldfastServerError(
      'bad_request',
      error instanceof RangeError
        ? 'data is nested too deeply to store; send flatter JSON'
        : 'data must be JSON-serializable (no BigInt, no cycles)',
      { cause: error },
    )
  }
  if (json === undefined) throw new HoldfastServerError('bad_request', 'data must be JSON-serializable')
  if (json.length > maxBytes || Buffer.byteLength(json) > maxBytes)
    throw new HoldfastServerError('message_too_large', `data exceeds maxMessageBytes (${maxBytes})`)
  return json
}
