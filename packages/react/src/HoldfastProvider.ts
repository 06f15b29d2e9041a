import { type HoldfastClient, HoldfastError } from '@holdfast/client'
import {
  type Context,
  createContext,
  createElement,
  type ReactElement,
  type ReactNode,
  useContext,
} from 'react'

type ClientContext = Context<HoldfastClient | undefined>

const CONTEXTS = Symbol.for('holdfast.react.context')

/**
 * One context for every copy of this package in the page (its ESM and CommonJS builds, or two installed
 * versions), so hooks from one find the provider from another. Kept per React, whose contexts only work
 * with the React that made them.
 */
function holdfastContext(): ClientContext {
  const shared = globalThis as { [CONTEXTS]?: WeakMap<object, ClientContext> }
  shared[CONTEXTS] ??= new WeakMap()
  const contexts = shared[CONTEXTS]
  let context = contexts.get(createContext)
  if (!context) {
    context = createContext<HoldfastClient | undefined>(undefined)
    context.displayName = 'HoldfastContext'
    contexts.set(createContext, context)
  }
  return context
}

export interface HoldfastProviderProps {
  /**
   * The client every hook below uses. The provider never connects or closes it: create it once,
   * outside render. For server rendering create it with `lazy: true` (or only in the browser), since
   * a non-lazy client starts connecting as soon as it is created.
   */
  client: HoldfastClient
  children?: ReactNode
}

/**
 * Makes `client` available to the Holdfast hooks below it. Nest providers to give a subtree
 * another client (for example an SSE-only one).
 *
 * @example
 * ```tsx
 * const client = createClient({ url: 'https://rt.example.com', getToken })
 * createRoot(el).render(<HoldfastProvider client={client}><App /></HoldfastProvider>)
 * ```
 */
export function HoldfastProvider({ client, children }: HoldfastProviderProps): ReactElement {
  return createElement(holdfastContext().Provider, { value: client }, children)
}

/** The client of the nearest `<HoldfastProvider>`. Throws when there is none. */
export function useHoldfastClient(): HoldfastClient {
  const client = useContext(holdfastContext())
  if (!client) {
    throw new HoldfastError(
      'bad_request',
      'useHoldfastClient() found no client: render this component inside <HoldfastProvider client={client}>',
    )
  }
  return client
}
