// A throwaway Redis for a benchmark: free loopback port, no persistence, killed with its ChildGroup.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'

/** True when `redis-server` is on PATH (Debian: apt-get install -y redis-server). */
export function hasRedisServer() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** Starts redis-server as a member of `group`; resolves with its URL. */
export async function startRedis(group) {
  const port = await freePort()
  await group.spawnCommand(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { readyPattern: /Ready to accept connections/ },
  )
  return `redis://127.0.0.1:${port}`
}
