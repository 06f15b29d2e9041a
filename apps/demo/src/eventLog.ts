import { useSyncExternalStore } from 'react'

/**
 * What the event log shows. `note` entries are the ones the badge repeats: what just happened to the
 * connection (a new token, a fallback, a gap), as opposed to every state on the way.
 */
export interface LogEntry {
  id: number
  time: string
  text: string
  note: boolean
}

const MAX_ENTRIES = 60
let entries: readonly LogEntry[] = []
let lastNote: LogEntry | undefined
let nextId = 0
const listeners = new Set<() => void>()

/** Adds a line to this page's event log (newest first). */
export function log(text: string, options: { note?: boolean } = {}): void {
  const entry = { id: nextId++, time: new Date().toLocaleTimeString(), text, note: !!options.note }
  entries = [entry, ...entries].slice(0, MAX_ENTRIES)
  if (entry.note) lastNote = entry
  for (const fn of listeners) fn()
}

function subscribe(fn: () => void): () => void {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

export function useEventLog(): readonly LogEntry[] {
  return useSyncExternalStore(subscribe, () => entries)
}

/** The last entry worth repeating in the badge, if any. */
export function useLastNote(): LogEntry | undefined {
  return useSyncExternalStore(subscribe, () => lastNote)
}
