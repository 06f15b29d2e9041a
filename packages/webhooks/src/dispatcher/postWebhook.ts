import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { blockedAddressError, type LookupAll } from './assertDeliverableUrl'

export interface PostWebhookOptions {
  headers: Record<string, string>
  body: string
  signal: AbortSignal
  /** Resolves the host at connect time. */
  lookup: LookupAll
  /** Refuse loopback, private and link-local addresses at connect time (the SSRF guard). */
  guard: boolean
  agents: WebhookAgents
}

/** Keep-alive connection pools. A pooled socket stays connected to the address checked when it was opened. */
export interface WebhookAgents {
  http: HttpAgent
  https: HttpsAgent
}

export function createWebhookAgents(): WebhookAgents {
  return { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) }
}

/** What the dispatcher needs of an answer: the status and `Retry-After`. The body is discarded. */
export interface WebhookAnswer {
  status: number
  retryAfter: string | null
}

/**
 * One webhook `POST` over node:http(s). Unlike `fetch`, it resolves the host name through `lookup` at
 * the moment it connects and checks those very addresses, so a DNS answer that changes after the SSRF
 * check (rebinding) cannot point the request at an internal address; a reused keep-alive socket is still
 * connected to the address that was checked when it opened. Redirects are never followed.
 */
export function postWebhook(url: string, options: PostWebhookOptions): Promise<WebhookAnswer> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const send = secure ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        signal: options.signal,
        lookup: connectLookup(options.lookup, options.guard),
        agent: secure ? options.agents.https : options.agents.http,
      },
      (res) => {
        res.resume()
        const retryAfter = res.headers['retry-after']
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
        })
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** A `net` lookup over `LookupAll` that, when guarding, refuses the connection unless every address is allowed. */
function connectLookup(lookup: LookupAll, guard: boolean): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    lookup(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0)
          return
        }
        const refused =
          guard &&
          blockedAddressError(
            `connect to ${hostname}: at connect time it`,
            addresses.map((a) => a.address),
          )
        if (refused) {
          callback(refused as unknown as NodeJS.ErrnoException, '', 0)
          return
        }
        if (lookupOptions.all)
          callback(
            null,
            addresses.map((a) => ({ address: a.address, family: a.family })),
          )
        else callback(null, addresses[0]!.address, addresses[0]!.family)
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    )
  }
}
