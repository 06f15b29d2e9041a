import { HoldfastError } from '../HoldfastError'

/**
 * Refuses a count or duration that is not a finite number (NaN, negative, Infinity, a string), and a duration
 * (`…Ms`) a timer cannot wait: each would reach a timer or a bound and misbehave, often as a loop (a ping per
 * round trip, a poll per millisecond, a WebSocket cut 1 ms after it started). 0 means off or
 * none for the few options where that makes sense; elsewhere it must be above 0. Checks the options of
 * `createClient` and `createEventStream` and their groups. Throws `bad_request`.
 */
export function checkOptions(options: {
  heartbeat?: object | false | undefined
  backoff?: object
  queue?: object
  fallback?: object
}): void {
  for (const group of [options, options.heartbeat, options.backoff, options.queue, options.fallback])
    for (const key in group || {}) {
      const value = (group as Record<string, unknown>)[key]
      const min = /Mar|pro|sta|^maxB|^maxMe|ures/.test(key) ? 0 : Number.MIN_VALUE
      // A duration must fit a timer (2^31-1 ms, 24.8 days), with room for the 5 s openTimeoutMs gets on its way to one.
      const ms = /Ms$/.test(key)
      if (
        (ms || /^max|ures/.test(key)) &&
        value !== undefined &&
        !(typeof value === 'number' && value >= min && value < (ms ? 20736e5 : 1 / 0))
      )
        throw new HoldfastError(
          'bad_request',
          `${key} must be a finite number ${min ? '>' : '>='} 0${ms ? ' below 24 days' : ''}, got ${value}`,
        )
    }
}
