// The child side of lib/processes.mjs: answer the parent's calls, and die with the parent.

/**
 * Answers `{ id, cmd, ...args }` messages with `handlers[cmd](args)`, then says `ready` with `info`.
 * The process exits when the parent goes away (its IPC channel closes), so nothing outlives a benchmark.
 */
export function serve(handlers, info = {}) {
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (message) => {
    const { id, cmd, ...args } = message
    const handler = handlers[cmd]
    try {
      if (!handler) throw new Error(`unknown command "${cmd}"`)
      const result = await handler(args)
      process.send({ replyTo: id, result })
    } catch (error) {
      process.send({ replyTo: id, error: error instanceof Error ? error.stack : String(error) })
    }
  })
  process.send({ type: 'ready', ...info })
}

/** Reads `--name value` pairs from argv into an object of strings. */
export function argvOptions(argv = process.argv.slice(2)) {
  const options = {}
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) options[argv[i].slice(2)] = 'true'
      else options[argv[i].slice(2)] = argv[++i]
    }
  }
  return options
}

/** Wall-clock time in milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs() {
  return performance.timeOrigin + performance.now()
}

/** Collects garbage twice (finalizers run between) when the process was started with --expose-gc. */
export async function collectGarbage() {
  if (typeof globalThis.gc !== 'function') throw new Error('start this process with --expose-gc')
  globalThis.gc()
  await new Promise((resolve) => setImmediate(resolve))
  globalThis.gc()
}
