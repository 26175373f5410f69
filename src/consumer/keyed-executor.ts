/**
 * ORDERING=key and ORDERING=unordered: covered messages of a partition run concurrently.
 *
 * key: messages with the same key are handed over in offset order, one at a time (a key's next
 *   message starts when the previous one finished); different keys run at once. Messages
 *   without a key (null) count as one key of their own: they keep their relative order, as
 *   under ORDERING=partition, because nothing says they may be reordered. Use `unordered` for
 *   keyless topics whose messages are independent.
 * unordered: every covered message may start at once.
 *
 * In both, a message starts only when the gate says it is covered (at-most-once.ts), and the
 * process-wide cap (MAX_IN_FLIGHT) has a free slot. The batch returns only when every message
 * it started has finished, so a partition is never given up (kafkajs rejoins only after every
 * batch of the fetch returned) with a handler call of it still running, and a key never runs
 * on two members at once.
 */
import type { BatchContext } from './batch-context.ts'
import { HEARTBEAT_CHECK_MS } from './batch-context.ts'
import type { CommitGate } from './at-most-once.ts'

/** The key of messages without one: a value no Buffer key can take. */
const NO_KEY = Symbol('no key')
type KeyId = string | symbol

// state per message: 0 not started
const RUNNING = 1
const FINISHED = 2

export interface KeyedResult {
  /** The first message not finished: [0, end) are all finished (or were skipped). */
  end: number
  /** Whether message k finished (also past `end`). */
  finished: (k: number) => boolean
}

export async function runKeyed(b: BatchContext, gate: CommitGate, start: number, byKey: boolean): Promise<KeyedResult> {
  const { messages, position, limiter } = b
  const atRisk = b.metrics.atRisk
  const n = messages.length
  const state = new Uint8Array(n)
  for (let k = 0; k < start; k++) state[k] = FINISHED

  let low = start // the lowest message not finished
  let next = start // messages[start, next) were routed to `ready` or `waiting`
  const ready: number[] = [] // covered, key free: may start as soon as a slot is free
  let readyHead = 0
  const waiting = new Map<KeyId, number[]>() // covered, behind an earlier message of the same key
  const busyKeys = new Set<KeyId>() // keys with a message ready or running
  let running = 0
  let granted = 0 // slots handed to this batch by the limiter, not used yet
  let slotWanted = false
  let returned = false
  let lastBeat = Date.now()
  let unflushed = 0 // finished messages not yet subtracted from the at-risk gauge
  const flushGauge = (): void => {
    if (unflushed > 0) {
      atRisk.dec(unflushed)
      unflushed = 0
    }
  }
  gate.beforeCovered = flushGauge

  let wake: (() => void) | undefined
  const signal = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }

  const keys: KeyId[] = [] // keys[k]: message k's key, decoded once when it is routed (key order only)
  const keyOf = (k: number): KeyId => {
    const key = messages[k]!.key
    return key === null || key === undefined ? NO_KEY : key.toString('latin1')
  }

  /** Route newly covered messages: ready when their key is free, else behind it. */
  const route = (): void => {
    while (next < gate.covered) {
      const k = next++
      if (!byKey) {
        ready.push(k)
        continue
      }
      const key = keyOf(k)
      keys[k] = key
      if (busyKeys.has(key)) {
        const q = waiting.get(key)
        if (q) q.push(k)
        else waiting.set(key, [k])
      } else {
        busyKeys.add(key)
        ready.push(k)
      }
    }
  }

  const finish = (k: number): void => {
    state[k] = FINISHED
    running--
    unflushed++
    limiter.release()
    if (byKey) {
      const key = keys[k]!
      const q = waiting.get(key)
      if (q && q.length > 0) {
        ready.push(q.shift()!)
        if (q.length === 0) waiting.delete(key)
      } else busyKeys.delete(key)
    }
    if (k === low) {
      while (low < n && state[low] === FINISHED) low++
      position.next = gate.offsets[low - 1]! + 1
    }
    signal()
  }

  const start1 = (k: number): void => {
    gate.assertMayStart(k) // THE RULE (at-most-once.ts), checked right before the handler call
    state[k] = RUNNING
    running++
    const result = b.process(messages[k]!)
    if (typeof result === 'string') finish(k)
    else result.then(() => finish(k), () => finish(k))
  }

  b.deadline.addEventListener('abort', signal)
  for (;;) {
    route()
    // Start what may start. Past the shutdown deadline nothing new starts (the covered rest is dropped).
    while (readyHead < ready.length && !b.deadline.aborted) {
      if (granted > 0) granted--
      else if (!limiter.tryAcquire()) {
        if (!slotWanted) {
          slotWanted = true
          void limiter.acquire().then(() => {
            slotWanted = false
            if (returned) limiter.release() // granted after the batch returned: pass it on
            else {
              granted++
              signal()
            }
          })
        }
        break
      }
      start1(ready[readyHead++]!)
    }
    if (readyHead > 1024 && readyHead * 2 > ready.length) {
      ready.splice(0, readyHead)
      readyHead = 0
    }
    if (low >= n) break

    // The next window: when nothing covered is left to start, or a quarter of a window can be
    // added (fewer, larger commits); never more than COMMIT_WINDOW past the lowest unfinished message.
    const queued = ready.length - readyHead
    const room = gate.room(low)
    if (gate.canSend && room > 0 && !b.deadline.aborted && (running + queued === 0 || room * 4 >= gate.window)) {
      void gate.send(low).then(signal)
    }
    if (running === 0 && queued === 0 && low >= gate.covered && !gate.busy) {
      // Everything covered is finished and no new window can be sent (a failed commit, shutdown,
      // revocation or the deadline): the rest is fetched again.
      if (!gate.canSend || b.deadline.aborted) break
    }
    if (running === 0 && b.deadline.aborted) break

    if (Date.now() - lastBeat >= HEARTBEAT_CHECK_MS) {
      lastBeat = Date.now()
      flushGauge()
      await b.heartbeat()
      continue
    }
    flushGauge()
    await new Promise<void>((resolve) => {
      wake = resolve
    })
  }
  b.deadline.removeEventListener('abort', signal)
  // A slot granted but not used goes back (or on to the next waiter).
  returned = true
  for (; granted > 0; granted--) limiter.release()
  flushGauge()
  return { end: low, finished: (k) => state[k] === FINISHED }
}
