import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { eventually, SECRET, signToken } from './helpers/fixtures'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const redisUrl = inject('redisUrl')
const redisClusterNodes = inject('redisClusterNodes')

interface Running {
  child: ChildProcess
  url: string
  stderr: () => string
  exited: Promise<number | null>
}

async function startCli(
  args: string[],
  env: Record<string, string> = {},
  host: string[] = ['--host', '127.0.0.1'],
): Promise<Running> {
  const child = spawn(process.execPath, [cli, '--port', '0', ...host, ...args], {
    env: { ...process.env, HOLDFAST_SECRET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr!.on('data', (chunk) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await eventually(() => {
    const match = /holdfast-server listening on (http:\/\/\S+)/.exec(stdout)
    if (!match) throw new Error(`no listening line yet; stdout=${stdout} stderr=${stderr}`)
    return match[1]!
  })
  return { child, url, stderr: () => stderr, exited }
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
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

describe('holdfast-server CLI', () => {
  it('runs open with a loud warning, prints its URL, serves, and exits cleanly on SIGTERM', async () => {
    const server = await startCli(['--drain-ms', '100'])
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.stderr()).toContain('WARNING')
    expect(server.stderr()).toContain('OPEN')
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' })
    const published = await fetch(`${server.url}/publish`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'cli', data: 1 }),
    })
    expect(published.status).toBe(200)
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })

  it('requires tokens with --secret (or HOLDFAST_SECRET), and never prints the secret', async () => {
    const server = await startCli(['--secret', SECRET, '--allow-origin', 'https://app.example'])
    expect(server.stderr()).not.toContain('WARNING')
    expect((await fetch(`${server.url}/poll?channel=a`)).status).toBe(401)
    const ok = await fetch(`${server.url}/poll?channel=a`, {
      headers: { authorization: `Bearer ${await signToken()}`, origin: 'https://app.example' },
    })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const fromEnv = await startCli([], { HOLDFAST_SECRET: SECRET })
    expect((await fetch(`${fromEnv.url}/poll?channel=a`)).status).toBe(401)
    server.child.kill('SIGTERM')
    fromEnv.child.kill('SIGTERM')
    await Promise.all([server.exited, fromEnv.exited])
    expect(server.stderr() + fromEnv.stderr()).not.toContain(SECRET)
  })

  it('guards /metrics with HOLDFAST_METRICS_TOKEN (or --metrics-token)', async () => {
    const token = 'metrics-token-from-env-42'
    const server = await startCli([], { HOLDFAST_METRICS_TOKEN: token })
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    server.child.kill('SIGTERM')
    await server.exited
    expect(server.stderr()).not.toContain(token)
  })

  it('serves a static site same-origin with --static', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-cli-static-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'index.html'), '<title>chat</title>')
    const server = await startCli(['--static', dir])
    expect(await (await fetch(`${server.url}/`)).text()).toBe('<title>chat</title>')
    expect(await (await fetch(`${server.url}/room/1`)).text()).toBe('<title>chat</title>')
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('binds 127.0.0.1 when running open without --host, and says so', async () => {
    const server = await startCli([], {}, [])
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.stderr()).toContain('It listens on 127.0.0.1 only')
    const port = new URL(server.url).port
    const overIpv6 = await fetch(`http://[::1]:${port}/health`).then(
      (r) => r.status,
      () => 'refused',
    )
    expect(overIpv6).toBe('refused')
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })

  it('restricts channels with --require-channels-claim and sets limits from flags', async () => {
    const server = await startCli(['--require-channels-claim', '--publish-rate-per-client', '1/2'], {
      HOLDFAST_SECRET: SECRET,
    })
    const plain = { authorization: `Bearer ${await signToken()}` }
    expect((await fetch(`${server.url}/poll?channel=user.alice.inbox`, { headers: plain })).status).toBe(403)
    const claimed = { authorization: `Bearer ${await signToken({ channels: ['chat.*'] })}` }
    expect((await fetch(`${server.url}/poll?channel=chat.1&timeoutMs=0`, { headers: claimed })).status).toBe(
      200,
    )
    expect((await fetch(`${server.url}/poll?channel=user.alice.inbox`, { headers: claimed })).status).toBe(
      403,
    )
    const publish = () =>
      fetch(`${server.url}/publish`, {
        method: 'POST',
        headers: claimed,
        body: '{"channel":"chat.1","data":1}',
      })
    expect([(await publish()).status, (await publish()).status, (await publish()).status]).toEqual([
      200, 200, 429,
    ])
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })

  it('refuses a secret too short for HS256 with a message that says how to fix it', async () => {
    const result = await run(['--port', '0', '--secret', 'S'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('auth.secret is 1 bytes; HS256 needs at least 32')
    const rate = await run(['--publish-rate', 'fast'])
    expect(rate.code).toBe(2)
    expect(rate.stderr).toContain('--publish-rate must be N (per second), N/BURST or off')
  })

  it('prints usage for --help and refuses bad arguments', async () => {
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: holdfast-server')
    const bad = await run(['--port', 'eighty'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--port must be a non-negative integer')
    const unknown = await run(['--bogus'])
    expect(unknown.code).toBe(2)
  })

  it.skipIf(!redisUrl)('shares channels between processes with --redis', async () => {
    const prefix = ['--redis', redisUrl!, '--redis-prefix', `cli-test:${process.pid}:${Date.now()}:`]
    const [a, b] = await Promise.all([startCli(prefix), startCli(prefix)])
    const published = await fetch(`${a.url}/publish`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'shared', data: 'from a' }),
    })
    const { cursor } = (await published.json()) as { cursor: string }
    expect(cursor).toMatch(/^[\w-]+:\d+-\d+$/)
    const epoch = cursor.split(':')[0]
    const poll = await fetch(`${b.url}/poll?channel=shared&since=${encodeURIComponent(`shared=${epoch}:0`)}`)
    expect((await poll.json()).messages).toEqual([{ channel: 'shared', cursor, data: 'from a' }])
    await eventually(() => expect(a.stderr()).toContain('using the Redis broker'))
    a.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0])
  })

  it.skipIf(!redisClusterNodes)(
    'shares channels between processes on a Redis Cluster with --redis-cluster',
    async () => {
      const prefix = ['--redis-prefix', `cli-cluster:${process.pid}:${Date.now()}:`]
      const [a, b] = await Promise.all([
        startCli(['--redis-cluster', redisClusterNodes!.join(','), ...prefix]),
        startCli(prefix, { HOLDFAST_REDIS_CLUSTER: redisClusterNodes!.slice(0, 1).join(',') }),
      ])
      const published = await fetch(`${a.url}/publish`, {
        method: 'POST',
        body: JSON.stringify({ channel: 'shared', data: 'from a' }),
      })
      const { cursor } = (await published.json()) as { cursor: string }
      const epoch = cursor.split(':')[0]
      const poll = await fetch(
        `${b.url}/poll?channel=shared&since=${encodeURIComponent(`shared=${epoch}:0`)}`,
      )
      expect((await poll.json()).messages).toEqual([{ channel: 'shared', cursor, data: 'from a' }])
      for (const server of [a, b]) {
        await eventually(() => expect(server.stderr()).toContain('using the Redis broker'))
        expect(server.stderr()).toContain('"redisCluster"')
      }
      a.child.kill('SIGTERM')
      b.child.kill('SIGTERM')
      expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0])
    },
  )

  it('refuses --redis with --redis-cluster, and a malformed node list', async () => {
    const both = await run(['--redis', 'redis://127.0.0.1:6379', '--redis-cluster', '127.0.0.1:7000'])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('not both')
    const malformed = await run(['--redis-cluster', '127.0.0.1:notaport'])
    expect(malformed.code).toBe(2)
    expect(malformed.stderr).toContain('--redis-cluster')
    const unreachable = await run([
      '--port',
      '0',
      '--redis-cluster',
      'redis://:pw-very-secret@127.0.0.1:1',
      '--redis-connect-timeout-ms',
      '300',
    ])
    expect(unreachable.code).toBe(1)
    expect(unreachable.stderr).toContain('could not reach Redis at redis-cluster 127.0.0.1:1')
    expect(unreachable.stderr + unreachable.stdout).not.toContain('pw-very-secret')
  })

  it('fails fast when --redis cannot be reached, without printing the password', async () => {
    const result = await run([
      '--port',
      '0',
      '--redis',
      'redis://:pw-very-secret@127.0.0.1:1',
      '--redis-connect-timeout-ms',
      '300',
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('could not reach Redis at redis://:***@127.0.0.1:1')
    expect(result.stderr + result.stdout).not.toContain('pw-very-secret')
  })

  it.skipIf(!redisUrl)(
    'logs structured JSON with pino, and never a token, the secret or the Redis password, even at debug level',
    async () => {
      const { Redis } = await import('ioredis')
      const admin = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
      const user = `cli-log-${process.pid}-${Date.now()}`
      const password = `pw-${Math.random().toString(36).slice(2)}-secret`
      await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all')
      onTestFinished(async () => {
        await admin.call('ACL', 'DELUSER', user)
        await admin.quit()
      })
      const withPassword = new URL(redisUrl!)
      withPassword.username = user
      withPassword.password = password
      const server = await startCli(['--redis-prefix', `cli-log:${Date.now()}:`], {
        HOLDFAST_SECRET: SECRET,
        HOLDFAST_REDIS_URL: withPassword.toString(),
        HOLDFAST_DEBUG: '1',
      })
      const good = await signToken()
      const forged = await signToken({}, 'another-secret-that-is-long-enough-for-hs')
      for (const token of [good, forged]) {
        const headers = { authorization: `Bearer ${token}` }
        await (await fetch(`${server.url}/poll?channel=a&timeoutMs=0`, { headers })).text()
        await (
          await fetch(`${server.url}/publish`, { method: 'POST', headers, body: '{"channel":"a","data":1}' })
        ).text()
      }
      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      const lines = server
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('{'))
      const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string })
      expect(records.map((r) => r.msg)).toEqual(
        expect.arrayContaining(['using the Redis broker', '[holdfast] HTTP auth refused', 'shutting down']),
      )
      const all = server.stderr()
      expect(all).toContain(`${user}:***@`)
      for (const secret of [SECRET, password, good, forged]) expect(all).not.toContain(secret)
      expect(all).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
    },
  )
})
