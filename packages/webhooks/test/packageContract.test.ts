import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import tsupConfig from '../tsup.config'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** Every source file reachable from `entry` through relative imports, with its import specifiers. */
function moduleGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  const visit = (file: string) => {
    if (graph.has(file)) return
    const source = readFileSync(file, 'utf8')
    const specifiers = [
      ...source.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => (m[1] ?? m[2])!)
    graph.set(file, specifiers)
    for (const specifier of specifiers)
      if (specifier.startsWith('.')) visit(`${resolve(dirname(file), specifier)}.ts`)
  }
  visit(join(root, entry))
  return graph
}

describe('the core entry runs outside Node', () => {
  const graph = moduleGraph('src/index.ts')

  it('imports no Node built-in and no package, directly or transitively', () => {
    const builtins = new Set(builtinModules)
    const imports = [...graph].flatMap(([file, specifiers]) =>
      specifiers.filter((s) => !s.startsWith('.')).map((s) => `${file.slice(root.length + 1)} imports ${s}`),
    )
    expect(imports).toEqual([])
    // The same check spelled out for built-ins, so a failure names the problem.
    const offending = [...graph.values()].flat().filter((s) => s.startsWith('node:') || builtins.has(s))
    expect(offending).toEqual([])
    expect(graph.size).toBeGreaterThan(3)
  })

  it('uses no Node-only globals (Buffer, process, require)', () => {
    const offending = [...graph.keys()].filter((file) => {
      const code = readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')
      return /\bBuffer\b|\bprocess\.|\brequire\(/.test(code)
    })
    expect(offending).toEqual([])
  })
})

describe('package.json', () => {
  const entries = { '.': 'index', './dispatcher': 'dispatcher', './receiver': 'receiver' } as const

  it.each(Object.entries(entries))(
    'exports %s with import and require, each with types first',
    (subpath, name) => {
      const target = pkg.exports[subpath]
      expect(target).toEqual({
        import: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
        require: { types: `./dist/${name}.d.cts`, default: `./dist/${name}.cjs` },
      })
      expect(Object.keys(target.import)[0]).toBe('types')
      expect(Object.keys(target.require)[0]).toBe('types')
    },
  )

  it('builds exactly the exported entries plus the CLI, in ESM and CJS with declarations', () => {
    const config = tsupConfig as { entry: Record<string, string>; format: string[]; dts: boolean }
    expect(Object.keys(config.entry).sort()).toEqual(['cli', 'dispatcher', 'index', 'receiver'])
    expect(config.format).toEqual(['esm', 'cjs'])
    expect(config.dts).toBe(true)
  })

  it('is side-effect free, ships only dist and the bin shim, and has the holdfast-webhooks bin', () => {
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.files).toEqual(['bin', 'dist'])
    // A committed shim that loads dist/cli.js: npm links it at install time, before anything is built.
    expect(pkg.bin).toEqual({ 'holdfast-webhooks': './bin/holdfast-webhooks.js' })
    expect(readFileSync(join(root, 'bin/holdfast-webhooks.js'), 'utf8')).toContain("new URL('../dist/cli.js'")
    expect(readFileSync(join(root, 'src/cli.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
  })

  it('keeps ioredis an optional peer, imported only as a type outside the CLI', () => {
    expect(pkg.peerDependenciesMeta.ioredis.optional).toBe(true)
    const library = [...moduleGraph('src/dispatcher/index.ts'), ...moduleGraph('src/receiver/index.ts')]
    for (const [file] of library) {
      const source = readFileSync(file, 'utf8')
      expect(source, file).not.toMatch(
        /^import\s+(?!type\b)[^\n]*from\s*['"]ioredis['"]|import\(\s*['"]ioredis/m,
      )
    }
  })
})
