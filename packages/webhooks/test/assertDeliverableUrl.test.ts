import { describe, expect, it, vi } from 'vitest'
import {
  assertDeliverableUrl,
  isBlockedAddress,
  type LookupAll,
} from '../src/dispatcher/assertDeliverableUrl'

const resolvesTo =
  (...addresses: string[]): LookupAll =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: { code?: string }) => error.code ?? 'no code',
  )
}

describe('isBlockedAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private 10/8'],
    ['172.16.0.1', 'private 172.16/12 start'],
    ['172.31.255.255', 'private 172.16/12 end'],
    ['192.168.1.1', 'private 192.168/16'],
    ['100.64.0.1', 'CGNAT 100.64/10'],
    ['100.127.255.255', 'CGNAT end'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fc00::1', 'unique local fc00::/7'],
    ['fdff:ffff::1', 'unique local fd'],
    ['fe80::1', 'link-local fe80::/10'],
    ['febf::1', 'link-local end'],
    ['fe80::1%eth0', 'link-local with zone'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex form'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'IPv4-mapped 192.168.1.1, long form'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254'],
    ['2002:7f00:1::', '6to4 of 127.0.0.1'],
    ['not-an-ip', 'not an address'],
  ])('blocks %s (%s)', (address) => {
    expect(isBlockedAddress(address)).toBe(true)
  })

  // The IANA special-purpose registries (IPv4 and IPv6), one address in each range, beyond the cases above.
  it.each([
    ['0.1.2.3', '0.0.0.0/8 this network'],
    ['192.0.0.9', '192.0.0.0/24 IETF protocol assignments (PCP anycast)'],
    ['192.0.0.170', '192.0.0.170/31 NAT64 discovery'],
    ['192.0.2.1', '192.0.2.0/24 TEST-NET-1'],
    ['192.31.196.1', '192.31.196.0/24 AS112-v4'],
    ['192.52.193.1', '192.52.193.0/24 AMT'],
    ['192.88.99.1', '192.88.99.0/24 deprecated 6to4 relay anycast'],
    ['192.175.48.1', '192.175.48.0/24 direct delegation AS112'],
    ['198.18.0.1', '198.18.0.0/15 benchmarking'],
    ['198.51.100.1', '198.51.100.0/24 TEST-NET-2'],
    ['203.0.113.1', '203.0.113.0/24 TEST-NET-3'],
    ['240.0.0.1', '240.0.0.0/4 reserved'],
    ['100::1', '100::/64 discard-only'],
    ['2001:1::1', '2001::/23 IETF protocol assignments'],
    ['2001::1', '2001::/32 Teredo'],
    ['2001:2::1', '2001:2::/48 benchmarking'],
    ['2001:3::1', '2001:3::/32 AMT'],
    ['2001:4:112::1', '2001:4:112::/48 AS112-v6'],
    ['2001:10::1', '2001:10::/28 deprecated ORCHID'],
    ['2001:20::1', '2001:20::/28 ORCHIDv2'],
    ['2001:30::1', '2001:30::/28 drone remote ID'],
    ['2001:db8::1', '2001:db8::/32 documentation'],
    ['2620:4f:8000::1', '2620:4f:8000::/48 direct delegation AS112'],
    ['3fff::1', '3fff::/20 documentation'],
    ['5f00::1', '5f00::/16 segment routing SIDs'],
    ['64:ff9b:1::a00:1', '64:ff9b:1::/48 local-use NAT64'],
    ['::ffff:0:7f00:1', '::ffff:0:0:0/96 IPv4-translated loopback'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['2002:a9fe:a9fe::1', '6to4 of the metadata address'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['fec0::1', 'fec0::/10 old site-local'],
    ['ff0e::1', 'global-scope multicast'],
  ])('blocks special-purpose %s (%s)', (address) => {
    expect(isBlockedAddress(address)).toBe(true)
  })

  it.each([
    ['93.184.216.34'],
    ['8.8.8.8'],
    ['172.15.255.255'],
    ['172.32.0.0'],
    ['100.63.255.255'],
    ['100.128.0.0'],
    ['169.253.255.255'],
    ['2606:4700:4700::1111'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
    ['2002:0808:0808::1'],
    ['::ffff:0:808:808'],
    ['2001:200::1'],
    ['1.1.1.1'],
  ])('allows public %s', (address) => {
    expect(isBlockedAddress(address)).toBe(false)
  })
})

describe('assertDeliverableUrl', () => {
  it('refuses literal private hosts, including the odd spellings URL parsing normalises', async () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://2130706433/hook',
      'http://0x7f.1/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://0.0.0.0:8080/',
    ]) {
      expect(await codeOf(assertDeliverableUrl(url, { lookup: resolvesTo('93.184.216.34') })), url).toBe(
        'blocked_address',
      )
    }
  })

  it('checks every resolved address, not only the literal host or the first address', async () => {
    const lookup = vi.fn(resolvesTo('93.184.216.34', '10.0.0.7'))
    expect(await codeOf(assertDeliverableUrl('https://hooks.example.com/x', { lookup }))).toBe(
      'blocked_address',
    )
    expect(lookup).toHaveBeenCalledWith('hooks.example.com')
    expect(
      await codeOf(
        assertDeliverableUrl('https://rebind.example/', { lookup: resolvesTo('::ffff:192.168.0.1') }),
      ),
    ).toBe('blocked_address')
    expect(
      await codeOf(assertDeliverableUrl('https://localhost/', { lookup: resolvesTo('127.0.0.1', '::1') })),
    ).toBe('blocked_address')
  })

  it('allows public hosts', async () => {
    await expect(
      assertDeliverableUrl('https://hooks.example.com/x', {
        lookup: resolvesTo('93.184.216.34', '2606:2800:220:1::'),
      }),
    ).resolves.toBeUndefined()
  })

  it('allows everything with allowPrivateNetworks: true, without resolving', async () => {
    const lookup = vi.fn(resolvesTo('10.0.0.1'))
    await expect(
      assertDeliverableUrl('http://internal.example/', { lookup, allowPrivateNetworks: true }),
    ).resolves.toBeUndefined()
    await expect(
      assertDeliverableUrl('http://127.0.0.1:3000/', { allowPrivateNetworks: true }),
    ).resolves.toBeUndefined()
    expect(lookup).not.toHaveBeenCalled()
  })

  it('refuses non-http(s) URLs, URLs with credentials and garbage with invalid_url', async () => {
    for (const url of [
      'ftp://example.com/',
      'file:///etc/passwd',
      'https://user:pw@example.com/',
      'not a url',
    ]) {
      expect(await codeOf(assertDeliverableUrl(url, { allowPrivateNetworks: true })), url).toBe('invalid_url')
    }
  })

  it('passes DNS errors through unchanged (the caller retries them)', async () => {
    const failure = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' })
    await expect(
      assertDeliverableUrl('https://nowhere.example/', {
        lookup: async () => {
          throw failure
        },
      }),
    ).rejects.toBe(failure)
  })
})
