/**
 * Every metric the service exports, built in one place on an injected Registry (never the
 * global one, so several apps can live in one test process). Names are a contract: dashboards
 * and alerts depend on them (see docs/operations.md, "Metrics").
 *
 * Every series whose label values are known in advance exists from the first scrape with the
 * value 0 (loss reasons, crash kinds, dead-letter results, commit error types; per partition
 * from its assignment), so "no loss" reads as a 0, not as an absence that `increase()` and
 * `rate()` cannot see.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { COMMIT_MODES, type CommitMode } from './config/schema.ts'

/** Why a committed message was not processed successfully (consumer_messages_lost_total). */
export type LossReason = 'handler_failed' | 'handler_timeout' | 'undecodable' | 'shutdown' | 'commit_written' | 'revoked'
export const LOSS_REASONS: readonly LossReason[] = ['handler_failed', 'handler_timeout', 'undecodable', 'shutdown', 'commit_written', 'revoked']

/** Why a message was never handed to the handler (consumer_messages_skipped_total). */
export type SkipReason = 'undecodable' | 'dropped_at_shutdown' | 'revoked'
export const SKIP_REASONS: readonly SkipReason[] = ['undecodable', 'dropped_at_shutdown', 'revoked']

/** The circuit breaker's states (consumer_breaker_state{state}); src/consumer/breaker.ts. */
export const BREAKER_STATE_LABELS = ['closed', 'open', 'half_open'] as const

export const PROCESSED_STATUSES = ['ok', 'failed'] as const
export const DEAD_LETTER_RESULTS = ['sent', 'failed', 'dropped'] as const

/**
 * `error` label values of consumer_commit_errors_total that exist (at 0) from the start. The
 * label holds the kafkajs error type of a failed OffsetCommit (or the error's class name when it
 * has no type), so other values appear when they happen; these are the ones a group member
 * meets in normal operation: the rebalance errors (the member must rejoin) and the coordinator
 * errors that kafkajs retries.
 */
export const COMMIT_ERROR_TYPES = [
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'REQUEST_TIMED_OUT',
] as const

export interface BuildInfo {
  version: string
  kafkajs: string
  node: string
}

function readVersion(read: () => string): string {
  try {
    const v = (JSON.parse(read()) as { version?: unknown }).version
    return typeof v === 'string' && v !== '' ? v : 'unknown'
  } catch {
    return 'unknown'
  }
}

let buildInfoCache: BuildInfo | undefined
/** The service's version (package.json beside src/ or dist/), kafkajs' version and Node's, read once. */
export function buildInfo(): BuildInfo {
  buildInfoCache ??= {
    version: readVersion(() => readFileSync(new URL('../package.json', import.meta.url), 'utf8')),
    kafkajs: readVersion(() => readFileSync(createRequire(import.meta.url).resolve('kafkajs/package.json'), 'utf8')),
    node: process.version,
  }
  return buildInfoCache
}

export interface MetricsOptions {
  /** prom-client's default process_* and nodejs_* metrics (default true). */
  defaultMetrics?: boolean
  /**
   * The configured COMMIT_MODE: the commit error and latency series of that mode start at 0.
   * Without it, the commit error series of every mode do (and the latency histogram appears
   * with the first commit).
   */
  commitMode?: CommitMode
}

export function createMetrics(registry: Registry, opts: MetricsOptions = {}) {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  /** Per-partition counts kept as plain numbers on the hot path, added to the counters at scrape time. */
  const pending = new Set<() => void>()
  const modes = opts.commitMode ? [opts.commitMode] : COMMIT_MODES

  const commitDuration = new Histogram({
    name: 'consumer_commit_duration_seconds',
    help: 'Time from sending an OffsetCommit to its acknowledgement',
    labelNames: ['mode'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  })
  if (opts.commitMode) commitDuration.zero({ mode: opts.commitMode })

  const commitErrors = new Counter({
    name: 'consumer_commit_errors_total',
    help: 'Offset commits that failed, by commit mode and Kafka error type (sync: the messages were not processed and are fetched again)',
    labelNames: ['mode', 'error'] as const,
    registers,
  })
  for (const mode of modes) for (const error of COMMIT_ERROR_TYPES) commitErrors.inc({ mode, error }, 0)

  const lost = new Counter({
    name: 'consumer_messages_lost_total',
    help: 'Committed messages not processed successfully: the price of at-most-once',
    labelNames: ['reason'] as const,
    registers,
  })
  for (const reason of LOSS_REASONS) lost.inc({ reason }, 0)

  // Commits in doubt whose outcome could not be known (src/consumer/commit-doubt.ts): no labels, so
  // it reads 0 from the first scrape.
  const inDoubt = new Counter({
    name: 'consumer_messages_in_doubt_total',
    help: 'Messages covered by a sync commit that failed in a way that may have been written, whose outcome could not be resolved: lost if it was written',
    registers,
  })

  const crashes = new Counter({
    name: 'consumer_crashes_total',
    help: 'Consumer crashes, by whether the service restarts the consumer (restart="true": a retriable error such as a lost broker; restart="false": crashed for good, liveness fails)',
    labelNames: ['restart'] as const,
    registers,
  })
  for (const restart of ['true', 'false']) crashes.inc({ restart }, 0)

  const deadLetter = new Counter({
    name: 'consumer_dead_letter_total',
    help: 'Failed messages sent to DEAD_LETTER_TOPIC, by result (sent, failed, dropped)',
    labelNames: ['result'] as const,
    registers,
  })
  for (const result of DEAD_LETTER_RESULTS) deadLetter.inc({ result }, 0)

  const inFlightSource = { read: (): number => 0 }

  // The circuit breaker (src/consumer/breaker.ts). Time spent open is counted as it passes, so a
  // long outage shows in rate() before the breaker closes.
  const breakerState = new Gauge({
    name: 'consumer_breaker_state',
    help: 'The circuit breaker around the handler: 1 for its current state (closed, open, half_open), 0 for the others',
    labelNames: ['state'] as const,
    registers,
  })
  for (const state of BREAKER_STATE_LABELS) breakerState.set({ state }, state === 'closed' ? 1 : 0)
  const breakerOpened = new Counter({
    name: 'consumer_breaker_opened_total',
    help: 'Times the circuit breaker opened: the handler\'s downstream failed BREAKER_THRESHOLD times in a row',
    registers,
  })
  let openAccountedTo = 0 // ms up to which open time is counted; 0 while closed
  const flushOpen = (): void => {
    if (openAccountedTo === 0) return
    const now = Date.now()
    breakerOpenSeconds.inc((now - openAccountedTo) / 1000)
    openAccountedTo = now
  }
  const breakerOpenSeconds: Counter = new Counter({
    name: 'consumer_breaker_open_seconds_total',
    help: 'Seconds the circuit breaker spent open or half-open (consumption paused)',
    registers,
    collect() {
      flushOpen()
    },
  })
  const breakerProbes = new Counter({
    name: 'consumer_breaker_probes_total',
    help: 'Probes of the handler\'s downstream while the circuit breaker was open, by result (ok, failed)',
    labelNames: ['result'] as const,
    registers,
  })
  for (const result of ['ok', 'failed']) breakerProbes.inc({ result }, 0)
  const breaker = {
    setState(state: (typeof BREAKER_STATE_LABELS)[number]): void {
      for (const s of BREAKER_STATE_LABELS) breakerState.set({ state: s }, s === state ? 1 : 0)
      if (state === 'closed') {
        flushOpen()
        openAccountedTo = 0
      } else if (openAccountedTo === 0) openAccountedTo = Date.now()
    },
    opened(): void {
      breakerOpened.inc()
    },
    probed(ok: boolean): void {
      breakerProbes.inc({ result: ok ? 'ok' : 'failed' })
    },
  }

  const info = buildInfo()
  const build = new Gauge({
    name: 'consumer_build_info',
    help: 'Always 1; the labels carry the service version, the kafkajs version and the Node.js version',
    labelNames: ['version', 'kafkajs', 'node'] as const,
    registers,
  })
  build.set({ ...info }, 1)

  return {
    registry,
    pending,
    committed: new Counter({
      name: 'consumer_messages_committed_total',
      help: 'Messages whose offsets were committed (acknowledged by the group coordinator)',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    processed: new Counter({
      name: 'consumer_messages_processed_total',
      help: 'Messages handed to the handler, by outcome (ok or failed)',
      labelNames: ['topic', 'partition', 'status'] as const,
      registers,
      collect() {
        for (const flush of pending) flush()
      },
    }),
    commitDuration,
    commitErrors,
    atRisk: new Gauge({
      name: 'consumer_messages_at_risk',
      help: 'Messages committed but not yet processed: lost if the process dies now',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    skipped: new Counter({
      name: 'consumer_messages_skipped_total',
      help: 'Messages never handed to the handler (undecodable, dropped at shutdown)',
      labelNames: ['topic', 'partition', 'reason'] as const,
      registers,
    }),
    lost,
    /** What the in-flight gauge reads at scrape time (the service's MAX_IN_FLIGHT limiter). */
    inFlightSource,
    inFlight: new Gauge({
      name: 'consumer_handler_calls_in_flight',
      help: 'Handler calls running now, across partitions (capped by MAX_IN_FLIGHT)',
      registers,
      collect() {
        this.set(inFlightSource.read())
      },
    }),
    inDoubt,
    breaker,
    callsDelayed: new Counter({
      name: 'consumer_handler_calls_delayed_total',
      help: 'Handler calls that waited for MAX_CALLS_PER_SECOND (the rate limit) before they started',
      registers,
    }),
    lag: new Gauge({
      name: 'consumer_lag',
      help: 'Messages in the partition after the next one to process (high watermark - position)',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    rebalances: new Counter({
      name: 'consumer_rebalances_total',
      help: 'Group rebalances this instance took part in (joins after the first)',
      registers,
    }),
    crashes,
    ready: new Gauge({
      name: 'consumer_ready',
      help: '1 when the consumer has joined its group and is not shutting down',
      registers,
    }),
    deadLetter,
    build,
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** What the circuit breaker reports (consumer_breaker_*). */
export type BreakerMetrics = Metrics['breaker']

/** A counter child of one partition. */
export interface PartitionCounter {
  inc(n?: number): void
}
/** A gauge child of one partition. */
export interface PartitionGauge {
  set(v: number): void
  inc(n?: number): void
  dec(n?: number): void
}

/**
 * Metric children for one assigned partition, resolved once so the per-message path is a number
 * add. Constructed when the partition is assigned: its series (processed ok/failed, skipped by
 * reason, committed, at risk, lag) exist at 0 from then on. release() removes the two gauges (at
 * risk, lag) when the partition is revoked, and later gauge updates are ignored rather than
 * bringing them back as stale values. The counters stay and keep counting: a message whose commit
 * was acknowledged is still processed after its partition is revoked, and it must be counted, or
 * committed and processed would no longer add up.
 */
export class PartitionMetrics {
  readonly ok: { inc: () => void }
  readonly failed: PartitionCounter
  readonly committed: PartitionCounter
  readonly atRisk: PartitionGauge
  readonly lag: Pick<PartitionGauge, 'set'>
  private readonly flushOk: () => void
  private readonly m: Metrics
  private readonly labels: { topic: string; partition: string }
  private released = false

  constructor(m: Metrics, topic: string, partition: number) {
    this.m = m
    this.labels = { topic, partition: String(partition) }
    const okLabels = { ...this.labels, status: 'ok' }
    const failedLabels = { ...this.labels, status: 'failed' }
    m.processed.inc(okLabels, 0)
    m.processed.inc(failedLabels, 0)
    for (const reason of SKIP_REASONS) m.skipped.inc({ ...this.labels, reason }, 0)
    m.committed.inc(this.labels, 0)
    m.atRisk.set(this.labels, 0)
    // No fetch yet: nothing known to be behind (an empty partition never gets a batch).
    m.lag.set(this.labels, 0)

    const okChild = m.processed.labels(okLabels)
    let okCount = 0
    this.ok = { inc: () => void okCount++ }
    this.flushOk = () => {
      if (okCount > 0) okChild.inc(okCount)
      okCount = 0
      // Revoked: nothing more will be counted once the loops have finished with it.
      if (this.released) m.pending.delete(this.flushOk)
    }
    m.pending.add(this.flushOk)
    const failed = m.processed.labels(failedLabels)
    const committed = m.committed.labels(this.labels)
    const atRisk = m.atRisk.labels(this.labels)
    const lag = m.lag.labels(this.labels)
    this.failed = failed
    this.committed = committed
    this.atRisk = {
      set: (v) => void (this.released || atRisk.set(v)),
      inc: (n = 1) => void (this.released || atRisk.inc(n)),
      dec: (n = 1) => void (this.released || atRisk.dec(n)),
    }
    this.lag = { set: (v) => void (this.released || lag.set(v)) }
  }

  skipped(reason: SkipReason, n = 1): void {
    this.m.skipped.inc({ ...this.labels, reason }, n)
  }

  /** Loss is counted per instance, not per partition: always, also after release. */
  lost(reason: LossReason, n = 1): void {
    this.m.lost.inc({ reason }, n)
  }

  /** The partition is no longer ours: remove its gauges (its counters stay, see above). */
  release(): void {
    if (this.released) return
    this.released = true
    this.m.atRisk.remove(this.labels)
    this.m.lag.remove(this.labels)
  }
}
