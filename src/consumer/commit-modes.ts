/**
 * The three commit modes (docs/design.md, "The three commit modes"), one object each: everything
 * that differs between them. The consumer takes its mode's object once (service.ts) and never
 * branches on COMMIT_MODE again.
 *
 * sync:  at-most-once. A message is processed only after a commit beyond it was acknowledged
 *        (the commit gate, at-most-once.ts, then the dispatcher). The default, and the only mode
 *        the product promises.
 * async: the commit is sent before the message is processed, not awaited (the ungated path,
 *        ungated-batch.ts).
 * auto:  kafkajs commits the processed position on its interval (the ungated path).
 * The last two exist so that the trade-off can be measured; neither is at-most-once under failure,
 * and both say so at start.
 */
import type { EachBatchPayload } from 'kafkajs'
import type { CommitMode } from '../config/schema.ts'
import type { MessageRunner } from '../message/process.ts'
import type { Batch } from './batch.ts'
import { consumeBatchSync } from './sync-batch.ts'
import { consumeBatchAsync, consumeBatchAuto } from './ungated-batch.ts'

export interface CommitModeBehaviour {
  readonly name: CommitMode
  /** One fetched batch of one partition; `runner` hands a message to the handler. */
  consumeBatch(b: Batch, runner: MessageRunner, payload: Pick<EachBatchPayload, 'commitOffsetsIfNecessary'>): Promise<void>
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
    consumeBatch: (b, runner) => consumeBatchSync(b, runner),
    kafkajsCommits: false,
    ledger: true,
    failedCommitCost: 'the messages it covered are not processed here (fetched again)',
    failedFinalCommitCost: 'the messages it would have covered were not processed: the next owner reads them',
  },
  async: {
    name: 'async',
    consumeBatch: (b, runner) => consumeBatchAsync(b, runner),
    kafkajsCommits: false,
    ledger: false,
    failedCommitCost: 'the messages it covered may be delivered again',
    failedFinalCommitCost: DUPLICATES,
    startWarning:
      'COMMIT_MODE=async hands each message to the handler without waiting for its commit to be acknowledged: a commit that fails after its message was processed re-delivers it (a duplicate). Use COMMIT_MODE=sync for at-most-once.',
  },
  auto: {
    name: 'auto',
    consumeBatch: (b, runner, payload) => consumeBatchAuto(b, runner, () => payload.commitOffsetsIfNecessary()),
    kafkajsCommits: true,
    ledger: false,
    failedCommitCost: 'the messages it covered may be delivered again',
    failedFinalCommitCost: DUPLICATES,
    startWarning:
      'COMMIT_MODE=auto is at-least-once in practice: a crash re-delivers what was processed since the last auto-commit. Use COMMIT_MODE=sync for at-most-once.',
  },
}
