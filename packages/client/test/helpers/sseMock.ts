import { HttpResponse, http } from 'msw'

export interface SseConnection {
  request: Request
  write(text: string | Uint8Array): void
  end(): void
  error(): void
}

/** An msw handler for an SSE endpoint whose chunks the test writes by hand. */
export function sseEndpoint(
  url: string,
  respond?: (request: Request, index: number) => Response | undefined,
) {
  const connections: SseConnection[] = []
  const encoder = new TextEncoder()
  const handler = http.get(url, ({ request }) => {
    const custom = respond?.(request, connections.length)
    if (custom) {
      connections.push({ request, write() {}, end() {}, error() {} })
      return custom
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c
      },
    })
    connections.push({
      request,
      write: (text) => controller.enqueue(typeof text === 'string' ? encoder.encode(text) : text),
      end: () => controller.close(),
      error: () => controller.error(new Error('network cut')),
    })
    return new HttpResponse(stream, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    })
  })
  return {
    handler,
    connections,
    get last(): SseConnection {
      const c = connections.at(-1)
      if (!c) throw new Error('no SSE connection yet')
      return c
    },
  }
}

export { HttpResponse }
