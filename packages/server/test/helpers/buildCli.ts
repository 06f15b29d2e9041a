import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** The CLI test runs the built `dist/cli.js`; build it when it is missing or older than the sources. */
export default function setup(): void {
  const cli = join(root, 'dist', 'cli.js')
  if (existsSync(cli) && statSync(cli).mtimeMs >= newestSource(join(root, 'src'))) return
  execFileSync('npx', ['tsup'], { cwd: root, stdio: 'ignore' })
}
