import http from 'node:http'
import net from 'node:net'

/**
 * What the proxy does wrong, per path: `hold-body` answers headers at once but keeps the body (a proxy that
 * buffers SSE), `hold-headers` answers nothing at all, `gateway-timeout` answers 504 with an HTML page,
 * `strip-upgrade` forwards a WebSocket handshake as a plain GET (the upstream then answers 426).
 */
export type ProxyFault = 'pass' | 'hold-body' | 'hold-headers' | 'gateway-timeout' | 'strip-upgrade'

export interface HttpProxy {
  readonly url: string
  /** Sets the fault for requests whose path starts with `prefix`. */
  fault(prefix: string, fault: ProxyFault): void
  close(): Promise<void>
}

/** An HTTP proxy on loopback with the faults real proxies have. Tests only. */
export async function createHttpProxy(targetPort: number): Promise<HttpProxy> {
  const faults = new Map<string, ProxyFault>()
  const sockets = new Set<net.Socket>()
  const faultOf = (url = '/') => [...faults].find(([prefix]) => url.startsWith(prefix))?.[1] ?? 'pass'
  const server = http.createServer((req, res) => {
    const fault = faultOf(req.url)
    if (fault === 'hold-headers') return
    if (fault === 'gateway-timeout') {
      res.writeHead(504, { 'content-type': 'text/html' })
      res.end(
        `<html><head><title>504 Gateway Time-out</title></head><body>${'<p>nginx</p>'.repeat(200)}</body></html>`,
      )
      return
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        res.flushHeaders()
        if (fault === 'hold-body') answer.on('data', () => {})
        else answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
    res.on('close', () => upstream.destroy())
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('upgrade', (req, socket, head) => {
    const strip = faultOf(req.url) === 'strip-upgrade'
    const upstream = net.connect(targetPort, '127.0.0.1', () => {
      const headers = Object.entries(req.headers).filter(
        ([name]) =>
          !strip || !['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version'].includes(name),
      )
      upstream.write(
        `${req.method} ${req.url} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`,
      )
      upstream.write(head)
      socket.pipe(upstream).pipe(socket)
    })
    const end = () => {
      socket.destroy()
      upstream.destroy()
    }
    upstream.on('error', end)
    socket.on('error', end)
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    fault: (prefix, fault) => void faults.set(prefix, fault),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
