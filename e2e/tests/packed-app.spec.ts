import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { type RunningProcess, repoRoot, startNodeProcess } from '../fixtures/processes'

// The package contract, end to end: pack the packages, install the tarballs into a fresh Vite React app
// outside the workspace, build it, and run it in Chromium against the reference server.
test.describe.configure({ timeout: 240_000 })

// The peer range promises React 18 and 19: build and run the same app against each.
for (const reactVersion of ['^18.3.1', '^19.2.0']) {
  test.describe(`React ${reactVersion}`, () => {
    let app: string
    let server: RunningProcess | undefined

    test.beforeAll(async () => {
      test.setTimeout(240_000)
      app = mkdtempSync(join(tmpdir(), 'holdfast-packed-'))
      const tarballs: Record<string, string> = {}
      for (const name of ['protocol', 'client', 'react']) {
        execFileSync('npm', ['pack', '--pack-destination', app, '--silent'], {
          cwd: join(repoRoot, 'packages', name),
        })
      }
      for (const file of readdirSync(app)) {
        const m = /^holdfast-(\w+)-[\d.]+\.tgz$/.exec(file)
        if (m) tarballs[`@holdfast/${m[1]}`] = `file:./${file}`
      }
      expect(Object.keys(tarballs).sort()).toEqual([
        '@holdfast/client',
        '@holdfast/protocol',
        '@holdfast/react',
      ])
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({
          name: 'packed-app',
          private: true,
          type: 'module',
          dependencies: { ...tarballs, react: reactVersion, 'react-dom': reactVersion },
          devDependencies: { vite: '^8.0.0' },
          overrides: tarballs,
        }),
      )
      // As packages/react/README.md tells Vite users without @vitejs/plugin-react (which filters it): the
      // bundle's 'use client' (for React Server Components) means nothing in a browser bundle, and Vite
      // warns that it drops it.
      writeFileSync(
        join(app, 'vite.config.js'),
        `export default {
  build: {
    rolldownOptions: {
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' && warning.message.includes('"use client"')) return
        warn(warning)
      },
    },
  },
}
`,
      )
      writeFileSync(
        join(app, 'index.html'),
        '<!doctype html><html><body><div id="root"></div><script type="module" src="/main.js"></script></body></html>',
      )
      writeFileSync(
        join(app, 'main.js'),
        `import { createClient } from '@holdfast/client'
import { HoldfastProvider, useConnectionState, useSubscription } from '@holdfast/react'
import { createElement as h, version } from 'react'
import { createRoot } from 'react-dom/client'

const client = createClient({ url: location.origin })
function App() {
  const state = useConnectionState()
  window.reactVersion = version
  const { messages } = useSubscription('packed', { keep: 10 })
  return h('div', null,
    h('p', { id: 'status' }, state.status),
    h('ul', { id: 'messages' }, messages.map((m) => h('li', { key: m.cursor }, m.data.text))))
}
createRoot(document.getElementById('root')).render(h(HoldfastProvider, { client }, h(App)))
`,
      )
      mkdirSync(join(app, 'public'), { recursive: true })
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
        cwd: app,
        stdio: 'inherit',
      })
      execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' })
      server = await startNodeProcess(
        (port) => ['packages/server/dist/cli.js', '--port', String(port), '--static', join(app, 'dist')],
        /\] listening/,
      )
    })

    test.afterAll(async () => {
      await server?.stop()
      if (app) rmSync(app, { recursive: true, force: true })
    })

    test('a fresh Vite React app built from the packed tarballs connects and renders messages', async ({
      page,
    }) => {
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.goto(server!.url)
      await expect(page.locator('#status')).toHaveText('connected')
      await expect
        .poll(async () => {
          await fetch(`${server!.url}/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': `packed-${Date.now()}` },
            body: JSON.stringify({ channel: 'packed', data: { text: 'from a tarball' } }),
          })
          return page.locator('#messages li').count()
        })
        .toBeGreaterThan(0)
      await expect(page.locator('#messages li').first()).toHaveText('from a tarball')
      expect(await page.evaluate(() => (window as unknown as { reactVersion: string }).reactVersion)).toMatch(
        new RegExp(`^${reactVersion.slice(1, 3)}`),
      )
      expect(errors).toEqual([])
    })
  })
}
