import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { sendError } from './responses'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
}

/**
 * Serves a built single-page app: files as they are, and `index.html` for extensionless paths
 * (client-side routes). Nothing outside `root` is ever read.
 */
export function createStaticHandler(root: string) {
  const base = resolve(root)
  return async function staticHandler(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
  ): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'bad_request', `${req.method} is not supported here`, { Allow: 'GET, HEAD' })
      return
    }
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      sendError(res, 400, 'bad_request', 'malformed path')
      return
    }
    if (decoded.includes('\0')) {
      sendError(res, 400, 'bad_request', 'malformed path')
      return
    }
    const file = join(base, normalize(decoded))
    if (file !== base && !file.startsWith(base + sep)) {
      sendError(res, 404, 'bad_request', 'not found')
      return
    }
    let target = await fileAt(file)
    if (!target && extname(decoded) === '') target = await fileAt(join(base, 'index.html'))
    if (!target) {
      sendError(res, 404, 'bad_request', 'not found')
      return
    }
    const type = CONTENT_TYPES[extname(target.path).toLowerCase()] ?? 'application/octet-stream'
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': String(target.size),
      // Built assets carry content hashes; the HTML that names them must always be fresh.
      'Cache-Control': type.startsWith('text/html') ? 'no-cache' : 'public, max-age=3600',
    })
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    const stream = createReadStream(target.path)
    stream.on('error', () => res.destroy())
    stream.pipe(res)
  }
}

async function fileAt(path: string): Promise<{ path: string; size: number } | undefined> {
  try {
    const info = await stat(path)
    if (info.isFile()) return { path, size: info.size }
    if (info.isDirectory()) return fileAt(join(path, 'index.html'))
  } catch {
    // Missing files fall through to the SPA fallback or a 404.
  }
  return undefined
}
