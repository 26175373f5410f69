/**
 * Offset commits for one partition, and the one value the at-most-once rule reads: `acked`, the
 * committed offset the group coordinator last ACKNOWLEDGED. It is written in one place,
 * `acknowledge()`, and only for an acknowledgement: by `commit()` when the coordinator answers a
 * commit it sent, and (COMMIT_MODE=auto only) by `observed()` when kafkajs reports a commit it made
 * itself.
 *
 * One commit is in flight at a time, so acknowledgements arrive in order and the committed
 * position never moves backwards (a retried older commit landing after a newer one would
 * re-deliver, i.e. duplicate, messages).
 */
import type { Logger } from 'pino'
import type { CommitMode } from '../config/schema.ts'
import type { Metrics, PartitionMetrics } from '../metrics.ts'
import { commitErrorType, isRetriableCommitError, mayHaveBeenWritten } from './commit-errors.ts'

/** What a committer needs of its commit mode (the mode objects: commit-modes.ts). */
export interface CommitterMode {
  /** The `mode` label of the commit metrics. */
  readonly name: CommitMode
  /** A failed commit may have been written: reported so that the loss ledger keeps it (sync). */
  readonly ledger: boolean
  /** What a failed commit costs, in its warn line. */
  readonly failedCommitCost: string
}

/** Sends one OffsetCommit of `offset` (the next offset to read) and resolves when the coordinator acknowledged it. */
export interface CommitTransport {
  send(topic: string, partition: number, offset: number): Promise<void>
}

/** A failed commit, as the committer reports it (after its retries). */
export interface CommitFailure {
  /** The first offset it covered that was not processed. */
  from: number
  /** The offset it would have committed. */
  offset: number
  /** Messages it covered. */
  count: number
  /** The error type of the attempt that may have been written, when one may have been (COMMIT_MODE=sync only). */
  inDoubt: string | undefined
}

/** Where a committer reports what happened to its commits (the partition's owner fans it out). */
export interface CommitEvents {
  acknowledged(offset: number): void
  failed(failure: CommitFailure): void
}

/** Retriable commit errors are retried this many times, this far apart, before giving up. */
const RETRIES = 2
const RETRY_DELAY_MS = 50

export class PartitionCommitter {
  /** The last error of a failed commit; cleared by the next success (and at the start of a batch). */
  lastError: unknown = undefined
  /** Moving average of commit round trips (ms): the window policy's estimate. */
  rttMs = 0
  private ackedOffset = -1
  private inflight: Promise<boolean> | undefined
  /** The commit-latency histogram's series of this mode (labels hashed once, not per commit). */
  private readonly duration: { observe: (seconds: number) => void }

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly transport: CommitTransport,
    private readonly metrics: Metrics,
    private readonly partitionMetrics: PartitionMetrics,
    private readonly log: Logger,
    private readonly mode: CommitterMode,
    private readonly events: CommitEvents,
  ) {
    this.duration = metrics.commitDuration.labels({ mode: mode.name })
  }

  /** The committed offset the coordinator last acknowledged (the next offset to read); -1 before the first. */
  get acked(): number {
    return this.ackedOffset
  }

  get busy(): boolean {
    return this.inflight !== undefined
  }

  /**
   * Commit `offset`, covering `count` more messages. Resolves true once the coordinator has
   * acknowledged it, false when it failed (the error is counted, logged and kept in lastError).
   * Never rejects. Callers must not call it while `busy`.
   */
  commit(offset: number, count: number): Promise<boolean> {
    if (this.inflight) throw new Error('a commit is already in flight for this partition')
    const p = this.send(offset, count).finally(() => {
      this.inflight = undefined
    })
    this.inflight = p
    return p
  }

  /** Wait for the commit in flight, if any. Resolves false when it failed. */
  settle(): Promise<boolean> {
    return this.inflight ?? Promise.resolve(this.lastError === undefined)
  }

  /** COMMIT_MODE=auto: kafkajs committed `offset` itself (its COMMIT_OFFSETS event), covering `count` messages. */
  observed(offset: number, count: number): void {
    if (offset > this.ackedOffset) this.acknowledge(offset, count)
  }

  /** The one writer of `acked`: the coordinator acknowledged a commit of `offset` covering `count` messages. */
  private acknowledge(offset: number, count: number): void {
    if (offset > this.ackedOffset) this.ackedOffset = offset
    this.partitionMetrics.committed.inc(count)
    this.events.acknowledged(offset)
  }

  private async send(offset: number, count: number): Promise<boolean> {
    // The first offset this commit covers that is not processed: the acknowledged position, or
    // (before the first acknowledgement) `count` below the target.
    const from = this.ackedOffset >= 0 && this.ackedOffset < offset ? this.ackedOffset : offset - count
    /** An attempt failed in a way that may have been written (commit-errors.ts). */
    let inDoubt: string | undefined
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()
      try {
        await this.transport.send(this.topic, this.partition, offset)
        const ms = performance.now() - started
        this.duration.observe(ms / 1000)
        this.rttMs = this.rttMs === 0 ? ms : this.rttMs * 0.8 + ms * 0.2
        this.lastError = undefined
        this.acknowledge(offset, count)
        return true
      } catch (err) {
        const type = commitErrorType(err)
        this.metrics.commitErrors.inc({ mode: this.mode.name, error: type })
        if (this.mode.ledger && inDoubt === undefined && mayHaveBeenWritten(err)) inDoubt = type
        if (isRetriableCommitError(err) && attempt < RETRIES) {
          this.log.debug({ topic: this.topic, partition: this.partition, offset, attempt, error: (err as Error).message }, 'commit failed, retrying')
          await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * (attempt + 1)))
          continue
        }
        this.lastError = err
        this.log.warn(
          { topic: this.topic, partition: this.partition, offset, error: (err as Error).message, errorType: type, ...(inDoubt ? { inDoubt: true } : {}) },
          inDoubt
            ? // sync: not processed here. A coordinator that dies or loses leadership mid-write can
              // have written the commit before failing, and then the group resumes past these
              // messages: lost. The loss ledger finds out which, and counts it.
              'commit failed; the messages it covered are not processed here (fetched again, unless the coordinator wrote the commit before failing: then lost, and counted)'
            : `commit failed; ${this.mode.failedCommitCost}`,
        )
        this.events.failed({ from, offset, count, inDoubt })
        return false
      }
    }
  }
}
