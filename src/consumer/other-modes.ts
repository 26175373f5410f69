/**
 * The two comparison modes. Neither is at-most-once under failure; both exist so the trade-off
 * can be measured (see README, "Delivery semantics").
 *
 * async: the commit of offset + 1 is SENT before the message is processed, but not awaited.
 *        A commit that fails after the message was processed can re-deliver it (a duplicate).
 * auto:  kafkajs commits the processed position every AUTO_COMMIT_INTERVAL_MS: a crash
 *        re-delivers everything processed since the last commit (at-least-once in practice).
 *
 * kafkajs' resolveOffset does 64-bit string arithmetic, so it is called once per run of
 * messages (before every wait and at the end), not per message; only the highest one matters.
 */
import type { BatchContext } from './at-most-once.ts'

export async function consumeBatchAsync(b: BatchContext): Promise<void> {
  const { messages, position } = b
  let unresolved: string | undefined
  for (const message of messages) {
    const offset = Number(message.offset)
    if (offset < position.next) {
      unresolved = message.offset
      continue
    }
    if (!b.mayCommit() || b.deadline.aborted) break
    b.committer.request(offset + 1, b.commit) // sent, not awaited
    const result = b.process(message)
    const outcome = typeof result === 'string' ? result : await result
    unresolved = message.offset
    position.next = offset + 1
    if (outcome === 'abandoned') break
  }
  if (unresolved !== undefined) b.resolve(unresolved)
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - position.next))
}

export async function consumeBatchAuto(b: BatchContext, commitIfNecessary: () => Promise<void>): Promise<void> {
  const { messages, position } = b
  let unresolved: string | undefined
  for (const message of messages) {
    const offset = Number(message.offset)
    if (offset < position.next) {
      unresolved = message.offset
      continue
    }
    if (!b.mayCommit() || b.deadline.aborted) break
    const result = b.process(message)
    const outcome = typeof result === 'string' ? result : await result
    unresolved = message.offset // kafkajs commits resolved offsets on its interval
    position.next = offset + 1
    b.committer.noteProcessed(offset + 1)
    if (outcome === 'abandoned') break
  }
  if (unresolved !== undefined) b.resolve(unresolved)
  await commitIfNecessary()
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - position.next))
}
