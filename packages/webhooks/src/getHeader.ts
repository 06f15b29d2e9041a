/**
 * Request headers in any of the shapes webhooks arrive in: a Fetch `Headers` instance, Node's
 * `IncomingHttpHeaders` (lower-case keys, arrays for repeated headers) or a plain object in any case.
 */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>

// Every value of one header, case-insensitively: repeated headers matter for webhook-signature.
export function getHeaderValues(headers: HeadersLike, name: string): string[] {
  const lower = name.toLowerCase()
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get(lower)
    return value === null || value === undefined ? [] : [value]
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>
  const values: string[] = []
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== lower) continue
    const value = record[key]
    if (typeof value === 'string') values.push(value)
    else if (Array.isArray(value)) values.push(...value)
  }
  return values
}
