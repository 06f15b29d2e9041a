export { listChecks } from './checks'
export { SECTION_ORDER, Section } from './checks/Check'
export { formatReport, formatResult, formatTotals } from './formatReport'
export type {
  CheckResult,
  CheckStatus,
  ConformanceOptions,
  ConformanceReport,
  ServerTimings,
} from './options'
export { ConformanceSetupError, runConformance } from './runConformance'
export type { WebSocketConstructor, WebSocketLike } from './wire/rawSocket'
