// No React in here: the observer is a plain subscribable that `useSubscription` reads with
// `useSyncExternalStore`, the way TanStack Query's QueryObserver backs `useQuery`.
import {
  type ConnectionState,
  type GapInfo,
  type HoldfastClient,
  HoldfastError,
  type Message,
  type SubscribeOptions,
  type Subscription,
} from '@holdfast/client'

/** Where a `useSubscription` stands. See `SubscriptionResult`. */
export type SubscriptionStatus = 'idle' | 'subscribing' | 'live' | 'error'

interface SubscriptionResultBase<TData> {
  /** `data` of the last message received, `undefined` until the first one. */
  data: TData | undefined
  /** The last `keep` messages, oldest first. A new array whenever a message arrives. */
  messages: readonly Message<TData>[]
  lastMessage: Message<TData> | undefined
  /** The last time the server could not replay everything since the resume cursor, if it happened. */
  gap: GapInfo | undefined
  /** The client's connection, delivered beside the data. */
  connection: ConnectionState
}

/**
 * What `useSubscription` returns. Switch on `status`:
 * - `idle`: not subscribed (`enabled: false`, server rendering, or the client was closed);
 * - `subscribing`: subscribed, the client is connecting or reconnecting;
 * - `live`: subscribed and connected, messages flow;
 * - `error`: the server refused the channel, the subscriber failed, or the client stopped with an
 *   error; `error` says which. Data received before stays readable.
 */
export type SubscriptionResult<TData = unknown> =
  | (SubscriptionResultBase<TData> & { status: 'idle' | 'subscribing' | 'live'; error: undefined })
  | (SubscriptionResultBase<TData> & { status: 'error'; error: HoldfastError })

/** Options of `useSubscription`. All optional. */
export interface UseSubscriptionOptions<TData = unknown> {
  /** Subscribe only while true. Defaults to true. */
  enabled?: boolean
  /**
   * Resume after this cursor: newer messages are replayed first. Read when the subscription starts
   * (mount, or a change of `channel`, `enabled` or client), and only by the first subscriber of a
   * channel, since subscribers of one channel share one network subscription. Defaults to none:
   * delivery starts with the first message after subscribing.
   */
  since?: SubscribeOptions['since']
  /** How many recent messages `messages` holds (a non-negative integer or `Infinity`). Defaults to 1. */
  keep?: number
  /** Called with every message delivered, outside render. The latest function is always used. */
  onMessage?: (message: Message<TData>) => void
  /**
   * Throw the error during render (for an error boundary) instead of returning `status: 'error'`.
   * A function decides per error. Defaults to false.
   */
  throwOnError?: boolean | ((error: HoldfastError) => boolean)
  /**
   * Backpressure policy of this subscriber, passed to `client.subscribe` as is: `buffer()`, `latest()` or
   * `coalesce(key)` from `@holdfast/client/delivery`. Read when the subscription starts, like `since`.
   * Defaults to the client's default (the handler in order, as each message arrives).
   */
  delivery?: SubscribeOptions<TData>['delivery']
}

export interface ObserverOptions<TData> extends UseSubscriptionOptions<TData> {
  client: HoldfastClient
  channel: string
}

/** Server rendering and hydration see no connection at all: a constant, so markup always matches. */
export const SERVER_CONNECTION_STATE: ConnectionState = Object.freeze({
  status: 'closed',
  transport: undefined,
  error: undefined,
}) as ConnectionState

const NO_MESSAGES: readonly Message<never>[] = Object.freeze([])

export const SERVER_RESULT: SubscriptionResult<never> = Object.freeze({
  status: 'idle',
  data: undefined,
  messages: NO_MESSAGES,
  lastMessage: undefined,
  gap: undefined,
  error: undefined,
  connection: SERVER_CONNECTION_STATE,
})

/**
 * One `useSubscription`'s view of a channel. The network subscription starts with the first
 * listener and stops after the last one, a microtask later, so StrictMode's
 * mount → unmount → mount keeps the one subscription instead of dropping and recreating it.
 */
export class SubscriptionObserver<TData = unknown> {
  private options: ObserverOptions<TData>
  private readonly listeners = new Set<() => void>()
  private subscription: Subscription | undefined
  private offState: (() => void) | undefined
  private attached = false
  private releaseToken = 0
  private messages: readonly Message<TData>[] = NO_MESSAGES
  private lastMessage: Message<TData> | undefined
  private gap: GapInfo | undefined
  private channelError: HoldfastError | undefined
  private result: SubscriptionResult<TData>

  constructor(options: ObserverOptions<TData>) {
    this.options = options
    this.result = this.compute()
  }

  /** `useSyncExternalStore`'s subscribe: stable, so it can be passed as is. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    if (this.listeners.size === 1) this.attach()
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) this.scheduleDetach()
    }
  }

  readonly getSnapshot = (): SubscriptionResult<TData> => this.result

  /** Whether the current result belongs to these options (else a render runs ahead of `setOptions`). */
  matches(client: HoldfastClient, channel: string, enabled: boolean): boolean {
    const o = this.options
    return o.client === client && o.channel === channel && (o.enabled ?? true) === enabled
  }

  setOptions(next: ObserverOptions<TData>): void {
    const prev = this.options
    this.options = next
    const restart =
      prev.client !== next.client ||
      prev.channel !== next.channel ||
      (prev.enabled ?? true) !== (next.enabled ?? true)
    if (restart) {
      if (this.attached) {
        this.detach()
        this.resetState()
        this.attach()
      } else {
        this.resetState()
      }
      return
    }
    if (prev.keep !== next.keep) this.messages = trim(this.messages, next.keep)
    this.update()
  }

  private attach(): void {
    // A release pending from StrictMode's simulated unmount: keep what is there.
    this.releaseToken++
    if (this.attached) return
    this.attached = true
    const { client, channel } = this.options
    this.offState = client.onStateChange(() => this.update())
    if (this.options.enabled ?? true) {
      let sub: Subscription | undefined
      const options: SubscribeOptions<TData> = {
        since: this.options.since,
        onGap: (gap) => {
          if (this.subscription !== sub) return
          this.gap = gap
          this.update()
        },
        onError: (error) => {
          if (this.subscription !== sub) return
          this.channelError = error
          this.update()
        },
      }
      if (this.options.delivery !== undefined) options.delivery = this.options.delivery
      try {
        sub = client.subscribe<TData>(channel, (message) => this.onMessage(sub, message), options)
        this.subscription = sub
      } catch (error) {
        // An invalid channel name or delivery policy: state, like any other refusal.
        this.channelError = HoldfastError.from(error, 'bad_request')
      }
    }
    this.update()
  }

  private scheduleDetach(): void {
    const token = ++this.releaseToken
    queueMicrotask(() => {
      if (token === this.releaseToken && this.listeners.size === 0) this.detach()
    })
  }

  private detach(): void {
    if (!this.attached) return
    this.attached = false
    const sub = this.subscription
    this.subscription = undefined
    sub?.unsubscribe()
    this.offState?.()
    this.offState = undefined
  }

  private onMessage(sub: Subscription | undefined, message: Message<TData>): void {
    if (sub === undefined || this.subscription !== sub) return
    this.messages = trim([...this.messages, message], this.options.keep)
    this.lastMessage = message
    // A subscriber error that was not fatal (a throwing onMessage) is over once delivery goes on.
    this.channelError = undefined
    this.update()
    // After the state update, so a throwing onMessage is reported by the client (onError) and not lost.
    this.options.onMessage?.(message)
  }

  private resetState(): void {
    this.messages = NO_MESSAGES
    this.lastMessage = undefined
    this.gap = undefined
    this.channelError = undefined
    this.update()
  }

  private update(): void {
    const next = this.compute()
    if (sameResult(this.result, next)) return
    this.result = next
    for (const listener of [...this.listeners]) listener()
  }

  private compute(): SubscriptionResult<TData> {
    const { client } = this.options
    const connection = client.state
    const base = {
      data: this.lastMessage?.data,
      messages: this.messages,
      lastMessage: this.lastMessage,
      gap: this.gap,
      connection,
    }
    if (!(this.options.enabled ?? true)) return { ...base, status: 'idle', error: undefined }
    const error = this.channelError ?? (connection.status === 'closed' ? connection.error : undefined)
    if (error) return { ...base, status: 'error', error }
    if (connection.status === 'closed') return { ...base, status: 'idle', error: undefined }
    return {
      ...base,
      status: connection.status === 'connected' ? 'live' : 'subscribing',
      error: undefined,
    }
  }
}

function trim<T>(messages: readonly T[], keep: number | undefined): readonly T[] {
  const n = keep ?? 1
  if (n === 0) return NO_MESSAGES as readonly T[]
  return messages.length > n ? messages.slice(messages.length - n) : messages
}

/** Throws during render, where the mistake is, instead of failing later inside a message handler. */
export function checkKeep(keep: number | undefined): void {
  if (keep === undefined || keep === Number.POSITIVE_INFINITY || (Number.isInteger(keep) && keep >= 0)) return
  throw new RangeError(
    `[holdfast] useSubscription({ keep }) must be a non-negative integer or Infinity, got ${keep}`,
  )
}

function sameResult<T>(a: SubscriptionResult<T>, b: SubscriptionResult<T>): boolean {
  return (
    a.status === b.status &&
    a.error === b.error &&
    a.data === b.data &&
    a.messages === b.messages &&
    a.lastMessage === b.lastMessage &&
    a.gap === b.gap &&
    a.connection === b.connection
  )
}
