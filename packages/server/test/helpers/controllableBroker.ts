import type { Broker, MessageListener } from '../../src/index'

/**
 * Wraps a broker so tests can widen race windows (slow reads) and simulate a lost live feed
 * followed by a resync, the way a Redis broker behaves after reconnecting.
 */
export function controllableBroker(inner: Broker) {
  const resyncListeners = new Set<() => void>()
  const control = {
    /** Milliseconds to wait before and after each read: messages published then fall into the seam. */
    readDelayMs: 0,
    /** While true, live notifications are lost (as during a broker disconnect). */
    deaf: false,
    reads: 0,
    /** Awaited before each read: a test can hold a read until something else has happened. */
    beforeRead: undefined as (() => Promise<void>) | undefined,
    fireResync(): void {
      for (const listener of [...resyncListeners]) listener()
    },
  }
  const pause = () =>
    control.readDelayMs > 0 ? new Promise((r) => setTimeout(r, control.readDelayMs)) : undefined
  const broker: Broker = {
    publish: (channel, json, options) => inner.publish(channel, json, options),
    async read(channel, options) {
      control.reads++
      await control.beforeRead?.()
      await pause()
      const result = await inner.read(channel, options)
      await pause()
      return result
    },
    subscribe(channel, listener: MessageListener) {
      return inner.subscribe(channel, (message) => {
        if (!control.deaf) listener(message)
      })
    },
    onResync(listener) {
      resyncListeners.add(listener)
      return () => resyncListeners.delete(listener)
    },
    close: () => inner.close(),
  }
  return { broker, control }
}
