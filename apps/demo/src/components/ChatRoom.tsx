import type { Cursor } from '@holdfast/client'
import { useHoldfastClient, usePublish, useSubscription } from '@holdfast/react'
import { type FormEvent, Fragment, useCallback, useLayoutEffect, useRef, useState } from 'react'
import { userName as user } from '../demoClient'
import type { DemoState } from '../demoState'
import { type ChatMessage, onlineUsers, useRoomPresence } from '../online'
import { OnlineList } from './OnlineList'

const CHANNEL = 'chat.lobby'
/** Within this many pixels of the bottom counts as "reading the newest". */
const BOTTOM_SLACK_PX = 16
/** Join and leave lines kept. */
const KEEP_NOTICES = 100

/** A join or leave line, shown after the chat message that was newest when it happened. */
interface Notice {
  id: number
  text: string
  after: Cursor | undefined
}

/**
 * A chat room: on arrival it replays what the server kept of the room (from `start`, the log's beginning),
 * then follows it live; the view stays on the newest message unless the reader scrolled up. Who is online,
 * and the "joined" and "left" lines, come from the room's presence.
 */
export function ChatRoom({ start, history }: { start: Cursor | undefined; history?: DemoState['history'] }) {
  const { messages, gap, status } = useSubscription<ChatMessage>(CHANNEL, {
    since: start,
    enabled: start !== undefined,
    keep: 200,
  })
  const publish = usePublish()
  const [text, setText] = useState('')

  const newestMessage = useRef<Cursor | undefined>(undefined)
  newestMessage.current = messages.at(-1)?.cursor
  const [notices, setNotices] = useState<readonly Notice[]>([])
  const onNotice = useCallback((line: string) => {
    setNotices((list) => [
      ...list.slice(-(KEEP_NOTICES - 1)),
      { id: (list.at(-1)?.id ?? 0) + 1, text: line, after: newestMessage.current },
    ])
  }, [])
  const room = useRoomPresence(useHoldfastClient(), CHANNEL, user, onNotice)

  const logRef = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const [newerBelow, setNewerBelow] = useState(false)
  const newest = messages.at(-1)?.cursor
  const newestNotice = notices.at(-1)?.id
  // Runs when the newest line changes: follow it, or say there is more below.
  useLayoutEffect(() => {
    const el = logRef.current
    if (!el) return
    if (atBottom.current) el.scrollTop = el.scrollHeight
    else if (newest || newestNotice) setNewerBelow(true)
  }, [newest, newestNotice])
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
      <OnlineList users={onlineUsers(room)} error={room.error?.message} />
      <div className="chat-log" data-testid="chat-log" ref={logRef} onScroll={onScroll}>
        {header && (
          <div className="history-note" data-testid="history-note">
            {header}
          </div>
        )}
        {noticesAt(notices, undefined, messages)}
        {messages.map((m) => (
          <Fragment key={m.cursor}>
            {m.data.kind === 'message' && (
              <div id={m.cursor} className="message">
                <strong>{m.data.user}:</strong> {m.data.text}
              </div>
            )}
            {noticesAt(notices, m.cursor, messages)}
          </Fragment>
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

/**
 * The notices after the message at `after`; with `after` undefined, those before every message shown (from
 * before the first message, or after one the room's window no longer holds).
 */
function noticesAt(
  notices: readonly Notice[],
  after: Cursor | undefined,
  messages: readonly { cursor: Cursor }[],
) {
  const shown = after === undefined ? new Set(messages.map((m) => m.cursor)) : undefined
  return notices
    .filter((n) => (shown ? n.after === undefined || !shown.has(n.after) : n.after === after))
    .map((n) => (
      <div key={`notice-${n.id}`} className="notice" data-testid="presence-notice">
        {n.text}
      </div>
    ))
}
