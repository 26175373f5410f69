/** Counts read from the service's /metrics (Prometheus text format) and its readiness from /readyz. */

/** Sum every sample of a metric (all label sets) in Prometheus text format; optional label filter. */
export function sumMetric(text: string, name: string, filter?: RegExp): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name || (filter && !filter.test(m[2] ?? ''))) continue
    const v = Number(m[3])
    if (Number.isFinite(v)) total += v
  }
  return total
}

/** The label value of the sample of `name` whose value is 1 (a state gauge), or '' when none is. */
export function stateOf(text: string, name: string, label: string): string {
  const re = new RegExp(`^${name}\\{[^}]*\\b${label}="([^"]*)"[^}]*\\}\\s+1(?:\\s|$)`, 'm')
  return re.exec(text)?.[1] ?? ''
}

/** The counts the footer and the summary show, from /metrics. */
export interface Metrics {
  processedOk: number
  processedFailed: number
  committed: number
  atRisk: number
  lost: number
  /** consumer_breaker_state: closed, open, half_open ('' without a breaker). */
  breaker: string
  /** consumer_breaker_opened_total. */
  breakerOpened: number
}

/** One scrape of /metrics and /readyz of the service on `port`; undefined when it does not answer within a second. */
export async function scrape(port: number): Promise<{ metrics: Metrics; ready: 'ready' | 'not ready' } | undefined> {
  const base = `http://127.0.0.1:${port}`
  try {
    const [metrics, ready] = await Promise.all([
      fetch(`${base}/metrics`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text()),
      fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status),
    ])
    return {
      metrics: {
        processedOk: sumMetric(metrics, 'consumer_messages_processed_total', /status="ok"/),
        processedFailed: sumMetric(metrics, 'consumer_messages_processed_total', /status="failed"/),
        committed: sumMetric(metrics, 'consumer_messages_committed_total'),
        atRisk: sumMetric(metrics, 'consumer_messages_at_risk'),
        lost: sumMetric(metrics, 'consumer_messages_lost_total'),
        breaker: stateOf(metrics, 'consumer_breaker_state', 'state'),
        breakerOpened: sumMetric(metrics, 'consumer_breaker_opened_total'),
      },
      ready: ready === 200 ? 'ready' : 'not ready',
    }
  } catch {
    return undefined
  }
}
