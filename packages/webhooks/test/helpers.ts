import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { vi } from 'vitest'
import type { Dispatcher, LookupAll } from '../src/dispatcher/index'

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

/** A resolver that answers every name with the given addresses. */
export const resolvesTo =
  (...addresses: string[]): LookupAll =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))

export const PUBLIC_LOOKUP = resolvesTo('93.184.216.34')

export interface FetchCall {
  url: string
  /** Date.now() when the request was made (fake time under fake timers). */
  at: number
  headers: Record<string, string>
  body: string
  init: RequestInit
}

/** A fetch stand-in that records each call and answers with `respond`. */
export function fetchStub(respond: (call: FetchCall, index: number) => Response | Promise<Response>) {
  const calls: FetchCall[] = []
  const fetch = vi.fn(async (input: string | URL | Request, init: RequestInit = {}) => {
    const call: FetchCall = {
      url: String(input),
      at: Date.now(),
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: String(init.body),
      init,
    }
    calls.push(call)
    return respond(call, calls.length - 1)
  })
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls, mock: fetch }
}

export const status = (code: number, headers?: Record<string, string>) =>
  new Response(null, { status: code, headers })

/**
 * Waits in real time (setImmediate and performance are not faked) until `condition` holds. The time limit
 * only stops a hung test; nothing asserts how fast a condition comes true.
 */
export async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Lets in-flight attempts finish, fires the next (fake) timer, and waits for what it started. */
export async function step(dispatcher: Dispatcher): Promise<void> {
  await dispatcher.whenIdle()
  await vi.advanceTimersToNextTimerAsync()
  await dispatcher.whenIdle()
}

/** Steps until no timer is left (the memory store arms none once the queue is empty). */
export async function runToEnd(dispatcher: Dispatcher, maxSteps = 50): Promise<void> {
  await dispatcher.whenIdle()
  for (let i = 0; i < maxSteps && vi.getTimerCount() > 0; i++) await step(dispatcher)
  if (vi.getTimerCount() > 0) throw new Error(`timers still pending after ${maxSteps} steps`)
}

export interface TestServer {
  url: string
  close(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 and a free port. */
export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
