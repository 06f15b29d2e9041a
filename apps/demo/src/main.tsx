import { HoldfastProvider } from '@holdfast/react'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { ChatRoom } from './components/ChatRoom'
import { ConnectionBadge } from './components/ConnectionBadge'
import { ControlPanel } from './components/ControlPanel'
import { LiveChart } from './components/LiveChart'
import { NotificationFeed } from './components/NotificationFeed'
import { client, feedClient } from './demoClient'

function App() {
  return (
    <HoldfastProvider client={client}>
      <header>
        <h1>Holdfast demo</h1>
        <ConnectionBadge />
      </header>
      <main>
        <ChatRoom />
        <div style={{ display: 'grid', gap: 16 }}>
          <ControlPanel />
          <HoldfastProvider client={feedClient}>
            <NotificationFeed />
          </HoldfastProvider>
          <LiveChart />
        </div>
      </main>
    </HoldfastProvider>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
