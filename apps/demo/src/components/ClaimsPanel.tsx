import { useHoldfastClient } from '@holdfast/react'
import { useEffect, useState } from 'react'
import { SequenceCheck } from '../sequenceCheck'

const SEQUENCE_CHANNEL = 'demo.seq'

/**
 * The claim, checked live: the demo server numbers a message every 100 ms on `demo.seq`, and this page
 * checks that every number arrives once, in order, whatever happens to the connection. Beside it, the
 * client's own counters (`client.stats`).
 */
export function ClaimsPanel() {
  const client = useHoldfastClient()
  const [check] = useState(() => new SequenceCheck())
  const [, setTick] = useState(0)
  useEffect(() => {
    const sub = client.subscribe<{ seq: number }>(SEQUENCE_CHANNEL, (m) => check.push(m.cursor, m.data.seq), {
      onGap: () => check.gap(),
    })
    const id = setInterval(() => setTick((t) => t + 1), 500)
    return () => {
      clearInterval(id)
      sub.unsubscribe()
    }
  }, [client, check])
  const { stats } = client
  const r = check.report
  return (
    <section className="claims" data-testid="claims">
      <h2>Claims, checked</h2>
      <p className="verdict">
        <span data-testid="claims-verdict" className={r.lost === 0 && r.duplicated === 0 ? 'ok' : 'bad'}>
          lost <b data-testid="claims-lost">{r.lost}</b>, duplicated{' '}
          <b data-testid="claims-duplicated">{r.duplicated}</b>
        </span>{' '}
        of <b data-testid="claims-seq-received">{r.received}</b> numbered messages
        {r.first !== undefined && (
          <>
            {' '}
            (#{r.first} to #<span data-testid="claims-seq-last">{r.last}</span>)
          </>
        )}
        {r.skippedInGaps > 0 && (
          <>
            ; <b data-testid="claims-skipped">{r.skippedInGaps}</b> skipped in reported gaps
          </>
        )}
      </p>
      <table>
        <tbody>
          <tr>
            <td>messages this page received</td>
            <td data-testid="claims-received">{stats.messagesDelivered}</td>
          </tr>
          <tr>
            <td>duplicates the client dropped</td>
            <td data-testid="claims-dropped">{stats.duplicatesDropped}</td>
          </tr>
          <tr>
            <td>gaps reported</td>
            <td data-testid="claims-gaps">{stats.gaps}</td>
          </tr>
          <tr>
            <td>transport switches</td>
            <td data-testid="claims-switches">{stats.transportSwitches}</td>
          </tr>
          <tr>
            <td>connections made</td>
            <td data-testid="claims-connects">{stats.connects}</td>
          </tr>
        </tbody>
      </table>
    </section>
  )
}
