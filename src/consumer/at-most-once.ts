/**
 * THE AT-MOST-ONCE RULE (COMMIT_MODE=sync) lives in this file.
 *
 *   A message is handed to the handler only after the group coordinator has ACKNOWLEDGED a
 *   commit of an offset beyond it (offset + 1 or more).
 *
 * So a crash can lose a message (committed, not yet processed) but never process it twice.
 *
 * How the code keeps it, in three facts a reviewer can check here:
 *  1. In sync mode the gate is the ONLY way to a handler call: it is built with the partition's
 *     message runner (consumeBatchSync, sync-batch.ts) and nothing else in sync mode receives one;
 *     the dispatcher (dispatcher.ts) asks `gate.start(i)`, which checks the rule and then calls.
 *  2. One value decides and checks: the committer's `acked`, the committed offset the coordinator
 *     last acknowledged, written only when an acknowledgement arrives (committer.ts). What the
 *     dispatcher may route (`covered`) is derived from it, and `start(i)` checks it again.
 *  3. A commit is only ever sent for offsets past the acknowledged one, one at a time per
 *     partition, so acknowledgements arrive in order and `acked` never moves back.
 *
 * The window. A commit covers at most COMMIT_WINDOW messages past the lowest message of the batch
 * not yet finished; so at every moment at most COMMIT_WINDOW messages of a partition are
 * committed-but-unfinished ("at risk"): the loss bound of a crash, and the most messages of one
 * partition that can run at once. A failed commit stops the batch from committing more: the
 * messages it would have covered are not processed here and kafkajs fetches them again (unless
 * the coordinator wrote it before failing: the loss ledger, docs/design.md).
 *
 * Nothing else is needed to keep offsets right when messages finish out of order (key and
 * unordered): everything a batch hands over is covered before it starts and finished before the
 * batch returns, so the position kafkajs resolves is always a finished prefix.
 */
import { AtMostOnceViolationError } from '../errors.ts'
import type { MessageRunner, Outcome } from '../message/process.ts'
import type { Batch } from './batch.ts'
import type { PartitionCommitter } from './committer.ts'

export class CommitGate {
  /** The batch's offsets, ascending. */
  readonly offsets: readonly number[]
  readonly n: number
  /** A commit of this batch failed: it sends no more windows (the rest is fetched again). */
  failed = false
  /** messages[0, cursor) lie below `acked` (or were processed before): derived from `acked` only, in catchUp(). */
  private cursor: number
  /** The commit this gate sent, until its outcome is applied. */
  private inflight: Promise<boolean> | undefined
  private readonly committer: PartitionCommitter

  /**
   * @param start messages before this index were processed already (fetched again): never handed over
   * @param runner the partition's message runner: the only way to the handler, used by start() alone
   */
  constructor(
    private readonly batch: Batch,
    start: number,
    private readonly runner: MessageRunner,
  ) {
    this.offsets = batch.messages.map((m) => Number(m.offset))
    this.n = this.offsets.length
    this.committer = batch.state.committer
    this.cursor = start
    // Covered already when the batch begins: held by the circuit breaker in an earlier batch of
    // the partition, and counted at risk then.
    const acked = this.committer.acked
    while (this.cursor < this.n && this.offsets[this.cursor]! < acked) this.cursor++
  }

  /** THE RULE: may message i be handed to the handler? Only below the acknowledged committed offset. */
  mayStart(i: number): boolean {
    return this.offsets[i]! < this.committer.acked
  }

  /**
   * Hand message i to the handler, if the rule allows it; refuses loudly otherwise
   * (AMO_AT_MOST_ONCE_VIOLATION: a bug guard, never expected). Returns the outcome when the handler
   * was synchronous; else undefined, and `done(outcome, i)` is called once the call ended.
   */
  start(i: number, done: (outcome: Outcome, i: number) => void): Outcome | undefined {
    if (!this.mayStart(i)) throw new AtMostOnceViolationError(this.offsets[i]!, this.committer.acked)
    return this.runner.start(this.batch.messages[i]!, done, i)
  }

  /** messages[0, covered) may be handed over: each lies below the acknowledged committed offset. */
  get covered(): number {
    this.catchUp()
    return this.cursor
  }

  /**
   * A commit of this gate is in flight, or its acknowledgement is not applied yet. Not the
   * committer's own flag: the committer is free a few microtasks before the gate applies the
   * outcome, and a window sent in between would repeat the acknowledged one (and count it twice).
   */
  get busy(): boolean {
    return this.inflight !== undefined
  }

  /** May a new window be sent now? (None in flight, none failed, messages left, the batch still active.) */
  get canSend(): boolean {
    return this.inflight === undefined && !this.failed && this.covered < this.n && this.batch.active()
  }

  /** How many more messages a commit sent now may cover, `lowest` being the lowest unfinished message. */
  room(lowest: number): number {
    return Math.min(lowest + this.batch.window, this.n) - this.covered
  }

  /**
   * Send the commit of the next window: up to COMMIT_WINDOW messages past `lowest`, the lowest
   * message not finished yet. Resolves true once acknowledged (and applied), false when it failed.
   * Callers check `canSend` and `room(lowest) > 0` first.
   */
  send(lowest: number): Promise<boolean> {
    const end = Math.min(lowest + this.batch.window, this.n)
    const target = this.offsets[end - 1]! + 1
    const sent = this.committer.commit(target, end - this.covered).then((ok) => {
      this.inflight = undefined
      if (ok) this.catchUp()
      else this.failed = true
      return ok
    })
    this.inflight = sent
    return sent
  }

  /** Wait for the commit in flight, if any, and for its outcome to be applied. */
  async settle(): Promise<void> {
    if (this.inflight) await this.inflight
  }

  /** Move the cursor past every message below `acked`; the at-risk gauge grows by as many. */
  private catchUp(): void {
    const acked = this.committer.acked
    const was = this.cursor
    while (this.cursor < this.n && this.offsets[this.cursor]! < acked) this.cursor++
    if (this.cursor > was) this.batch.state.atRisk.covered(this.cursor - was)
  }
}
