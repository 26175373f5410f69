/**
 * ORDERING=partition: the partition's messages go to the handler one at a time, in offset
 * order. Starts only messages the gate says are covered (at-most-once.ts); pipelines the next
 * window's commit while the covered messages are processed (sent when the covered messages
 * left would take about one commit round trip to process).
 */
import type { BatchContext } from './batch-context.ts'
import { HEARTBEAT_CHECK_MS } from './batch-context.ts'
import { earlyCommitThreshold, type CommitGate } from './at-most-once.ts'

/** Process messages[start, n) of the batch in order; returns the index of the first message not finished. */
export async function runSerial(b: BatchContext, gate: CommitGate, start: number): Promise<number> {
  const { messages, position, limiter } = b
  const atRisk = b.metrics.atRisk
  const n = messages.length
  let i = start // the next message to process
  let lastBeat = Date.now()
  let busyMs = 0 // handler time since the last estimate
  let busyCount = 0
  // The at-risk gauge is decremented in bulk (a prom-client call per message costs a label hash):
  // `unflushed` processed messages are not subtracted yet. Flushed before every increment (the
  // gate's onCovered, so the gauge never reads above COMMIT_WINDOW), before every wait and at the end.
  let unflushed = 0
  const flushGauge = (): void => {
    if (unflushed > 0) {
      atRisk.dec(unflushed)
      unflushed = 0
    }
  }
  gate.beforeCovered = flushGauge

  while (i < n) {
    if (i >= gate.covered) {
      flushGauge()
      // Not covered by an acknowledged commit: the handler must not see it yet.
      if (gate.busy) {
        await gate.settle()
        continue
      }
      // A failed commit, shutdown or revocation: no NEW window. The rest is fetched again.
      if (!gate.canSend) break
      if (!(await gate.send(i))) break
      // Offer kafkajs a heartbeat every HEARTBEAT_CHECK_MS at most here too (it only sends one
      // when due; with COMMIT_WINDOW=1 an offer per window cost several promise hops per message).
      if (Date.now() - lastBeat >= HEARTBEAT_CHECK_MS) {
        lastBeat = Date.now()
        await b.heartbeat()
      }
      continue
    }

    // Covered: committed and acknowledged. Past the shutdown deadline it is dropped instead.
    if (b.deadline.aborted) break

    // Pipeline the next window's commit while this one is processed.
    if (gate.canSend && gate.covered - i <= earlyCommitThreshold(b.window, b.committer.rttMs, position.perMessageMs)) {
      void gate.send(i)
      // Let the request reach the socket now (kafkajs writes it after a few awaits): with a
      // synchronous handler the covered messages would otherwise run first, and the round trip
      // would no longer overlap their processing. One macrotask per window.
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (b.deadline.aborted) break
    }

    if (!limiter.tryAcquire()) {
      flushGauge()
      await limiter.acquire()
    }
    const started = busyCount === 0 ? performance.now() : 0
    if (started) busyMs = -started
    gate.assertMayStart(i) // THE RULE (at-most-once.ts), checked right before the handler call
    let outcome
    try {
      const result = b.process(messages[i]!)
      outcome = typeof result === 'string' ? result : await result
    } finally {
      limiter.release()
    }
    unflushed++
    position.next = gate.offsets[i]! + 1
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
    if (++busyCount >= b.window || i === gate.covered) {
      const per = (busyMs + performance.now()) / busyCount
      position.perMessageMs = position.perMessageMs === 0 ? per : position.perMessageMs * 0.7 + per * 0.3
      busyMs = 0
      busyCount = 0
    }
  }
  flushGauge()
  return i
}
