/**
 * The loss ledger (COMMIT_MODE=sync): every commit that failed in a way that may have been written
 * (commit-errors.ts) is kept as a range in doubt (ranges.ts) until the ledger finds out whether it
 * was written: its messages lost, counted — or not. It listens to the partitions' owner
 * (partitions.ts) and decides with the pure judge (judge.ts):
 *
 *  - a commit failed in doubt: kept, one warn line;
 *  - a later commit of this member covering the range is acknowledged: processed here;
 *  - this member fetches the partition again: judgeFetch (at or past the end, still its own: lost);
 *  - this member joins a new generation: the ranges learn whether the member id and the partition
 *    stayed its own;
 *  - the partitions may change owner (a rebalance, a crash, shutdown: `resolve(when)`): the committed
 *    offset is read at once, then the group described (read-group.ts), and judgeRead decides; a
 *    read that fails is retried until the time allowed runs out, then the range is unknowable;
 *  - shutdown (`close()`): what is left is counted unknowable.
 * Never silently: every range ends in exactly one of processed, not written, lost, unknowable.
 */
import type { Logger } from 'pino'
import type { Metrics } from '../../metrics.ts'
import type { CommitFailure } from '../committer.ts'
import type { Assignment, PartitionListener, PartitionState } from '../partitions.ts'
import { judgeFetch, judgeRead, unresolved, type ResolveWhen } from './judge.ts'
import { DoubtRanges, type DoubtRange } from './ranges.ts'
import type { ReadCommitted } from './read-group.ts'
import { LedgerReport } from './report.ts'

export interface LossLedgerOptions {
  metrics: Pick<Metrics, 'lost' | 'inDoubt'>
  log: Logger
  read: ReadCommitted
  /** How long a resolution keeps trying to read before it counts the range in doubt (the session timeout). */
  readBudgetMs: number
  /** Delay between two read attempts. */
  retryMs?: number
}

export class LossLedger implements PartitionListener {
  private readonly ranges = new DoubtRanges()
  private readonly report: LedgerReport
  private chain: Promise<void> = Promise.resolve()
  /** This member's id in the group's current generation ('' before the first join). */
  private member = ''

  constructor(private readonly o: LossLedgerOptions) {
    this.report = new LedgerReport(o.metrics, o.log)
  }

  /** Ranges not resolved yet. */
  get outstanding(): number {
    return this.ranges.outstanding
  }

  /** The ranges not resolved yet (copies). */
  list(): DoubtRange[] {
    return this.ranges.live().map((r) => ({ ...r }))
  }

  commitFailed(p: PartitionState, f: CommitFailure): void {
    if (f.inDoubt === undefined) return
    this.record(p.topic, p.partition, f.from, f.offset, f.count, f.inDoubt)
  }

  /** A commit failed in doubt: it would have committed `end`, covering `count` messages from `start`. */
  record(topic: string, partition: number, start: number, end: number, count: number, error: string): void {
    if (this.ranges.record(topic, partition, start, end, count, error, this.member)) this.report.kept(topic, partition, start, end, count, error)
  }

  acknowledged(p: PartitionState, offset: number): void {
    for (const r of this.ranges.acknowledged(p.topic, p.partition, offset)) this.report.committedAgain(r, offset)
  }

  joined(memberId: string, assignment: Assignment): void {
    this.ranges.joined(this.member, memberId, assignment)
    this.member = memberId
  }

  fetched(p: PartitionState, firstOffset: number): void {
    if (this.ranges.outstanding === 0) return
    for (const r of this.ranges.of(p.topic, p.partition)) {
      const v = judgeFetch(r, firstOffset, this.member)
      if (!v) continue
      this.ranges.remove(r)
      this.report.verdict(v)
    }
  }

  /**
   * The partitions may change owner (a rebalance, leaving the group, a crash): read the committed
   * offsets of every outstanding range. Resolutions run one after the other; the returned promise
   * settles when this one is done, or when `budgetMs` (at most the read budget) has passed; it
   * never rejects.
   */
  resolve(when: ResolveWhen, budgetMs = this.o.readBudgetMs): Promise<void> {
    const budget = Math.min(budgetMs, this.o.readBudgetMs)
    if (this.ranges.outstanding > 0) {
      this.chain = this.chain.then(() => this.resolveNow(when, budget)).catch((err: unknown) => this.report.failed(err))
    }
    // Never wait longer than this caller's budget for a resolution already under way (a shutdown
    // during a rebalance's reads): what is left is counted when it ends, or by close().
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budget + 100)
      timer.unref()
    })
    return Promise.race([this.chain, bound]).finally(() => clearTimeout(timer))
  }

  /** Shutdown: ranges still unresolved are counted in doubt. */
  close(): void {
    for (const r of this.ranges.live()) {
      this.ranges.remove(r)
      this.report.verdict(unresolved(r, 'the member left the group before the outcome could be confirmed'))
    }
  }

  private async resolveNow(when: ResolveWhen, budgetMs: number): Promise<void> {
    const started = Date.now()
    const retryMs = this.o.retryMs ?? 500
    let lastError = ''
    while (this.ranges.outstanding > 0) {
      const byTopic = new Map<string, DoubtRange[]>()
      for (const r of this.ranges.live()) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r])
      for (const [topic, ranges] of byTopic) {
        let read: Awaited<ReturnType<ReadCommitted>>
        try {
          read = await this.o.read(topic)
        } catch (err) {
          lastError = (err as Error).message
          continue
        }
        for (const r of ranges) {
          if (!this.ranges.holds(r)) continue // resolved meanwhile (a commit acknowledged, a fetch)
          this.ranges.remove(r)
          for (const v of judgeRead(r, read.committed.get(r.partition) ?? -1, read.group, when)) this.report.verdict(v, when)
        }
      }
      if (this.ranges.outstanding === 0) return
      if (Date.now() - started >= budgetMs) break
      await new Promise((r) => setTimeout(r, retryMs))
    }
    for (const r of this.ranges.live()) {
      this.ranges.remove(r)
      this.report.verdict(unresolved(r, `the committed offset could not be read within ${budgetMs} ms (${when}): ${lastError}`))
    }
  }
}
