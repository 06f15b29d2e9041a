import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { WebhookVerificationError } from '../WebhookVerificationError'

/** Resolves a host name to every address it has, like `dns.lookup(host, { all: true })`. */
export type LookupAll = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>

export const systemLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

// Ranges whose addresses carry an IPv4 address inside them: deliverable exactly when that address is.
const EMBEDS_IPV4 = new Set(['ipv4Mapped', 'rfc6145', 'rfc6052', '6to4'])

/** The IPv4 address an IPv6 address of an `EMBEDS_IPV4` range carries, or undefined when it has none. */
function embeddedIpv4(address: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const bytes = address.toByteArray()
  if (range === '6to4') return new ipaddr.IPv4(bytes.slice(2, 6))
  // Only NAT64's well-known prefix (64:ff9b::/96, RFC 6052) has the address in its last 32 bits; the
  // local-use prefix 64:ff9b:1::/48 (RFC 8215) may place it anywhere, so it has none we can check.
  if (range === 'rfc6052' && !address.parts.slice(0, 6).every((p, i) => p === [0x64, 0xff9b, 0, 0, 0, 0][i]))
    return undefined
  return new ipaddr.IPv4(bytes.slice(12, 16))
}

/**
 * True unless `address` (an IPv4 or IPv6 literal) is an ordinary global unicast address. Every range of the
 * IANA special-purpose registries is refused, as ipaddr.js classifies them: loopback, private (10/8,
 * 172.16/12, 192.168/16, fc00::/7), carrier-grade NAT, link-local (169.254/16, fe80::/10, where cloud
 * metadata lives), unspecified, broadcast, multicast, documentation, benchmarking, reserved, AS112, AMT,
 * ORCHID, Teredo, discard-only, SRv6 and the rest. IPv4 addresses wrapped in IPv6 (`::ffff:127.0.0.1`,
 * IPv4-translated, NAT64, 6to4) are judged by the address they carry. Anything that is not an IP literal
 * counts as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  if (!ipaddr.isValid(bare)) return true
  const parsed = ipaddr.parse(bare)
  const range = parsed.range()
  if (range === 'unicast') return false
  if (parsed.kind() === 'ipv6' && EMBEDS_IPV4.has(range)) {
    const inner = embeddedIpv4(parsed as ipaddr.IPv6, range)
    return inner === undefined || inner.range() !== 'unicast'
  }
  return true
}

export interface AssertDeliverableUrlOptions {
  /** Skip the address check (local development, tests, deliveries inside your own network). Defaults to false. */
  allowPrivateNetworks?: boolean
  /** Resolver. Defaults to `dns.lookup` with `all: true`. */
  lookup?: LookupAll
}

/**
 * Throws `WebhookVerificationError` with code `invalid_url` for anything but an http(s) URL, and
 * `blocked_address` when the host is, or resolves to, an address `isBlockedAddress` refuses. Every
 * resolved address is checked, not only the first. DNS errors are passed through unchanged.
 */
export async function assertDeliverableUrl(
  url: string,
  options: AssertDeliverableUrlOptions = {},
): Promise<void> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw new WebhookVerificationError('invalid_url', `[holdfast] ${JSON.stringify(url)} is not a URL`, {
      cause: error,
    })
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new WebhookVerificationError(
      'invalid_url',
      `[holdfast] webhook URLs must be http(s), got ${parsed.protocol}`,
    )
  }
  if (parsed.username || parsed.password) {
    throw new WebhookVerificationError(
      'invalid_url',
      '[holdfast] webhook URLs cannot carry credentials; the signature authenticates the sender',
    )
  }
  if (options.allowPrivateNetworks) return
  // WHATWG URL parsing already turns 0x7f.1, 2130706433 and friends into dotted quads.
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host) ? [host] : (await (options.lookup ?? systemLookup)(host)).map((a) => a.address)
  const refused = blockedAddressError(`deliver to ${parsed.origin}: it`, addresses)
  if (refused) throw refused
}

/**
 * The `blocked_address` error when `addresses` is empty or holds one `isBlockedAddress` refuses;
 * `undefined` when all of them may be delivered to. `refusing` completes "refusing to … resolves to".
 */
export function blockedAddressError(
  refusing: string,
  addresses: readonly string[],
): WebhookVerificationError | undefined {
  const blocked = addresses.filter(isBlockedAddress)
  if (addresses.length > 0 && blocked.length === 0) return undefined
  return new WebhookVerificationError(
    'blocked_address',
    `[holdfast] refusing to ${refusing} resolves to ${blocked.join(', ') || 'no address'}, which is loopback, private, link-local or another special-purpose address. Pass allowPrivateNetworks: true to allow it (tests, internal networks)`,
  )
}
