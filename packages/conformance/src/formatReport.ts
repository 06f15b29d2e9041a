import type { CheckResult, ConformanceReport } from './options'

/** One result as the CLI prints it: a line, and on failure what was expected and what came back. */
export function formatResult(result: CheckResult): string {
  switch (result.status) {
    case 'pass':
      return `  pass     ${result.title}  [${result.id}]`
    case 'not-run':
      return `  not run  ${result.title}  [${result.id}]\n           needs ${result.needs}`
    case 'fail':
      return `  FAIL     ${result.title}  [${result.id}]\n           expected: ${result.expected}\n           got:      ${result.actual}`
  }
}

/** The whole report, grouped by PROTOCOL.md section, ending with the totals. */
export function formatReport(report: ConformanceReport): string {
  const lines = [`Holdfast wire protocol v1 conformance (docs/PROTOCOL.md): ${report.url}`]
  let section: string | undefined
  for (const result of report.results) {
    if (result.section !== section) {
      section = result.section
      lines.push('', section)
    }
    lines.push(formatResult(result))
  }
  lines.push('', formatTotals(report))
  return lines.join('\n')
}

export function formatTotals(report: ConformanceReport): string {
  return `${report.passed} passed, ${report.failed} failed, ${report.notRun} not run`
}
