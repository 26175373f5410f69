/**
 * COMMIT_MODE=sync: one fetched batch of one partition, through the commit gate (the rule,
 * at-most-once.ts) and the executor of the configured ORDERING. Resolves the finished prefix
 * for kafkajs, and logs and counts every committed message that is dropped at the shutdown
 * deadline: nothing silently disappears.
 */
import type { BatchContext } from './batch-context.ts'
import { CommitGate } from './at-most-once.ts'
import { runKeyed } from './keyed-executor.ts'
import { runSerial } from './serial-executor.ts'

export async function consumeBatchSync(b: BatchContext): Promise<void> {
  const { messages, position } = b
  const offsets = messages.map((m) => Number(m.offset))
  // Fetched again but already ours and processed: never handed over twice.
  let start = 0
  while (start < offsets.length && offsets[start]! < position.next) start++
  const gate = new CommitGate(offsets, start, b.committer, b.commit, b.window, b.mayCommit, b.metrics.atRisk)

  let end: number
  let finished: (k: number) => boolean
  if (b.ordering === 'partition') {
    end = await runSerial(b, gate, start)
    finished = (k) => k < end
  } else {
    ;({ end, finished } = await runKeyed(b, gate, start, b.ordering === 'key'))
  }
  // kafkajs reads the resolved offset only for its next fetch of this partition, after the batch.
  if (end > 0) b.resolve(messages[end - 1]!.offset)

  // A commit may still be in flight: if it is acknowledged, its messages are ours.
  await gate.settle()
  // Committed but not processed: only possible past the shutdown deadline. Each one is logged
  // and counted.
  for (let k = end; k < gate.covered; k++) {
    if (finished(k)) continue
    b.metrics.atRisk.dec()
    b.drop(messages[k]!)
  }
  b.metrics.lag.set(Math.max(0, Number(b.highWatermark) - position.next))
}
