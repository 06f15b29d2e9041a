/** Joins the client's base URL and an endpoint path, keeping any path prefix of the base. */
export function endpointUrl(baseUrl: string, path: string, protocol?: 'ws'): string {
  const url = new URL(baseUrl)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`
  if (protocol) url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:'
  return url.toString()
}
