// The hook tests against React 18, on demand: the workspace cannot install React 18 beside React 19
// (npm refuses react-dom@18 next to react@19: its peer is react@^18.3.1), so React 18 comes from outside:
//   npm install --prefix /tmp/react18 react@18.3.1 react-dom@18.3.1
//   REACT18_NODE_MODULES=/tmp/react18/node_modules npx vitest run -c vitest.react18.config.ts
// `react` and `react-dom` are aliased to it, and testing-library's ESM build is run through Vite so that
// its imports follow the aliases too. Left out: `<Activity>` (React 19 only) and the built-package tests
// (they `require` dist/index.cjs natively, which no alias reaches).
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

const react18 = process.env.REACT18_NODE_MODULES
if (!react18) {
  throw new Error(
    '[holdfast] set REACT18_NODE_MODULES to a node_modules holding react@18 and react-dom@18 (see vitest.react18.config.ts)',
  )
}
const testingLibrary = join(
  dirname(createRequire(import.meta.url).resolve('@testing-library/react')),
  '@testing-library/react.esm.js',
)

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic' } },
  resolve: {
    alias: [
      { find: /^react$/, replacement: join(react18, 'react/index.js') },
      { find: /^react\/(jsx-runtime|jsx-dev-runtime)$/, replacement: join(react18, 'react/$1.js') },
      { find: /^react-dom$/, replacement: join(react18, 'react-dom/index.js') },
      { find: /^react-dom\/(client|test-utils)$/, replacement: join(react18, 'react-dom/$1.js') },
      { find: /^react-dom\/server$/, replacement: join(react18, 'react-dom/server.node.js') },
      { find: /^@testing-library\/react$/, replacement: testingLibrary },
    ],
  },
  test: {
    name: 'react18',
    reporters: reporters('react18'),
    environment: 'happy-dom',
    setupFiles: ['./test/setup.ts', './test/react18.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
    exclude: ['test/activity.test.tsx', 'test/twoCopies.test.tsx', 'test/package.test.ts'],
    server: { deps: { inline: [/@testing-library[\\/]react/] } },
    testTimeout: 10_000,
    hookTimeout: 10_000,
  },
})
