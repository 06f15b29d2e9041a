// `@holdfast/react/presence`: `usePresence`, over `@holdfast/client/presence`. Its own entry, so apps
// without presence ship none of it.
export type { PresenceResult, UsePresenceOptions } from './PresenceObserver'
export { usePresence } from './usePresence'
