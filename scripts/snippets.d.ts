// What the README and docs examples leave to the reader: an app's own functions and objects. Declared here so
// scripts/check-snippets.mjs can type-check every example as written.
declare const auth: { currentJwt(): Promise<string>; token(): Promise<string> }
declare function render(data: unknown): void
declare function reloadFromApi(channel: string): void
declare function badge(status: string, transport?: string): void
// `app` is a Node HTTP server in the server examples and an Express app in the webhooks guide.
declare const app: import('node:http').Server & { post(path: string, ...handlers: NodeHandler[]): void }
declare const user: { id: string }
declare const client: import('@holdfast/client').HoldfastClient
declare function getToken(): Promise<string>
declare const el: HTMLElement
declare const server: import('@holdfast/server').HoldfastServer
declare const redis: import('ioredis').Redis
declare const natMap: Record<string, { host: string; port: number }>
// The webhooks guide: an incoming request, an app's job queue, and the Express/Fastify shapes it mounts into.
declare const request: { headers: Record<string, string | string[] | undefined> }
declare const rawBody: Buffer
declare const secret: string
declare function handler(webhook: import('@holdfast/webhooks/receiver').ReceivedWebhook): Promise<void>
declare const jobs: { add(name: string, data: unknown, options: { jobId: string }): Promise<unknown> }
declare const dispatcher: import('@holdfast/webhooks/dispatcher').Dispatcher
declare const receiver: import('@holdfast/webhooks/receiver').WebhookReceiver
type NodeHandler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void
declare const express: { raw(options: { type: string }): NodeHandler; json(): NodeHandler }
interface FastifyLike {
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer' },
    parse: (req: unknown, body: Buffer, done: (error: Error | null, body?: unknown) => void) => void,
  ): void
  post(
    path: string,
    handler: (
      request: { headers: Record<string, string | string[] | undefined>; body: unknown },
      reply: FastifyReply,
    ) => Promise<unknown>,
  ): void
}
interface FastifyReply {
  code(status: number): FastifyReply
  headers(headers: Record<string, string>): FastifyReply
  send(body: unknown): FastifyReply
}
declare const fastify: { register(plugin: (scope: FastifyLike) => Promise<void>): void }
