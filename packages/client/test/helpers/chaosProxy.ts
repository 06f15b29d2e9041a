import net from 'node:net'

export interface ChaosProxy {
  /** `http://127.0.0.1:<port>`: point clients here. */
  readonly url: string
  /** Cut every open connection (both sides see a reset/close). */
  dropAll(): number
  /** Refuse WebSocket upgrades with 403, as a corporate proxy would. */
  blockWebSocket(blocked: boolean): void
  /** Answer requests whose path starts with `prefix` with 404 (for example `/sse`). */
  blockPath(prefix: string, blocked: boolean): void
  /** Keep connections open but forward nothing either way: a half-open, black-holed link. */
  blackhole(on: boolean): void
  /** Delay every chunk by this many ms. */
  delay(ms: number): void
  readonly openConnections: number
  close(): Promise<void>
}

const REQUEST_LINE = /^(GET|POST|PUT|DELETE|OPTIONS|HEAD) (\S+) HTTP\/1\.1\r\n/

/** A TCP proxy on loopback that can cut, black-hole, delay and filter traffic. Tests only. */
export async function createChaosProxy(target: { host?: string; port: number }): Promise<ChaosProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>()
  const blockedPaths = new Set<string>()
  let blockWs = false
  let hole = false
  let delayMs = 0

  const forward = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (hole) return
      const write = () => {
        if (!to.destroyed) to.write(chunk)
      }
      if (delayMs > 0) setTimeout(write, delayMs)
      else write()
    })
  }

  const server = net.createServer((client) => {
    client.setNoDelay(true)
    const upstream = net.connect({ host: target.host ?? '127.0.0.1', port: target.port })
    upstream.setNoDelay(true)
    const pair = { client, upstream }
    pairs.add(pair)
    const cleanup = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', cleanup)
    upstream.on('error', cleanup)
    client.on('close', cleanup)
    upstream.on('close', cleanup)
    // Inspect each request line before forwarding, so blocking also applies on keep-alive connections.
    client.on('data', (chunk: Buffer) => {
      if (hole) return
      const head = chunk.subarray(0, 2048).toString('latin1')
      const m = REQUEST_LINE.exec(head)
      if (m) {
        const path = m[2]!
        const isUpgrade = /\r\nupgrade:\s*websocket/i.test(head)
        const blocked = (isUpgrade && blockWs) || [...blockedPaths].some((p) => path.startsWith(p))
        if (blocked) {
          const status = isUpgrade ? '403 Forbidden' : '404 Not Found'
          client.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
          upstream.destroy()
          return
        }
      }
      const write = () => {
        if (!upstream.destroyed) upstream.write(chunk)
      }
      if (delayMs > 0) setTimeout(write, delayMs)
      else write()
    })
    forward(upstream, client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}`,
    dropAll() {
      const n = pairs.size
      for (const { client, upstream } of [...pairs]) {
        client.destroy()
        upstream.destroy()
      }
      pairs.clear()
      return n
    },
    blockWebSocket(blocked) {
      blockWs = blocked
    },
    blockPath(prefix, blocked) {
      if (blocked) blockedPaths.add(prefix)
      else blockedPaths.delete(prefix)
    },
    blackhole(on) {
      hole = on
    },
    delay(ms) {
      delayMs = ms
    },
    get openConnections() {
      return pairs.size
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const { client, upstream } of pairs) {
          client.destroy()
          upstream.destroy()
        }
        server.close(() => resolve())
      }),
  }
}
