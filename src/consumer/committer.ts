/**
 * Offset commits for one partition. One commit is in flight at a time, so acknowledgements
 * arrive in order and the committed position never moves backwards (a retried older commit
 * landing after a newer one would re-deliver, i.e. duplicate, messages).
 */
import type { Logger } from 'pino'
import type { CommitMode } from '../config/schema.ts'
import type { Metrics, PartitionMetrics } from '../metrics.ts'
import { mayHaveBeenWritten, type CommitDoubt } from './commit-doubt.ts'

/** What a committer needs of its commit mode (the mode objects: commit-modes.ts). */
export interface CommitterMode {
  /** The `mode` label of the commit metrics. */
  readonly name: CommitMode
  /** A failed commit may have been written: kept in the loss ledger (sync). */
  readonly ledger: boolean
  /** What a failed commit costs, in its warn line. */
  readonly failedCommitCost: string
}

/** Sends an OffsetCommit of `offset` (the next offset to read) and resolves when acknowledged. */
export type CommitFn = (offset: number) => Promise<void>

// NOT_COORDINATOR_FOR_GROUP is not here: the coordinator moved, which needs a retry, not a rejoin.
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID'])

/** kafkajs errors that mean "this member must rejoin the group": kafkajs handles them when rethrown. */
export function isRebalanceError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && REBALANCE_TYPES.has(String((err as { type?: unknown }).type))
}

/** Retriable commit errors are retried this many times, this far apart, before giving up. */
const RETRIES = 2
const RETRY_DELAY_MS = 50

export class PartitionCommitter {
  /** The last acknowledged committed offset (the next offset to read); -1 before the first. */
  acked = -1
  /** The last error of a failed commit; cleared by the next success. */
  lastError: unknown = undefined
  /** Moving average of commit round trips, for the pipeline. */
  rttMs = 0
  private inflight: Promise<boolean> | undefined
  /** async/auto modes: the newest position asked for, and how many messages it adds. */
  private wanted = -1
  private wantedCount = 0
  private latestFn: CommitFn | undefined
  private readonly where: { topic: string; partition: number }
  /** The commit-latency histogram's series of this mode (labels hashed once, not per commit). */
  private readonly duration: { observe: (seconds: number) => void }

  constructor(
    topic: string,
    partition: number,
    private readonly metrics: Metrics,
    private readonly partitionMetrics: PartitionMetrics,
    private readonly log: Logger,
    private readonly mode: CommitterMode,
    /** Where a failed commit that may have been written is kept until resolved (a mode with a ledger). */
    private readonly doubt?: Pick<CommitDoubt, 'record' | 'acknowledged'>,
  ) {
    this.where = { topic, partition }
    this.duration = metrics.commitDuration.labels({ mode: mode.name })
  }

  get busy(): boolean {
    return this.inflight !== undefined
  }

  /**
   * Commit `offset`, covering `count` more messages. Resolves true once the coordinator has
   * acknowledged it, false when it failed (the error is counted, logged and kept in lastError).
   * Never rejects. Callers must not call it while `busy`.
   */
  commit(offset: number, count: number, commitFn: CommitFn): Promise<boolean> {
    if (this.inflight) throw new Error('a commit is already in flight for this partition')
    const p = this.send(offset, count, commitFn).finally(() => {
      this.inflight = undefined
    })
    this.inflight = p
    return p
  }

  /**
   * async mode: ask for `offset` to be committed, without waiting. Requests coalesce: one
   * commit is in flight, and when it is acknowledged the newest position asked for since is
   * sent. A failed commit is counted and logged; the next request tries again.
   */
  request(offset: number, commitFn: CommitFn): void {
    if (offset > this.wanted) this.wanted = offset
    this.wantedCount++
    this.latestFn = commitFn
    this.pump()
  }

  /** auto mode: kafkajs committed `offset` itself; `count` messages were processed since. */
  noteCommitted(offset: number): void {
    if (offset <= this.acked) return
    this.acked = offset
    this.partitionMetrics.committed.inc(this.wantedCount)
    this.wantedCount = 0
  }

  /** auto mode: a message was processed (and will be committed by kafkajs later). */
  noteProcessed(offset: number): void {
    if (offset > this.wanted) this.wanted = offset
    this.wantedCount++
  }

  /** The position that a final commit should write, if it is ahead of the acknowledged one. */
  get pending(): number | undefined {
    return this.wanted > this.acked ? this.wanted : undefined
  }

  /** Shutdown: wait for the commit in flight, then commit whatever is still pending, synchronously. */
  async flush(commitFn: CommitFn): Promise<boolean> {
    // async mode: an acknowledgement can send the newest position asked for at once (pump):
    // wait until nothing is in flight, or the commit below would find one.
    while (this.inflight) await this.settle()
    const target = this.pending
    if (target === undefined) return true
    const count = this.wantedCount
    this.wantedCount = 0
    const ok = await this.commit(target, count, commitFn)
    if (!ok) this.wantedCount += count
    return ok
  }

  private pump(): void {
    if (this.inflight || this.wanted <= this.acked || !this.latestFn) return
    const target = this.wanted
    const count = this.wantedCount
    this.wantedCount = 0
    void this.commit(target, count, this.latestFn).then((ok) => {
      if (ok) this.pump()
      else this.wantedCount += count
    })
  }

  /** Wait for the commit in flight, if any. Resolves false when it failed. */
  settle(): Promise<boolean> {
    return this.inflight ?? Promise.resolve(this.lastError === undefined)
  }

  private async send(offset: number, count: number, commitFn: CommitFn): Promise<boolean> {
    // The first offset this commit covers that is not processed: the acknowledged position, or
    // (before the first acknowledgement) `count` below the target.
    const from = this.acked >= 0 && this.acked < offset ? this.acked : offset - count
    /** An attempt failed in a way that may have been written (commit-doubt.ts). */
    let inDoubt: string | undefined
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()
      try {
        await commitFn(offset)
        const ms = performance.now() - started
        this.duration.observe(ms / 1000)
        this.rttMs = this.rttMs === 0 ? ms : this.rttMs * 0.8 + ms * 0.2
        if (offset > this.acked) this.acked = offset
        this.lastError = undefined
        this.partitionMetrics.committed.inc(count)
        if (this.mode.ledger) this.doubt?.acknowledged(this.where.topic, this.where.partition, offset)
        return true
      } catch (err) {
        const type = String((err as { type?: unknown }).type ?? (err as Error).name ?? 'Error')
        this.metrics.commitErrors.inc({ mode: this.mode.name, error: type })
        if (this.mode.ledger && inDoubt === undefined && mayHaveBeenWritten(err)) inDoubt = type
        const retriable = (err as { retriable?: unknown }).retriable === true && !isRebalanceError(err)
        if (retriable && attempt < RETRIES) {
          this.log.debug({ ...this.where, offset, attempt, error: (err as Error).message }, 'commit failed, retrying')
          await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * (attempt + 1)))
          continue
        }
        this.lastError = err
        this.log.warn(
          { ...this.where, offset, error: (err as Error).message, errorType: type, ...(inDoubt ? { inDoubt: true } : {}) },
          inDoubt
            ? // sync: not processed here. A coordinator that dies or loses leadership mid-write can
              // have written the commit before failing, and then the group resumes past these
              // messages: lost. The ledger (commit-doubt.ts) finds out which, and counts it.
              'commit failed; the messages it covered are not processed here (fetched again, unless the coordinator wrote the commit before failing: then lost, and counted)'
            : `commit failed; ${this.mode.failedCommitCost}`,
        )
        if (inDoubt) this.doubt?.record(this.where.topic, this.where.partition, from, offset, count, inDoubt)
        return false
      }
    }
  }
}
