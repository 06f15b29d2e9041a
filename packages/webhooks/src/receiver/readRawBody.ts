import type { IncomingMessage } from 'node:http'
import { WebhookVerificationError } from '../WebhookVerificationError'

function tooLarge(maxBodyBytes: number): WebhookVerificationError {
  return new WebhookVerificationError(
    'payload_too_large',
    `[holdfast] the webhook body is larger than maxBodyBytes (${maxBodyBytes})`,
  )
}

// Takes a body a framework already buffered (`express.raw()`) and refuses one it already parsed:
// the signature covers the exact bytes, which a parsed object no longer has.
export async function readRawBody(req: IncomingMessage, maxBodyBytes: number): Promise<Uint8Array> {
  const preRead = (req as { body?: unknown; rawBody?: unknown }).rawBody ?? (req as { body?: unknown }).body
  if (typeof preRead === 'string' || preRead instanceof Uint8Array) {
    const bytes = typeof preRead === 'string' ? new TextEncoder().encode(preRead) : preRead
    if (bytes.length > maxBodyBytes) throw tooLarge(maxBodyBytes)
    return bytes
  }
  if (preRead !== undefined && preRead !== null && req.readableEnded) {
    throw new WebhookVerificationError(
      'body_unavailable',
      '[holdfast] the request body was already parsed (req.body is not raw bytes), so its signature cannot be checked. Mount the receiver before express.json(), or use express.raw({ type: "*/*" }) on this route',
    )
  }
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge(maxBodyBytes)

  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    const onData = (chunk: Uint8Array | string) => {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk
      size += bytes.length
      if (size > maxBodyBytes) {
        cleanup()
        // Keep draining without buffering, so the 413 can still be written on this connection.
        req.resume()
        reject(tooLarge(maxBodyBytes))
        return
      }
      chunks.push(bytes)
    }
    const onEnd = () => {
      cleanup()
      const body = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        body.set(chunk, offset)
        offset += chunk.length
      }
      resolve(body)
    }
    const onError = (error: Error) => {
      cleanup()
      reject(error)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}
