import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import ts from 'typescript'

const src = readFileSync('/tmp/bundle.min.js', 'utf8')
const scanner = ts.createScanner(ts.ScriptTarget.Latest, false, ts.LanguageVariant.Standard, src)
let total = 0,
  n = 0,
  out = ''
const strs = []
const last = 0
for (let t = scanner.scan(); t !== ts.SyntaxKind.EndOfFileToken; t = scanner.scan()) {
  if (
    t === ts.SyntaxKind.StringLiteral ||
    t === ts.SyntaxKind.NoSubstitutionTemplateLiteral ||
    t === ts.SyntaxKind.TemplateHead ||
    t === ts.SyntaxKind.TemplateMiddle ||
    t === ts.SyntaxKind.TemplateTail
  ) {
    const text = scanner.getTokenText()
    if (text.length > 25) {
      total += text.length
      n++
      strs.push(text)
    }
  }
}
console.log('long strings', n, 'chars', total)
const stripped = strs.reduce((s, x) => s.replace(x, '""'), src)
console.log(
  'gzip with',
  gzipSync(src, { level: 9 }).length,
  'without long strings',
  gzipSync(stripped, { level: 9 }).length,
)
strs
  .sort((a, b) => b.length - a.length)
  .slice(0, 60)
  .forEach((s) => console.log(s.length, s.slice(0, 140)))
