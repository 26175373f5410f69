/**
 * The key-order check of an ORDERING=key chaos run, from the `consumed` lines of every instance
 * (harness/chaos/slow-handler.mjs logs the key, when the call started, and, as the line's time,
 * when it ended): per partition and key, across instances, the calls sorted by start must have
 * rising offsets (else: out of order) and each must start after the previous one ended (else: two
 * calls of one key at once, on one member or on two).
 */
export interface KeyedCall {
  partition: number
  offset: string
  key?: unknown
  startedAt?: unknown
  time?: unknown
}

export interface KeyOrder {
  /** Distinct (partition, key) pairs seen. */
  keys: number
  /** Calls whose offset is below that of an earlier-started call of the same key. */
  outOfOrder: number
  /** Calls that started before the previous call of the same key ended. */
  overlaps: number
  /** Calls without the fields the check needs (must be 0: the handler logs them all). */
  unchecked: number
}

export function keyOrder(calls: Iterable<KeyedCall>): KeyOrder {
  const byKey = new Map<string, Array<{ offset: number; start: number; end: number }>>()
  let unchecked = 0
  for (const c of calls) {
    if (typeof c.key !== 'string' || typeof c.startedAt !== 'number' || typeof c.time !== 'number') {
      unchecked++
      continue
    }
    const k = `${c.partition}|${c.key}`
    let list = byKey.get(k)
    if (!list) byKey.set(k, (list = []))
    list.push({ offset: Number(c.offset), start: c.startedAt, end: c.time })
  }
  let outOfOrder = 0
  let overlaps = 0
  for (const list of byKey.values()) {
    list.sort((a, b) => a.start - b.start || a.offset - b.offset)
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.offset <= list[i - 1]!.offset) outOfOrder++
      if (list[i]!.start < list[i - 1]!.end) overlaps++
    }
  }
  return { keys: byKey.size, outOfOrder, overlaps, unchecked }
}
