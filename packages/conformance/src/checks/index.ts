import type { Check } from './Check'
import { drainChecks } from './drainChecks'
import { httpChecks } from './httpChecks'
import { pollChecks } from './pollChecks'
import { sseChecks } from './sseChecks'
import { websocketChecks } from './websocketChecks'

/** Every check of the suite. Section order is PROTOCOL.md's (see `SECTION_ORDER`). */
export const ALL_CHECKS: readonly Check[] = [
  ...httpChecks,
  ...websocketChecks,
  ...sseChecks,
  ...pollChecks,
  ...drainChecks,
]

/** The suite's checks, in PROTOCOL.md order: what `--list` prints. */
export function listChecks(): Array<{ id: string; section: string; title: string }> {
  return ALL_CHECKS.map(({ id, section, title }) => ({ id, section, title }))
}
