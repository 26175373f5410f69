/** bench-results/throughput.svg: sync throughput against COMMIT_WINDOW, the ceilings dashed. */
import type { CaseResult } from './types.ts'
import { FETCH_BATCH_WINDOW, WINDOWS as SWEEP } from './cases.ts'

const WINDOWS = [...SWEEP, FETCH_BATCH_WINDOW]

interface Series {
  label: string
  color: string
  results: CaseResult[]
}

export function svgChart(title: string, series: Series[]): string {
  const W = 880
  const H = 440
  const L = 80
  const R = 330
  const T = 40
  const B = 60
  const pw = W - L - R
  const ph = H - T - B
  const all = series.flatMap((s) => s.results)
  const maxY = Math.max(...all.map((r) => r.msgPerSec)) * 1.1 || 1
  const maxW = Math.max(...WINDOWS)
  const x = (w: number) => L + (Math.log10(w) / Math.log10(maxW)) * pw
  const y = (v: number) => T + ph - (v / maxY) * ph
  const p: string[] = []
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  p.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  p.push(`<text x="${L + pw / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>`)
  for (let i = 0; i <= 5; i++) {
    const v = (maxY / 5) * i
    p.push(`<line x1="${L}" x2="${L + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`)
    p.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`)
  }
  for (const w of WINDOWS) {
    p.push(`<line x1="${x(w)}" x2="${x(w)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`)
    p.push(`<text x="${x(w)}" y="${T + ph + 18}" text-anchor="middle">${w}</text>`)
  }
  p.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="black"/>`)
  p.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" stroke="black"/>`)
  p.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">COMMIT_WINDOW (log scale); PARTITION_CONCURRENCY=all</text>`)
  p.push(`<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">messages / s</text>`)
  let ly = T + 10
  for (const s of series) {
    const ceiling = s.results.find((r) => r.kind === 'ceiling')
    if (ceiling) p.push(`<line x1="${L}" x2="${L + pw}" y1="${y(ceiling.msgPerSec)}" y2="${y(ceiling.msgPerSec)}" stroke="${s.color}" stroke-dasharray="6 4"/>`)
    const pts = s.results.filter((r) => r.mode === 'sync' && !r.io && r.concurrency === 'all' && r.window && WINDOWS.includes(r.window)).sort((a, b) => a.window! - b.window!)
    const byWindow = new Map(pts.map((r) => [r.window!, r]))
    const line = [...byWindow.values()]
    if (line.length) {
      p.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${line.map((r) => `${x(r.window!)},${y(r.msgPerSec)}`).join(' ')}"/>`)
      for (const r of line) p.push(`<circle cx="${x(r.window!)}" cy="${y(r.msgPerSec)}" r="4" fill="${s.color}"><title>${s.label}, ${r.name}: ${r.msgPerSec} msg/s</title></circle>`)
    }
    p.push(`<line x1="${L + pw + 15}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`)
    p.push(`<text x="${L + pw + 46}" y="${ly + 4}">sync, ${s.label}</text>`)
    ly += 20
    p.push(`<line x1="${L + pw + 15}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-dasharray="6 4"/>`)
    p.push(`<text x="${L + pw + 46}" y="${ly + 4}">ceiling, ${s.label}</text>`)
    ly += 28
  }
  p.push('</svg>')
  return p.join('\n')
}
