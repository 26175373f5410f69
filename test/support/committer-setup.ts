/** A PartitionCommitter on a stand-in transport, for committer.test.ts and ungated-commits.test.ts. */
import { Registry } from 'prom-client'
import { COMMIT_MODE_BEHAVIOUR } from '../../src/consumer/commit-modes.ts'
import { PartitionCommitter, type CommitFailure } from '../../src/consumer/committer.ts'
import { UngatedCommits } from '../../src/consumer/ungated-commits.ts'
import { createMetrics, PartitionMetrics } from '../../src/metrics.ts'
import { sumMetric } from '../../harness/service-process.ts'
import { memoryLog } from './memory-log.ts'

/** A kafkajs-shaped error: `type` and `retriable` are what the committer reads. */
export function kafkaError(type: string, retriable: boolean): Error {
  return Object.assign(new Error(`${type} (stand-in)`), { type, retriable })
}

type SendFn = (offset: number) => Promise<void>

export function setup(mode: 'sync' | 'async' | 'auto' = 'sync') {
  const registry = new Registry()
  const m = createMetrics(registry, { defaultMetrics: false, commitMode: mode })
  const pm = new PartitionMetrics(m, 't', 3)
  const { log, lines } = memoryLog()
  /** What the stand-in coordinator does with the next commits (replace it per case). */
  const transport = { fn: (async () => undefined) as SendFn }
  const events = { acknowledged: [] as number[], failed: [] as CommitFailure[] }
  const committer = new PartitionCommitter('t', 3, { send: (_t, _p, offset) => transport.fn(offset) }, m, pm, log, COMMIT_MODE_BEHAVIOUR[mode], {
    acknowledged: (offset) => void events.acknowledged.push(offset),
    failed: (f) => void events.failed.push(f),
  })
  const ungated = new UngatedCommits(committer)
  const scrape = () => registry.metrics()
  const committed = async () => sumMetric(await scrape(), 'consumer_messages_committed_total', { topic: 't', partition: '3' })
  const errors = async (error: string) => sumMetric(await scrape(), 'consumer_commit_errors_total', { mode, error })
  /** Commit with `fn` as the coordinator's answer. */
  const commitWith = (offset: number, count: number, fn: SendFn) => {
    transport.fn = fn
    return committer.commit(offset, count)
  }
  return { committer, ungated, transport, events, lines, scrape, committed, errors, commitWith }
}

/** A transport whose calls wait until released, one by one, in order. */
export function manualCommits() {
  const sent: number[] = []
  const pending: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  const fn: SendFn = (offset) =>
    new Promise<void>((resolve, reject) => {
      sent.push(offset)
      pending.push({ resolve, reject })
    })
  const turn = () => new Promise((r) => setImmediate(r))
  return {
    fn,
    sent,
    async ack() {
      pending.shift()!.resolve()
      await turn()
    },
    async fail(err: unknown) {
      pending.shift()!.reject(err)
      await turn()
    },
  }
}
