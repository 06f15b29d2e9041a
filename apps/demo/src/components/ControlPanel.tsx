import { useHoldfastClient } from '@holdfast/react'
import { useEffect, useState } from 'react'
import { expireTokenSoon } from '../demoClient'

async function post(path: string): Promise<unknown> {
  const response = await fetch(path, { method: 'POST' })
  return response.json()
}

/** Lets a person watch resilience happen: drop the connection, block WebSocket, expire the token. */
export function ControlPanel() {
  const client = useHoldfastClient()
  const [wsBlocked, setWsBlocked] = useState(false)
  const [events, setEvents] = useState<Array<{ id: number; line: string }>>([])
  useEffect(() => {
    let next = 0
    const log = (line: string) =>
      setEvents((e) =>
        [{ id: next++, line: `${new Date().toLocaleTimeString()} ${line}` }, ...e].slice(0, 50),
      )
    const offs = [
      client.onStateChange((s) =>
        log(`${s.status}${'transport' in s && s.transport ? ` (${s.transport})` : ''}`),
      ),
      client.on('gap', (g) => log(`gap on ${g.channel}: history since ${g.since} was lost`)),
      client.on('error', (e) => log(`error ${e.code}: ${e.message}`)),
    ]
    return () => {
      for (const off of offs) off()
    }
  }, [client])
  return (
    <section>
      <h2>Control panel</h2>
      <div className="controls">
        <button type="button" data-testid="drop" onClick={() => void post('/demo/drop')}>
          Drop connections
        </button>
        <button
          type="button"
          data-testid="block-ws"
          onClick={() =>
            void post(`/demo/websocket?blocked=${!wsBlocked}`).then(() => setWsBlocked(!wsBlocked))
          }
        >
          {wsBlocked ? 'Allow WebSocket' : 'Block WebSocket'}
        </button>
        <button type="button" data-testid="expire-token" onClick={expireTokenSoon}>
          Expire token
        </button>
      </div>
      <div className="events" data-testid="events">
        {events.map((event) => (
          <div key={event.id}>{event.line}</div>
        ))}
      </div>
    </section>
  )
}
