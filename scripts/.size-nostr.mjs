import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const strip = process.argv[2]
const plugin = {
  name: 'strip',
  setup(build) {
    build.onLoad({ filter: /packages\/(client|protocol)\/src\/.*\.ts$/ }, (args) => {
      let s = readFileSync(args.path, 'utf8')
      if (strip && (strip === 'all' || args.path.includes(strip)))
        s = s.replace(/(['`])((?:(?!\1)[^\\\n]|\\.){24,})\1/g, (m, q, body, offset, all) =>
          body.includes('${') ||
          /^\s*import|from\s*$/.test(
            all
              .slice(Math.max(0, offset - 60), offset)
              .split('\n')
              .pop(),
          ) ||
          /[()]/.test(body)
            ? m
            : `${q}x${q}`,
        )
      return { contents: s, loader: 'ts' }
    })
  },
}
const r = await esbuild.build({
  entryPoints: ['packages/client/src/index.ts'],
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  logLevel: 'silent',
  plugins: [plugin],
  alias: { '@holdfast/protocol': './packages/protocol/src/index.ts' },
})
const b = r.outputFiles[0].contents
console.log(strip ?? 'none', 'min', b.length, 'gzip', gzipSync(b, { level: 9 }).length)
