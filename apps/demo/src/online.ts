/** What the chat channel carries: messages, and the notices a page sends when it opens and closes. */
export type ChatEvent =
  | { kind: 'message'; user: string; text: string }
  | { kind: 'join' | 'leave'; user: string }

/** Open pages per user. */
export type OnlineCounts = ReadonlyMap<string, number>

/**
 * Folds one chat event into who is online: a page that joined and has not left. This is the stand-in for
 * presence: it cannot know about a page that closed without saying goodbye (a crash, a lost network), and a
 * late joiner only sees the joins the server still keeps. When presence (issue 14) lands, feed
 * `<OnlineList>` from it instead and delete this fold; nothing else changes.
 */
export function foldOnline(online: OnlineCounts, event: ChatEvent): OnlineCounts {
  if (event.kind === 'message') return online
  const next = new Map(online)
  const count = (next.get(event.user) ?? 0) + (event.kind === 'join' ? 1 : -1)
  if (count > 0) next.set(event.user, count)
  else next.delete(event.user)
  return next
}

/** The users with at least one open page, sorted. */
export function onlineUsers(online: OnlineCounts): string[] {
  return [...online.keys()].sort()
}
