import type { Disconnect } from '../core/classifyDisconnect'
import { HoldfastError } from '../HoldfastError'
import type { StreamEnd } from './readEventStream'

/** The facts of how an SSE response ended, for the classifier (the SSE transport and `createEventStream`). */
export function disconnectFromStreamEnd(
  end: StreamEnd,
  opened: boolean,
  hintMs: number | undefined,
  idleTimeoutMs: number,
): Disconnect {
  if (end.kind === 'http') return { opened, status: end.status, reason: end.body, hintMs: end.retryAfterMs }
  const error =
    end.kind === 'not-sse'
      ? new HoldfastError(
          'transport_unavailable',
          `expected text/event-stream, got "${end.contentType}": something other than the SSE endpoint answered (a proxy, the wrong URL)`,
        )
      : end.kind === 'parse'
        ? new HoldfastError('bad_frame', 'SSE event larger than the parser buffer', { cause: end.error })
        : end.kind === 'idle'
          ? new HoldfastError(
              'timeout',
              `SSE stream silent for ${idleTimeoutMs} ms: the connection is dead, or a proxy buffers the stream (see docs/proxies.md)`,
            )
          : new HoldfastError(
              'disconnected',
              end.kind === 'ended' ? 'SSE stream ended' : 'SSE connection failed',
              end.kind === 'network' ? { cause: end.error } : {},
            )
  return { opened: end.kind !== 'not-sse' && opened, hintMs, error }
}
