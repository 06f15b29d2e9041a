export { createClient } from './createClient'
export * from './index.shared'
