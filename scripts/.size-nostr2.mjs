import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import * as acorn from 'acorn'

const src = readFileSync('/tmp/src.min.js', 'utf8')
const min = Number(process.argv[2] ?? 20)
let out = '',
  last = 0,
  n = 0,
  chars = 0
for (const tok of acorn.tokenizer(src, { ecmaVersion: 'latest', sourceType: 'module' })) {
  if ((tok.type.label === 'string' || tok.type.label === 'template') && tok.end - tok.start >= min) {
    out += src.slice(last, tok.start) + (tok.type.label === 'string' ? '"x"' : 'x')
    last = tok.end
    n++
    chars += tok.end - tok.start
  }
}
out += src.slice(last)
console.log(
  `strings>=${min}: ${n}, ${chars} chars; gzip ${gzipSync(src, { level: 9 }).length} -> ${gzipSync(out, { level: 9 }).length}`,
)
