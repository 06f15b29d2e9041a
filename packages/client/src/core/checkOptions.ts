import { HoldfastError } from '../HoldfastError'

/**
 * Refuses a count or duration that is not a finite number (NaN, negative, Infinity, a string): each would reach a
 * timer or a bound and misbehave, often as a loop (a ping per round trip, a poll per millisecond). 0 means off or
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
      if (
        /Ms$|^max|ures/.test(key) &&
        value !== undefined &&
        !(typeof value === 'number' && value >= min && value < 1 / 0)
      )
        throw new HoldfastError(
          'bad_request',
          `${key} must be a finite number ${min ? '>' : '>='} 0, got ${value}`,
        )
    }
}
