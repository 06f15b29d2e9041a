// Bounded parallelism for opening thousands of connections without a SYN flood.

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight; rejects on the first failure. */
export async function runLimited(count, limit, task) {
  let next = 0
  async function worker() {
    while (next < count) {
      const i = next++
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
}

/** Resolves after `ms`. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects with `message` when `promise` takes longer than `ms`. */
export async function withTimeout(promise, ms, message) {
  let timer
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`[bench] ${message} (after ${ms} ms)`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
