/**
 * The two comparison modes. Neither is at-most-once under failure; both exist so the trade-off
 * can be measured (see docs/design.md, "The three commit modes").
 *
 * async: the commit of offset + 1 is SENT before the message is processed, but not awaited.
 *        A commit that fails after the message was processed can re-deliver it (a duplicate).
 * auto:  kafkajs commits the processed position every AUTO_COMMIT_INTERVAL_MS: a crash
 *        re-delivers everything processed since the last commit (at-least-once in practice).
 *
 * kafkajs' resolveOffset does 64-bit string arithmetic, so it is called once per run of
 * messages (at the end), not per message; only the highest one matters.
 */
import type { BatchContext } from './batch-context.ts'

/** Process the batch in order; `before`/`after` run around each message handed to the handler. */
async function consumeInOrder(b: BatchContext, before: (next: number) => void, after: (next: number) => void): Promise<void> {
  const { messages, position } = b
  let unresolved: string | undefined
  for (const message of messages) {
    const offset = Number(message.offset)
    if (offset < position.next) {
      unresolved = message.offset // fetched again, processed already
      continue
    }
    if (!b.mayCommit() || b.deadline.aborted) break
    before(offset + 1)
    if (!b.limiter.tryAcquire()) await b.limiter.acquire()
    let outcome
    try {
      const result = b.process(message)
      outcome = typeof result === 'string' ? result : await result
    } finally {
      b.limiter.release()
    }
    unresolved = message.offset
    position.next = offset + 1
    after(offset + 1)
    if (outcome === 'abandoned') break
  }
  if (unresolved !== undefined) b.resolve(unresolved)
}

export async function consumeBatchAsync(b: BatchContext): Promise<void> {
  await consumeInOrder(
    b,
    (next) => b.committer.request(next, b.commit), // sent, not awaited
    () => undefined,
  )
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - b.position.next))
}

export async function consumeBatchAuto(b: BatchContext, commitIfNecessary: () => Promise<void>): Promise<void> {
  await consumeInOrder(
    b,
    () => undefined,
    (next) => b.committer.noteProcessed(next), // kafkajs commits resolved offsets on its interval
  )
  await commitIfNecessary()
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - b.position.next))
}
