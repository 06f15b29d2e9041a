import type { Disconnect } from '../core/classifyDisconnect'
import type { PublishResult } from '../core/Publisher'
import { HoldfastError } from '../HoldfastError'
import type { Transport, TransportFactory, TransportHost, TransportName } from '../transports/Transport'
import { type ChannelOp, fromWire, type LeaderMessage } from './messages'
import type { TabLink } from './TabLink'

/**
 * The transport of every tab's client when tabs share a connection: the leader tab's connection, reached over
 * BroadcastChannel. It implements the ordinary contract, so each tab keeps its own channel registry (cursors,
 * duplicate filter, gaps) and its own publisher (queue, idempotency keys): the leader only relays. It counts
 * as open while the leader's connection is up, and reports `closed` when that connection drops or the leader
 * changes; the tab's client then asks for its channels again from its own cursors and resends its
 * unacknowledged publishes with their keys, through whichever tab leads by then. That makes a hand-off
 * lossless and exactly once by construction.
 */
export function tabTransport(link: TabLink): TransportFactory {
  return (host: TransportHost): Transport => {
    /** The leader and connection session this tab is attached to. */
    let attached: { id: string; session: number } | undefined
    let wanted = false
    let closed = false
    /** Publishes on their way, by idempotency key. */
    const pending = new Map<string, [(result: PublishResult) => void, (error: HoldfastError) => void]>()
    let ops: ChannelOp[] = []

    const drop = (disconnect: Disconnect) => {
      const leader = link.leader
      if (attached && leader?.id === attached.id) link.post({ t: 'detach' })
      attached = undefined
      for (const [, reject] of pending.values())
        reject(new HoldfastError('disconnected', 'the leader tab went away'))
      pending.clear()
      ops = []
      host.closed(disconnect)
    }

    /** Decides from what the tab link knows: attach, wait, or report. */
    const check = () => {
      if (closed) return
      const leader = link.leader
      const state = leader?.state
      if (attached) {
        if (
          leader?.id === attached.id &&
          state!.session === attached.session &&
          state!.status === 'connected'
        )
          return
        const error = state?.error && leader?.id === attached.id ? fromWire(state.error) : undefined
        return drop({
          opened: true,
          error:
            error ??
            new HoldfastError(
              'disconnected',
              leader?.id === attached.id ? 'the leader tab lost its connection' : 'the leader tab changed',
            ),
        })
      }
      if (!wanted || !leader || !state) return
      if (state.status === 'connected') {
        wanted = false
        attached = { id: leader.id, session: state.session }
        link.post({ t: 'attach', session: state.session })
        host.opened({ maxMessageBytes: state.maxMessageBytes })
      } else if (state.status === 'reconnecting' && state.nextRetryAt! > host.now()) {
        // Mirror the leader's wait: its retry time is the floor of ours.
        wanted = false
        host.closed({
          opened: false,
          hintMs: state.nextRetryAt! - host.now(),
          error: state.error && fromWire(state.error),
        })
      } else if (state.status === 'closed' && state.error) {
        wanted = false
        // Terminal in the leader is terminal here, with the leader's code: reported the way a server refuses
        // for good (403 with an error body), which the classifier stops on and keeps the code of.
        const { code, message } = state.error
        host.closed({
          opened: false,
          status: 403,
          reason: JSON.stringify({ error: { code, message: `the leader tab stopped: ${message}` } }),
        })
      }
      // Connecting, or between leaders: wait for the next state.
    }

    const unlisten = link.listen((message: LeaderMessage) => {
      if (closed) return
      if (message.t === 'leader' || message.t === 'resign') return check()
      if (!attached || message.from !== attached.id) return
      if (message.t === 'frame') {
        if (!message.to.includes(link.id)) return
        host.activity()
        host.frame(message.frame)
      } else if (message.t === 'ack' && message.to === link.id) {
        const waiting = pending.get(message.key)
        pending.delete(message.key)
        if (message.error) waiting?.[1](fromWire(message.error))
        else if (message.result) waiting?.[0](message.result)
      }
    })

    /** Subscribe and unsubscribe requests of one tick go to the leader as one message, in order. */
    const request = (op: ChannelOp) => {
      if (!attached) return
      if (!ops.length)
        queueMicrotask(() => {
          if (attached && ops.length) link.post({ t: 'ops', session: attached.session, ops })
          ops = []
        })
      ops.push(op)
    }

    return {
      // The leader's transport, so the tab's connection state names what really carries it.
      get name(): TransportName {
        return link.leader?.state.transport ?? 'websocket'
      },
      concurrency: Number.POSITIVE_INFINITY,
      open() {
        wanted = true
        link.start()
        check()
      },
      close() {
        closed = true
        unlisten()
        if (attached && link.leader?.id === attached.id) link.post({ t: 'detach' })
        attached = undefined
        for (const [, reject] of pending.values()) reject(new HoldfastError('closed', 'client closed'))
        pending.clear()
      },
      subscribe: (subscription) => request(subscription),
      unsubscribe: (channel) => request({ channel, unsubscribe: true }),
      publish({ channel, data, key }) {
        return new Promise<PublishResult>((resolve, reject) => {
          if (!attached) return reject(new HoldfastError('not_connected', 'no leader tab to publish through'))
          pending.set(key, [resolve, reject])
          link.post({ t: 'pub', channel, data, key })
        })
      },
    }
  }
}
