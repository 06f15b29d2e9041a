import { useConnectionState, useSubscription } from '@holdfast/react'

/** Notifications flow one way, over SSE (this subtree's client is SSE-only). */
export function NotificationFeed() {
  const { messages } = useSubscription<{ text: string }>('notifications', { keep: 20 })
  const state = useConnectionState()
  return (
    <section>
      <h2>
        Notifications{' '}
        <small data-testid="feed-transport">
          {state.status === 'connected' ? state.transport : state.status}
        </small>
      </h2>
      <ul className="feed" data-testid="feed">
        {[...messages].reverse().map((m) => (
          <li key={m.cursor}>{m.data.text}</li>
        ))}
      </ul>
    </section>
  )
}
