// No React in here: the observer is a plain subscribable that `useSubscription` reads with
// `useSyncExternalStore`, the way TanStack Query's QueryObserver backs `useQuery`.
import {
  type ConnectionState,
  type Cursor,
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
  /**
   * The last time messages were missed: the server could not replay everything since the resume cursor,
   * or this component came back (or started with `since`) on a channel others kept, after messages it did
   * not get.
   */
  gap: GapInfo | undefined
  /** The client's connection, delivered beside the data. */
  connection: ConnectionState
}

/**
 * What `useSubscription` returns. Switch on `status`:
 * - `idle`: not subscribed (`enabled: false`, server rendering, or the client was closed);
 * - `subscribing`: asked for, the server has not confirmed it on this connection yet (or the client is
 *   connecting or reconnecting);
 * - `live`: the server confirmed the subscription (or delivers on it) and the client is connected;
 * - `error`: the server refused the channel, the subscriber failed, or the client stopped with an
 *   error; `error` says which. Data received before stays readable. Asking again (a remount, `enabled`
 *   turned off and on) sends the subscription again.
 */
export type SubscriptionResult<TData = unknown> =
  | (SubscriptionResultBase<TData> & { status: 'idle' | 'subscribing' | 'live'; error: undefined })
  | (SubscriptionResultBase<TData> & { status: 'error'; error: HoldfastError })

/** Options of `useSubscription`. All optional. */
export interface UseSubscriptionOptions<TData = unknown> {
  /**
   * Subscribe only while true. Turning it off keeps the messages; turning it on again resumes after the
   * last one. Defaults to true.
   */
  enabled?: boolean
  /**
   * Resume after this cursor: newer messages are replayed first. Read when the subscription starts
   * (mount, or a change of `channel` or client); every later resubscribe resumes after the last message
   * delivered instead. Subscribers of one channel share one network subscription, so a channel that
   * others hold already is not replayed: what lies between `since` and where the channel is shows as `gap`.
   * Defaults to none: delivery starts with the first message after subscribing.
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

/** Observers with a network subscription, so one that joins a channel can tell whether it is live already. */
const attached = new Set<SubscriptionObserver<unknown>>()

/**
 * One `useSubscription`'s view of a channel. The network subscription starts with the first
 * listener and stops after the last one, a microtask later, so StrictMode's
 * mount → unmount → mount keeps the one subscription instead of dropping and recreating it.
 * Every later subscribe (`enabled` turned on again, an `<Activity>` shown again) resumes from the
 * last message this observer delivered, or reports what it missed as a gap.
 */
export class SubscriptionObserver<TData = unknown> {
  #options: ObserverOptions<TData>
  readonly #listeners = new Set<() => void>()
  #subscription: Subscription | undefined
  #offState: (() => void) | undefined
  #attached = false
  #releaseToken = 0
  #messages: readonly Message<TData>[] = NO_MESSAGES
  #lastMessage: Message<TData> | undefined
  #gap: GapInfo | undefined
  #channelError: HoldfastError | undefined
  /** The server confirmed this subscription (or delivers on it) on the current connection. */
  #confirmed = false
  /** Resume point: the last message delivered, or `since`; nothing up to it is delivered again. */
  #cursor: Cursor | undefined
  /** Where the server started the channel, the resume point while no message has been delivered. */
  #start: Cursor | undefined
  #result: SubscriptionResult<TData>

  constructor(options: ObserverOptions<TData>) {
    this.#options = options
    this.#result = this.#compute()
  }

  /** `useSyncExternalStore`'s subscribe: stable, so it can be passed as is. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    if (this.#listeners.size === 1) this.#attach()
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0) this.#scheduleDetach()
    }
  }

  readonly getSnapshot = (): SubscriptionResult<TData> => this.#result

  /** Whether the current result belongs to this client and channel (else a render runs ahead of `setOptions`). */
  matches(client: HoldfastClient, channel: string): boolean {
    return this.#options.client === client && this.#options.channel === channel
  }

  get enabled(): boolean {
    return isEnabled(this.#options)
  }

  setOptions(next: ObserverOptions<TData>): void {
    const prev = this.#options
    this.#options = next
    const moved = !this.matches(prev.client, prev.channel)
    // Turning `enabled` off and on keeps the messages and resumes after them; another channel starts afresh.
    if (moved || isEnabled(prev) !== isEnabled(next)) {
      const wasAttached = this.#attached
      this.#detach()
      if (moved) this.#resetState()
      if (wasAttached) this.#attach()
      else this.#update()
      return
    }
    if (prev.keep !== next.keep) this.#messages = trim(this.#messages, next.keep)
    this.#update()
  }

  #attach(): void {
    // A release pending from StrictMode's simulated unmount: keep what is there.
    this.#releaseToken++
    if (this.#attached) return
    this.#attached = true
    const { client, channel } = this.#options
    this.#offState = client.onStateChange((state) => {
      // A new connection must be confirmed again.
      if (state.status !== 'connected') this.#confirmed = false
      this.#update()
    })
    this.#channelError = undefined
    this.#confirmed = false
    if (isEnabled(this.#options)) {
      this.#cursor ??= this.#start ?? this.#options.since
      let sub: Subscription | undefined
      // Answers about a subscription this observer has let go of are not its own.
      const own =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          if (this.#subscription !== sub) return
          fn(value)
          this.#update()
        }
      const options: SubscribeOptions<TData> = {
        since: this.#cursor,
        delivery: this.#options.delivery,
        onGap: own((gap) => {
          this.#gap = gap
        }),
        onError: own((error) => {
          this.#channelError = error
          this.#confirmed = false
        }),
        onSubscribed: own(() => {
          this.#start ??= sub!.cursor
          this.#channelError = undefined
          this.#confirmed = true
        }),
      }
      try {
        sub = client.subscribe<TData>(channel, (message) => this.#onMessage(sub, message), options)
        this.#subscription = sub
        this.#join(sub)
        attached.add(this as SubscriptionObserver<unknown>)
      } catch (error) {
        // An invalid channel name or delivery policy: state, like any other refusal.
        this.#channelError = HoldfastError.from(error, 'bad_request')
      }
    }
    this.#update()
  }

  /**
   * Right after subscribing. A channel other subscribers hold already is not asked for again, so this
   * observer starts where the channel is: live if another observer saw it confirmed, and with a gap if
   * messages after this observer's resume point went by while it was away.
   */
  #join(sub: Subscription): void {
    const { client, channel } = this.#options
    for (const other of attached)
      if (other.#confirmed && other.matches(client, channel) && client.state.status === 'connected')
        this.#confirmed = true
    const at = sub.cursor
    const mine = this.#cursor
    if (at === undefined || (mine !== undefined && !isAfter(at, mine))) return
    if (mine !== undefined)
      this.#gap = { channel, since: mine, epoch: at.slice(0, at.lastIndexOf(':')), cursor: at }
    this.#cursor = at
  }

  #scheduleDetach(): void {
    const token = ++this.#releaseToken
    queueMicrotask(() => {
      if (token === this.#releaseToken && this.#listeners.size === 0) this.#detach()
    })
  }

  #detach(): void {
    if (!this.#attached) return
    this.#attached = false
    attached.delete(this as SubscriptionObserver<unknown>)
    const sub = this.#subscription
    this.#subscription = undefined
    sub?.unsubscribe()
    this.#offState?.()
    this.#offState = undefined
  }

  #onMessage(sub: Subscription | undefined, message: Message<TData>): void {
    if (this.#subscription !== sub) return
    // Joined a channel whose replay starts before this observer's resume point: those it has already.
    if (this.#cursor !== undefined && !isAfter(message.cursor, this.#cursor)) return
    this.#cursor = message.cursor
    this.#messages = trim([...this.#messages, message], this.#options.keep)
    this.#lastMessage = message
    // Delivery is the server's answer too; and a subscriber error that was not fatal (a throwing
    // onMessage) is over once delivery goes on.
    this.#confirmed = true
    this.#channelError = undefined
    this.#update()
    // After the state update, so a throwing onMessage is reported by the client (onError) and not lost.
    this.#options.onMessage?.(message)
  }

  #resetState(): void {
    this.#messages = NO_MESSAGES
    this.#lastMessage = undefined
    this.#gap = undefined
    this.#channelError = undefined
    this.#cursor = undefined
    this.#start = undefined
    this.#update()
  }

  #update(): void {
    const next = this.#compute()
    if (sameResult(this.#result, next)) return
    this.#result = next
    for (const listener of [...this.#listeners]) listener()
  }

  #compute(): SubscriptionResult<TData> {
    const connection = this.#options.client.state
    const closed = connection.status === 'closed'
    const enabled = isEnabled(this.#options)
    const error = enabled ? (this.#channelError ?? (closed ? connection.error : undefined)) : undefined
    return {
      status:
        !enabled || (closed && !error)
          ? 'idle'
          : error
            ? 'error'
            : connection.status === 'connected' && this.#confirmed
              ? 'live'
              : 'subscribing',
      error,
      data: this.#lastMessage?.data,
      messages: this.#messages,
      lastMessage: this.#lastMessage,
      gap: this.#gap,
      connection,
    } as SubscriptionResult<TData>
  }
}

const isEnabled = (options: { enabled?: boolean }): boolean => options.enabled ?? true

const CURSOR = /^(.*):(\d+)(?:-(\d+))?$/

/** Whether cursor `a` is newer than `b`: later in the same epoch, or in another epoch (history was lost). */
function isAfter(a: Cursor, b: Cursor): boolean {
  const x = CURSOR.exec(a)
  const y = CURSOR.exec(b)
  if (!x || !y || x[1] !== y[1]) return a !== b
  return (Number(x[2]) - Number(y[2]) || Number(x[3] ?? 0) - Number(y[3] ?? 0)) > 0
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

function sameResult(a: object, b: object): boolean {
  for (const key in a) if (a[key as keyof object] !== b[key as keyof object]) return false
  return true
}
