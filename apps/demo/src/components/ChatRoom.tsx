import type { Cursor } from '@holdfast/client'
import { usePublish, useSubscription } from '@holdfast/react'
import { type FormEvent, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import type { DemoState } from '../demoState'
import { type ChatEvent, foldOnline, type OnlineCounts, onlineUsers } from '../online'
import { OnlineList } from './OnlineList'

const CHANNEL = 'chat.lobby'
/** Within this many pixels of the bottom counts as "reading the newest". */
const BOTTOM_SLACK_PX = 16

/**
 * A chat room: on arrival it replays what the server kept of the room (from `start`, the log's beginning),
 * then follows it live; the view stays on the newest message unless the reader scrolled up.
 */
export function ChatRoom({ start, history }: { start: Cursor | undefined; history?: DemoState['history'] }) {
  const user = useMemo(
    () => new URLSearchParams(location.search).get('user') ?? `guest-${Math.floor(Math.random() * 1000)}`,
    [],
  )
  const [online, setOnline] = useState<OnlineCounts>(() => new Map())
  const { messages, gap, status } = useSubscription<ChatEvent>(CHANNEL, {
    since: start,
    enabled: start !== undefined,
    keep: 200,
    onMessage: (m) => setOnline((o) => foldOnline(o, m.data)),
  })
  const publish = usePublish()
  const [text, setText] = useState('')

  useEffect(() => {
    if (start === undefined) return
    void publish(CHANNEL, { kind: 'join', user })
    const leave = () => void publish(CHANNEL, { kind: 'leave', user })
    addEventListener('pagehide', leave)
    return () => removeEventListener('pagehide', leave)
  }, [publish, user, start])

  const logRef = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const [newerBelow, setNewerBelow] = useState(false)
  const newest = messages.at(-1)?.cursor
  // Runs when the newest message changes: follow it, or say there is more below.
  useLayoutEffect(() => {
    const el = logRef.current
    if (!el) return
    if (atBottom.current) el.scrollTop = el.scrollHeight
    else if (newest) setNewerBelow(true)
  }, [newest])
  const onScroll = () => {
    const el = logRef.current!
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK_PX
    if (atBottom.current) setNewerBelow(false)
  }
  const toNewest = () => {
    atBottom.current = true
    setNewerBelow(false)
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight })
  }

  const send = (event: FormEvent) => {
    event.preventDefault()
    if (!text.trim()) return
    void publish(CHANNEL, { kind: 'message', user, text })
    setText('')
    // Your own message is always shown.
    toNewest()
  }

  const first = messages[0]?.cursor
  let header: string | undefined
  if (gap && gap.since === start)
    header = `Older messages are gone: the server keeps the last ${history?.size ?? '?'} messages of a room, for ${Math.round((history?.ttlMs ?? 0) / 60_000)} minutes.`
  else if (gap)
    header = `Some messages could not be recovered after a reconnect: the server no longer had them (it restarted, or they were past its retention).`
  else if ((status === 'live' || first) && (!first || first.endsWith(':1')))
    header = 'The beginning of the room: everything since the server started.'

  return (
    <section className="chat">
      <h2>Chat room ({user})</h2>
      <OnlineList users={onlineUsers(online)} />
      <div className="chat-log" data-testid="chat-log" ref={logRef} onScroll={onScroll}>
        {header && (
          <div className="history-note" data-testid="history-note">
            {header}
          </div>
        )}
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
      {newerBelow && (
        <button type="button" className="newer" data-testid="newer-below" onClick={toNewest}>
          Newer messages below
        </button>
      )}
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
