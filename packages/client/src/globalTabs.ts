// A second IIFE bundle, `holdfast.tabs.global.js`: everything `holdfast.global.js` has, plus one connection for
// all tabs and persistence (`createSharedClient`, `createPersistentClient` and their storages), on the same
// global, `Holdfast`. Its own file, so pages that do not share a connection do not download it. Load one of
// the two bundles, not both.
export * from './global'
export { createPersistentClient } from './persist'
export { createSharedClient, indexedDbStorage, memoryStorage, PersistentClient, SharedClient } from './tabs'
