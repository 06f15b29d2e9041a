// @vitest-environment node
// The package contract: what consumers import must exist in both module systems, with types.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { describe, expect, test } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const API = ['HoldfastProvider', 'useConnectionState', 'useHoldfastClient', 'usePublish', 'useSubscription']

describe('package.json', () => {
  test('ships only dist, has no side effects, maps import and require to code and types, react is a peer', () => {
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.files).toEqual(['dist', 'README.md'])
    expect(pkg.exports['.']).toEqual({
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    })
    expect(pkg.exports['./presence']).toEqual({
      import: { types: './dist/presence.d.ts', default: './dist/presence.js' },
      require: { types: './dist/presence.d.cts', default: './dist/presence.cjs' },
    })
    expect(pkg.peerDependencies.react).toBe('^18.0.0 || ^19.0.0')
    expect(pkg.dependencies.react).toBeUndefined()
  })

  test('every export target is built (run `npx tsup` first) and passes publint', async () => {
    for (const target of ['index', 'presence'].flatMap((e) =>
      ['js', 'cjs', 'd.ts', 'd.cts'].map((x) => `${e}.${x}`),
    )) {
      expect(existsSync(join(root, 'dist', target)), `dist/${target}`).toBe(true)
    }
    const { messages } = await publint({ pkgDir: root, pack: false, level: 'warning' })
    expect(messages).toEqual([])
  })

  test('ESM and CJS builds expose the same API, import react instead of bundling it, and are client modules', async () => {
    const esm = await import(join(root, 'dist/index.js'))
    const cjs = createRequire(import.meta.url)(join(root, 'dist/index.cjs'))
    expect(Object.keys(esm).sort()).toEqual(API)
    expect(Object.keys(cjs).sort()).toEqual(API)
    for (const file of ['index.js', 'index.cjs', 'presence.js', 'presence.cjs']) {
      const code = readFileSync(join(root, 'dist', file), 'utf8')
      expect(code.startsWith("'use client'")).toBe(true)
      expect(code).toMatch(/from "react"|require\("react"\)/)
      expect(code).not.toContain('useSyncExternalStore = function')
    }
  })

  test('@holdfast/react/presence exposes usePresence in both builds and imports the client instead of bundling it', async () => {
    const esm = await import(join(root, 'dist/presence.js'))
    const cjs = createRequire(import.meta.url)(join(root, 'dist/presence.cjs'))
    expect(Object.keys(esm)).toEqual(['usePresence'])
    expect(Object.keys(cjs)).toEqual(['usePresence'])
    for (const file of ['presence.js', 'presence.cjs'])
      expect(readFileSync(join(root, 'dist', file), 'utf8')).toMatch(/"@holdfast\/client\/presence"/)
  })
})
