/**
 * THE AT-MOST-ONCE RULE (COMMIT_MODE=sync) lives in this file.
 *
 *   A message is handed to the handler only after the group coordinator has ACKNOWLEDGED a
 *   commit of an offset beyond it (offset + 1 or more).
 *
 * So a crash can lose a message (committed, not yet processed) but never process it twice.
 * The executors (serial-executor.ts for ORDERING=partition, keyed-executor.ts for key and
 * unordered) ask `gate.mayStart(i)` before every handler call and refuse to dispatch
 * otherwise (`assertMayStart`): that one line is the rule. Everything else here decides WHAT
 * to commit, never whether a message may run.
 *
 * The window. A commit covers at most COMMIT_WINDOW messages past the lowest message of the
 * batch not yet finished; so at every moment at most COMMIT_WINDOW messages of a partition
 * are committed-but-unfinished ("at risk"): the loss bound of a crash, and the most messages
 * of one partition that can run at once. Commits of a partition go one at a time (the
 * committer), so acknowledgements arrive in order and the committed offset never moves back;
 * a commit is only ever sent for offsets past the acknowledged one. A failed commit stops the
 * batch from committing more: the messages it would have covered are not processed here and
 * kafkajs fetches them again (unless the coordinator wrote it before failing: design.md).
 *
 * Nothing else is needed to keep offsets right when messages finish out of order (key and
 * unordered): everything a batch hands over is covered before it starts and finished before
 * the batch returns, so the position kafkajs resolves is always a finished prefix.
 */
import { AtMostOnceViolationError } from '../errors.ts'
import type { PartitionGauge } from '../metrics.ts'
import type { CommitFn, PartitionCommitter } from './committer.ts'

export class CommitGate {
  /** messages[0, covered) are below the acknowledged committed offset (or were skipped). */
  covered: number
  /** A commit of this batch failed: it sends no more windows (the rest is fetched again). */
  failed = false
  readonly n: number
  /** The commit this gate sent, until its outcome is applied. */
  private inflight: Promise<boolean> | undefined
  /** Runs before the at-risk gauge grows (an executor flushes its pending decrements there). */
  beforeCovered: () => void = () => undefined

  /**
   * @param offsets the batch's offsets, ascending
   * @param start messages before this index were processed already (fetched again): never handed over
   * @param atRisk the partition's at-risk gauge: grows by what each acknowledged commit newly covers
   */
  constructor(
    readonly offsets: readonly number[],
    start: number,
    private readonly committer: PartitionCommitter,
    private readonly commitFn: CommitFn,
    readonly window: number,
    private readonly mayCommit: () => boolean,
    private readonly atRisk: PartitionGauge,
  ) {
    this.n = offsets.length
    this.covered = start
    this.advance()
  }

  /** THE RULE: may message i be handed to the handler? Only below the acknowledged committed offset. */
  mayStart(i: number): boolean {
    return this.offsets[i]! < this.committer.acked
  }

  /** Called by the executors right before every handler call: a bug that breaks the rule fails loudly. */
  assertMayStart(i: number): void {
    if (!this.mayStart(i)) throw new AtMostOnceViolationError(this.offsets[i]!, this.committer.acked)
  }

  /**
   * A commit of this gate is in flight, or its acknowledgement is not applied to `covered` yet.
   * Not the committer's own flag: the committer is free a few microtasks before `covered` moves,
   * and a window sent in between would repeat the acknowledged one (and count it twice).
   */
  get busy(): boolean {
    return this.inflight !== undefined
  }

  /** May a new window be sent now? (None in flight, none failed, messages left, no shutdown or revocation.) */
  get canSend(): boolean {
    return this.inflight === undefined && !this.failed && this.covered < this.n && this.mayCommit()
  }

  /** How many more messages a commit sent now may cover, `lowest` being the lowest unfinished message. */
  room(lowest: number): number {
    return Math.min(lowest + this.window, this.n) - this.covered
  }

  /**
   * Send the commit of the next window: up to COMMIT_WINDOW messages past `lowest`, the lowest
   * message not finished yet. Resolves true once acknowledged (and `covered` has moved), false
   * when it failed. Callers check `canSend` and `room(lowest) > 0` first.
   */
  send(lowest: number): Promise<boolean> {
    const end = Math.min(lowest + this.window, this.n)
    const target = this.offsets[end - 1]! + 1
    const sent = this.committer.commit(target, end - this.covered, this.commitFn).then((ok) => {
      this.inflight = undefined
      if (ok) this.advance()
      else this.failed = true
      return ok
    })
    this.inflight = sent
    return sent
  }

  /** Wait for the commit in flight, if any, and for `covered` to include it. */
  async settle(): Promise<void> {
    if (this.inflight) await this.inflight
  }

  private advance(): void {
    const was = this.covered
    const acked = this.committer.acked
    while (this.covered < this.n && this.offsets[this.covered]! < acked) this.covered++
    if (this.covered > was) {
      this.beforeCovered()
      this.atRisk.inc(this.covered - was)
    }
  }
}

/**
 * Serial executor: how many covered messages may remain when the next window's commit is sent
 * early. 0 when processing a whole window takes less than a round trip (then an early commit
 * would only shrink the window without hiding any latency), else about a round trip's worth of
 * messages, and never more than half the window.
 */
export function earlyCommitThreshold(window: number, rttMs: number, perMessageMs: number): number {
  if (window < 2 || perMessageMs <= 0 || window * perMessageMs < rttMs) return 0
  return Math.min(Math.floor(window / 2), Math.ceil(rttMs / perMessageMs))
}
