#!/usr/bin/env node
// Committed (not built) so that npm links the bin at install time, before `npm run build` has made dist/.
import('../dist/cli.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    console.error('holdfast-conformance: not built yet. Run `npm run build` at the repository root first.')
    process.exit(1)
  }
  throw error
})
