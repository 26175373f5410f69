/** Reading Prometheus text exposition in unit tests. */

/**
 * The value of the one series `name{labels}` (labels matched exactly as given, others ignored),
 * or undefined when no such series is exposed: "reads 0" and "is absent" are told apart.
 */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let found: number | undefined
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const set = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => set[k] === v)) found = (found ?? 0) + Number(m[3])
  }
  return found
}
