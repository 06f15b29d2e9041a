// Child processes for benchmarks: fork with IPC, call them like functions, and never leave one behind.
import { fork, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url))

/**
 * A set of forked Node processes that dies together: `close()` kills every member, and so does the
 * parent's exit (normal, thrown, or SIGINT/SIGTERM) while the group is open.
 */
export class ChildGroup {
  #children = new Set()
  #onExit = () => this.killAll()
  #onSignal = (signal) => {
    this.killAll()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }

  constructor() {
    process.on('exit', this.#onExit)
    process.once('SIGINT', this.#onSignal)
    process.once('SIGTERM', this.#onSignal)
  }

  /**
   * Forks `script` (relative to bench/) and waits for its `{ type: 'ready' }` message.
   * Resolves with a `Peer` whose `info` is that message.
   */
  async spawn(script, { args = [], execArgv = [], readyTimeoutMs = 30_000, env } = {}) {
    const child = fork(new URL(script, `file://${BENCH_DIR}/`), args, {
      execArgv,
      env: env ? { ...process.env, ...env } : process.env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    const peer = new Peer(child, script)
    peer.info = await peer.next('ready', readyTimeoutMs)
    return peer
  }

  /**
   * Starts a non-Node program as a member (killed with the group) and resolves once `readyPattern`
   * appears in its output.
   */
  spawnCommand(command, args, { readyPattern, readyTimeoutMs = 15_000 }) {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return new Promise((resolve, reject) => {
      let output = ''
      const timer = setTimeout(() => {
        reject(new Error(`[bench] ${command} not ready within ${readyTimeoutMs} ms: ${output.slice(-300)}`))
      }, readyTimeoutMs)
      const onData = (chunk) => {
        output += chunk
        if (readyPattern.test(output)) {
          clearTimeout(timer)
          child.stdout.off('data', onData)
          child.stdout.resume()
          resolve(child)
        }
      }
      child.stdout.setEncoding('utf8').on('data', onData)
      child.stderr.setEncoding('utf8').on('data', (chunk) => {
        output += chunk
      })
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`[bench] ${command} exited with ${code}: ${output.slice(-300)}`))
      })
    })
  }

  /** Kills every member at once (SIGKILL: a benchmark child holds nothing worth a graceful stop). */
  killAll() {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    this.#children.clear()
  }

  /** Kills the members and stops watching the parent's exit. */
  close() {
    this.killAll()
    process.off('exit', this.#onExit)
    process.off('SIGINT', this.#onSignal)
    process.off('SIGTERM', this.#onSignal)
  }
}

/** The parent's handle on one child: request/response calls and awaited one-off messages. */
export class Peer {
  #child
  #name
  #nextId = 1
  #calls = new Map()
  #waiters = new Set()
  #exitError

  constructor(child, name) {
    this.#child = child
    this.#name = name
    child.on('message', (message) => this.#onMessage(message))
    child.once('exit', (code, signal) => {
      this.#exitError = new Error(`[bench] ${name} exited (code ${code}, signal ${signal})`)
      for (const { reject } of this.#calls.values()) reject(this.#exitError)
      for (const waiter of this.#waiters) waiter.reject(this.#exitError)
      this.#calls.clear()
      this.#waiters.clear()
    })
  }

  get pid() {
    return this.#child.pid
  }

  /** Ends this child now. */
  kill() {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
  }

  /** Sends a signal (SIGTERM: a graceful stop the child handles itself). */
  signal(name) {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(name)
  }

  /** Resolves once the child has exited. */
  exited() {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => this.#child.once('exit', () => resolve()))
  }

  /** Sends `{ cmd, ...args }` and resolves with the child's answer, or rejects after `timeoutMs`. */
  call(cmd, args = {}, timeoutMs = 60_000) {
    if (this.#exitError) return Promise.reject(this.#exitError)
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id)
        reject(new Error(`[bench] ${this.#name}: "${cmd}" got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.#child.send({ id, cmd, ...args })
    })
  }

  /** Resolves with the next message of `type` the child sends on its own. */
  next(type, timeoutMs = 60_000) {
    if (this.#exitError) return Promise.reject(this.#exitError)
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (v) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          reject(e)
        },
      }
      const timer = setTimeout(
        () => waiter.reject(new Error(`[bench] ${this.#name}: no "${type}" within ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.#waiters.add(waiter)
    })
  }

  #onMessage(message) {
    if (message?.replyTo !== undefined) {
      const call = this.#calls.get(message.replyTo)
      if (!call) return
      this.#calls.delete(message.replyTo)
      if (message.error) call.reject(new Error(`[bench] ${this.#name}: ${message.error}`))
      else call.resolve(message.result)
      return
    }
    for (const waiter of this.#waiters) {
      if (waiter.type === message?.type) {
        waiter.resolve(message)
        return
      }
    }
  }
}

/**
 * Ends the process with an error if the benchmark runs past `ms` (children die with it, through the
 * group's exit hook). Returns a function that cancels the deadline.
 */
export function deadline(ms, name) {
  const timer = setTimeout(() => {
    console.error(`[bench] ${name} ran past its ${Math.round(ms / 1000)} s limit; stopping`)
    process.exit(1)
  }, ms)
  timer.unref()
  return () => clearTimeout(timer)
}
