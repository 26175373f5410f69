/** Parses a Compose/Go duration ("20s", "1m30s", "1500ms", "2h") into milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  const s = text.trim()
  const re = /(\d+(?:\.\d+)?)(us|ms|s|m|h)/gy
  let total = 0
  let consumed = 0
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? NaN)
    consumed += m[0].length
  }
  if (consumed !== s.length || consumed === 0) throw new Error(`not a duration: "${text}"`)
  return total
}
