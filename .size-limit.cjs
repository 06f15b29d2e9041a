// Size budgets per published entry, checked in CI with `size-limit` (esbuild bundle, gzip -9, deps included).
// Budgets only go down. Issue 7 asks for 10 kB for the full client; it measures 16.2 kB (down from 17.6 kB):
// reconnecting-websocket and eventsource-parser, both named in the design card, are 4.1 kB of it, and the
// features issues 2-5 require are about 12 kB of our own code. Reaching 10 kB needs a decision (drop
// reconnecting-websocket and move features out of the main entry, or raise the budget), so these budgets sit
// just above today's sizes to stop growth. See bench/RESULTS.md and `node bench/size-report.mjs`.
const { existsSync } = require('node:fs')
const { join } = require('node:path')

const checks = [
  {
    name: '@holdfast/client (full ESM, dependencies included)',
    path: 'packages/client/dist/index.js',
    import: '*',
    gzip: true,
    limit: '16.5 kB',
  },
  {
    // A subset of the full client: never allowed more than the full client's budget.
    name: '@holdfast/client/websocket (WebSocket only)',
    path: 'packages/client/dist/websocket.js',
    import: '*',
    gzip: true,
    limit: '12.5 kB',
  },
  {
    // The fetch-based EventSource on its own (not part of the client; the IIFE global carries it too).
    name: '@holdfast/client/event-stream',
    path: 'packages/client/dist/event-stream.js',
    import: '*',
    gzip: true,
    limit: '4 kB',
  },
  {
    // Presence on its own entry: what only apps that import it pay (the root entry carries none of it).
    // Measured with what it imports from the root entry (HoldfastError) and @holdfast/protocol/presence.
    name: '@holdfast/client/presence',
    path: 'packages/client/dist/presence.js',
    import: '*',
    gzip: true,
    limit: '3.6 kB',
  },
  {
    // The full client plus `createEventStream`, `presence`, the global wrapper and an es2020 target.
    name: 'holdfast.global.js (IIFE for <script>)',
    path: 'packages/client/dist/holdfast.global.js',
    gzip: true,
    limit: '17.3 kB',
  },
]

// @holdfast/react's budget applies once the package has code (then a missing dist fails the check).
const reactHasCode = ['src/index.ts', 'src/index.tsx', 'dist/index.js'].some((f) =>
  existsSync(join(__dirname, 'packages/react', f)),
)
if (reactHasCode) {
  checks.push({
    // The hooks and what they import from the client (`HoldfastError`); React itself is the app's.
    name: '@holdfast/react (React external)',
    path: 'packages/react/dist/index.js',
    import: '*',
    ignore: ['react', 'react-dom'],
    gzip: true,
    limit: '2.6 kB',
  })
} else {
  console.warn('[size-limit] packages/react has no source: its budget is skipped')
}

module.exports = checks
