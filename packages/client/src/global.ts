// The IIFE bundle for a <script> tag: everything on one global, `Holdfast`, including
// `createEventStream`, which npm users import from `@holdfast/client/event-stream`.
export * from './index'
export { createEventStream } from './sse/createEventStream'
