/**
 * The commits in doubt (COMMIT_MODE=sync): a per-partition ledger of the ranges whose OffsetCommit
 * failed in a way that may have been written all the same, and their resolution.
 *
 * A coordinator that dies, freezes or loses its leadership while an OffsetCommit is in flight can
 * have written (and replicated) the commit and still answer with an error, or not at all. The
 * service does not process the messages that commit covered (processing them could duplicate
 * them); when the commit was written after all, the group resumes past them: lost. This module
 * keeps each such range and finds out which it was:
 *
 *  - this member fetches the partition again (onFetch): a fetch that starts at or past the range's
 *    end means the commit was written and the range will never be processed — counted in
 *    consumer_messages_lost_total{reason="commit_written"}, one warn line with the offsets; a fetch
 *    that starts inside or before the range means it is read again and processed: nothing lost.
 *  - the group rebalances, or the member leaves or crashes, before that (resolve): the committed
 *    offset is read from the coordinator. Read before this member has rejoined, the classic
 *    protocol guarantees that no other member has been given the partition yet, so the committed
 *    offset is this member's own: equal to the range's end, written (lost); below it, not written
 *    (the new owner reads the range again). Read later (after a crash: kafkajs has already left
 *    the group) or above the range's end, another member may already have moved it: when it is
 *    not below the end the outcome is unknowable and counted in consumer_messages_in_doubt_total
 *    with a warn line — never silently. So is a range whose committed offset cannot be read
 *    within the time allowed (the coordinator unreachable).
 *
 * What "may have been written" means (mayHaveBeenWritten): the request was sent and its outcome
 * is unknown — the connection was lost or closed after sending, the request timed out (kafkajs's
 * KafkaJSRequestTimeoutError, or the broker's REQUEST_TIMED_OUT while waiting for replication),
 * or the coordinator answered NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE (an append that lost its
 * leadership while waiting for the replicas is answered so, and may have been replicated). A clean
 * refusal — REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, OFFSET_METADATA_TOO_LARGE,
 * COORDINATOR_LOAD_IN_PROGRESS, an authorization error — is checked before anything is appended:
 * not written. A connection that could not be opened (ECONNREFUSED, …) sent nothing. A commit is
 * in doubt when ANY of its attempts (the committer retries) failed in doubt, even if the last
 * attempt was a clean refusal.
 */
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.ts'

/** Protocol errors of an OffsetCommit whose request may have been appended all the same. */
const WRITTEN_MAYBE_TYPES = new Set(['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'REQUEST_TIMED_OUT'])
/** kafkajs errors of a request sent whose answer never came. */
const WRITTEN_MAYBE_NAMES = new Set(['KafkaJSRequestTimeoutError', 'KafkaJSConnectionClosedError'])
/** Socket errors of a connection that was never opened: nothing was sent on it. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Whether a failed OffsetCommit may have been written by the coordinator (see the file comment). */
export function mayHaveBeenWritten(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const e = err as { type?: unknown; name?: unknown; code?: unknown; cause?: unknown; message?: unknown }
  if (e.name === 'KafkaJSNumberOfRetriesExceeded' && e.cause !== undefined && e.cause !== err) return mayHaveBeenWritten(e.cause)
  if (typeof e.type === 'string' && WRITTEN_MAYBE_TYPES.has(e.type)) return true
  if (typeof e.name === 'string' && WRITTEN_MAYBE_NAMES.has(e.name)) return true
  if (e.name === 'KafkaJSConnectionError') {
    // "Connection error: connect ECONNREFUSED" / "Connection timeout" (never connected) sent nothing;
    // "Connection error: read ECONNRESET", "Closed connection", "Not connected" may follow a send.
    if (typeof e.code === 'string' && NOT_SENT_CODES.has(e.code)) return false
    return !/^Connection timeout|connect (ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH)/.test(String(e.message))
  }
  return false
}

/** One commit in doubt: it would have made `end` the committed offset, covering `count` messages from `start`. */
export interface DoubtRange {
  topic: string
  partition: number
  /** The first offset it covered that was not processed. */
  start: number
  /** The offset it would have committed (the next offset to read). */
  end: number
  /** Messages it covered (never processed here). */
  count: number
  /** The error type of the attempt that left it in doubt. */
  error: string
  /** Date.now() when recorded. */
  at: number
  /** The group generation (joins seen) when recorded. */
  generation: number
}

/** Reads the group's committed offsets of one topic: partition -> offset (-1 or absent: none). */
export type ReadCommitted = (topic: string) => Promise<Map<number, number>>

/** Why the ranges are resolved by reading: the partition may change owner now. */
export type ResolveWhen = 'rebalance' | 'shutdown' | 'crash'

export interface CommitDoubtOptions {
  metrics: Pick<Metrics, 'lost' | 'inDoubt'>
  log: Logger
  read: ReadCommitted
  /**
   * How long a read counts as "before this member rejoined" (the group session timeout: within it
   * the coordinator cannot have given the partition away without this member's JoinGroup), and
   * how long a resolution keeps trying to read before it counts the range in doubt.
   */
  readBudgetMs: number
  /** Group joins seen so far: a read answered after the next join is no longer this member's own. */
  generation: () => number
  /** Delay between two read attempts. */
  retryMs?: number
}

export class CommitDoubt {
  private readonly ranges = new Map<string, DoubtRange[]>()
  private chain: Promise<void> = Promise.resolve()

  constructor(private readonly o: CommitDoubtOptions) {}

  /** Ranges not resolved yet. */
  get outstanding(): number {
    let n = 0
    for (const list of this.ranges.values()) n += list.length
    return n
  }

  /** The ranges not resolved yet (copies). */
  list(): DoubtRange[] {
    return [...this.ranges.values()].flatMap((l) => l.map((r) => ({ ...r })))
  }

  /**
   * A sync commit of `end` covering `count` messages from `start` failed, and one of its attempts
   * may have been written. An overlapping range of the same partition is merged with it.
   */
  record(topic: string, partition: number, start: number, end: number, count: number, error: string): void {
    if (count <= 0 || end <= start) return
    const key = `${topic}|${partition}`
    const list = this.ranges.get(key) ?? []
    const overlap = list.find((r) => r.start < end && start < r.end)
    if (overlap) {
      const lo = Math.min(overlap.start, start)
      const hi = Math.max(overlap.end, end)
      overlap.count = Math.min(hi - lo, overlap.count + count)
      overlap.start = lo
      overlap.end = hi
      overlap.error = error
      overlap.at = Date.now()
    } else {
      list.push({ topic, partition, start, end, count, error, at: Date.now(), generation: this.o.generation() })
    }
    this.ranges.set(key, list)
    this.o.log.warn(
      { topic, partition, fromOffset: start, toOffset: end - 1, count, errorType: error, inDoubt: true },
      'commit in doubt: it may have been written before failing; resolved when the partition is fetched again or changes owner',
    )
  }

  /**
   * This member fetched the partition again and the batch starts at `firstOffset`: every range of
   * the partition is resolved (at or past its end: written, lost; inside or before: read again).
   */
  onFetch(topic: string, partition: number, firstOffset: string | number | undefined): void {
    if (firstOffset === undefined || this.ranges.size === 0) return
    const key = `${topic}|${partition}`
    const list = this.ranges.get(key)
    if (!list) return
    this.ranges.delete(key)
    const fetched = Number(firstOffset)
    for (const r of list) {
      if (fetched >= r.end) this.lost(r, `fetched again from offset ${fetched}`)
      else this.o.log.info({ topic, partition, fromOffset: r.start, toOffset: r.end - 1, fetchedFrom: fetched }, 'commit in doubt resolved: not written, the messages are read again')
    }
  }

  /**
   * The partitions may change owner (a rebalance, leaving the group, a crash): resolve every
   * outstanding range by reading the committed offsets. Resolutions run one after the other; the
   * returned promise settles when this one is done (it never rejects).
   */
  resolve(when: ResolveWhen, budgetMs = this.o.readBudgetMs): Promise<void> {
    if (this.outstanding === 0) return this.chain
    this.chain = this.chain.then(() => this.resolveNow(when, Math.min(budgetMs, this.o.readBudgetMs))).catch((err: unknown) => {
      this.o.log.error({ error: (err as Error).message }, 'resolving the commits in doubt failed')
    })
    return this.chain
  }

  private async resolveNow(when: ResolveWhen, budgetMs: number): Promise<void> {
    const started = Date.now()
    const generation = this.o.generation()
    const retryMs = this.o.retryMs ?? 500
    const pending = () => this.list().length > 0
    let lastError = ''
    while (pending()) {
      const byTopic = new Map<string, DoubtRange[]>()
      for (const list of this.ranges.values()) for (const r of list) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r])
      for (const [topic, ranges] of byTopic) {
        let committed: Map<number, number>
        try {
          committed = await this.o.read(topic)
        } catch (err) {
          lastError = (err as Error).message
          continue
        }
        // Answered while this member still holds its assignment (no join since the resolution
        // began, within the session timeout, not after a crash): the offset is this member's own.
        const own = when !== 'crash' && this.o.generation() === generation && Date.now() - started < this.o.readBudgetMs
        for (const r of ranges) {
          const list = this.ranges.get(`${r.topic}|${r.partition}`)
          if (!list?.includes(r)) continue // resolved meanwhile by a fetch
          this.remove(r)
          const c = committed.get(r.partition) ?? -1
          if (c < r.end) {
            this.o.log.info({ topic, partition: r.partition, fromOffset: r.start, toOffset: r.end - 1, committed: c, when }, 'commit in doubt resolved: not written, the messages are read again')
          } else if (c === r.end && own) {
            this.lost(r, `the committed offset read before rejoining (${when}) is its end`)
          } else {
            this.unknowable(r, `committed offset ${c} read ${own ? 'past the range' : 'after the partition may have changed owner'} (${when})`)
          }
        }
      }
      if (!pending()) return
      if (Date.now() - started >= budgetMs) break
      await new Promise((r) => setTimeout(r, retryMs))
    }
    for (const r of this.list()) {
      const list = this.ranges.get(`${r.topic}|${r.partition}`)
      const live = list?.find((x) => x.start === r.start && x.end === r.end)
      if (!live) continue
      this.remove(live)
      this.unknowable(live, `the committed offset could not be read within ${budgetMs} ms (${when}): ${lastError}`)
    }
  }

  private remove(r: DoubtRange): void {
    const key = `${r.topic}|${r.partition}`
    const list = (this.ranges.get(key) ?? []).filter((x) => x !== r)
    if (list.length) this.ranges.set(key, list)
    else this.ranges.delete(key)
  }

  private lost(r: DoubtRange, how: string): void {
    this.o.metrics.lost.inc({ reason: 'commit_written' }, r.count)
    this.o.log.warn(
      { topic: r.topic, partition: r.partition, fromOffset: r.start, toOffset: r.end - 1, count: r.count, errorType: r.error, lost: true, reason: 'commit_written' },
      `committed messages lost: the commit reported failed had been written (${how}); they were never processed`,
    )
  }

  private unknowable(r: DoubtRange, how: string): void {
    this.o.metrics.inDoubt.inc(r.count)
    this.o.log.warn(
      { topic: r.topic, partition: r.partition, fromOffset: r.start, toOffset: r.end - 1, count: r.count, errorType: r.error, inDoubt: true },
      `commit in doubt not resolved: these messages may have been lost (${how})`,
    )
  }
}
