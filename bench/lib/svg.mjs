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
export function barChart({ title, subtitle, bars, unit = '', width = 760 }) {
  const labelWidth = 260
  const valueWidth = 120
  const rowHeight = 24
  const top = subtitle ? 56 : 40
  const plotWidth = width - labelWidth - valueWidth - 20
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
