/**
 * The consumer around the batch loops: connects (retrying with back-off while Kafka is
 * unreachable), follows kafkajs's lifecycle events to answer liveness and readiness, keeps one
 * state per assigned partition, and runs the shutdown sequence of DESIGN.md.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { PartitionAssigners, Partitioners, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type PartitionAssigner, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import type { ServiceConfig } from '../config/load.ts'
import { ShutdownTimeoutError } from '../errors.ts'
import { createDecoder } from '../message/decode.ts'
import type { Handler } from '../message/handler.ts'
import { processMessage, type DeadLetterFn, type ProcessDeps } from '../message/process.ts'
import { PartitionMetrics, type Metrics } from '../metrics.ts'
import { consumeBatchSync, type BatchContext, type PartitionPosition } from './at-most-once.ts'
import { CommitBatcher, type CommitVia } from './commit-batcher.ts'
import { isRebalanceError, PartitionCommitter, type CommitFn } from './committer.ts'
import { createKafka } from './kafka-client.ts'
import { consumeBatchAsync, consumeBatchAuto } from './other-modes.ts'

export type ConsumerState = 'idle' | 'connecting' | 'joining' | 'running' | 'restarting' | 'crashed' | 'stopping' | 'stopped'

export interface ShutdownResult {
  clean: boolean
  abandoned: number
  durationMs: number
  error?: Error
}

interface PartitionState {
  topic: string
  partition: number
  committer: PartitionCommitter
  position: PartitionPosition
  metrics: PartitionMetrics
  deps: ProcessDeps
}

/** How long the final commit and the group leave may still take once the deadline has passed. */
const AFTER_DEADLINE_MS = 500
/** Largest delay between two connection attempts while Kafka is unreachable. */
const MAX_BACKOFF_MS = 30_000
/** Fetch long-poll: also bounds how long leaving the group waits for an idle fetch. */
const MAX_WAIT_MS = 500
/** Dead-letter sends in flight before new ones are dropped (best effort, never blocking). */
const MAX_DEAD_LETTER_PENDING = 1000


/**
 * How long the group leader waits, once it has computed the assignment of a group with other
 * members, before sending its SyncGroup. Apache Kafka answers a follower's SyncGroup whenever it
 * comes; librdkafka's mock coordinator (our test broker) completes the sync as soon as the
 * leader's assignment arrives and answers a follower's later SyncGroup with INVALID_REQUEST,
 * which kafkajs treats as fatal (crash without restart). Letting followers sync first costs a
 * fraction of a second per rebalance and makes scale-out work on both.
 */
const LEADER_SYNC_DELAY_MS = 300

/** kafkajs's round-robin assigner (same protocol name), with the leader's sync delayed. */
const roundRobinFollowersFirst: PartitionAssigner = (config) => {
  const inner = PartitionAssigners.roundRobin(config)
  return {
    ...inner,
    async assign(group) {
      const assignment = await inner.assign(group)
      if (group.members.length > 1) await sleep(LEADER_SYNC_DELAY_MS)
      return assignment
    },
  }
}

export class ConsumerService {
  state: ConsumerState = 'idle'
  private readonly kafka: Kafka
  private readonly consumer: Consumer
  private readonly partitions = new Map<string, PartitionState>()
  private readonly activeBatches = new Set<Promise<void>>()
  private readonly commits = new CommitBatcher()
  private readonly deadline = new AbortController()
  private readonly startAbort = new AbortController()
  private readonly decode
  private readonly deadLetter: DeadLetterFn | undefined
  private producer: Producer | undefined
  private deadLetterPending = 0
  private commitVia: CommitVia | undefined
  private joins = 0
  private abandoned = 0
  private lastProgressAt = Date.now()
  private shutdownPromise: Promise<ShutdownResult> | undefined
  private stopping = false

  constructor(
    private readonly config: ServiceConfig,
    private readonly handler: Handler,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    kafka?: Kafka,
  ) {
    this.kafka = kafka ?? createKafka(config, log)
    this.decode = createDecoder(config.valueFormat)
    this.consumer = this.kafka.consumer({
      groupId: config.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(60_000, config.sessionTimeoutMs),
      maxWaitTimeInMs: MAX_WAIT_MS,
      allowAutoTopicCreation: false,
      partitionAssigners: [roundRobinFollowersFirst],
    })
    if (config.deadLetterTopic) {
      this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
      this.deadLetter = this.sendToDeadLetter
    }
    this.followEvents()
    metrics.ready.set(0)
  }

  /** Readiness: joined the group, not crashed, not shutting down. A rebalance keeps it ready. */
  get ready(): boolean {
    return this.state === 'running' && !this.stopping
  }

  /** Liveness: false once the consumer crashed for good or its fetch loop stalled. */
  health(): { ok: boolean; reason?: string } {
    if (this.state === 'crashed') return { ok: false, reason: 'consumer crashed and will not restart' }
    const idleMs = Date.now() - this.lastProgressAt
    if (this.state === 'running' && idleMs > this.config.stallTimeoutMs) {
      return { ok: false, reason: `no fetch progress for ${idleMs} ms (STALL_TIMEOUT_MS=${this.config.stallTimeoutMs})` }
    }
    return { ok: true }
  }

  /** Start consuming in the background; never throws (an unreachable Kafka is retried). */
  start(): void {
    void this.connectLoop()
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        this.state = 'connecting'
        await this.consumer.connect()
        if (this.producer) await this.producer.connect()
        await this.consumer.subscribe({ topics: this.config.topics, fromBeginning: this.config.fromBeginning })
        if (this.stopping) return
        this.state = 'joining'
        await this.consumer.run({
          partitionsConsumedConcurrently: this.config.partitionConcurrency,
          autoCommit: this.config.commitMode === 'auto',
          autoCommitInterval: this.config.autoCommitIntervalMs,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => this.eachBatch(payload),
        })
        return
      } catch (err) {
        if (this.stopping) return
        const delay = Math.round(Math.min(MAX_BACKOFF_MS, 500 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4))
        this.log.warn({ error: (err as Error).message, attempt, retryInMs: delay }, 'cannot start the consumer; retrying')
        await this.consumer.disconnect().catch(() => undefined)
        await sleep(delay, undefined, { signal: this.startAbort.signal }).catch(() => undefined)
      }
    }
  }

  private followEvents(): void {
    const { events } = this.consumer
    const progress = () => {
      this.lastProgressAt = Date.now()
    }
    this.consumer.on(events.FETCH_START, progress)
    this.consumer.on(events.HEARTBEAT, progress)
    this.consumer.on(events.GROUP_JOIN, (e) => {
      progress()
      if (this.joins++ > 0) this.metrics.rebalances.inc()
      this.reconcile(e.payload.memberAssignment)
      if (!this.stopping) {
        this.state = 'running'
        this.metrics.ready.set(1)
      }
      this.log.info(
        { groupId: e.payload.groupId, memberId: e.payload.memberId, assignment: e.payload.memberAssignment, generation: this.joins },
        'joined the consumer group',
      )
    })
    this.consumer.on(events.REBALANCING, () => this.log.info('the group is rebalancing'))
    this.consumer.on(events.CRASH, (e) => {
      const restart = e.payload.restart
      this.metrics.crashes.inc({ restart: String(restart) })
      if (this.stopping) return
      if (restart) {
        this.state = 'restarting'
        this.metrics.ready.set(0)
        this.log.warn({ error: e.payload.error.message }, 'the consumer crashed; kafkajs restarts it')
      } else {
        this.state = 'crashed'
        this.metrics.ready.set(0)
        this.log.error({ error: e.payload.error.message }, 'the consumer crashed for good; liveness now fails')
      }
    })
    if (this.config.commitMode === 'auto') {
      this.consumer.on(events.COMMIT_OFFSETS, (e) => {
        for (const { topic, partitions } of e.payload.topics) {
          for (const { partition, offset } of partitions) {
            this.partitions.get(`${topic}|${partition}`)?.committer.noteCommitted(Number(offset))
          }
        }
      })
    }
  }

  /** Keep state for partitions still ours; forget the revoked ones. */
  private reconcile(assignment: Record<string, number[]>): void {
    const mine = new Set(Object.entries(assignment).flatMap(([t, ps]) => ps.map((p) => `${t}|${p}`)))
    for (const [key, st] of this.partitions) {
      if (!mine.has(key)) {
        st.metrics.release()
        this.partitions.delete(key)
      }
    }
  }

  private partition(topic: string, partition: number): PartitionState {
    const key = `${topic}|${partition}`
    let st = this.partitions.get(key)
    if (!st) {
      const metrics = new PartitionMetrics(this.metrics, topic, partition)
      st = {
        topic,
        partition,
        metrics,
        committer: new PartitionCommitter(topic, partition, this.metrics, metrics, this.log, this.config.commitMode),
        position: { next: -1, perMessageMs: 0 },
        deps: {
          decode: this.decode,
          handler: this.handler,
          handlerTimeoutMs: this.config.handlerTimeoutMs,
          deadline: this.deadline.signal,
          log: this.log, // not a child logger: the lines carry topic, partition and offset themselves
          metrics,
          deadLetter: this.deadLetter,
        },
      }
      this.partitions.set(key, st)
    }
    return st
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    this.lastProgressAt = Date.now()
    if (this.stopping || payload.batch.messages.length === 0) return // not committed: fetched again later
    const work = this.runBatch(payload)
    this.activeBatches.add(work)
    try {
      await work
    } finally {
      this.activeBatches.delete(work)
      this.lastProgressAt = Date.now()
    }
  }

  private async runBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload
    const { topic, partition } = batch
    const st = this.partition(topic, partition)
    this.commitVia = payload.commitOffsetsIfNecessary
    st.committer.lastError = undefined
    let rebalance: unknown

    const ctx: BatchContext = {
      topic,
      partition,
      messages: batch.messages,
      highWatermark: batch.highWatermark,
      committer: st.committer,
      commit: this.commitFn(topic, partition, payload.commitOffsetsIfNecessary),
      window: this.config.commitWindow,
      metrics: st.metrics,
      // (isStale() is not consulted: it only reports a pending seek(), which this service never makes.)
      mayCommit: () => !this.stopping && rebalance === undefined && payload.isRunning(),
      deadline: this.deadline.signal,
      process: (message) => processMessage(topic, partition, message, st.deps),
      resolve: (offset) => payload.resolveOffset(offset),
      heartbeat: async () => {
        try {
          await payload.heartbeat()
        } catch (err) {
          if (isRebalanceError(err)) rebalance = err
          else this.log.warn({ error: (err as Error).message }, 'heartbeat failed')
        }
      },
      position: st.position,
      drop: (message) => this.dropAtShutdown(topic, partition, message),
    }

    switch (this.config.commitMode) {
      case 'sync':
        await consumeBatchSync(ctx)
        break
      case 'async':
        await consumeBatchAsync(ctx)
        break
      case 'auto':
        await consumeBatchAuto(ctx, () => payload.commitOffsetsIfNecessary())
        break
    }

    // A commit refused with a rebalance-type error: ask the coordinator with a heartbeat
    // whether the group really is rebalancing (a rejoin stops the whole group, so never on a
    // guess). When it is, hand the error to kafkajs, which rejoins for it (no crash, no back-off).
    if (!this.stopping && rebalance === undefined && isRebalanceError(st.committer.lastError)) await ctx.heartbeat()
    if (rebalance !== undefined && !this.stopping) throw rebalance
  }

  private commitFn(topic: string, partition: number, via: CommitVia): CommitFn {
    // eachBatch's commitOffsetsIfNecessary(offsets) goes straight to the coordinator and throws
    // on failure. (consumer.commitOffsets() would resolve WITHOUT committing when the runner is
    // not running, which a gate must never mistake for an acknowledgement.) The batcher puts the
    // partitions waiting at the same moment into one OffsetCommit request.
    return (offset) => this.commits.commit(topic, partition, offset, via)
  }

  private dropAtShutdown(topic: string, partition: number, message: KafkaMessage): void {
    this.abandoned++
    const st = this.partitions.get(`${topic}|${partition}`)
    st?.metrics.skipped('dropped_at_shutdown')
    st?.metrics.lost('shutdown')
    this.log.warn({ topic, partition, offset: message.offset, lost: true }, 'committed message not processed before the shutdown deadline')
  }

  private sendToDeadLetter: DeadLetterFn = ({ topic, partition, message }, reason, error) => {
    const producer = this.producer
    if (!producer || this.deadLetterPending >= MAX_DEAD_LETTER_PENDING) {
      this.metrics.deadLetter.inc({ result: 'dropped' })
      return
    }
    this.deadLetterPending++
    const headers = {
      ...(message.headers ?? {}),
      'x-amo-source-topic': topic,
      'x-amo-source-partition': String(partition),
      'x-amo-source-offset': message.offset,
      'x-amo-reason': reason,
      'x-amo-error': error instanceof Error ? error.message : String(error),
    }
    producer
      .send({ topic: this.config.deadLetterTopic!, messages: [{ key: message.key, value: message.value, headers }] })
      .then(
        () => this.metrics.deadLetter.inc({ result: 'sent' }),
        (err: Error) => {
          this.metrics.deadLetter.inc({ result: 'failed' })
          this.log.warn({ topic, partition, offset: message.offset, error: err.message }, 'dead-letter send failed')
        },
      )
      .finally(() => this.deadLetterPending--)
  }

  /**
   * The shutdown sequence (DESIGN.md): readiness off, stop fetching, let the committed messages
   * be processed until the deadline, final synchronous commit, leave the group. Idempotent.
   */
  shutdown(reason = 'shutdown'): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.runShutdown(reason)
    return this.shutdownPromise
  }

  private async runShutdown(reason: string): Promise<ShutdownResult> {
    const started = Date.now()
    const timeoutMs = this.config.shutdownTimeoutMs
    const deadlineAt = started + timeoutMs
    const wasStarted = this.state !== 'idle'
    this.stopping = true
    this.metrics.ready.set(0)
    this.log.info({ reason, timeoutMs, state: this.state }, 'shutdown began')
    this.state = 'stopping'
    this.startAbort.abort()
    const timer = setTimeout(() => this.deadline.abort(new ShutdownTimeoutError(timeoutMs, this.abandoned)), timeoutMs)
    const remaining = () => Math.max(deadlineAt - Date.now(), AFTER_DEADLINE_MS)
    let finalCommitOk = true

    try {
      // 2. Stop fetching: nothing new reaches the loops, and they commit no new window.
      try {
        this.consumer.pause(this.config.topics.map((topic) => ({ topic })))
      } catch {
        // not running yet: nothing to pause
      }
      // 3. The committed messages are processed, bounded by the deadline (handlers get its signal).
      const drained = Promise.allSettled([...this.activeBatches])
      await Promise.race([drained, onAbort(this.deadline.signal)])
      if (this.deadline.signal.aborted) await withTimeout(drained, AFTER_DEADLINE_MS)
      // 4. Final synchronous commit of the consumed position.
      finalCommitOk = (await withTimeout(this.finalCommit(), remaining())) ?? false
      // 5. Leave the group.
      if (wasStarted) {
        const left = await withTimeout(this.consumer.disconnect().then(() => true), remaining())
        if (!left) this.log.warn('leaving the group did not finish in time')
        else this.log.info('left the consumer group')
      }
      if (this.producer) await withTimeout(this.producer.disconnect(), AFTER_DEADLINE_MS)
    } finally {
      clearTimeout(timer)
      this.state = 'stopped'
    }
    const passed = this.deadline.signal.aborted || Date.now() > deadlineAt
    const clean = !passed && this.abandoned === 0 && finalCommitOk
    const result: ShutdownResult = { clean, abandoned: this.abandoned, durationMs: Date.now() - started }
    if (!clean) {
      result.error = passed || this.abandoned > 0 ? new ShutdownTimeoutError(timeoutMs, this.abandoned) : new Error('the final commit failed')
    }
    return result
  }

  /** Commit every position still pending (async: the newest sent; auto: the processed one). */
  private async finalCommit(): Promise<boolean> {
    const via = this.commitVia
    const pending = [...this.partitions.values()].filter((st) => st.committer.busy || st.committer.pending !== undefined)
    if (pending.length === 0 || !via) {
      this.log.info({ mode: this.config.commitMode, pending: 0 }, 'final commit: nothing pending')
      return true
    }
    let ok = true
    const offsets: Record<string, number> = {}
    await Promise.all(
      pending.map(async (st) => {
        const committed = await st.committer.flush(this.commitFn(st.topic, st.partition, via))
        if (committed) offsets[`${st.topic}|${st.partition}`] = st.committer.acked
        ok &&= committed
      }),
    )
    if (ok) this.log.info({ mode: this.config.commitMode, offsets }, 'final commit done')
    else this.log.error({ mode: this.config.commitMode, offsets }, 'final commit failed')
    return ok
  }
}

function onAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

/** The promise's value, or undefined when it did not settle within `ms` (errors become undefined too). */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))])
  } finally {
    clearTimeout(timer)
  }
}
