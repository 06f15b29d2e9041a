/** Structured fields attached to a log line. Never put tokens or secrets in them. */
export type LogFields = Record<string, unknown>

/**
 * Where the server reports what happens. The shape matches pino's `(fields, message)` call,
 * so a pino logger can be passed as is. Defaults to a silent logger.
 */
export interface Logger {
  debug(fields: LogFields, message: string): void
  info(fields: LogFields, message: string): void
  warn(fields: LogFields, message: string): void
  error(fields: LogFields, message: string): void
}

const noop = () => {}

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

/** An error as loggable fields, without its full object graph. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) return { err: { name: error.name, message: error.message, stack: error.stack } }
  return { err: String(error) }
}
