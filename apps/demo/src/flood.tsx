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

type Tick = { key: string; value: number; seq: number }

/** 5,000 messages a second on one channel, coalesced by key: the page renders once a frame at most. */
function Flood() {
  const [rows, setRows] = useState<Record<string, Tick>>({})
  const [count, setCount] = useState(0)
  useSubscription<Tick>('flood', {
    delivery: coalesce((m) => m.data.key, 'frame'),
    onMessage: (m) => {
      setRows((r) => ({ ...r, [m.data.key]: m.data }))
      setCount(m.data.seq)
    },
  })
  return (
    <section>
      <h2>
        Flood: last seq <span data-testid="flood-seq">{count}</span>
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
  )
}

createRoot(document.getElementById('root')!).render(
  <HoldfastProvider client={client}>
    <Flood />
  </HoldfastProvider>,
)
