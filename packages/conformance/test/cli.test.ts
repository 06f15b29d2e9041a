// `npx holdfast-conformance <url>` as a backend team runs it: the linked bin, against the reference
// server's CLI started as its own process.
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { describe, expect, onTestFinished, test } from 'vitest'
import { SECRET } from './targets'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const bin = `${root}node_modules/.bin/holdfast-conformance`
const serverCli = `${root}packages/server/dist/cli.js`

interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

function runBin(args: string[]): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => {
      stdout += c
    })
    child.stderr.on('data', (c) => {
      stderr += c
    })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** `holdfast-server` on a free loopback port; resolves with its URL once it prints it. */
function startServer(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [serverCli, '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, HOLDFAST_SECRET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`holdfast-server did not start:\n${output}`)), 30_000)
    child.stdout!.on('data', (chunk) => {
      output += chunk
      const match = /holdfast-server listening on (http:\/\/\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve({ url: match[1]!, child })
      }
    })
    child.stderr!.on('data', (chunk) => {
      output += chunk
    })
  })
}

describe('the holdfast-conformance bin', () => {
  test('passes the reference server, drain included, printing each check under its PROTOCOL.md section', async () => {
    const server = await startServer(['--secret', SECRET])
    const exited = new Promise((resolve) => server.child.once('exit', resolve))
    // The CLI server keeps PROTOCOL.md's timers (10 s handshake, 15 s heartbeat, 25 s ping): leave those out.
    const only = [
      'health',
      'cursor',
      'errors.',
      'ws.subscribe',
      'ws.publish',
      'sse.resume',
      'poll.',
      'publish.',
      'drain.',
    ]
    const run = await runBin([
      server.url,
      '--secret',
      SECRET,
      '--drain-command',
      `kill -TERM ${server.child.pid}`,
      ...only.flatMap((prefix) => ['--only', prefix]),
    ])
    expect(run.stdout).toContain(`Holdfast wire protocol v1 conformance (docs/PROTOCOL.md): ${server.url}`)
    expect(run.stdout).toMatch(/\n§5 Long polling\n {2}pass {5}a channel missing from since starts now/)
    expect(run.stdout).toContain(
      'pass     an open WebSocket gets reconnect {retryAfterMs}, then close 4000 with the same hint  [drain.websocket]',
    )
    expect(run.stdout).toMatch(/\n\d+ passed, 0 failed, 2 not run\n/)
    expect(run.stdout).toContain(
      'not run  a request from an origin the server does not allow is 403 forbidden  [errors.origin]',
    )
    expect(run.code).toBe(0)
    // The drain command was the server's SIGTERM: it drained and exited.
    expect(await exited).toBe(0)
  })

  test('exits 1 and says what was expected and what came back when a check fails', async () => {
    const stub = createServer((req, res) => {
      const body = req.url?.startsWith('/poll')
        ? '{"since":"","messages":[]}'
        : req.url === '/health'
          ? '{"status":"starting"}'
          : '{}'
      res.writeHead(req.url === '/health' ? 503 : 200, { 'content-type': 'application/json' })
      res.end(body)
    })
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => stub.close(() => resolve())))
    const { port } = stub.address() as { port: number }
    const run = await runBin([`http://127.0.0.1:${port}`, '--only', 'health.ok'])
    expect(run.stdout).toContain('FAIL     GET /health answers 200 {"status":"ok"}  [health.ok]')
    expect(run.stdout).toContain('expected: 200 {"status":"ok"}')
    expect(run.stdout).toContain('got:      HTTP 503 {"status":"starting"}')
    expect(run.stdout).toContain('0 passed, 1 failed, 0 not run')
    expect(run.code).toBe(1)
  })

  test('exits 2 with a clear message for an unreachable server or bad usage', async () => {
    const stub = createServer()
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve))
    const { port } = stub.address() as { port: number }
    await new Promise<void>((resolve) => stub.close(() => resolve()))
    const unreachable = await runBin([`http://127.0.0.1:${port}`])
    expect(unreachable.stderr).toContain(`cannot reach http://127.0.0.1:${port}/health`)
    expect(unreachable.code).toBe(2)
    const usage = await runBin([])
    expect(usage.stderr).toContain('Usage: holdfast-conformance <base-url>')
    expect(usage.code).toBe(2)
  })
})
