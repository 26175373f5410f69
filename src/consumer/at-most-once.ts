/**
 * THE AT-MOST-ONCE RULE (COMMIT_MODE=sync) lives in this file.
 *
 *   A message is handed to the handler only after the group coordinator has ACKNOWLEDGED a
 *   commit of an offset beyond it (offset + 1 or more).
 *
 * So a crash can lose a message (committed, not yet processed) but never process it twice.
 * COMMIT_WINDOW=N lets one commit cover the next N messages of the partition; at most N are
 * ever committed-but-unprocessed ("at risk"), counting from the message being processed when
 * the commit was sent. If a commit fails, the messages it would have covered are not
 * processed and are left unresolved, so kafkajs fetches them again.
 *
 * Pipelining: while the covered messages are processed, the commit for the next window may
 * already be in flight (one per partition, so acknowledgements stay in order). It is sent when
 * the covered messages left would take about one commit round trip to process; its target is
 * still at most N messages past the message being processed, so the bound above holds.
 */
import type { KafkaMessage } from 'kafkajs'
import type { PartitionCommitter, CommitFn } from './committer.ts'
import type { Outcome } from '../message/process.ts'
import type { PartitionMetrics } from '../metrics.ts'

/** What the batch loop needs from the consumer around it. */
export interface BatchContext {
  topic: string
  partition: number
  messages: KafkaMessage[]
  highWatermark: string
  committer: PartitionCommitter
  commit: CommitFn
  /** COMMIT_WINDOW. */
  window: number
  metrics: PartitionMetrics
  /** False once shutdown began or the partition is being revoked: no NEW window is committed. */
  mayCommit: () => boolean
  /** Aborted at the shutdown deadline. */
  deadline: AbortSignal
  /** May return the outcome synchronously (a synchronous handler): then no await per message. */
  process: (message: KafkaMessage) => Outcome | Promise<Outcome>
  /** Mark the message consumed for kafkajs (its next fetch starts after it). */
  resolve: (offset: string) => void
  /** kafkajs heartbeat; lets a rebalance surface while a long batch runs. */
  heartbeat: () => Promise<void>
  /** Per-partition position state shared with the other modes. */
  position: PartitionPosition
  /** Called for each committed message that is dropped at the shutdown deadline. */
  drop: (message: KafkaMessage) => void
}

/** Where processing of a partition stands. */
export interface PartitionPosition {
  /** The next offset to process; messages below it were processed (or skipped) already. */
  next: number
  /** Moving average of handler time per message, in ms (for the pipeline). */
  perMessageMs: number
}

/**
 * How many covered messages may remain when the next window's commit is sent early.
 * 0 when processing a whole window takes less than a round trip (then an early commit would
 * only shrink the window without hiding any latency), else about a round trip's worth of
 * messages, and never more than half the window.
 */
export function earlyCommitThreshold(window: number, rttMs: number, perMessageMs: number): number {
  if (window < 2 || perMessageMs <= 0 || window * perMessageMs < rttMs) return 0
  return Math.min(Math.floor(window / 2), Math.ceil(rttMs / perMessageMs))
}

/** How often a long batch offers kafkajs a heartbeat (kafkajs sends one when it is due). */
const HEARTBEAT_CHECK_MS = 1000

/** Consume one batch of one partition in strict at-most-once order. */
export async function consumeBatchSync(b: BatchContext): Promise<void> {
  const { messages, committer, position } = b
  const atRisk = b.metrics.atRisk
  const n = messages.length
  let i = 0 // the next message to process
  let covered = 0 // messages[i, covered) are committed (acknowledged) and not processed yet
  let failed = false // a commit failed: this batch commits nothing more
  let lastBeat = Date.now()
  let busyMs = 0 // handler time since the last estimate
  let busyCount = 0
  // The at-risk gauge is decremented in bulk (a prom-client call per message costs a label hash):
  // `unflushed` processed messages are not subtracted yet. It is flushed before every increment
  // (so the gauge never reads above COMMIT_WINDOW), before every wait and at the end of the batch.
  let unflushed = 0
  // kafkajs' resolveOffset does 64-bit string arithmetic (Long.fromString/add/toString) on every
  // call. Only the highest resolved offset matters, and kafkajs reads it only when it fetches this
  // partition again, which it does after every batch of the fetch has returned: so it is resolved
  // once, at the end of the batch (every way out of the loop passes there), as
  // eachBatchAutoResolve does. (With COMMIT_WINDOW=1 it used to be resolved before every wait,
  // i.e. once per message.)
  let unresolved: string | undefined
  const flushGauge = (): void => {
    if (unflushed > 0) {
      atRisk.dec(unflushed)
      unflushed = 0
    }
  }
  const flush = (): void => {
    flushGauge()
    if (unresolved !== undefined) {
      b.resolve(unresolved)
      unresolved = undefined
    }
  }

  /** Extend `covered` to every message below the acknowledged committed offset. */
  const advanceCovered = (): void => {
    while (covered < n && Number(messages[covered]!.offset) < committer.acked) covered++
  }
  /** Send the commit of the next window: at most `window` messages past message i. */
  const sendWindow = (): Promise<boolean> => {
    const end = Math.min(i + b.window, n)
    const target = Number(messages[end - 1]!.offset) + 1
    return committer.commit(target, end - covered, b.commit).then((ok) => {
      if (ok) {
        const was = covered
        advanceCovered()
        flushGauge()
        atRisk.inc(covered - was)
      } else {
        failed = true
      }
      return ok
    })
  }

  while (i < n) {
    const message = messages[i]!
    const offset = Number(message.offset)

    // Fetched again but already ours and processed (never hand it over twice).
    if (offset < position.next) {
      if (i < covered) unflushed++
      unresolved = message.offset
      i++
      if (covered < i) covered = i
      continue
    }

    if (i >= covered) {
      flushGauge()
      // Not covered by an acknowledged commit: the handler must not see it yet.
      if (committer.busy) {
        await committer.settle()
        advanceCovered()
        continue
      }
      // A failed commit, shutdown or revocation: no NEW window. The rest is fetched again.
      if (failed || !b.mayCommit()) break
      if (!(await sendWindow())) break
      // Offer kafkajs a heartbeat at most once a second here too (it only sends one when due;
      // with COMMIT_WINDOW=1 an offer per window cost several promise hops per message).
      if (Date.now() - lastBeat >= HEARTBEAT_CHECK_MS) {
        lastBeat = Date.now()
        await b.heartbeat()
      }
      continue
    }

    // Covered: committed and acknowledged. Past the shutdown deadline it is dropped instead.
    if (b.deadline.aborted) break

    // Pipeline the next window's commit while this one is processed.
    if (
      !committer.busy &&
      covered < n &&
      !failed &&
      covered - i <= earlyCommitThreshold(b.window, committer.rttMs, position.perMessageMs) &&
      b.mayCommit()
    ) {
      void sendWindow()
      // Let the request reach the socket now (kafkajs writes it after a few awaits): with a
      // synchronous handler the covered messages would otherwise run first, and the round trip
      // would no longer overlap their processing. One macrotask per window.
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (b.deadline.aborted) break
    }

    const started = busyCount === 0 ? performance.now() : 0
    if (started) busyMs = -started
    const result = b.process(message)
    const outcome = typeof result === 'string' ? result : await result
    unflushed++
    unresolved = message.offset
    position.next = offset + 1
    i++
    if (outcome === 'abandoned') break

    // Keep the group session alive through long batches (kafkajs only sends a heartbeat when
    // one is due; Date.now() costs tens of nanoseconds).
    if (Date.now() - lastBeat >= HEARTBEAT_CHECK_MS) {
      lastBeat = Date.now()
      flushGauge()
      await b.heartbeat()
    }

    // Handler time per message, estimated over runs of up to COMMIT_WINDOW messages (one clock
    // read per run, not per message).
    if (++busyCount >= b.window || i === covered) {
      const per = (busyMs + performance.now()) / busyCount
      position.perMessageMs = position.perMessageMs === 0 ? per : position.perMessageMs * 0.7 + per * 0.3
      busyMs = 0
      busyCount = 0
    }
  }
  flush()

  // A pipelined commit may still be in flight: if it is acknowledged, its messages are ours.
  if (committer.busy) {
    await committer.settle()
    advanceCovered()
  }
  // Committed but not processed: only possible past the shutdown deadline (or revocation by
  // deadline). Each one is logged and counted; nothing silently disappears.
  for (let k = i; k < covered; k++) {
    const m = messages[k]!
    if (Number(m.offset) < position.next) continue
    atRisk.dec()
    b.drop(m)
  }
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - position.next))
}
