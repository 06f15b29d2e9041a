import type { ServerResponse } from 'node:http'
import type { ErrorCode } from '@holdfast/protocol'

/** Answers with a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJsonText(res, status, JSON.stringify(body), headers)
}

/** Answers with JSON text that is already encoded (poll answers are assembled from stored message bodies). */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end()
    return
  }
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
  })
  res.end(text)
}

/**
 * Answers `{"error":{"code","message"}}`, the shape of every HTTP error (docs/PROTOCOL.md section 2), with
 * `"channel"` too when the refusal concerns one channel of the request.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
  channel?: string,
): void {
  sendJson(res, status, { error: { code, message, channel } }, headers)
}
