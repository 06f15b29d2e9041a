// Shared by every package's vitest config: when `npm test` collects results, also write a JSON report.
export function reporters(name: string): Array<string | [string, Record<string, unknown>]> {
  const dir = process.env.HOLDFAST_RESULTS_DIR
  return dir ? ['default', ['json', { outputFile: `${dir}/vitest-${name}.json` }]] : ['default']
}
