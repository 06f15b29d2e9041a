// Setup of the React 18 run (vitest.react18.config.ts): fail at once if the aliases did not take.
import { version } from 'react'
import { version as domVersion } from 'react-dom'

if (!version.startsWith('18.') || !domVersion.startsWith('18.'))
  throw new Error(`[holdfast] the React 18 run loaded react ${version} and react-dom ${domVersion}`)
