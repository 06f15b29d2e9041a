import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the Redis the Redis tests use, or null when none is available (they are skipped). */
    redisUrl: string | null
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function waitForReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(
      () => reject(new Error(`redis-server not ready after ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    )
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}:\n${output}`))
    })
  })
}

/**
 * Shared by the server's and the webhooks' vitest configs. Starts a throwaway redis-server on a free
 * loopback port for the Redis tests, and stops it by its PID afterwards. REDIS_URL points the tests at an
 * existing Redis instead (every test uses its own key prefix; nothing is flushed). Without redis-server
 * the Redis tests are skipped locally, and fail in CI.
 */
export default async function setup(project: TestProject) {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL)
    return
  }
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server'
  const port = await freePort()
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  try {
    await waitForReady(child, 10_000)
  } catch (error) {
    child.kill('SIGKILL')
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
    if (process.env.CI)
      throw new Error(
        missing
          ? `[holdfast] ${bin} is not installed and CI must run the Redis tests: sudo apt-get install -y redis-server`
          : `[holdfast] could not start ${bin}: ${(error as Error).message}`,
      )
    console.warn(
      missing
        ? `[holdfast] ${bin} not found: the Redis tests are SKIPPED. Install it with: sudo apt-get install -y redis-server`
        : `[holdfast] could not start ${bin} (${(error as Error).message.split('\n')[0]}): the Redis tests are SKIPPED`,
    )
    project.provide('redisUrl', null)
    return
  }
  project.provide('redisUrl', `redis://127.0.0.1:${port}`)
  return async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(child.pid!, 'SIGTERM')
    await exited
  }
}
