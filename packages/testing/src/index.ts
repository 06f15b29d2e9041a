export type { StoredMessage } from './ChannelLog'
export type { MockConnection, MockTransport } from './connections'
export {
  createHoldfastMock,
  type DrainOptions,
  type DropOptions,
  type HoldfastMock,
  type HoldfastMockOptions,
  type MockPresenceChannel,
} from './createHoldfastMock'
export type { MockPublish } from './MockContext'
