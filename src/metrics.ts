/**
 * Every metric the service exports, built in one place on an injected Registry (never the
 * global one, so several apps can live in one test process). Names are a contract: dashboards
 * and alerts depend on them (see README, "Metrics").
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client'

export function createMetrics(registry: Registry, opts: { defaultMetrics?: boolean } = {}) {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  /** Per-partition counts kept as plain numbers on the hot path, added to the counters at scrape time. */
  const pending = new Set<() => void>()
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
    commitDuration: new Histogram({
      name: 'consumer_commit_duration_seconds',
      help: 'Time from sending an OffsetCommit to its acknowledgement',
      labelNames: ['mode'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    commitErrors: new Counter({
      name: 'consumer_commit_errors_total',
      help: 'Offset commits that failed (sync: the messages were not processed and are fetched again)',
      labelNames: ['mode', 'error'] as const,
      registers,
    }),
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
    lost: new Counter({
      name: 'consumer_messages_lost_total',
      help: 'Committed messages not processed successfully: the price of at-most-once',
      labelNames: ['reason'] as const,
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
    crashes: new Counter({
      name: 'consumer_crashes_total',
      help: 'Consumer crashes reported by kafkajs, by whether it restarts itself',
      labelNames: ['restart'] as const,
      registers,
    }),
    ready: new Gauge({
      name: 'consumer_ready',
      help: '1 when the consumer has joined its group and is not shutting down',
      registers,
    }),
    deadLetter: new Counter({
      name: 'consumer_dead_letter_total',
      help: 'Failed messages sent to DEAD_LETTER_TOPIC, by result (sent, failed, dropped)',
      labelNames: ['result'] as const,
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** Why a committed message was not processed successfully (consumer_messages_lost_total). */
export type LossReason = 'handler_failed' | 'handler_timeout' | 'undecodable' | 'shutdown'

/** Metric children for one partition, resolved once so the per-message path is a number add. */
export class PartitionMetrics {
  readonly ok: { inc: () => void }
  private readonly flushOk: () => void
  readonly failed
  readonly committed
  readonly atRisk
  readonly lag
  private readonly m: Metrics
  private readonly labels: { topic: string; partition: string }

  constructor(m: Metrics, topic: string, partition: number) {
    this.m = m
    this.labels = { topic, partition: String(partition) }
    const okChild = m.processed.labels({ ...this.labels, status: 'ok' })
    let okCount = 0
    this.ok = { inc: () => void okCount++ }
    this.flushOk = () => {
      if (okCount > 0) okChild.inc(okCount)
      okCount = 0
    }
    m.pending.add(this.flushOk)
    this.failed = m.processed.labels({ ...this.labels, status: 'failed' })
    this.committed = m.committed.labels(this.labels)
    this.atRisk = m.atRisk.labels(this.labels)
    this.lag = m.lag.labels(this.labels)
  }

  skipped(reason: 'undecodable' | 'dropped_at_shutdown', n = 1): void {
    this.m.skipped.inc({ ...this.labels, reason }, n)
  }

  lost(reason: LossReason, n = 1): void {
    this.m.lost.inc({ reason }, n)
  }

  /** Forget the per-partition gauges once the partition is no longer ours. */
  release(): void {
    this.flushOk()
    this.m.pending.delete(this.flushOk)
    this.m.atRisk.remove(this.labels)
    this.m.lag.remove(this.labels)
  }
}
