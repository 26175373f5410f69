/**
 * The loss ledger's store: per partition, the ranges of messages whose OffsetCommit failed in a
 * way that may have been written (commit-errors.ts), not resolved yet. Overlapping ranges of a
 * partition merge (a range is never counted twice). Each range remembers the member id this member
 * had when the commit failed, and whether the partition left its assignment since: what the judge
 * (judge.ts) needs to know whether another member could have owned it meanwhile.
 */
import { partitionKey, type Assignment } from '../partitions.ts'

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
  /** The member id when recorded; '' once this member was removed from the group since (a new member id). */
  member: string
  /** The partition left this member's assignment since (another member may have owned it). */
  left: boolean
}

export class DoubtRanges {
  private readonly byPartition = new Map<string, DoubtRange[]>()

  /** Ranges not resolved yet. */
  get outstanding(): number {
    let n = 0
    for (const list of this.byPartition.values()) n += list.length
    return n
  }

  /** The ranges not resolved yet, themselves: a snapshot, so that resolving one while iterating is safe. */
  live(): DoubtRange[] {
    return [...this.byPartition.values()].flat()
  }

  /** The unresolved ranges of one partition (a snapshot). */
  of(topic: string, partition: number): DoubtRange[] {
    return [...(this.byPartition.get(partitionKey(topic, partition)) ?? [])]
  }

  /**
   * Keep a failed commit of `end` covering `count` messages from `start`, recorded by `member`. An
   * overlapping range of the same partition is merged with it. Returns the range as now kept.
   */
  record(topic: string, partition: number, start: number, end: number, count: number, error: string, member: string): DoubtRange | undefined {
    if (count <= 0 || end <= start) return undefined
    const key = partitionKey(topic, partition)
    const list = this.byPartition.get(key) ?? []
    const overlap = list.find((r) => r.start < end && start < r.end)
    if (overlap) {
      const lo = Math.min(overlap.start, start)
      const hi = Math.max(overlap.end, end)
      overlap.count = Math.min(hi - lo, overlap.count + count)
      overlap.start = lo
      overlap.end = hi
      overlap.ends.push(end)
      overlap.error = error
      this.byPartition.set(key, list)
      return overlap
    }
    const range: DoubtRange = { topic, partition, start, end, ends: [end], count, error, member, left: false }
    list.push(range)
    this.byPartition.set(key, list)
    return range
  }

  /**
   * A commit of `offset` by this member was acknowledged: the ranges it covers whole are processed
   * here (removed and returned); one it covers in part keeps only its rest.
   */
  acknowledged(topic: string, partition: number, offset: number): DoubtRange[] {
    const resolved: DoubtRange[] = []
    for (const r of this.of(topic, partition)) {
      if (offset >= r.end) {
        this.remove(r)
        resolved.push(r)
      } else if (offset > r.start) {
        r.count = Math.max(1, r.count - (offset - r.start))
        r.start = offset
      }
    }
    return resolved
  }

  /**
   * This member joined a new generation as `memberId` (after `previous`) with `assignment`. A range
   * of another member id, or any range when the id changed, can never be "own" again; a range whose
   * partition is not in the assignment has left this member.
   */
  joined(previous: string, memberId: string, assignment: Assignment): void {
    for (const r of this.live()) {
      if (r.member !== memberId || previous !== memberId) r.member = ''
      if (!(assignment[r.topic] ?? []).includes(r.partition)) r.left = true
    }
  }

  /** Whether `r` is still unresolved (it may have been resolved while a read was awaited). */
  holds(r: DoubtRange): boolean {
    return this.byPartition.get(partitionKey(r.topic, r.partition))?.includes(r) ?? false
  }

  remove(r: DoubtRange): void {
    const key = partitionKey(r.topic, r.partition)
    const list = (this.byPartition.get(key) ?? []).filter((x) => x !== r)
    if (list.length) this.byPartition.set(key, list)
    else this.byPartition.delete(key)
  }
}
