export * from './codes'
export * from './cursor'
export * from './frames'
export * from './sse'
