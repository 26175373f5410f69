/**
 * The commits of the ungated modes (COMMIT_MODE=async and auto, ungated-batch.ts), one partition:
 * the newest position asked for and how many messages it adds, committed later through the
 * partition's committer.
 *
 *  - async: `want(offset)` before each message is processed; the commit is sent at once, not
 *    awaited. Requests coalesce: one commit is in flight, and when it is acknowledged the newest
 *    position asked for since is sent. A failed commit is counted and logged; the next request
 *    tries again.
 *  - auto: `processed(offset)` after each message; kafkajs commits on its interval and reports it
 *    (`kafkajsCommitted`).
 *  - both: at shutdown, `flush()` commits whatever is still pending, synchronously.
 */
import type { PartitionCommitter } from './committer.ts'

export class UngatedCommits {
  /** The newest position asked for, and how many messages it adds to the last commit. */
  private wanted = -1
  private wantedCount = 0

  constructor(private readonly committer: PartitionCommitter) {}

  /** async: commit `offset` soon, without waiting. */
  want(offset: number): void {
    this.note(offset)
    this.pump()
  }

  /** auto: a message was processed (kafkajs commits it later). */
  processed(offset: number): void {
    this.note(offset)
  }

  /** auto: kafkajs committed `offset` itself. */
  kafkajsCommitted(offset: number): void {
    if (offset <= this.committer.acked) return
    this.committer.observed(offset, this.wantedCount)
    this.wantedCount = 0
  }

  /** The position that a final commit should write, if it is ahead of the acknowledged one. */
  get pending(): number | undefined {
    return this.wanted > this.committer.acked ? this.wanted : undefined
  }

  /** Shutdown: wait for the commit in flight, then commit whatever is still pending, synchronously. */
  async flush(): Promise<boolean> {
    // async: an acknowledgement can send the newest position asked for at once (pump): wait
    // until nothing is in flight, or the commit below would find one.
    while (this.committer.busy) await this.committer.settle()
    const target = this.pending
    if (target === undefined) return true
    const count = this.wantedCount
    this.wantedCount = 0
    const ok = await this.committer.commit(target, count)
    if (!ok) this.wantedCount += count
    return ok
  }

  private note(offset: number): void {
    if (offset > this.wanted) this.wanted = offset
    this.wantedCount++
  }

  private pump(): void {
    if (this.committer.busy || this.wanted <= this.committer.acked) return
    const target = this.wanted
    const count = this.wantedCount
    this.wantedCount = 0
    void this.committer.commit(target, count).then((ok) => {
      if (ok) this.pump()
      else this.wantedCount += count
    })
  }
}
