import net from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** `redis://127.0.0.1:<port>`, for pointing a Redis client through the proxy. */
  readonly redisUrl: string
  /** Destroys every open connection; both ends see it close. */
  cut(): void
  /** While true, new connections are closed at once (the target looks down). */
  refuse(on: boolean): void
  /**
   * Holds what the target sends and passes it on in one chunk every `ms` (0 passes it at once), so
   * replies and the messages right behind them reach the client in the same read.
   */
  batchDownstream(ms: number): void
  close(): Promise<void>
}

/** A loopback TCP proxy that can cut its connections and refuse new ones. Tests only. */
export async function createTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  let refusing = false
  let batchMs = 0
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = net.connect({ host: target.host ?? '127.0.0.1', port: target.port })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    let pending: Buffer[] = []
    let flushing = false
    upstream.on('data', (chunk: Buffer) => {
      if (batchMs === 0 && pending.length === 0) {
        client.write(chunk)
        return
      }
      pending.push(chunk)
      if (flushing) return
      flushing = true
      setTimeout(() => {
        flushing = false
        if (!client.destroyed) client.write(Buffer.concat(pending))
        pending = []
      }, batchMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    redisUrl: `redis://127.0.0.1:${port}`,
    cut() {
      for (const socket of [...sockets]) socket.destroy()
    },
    refuse(on) {
      refusing = on
    },
    batchDownstream(ms) {
      batchMs = ms
    },
    close() {
      for (const socket of [...sockets]) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
