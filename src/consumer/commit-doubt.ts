/**
 * The commits in doubt (COMMIT_MODE=sync): a per-partition ledger of the ranges whose OffsetCommit
 * failed in a way that may have been written all the same, and their resolution.
 *
 * A coordinator that dies, freezes or loses its leadership while an OffsetCommit is in flight can
 * have written (and replicated) the commit and still answer with an error, or not at all. The
 * service does not process the messages that commit covered (processing them could duplicate
 * them); when the commit was written after all, the group resumes past them: lost. This module
 * keeps each such range and finds out which it was. The one fact it leans on (classic group
 * protocol): while this member stays in the group — same member id, the partition in each of its
 * assignments — no other member can be given the partition, so the committed offset is this
 * member's own. A member whose session expired during the outage is removed, gets a new member id
 * when it rejoins, and meanwhile another member may have owned the partition (seen in the chaos
 * suite: a removed member read a committed offset written by the partition's new owner).
 *
 *  - A later commit of this member covering the range is acknowledged: the range is processed
 *    here. Nothing lost.
 *  - This member fetches the partition again (onFetch) from the range's end or later, having kept
 *    it and its member id since: the commit was written and the range is never processed —
 *    consumer_messages_lost_total{reason="commit_written"}, one warn line with the offsets. A fetch
 *    from inside or before the range counts nothing (the range stays until a commit covering it
 *    is acknowledged: a removed member's fetches cannot commit).
 *  - The group rebalances, or the member leaves or crashes (resolve): the committed offset is read
 *    at once, then the group is described (read). Below the range's end: not written (the next
 *    owner reads the range). At its end, with this member (the member id it had when the commit
 *    failed) still in the group as the coordinator describes it AFTER the offset was read, and the
 *    partition still its own (its assignment there, or none handed out yet: a rebalance waits for
 *    every member): no other member can have written it — written, counted lost. Otherwise (the
 *    member removed, the partition handed to another member, read past the end, or not readable
 *    within the time allowed) the outcome is unknowable and counted in
 *    consumer_messages_in_doubt_total with a warn line — never silently.
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
  /**
   * Every target of the failed commits merged into this range (each may have been written): a
   * committed offset read inside the range that is one of them means the messages below it are
   * lost (seen on Apache Kafka 3.9: a commit of 115 written by the dying coordinator, merged with
   * a later failed commit of 132 into 112-131, read back as 115).
   */
  ends: number[]
  /** Messages it covered (never processed here). */
  count: number
  /** The error type of the attempt that left it in doubt. */
  error: string
  /** The member id when recorded. */
  member: string
  /** The partition left this member's assignment since (another member may have owned it). */
  left: boolean
}

/** The group as the coordinator describes it: its state, and each member's assignment (when handed out). */
export interface GroupView {
  state: string
  /** member id -> its assignment (topic -> partitions); undefined when the state carries none (a rebalance under way). */
  members: ReadonlyMap<string, Record<string, number[]> | undefined>
}

/**
 * Reads the group's committed offsets of one topic (partition -> offset; -1 or absent: none) and
 * THEN describes the group: a member found in the description was a member when the offsets were
 * read (a member id never comes back once removed).
 */
export type ReadCommitted = (topic: string) => Promise<{ committed: Map<number, number>; group: GroupView }>

/** Why the ranges are resolved by reading: the partition may change owner now. */
export type ResolveWhen = 'rebalance' | 'shutdown' | 'crash'

export interface CommitDoubtOptions {
  metrics: Pick<Metrics, 'lost' | 'inDoubt'>
  log: Logger
  read: ReadCommitted
  /** How long a resolution keeps trying to read before it counts the range in doubt (the session timeout). */
  readBudgetMs: number
  /** Delay between two read attempts. */
  retryMs?: number
}

export class CommitDoubt {
  private readonly ranges = new Map<string, DoubtRange[]>()
  private chain: Promise<void> = Promise.resolve()
  private member = ''
  private joins = 0

  constructor(private readonly o: CommitDoubtOptions) {}

  /** Ranges not resolved yet. */
  get outstanding(): number {
    return this.live().length
  }

  /** The ranges not resolved yet (copies). */
  list(): DoubtRange[] {
    return this.live().map((r) => ({ ...r }))
  }

  /** The ranges not resolved yet, themselves: a snapshot, so that resolving one while iterating is safe. */
  private live(): DoubtRange[] {
    return [...this.ranges.values()].flat()
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
      overlap.ends.push(end)
      overlap.error = error
    } else {
      list.push({ topic, partition, start, end, ends: [end], count, error, member: this.member, left: false })
    }
    this.ranges.set(key, list)
    this.o.log.warn(
      { topic, partition, fromOffset: start, toOffset: end - 1, count, errorType: error, inDoubt: true },
      'commit in doubt: it may have been written before failing; resolved when the partition is fetched again or changes owner',
    )
  }

  /** A commit of `offset` by this member was acknowledged: the ranges below it are processed here. */
  acknowledged(topic: string, partition: number, offset: number): void {
    const list = this.ranges.get(`${topic}|${partition}`)
    if (!list) return
    for (const r of [...list]) {
      if (offset >= r.end) {
        this.remove(r)
        this.o.log.info({ topic, partition, fromOffset: r.start, toOffset: r.end - 1, committed: offset }, 'commit in doubt resolved: committed again and processed here')
      } else if (offset > r.start) {
        r.count = Math.max(1, r.count - (offset - r.start))
        r.start = offset
      }
    }
  }

  /** This member joined the group (a new generation) with `memberId` and `assignment`. */
  onJoin(memberId: string, assignment: Record<string, number[]>): void {
    const previous = this.member
    this.member = memberId
    this.joins++
    for (const r of this.live()) {
      if (r.member !== memberId || previous !== memberId) r.member = '' // removed from the group since: never "own" again
      if (!(assignment[r.topic] ?? []).includes(r.partition)) r.left = true
    }
  }

  /**
   * This member fetched the partition again and the batch starts at `firstOffset`. At or past a
   * range's end, having kept the partition and its member id since: written, lost. Before the end:
   * the range is read again; it stays until a commit covering it is acknowledged.
   */
  onFetch(topic: string, partition: number, firstOffset: string | number | undefined): void {
    if (firstOffset === undefined || this.ranges.size === 0) return
    const list = this.ranges.get(`${topic}|${partition}`)
    if (!list) return
    const fetched = Number(firstOffset)
    for (const r of [...list]) {
      if (fetched < r.end || r.left || r.member !== this.member || r.member === '') continue
      this.remove(r)
      this.lost(r, `fetched again from offset ${fetched}`)
    }
  }

  /**
   * The partitions may change owner (a rebalance, leaving the group, a crash): read the committed
   * offsets of every outstanding range. Resolutions run one after the other; the returned promise
   * settles when this one is done (it never rejects).
   */
  resolve(when: ResolveWhen, budgetMs = this.o.readBudgetMs): Promise<void> {
    const budget = Math.min(budgetMs, this.o.readBudgetMs)
    if (this.outstanding > 0) {
      this.chain = this.chain
        .then(() => this.resolveNow(when, budget))
        .catch((err: unknown) => {
          this.o.log.error({ error: (err as Error).message }, 'resolving the commits in doubt failed')
        })
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

  private async resolveNow(when: ResolveWhen, budgetMs: number): Promise<void> {
    const started = Date.now()
    const retryMs = this.o.retryMs ?? 500
    let lastError = ''
    while (this.outstanding > 0) {
      const byTopic = new Map<string, DoubtRange[]>()
      for (const r of this.live()) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r])
      for (const [topic, ranges] of byTopic) {
        let read: Awaited<ReturnType<ReadCommitted>>
        try {
          read = await this.o.read(topic)
        } catch (err) {
          lastError = (err as Error).message
          continue
        }
        for (const live of ranges) {
          if (!this.holds(live)) continue // resolved meanwhile (a commit acknowledged, a fetch)
          const c = read.committed.get(live.partition) ?? -1
          this.remove(live)
          // One of the merged commits written: the messages below it are lost, the rest not written.
          const inside = c > live.start && c < live.end && live.ends.includes(c)
          if (c < live.end && !inside) {
            this.o.log.info({ topic, partition: live.partition, fromOffset: live.start, toOffset: live.end - 1, committed: c, when }, 'commit in doubt resolved: not written, the next owner reads the messages')
            continue
          }
          const part = inside ? { ...live, end: c, ends: [c], count: Math.max(1, Math.min(live.count, c - live.start)) } : live
          const own = this.own(live, read.group)
          if (c <= live.end && own === true) this.lost(part, `the committed offset is ${inside ? 'the end of one of its commits' : 'its end'}, read while this member still held the partition (${when})`)
          else this.unknowable(part, `committed offset ${c} read ${c > live.end ? 'past the range' : `after ${own}`} (${when})`)
          if (inside) this.o.log.info({ topic, partition: live.partition, fromOffset: c, toOffset: live.end - 1, committed: c, when }, 'commit in doubt resolved: not written past the committed offset, the next owner reads the messages')
        }
      }
      if (this.outstanding === 0) return
      if (Date.now() - started >= budgetMs) break
      await new Promise((r) => setTimeout(r, retryMs))
    }
    for (const r of this.live()) {
      this.remove(r)
      this.unknowable(r, `the committed offset could not be read within ${budgetMs} ms (${when}): ${lastError}`)
    }
  }

  /**
   * Whether the partition of `r` could not have been owned by another member since the commit
   * failed, given the group as described after the offset was read: true, or why not.
   */
  private own(r: DoubtRange, group: GroupView): true | string {
    if (r.member === '') return 'this member had been removed from the group since (new member id)'
    if (r.left) return 'the partition had been assigned to another member since'
    if (!group.members.has(r.member)) return 'this member had been removed from the group (session expired)'
    const assignment = group.members.get(r.member)
    if (assignment === undefined) return true // a rebalance under way: nothing handed out to anyone yet
    return (assignment[r.topic] ?? []).includes(r.partition) ? true : 'the partition had been assigned to another member'
  }

  /** Shutdown: ranges still unresolved are counted in doubt. */
  close(): void {
    for (const r of this.live()) {
      this.remove(r)
      this.unknowable(r, 'the member left the group before the outcome could be confirmed')
    }
  }

  /** Whether `r` is still unresolved (it may have been resolved while a read was awaited). */
  private holds(r: DoubtRange): boolean {
    return this.ranges.get(`${r.topic}|${r.partition}`)?.includes(r) ?? false
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
