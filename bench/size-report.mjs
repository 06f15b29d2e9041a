// What the client bundle is made of: esbuild metafile bytes per input file and per package, built from
// the client's TypeScript sources so every module shows up on its own.
// Run: node bench/size-report.mjs [--entry websocket] [--top 25] [--source-only]
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { bundleModules, inputsBreakdown, packageOf, sizesOf } from './lib/bundle.mjs'
import { argvOptions } from './lib/child.mjs'
import { isMain, num, printTable } from './lib/results.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ENTRIES = {
  full: { source: 'packages/client/src/index.ts', published: '@holdfast/client' },
  websocket: { source: 'packages/client/src/websocket.ts', published: '@holdfast/client/websocket' },
}

/** Bundles an entry from source (the protocol package from source too) and returns sizes and inputs. */
export async function sizeReport(entryName = 'full', { sourceOnly = false } = {}) {
  const entry = ENTRIES[entryName]
  if (!entry)
    throw new Error(`[bench] unknown entry "${entryName}"; use one of ${Object.keys(ENTRIES).join(', ')}`)
  const result = await esbuild.build({
    stdin: { contents: `export * as m from './${entry.source}'`, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    alias: { '@holdfast/protocol': `${ROOT}packages/protocol/src/index.ts` },
  })
  const fromSource = sizesOf(result.outputFiles[0].contents)
  // --source-only skips the published dist, so the report works while dist is stale or being rebuilt.
  const published = sourceOnly ? undefined : await bundleModules([entry.published])
  const inputs = inputsBreakdown(result.metafile).map((i) => ({
    ...i,
    path: i.path.replace(/^.*?(node_modules\/|packages\/)/, '$1'),
    package: packageOf(i.path),
  }))
  const packages = new Map()
  for (const i of inputs) packages.set(i.package, (packages.get(i.package) ?? 0) + i.bytes)
  return {
    entry: entryName,
    fromSource,
    published: published && { min: published.min, gzip: published.gzip, brotli: published.brotli },
    inputs,
    packages: [...packages].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes),
  }
}

function share(bytes, total) {
  return `${((bytes / total) * 100).toFixed(1)} %`
}

if (isMain(import.meta.url)) {
  const options = argvOptions()
  const report = await sizeReport(options.entry ?? 'full', { sourceOnly: options['source-only'] === 'true' })
  const total = report.inputs.reduce((a, i) => a + i.bytes, 0)
  const overhead = report.fromSource.min - total
  const gzipPerByte = report.fromSource.gzip / report.fromSource.min
  if (report.published)
    console.log(
      `\n${ENTRIES[report.entry].published}: published dist bundled = ${num(report.published.min)} B min, ` +
        `${num(report.published.gzip)} B gzip, ${num(report.published.brotli)} B brotli`,
    )
  console.log(
    `from source (for the breakdown) = ${num(report.fromSource.min)} B min, ${num(report.fromSource.gzip)} B gzip`,
  )
  console.log(
    `not attributed to an input: ${num(overhead)} B (esbuild glue and legal comments kept at the end; ` +
      'reconnecting-websocket brings two license headers)',
  )
  printTable(
    'By package (minified bytes in output)',
    ['package', 'min bytes', 'share', '~gzip (pro rata)'],
    report.packages.map((p) => [p.name, num(p.bytes), share(p.bytes, total), num(p.bytes * gzipPerByte)]),
  )
  printTable(
    `By input file (top ${options.top ?? 25})`,
    ['input', 'min bytes', 'share'],
    report.inputs
      .slice(0, Number(options.top ?? 25))
      .map((i) => [i.path, num(i.bytes), share(i.bytes, total)]),
  )
}
