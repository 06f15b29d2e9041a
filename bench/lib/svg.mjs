// Hand-written SVG: horizontal bar charts, no plotting dependency.

const HOLDFAST = '#2563eb'
const BASELINE = '#9ca3af'
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'

function escapeXml(text) {
  return String(text).replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c],
  )
}

/**
 * A horizontal bar chart. `bars`: `{ label, value, text?, highlight? }`; highlighted bars (ours) are
 * blue, baselines grey. Bars with a non-finite value are listed with their `text` and no bar.
 */
export function barChart({ title, subtitle, bars, unit = '', plotWidth: plotW = 420 }) {
  // About 7 px per character at 13 px: wide enough for the longest label, so none is clipped.
  const labelWidth = Math.max(140, 16 + 7 * Math.max(...bars.map((b) => String(b.label).length)))
  const valueWidth = 120
  const width = labelWidth + plotW + valueWidth + 20
  const rowHeight = 24
  const top = subtitle ? 56 : 40
  const plotWidth = plotW
  const max = Math.max(...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9)
  const height = top + bars.length * rowHeight + 16
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight
    const w = Number.isFinite(bar.value) ? Math.max(1, (bar.value / max) * plotWidth) : 0
    const text =
      bar.text ?? (Number.isFinite(bar.value) ? `${bar.value.toLocaleString('en-US')}${unit}` : 'n/a')
    return [
      `<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end" font-size="13" ${FONT}>${escapeXml(bar.label)}</text>`,
      w > 0
        ? `<rect x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 8}" rx="2" fill="${bar.highlight ? HOLDFAST : BASELINE}"/>`
        : '',
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 16}" font-size="12" ${FONT} fill="#374151">${escapeXml(text)}</text>`,
    ].join('')
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600" ${FONT}>${escapeXml(title)}</text>`,
    subtitle ? `<text x="12" y="44" font-size="12" ${FONT} fill="#6b7280">${escapeXml(subtitle)}</text>` : '',
    ...rows,
    '</svg>',
    '',
  ].join('\n')
}

/**
 * Counts per time bin as step lines, one per series (`{ name, values, highlight?, color? }`), x in ms from 0.
 * Used for arrivals per 100 ms. The legend wraps onto as many lines as it needs.
 */
export function binChart({ title, subtitle, binMs, series, yLabel = 'per bin', width = 760, height = 320 }) {
  const left = 56
  const right = 16
  const top = subtitle ? 80 : 60
  const legendItem = 250
  const perLine = Math.max(1, Math.floor((width - left) / legendItem))
  const legendLines = Math.ceil(series.length / perLine)
  const bottom = 24 + 18 * legendLines
  const fullHeight = height + 18 * (legendLines - 1)
  const plotW = width - left - right
  const plotH = fullHeight - top - bottom
  const bins = Math.max(1, ...series.map((s) => s.values.length))
  const max = Math.max(1, ...series.flatMap((s) => s.values))
  const x = (i) => left + (i / bins) * plotW
  const y = (v) => top + plotH - (v / max) * plotH
  const colors = series.map(
    (s, i) => s.color ?? (s.highlight ? HOLDFAST : ['#6b7280', '#f59e0b', '#10b981'][i % 3]),
  )
  const lines = series.map((s, k) => {
    const points = []
    s.values.forEach((v, i) => {
      points.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`, `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`)
    })
    return `<polyline fill="none" stroke="${colors[k]}" stroke-width="1.5" points="${points.join(' ')}"/>`
  })
  const ticks = []
  const xStep = niceStep((bins * binMs) / 8)
  for (let ms = 0; ms <= bins * binMs; ms += xStep) {
    const px = x(ms / binMs)
    ticks.push(
      `<line x1="${px.toFixed(1)}" y1="${top + plotH}" x2="${px.toFixed(1)}" y2="${top + plotH + 4}" stroke="#9ca3af"/>`,
      `<text x="${px.toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="11" ${FONT}>${ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`}</text>`,
    )
  }
  const yStep = niceStep(max / 5)
  for (let v = 0; v <= max; v += yStep) {
    ticks.push(
      `<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${left + plotW}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" ${FONT}>${v}</text>`,
    )
  }
  const legend = series.map((s, k) => {
    const lx = left + (k % perLine) * legendItem
    const ly = top + plotH + 34 + 18 * Math.floor(k / perLine)
    return (
      `<rect x="${lx}" y="${ly - 5}" width="12" height="4" fill="${colors[k]}"/>` +
      `<text x="${lx + 16}" y="${ly}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>`
    )
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${fullHeight}" viewBox="0 0 ${width} ${fullHeight}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600" ${FONT}>${escapeXml(title)}</text>`,
    subtitle ? `<text x="12" y="44" font-size="12" ${FONT} fill="#6b7280">${escapeXml(subtitle)}</text>` : '',
    `<text x="12" y="${top - 8}" font-size="11" ${FONT} fill="#6b7280">${escapeXml(yLabel)}</text>`,
    ...ticks,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#374151"/>`,
    ...lines,
    ...legend,
    '</svg>',
    '',
  ].join('\n')
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw) {
  if (!(raw > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power
  return 10 * power
}
