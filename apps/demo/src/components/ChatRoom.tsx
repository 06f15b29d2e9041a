import { usePublish, useSubscription } from '@holdfast/react'
import { type FormEvent, useEffect, useMemo, useState } from 'react'

type ChatEvent = { kind: 'message'; user: string; text: string } | { kind: 'join' | 'leave'; user: string }

const CHANNEL = 'chat.lobby'

/** A chat room over WebSocket: join and leave notices, every message with its cursor as id. */
export function ChatRoom() {
  const user = useMemo(
    () => new URLSearchParams(location.search).get('user') ?? `guest-${Math.floor(Math.random() * 1000)}`,
    [],
  )
  const { messages } = useSubscription<ChatEvent>(CHANNEL, { keep: 200 })
  const publish = usePublish()
  const [text, setText] = useState('')

  useEffect(() => {
    void publish(CHANNEL, { kind: 'join', user })
    const leave = () => void publish(CHANNEL, { kind: 'leave', user })
    addEventListener('pagehide', leave)
    return () => removeEventListener('pagehide', leave)
  }, [publish, user])

  const send = (event: FormEvent) => {
    event.preventDefault()
    if (!text.trim()) return
    void publish(CHANNEL, { kind: 'message', user, text })
    setText('')
  }

  return (
    <section>
      <h2>Chat room ({user})</h2>
      <div className="chat-log" data-testid="chat-log">
        {messages.map((m) => (
          <div key={m.cursor} id={m.cursor} className={m.data.kind === 'message' ? 'message' : 'notice'}>
            {m.data.kind === 'message' ? (
              <>
                <strong>{m.data.user}:</strong> {m.data.text}
              </>
            ) : (
              `${m.data.user} ${m.data.kind === 'join' ? 'joined' : 'left'}`
            )}
          </div>
        ))}
      </div>
      <form className="chat-form" onSubmit={send}>
        <input
          data-testid="chat-input"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Say something"
        />
        <button type="submit" data-testid="chat-send">
          Send
        </button>
      </form>
    </section>
  )
}
