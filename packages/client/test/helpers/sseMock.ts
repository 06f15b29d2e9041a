import { HttpResponse, http } from 'msw'

export interface SseConnection {
  request: Request
  write(text: string | Uint8Array): void
  end(): void
  error(): void
}

/**
 * An msw handler for an SSE endpoint whose chunks the test writes by hand. `autoSubscribe` writes what a
 * Holdfast server sends at once: a `subscribed` event for every channel of the request.
 */
export function sseEndpoint(
  url: string,
  respond?: (request: Request, index: number) => Response | undefined,
  { autoSubscribe = false } = {},
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
    if (autoSubscribe)
      for (const channel of new URL(request.url).searchParams.getAll('channel'))
        controller.enqueue(
          encoder.encode(
            `event: subscribed\ndata: ${JSON.stringify({ channel, epoch: 'e1', cursor: 'e1:0', recovered: true })}\n\n`,
          ),
        )
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
