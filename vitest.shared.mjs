// Shared by every package's vitest config: when `npm test` collects results, also write a JSON report.
// Plain ESM with a .mjs extension (types in vitest.shared.d.mts), imported with its extension: Vite's
// config loader would otherwise warn, once per package, that it loads this file as CommonJS.
/** @param {string} name */
export function reporters(name) {
  const dir = process.env.HOLDFAST_RESULTS_DIR
  return dir ? ['default', ['json', { outputFile: `${dir}/vitest-${name}.json` }]] : ['default']
}
