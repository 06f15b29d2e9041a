import { HoldfastProvider } from '@holdfast/react'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { ChatRoom } from './components/ChatRoom'
import { ClaimsPanel } from './components/ClaimsPanel'
import { ConnectionBadge } from './components/ConnectionBadge'
import { ControlPanel } from './components/ControlPanel'
import { LiveChart } from './components/LiveChart'
import { NotificationFeed } from './components/NotificationFeed'
import { client, feedClient, logClientEvents } from './demoClient'
import { useDemoState } from './demoState'

logClientEvents()

function App() {
  const server = useDemoState()
  return (
    <HoldfastProvider client={client}>
      <header>
        <h1>Holdfast demo</h1>
        <ConnectionBadge />
      </header>
      <p className="intro">
        Open this page in two tabs and chat. Then break the connection with the control panel: the badge and
        the event log say what the client did, and the claims panel checks that nothing was lost or
        duplicated.
      </p>
      <main>
        <div className="column">
          <ChatRoom start={server?.chatStart} history={server?.history} />
          <ClaimsPanel />
        </div>
        <div className="column">
          <ControlPanel server={server} />
          <HoldfastProvider client={feedClient}>
            <NotificationFeed />
          </HoldfastProvider>
          <LiveChart />
        </div>
      </main>
      <footer data-testid="more-pages">
        <h2>More pages</h2>
        <ul>
          <li>
            <a href="/flood.html">Flood</a>: the server publishes 5,000 messages a second on one channel; the
            page coalesces them by key and renders at most once a frame, and still ends on the last message.
          </li>
          <li>
            <a href="/cdn.html">Script tag</a>: the same client from a plain{' '}
            <code>&lt;script src="/holdfast.global.js"&gt;</code>, no bundler, subscribed to a headline every
            second.
          </li>
        </ul>
      </footer>
    </HoldfastProvider>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
