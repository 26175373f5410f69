/** Reading figures: Prometheus text, the commit-latency histogram, peak RSS, percentiles. */
import { readFileSync } from 'node:fs'

export { sumMetric } from '../../harness/service-process.ts'
export { percentile, sleep } from '../../harness/kafka-tools.ts'

/** Peak resident set size (VmHWM) of a live process, in MB. */
export function peakRssMb(pid: number | undefined): number | null {
  if (!pid) return null
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null
  } catch {
    return null
  }
}

/** Quantile of consumer_commit_duration_seconds (all label sets), linear within a bucket, in ms. */
export function histogramQuantile(text: string, q: number, name = 'consumer_commit_duration_seconds'): number | null {
  const buckets = new Map<number, number>()
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\}\\s+(\\S+)`)
  for (const line of text.split('\n')) {
    const m = re.exec(line)
    if (!m) continue
    const le = /le="([^"]+)"/.exec(m[1]!)![1]!
    const bound = le === '+Inf' ? Infinity : Number(le)
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]))
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total === 0) return null
  const rank = q * total
  let prevBound = 0
  let prevCount = 0
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound * 1000
      const frac = count === prevCount ? 0 : (rank - prevCount) / (count - prevCount)
      return (prevBound + (bound - prevBound) * frac) * 1000
    }
    prevBound = bound
    prevCount = count
  }
  return null
}

/**
 * The main thread's scheduler counters (/proc/<pid>/schedstat): nanoseconds on a CPU and
 * nanoseconds runnable but waiting for one. On a shared machine the second shows how much of a
 * case's wall-clock time was the load of others; the first does not depend on it much.
 */
export function schedstat(pid: number | undefined): { runNs: number; waitNs: number } | null {
  if (!pid) return null
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number)
    return run === undefined || wait === undefined ? null : { runNs: run, waitNs: wait }
  } catch {
    return null
  }
}
