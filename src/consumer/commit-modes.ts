/**
 * The three commit modes (docs/design.md, "The three commit modes"), one object each: everything
 * that differs between them. The consumer takes its mode's object once (service.ts) and never
 * branches on COMMIT_MODE again.
 *
 * sync:  at-most-once. A message is processed only after a commit beyond it was acknowledged
 *        (the commit gate, at-most-once.ts). The default, and the only mode the product promises.
 * async: the commit is sent before the message is processed, not awaited (other-modes.ts).
 * auto:  kafkajs commits the processed position on its interval (other-modes.ts).
 * The last two exist so that the trade-off can be measured; neither is at-most-once under failure.
 */
import type { EachBatchPayload } from 'kafkajs'
import type { CommitMode } from '../config/schema.ts'
import type { BatchContext } from './batch-context.ts'
import { consumeBatchAsync, consumeBatchAuto } from './other-modes.ts'
import { consumeBatchSync } from './sync-batch.ts'

export interface CommitModeBehaviour {
  readonly name: CommitMode
  /** One fetched batch of one partition. */
  consumeBatch(b: BatchContext, payload: EachBatchPayload): Promise<void>
  /** kafkajs commits the resolved offsets itself (its autoCommit), and reports them with COMMIT_OFFSETS. */
  readonly kafkajsCommits: boolean
  /** A failed commit may have been written by the coordinator: the loss ledger (commit-doubt.ts) keeps it. */
  readonly ledger: boolean
  /** What a failed commit costs, in its warn line (sync says more: committer.ts). */
  readonly failedCommitCost: string
  /** What a failed final commit at shutdown costs, in its warn line. */
  readonly failedFinalCommitCost: string
  /** Logged at warn level when the consumer starts, or none. */
  readonly startWarning?: string
}

const DUPLICATES = 'the next owner re-delivers what was processed since the last acknowledged commit (duplicates)'

export const COMMIT_MODE_BEHAVIOUR: Readonly<Record<CommitMode, CommitModeBehaviour>> = {
  sync: {
    name: 'sync',
    consumeBatch: (b) => consumeBatchSync(b),
    kafkajsCommits: false,
    ledger: true,
    failedCommitCost: 'the messages it covered are not processed here (fetched again)',
    failedFinalCommitCost: 'the messages it would have covered were not processed: the next owner reads them',
  },
  async: {
    name: 'async',
    consumeBatch: (b) => consumeBatchAsync(b),
    kafkajsCommits: false,
    ledger: false,
    failedCommitCost: 'the messages it covered may be delivered again',
    failedFinalCommitCost: DUPLICATES,
  },
  auto: {
    name: 'auto',
    consumeBatch: (b, payload) => consumeBatchAuto(b, () => payload.commitOffsetsIfNecessary()),
    kafkajsCommits: true,
    ledger: false,
    failedCommitCost: 'the messages it covered may be delivered again',
    failedFinalCommitCost: DUPLICATES,
    startWarning:
      'COMMIT_MODE=auto is at-least-once in practice: a crash re-delivers what was processed since the last auto-commit. Use COMMIT_MODE=sync for at-most-once.',
  },
}
