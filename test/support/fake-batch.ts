/**
 * One partition's batch run through the real sync path (createBatch, the commit gate, the
 * dispatcher of an ORDERING, a real MessageRunner) with a fake group coordinator instead of a
 * broker, and a handler that records what it saw: for the dispatcher's unit tests.
 *
 * The oracle is the fake coordinator, not the consumer: it records the offsets it ACKNOWLEDGED (at
 * the moment it answers), and every handler call records the highest of them at that moment. A
 * consumer that believed a commit acknowledged too early, or started a message before, fails the
 * checks on `brokerAckedAtStart`.
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { KafkaMessage } from 'kafkajs'
import type { Ordering } from '../../src/config/schema.ts'
import { createBatch, type Batch } from '../../src/consumer/batch.ts'
import { ALWAYS_CLOSED, type Admission } from '../../src/consumer/breaker.ts'
import { COMMIT_MODE_BEHAVIOUR } from '../../src/consumer/commit-modes.ts'
import type { CommitTransport } from '../../src/consumer/committer.ts'
import { InFlightLimiter } from '../../src/consumer/in-flight.ts'
import { Partitions } from '../../src/consumer/partitions.ts'
import { consumeBatchSync } from '../../src/consumer/sync-batch.ts'
import { CallWatch } from '../../src/message/call-watch.ts'
import { createDecoder } from '../../src/message/decode.ts'
import type { ConsumedMessage, HandlerContext } from '../../src/message/handler.ts'
import { MessageRunner, type CallObserver } from '../../src/message/process.ts'
import { createMetrics } from '../../src/metrics.ts'

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
  /** The highest offset the fake coordinator had acknowledged when the handler was called. */
  brokerAckedAtStart: number
  /** Committed (acknowledged by the coordinator) and not finished at the call. */
  atRiskAtStart: number
  /** Calls of this batch running at the call (itself included). */
  concurrent: number
  /** Calls of the same key running at the call (itself included). */
  sameKey: number
  /** The circuit breaker's state at the call (when the batch has one). */
  breakerAtStart: string
  ended: boolean
}

/**
 * A stand-in group coordinator: answers each OffsetCommit after `commitMs` (or on the shared beat),
 * failing those whose target is past `failFrom`; records what it acknowledged.
 */
export class FakeCoordinator implements CommitTransport {
  /** Targets acknowledged, in order. */
  readonly acknowledged: number[] = []
  /** Every target sent, in order. */
  readonly sent: number[] = []
  /** The highest target acknowledged, per partition. */
  readonly acked = new Map<number, number>()

  constructor(
    private readonly o: { commitMs?: number; failFrom?: number; wait?: (ms: number) => Promise<void> } = {},
  ) {}

  async send(_topic: string, partition: number, offset: number): Promise<void> {
    this.sent.push(offset)
    await (this.o.wait ?? sleep)(this.o.commitMs ?? 0)
    if (this.o.failFrom !== undefined && offset > this.o.failFrom) throw Object.assign(new Error('injected'), { type: 'REQUEST_TIMED_OUT', retriable: false })
    this.acknowledged.push(offset)
    this.acked.set(partition, Math.max(this.acked.get(partition) ?? -1, offset))
  }
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
  /** Commits whose target is past this offset fail (not retriable). */
  failCommitFrom?: number
  deadline?: AbortSignal
  /** The handler throws for these offsets (a failed message: counted, the loop goes on). */
  fails?: (offset: number) => boolean
  /** Offsets below this were processed already (fetched again). */
  processedBelow?: number
  /** Commits and handlers (those with handlerMs > 0) end on the beats of one shared clock (see lockstep). */
  lockstepMs?: number
  coordinator?: FakeCoordinator
  /** The circuit breaker the batch asks (default: none, always closed), and that observes the calls. */
  breaker?: Admission & CallObserver
  /** kafkajs still runs the consumer (false: a rebalance or shutdown; default true). */
  isRunning?: () => boolean
}

/** A partition's state on a fake coordinator, to run several batches of one partition in turn. */
export function fakePartition(coordinator: FakeCoordinator, partition = 0) {
  const registry = new Registry()
  const m = createMetrics(registry, { defaultMetrics: false, commitMode: 'sync' })
  const partitions = new Partitions({ metrics: m, transport: coordinator, log: pino({ level: 'silent' }), mode: COMMIT_MODE_BEHAVIOUR.sync })
  return { state: partitions.get('t', partition), m, partitions }
}

export async function runBatch(batch: KafkaMessage[], o: RunOptions & { partition?: ReturnType<typeof fakePartition> }) {
  const log = pino({ level: 'silent' })
  const clock = o.lockstepMs ? lockstep(o.lockstepMs) : undefined
  const wait = (ms: number) => (clock ? clock.beat() : sleep(ms))
  const coordinator = o.coordinator ?? new FakeCoordinator({ commitMs: o.commitMs ?? 0, ...(o.failCommitFrom !== undefined ? { failFrom: o.failCommitFrom } : {}), wait })
  const { state, m } = o.partition ?? fakePartition(coordinator)
  if (o.processedBelow !== undefined) state.next = o.processedBelow
  const limiter = o.limiter ?? new InFlightLimiter(o.maxInFlight ?? 1000)
  const calls: Call[] = []
  const resolved: string[] = []
  const dropped: string[] = []
  let running = 0
  const runningKeys = new Map<string | null, number>()
  let maxInFlight = 0

  const handler = (message: ConsumedMessage, _ctx: HandlerContext): unknown => {
    const offset = Number(message.offset)
    const key = message.key === null ? null : message.key.toString()
    running++
    maxInFlight = Math.max(maxInFlight, limiter.count)
    runningKeys.set(key, (runningKeys.get(key) ?? 0) + 1)
    const brokerAcked = coordinator.acked.get(state.partition) ?? -1
    const call: Call = {
      offset,
      key,
      brokerAckedAtStart: brokerAcked,
      atRiskAtStart: batch.filter((x) => Number(x.offset) < brokerAcked).length - calls.filter((c) => c.ended).length,
      concurrent: running,
      sameKey: runningKeys.get(key)!,
      breakerAtStart: o.breaker?.state ?? 'none',
      ended: false,
    }
    calls.push(call)
    const end = (): void => {
      running--
      runningKeys.set(key, runningKeys.get(key)! - 1)
      call.ended = true
      if (o.fails?.(offset)) throw new Error(`injected failure at ${offset}`)
    }
    const ms = o.handlerMs?.(offset) ?? 0
    if (ms === 0) return end()
    return wait(ms).then(end)
  }
  const deadline = o.deadline ?? new AbortController().signal
  const runner = new MessageRunner('t', state.partition, { decode: createDecoder('json'), handler, handlerTimeoutMs: 0, deadline, watch: new CallWatch(0, deadline), log, metrics: state.metrics, calls: o.breaker })
  const b: Batch = createBatch(
    {
      batch: { topic: 't', partition: state.partition, messages: batch, highWatermark: String(Number(batch.at(-1)?.offset ?? -1) + 1) },
      resolveOffset: (offset) => void resolved.push(offset),
      heartbeat: async () => undefined,
      isRunning: o.isRunning ?? (() => true),
    },
    state,
    { window: o.window, ordering: o.ordering, limiter, deadline, breaker: o.breaker ?? ALWAYS_CLOSED, stopping: () => false, dropped: (_p, message) => void dropped.push(message.offset), log },
  )
  try {
    await consumeBatchSync(b, runner)
  } finally {
    clock?.stop()
  }
  /** The at-risk gauge as scraped (and state.atRisk.count: the same number, not lagging). */
  const atRiskAfter = (await m.atRisk.get()).values[0]?.value ?? 0
  /** consumer_messages_committed_total: each message counted once, by the commit that covered it. */
  const committedTotal = (await m.committed.get()).values[0]?.value ?? 0
  return { calls, commits: coordinator.acknowledged, sent: coordinator.sent, coordinator, resolved, dropped, state, limiter, maxInFlight, atRiskAfter, committedTotal, metrics: m }
}
