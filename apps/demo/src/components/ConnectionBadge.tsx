import { useConnectionState } from '@holdfast/react'
import { useEffect, useState } from 'react'
import { useLastNote } from '../eventLog'

/** Transport, state, attempt number and time to the next retry, and the last thing that happened. */
export function ConnectionBadge() {
  const state = useConnectionState()
  const note = useLastNote()
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (state.status !== 'reconnecting') return
    const id = setInterval(() => setNow(Date.now()), 250)
    return () => clearInterval(id)
  }, [state.status])
  return (
    <span className="badge" data-testid="connection-badge" data-status={state.status}>
      <strong data-testid="connection-status">{state.status}</strong>
      {state.transport && <span data-testid="connection-transport">{state.transport}</span>}
      {state.status === 'reconnecting' && (
        <span>
          attempt {state.attempt}, retry in {Math.max(0, Math.ceil((state.nextRetryAt - now) / 1000))} s
        </span>
      )}
      {state.status === 'closed' && state.error && <span>{state.error.code}</span>}
      {note && (
        <span className="note" data-testid="connection-note" title={note.time}>
          {note.text}
        </span>
      )}
    </span>
  )
}
