import type { HoldfastClient } from '../../src'

/** Polls `check` until it holds or `timeoutMs` passes; real-time integration tests only. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Subscribes and records every number delivered, plus transports seen while connected. */
export function collectNumbers(client: HoldfastClient, channel: string, since?: string) {
  const received: number[] = []
  const transports = new Set<string>()
  client.onStateChange((s) => {
    if (s.status === 'connected') transports.add(s.transport)
  })
  client.subscribe(
    channel,
    (m) => {
      if (typeof m.data === 'number' && m.data > 0) received.push(m.data)
    },
    since ? { since } : {},
  )
  return { received, transports }
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
