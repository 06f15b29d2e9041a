import { CheckFailure, describe } from './outcome'

/**
 * Re-evaluates waiting conditions whenever something arrives, and fails them after a deadline.
 * The deadline is generous and only bounds a wait: no check asserts how long anything took.
 */
export class Waiters {
  readonly #waiters = new Set<() => void>()

  /** Call whenever the observed state changed. */
  notify(): void {
    for (const check of [...this.#waiters]) check()
  }

  /**
   * Resolves with `probe()`'s first value that is not `undefined`. After `deadlineMs` fails the check
   * with `expected` and what `observed()` shows then.
   */
  until<T>(
    probe: () => T | undefined,
    expected: string,
    observed: () => unknown,
    deadlineMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const check = () => {
        let value: T | undefined
        try {
          value = probe()
        } catch (error) {
          done()
          reject(error)
          return
        }
        if (value === undefined) return
        done()
        resolve(value)
      }
      const done = () => {
        this.#waiters.delete(check)
        if (timer !== undefined) clearTimeout(timer)
      }
      this.#waiters.add(check)
      timer = setTimeout(() => {
        done()
        reject(
          new CheckFailure(expected, `nothing matching within ${deadlineMs} ms; saw ${describe(observed())}`),
        )
      }, deadlineMs)
      check()
    })
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
