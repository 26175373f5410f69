/**
 * THE UNGATED PATH: COMMIT_MODE=async and auto hand messages to the handler WITHOUT the commit
 * gate of at-most-once.ts. They give up the at-most-once rule, knowingly (both warn at start); they
 * exist so that its cost can be measured (docs/design.md, "The three commit modes").
 *
 * async: the commit of offset + 1 is SENT before the message is processed, but not awaited.
 *        A commit that fails after the message was processed can re-deliver it (a duplicate).
 * auto:  kafkajs commits the processed position every AUTO_COMMIT_INTERVAL_MS: a crash
 *        re-delivers everything processed since the last commit (at-least-once in practice).
 *
 * Both process in offset order, one message at a time per partition, under MAX_IN_FLIGHT and the
 * circuit breaker: while it is open the batch stops before the next message (nothing asked to be
 * committed for it: it is fetched again later); half-open, one trial call in the process.
 * kafkajs' resolveOffset does 64-bit string arithmetic, so it is called once per run of messages
 * (at the end), not per message; only the highest one matters.
 */
import type { MessageRunner } from '../message/process.ts'
import { HEARTBEAT_CHECK_MS, type Batch } from './batch.ts'

/** Whether the next message may start: the breaker closed, or this one is the half-open trial; waits for the trial's outcome. */
async function admitted(b: Batch): Promise<boolean> {
  const { breaker } = b
  while (!breaker.closed && !breaker.admit()) {
    if (breaker.state === 'open' || !b.active() || b.deadline.aborted) return false
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, HEARTBEAT_CHECK_MS)
      const unlisten = breaker.onChange(done)
      function done(): void {
        clearTimeout(timer)
        unlisten()
        resolve()
      }
    })
    const beating = b.heartbeat()
    if (beating) await beating
  }
  return true
}

/** Process the batch in order; `before`/`after` run around each message handed to the handler. */
async function consumeUngated(b: Batch, runner: MessageRunner, before: (next: number) => void, after: (next: number) => void): Promise<void> {
  const { messages, state: p, limiter } = b
  let unresolved: string | undefined
  for (const message of messages) {
    const offset = Number(message.offset)
    if (offset < p.next) {
      unresolved = message.offset // fetched again, processed already
      continue
    }
    if (!b.active() || b.deadline.aborted) break
    if (!b.breaker.closed && !(await admitted(b))) break
    before(offset + 1)
    if (!limiter.tryAcquire()) await limiter.acquire()
    let outcome
    try {
      const result = runner.run(message) // ungated: no commit is awaited first
      outcome = typeof result === 'string' ? result : await result
    } finally {
      limiter.release()
    }
    unresolved = message.offset
    p.next = offset + 1
    after(offset + 1)
    if (outcome === 'abandoned') break
    const beating = b.heartbeat()
    if (beating) await beating
  }
  if (unresolved !== undefined) b.resolve(unresolved)
  p.setLag(b.highWatermark)
}

export function consumeBatchAsync(b: Batch, runner: MessageRunner): Promise<void> {
  return consumeUngated(
    b,
    runner,
    (next) => b.state.ungated.want(next), // sent, not awaited
    () => undefined,
  )
}

export async function consumeBatchAuto(b: Batch, runner: MessageRunner, commitIfNecessary: () => Promise<void>): Promise<void> {
  await consumeUngated(
    b,
    runner,
    () => undefined,
    (next) => b.state.ungated.processed(next), // kafkajs commits resolved offsets on its interval
  )
  await commitIfNecessary()
}
