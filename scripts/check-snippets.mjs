#!/usr/bin/env node
// Type-checks every ```ts and ```tsx block of the READMEs and docs against the built packages, so an example
// that no longer compiles (an option renamed, a snippet that throws on a missing env var) fails CI.
// Each block is its own module; names an example leaves to the reader (render, auth, app) are declared in
// scripts/snippets.d.ts. Run after the build: node scripts/check-snippets.mjs
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const out = join(root, 'node_modules', '.cache', 'holdfast-snippets')
const files = [
  'README.md',
  ...readdirSync(join(root, 'packages')).map((p) => join('packages', p, 'README.md')),
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
].filter((f) => {
  try {
    readFileSync(join(root, f))
    return true
  } catch {
    return false
  }
})

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const snippets = []
for (const file of files) {
  const text = readFileSync(join(root, file), 'utf8')
  const fence = /^```(tsx?)\s*\n([\s\S]*?)^```/gm
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const line = text.slice(0, m.index).split('\n').length
    const name = `${file.replace(/[/.]/g, '_')}_L${line}.${m[1]}`
    // A module of its own (top-level await works), with the reader's placeholders in scope.
    writeFileSync(
      join(out, name),
      `/// <reference path="${join(root, 'scripts', 'snippets.d.ts')}" />\n${m[2]}\nexport {}\n`,
    )
    snippets.push({ name, where: `${file}:${line}` })
  }
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022', 'DOM', 'DOM.Iterable'],
      module: 'ESNext',
      moduleResolution: 'Bundler',
      jsx: 'react-jsx',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      baseUrl: root,
    },
    include: ['*.ts', '*.tsx'],
  }),
)
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', out], {
  encoding: 'utf8',
})
const report = (tsc.stdout + tsc.stderr).replace(/^(\S+?\.tsx?)\((\d+),(\d+)\)/gm, (_, file, l, c) => {
  const snippet = snippets.find((s) => file.endsWith(s.name))
  return snippet
    ? `${snippet.where} (block line ${Number(l) - 1}, col ${c})`
    : `${relative(root, file)}(${l},${c})`
})
if (tsc.status !== 0) {
  console.error(report)
  console.error(`[snippets] ${snippets.length} code blocks checked: some do not type-check (above)`)
  process.exit(1)
}
console.log(`[snippets] ${snippets.length} TypeScript code blocks in the READMEs and docs type-check`)
