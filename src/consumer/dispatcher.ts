/**
 * The dispatcher (COMMIT_MODE=sync), one for every ORDERING: hands the covered messages of one
 * fetched batch to the handler through the commit gate, and sends the next commit window.
 *
 *  - Order: a shard per message (shards.ts): the partition for ORDERING=partition, the key for
 *    key, each message its own for unordered. One call in flight per shard; different shards at
 *    once.
 *  - The rule: a message is routed only once the gate says it is covered, and started only
 *    through `gate.start(k)`, which checks the rule again and calls the handler (at-most-once.ts).
 *    The dispatcher never holds the handler.
 *  - MAX_IN_FLIGHT: every call takes a slot of the process-wide limiter (in-flight.ts).
 *  - The window: sent when the window policy says (window-policy.ts); what it covers is the gate's.
 *  - The at-risk gauge: the partition's (partitions.ts AtRisk), flushed before every wait.
 *  - Heartbeats: offered to kafkajs at most every HEARTBEAT_CHECK_MS (batch.ts) whenever the
 *    dispatcher wakes (a call finished, a commit answered, a slot freed). Not while a handler call
 *    alone is awaited: a handler longer than the session timeout gets the member removed (and the
 *    next commit refused), as docs/design.md says.
 *  - Shutdown: past the deadline nothing new starts; the batch returns once every call it started
 *    has finished (or was abandoned), so a partition is never given up with a call of it running
 *    (kafkajs rejoins only after every batch of its fetch returned) and a key never runs on two
 *    members at once.
 *  - The circuit breaker (breaker.ts): while it is open nothing starts and no window is sent; the
 *    batch returns once its running calls finished, leaving the covered rest HELD (committed, at
 *    risk, resolved for kafkajs only up to the finished prefix: fetched again when the breaker
 *    closes, and then the first to run). Half-open: one trial call in the whole process; the
 *    batch waits, offering heartbeats, for the trial's outcome.
 *
 * A synchronous handler (one that returns without a promise) costs no await per message: the
 * covered messages run back to back, and an early window is sent from inside that run.
 */
import type { Batch } from './batch.ts'
import { HEARTBEAT_CHECK_MS } from './batch.ts'
import type { CommitGate } from './at-most-once.ts'
import { shardsFor } from './shards.ts'
import { windowDue } from './window-policy.ts'

// status per message: 0 not started
const RUNNING = 1
const FINISHED = 2

export interface Dispatched {
  /** The first message not finished: [0, end) are all finished (or were skipped). */
  end: number
  /** Whether message k finished (also past `end`). */
  finished(k: number): boolean
}

/** Hand messages[start, n) of the batch to the handler as the rule, the ordering and the cap allow. */
export async function dispatch(b: Batch, gate: CommitGate, start: number): Promise<Dispatched> {
  const { messages, limiter, deadline, state: p, breaker } = b
  const n = messages.length
  const shards = shardsFor(b.ordering, messages)
  const status = new Uint8Array(n)
  for (let k = 0; k < start; k++) status[k] = FINISHED

  let low = start // the lowest message not finished
  let routed = start // messages[start, routed) were added to the shards
  let running = 0
  let granted = 0 // slots handed to this batch by the limiter, not used yet
  let slotWanted = false
  let returned = false
  // One call at a time is timed: the handler-duration estimate of the window policy.
  let timed = -1
  let timedAt = 0

  let wake: (() => void) | undefined
  /** Wake the loop now (a commit answered, a slot granted, the deadline, the breaker). */
  const signal = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  // A finished call wakes the loop once per turn of the event loop, not once per call: calls that
  // end together (timers expiring in the same phase) are taken in one pass.
  let soon = false
  const wakeSoon = (): void => {
    soon = false
    signal()
  }
  const signalSoon = (): void => {
    if (soon || wake === undefined) return
    soon = true
    setImmediate(wakeSoon)
  }

  const finish = (k: number): void => {
    status[k] = FINISHED
    running--
    p.atRisk.finished()
    limiter.release()
    shards.done(k)
    if (k === timed) {
      const ms = performance.now() - timedAt
      p.perMessageMs = p.perMessageMs === 0 ? ms : p.perMessageMs * 0.7 + ms * 0.3
      timed = -1
    }
    if (k === low) {
      while (low < n && status[low] === FINISHED) low++
      p.next = gate.offsets[low - 1]! + 1
    }
    signalSoon()
  }

  const ended = (_outcome: unknown, k: number): void => finish(k)

  const begin = (k: number): void => {
    status[k] = RUNNING
    running++
    if (timed < 0) {
      timed = k
      timedAt = performance.now()
    }
    // THE RULE is checked there, right before the handler call.
    if (gate.start(k, ended) !== undefined) finish(k)
  }

  const askSlot = (): void => {
    if (slotWanted) return
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

  /** The window policy, asked with this batch's counts; never past the deadline, nor while the breaker says no. */
  const sendDue = (): boolean =>
    !deadline.aborted &&
    windowDue({ room: gate.room(low), window: b.window, queued: shards.queued, running, perMessageMs: p.perMessageMs, rttMs: p.committer.rttMs }) &&
    gate.canSend &&
    (breaker.closed || breaker.maySend())

  const pause = async (what: Promise<unknown>): Promise<void> => {
    p.atRisk.flush()
    await what
  }

  deadline.addEventListener('abort', signal)
  const unlisten = breaker.onChange(signal)
  let parked: NodeJS.Timeout | undefined
  try {
    for (;;) {
      // Route what the acknowledged commit covers now.
      for (const covered = gate.covered; routed < covered; ) shards.add(routed++)

      // Start what may start: its shard free and a slot free. Nothing new past the shutdown deadline.
      while (shards.ready > 0 && !deadline.aborted) {
        if (breaker.state === 'open') break // held
        if (granted > 0) granted--
        else if (!limiter.tryAcquire()) {
          askSlot()
          break
        }
        if (!breaker.closed && !breaker.admit()) {
          limiter.release() // half-open, the trial taken elsewhere: held
          break
        }
        begin(shards.take())
        if (running > 0 || shards.ready === 0) continue
        // A synchronous run (the handler returned at once and more is ready). Send the next window
        // early when due, and let its request reach the socket (kafkajs writes it after a few
        // awaits) before the covered rest runs; keep the group session alive.
        if (sendDue()) {
          void gate.send(low).then(signal)
          await pause(new Promise<void>((resolve) => setImmediate(resolve)))
          for (const covered = gate.covered; routed < covered; ) shards.add(routed++)
        }
        const beating = b.heartbeat()
        if (beating) await pause(beating)
      }
      if (low >= n) break

      if (sendDue()) void gate.send(low).then(signal)
      if (!breaker.closed && running === 0) {
        // Held: the breaker is open, or this batch can no longer wait for the trial (shutdown, a
        // rebalance, the deadline). What is covered stays committed and at risk.
        if (breaker.state === 'open' || !b.active() || deadline.aborted) break
      }
      if (running === 0 && shards.queued === 0 && low >= gate.covered && !gate.busy) {
        // Everything covered is finished and no new window can be sent (a failed commit, shutdown,
        // revocation or the deadline): the rest is fetched again.
        if (!gate.canSend || deadline.aborted) break
      }
      if (running === 0 && deadline.aborted) break

      const beating = b.heartbeat()
      if (beating) {
        await pause(beating)
        continue
      }
      // Waiting for the half-open breaker's trial: wake to offer heartbeats meanwhile.
      if (!breaker.closed) parked = setTimeout(signal, HEARTBEAT_CHECK_MS)
      await pause(new Promise<void>((resolve) => (wake = resolve)))
      clearTimeout(parked)
    }
  } finally {
    clearTimeout(parked)
    unlisten()
    deadline.removeEventListener('abort', signal)
    // A slot granted but not used goes back (or on to the next waiter).
    returned = true
    for (; granted > 0; granted--) limiter.release()
    p.atRisk.flush()
  }
  return { end: low, finished: (k) => status[k] === FINISHED }
}
