import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { expect, test } from '@playwright/test'
import { freePort, repoRoot } from '../fixtures/processes'

// The commands the READMEs show, run as written in this repository after `npm ci && npm run build`
// (npm test builds first). Each is read from its README, so a README that changes changes the test.
// The only edits: a free port for 8080, and --host 127.0.0.1 so nothing listens beyond loopback.

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8')

function markdownFiles(): string[] {
  const packages = readdirSync(join(repoRoot, 'packages')).map((p) => `packages/${p}/README.md`)
  const docs = readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`)
  return ['README.md', ...packages, ...docs].filter((f) => existsSync(join(repoRoot, f)))
}

/** The command of `file` that matches (comments dropped); fails when there is none, or different ones. */
function commandIn(file: string, pattern: RegExp): string {
  const found = new Set(
    [...read(file).matchAll(new RegExp(pattern.source, 'gm'))].map((m) =>
      m[1]!.replace(/\s+#.*$/, '').trim(),
    ),
  )
  expect([...found], `${file}: one command matching ${pattern}`).toHaveLength(1)
  return [...found][0]!
}

interface Running {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

/** Runs a shell command in its own process group (npx starts node under it), from the repository root. */
function run(command: string, env: Record<string, string> = {}, cwd = repoRoot): Running {
  const child = spawn('sh', ['-c', command], {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (c) => {
    output += c
  })
  child.stderr!.on('data', (c) => {
    output += c
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Stops a command's whole process group: SIGTERM, then SIGKILL if it lingers. */
async function stop(running: Running): Promise<void> {
  if (running.child.exitCode !== null) return
  const group = -running.child.pid!
  const kill = setTimeout(() => process.kill(group, 'SIGKILL'), 10_000)
  try {
    process.kill(group, 'SIGTERM')
  } catch {
    // already gone
  }
  await running.exited
  clearTimeout(kill)
}

async function startedServer(command: string, env: Record<string, string> = {}) {
  const port = await freePort()
  expect(command).toContain('--port 8080')
  const server = run(`${command.replace('--port 8080', `--port ${port}`)} --host 127.0.0.1`, env)
  await expect.poll(server.output, { timeout: 30_000 }).toContain('holdfast-server listening on')
  return { server, url: `http://127.0.0.1:${port}`, localhost: `http://localhost:${port}` }
}

test('every npx command in the READMEs names a bin npm links at install, to a committed file', () => {
  const bins = new Set<string>()
  for (const file of markdownFiles())
    for (const m of read(file).matchAll(/npx (holdfast-[a-z]+)/g)) bins.add(m[1]!)
  expect([...bins].sort()).toEqual(['holdfast-conformance', 'holdfast-server', 'holdfast-webhooks'])
  for (const bin of bins) {
    const link = join(repoRoot, 'node_modules', '.bin', bin)
    expect(lstatSync(link).isSymbolicLink(), `node_modules/.bin/${bin}`).toBe(true)
    const target = relative(repoRoot, realpathSync(link))
    expect(target).toMatch(new RegExp(`^packages/\\w+/bin/${bin}\\.js$`))
    // Tracked by git, so it exists in a fresh clone when `npm ci` links bins, before anything is built.
    execFileSync('git', ['ls-files', '--error-unmatch', target], { cwd: repoRoot, stdio: 'ignore' })
  }
})

test('README.md: npx holdfast-server --port 8080 --secret "$JWT_SECRET" … starts on the port and requires tokens', async () => {
  const command = commandIn('README.md', /`(npx holdfast-server --port 8080[^`]*)`/)
  const { server, url } = await startedServer(command, { JWT_SECRET: 'readme-secret-readme-secret-readme' })
  try {
    expect((await fetch(`${url}/health`)).status).toBe(200)
    expect((await fetch(`${url}/poll?channel=readme`)).status).toBe(401)
    expect(server.output()).not.toContain('WARNING')
  } finally {
    await stop(server)
  }
})

test('packages/conformance/README.md: the server as started there passes npx holdfast-conformance http://localhost:8080', async () => {
  test.setTimeout(120_000)
  const file = 'packages/conformance/README.md'
  const serverCommand = commandIn(file, /^(node packages\/server\/dist\/cli\.js --port 8080.*)$/)
  const check = commandIn(file, /^(npx holdfast-conformance http:\/\/localhost:8080.*)$/)
  const { server, localhost } = await startedServer(serverCommand)
  try {
    const conformance = run(check.replace('http://localhost:8080', localhost))
    expect(await conformance.exited, conformance.output()).toBe(0)
    expect(conformance.output()).toMatch(/\n\d+ passed, 0 failed, \d+ not run\n/)
  } finally {
    await stop(server)
  }
})

test('docs/webhooks.md and the webhooks README: npx holdfast-webhooks runs (usage on --help)', async () => {
  commandIn('docs/webhooks.md', /^\$ (npx holdfast-webhooks dlq list --redis .*)$/)
  const help = run('npx holdfast-webhooks --help')
  expect(await help.exited).toBe(0)
  expect(help.output()).toContain('holdfast-webhooks dlq list')
})

test('README.md: the tarballs packed as shown install together in another project, with the script-tag build', async () => {
  test.setTimeout(180_000)
  const pack = commandIn(
    'README.md',
    /^\s*(npm pack -w @holdfast\/protocol -w @holdfast\/client -w @holdfast\/react.*)$/,
  )
  const install = commandIn('README.md', /^\s*(npm install \.\/holdfast-protocol-0\.1\.0\.tgz .*)$/)
  const app = mkdtempSync(join(tmpdir(), 'holdfast-readme-app-'))
  try {
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'readme-app', private: true, type: 'module' }),
    )
    const packed = run(`${pack} --pack-destination ${app}`)
    expect(await packed.exited, packed.output()).toBe(0)
    const installed = run(`${install} --no-audit --no-fund`, {}, app)
    expect(await installed.exited, installed.output()).toBe(0)
    const probe = run(
      `node -e "Promise.all([import('@holdfast/client'), import('@holdfast/react')]).then(([c, r]) => console.log(typeof c.createClient, typeof r.useSubscription))"`,
      {},
      app,
    )
    expect(await probe.exited, probe.output()).toBe(0)
    expect(probe.output().trim()).toBe('function function')
    expect(existsSync(join(app, 'node_modules/@holdfast/client/dist/holdfast.global.js'))).toBe(true)
  } finally {
    rmSync(app, { recursive: true, force: true })
  }
})
