/**
 * The chaos tally: from the producer's acknowledged ids and the handler's `consumed` lines of
 * every instance, what was processed twice and what was never processed.
 *
 *   produced    ids whose send the cluster acknowledged (acks=all)
 *   processed   distinct records (partition, offset) handed to the handler
 *   duplicates  deliveries of a record that had been handed to the handler before (any instance)
 *   lost        acknowledged ids never handed to the handler (counted after the final drain)
 *   bound       COMMIT_WINDOW x (partitions each SIGKILLed instance owned, summed over the kills
 *               + all partitions x coordinator faults)
 *
 * Why coordinator faults count: when the group's coordinator dies, freezes or moves (a leader
 * election) with a commit in flight, the service sees the commit fail (connection lost,
 * NOT_COORDINATOR) and does not process the messages it covered — but the commit may have been
 * written and replicated all the same, and the group then resumes past those messages. At most
 * one commit per partition is in flight, covering at most COMMIT_WINDOW messages, so such a fault
 * can lose at most COMMIT_WINDOW per partition. Seen on Apache Kafka (docs/chaos.md); never a
 * duplicate.
 *
 * Duplicates are counted per record, not per id: a producer retry after a timeout can write the
 * same id at two offsets (two records, each processed once is no duplicate of the consumer's);
 * those are counted apart as `logDuplicates`.
 */
import type { Kill } from './fleet.ts'

export interface Consumed {
  partition: number
  offset: string
  value: unknown
}

export interface Tally {
  produced: number
  processed: number
  duplicates: number
  lost: number
  bound: number
  /** The part of the bound due to instance SIGKILLs. */
  boundKills: number
  /** The part of the bound due to coordinator faults (commits in flight whose outcome is unknown). */
  boundCoordinator: number
  /** Ids present at more than one offset among the processed records (producer retries). */
  logDuplicates: number
  /** Processed ids the producer never saw acknowledged (a failed send that was written after all). */
  unacknowledgedProcessed: number
  /** Lost ids per partition (partition -> count). */
  lostByPartition: Record<number, number>
  /**
   * Offsets never processed (gaps below the highest processed offset of their partition) that a
   * commit the service saw FAIL had covered: the service said they would be fetched again, and
   * the group moved past them, so that commit had been written after all.
   */
  gapsAfterFailedCommit: number
  /** Offsets never processed below the highest processed offset of their partition. */
  gaps: number
  /** Lost ids on partitions no killed instance owned (coordinator faults: commits written whose answer never came). */
  lostElsewhere: number
  /**
   * The loss ledger (sync): records never processed — offsets below the partition's end offset
   * that no instance handed to the handler — outside what the SIGKILLs took (the unprocessed run of
   * offsets right after the last record a killed instance processed on a partition it owned).
   * This is the loss the instances that were not SIGKILLed must have counted.
   */
  measuredLoss: number
  /** Records never processed that the SIGKILLs took (not countable by the dead process). */
  killLoss: number
  /** What the instances not SIGKILLed counted lost (consumer_messages_lost_total, every reason, from their warn lines). */
  counted: number
  /** What they counted in doubt (consumer_messages_in_doubt_total, from their warn lines). */
  inDoubt: number
  /** counted <= measuredLoss <= counted + inDoubt: every loss counted (and equal when nothing stayed in doubt). */
  ledgerOk: boolean
}

export function idOf(value: unknown): number | undefined {
  const seq = (value as { seq?: unknown } | null)?.seq
  return typeof seq === 'number' ? seq : undefined
}

export function tally(opts: {
  acked: ReadonlySet<number>
  consumed: Iterable<Consumed>
  kills: readonly Kill[]
  /** Faults of the group coordinator's node (SIGKILL, SIGSTOP) during the run. */
  coordinatorFaults: number
  partitions: number
  window: number
  /** The partition an id was sent to. */
  partitionOf: (id: number) => number
  /** Commits the service logged as failed: partition and target offset (the next offset to read). */
  failedCommits?: Iterable<{ partition: number; offset: number }>
  /** Each partition's end offset after the drain (records below it were all in the log). */
  ends?: ReadonlyMap<number, number>
  /** When each record was first processed ("partition|offset" -> ms), for the SIGKILLs' share. */
  processedAt?: ReadonlyMap<string, number>
  /** Loss counted by the instances that were not SIGKILLed: lost and in doubt. */
  ledger?: { counted: number; inDoubt: number }
}): Tally {
  const deliveries = new Map<string, number>() // record -> times handed to the handler
  const offsetsOfId = new Map<number, Set<string>>()
  for (const c of opts.consumed) {
    const record = `${c.partition}|${c.offset}`
    deliveries.set(record, (deliveries.get(record) ?? 0) + 1)
    const id = idOf(c.value)
    if (id === undefined) continue
    let set = offsetsOfId.get(id)
    if (!set) offsetsOfId.set(id, (set = new Set()))
    set.add(record)
  }
  let duplicates = 0
  for (const n of deliveries.values()) duplicates += n - 1
  let lost = 0
  const lostByPartition: Record<number, number> = {}
  for (const id of opts.acked) {
    if (offsetsOfId.has(id)) continue
    lost++
    const p = opts.partitionOf(id)
    lostByPartition[p] = (lostByPartition[p] ?? 0) + 1
  }
  // Gaps: offsets below a partition's highest processed offset that were never processed.
  const processedOffsets = new Map<number, Set<number>>()
  for (const record of deliveries.keys()) {
    const [p, o] = record.split('|').map(Number) as [number, number]
    let set = processedOffsets.get(p)
    if (!set) processedOffsets.set(p, (set = new Set()))
    set.add(o)
  }
  const failedTargets = new Map<number, number[]>()
  for (const f of opts.failedCommits ?? []) failedTargets.set(f.partition, [...(failedTargets.get(f.partition) ?? []), f.offset])
  let gaps = 0
  let gapsAfterFailedCommit = 0
  for (const [p, set] of processedOffsets) {
    const max = Math.max(...set)
    const targets = failedTargets.get(p) ?? []
    for (let o = Math.min(...set); o < max; o++) {
      if (set.has(o)) continue
      gaps++
      if (targets.some((t) => o < t && o >= t - opts.window)) gapsAfterFailedCommit++
    }
  }
  const boundKills = opts.kills.reduce((n, k) => n + opts.window * k.partitions.length, 0)
  const boundCoordinator = opts.window * opts.partitions * opts.coordinatorFaults
  const killed = new Set(opts.kills.flatMap((k) => k.partitions))
  const lostElsewhere = Object.entries(lostByPartition).reduce((n, [p, c]) => (killed.has(Number(p)) ? n : n + c), 0)
  // The ledger: every record below a partition's end offset never processed, minus the SIGKILLs'
  // share. A SIGKILL loses, on each partition the instance owned, what its last acknowledged
  // commit covered and it had not processed: the run of never-processed offsets right after the
  // highest offset of that partition processed (by anyone) before the kill.
  let measuredLoss = 0
  let killLoss = 0
  const byKill = new Set<string>()
  for (const k of opts.kills) {
    for (const p of k.partitions) {
      const set = processedOffsets.get(p) ?? new Set<number>()
      let last = -1
      for (const o of set) {
        const t = opts.processedAt?.get(`${p}|${o}`) ?? 0
        if (o > last && (k.at === undefined || t <= k.at)) last = o
      }
      const end = opts.ends?.get(p) ?? 0
      for (let o = last + 1; o < end && !set.has(o); o++) byKill.add(`${p}|${o}`)
    }
  }
  for (const [p, end] of opts.ends ?? new Map<number, number>()) {
    const set = processedOffsets.get(p) ?? new Set<number>()
    for (let o = 0; o < end; o++) {
      if (set.has(o)) continue
      if (byKill.has(`${p}|${o}`)) killLoss++
      else measuredLoss++
    }
  }
  const counted = opts.ledger?.counted ?? 0
  const inDoubt = opts.ledger?.inDoubt ?? 0
  let logDuplicates = 0
  let unacknowledgedProcessed = 0
  for (const [id, records] of offsetsOfId) {
    logDuplicates += records.size - 1
    if (!opts.acked.has(id)) unacknowledgedProcessed++
  }
  return {
    produced: opts.acked.size,
    processed: deliveries.size,
    duplicates,
    lost,
    bound: boundKills + boundCoordinator,
    boundKills,
    boundCoordinator,
    logDuplicates,
    unacknowledgedProcessed,
    lostByPartition,
    lostElsewhere,
    gaps,
    gapsAfterFailedCommit,
    measuredLoss,
    killLoss,
    counted,
    inDoubt,
    ledgerOk: counted <= measuredLoss && measuredLoss <= counted + inDoubt,
  }
}
