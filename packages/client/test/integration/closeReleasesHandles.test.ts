// Fault kind: close() releases every timer, socket and listener, on every transport, so a Node process that
// used a client (and published) exits by itself instead of hanging on the publish queue's expiry timer.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterEach, expect, test } from 'vitest'

const fixture = fileURLToPath(new URL('../fixtures/closeThenExit.ts', import.meta.url))
let server: HoldfastServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

function run(
  url: string,
  transport: string,
): Promise<{ code: number | null; output: string; exitedWithin: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, url, transport], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c))
    child.stderr.on('data', (c: Buffer) => (output += c))
    // Far below the 60 s the publish queue's expiry timer held the process for, far above a normal exit.
    const limit = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ code: null, output, exitedWithin: false })
    }, 20_000)
    child.on('exit', (code) => {
      clearTimeout(limit)
      resolve({ code, output, exitedWithin: true })
    })
  })
}

test.each(['websocket', 'sse', 'longpoll'])(
  '%s: the process exits by itself after close(), with no handle left',
  async (transport) => {
    server = createServer({ poll: { timeoutMs: 20_000 }, sse: { heartbeatMs: 15_000 } })
    await server.listen(0)
    const { code, output, exitedWithin } = await run(server.url!, transport)
    expect(exitedWithin, output).toBe(true)
    expect(code, output).toBe(0)
    const resources = JSON.parse(output.trim().split('\n').at(-1)!) as string[]
    expect(resources.filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap')).toEqual([])
  },
  30_000,
)
