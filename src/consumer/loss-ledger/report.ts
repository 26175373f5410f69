/**
 * What the loss ledger says and counts: one warn line per range kept in doubt and per range judged
 * lost or unknowable (never a line per message), an info line per range found processed or not
 * written, and the counters consumer_messages_lost_total{reason="commit_written"} and
 * consumer_messages_in_doubt_total.
 */
import type { Logger } from 'pino'
import type { Metrics } from '../../metrics.ts'
import type { ResolveWhen, Verdict } from './judge.ts'
import type { DoubtRange } from './ranges.ts'

export class LedgerReport {
  constructor(
    private readonly metrics: Pick<Metrics, 'lost' | 'inDoubt'>,
    private readonly log: Logger,
  ) {}

  /** A failed commit kept in doubt (a new range, or merged into one). */
  kept(topic: string, partition: number, start: number, end: number, count: number, error: string): void {
    this.log.warn(
      { topic, partition, fromOffset: start, toOffset: end - 1, count, errorType: error, inDoubt: true },
      'commit in doubt: it may have been written before failing; resolved when the partition is fetched again or changes owner',
    )
  }

  /** A later commit of this member covered the range: processed here. */
  committedAgain(r: DoubtRange, committed: number): void {
    this.log.info({ topic: r.topic, partition: r.partition, fromOffset: r.start, toOffset: r.end - 1, committed }, 'commit in doubt resolved: committed again and processed here')
  }

  verdict(v: Verdict, when?: ResolveWhen): void {
    const r = v.range
    const where = { topic: r.topic, partition: r.partition, fromOffset: r.start, toOffset: r.end - 1 }
    switch (v.kind) {
      case 'lost':
        this.metrics.lost.inc({ reason: 'commit_written' }, r.count)
        this.log.warn(
          { ...where, count: r.count, errorType: r.error, lost: true, reason: 'commit_written' },
          `committed messages lost: the commit reported failed had been written (${v.how}); they were never processed`,
        )
        return
      case 'unknowable':
        this.metrics.inDoubt.inc(r.count)
        this.log.warn({ ...where, count: r.count, errorType: r.error, inDoubt: true }, `commit in doubt not resolved: these messages may have been lost (${v.how})`)
        return
      case 'not_written':
        this.log.info(
          { ...where, committed: v.committed, when },
          v.past
            ? 'commit in doubt resolved: not written past the committed offset, the next owner reads the messages'
            : 'commit in doubt resolved: not written, the next owner reads the messages',
        )
    }
  }

  /** Resolving threw: a bug guard, the ranges stay (counted by close() at the latest). */
  failed(err: unknown): void {
    this.log.error({ error: (err as Error).message }, 'resolving the commits in doubt failed')
  }
}
