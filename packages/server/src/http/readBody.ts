import type { IncomingMessage } from 'node:http'
import { HoldfastServerError } from '../HoldfastServerError'

/** Reads a request body of at most `maxBytes`; rejects with `message_too_large` as soon as it is exceeded. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new HoldfastServerError('message_too_large', `body exceeds maxMessageBytes (${maxBytes} bytes)`)
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        cleanup()
        // Stop reading; the response closes the connection so the rest is never accepted.
        req.pause()
        reject(tooLarge())
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (error: Error) => {
      cleanup()
      reject(new HoldfastServerError('bad_request', 'the request body could not be read', { cause: error }))
    }
    const onAborted = () => onError(new Error('request aborted'))
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('aborted', onAborted)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('aborted', onAborted)
  })
}
