export { createClient } from './createClient'
export * from './index.shared'
export {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type StreamEvent,
} from './sse/createEventStream'
