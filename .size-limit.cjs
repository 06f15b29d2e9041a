// Size budgets per published entry, checked in CI with `size-limit` (esbuild bundle, gzip -9, deps included).
// Budgets only go down, except where a requirement adds code (say which). Issue 11's target for the root entry
// is socket.io-client's gzip size measured in the same run (`node bench/bundle-size.mjs`, bench/RESULTS.md);
// the budget here is a fixed figure just above today's root size and below socket.io-client 4.8.x (13,403 B by
// that bench), so CI fails before the target is lost. size-limit's kB is 1000 bytes.
// Raised for review A's fixes (token refresh floor and backoff, getToken timeout, a refused channel on SSE and
// long polling): root 13,343 -> 13,547 B, now 144 B above socket.io-client's 13,403 B; the core's entries by the
// same ~200 B. Bringing it back under the target is open work.
const { existsSync } = require('node:fs')
const { join } = require('node:path')

const checks = [
  {
    name: '@holdfast/client (full ESM, dependencies included)',
    path: 'packages/client/dist/index.js',
    import: '*',
    gzip: true,
    limit: '13.36 kB',
  },
  {
    // A subset of the full client: never allowed more than the full client's budget.
    name: '@holdfast/client/websocket (WebSocket only)',
    path: 'packages/client/dist/websocket.js',
    import: '*',
    gzip: true,
    limit: '9.8 kB',
  },
  {
    // The fetch-based EventSource on its own (not part of the client; the IIFE global carries it too). It grew
    // from 3.9 kB when issue 11 made it use the client's one disconnect classifier (a 401/403/404/429 is handled
    // as on every transport) and follow the WHATWG stream rules in full (CR line endings, end of stream).
    name: '@holdfast/client/event-stream',
    path: 'packages/client/dist/event-stream.js',
    import: '*',
    gzip: true,
    limit: '4.85 kB',
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
    // The delivery policies other than the default (buffer, latest, coalesce) and stream(): an app that
    // imports them pays for them; the root entry does not carry them.
    name: '@holdfast/client/delivery',
    path: 'packages/client/dist/delivery.js',
    import: '*',
    gzip: true,
    limit: '1.5 kB',
  },
  {
    // The full client plus the delivery policies, `createEventStream`, `presence` and the global wrapper.
    name: 'holdfast.global.js (IIFE for <script>)',
    path: 'packages/client/dist/holdfast.global.js',
    gzip: true,
    limit: '17.1 kB',
  },
  {
    // Opt-in: the full client plus one connection for all tabs (election, relay, tab transport) and persist.
    name: '@holdfast/client/tabs (createSharedClient)',
    path: 'packages/client/dist/tabs.js',
    import: '*',
    gzip: true,
    limit: '18.8 kB',
  },
  {
    // Opt-in: the full client plus cursors and unacknowledged publishes kept across a reload.
    name: '@holdfast/client/persist (createPersistentClient)',
    path: 'packages/client/dist/persist.js',
    import: '*',
    gzip: true,
    limit: '15.45 kB',
  },
  {
    // holdfast.global.js plus /tabs and /persist, its own file so script-tag pages that do not share pay nothing.
    name: 'holdfast.tabs.global.js (IIFE with tabs and persist)',
    path: 'packages/client/dist/holdfast.tabs.global.js',
    gzip: true,
    limit: '22.65 kB',
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
  checks.push({
    // usePresence on its own entry, with @holdfast/client/presence (and what that imports) included.
    name: '@holdfast/react/presence (React external)',
    path: 'packages/react/dist/presence.js',
    import: '*',
    ignore: ['react', 'react-dom'],
    gzip: true,
    limit: '4.5 kB',
  })
} else {
  console.warn('[size-limit] packages/react has no source: its budget is skipped')
}

module.exports = checks
