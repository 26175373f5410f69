/**
 * The cases of one section, in the order they run and are reported. The service always gets
 * KAFKA_BROKERS, KAFKA_TOPICS, KAFKA_GROUP_ID and HANDLER (the bench handler); everything else
 * is listed per case. "defaults" sets nothing more: what a user gets without tuning
 * (COMMIT_MODE=sync, COMMIT_WINDOW=1, PARTITION_CONCURRENCY=all, VALUE_FORMAT=json).
 */

export interface ServiceCase {
  name: string
  mode: 'sync' | 'async' | 'auto'
  window: number
  /** PARTITION_CONCURRENCY in effect. */
  concurrency: string
  defaults: boolean
  /** Variables beyond the four every case sets. */
  env: Record<string, string>
  /** I/O-bound cases: the handler awaits this long (BENCH_HANDLER_MS). */
  io?: { handlerMs: number; ordering: 'partition' | 'key' | 'unordered'; maxInFlight: number }
  /** The tracing rows: the case they add tracing to, and the sampling ratio (null: off). */
  tracing?: { base: string; ratio: number | null }
}

export type BenchCase = { kind: 'ceiling' } | { kind: 'reference' } | ({ kind: 'service' } & ServiceCase)

export const WINDOWS = [1, 10, 100, 1000]
/** At least one fetch batch per partition (kafkajs fetches up to 1 MB per partition: ~3 300 of these messages on Apache Kafka, one produced batch of 1 000 on the mock). */
export const FETCH_BATCH_WINDOW = 5000

const sync = (window: number, extra: Record<string, string> = {}, concurrency = 'all'): BenchCase => ({
  kind: 'service',
  name: `sync, COMMIT_WINDOW=${window}${extra.PARTITION_CONCURRENCY ? `, PARTITION_CONCURRENCY=${extra.PARTITION_CONCURRENCY}` : ''}`,
  mode: 'sync',
  window,
  concurrency,
  defaults: false,
  env: { COMMIT_WINDOW: String(window), ...extra },
})

/** The service's defaults that the I/O cases' limit depends on. */
const DEFAULT_MAX_IN_FLIGHT = 100

/**
 * I/O-bound handlers (awaiting 5, 20, 100 ms, as a payment, e-mail or webhook handler does):
 * defaults, then partition and key order at a few windows with a cap of 200. `quick`: 20 ms only.
 */
export function ioCases(quick: boolean): BenchCase[] {
  const out: BenchCase[] = []
  for (const ms of quick ? [20] : [5, 20, 100]) {
    const io = (ordering: 'partition' | 'key', window: number | undefined, cap: number | undefined): BenchCase => ({
      kind: 'service',
      name: `I/O ${ms} ms: ${window === undefined ? 'defaults' : `${ordering}, COMMIT_WINDOW=${window}, MAX_IN_FLIGHT=${cap}`}`,
      mode: 'sync',
      window: window ?? 1,
      concurrency: 'all',
      defaults: false,
      env: {
        BENCH_HANDLER_MS: String(ms),
        ...(window === undefined ? {} : { ORDERING: ordering, COMMIT_WINDOW: String(window), MAX_IN_FLIGHT: String(cap) }),
      },
      io: { handlerMs: ms, ordering: window === undefined ? 'partition' : ordering, maxInFlight: cap ?? DEFAULT_MAX_IN_FLIGHT },
    })
    out.push(io('partition', undefined, undefined))
    if (!quick) out.push(io('partition', 100, 200), io('key', 10, 200))
    out.push(io('key', 100, 200))
  }
  return out
}

/** msg/s an I/O case can reach at most: min(cap, partitions × per-partition concurrency) ÷ latency. */
export function ioLimit(io: { handlerMs: number; ordering: string; maxInFlight: number }, window: number, partitions: number): number {
  const perPartition = io.ordering === 'partition' ? 1 : window
  return (Math.min(io.maxInFlight, partitions * perPartition) * 1000) / io.handlerMs
}

/**
 * What tracing costs, on top of `base` (the defaults, or a window): the base again with tracing
 * off, run beside the traced rows so that the comparison is like for like on a shared machine,
 * then OTEL_TRACES_EXPORTER=otlp at sampling ratios 0 (every message dropped by the sampler),
 * 0.01 and 1.0 (every message recorded). The bench messages carry no traceparent, so every span
 * is a root sampled at the ratio. The exporter posts to `endpoint`, the collector stand-in
 * (harness/otlp-sink.ts): spans are made, sampled, batched, serialized and sent as to a live
 * collector, whose own work is not counted. The report reads off the CPU of one dropped message
 * (ratio 0 − off) and of one sampled message (ratio 1.0 − off).
 */
export const TRACING_RATIOS = [0, 0.01, 1] as const
const traced = (base: { name: string; window: number; env: Record<string, string> }, ratio: number | null, endpoint: string): BenchCase => ({
  kind: 'service',
  name: ratio === null ? `${base.name}, tracing off (beside the tracing rows)` : `${base.name}, tracing on (otlp, sampler ${ratio === 1 ? '1.0' : ratio})`,
  mode: 'sync',
  window: base.window,
  concurrency: 'all',
  defaults: false,
  env:
    ratio === null
      ? base.env
      : {
          ...base.env,
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: String(ratio),
        },
  tracing: { base: base.name, ratio },
})

/** Where the tracing rows export when no collector stand-in is given (a closed port). */
export const NO_COLLECTOR = 'http://127.0.0.1:9'

/** Every case at one RTT. `quick` keeps the headline ones (CI: minutes, no timing asserted). */
export function casesFor(partitions: number, quick: boolean, otlpEndpoint = NO_COLLECTOR): BenchCase[] {
  const list: BenchCase[] = [
    { kind: 'ceiling' },
    { kind: 'service', name: 'defaults (no tuning variable)', mode: 'sync', window: 1, concurrency: 'all', defaults: true, env: {} },
  ]
  if (!quick) {
    // Defaults against explicit PARTITION_CONCURRENCY values (COMMIT_WINDOW=1, where it matters most).
    for (const c of [1, Math.max(2, Math.floor(partitions / 2)), partitions]) {
      list.push(sync(1, { PARTITION_CONCURRENCY: String(c) }, String(c)))
    }
    list.push({ kind: 'reference' })
  }
  for (const w of quick ? [10, 1000, FETCH_BATCH_WINDOW] : [...WINDOWS, FETCH_BATCH_WINDOW]) list.push(sync(w))
  list.push({ kind: 'service', name: 'async', mode: 'async', window: 1, concurrency: 'all', defaults: false, env: { COMMIT_MODE: 'async' } })
  list.push({ kind: 'service', name: 'auto', mode: 'auto', window: 1, concurrency: 'all', defaults: false, env: { COMMIT_MODE: 'auto' } })
  // What tracing costs: the defaults and COMMIT_WINDOW=1000, off (the rows above) and on. Full
  // runs only: the quick run (CI) stays the headline cases.
  if (quick) return list
  const bases: Array<{ name: string; window: number; env: Record<string, string> }> = [
    { name: 'defaults', window: 1, env: {} },
    { name: 'sync, COMMIT_WINDOW=1000', window: 1000, env: { COMMIT_WINDOW: '1000' } },
  ]
  for (const base of bases) {
    list.push(traced(base, null, otlpEndpoint))
    for (const ratio of TRACING_RATIOS) list.push(traced(base, ratio, otlpEndpoint))
  }
  return list
}
