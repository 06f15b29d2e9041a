// One way to bundle every library: esbuild API, bundle, minify, platform browser, format esm.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url))

/** Minified, gzip -9 and brotli -11 sizes of `bytes`. */
export function sizesOf(bytes) {
  return {
    min: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  }
}

/**
 * Bundles every export of each module in `specifiers` (a namespace re-export keeps default and named
 * exports alike), so each library is measured with its whole public API, dependencies included.
 */
export async function bundleModules(specifiers, { external = [], resolveDir = BENCH_DIR, alias } = {}) {
  const contents = specifiers.map((s, i) => `export * as m${i} from ${JSON.stringify(s)}`).join('\n')
  const result = await esbuild.build({
    stdin: { contents, resolveDir, loader: 'js', sourcefile: 'entry.js' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    external,
    alias,
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const bytes = result.outputFiles[0].contents
  return { bytes, metafile: result.metafile, ...sizesOf(bytes) }
}

/** Sizes of a file that is already a finished bundle (the IIFE build), measured as shipped. */
export async function fileSizes(path) {
  const bytes = await readFile(path)
  return { bytes, ...sizesOf(bytes) }
}

/** Bytes each input contributes to the minified output, largest first. */
export function inputsBreakdown(metafile) {
  const output = Object.values(metafile.outputs)[0]
  return Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .filter((i) => i.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
}

/** The package an input path belongs to (`node_modules/<pkg>/…` or `packages/<name>/…`). */
export function packageOf(path) {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (nm) return nm[1]
  const ws = /packages\/([^/]+)\//.exec(path)
  if (ws) return `@holdfast/${ws[1]}`
  return path
}
