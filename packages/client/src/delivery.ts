// `@holdfast/client/delivery`: backpressure for subscribers, paid for only by apps that import it.
export { buffer, coalesce, type DeliverySchedule, latest } from './delivery/policies'
export { type StreamOptions, stream } from './delivery/stream'
