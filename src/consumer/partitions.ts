/**
 * The one owner of a partition's state. A PartitionState holds everything about one assigned
 * partition that outlives a fetched batch: its committer (and with it the acknowledged committed
 * offset, the value the at-most-once rule reads), where processing stands, its metrics and its
 * at-risk gauge. `Partitions` keeps one per partition, creates them when the group assigns them,
 * releases them when revoked, and tells its listeners what happens to them (the loss ledger is
 * one): a join with an assignment, a fetch, a commit acknowledged or failed.
 */
import type { Logger } from 'pino'
import { PartitionMetrics, type Metrics } from '../metrics.ts'
import { PartitionCommitter, type CommitFailure, type CommitTransport, type CommitterMode } from './committer.ts'
import { UngatedCommits } from './ungated-commits.ts'

/** The key of a partition in every map of the consumer. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}|${partition}`
}

/** topic -> partitions, as the group hands them out. */
export type Assignment = Record<string, number[]>

/** What the rest of the consumer hears from the partitions' owner. Every method is optional. */
export interface PartitionListener {
  /** This member joined a generation of the group as `memberId` with `assignment` (partitions not in it are revoked). */
  joined?(memberId: string, assignment: Assignment): void
  /** A batch of the partition was fetched; its first message is at `firstOffset`. */
  fetched?(p: PartitionState, firstOffset: number): void
  /** The coordinator acknowledged a commit of `offset` by this member. */
  acknowledged?(p: PartitionState, offset: number): void
  /** A commit failed (after the committer's retries). */
  commitFailed?(p: PartitionState, failure: CommitFailure): void
}

/**
 * The at-risk gauge of a partition: messages committed but not yet processed. It grows by what
 * each acknowledged commit newly covers and shrinks as messages finish. Decrements are added up
 * and applied in bulk (a prom-client call per message costs a label hash): `flush()` before every
 * wait and before every increment, so the gauge never reads above COMMIT_WINDOW.
 */
export class AtRisk {
  private unflushed = 0
  private n = 0
  constructor(private readonly gauge: PartitionMetrics['atRisk']) {}

  /** Committed and not yet processed, now (the gauge may lag by the decrements not flushed). */
  get count(): number {
    return this.n
  }

  /** An acknowledged commit covers `n` more messages. */
  covered(n: number): void {
    this.flush()
    this.n += n
    this.gauge.inc(n)
  }

  /** One message left the at-risk set (processed, or dropped and counted). */
  finished(): void {
    this.n--
    this.unflushed++
  }

  /** All of them left it at once (lost, and counted by the caller). */
  clear(): void {
    this.n = 0
    this.unflushed = 0
    this.gauge.set(0)
  }

  flush(): void {
    if (this.unflushed > 0) {
      this.gauge.dec(this.unflushed)
      this.unflushed = 0
    }
  }
}

export class PartitionState {
  readonly key: string
  readonly metrics: PartitionMetrics
  readonly committer: PartitionCommitter
  /** async and auto: positions waiting to be committed. */
  readonly ungated: UngatedCommits
  readonly atRisk: AtRisk
  /** Messages below this offset were processed (or skipped) here: never handed over again. -1: none yet. */
  next = -1
  /** Moving average of a handler call's duration, in ms: the window policy's estimate. */
  perMessageMs = 0

  constructor(
    readonly topic: string,
    readonly partition: number,
    parts: PartitionParts,
    tell: (p: PartitionState) => { acknowledged(offset: number): void; failed(f: CommitFailure): void },
  ) {
    this.key = partitionKey(topic, partition)
    this.metrics = new PartitionMetrics(parts.metrics, topic, partition)
    this.atRisk = new AtRisk(this.metrics.atRisk)
    this.committer = new PartitionCommitter(topic, partition, parts.transport, parts.metrics, this.metrics, parts.log, parts.mode, tell(this))
    this.ungated = new UngatedCommits(this.committer)
  }

  /** Lag: the high watermark minus the next offset to process. */
  setLag(highWatermark: string): void {
    this.metrics.lag.set(Math.max(0, Number(highWatermark) - this.next))
  }

  /**
   * Committed messages that will never be processed here, with no batch of the partition running:
   * held by the circuit breaker when a new generation of the group began (`revoked`: kafkajs then
   * fetches from the committed offset, past them) or when shutdown came (`shutdown`). Counted lost
   * and skipped, one warn line with their offsets; returns how many.
   */
  loseHeld(reason: 'revoked' | 'shutdown', log: Logger): number {
    const n = this.atRisk.count
    if (n <= 0) return 0
    this.metrics.lost(reason, n)
    this.metrics.skipped(reason === 'revoked' ? 'revoked' : 'dropped_at_shutdown', n)
    log.warn(
      { topic: this.topic, partition: this.partition, fromOffset: this.next, toOffset: this.committer.acked - 1, count: n, lost: true, reason },
      reason === 'revoked'
        ? 'committed messages held while the circuit breaker was open are lost: the group rebalanced, and the partition resumes from its committed offset'
        : 'committed messages held while the circuit breaker was open are lost: shutdown came before they were processed',
    )
    this.atRisk.clear()
    return n
  }
}

/** What every partition's state is built from. */
export interface PartitionParts {
  metrics: Metrics
  transport: CommitTransport
  log: Logger
  mode: CommitterMode
}

export class Partitions {
  private readonly states = new Map<string, PartitionState>()
  private readonly listeners: PartitionListener[] = []

  constructor(private readonly parts: PartitionParts) {}

  listen(listener: PartitionListener): void {
    this.listeners.push(listener)
  }

  /** The state of a partition, created on first use (its metric series exist from then on). */
  get(topic: string, partition: number): PartitionState {
    const key = partitionKey(topic, partition)
    let p = this.states.get(key)
    if (!p) {
      p = new PartitionState(topic, partition, this.parts, (st) => ({
        acknowledged: (offset) => this.tell((l) => l.acknowledged?.(st, offset)),
        failed: (f) => this.tell((l) => l.commitFailed?.(st, f)),
      }))
      this.states.set(key, p)
    }
    return p
  }

  /** The state of a partition if it is held, without creating it. */
  find(topic: string, partition: number): PartitionState | undefined {
    return this.states.get(partitionKey(topic, partition))
  }

  all(): IterableIterator<PartitionState> {
    return this.states.values()
  }

  /**
   * This member joined the group: keep a state for every partition of `assignment` (their metric
   * series exist from now on) and release the others (their gauges go; their counters stay, see
   * PartitionMetrics). Then the listeners hear of it.
   */
  joined(memberId: string, assignment: Assignment): void {
    // A new generation: kafkajs fetches every partition from its committed offset again, so what
    // was committed here and not processed (held by the circuit breaker) never will be.
    for (const p of this.states.values()) p.loseHeld('revoked', this.parts.log)
    const mine = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) mine.add(this.get(topic, partition).key)
    }
    for (const [key, p] of this.states) {
      if (!mine.has(key)) {
        p.metrics.release()
        this.states.delete(key)
      }
    }
    this.tell((l) => l.joined?.(memberId, assignment))
  }

  /** kafkajs handed over a batch of the partition, starting at `firstOffset` (none: an empty batch). */
  fetched(p: PartitionState, firstOffset: string | undefined): void {
    if (firstOffset === undefined) return
    const offset = Number(firstOffset)
    this.tell((l) => l.fetched?.(p, offset))
  }

  private tell(f: (l: PartitionListener) => void): void {
    for (const l of this.listeners) f(l)
  }
}
