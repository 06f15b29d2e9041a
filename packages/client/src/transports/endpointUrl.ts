/**
 * The URL of an endpoint under the client's base URL (any path prefix kept), with the scheme the transport
 * needs: `ws`/`wss` for the WebSocket, `http`/`https` otherwise, whichever of the two the base was given in.
 */
export function endpointUrl(baseUrl: string, path: string, ws?: boolean): string {
  return baseUrl.replace(/\/+$/, '').replace(/^(ws|http)/, ws ? 'ws' : 'http') + path
}
