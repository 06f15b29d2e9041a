import type { Cursor } from '@holdfast/client'
import { useEffect, useState } from 'react'

/** What the demo server says about itself (`GET /demo/state`). */
export interface DemoState {
  /** "Block WebSocket" is on, for every page. Changes arrive on the `demo.state` channel. */
  websocketBlocked: boolean
  /** Where `demo.state` stood when this answer was made: subscribing from here misses no change. */
  stateCursor: Cursor
  /** The start of the chat's log (`<epoch>:0`): resuming from it replays everything the server kept. */
  chatStart: Cursor
  /** What the server keeps of each channel. */
  history: { size: number; ttlMs: number }
}

let request: Promise<DemoState> | undefined

/** Asks once per page load, again every second until the server answers (it may be restarting). */
function fetchDemoState(): Promise<DemoState> {
  request ??= (async () => {
    for (;;) {
      try {
        const response = await fetch('/demo/state')
        if (response.ok) return (await response.json()) as DemoState
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  })()
  return request
}

/** The demo server's state as it was when this page loaded; `undefined` until it answers. */
export function useDemoState(): DemoState | undefined {
  const [state, setState] = useState<DemoState>()
  useEffect(() => {
    let active = true
    void fetchDemoState().then((s) => active && setState(s))
    return () => {
      active = false
    }
  }, [])
  return state
}
