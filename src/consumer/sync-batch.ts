/**
 * COMMIT_MODE=sync: one fetched batch of one partition. Builds the commit gate (the rule,
 * at-most-once.ts) with the partition's message runner, lets the dispatcher (dispatcher.ts) hand
 * the covered messages over, resolves the finished prefix for kafkajs, and logs and counts every
 * committed message that is dropped at the shutdown deadline: nothing silently disappears. (Held
 * messages, committed while the circuit breaker opened, stay at risk: partitions.ts loseHeld()
 * counts them if they can no longer be processed here.)
 */
import type { MessageRunner } from '../message/process.ts'
import { CommitGate } from './at-most-once.ts'
import type { Batch } from './batch.ts'
import { dispatch } from './dispatcher.ts'

export async function consumeBatchSync(b: Batch, runner: MessageRunner): Promise<void> {
  const { messages, state: p } = b
  // Fetched again but already processed here: never handed over twice.
  let start = 0
  while (start < messages.length && Number(messages[start]!.offset) < p.next) start++
  const gate = new CommitGate(b, start, runner)

  const { end, finished } = await dispatch(b, gate, start)
  // kafkajs reads the resolved offset only for its next fetch of this partition, after the batch.
  if (end > 0) b.resolve(messages[end - 1]!.offset)

  // A commit may still be in flight: if it is acknowledged, its messages are ours.
  await gate.settle()
  // Committed but not processed past the shutdown deadline: each one is logged and counted.
  // (Otherwise what is committed and not processed is held by the circuit breaker: it stays at
  // risk, and is fetched again from the resolved offset.)
  if (b.deadline.aborted) {
    for (let k = end; k < gate.covered; k++) {
      if (!finished(k)) b.drop(messages[k]!)
    }
  }
  p.atRisk.flush()
  p.setLag(b.highWatermark)
}
