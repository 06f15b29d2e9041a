// The IIFE bundle for a <script> tag: everything on one global, `Holdfast`, including what npm users import
// from the subpath entries (`createEventStream`, the delivery policies and `stream`, `presence`).
export * from './delivery'
export * from './index'
export { presence } from './presence'
export { createEventStream } from './sse/createEventStream'
