import { useConnectionState, useSubscription } from '@holdfast/react'
import { useEffect, useRef, useState } from 'react'
import { control, pageId } from '../demoClient'
import type { DemoState } from '../demoState'
import { log, useEventLog } from '../eventLog'

const STATE_CHANNEL = 'demo.state'

/**
 * Breaks things on purpose, on the server, and shows what the client did about it: drop every connection,
 * block WebSocket (for every tab), expire this page's token, make this page miss more than the server keeps.
 */
export function ControlPanel({ server }: { server: DemoState | undefined }) {
  // The server's switches: as it answered when the page loaded, then every change from the state channel
  // (the server also publishes its state when it starts, so a page that outlives a restart learns it).
  const { data } = useSubscription<{ websocketBlocked: boolean }>(STATE_CHANNEL, {
    since: server?.stateCursor,
    enabled: server !== undefined,
  })
  const websocketBlocked = data?.websocketBlocked ?? server?.websocketBlocked
  const shown = useRef(websocketBlocked)
  useEffect(() => {
    if (websocketBlocked === undefined || websocketBlocked === shown.current) return
    if (shown.current !== undefined)
      log(
        websocketBlocked
          ? 'server: WebSocket is blocked now (every tab sees this)'
          : 'server: WebSocket is allowed again; the client moves back up at its next try',
      )
    shown.current = websocketBlocked
  }, [websocketBlocked])
  const [busy, setBusy] = useState(false)
  const cooling = useExpiryCooldown()
  const run = (what: () => Promise<unknown>) => () => {
    setBusy(true)
    what()
      .catch((error: Error) => log(`control failed: ${error.message}`))
      .finally(() => setBusy(false))
  }
  const events = useEventLog()
  return (
    <section>
      <h2>Control panel</h2>
      <div className="controls">
        <button
          type="button"
          data-testid="drop"
          disabled={busy}
          onClick={run(async () => {
            const { dropped } = await control<{ dropped: number }>('/demo/drop')
            log(`you: dropped every connection (the server cut ${dropped})`)
          })}
        >
          Drop connections
        </button>
        <button
          type="button"
          data-testid="block-ws"
          disabled={busy || websocketBlocked === undefined}
          onClick={run(() => control(`/demo/websocket?blocked=${!websocketBlocked}`))}
        >
          {websocketBlocked ? 'Allow WebSocket' : 'Block WebSocket'}
        </button>
        <button
          type="button"
          data-testid="expire-token"
          disabled={busy || cooling.active}
          title={cooling.active ? COOLDOWN_WHY : undefined}
          onClick={run(async () => {
            cooling.start()
            const { expired } = await control<{ expired: number }>(`/demo/expire-token?page=${pageId}`)
            if (expired === 0) cooling.cancel()
            log(`you: the server expired this page's token (${expired} connection(s) open with it)`)
          })}
        >
          Expire token
        </button>
        <button
          type="button"
          data-testid="cause-gap"
          disabled={busy}
          onClick={run(async () => {
            const { published, channel, historySize } = await control<{
              published: number
              channel: string
              historySize: number
            }>(`/demo/gap?page=${pageId}`)
            log(
              `you: the server kept this page away while it published ${published} messages on ${channel} (it keeps ${historySize})`,
            )
          })}
        >
          Cause a gap
        </button>
      </div>
      <p className="hint">
        Block WebSocket to see the fallback to SSE; expire the token to see it replaced; cause a gap to see
        lost history reported instead of hidden.
      </p>
      <div className="events" data-testid="events">
        {events.map((event) => (
          <div key={event.id}>
            {event.time} {event.text}
          </div>
        ))}
      </div>
    </section>
  )
}

/** The client's default `backoff.stableAfterMs`: how long a connection must stay up to count as stable. */
const STABLE_AFTER_MS = 5000
const COOLDOWN_WHY =
  'The client stops when its token is refused twice before a new connection has stayed up for 5 s (no auth loop), so the demo waits that long.'

/**
 * After "Expire token", waits until a connection made since has stayed up `STABLE_AFTER_MS`: a second
 * expiry sooner would count, for the client, as the same token problem twice in a row, and it would stop.
 */
function useExpiryCooldown(): { active: boolean; start(): void; cancel(): void } {
  const state = useConnectionState()
  const [startedAt, setStartedAt] = useState<number>()
  const connectedAt = state.status === 'connected' ? state.connectedAt : undefined
  useEffect(() => {
    if (startedAt === undefined || connectedAt === undefined || connectedAt < startedAt) return
    const id = setTimeout(() => setStartedAt(undefined), connectedAt + STABLE_AFTER_MS - Date.now())
    return () => clearTimeout(id)
  }, [startedAt, connectedAt])
  return {
    active: startedAt !== undefined,
    start: () => setStartedAt(Date.now()),
    cancel: () => setStartedAt(undefined),
  }
}
