import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, isIPv4 } from 'node:net'
import { WebhookVerificationError } from '../WebhookVerificationError'

/** Resolves a host name to every address it has, like `dns.lookup(host, { all: true })`. */
export type LookupAll = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>

export const systemLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

type Range = readonly [base: number, prefixLength: number]

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0)
}

const BLOCKED_IPV4: readonly Range[] = [
  [ipv4ToNumber('0.0.0.0'), 8], // "this network", includes the unspecified 0.0.0.0
  [ipv4ToNumber('10.0.0.0'), 8], // private
  [ipv4ToNumber('100.64.0.0'), 10], // carrier-grade NAT
  [ipv4ToNumber('127.0.0.0'), 8], // loopback
  [ipv4ToNumber('169.254.0.0'), 16], // link-local, where cloud metadata services live
  [ipv4ToNumber('172.16.0.0'), 12], // private
  [ipv4ToNumber('192.0.0.0'), 24], // IETF protocol assignments
  [ipv4ToNumber('192.0.2.0'), 24], // documentation
  [ipv4ToNumber('192.168.0.0'), 16], // private
  [ipv4ToNumber('198.18.0.0'), 15], // benchmarking
  [ipv4ToNumber('198.51.100.0'), 24], // documentation
  [ipv4ToNumber('203.0.113.0'), 24], // documentation
  [ipv4ToNumber('224.0.0.0'), 4], // multicast
  [ipv4ToNumber('240.0.0.0'), 4], // reserved, includes broadcast 255.255.255.255
]

function isBlockedIpv4(value: number): boolean {
  return BLOCKED_IPV4.some(([base, bits]) => {
    const size = 2 ** (32 - bits)
    return Math.floor(value / size) === Math.floor(base / size)
  })
}

// Eight 16-bit groups, with `::` expanded and a trailing dotted quad converted.
function ipv6Groups(address: string): number[] | undefined {
  let text = address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const value = ipv4ToNumber(dotted[1]!)
    text = `${text.slice(0, dotted.index)}${Math.floor(value / 65536).toString(16)}:${(value % 65536).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const head = halves[0] ? halves[0].split(':') : []
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) =>
    Number.parseInt(g, 16),
  )
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups
}

function isBlockedIpv6(groups: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const embedded = g6 * 65536 + g7
  const zeroTo = (n: number) => groups.slice(0, n).every((g) => g === 0)
  if (zeroTo(8)) return true // :: unspecified
  if (zeroTo(7) && g7 === 1) return true // ::1 loopback
  if (zeroTo(5) && g5 === 0xffff) return isBlockedIpv4(embedded) // ::ffff:a.b.c.d IPv4-mapped
  if (zeroTo(6)) return isBlockedIpv4(embedded) // ::a.b.c.d IPv4-compatible (deprecated)
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return isBlockedIpv4(embedded) // ::ffff:0:a.b.c.d IPv4-translated
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return isBlockedIpv4(embedded) // NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return true // local-use NAT64
  if (g0 === 0x2002) return isBlockedIpv4(g1 * 65536 + g2) // 6to4 carries an IPv4 address
  if (g0 === 0x2001 && g1 === 0x0db8) return true // documentation
  if ((g0 & 0xfe00) === 0xfc00) return true // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80) return true // fe80::/10 link-local
  if ((g0 & 0xffc0) === 0xfec0) return true // fec0::/10 old site-local
  if ((g0 & 0xff00) === 0xff00) return true // multicast
  return false
}

/**
 * True when `address` (an IPv4 or IPv6 literal) is loopback, private (10/8, 172.16/12, 192.168/16,
 * 100.64/10, fc00::/7), link-local (169.254/16, fe80::/10), unspecified, multicast or reserved,
 * including IPv4 addresses wrapped in IPv6 (`::ffff:127.0.0.1`, NAT64, 6to4). Anything that is not
 * an IP literal counts as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  if (isIPv4(bare)) return isBlockedIpv4(ipv4ToNumber(bare))
  if (isIP(bare) !== 6) return true
  const groups = ipv6Groups(bare.toLowerCase())
  return groups === undefined || isBlockedIpv6(groups)
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
    `[holdfast] refusing to ${refusing} resolves to ${blocked.join(', ') || 'no address'}, which is loopback, private or link-local. Pass allowPrivateNetworks: true to allow it (tests, internal networks)`,
  )
}
