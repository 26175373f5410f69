/**
 * The chaos tally: from the producer's acknowledged ids and the handler's `consumed` lines of
 * every instance, what was processed twice and what was never processed.
 *
 *   produced    ids whose send the cluster acknowledged (acks=all)
 *   processed   distinct records (partition, offset) handed to the handler
 *   duplicates  deliveries of a record that had been handed to the handler before (any instance)
 *   lost        acknowledged ids never handed to the handler (counted after the final drain)
 *   bound       sum over the SIGKILLs of COMMIT_WINDOW x partitions the killed instance owned
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
  /** Ids present at more than one offset among the processed records (producer retries). */
  logDuplicates: number
  /** Processed ids the producer never saw acknowledged (a failed send that was written after all). */
  unacknowledgedProcessed: number
}

export function idOf(value: unknown): number | undefined {
  const seq = (value as { seq?: unknown } | null)?.seq
  return typeof seq === 'number' ? seq : undefined
}

export function tally(opts: { acked: ReadonlySet<number>; consumed: Iterable<Consumed>; kills: readonly Kill[]; window: number }): Tally {
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
  for (const id of opts.acked) if (!offsetsOfId.has(id)) lost++
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
    bound: opts.kills.reduce((n, k) => n + opts.window * k.partitions.length, 0),
    logDuplicates,
    unacknowledgedProcessed,
  }
}
