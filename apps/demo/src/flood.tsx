import { createClient } from '@holdfast/client'
import { coalesce } from '@holdfast/client/delivery'
import { HoldfastProvider, useSubscription } from '@holdfast/react'
import { useState } from 'react'
import { createRoot } from 'react-dom/client'

const client = createClient({
  url: location.origin,
  getToken: () => fetch('/demo/token').then((r) => r.text()),
})

// Exposed for the e2e test's diagnostics.
;(window as unknown as { holdfast: typeof client }).holdfast = client

type Tick = { key: string; value: number; seq: number; total: number }

const RATE = 5000
const SECONDS = 5

/** 5,000 messages a second on one channel, coalesced by key: the page renders once a frame at most. */
function Flood() {
  const [rows, setRows] = useState<Record<string, Tick>>({})
  const [last, setLast] = useState<Tick>()
  const [starting, setStarting] = useState(false)
  const [problem, setProblem] = useState<string>()
  useSubscription<Tick>('flood', {
    delivery: coalesce((m) => m.data.key, 'frame'),
    onMessage: (m) => {
      setRows((r) => ({ ...r, [m.data.key]: m.data }))
      setLast(m.data)
    },
  })
  const start = async () => {
    setStarting(true)
    setProblem(undefined)
    try {
      const response = await fetch(`/demo/flood?rate=${RATE}&seconds=${SECONDS}`, { method: 'POST' })
      if (!response.ok) setProblem((await response.json()).error?.message ?? `HTTP ${response.status}`)
    } finally {
      setStarting(false)
    }
  }
  const running = last !== undefined && last.seq < last.total
  return (
    <>
      <header>
        <h1>Holdfast flood</h1>
        <a href="/">back to the demo</a>
      </header>
      <main className="single">
        <section>
          <p>
            Start a flood and the server publishes {RATE.toLocaleString()} messages a second for {SECONDS}{' '}
            seconds on the <code>flood</code> channel, each a new value for one of 20 keys. The page
            subscribes with <code>delivery: coalesce((m) =&gt; m.data.key, 'frame')</code>: it gets the newest
            message of each key once per animation frame, so React renders at most once a frame however fast
            messages come, and the counter still ends on the last one.
          </p>
          <button type="button" data-testid="flood-start" disabled={starting || running} onClick={start}>
            {running ? 'Flooding…' : 'Start a flood'}
          </button>
          {problem && <span className="problem"> {problem}</span>}
          <h2>
            Last seq <span data-testid="flood-seq">{last?.seq ?? 0}</span>
            {last && (
              <>
                {' '}
                of <span data-testid="flood-total">{last.total}</span>
              </>
            )}
          </h2>
          <table>
            <tbody>
              {Object.values(rows).map((t) => (
                <tr key={t.key}>
                  <td>{t.key}</td>
                  <td>{t.value.toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </main>
    </>
  )
}

createRoot(document.getElementById('root')!).render(
  <HoldfastProvider client={client}>
    <Flood />
  </HoldfastProvider>,
)
