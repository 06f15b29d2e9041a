// The CommonJS view of the package (require conditions, .d.cts), under node16.
import client = require('@holdfast/client')
import delivery = require('@holdfast/client/delivery')
import presence = require('@holdfast/client/presence')
import tabs = require('@holdfast/client/tabs')

const c: client.HoldfastClient = client.createClient({ url: 'https://rt.example.com', lazy: true })
c.subscribe<{ n: number }>('a', (m) => m.data.n, { delivery: delivery.latest() })
const e: client.HoldfastError = new client.HoldfastError('closed', 'x')
const p: presence.Presence<{ name: string }> = presence.presence(c, 'room', {
  enter: true,
  info: { name: 'A' },
})
const shared: client.HoldfastClient = tabs.createSharedClient({ url: 'https://rt.example.com', lazy: true })
export = { c, e, p, shared }
