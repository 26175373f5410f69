/**
 * One partition's batch run through the real sync path (consumeBatchSync: the commit gate and
 * the executor of an ORDERING) with a fake commit function instead of a broker, and a handler
 * that records what it saw: for the executors' unit tests.
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { KafkaMessage } from 'kafkajs'
import type { Ordering } from '../../src/config/schema.ts'
import type { BatchContext } from '../../src/consumer/batch-context.ts'
import { COMMIT_MODE_BEHAVIOUR } from '../../src/consumer/commit-modes.ts'
import { PartitionCommitter } from '../../src/consumer/committer.ts'
import { InFlightLimiter } from '../../src/consumer/in-flight.ts'
import { consumeBatchSync } from '../../src/consumer/sync-batch.ts'
import type { Outcome } from '../../src/message/process.ts'
import { createMetrics, PartitionMetrics } from '../../src/metrics.ts'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * A clock whose beat resolves ONE promise that every waiter shares: commit acknowledgements and
 * handler completions of the same beat then interleave within one microtask drain (with separate
 * timers Node drains the microtasks between callbacks, which hides races of that kind).
 */
function lockstep(ms: number): { beat: () => Promise<void>; stop: () => void } {
  let resolve: () => void = () => undefined
  let next = new Promise<void>((r) => (resolve = r))
  const timer = setInterval(() => {
    const fire = resolve
    next = new Promise<void>((r) => (resolve = r))
    fire()
  }, ms)
  return { beat: () => next, stop: () => clearInterval(timer) }
}

export function messages(keys: Array<string | null>, firstOffset = 0): KafkaMessage[] {
  return keys.map((key, i) => ({
    key: key === null ? null : Buffer.from(key),
    value: Buffer.from(String(i)),
    offset: String(firstOffset + i),
    timestamp: '0',
    attributes: 0,
    headers: {},
  }))
}

export interface Call {
  offset: number
  key: string | null
  /** The acknowledged committed offset when the handler was called. */
  ackedAtStart: number
  /** Committed (acknowledged) and not finished at the call (a batch read from offset 0 of a new partition). */
  atRiskAtStart: number
  /** Calls of this batch running at the call (itself included). */
  concurrent: number
  /** Calls of the same key running at the call (itself included). */
  sameKey: number
  ended: boolean
}

export interface RunOptions {
  ordering: Ordering
  window: number
  maxInFlight?: number
  limiter?: InFlightLimiter
  /** Handler time of a message (ms); 0: synchronous. */
  handlerMs?: (offset: number) => number
  /** Commit round trip (ms). */
  commitMs?: number
  /** Commits whose target is at or past this offset fail (not retriable). */
  failCommitFrom?: number
  deadline?: AbortSignal
  outcome?: (offset: number) => Outcome
  position?: { next: number; perMessageMs: number }
  committer?: PartitionCommitter
  /** Commits and handlers (those with handlerMs > 0) end on the beats of one shared clock (see lockstep). */
  lockstepMs?: number
}

export async function runBatch(batch: KafkaMessage[], o: RunOptions) {
  const registry = new Registry()
  const m = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
  const metrics = new PartitionMetrics(m, 't', 0)
  const log = pino({ level: 'silent' })
  const committer = o.committer ?? new PartitionCommitter('t', 0, m, metrics, log, COMMIT_MODE_BEHAVIOUR.sync)
  const limiter = o.limiter ?? new InFlightLimiter(o.maxInFlight ?? 1000)
  const calls: Call[] = []
  const commits: number[] = []
  const resolved: string[] = []
  const dropped: string[] = []
  let running = 0
  const runningKeys = new Map<string | null, number>()
  let maxInFlight = 0
  const position = o.position ?? { next: -1, perMessageMs: 0 }
  const clock = o.lockstepMs ? lockstep(o.lockstepMs) : undefined
  const wait = (ms: number) => (clock ? clock.beat() : sleep(ms))

  const ctx: BatchContext = {
    topic: 't',
    partition: 0,
    messages: batch,
    highWatermark: String(Number(batch.at(-1)?.offset ?? -1) + 1),
    committer,
    commit: async (offset) => {
      await wait(o.commitMs ?? 0)
      if (o.failCommitFrom !== undefined && offset > o.failCommitFrom) throw Object.assign(new Error('injected'), { type: 'REQUEST_TIMED_OUT', retriable: false })
      commits.push(offset)
    },
    window: o.window,
    ordering: o.ordering,
    limiter,
    metrics,
    mayCommit: () => true,
    deadline: o.deadline ?? new AbortController().signal,
    process: (message) => {
      const offset = Number(message.offset)
      const key = message.key === null ? null : message.key.toString()
      running++
      maxInFlight = Math.max(maxInFlight, limiter.count)
      runningKeys.set(key, (runningKeys.get(key) ?? 0) + 1)
      const call: Call = {
        offset,
        key,
        ackedAtStart: committer.acked,
        atRiskAtStart: batch.filter((x) => Number(x.offset) < committer.acked).length - calls.filter((c) => c.ended).length,
        concurrent: running,
        sameKey: runningKeys.get(key)!,
        ended: false,
      }
      calls.push(call)
      const end = (): Outcome => {
        running--
        runningKeys.set(key, runningKeys.get(key)! - 1)
        call.ended = true
        return o.outcome?.(offset) ?? 'ok'
      }
      const ms = o.handlerMs?.(offset) ?? 0
      if (ms === 0) return end()
      return wait(ms).then(end)
    },
    resolve: (offset) => void resolved.push(offset),
    heartbeat: async () => undefined,
    position,
    drop: (message) => void dropped.push(message.offset),
  }
  try {
    await consumeBatchSync(ctx)
  } finally {
    clock?.stop()
  }
  const atRiskAfter = (await m.atRisk.get()).values[0]?.value ?? 0
  /** consumer_messages_committed_total: each message counted once, by the commit that covered it. */
  const committedTotal = (await m.committed.get()).values[0]?.value ?? 0
  return { calls, commits, resolved, dropped, committer, limiter, maxInFlight, position, atRiskAfter, committedTotal, metrics: m }
}
