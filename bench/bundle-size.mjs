// Bundle size: min / gzip / brotli of each Holdfast entry next to the SDKs users would otherwise pick,
// all bundled the same way (lib/bundle.mjs). Run: node bench/bundle-size.mjs [--smoke]
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { bundleModules, fileSizes } from './lib/bundle.mjs'
import { versionOf } from './lib/packages.mjs'
import { commandLine, num, printTable, runIfMain, writeResult } from './lib/results.mjs'

/**
 * The root entry's target (issue 11): no larger, gzip with dependencies, than socket.io-client measured in the
 * same run. `.size-limit.cjs` keeps it there in CI with a fixed budget just above today's size.
 */
export const TARGET_ANCHOR = 'socket.io-client'

const REACT_DIR = fileURLToPath(new URL('../packages/react/', import.meta.url))
const IIFE_PATH = fileURLToPath(new URL('../packages/client/dist/holdfast.global.js', import.meta.url))
const TABS_IIFE_PATH = fileURLToPath(
  new URL('../packages/client/dist/holdfast.tabs.global.js', import.meta.url),
)

/** What is measured: Holdfast entries first, then the anchors, then the floor. */
export const SUBJECTS = [
  { id: 'holdfast-full', label: '@holdfast/client', ours: true, modules: ['@holdfast/client'] },
  {
    id: 'holdfast-ws',
    label: '@holdfast/client/websocket',
    ours: true,
    modules: ['@holdfast/client/websocket'],
  },
  {
    id: 'holdfast-delivery',
    label: '@holdfast/client/delivery',
    ours: true,
    modules: ['@holdfast/client/delivery'],
  },
  {
    id: 'holdfast-event-stream',
    label: '@holdfast/client/event-stream',
    ours: true,
    modules: ['@holdfast/client/event-stream'],
  },
  {
    id: 'holdfast-presence',
    label: '@holdfast/client/presence',
    ours: true,
    modules: ['@holdfast/client/presence'],
  },
  { id: 'holdfast-iife', label: 'holdfast.global.js (IIFE, as shipped)', ours: true, file: IIFE_PATH },
  {
    id: 'holdfast-tabs',
    label: '@holdfast/client/tabs (opt-in: one connection for all tabs, persist)',
    ours: true,
    modules: ['@holdfast/client/tabs'],
  },
  {
    id: 'holdfast-persist',
    label: '@holdfast/client/persist (opt-in: survives a reload)',
    ours: true,
    modules: ['@holdfast/client/persist'],
  },
  {
    id: 'holdfast-tabs-iife',
    label: 'holdfast.tabs.global.js (IIFE with tabs and persist, as shipped)',
    ours: true,
    file: TABS_IIFE_PATH,
  },
  {
    id: 'holdfast-react',
    label: '@holdfast/react (React external)',
    ours: true,
    modules: ['@holdfast/react'],
    external: ['react', 'react-dom'],
    // Skipped, not failed, while the package has no code at all; once it has, a missing build fails.
    pendingUnless: ['src/index.ts', 'src/index.tsx', 'dist/index.js'].map((f) => `${REACT_DIR}${f}`),
  },
  {
    id: 'holdfast-react-presence',
    label: '@holdfast/react/presence (React external)',
    ours: true,
    modules: ['@holdfast/react/presence'],
    external: ['react', 'react-dom'],
    pendingUnless: ['src/index.ts', 'src/index.tsx', 'dist/index.js'].map((f) => `${REACT_DIR}${f}`),
  },
  {
    id: 'holdfast-react-app',
    label: '@holdfast/client + @holdfast/react (what a React app ships)',
    ours: true,
    modules: ['@holdfast/client', '@holdfast/react'],
    external: ['react', 'react-dom'],
    pendingUnless: ['src/index.ts', 'src/index.tsx', 'dist/index.js'].map((f) => `${REACT_DIR}${f}`),
  },
  { id: 'socket.io-client', label: 'socket.io-client', modules: ['socket.io-client'] },
  { id: 'signalr', label: '@microsoft/signalr', modules: ['@microsoft/signalr'] },
  { id: 'centrifuge', label: 'centrifuge', modules: ['centrifuge'] },
  { id: 'phoenix', label: 'phoenix', modules: ['phoenix'] },
  {
    id: 'floor',
    label: 'floor: reconnecting-websocket + eventsource-parser',
    modules: ['reconnecting-websocket', 'eventsource-parser'],
  },
]

function versionLabel(subject) {
  const names = (subject.modules ?? ['@holdfast/client']).map((m) =>
    m.replace(/\/(websocket|event-stream|delivery|tabs|persist|presence)$/, ''),
  )
  return [...new Set(names)].map((m) => `${m}@${versionOf(m)}`).join(' + ')
}

async function measure(subject) {
  if (subject.pendingUnless && !subject.pendingUnless.some((f) => existsSync(f)))
    return { skipped: 'packages/react has no source or build yet' }
  try {
    if (subject.file) {
      if (!existsSync(subject.file))
        throw new Error(`${subject.file} is missing: build @holdfast/client first`)
      const { min, gzip, brotli } = await fileSizes(subject.file)
      return { min, gzip, brotli }
    }
    const { min, gzip, brotli } = await bundleModules(subject.modules, { external: subject.external })
    return { min, gzip, brotli }
  } catch (error) {
    const message = String(error?.errors?.[0]?.text ?? error?.message ?? error)
    return { error: message.split('\n')[0] }
  }
}

export async function run({ smoke }) {
  const rows = []
  for (const subject of SUBJECTS) {
    rows.push({
      id: subject.id,
      label: subject.label,
      ours: Boolean(subject.ours),
      version: versionLabel(subject),
      ...(await measure(subject)),
    })
  }
  const floor = rows.find((r) => r.id === 'floor')
  for (const row of rows) if (row.gzip && floor?.gzip) row.gzipVsFloor = row.gzip / floor.gzip
  const full = rows.find((r) => r.id === 'holdfast-full')
  const anchor = rows.find((r) => r.id === TARGET_ANCHOR)
  const budget = {
    anchor: TARGET_ANCHOR,
    anchorGzip: anchor?.gzip,
    measuredGzip: full?.gzip,
    within: full?.gzip <= anchor?.gzip,
  }

  printTable(
    'Bundle size (esbuild, bundle + minify, browser, esm; bytes)',
    ['library', 'min', 'gzip', 'brotli', 'gzip vs floor'],
    rows.map((r) =>
      r.error || r.skipped
        ? [r.label, `not measured: ${r.error ?? r.skipped}`, '', '', '']
        : [r.label, num(r.min), num(r.gzip), num(r.brotli), `${num(r.gzipVsFloor, 2)}x`],
    ),
  )
  console.log(
    `root entry target: <= ${TARGET_ANCHOR} (${num(anchor?.gzip)} B gzip), measured ${num(full?.gzip)} B: ${budget.within ? `within, ${num(anchor?.gzip - full?.gzip)} B under` : 'OVER'}`,
  )
  // What the full client is made of, from its sources (see size-report.mjs), for the owner of the budget.
  const { sizeReport } = await import('./size-report.mjs')
  const contents = await sizeReport('full').catch((error) => ({ error: String(error?.message ?? error) }))
  const path = await writeResult('bundle-size', {
    smoke,
    command: commandLine('bundle-size.mjs'),
    data: {
      method:
        'esbuild API: bundle, minify, platform browser, format esm, esbuild defaults otherwise (legal comments kept at the end, as size-limit does), `export * as m from <pkg>` (whole public API, dependencies included); gzip level 9, brotli quality 11. The IIFE is measured as shipped (tsup/esbuild output).',
      rows,
      budget,
      fullClientContents: contents.error
        ? contents
        : {
            fromSource: contents.fromSource,
            packages: contents.packages,
            inputs: contents.inputs.slice(0, 15),
          },
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
