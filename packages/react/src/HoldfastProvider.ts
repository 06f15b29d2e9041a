import { type HoldfastClient, HoldfastError } from '@holdfast/client'
import { createContext, createElement, type ReactElement, type ReactNode, useContext } from 'react'

const HoldfastContext = createContext<HoldfastClient | undefined>(undefined)
HoldfastContext.displayName = 'HoldfastContext'

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
  return createElement(HoldfastContext.Provider, { value: client }, children)
}

/** The client of the nearest `<HoldfastProvider>`. Throws when there is none. */
export function useHoldfastClient(): HoldfastClient {
  const client = useContext(HoldfastContext)
  if (!client) {
    throw new HoldfastError(
      'bad_request',
      'useHoldfastClient() found no client: render this component inside <HoldfastProvider client={client}>',
    )
  }
  return client
}
