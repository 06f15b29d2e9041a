// Fault kind: public types that lie. Every value the built declarations export must exist at runtime, in
// the ESM and the CommonJS build of every entry (a type re-exported as a value, like ErrorCode once was,
// type-checks in the app and is `undefined` when it runs).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'

const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
const require = createRequire(import.meta.url)

/** Names the declaration file exports with a value meaning (functions, classes, consts). */
function valueExports(declarationFile: string): string[] {
  const program = ts.createProgram([declarationFile], { strict: true, skipLibCheck: true, noEmit: true })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(declarationFile)!
  const module = checker.getSymbolAtLocation(source)!
  return checker
    .getExportsOfModule(module)
    .filter((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      return (target.flags & ts.SymbolFlags.Value) !== 0
    })
    .map((symbol) => symbol.name)
    .sort()
}

describe.each(['index', 'websocket', 'event-stream', 'delivery', 'tabs', 'persist', 'presence'])(
  '%s',
  (entry) => {
    test('every value export of the ESM declarations exists in the ESM build', async () => {
      const declared = valueExports(`${dist}${entry}.d.ts`)
      expect(declared.length).toBeGreaterThan(0)
      const runtime = await import(`${dist}${entry}.js`)
      expect(declared.filter((name) => runtime[name] === undefined)).toEqual([])
    })
    test('every value export of the CommonJS declarations exists in the CommonJS build', () => {
      const declared = valueExports(`${dist}${entry}.d.cts`)
      const runtime = require(`${dist}${entry}.cjs`) as Record<string, unknown>
      expect(declared.filter((name) => runtime[name] === undefined)).toEqual([])
    })
  },
)

test('ErrorCode is declared as a type only', () => {
  expect(valueExports(`${dist}index.d.ts`)).not.toContain('ErrorCode')
  expect(valueExports(`${dist}index.d.ts`)).toEqual(
    expect.arrayContaining(['createClient', 'HoldfastClient', 'HoldfastError']),
  )
})

test("presence's errors are the root entry's HoldfastError (one class, not a copy): ESM and CommonJS", async () => {
  const esm = await import(`${dist}presence.js`)
  const root = await import('@holdfast/client')
  const client = root.createClient({ url: 'https://rt.example.com', lazy: true })
  expect(() => esm.presence(client, 'room~presence')).toThrow(root.HoldfastError)
  const cjs = require(`${dist}presence.cjs`)
  const cjsRoot = require('@holdfast/client')
  const cjsClient = cjsRoot.createClient({ url: 'https://rt.example.com', lazy: true })
  expect(() => cjs.presence(cjsClient, 'a~presence~zzzzzzzz')).toThrow(cjsRoot.HoldfastError)
})
