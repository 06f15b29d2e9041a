// `@holdfast/client/event-stream`: the fetch-based EventSource on its own. It is not part of the client
// (the SSE transport reads streams itself), so apps that only subscribe do not ship it.
export { HoldfastError } from './HoldfastError'
export {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type StreamEvent,
} from './sse/createEventStream'
