// Issue 11, item 10: two copies of the package in one page (a CommonJS library using the hooks inside an
// app whose provider comes from the ESM build) share the provider. Runs the built files: `npx tsup` first.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { render } from '@testing-library/react'
import { describe, expect, test, vi } from 'vitest'
import type * as Api from '../src'
import { setup, waitText } from './render'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const esm: typeof Api = await import(join(dist, 'index.js'))
const cjs: typeof Api = createRequire(import.meta.url)(join(dist, 'index.cjs'))

function EsmRoom() {
  return <p data-testid="room">{esm.useSubscription('room').status}</p>
}

function CjsRoom() {
  return <p data-testid="room">{cjs.useSubscription('room').status}</p>
}

function EsmOrphan() {
  esm.useHoldfastClient()
  return null
}

function CjsOrphan() {
  cjs.useHoldfastClient()
  return null
}

describe('the ESM and CommonJS builds in one app', () => {
  test.each([
    { hooks: 'CommonJS', provider: 'ESM', Room: CjsRoom, Provider: esm.HoldfastProvider },
    { hooks: 'ESM', provider: 'CommonJS', Room: EsmRoom, Provider: cjs.HoldfastProvider },
  ])('hooks from the $hooks build find the provider from the $provider build', async ({ Room, Provider }) => {
    expect(esm.HoldfastProvider).not.toBe(cjs.HoldfastProvider)
    const { server, client } = setup()
    render(
      <Provider client={client}>
        <Room />
      </Provider>,
    )
    await waitText('room', 'live')
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
  })

  test('without any provider, each build still says how to fix it', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    for (const Orphan of [EsmOrphan, CjsOrphan])
      expect(() => render(<Orphan />)).toThrow(/inside <HoldfastProvider client=\{client\}>/)
    error.mockRestore()
  })
})
