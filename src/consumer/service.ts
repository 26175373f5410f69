/**
 * The consumer around the batch loops: follows kafkajs's lifecycle events to answer liveness
 * and readiness, keeps one state per assigned partition, and hands each fetched batch to the
 * object of its commit mode (commit-modes.ts: sync-batch.ts for sync — the commit gate of
 * at-most-once.ts and the executor of ORDERING —, other-modes.ts for async and auto).
 * Start-up retries live in connect-loop.ts, the shutdown sequence in shutdown.ts, the
 * dead-letter producer in dead-letter.ts.
 */
import { AssignerProtocol, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import type { ServiceConfig } from '../config/load.ts'
import { createDecoder } from '../message/decode.ts'
import type { Handler } from '../message/handler.ts'
import { processMessage, type ProcessDeps } from '../message/process.ts'
import { PartitionMetrics, type Metrics } from '../metrics.ts'
import type { BatchContext, PartitionPosition } from './batch-context.ts'
import { CommitBatcher, type CommitVia } from './commit-batcher.ts'
import { CommitDoubt, type ReadCommitted } from './commit-doubt.ts'
import { COMMIT_MODE_BEHAVIOUR, type CommitModeBehaviour } from './commit-modes.ts'
import { isRebalanceError, PartitionCommitter, type CommitFn } from './committer.ts'
import { backoffMs, connectWithRetry } from './connect-loop.ts'
import { DeadLetterProducer } from './dead-letter.ts'
import { InFlightLimiter } from './in-flight.ts'
import { createKafka, createProbeKafka, Sockets } from './kafka-client.ts'
import { abandonJoin, shutdownSequence, type ShutdownResult } from './shutdown.ts'
import { markFetched } from '../tracing/fetched.ts'
import { inspectTopics } from './topics.ts'

export type ConsumerState = 'idle' | 'connecting' | 'joining' | 'running' | 'restarting' | 'crashed' | 'stopping' | 'stopped'

interface PartitionState {
  key: string
  topic: string
  partition: number
  committer: PartitionCommitter
  position: PartitionPosition
  metrics: PartitionMetrics
  deps: ProcessDeps
}

/** Fetch long-poll: also bounds how long leaving the group waits for an idle fetch. */
const MAX_WAIT_MS = 500
/** A crash this long after the previous one starts the restart back-off afresh. */
const CRASH_STREAK_RESET_MS = 5 * 60_000

export type { ShutdownResult }

export class ConsumerService {
  state: ConsumerState = 'idle'
  private readonly kafka: Kafka
  /** The start-up probe's client (topics.ts): one try per seed broker, see createProbeKafka. */
  private readonly probe: Kafka
  /** Every socket of both clients, so that a pending group join can be given up at shutdown. */
  private readonly sockets = new Sockets()
  private readonly consumer: Consumer
  private readonly partitions = new Map<string, PartitionState>()
  private readonly activeBatches = new Set<Promise<void>>()
  private readonly commits = new CommitBatcher()
  /** MAX_IN_FLIGHT: handler calls in flight across every partition. */
  private readonly limiter: InFlightLimiter
  /** COMMIT_MODE: everything that differs between the modes (commit-modes.ts). */
  private readonly mode: CommitModeBehaviour
  private readonly deadline = new AbortController()
  private readonly startAbort = new AbortController()
  private readonly decode
  private readonly deadLetter: DeadLetterProducer | undefined
  private commitVia: CommitVia | undefined
  private joins = 0
  private abandoned = 0
  private lastProgressAt = Date.now()
  private shutdownPromise: Promise<ShutdownResult> | undefined
  private stopping = false
  /** Between a REBALANCING event and the next GROUP_JOIN: kafkajs is rejoining the group. */
  private rejoining = false
  /** The crash being reported is retriable: the service restarts the consumer. */
  private restartWanted = false
  /** Crashes since the last batch processed: the restart back-off grows with it. */
  private crashStreak = 0
  private lastCrashAt = 0
  /** sync mode: the commits in doubt (commit-doubt.ts), resolved on the next fetch or before the partition changes owner. */
  private readonly doubt: CommitDoubt
  private admin: Admin | undefined

  constructor(
    private readonly config: ServiceConfig,
    private readonly handler: Handler,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    kafka?: Kafka,
  ) {
    this.kafka = kafka ?? createKafka(config, log, { sockets: this.sockets })
    this.probe = kafka ?? createProbeKafka(config, log, this.sockets)
    this.decode = createDecoder(config.valueFormat)
    this.limiter = new InFlightLimiter(config.maxInFlight)
    this.mode = COMMIT_MODE_BEHAVIOUR[config.commitMode]
    metrics.inFlightSource.read = () => this.limiter.count
    this.consumer = this.kafka.consumer({
      groupId: config.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(60_000, config.sessionTimeoutMs),
      maxWaitTimeInMs: MAX_WAIT_MS,
      allowAutoTopicCreation: false,
      // kafkajs asks this only for a retriable crash. The service restarts the consumer itself
      // (CRASH handler below), never once shutdown has begun: a join given up at shutdown fails
      // with a connection error, which kafkajs would otherwise retry.
      retry: {
        restartOnFailure: async () => {
          this.restartWanted = !this.stopping
          return false
        },
      },
    })
    this.doubt = new CommitDoubt({ metrics, log, read: (topic) => this.readCommitted(topic), readBudgetMs: config.sessionTimeoutMs })
    if (config.deadLetterTopic) this.deadLetter = new DeadLetterProducer(this.kafka, config.deadLetterTopic, metrics, log)
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
    if (this.stopping || this.state !== 'idle') return
    this.state = 'connecting'
    void this.connectLoop()
  }

  /**
   * Connect, subscribe and run, retried with back-off (connect-loop.ts). Also the restart after a
   * retriable crash, which starts `firstDelayMs` later and continues the back-off from `backoffFrom`.
   */
  private async connectLoop(firstDelayMs = 0, backoffFrom = 0): Promise<void> {
    let connected = false
    await connectWithRetry({
      signal: this.startAbort.signal,
      log: this.log,
      firstDelayMs,
      backoffFrom,
      // Only a consumer that got as far as connecting has anything to close (and kafkajs logs a
      // "Stopped" line for each disconnect).
      cleanup: async () => {
        if (connected) await this.consumer.disconnect()
        connected = false
      },
      attempt: async () => {
        if (this.stopping) return
        this.state = 'connecting'
        const { partitions } = await inspectTopics(this.probe, this.config.topics)
        connected = true
        await this.consumer.connect()
        if (this.deadLetter) await this.deadLetter.connect()
        await this.consumer.subscribe({ topics: this.config.topics, fromBeginning: this.config.fromBeginning })
        if (this.stopping) return
        this.state = 'joining'
        const concurrency = this.config.partitionConcurrency
        await this.consumer.run({
          // `all`: every partition of the subscribed topics (as many as this instance can be assigned).
          partitionsConsumedConcurrently: concurrency === 'all' ? Math.max(1, partitions) : concurrency,
          autoCommit: this.mode.kafkajsCommits,
          autoCommitInterval: this.config.autoCommitIntervalMs,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => this.eachBatch(payload),
        })
      },
    })
  }

  private followEvents(): void {
    const { events } = this.consumer
    const progress = () => {
      this.lastProgressAt = Date.now()
    }
    this.consumer.on(events.FETCH_START, progress)
    this.consumer.on(events.HEARTBEAT, progress)
    this.consumer.on(events.GROUP_JOIN, (e) => {
      this.rejoining = false
      progress()
      if (this.joins++ > 0) this.metrics.rebalances.inc()
      this.reconcile(e.payload.memberAssignment)
      this.doubt.onJoin(e.payload.memberId, e.payload.memberAssignment) // [commit-doubt]
      if (!this.stopping) {
        this.state = 'running'
        this.metrics.ready.set(1)
      }
      this.log.info(
        { groupId: e.payload.groupId, memberId: e.payload.memberId, assignment: e.payload.memberAssignment, generation: this.joins },
        'joined the consumer group',
      )
    })
    this.consumer.on(events.REBALANCING, () => {
      this.rejoining = true
      void this.doubt.resolve('rebalance') // [commit-doubt] read now: answered before the group's new generation can start
      this.log.info('the group is rebalancing')
    })
    this.consumer.on(events.CRASH, (e) => {
      // A crash at shutdown is the join given up on purpose (or the connections closing): not a crash.
      this.rejoining = false
      const restart = this.restartWanted
      this.restartWanted = false
      void this.doubt.resolve('crash') // [commit-doubt] kafkajs has left the group: the outcome may be unknowable
      if (this.stopping) return
      this.metrics.crashes.inc({ restart: String(restart) })
      const err = e.payload.error as Error
      const error = `${err.name}: ${err.message}`
      if (restart) {
        // Restarted by the service's connect loop, not by kafkajs (whose restart would spend its
        // own connection retries, seconds of them, before the next line): one warn line per
        // attempt, each giving the real delay to the next. Back-off grows with crashes in a row.
        this.state = 'restarting'
        this.metrics.ready.set(0)
        if (Date.now() - this.lastCrashAt > CRASH_STREAK_RESET_MS) this.crashStreak = 0
        this.lastCrashAt = Date.now()
        const retryInMs = backoffMs(++this.crashStreak)
        this.log.warn({ error, crashesInARow: this.crashStreak, retryInMs }, 'the consumer crashed; restarting it')
        void this.connectLoop(retryInMs, this.crashStreak)
      } else {
        this.state = 'crashed'
        this.metrics.ready.set(0)
        this.log.error({ error }, 'the consumer crashed for good; liveness now fails')
      }
    })
    if (this.mode.kafkajsCommits) {
      this.consumer.on(events.COMMIT_OFFSETS, (e) => {
        for (const { topic, partitions } of e.payload.topics) {
          for (const { partition, offset } of partitions) {
            this.partitions.get(`${topic}|${partition}`)?.committer.noteCommitted(Number(offset))
          }
        }
      })
    }
  }

  /** Keep state for partitions still ours (their metric series exist from now on); forget the revoked ones. */
  private reconcile(assignment: Record<string, number[]>): void {
    const mine = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) mine.add(this.partition(topic, partition).key)
    }
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
        key,
        topic,
        partition,
        metrics,
        committer: new PartitionCommitter(topic, partition, this.metrics, metrics, this.log, this.mode, this.doubt),
        position: { next: -1, perMessageMs: 0 },
        deps: {
          decode: this.decode,
          handler: this.handler,
          handlerTimeoutMs: this.config.handlerTimeoutMs,
          deadline: this.deadline.signal,
          log: this.log, // not a child logger: the lines carry topic, partition and offset themselves
          metrics,
          deadLetter: this.deadLetter?.send,
        },
      }
      this.partitions.set(key, st)
    }
    return st
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    this.lastProgressAt = Date.now()
    this.doubt.onFetch(payload.batch.topic, payload.batch.partition, payload.batch.messages[0]?.offset) // [commit-doubt]
    if (this.stopping || payload.batch.messages.length === 0) return // not committed: fetched again later
    const work = this.runBatch(payload)
    this.activeBatches.add(work)
    try {
      await work.catch(async (err: unknown) => {
        // [commit-doubt] kafkajs rejoins for this error once eachBatch returns: resolve before that.
        if (isRebalanceError(err)) await this.doubt.resolve('rebalance')
        throw err
      })
      this.crashStreak = 0
    } finally {
      this.activeBatches.delete(work)
      this.lastProgressAt = Date.now()
    }
  }

  private async runBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload
    const { topic, partition } = batch
    const st = this.partition(topic, partition)
    markFetched(batch.messages) // tracing on: a message's span starts at its fetch (the commit wait shows)
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
      ordering: this.config.ordering,
      limiter: this.limiter,
      metrics: st.metrics,
      // (isStale() is not consulted: it only reports a pending seek(), which this service never makes.)
      mayCommit: () => !this.stopping && rebalance === undefined && payload.isRunning(),
      deadline: this.deadline.signal,
      process: (message) => {
        // A handler still running at the shutdown deadline is abandoned (process.ts logs it): a
        // committed message left unprocessed, which makes the shutdown not clean (exit 1).
        const outcome = processMessage(topic, partition, message, st.deps)
        if (typeof outcome === 'string') {
          if (outcome === 'abandoned') this.abandoned++
          return outcome
        }
        return outcome.then((o) => {
          if (o === 'abandoned') this.abandoned++
          return o
        })
      },
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

    await this.mode.consumeBatch(ctx, payload)

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

  /**
   * The shutdown sequence (shutdown.ts, docs/design.md): readiness off, stop fetching, let the committed messages
   * be processed until the deadline, final synchronous commit, leave the group. Idempotent.
   */
  shutdown(reason = 'shutdown'): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.runShutdown(reason)
    return this.shutdownPromise
  }

  private async runShutdown(reason: string): Promise<ShutdownResult> {
    const was = this.state
    this.stopping = true
    this.metrics.ready.set(0)
    this.startAbort.abort()
    if (was === 'idle') {
      // Never started (a start-up failure, or app.close() before ready): nothing to commit or leave.
      this.state = 'stopped'
      this.log.debug({ reason }, 'shutdown: the consumer was never started')
      return { clean: true, abandoned: 0, durationMs: 0 }
    }
    this.log.info({ reason, timeoutMs: this.config.shutdownTimeoutMs, state: was }, 'shutdown began')
    this.state = 'stopping'
    if (!this.holdsWork(was)) {
      // No partition assigned, so nothing committed is waiting to be processed: a join still pending
      // (held by the coordinator, or the broker unreachable, or the connect loop between attempts)
      // is given up at once rather than waited for.
      try {
        return await abandonJoin({
          log: this.log,
          state: was,
          abortConnections: () => this.sockets.abort(),
          disconnect: async () => {
            await this.closeLedger() // [commit-doubt]
            await this.consumer.disconnect()
            await this.admin?.disconnect() // [commit-doubt]
            await this.deadLetter?.disconnect()
          },
        })
      } finally {
        this.state = 'stopped'
      }
    }
    try {
      return await shutdownSequence({
        timeoutMs: this.config.shutdownTimeoutMs,
        log: this.log,
        deadline: this.deadline,
        stopFetching: () => {
          try {
            this.consumer.pause(this.config.topics.map((topic) => ({ topic })))
          } catch {
            // not running yet: nothing to pause
          }
        },
        inFlight: () => [...this.activeBatches],
        finalCommit: () => this.finalCommit(),
        leaveGroup: async () => {
          await this.closeLedger() // [commit-doubt] before the partitions change owner
          // kafkajs's disconnect waits for a pending rejoin, which the coordinator may hold until
          // every member rejoined or timed out. By now nothing is in flight and the final commit
          // is done: close the connections so that the rejoin fails at once; kafkajs then sends
          // its LeaveGroup on a new connection.
          if (this.rejoining) {
            this.log.info('the group is rebalancing: giving up the rejoin, then leaving')
            this.sockets.abort()
          }
          await this.consumer.disconnect()
        },
        closeOthers: async () => {
          await this.deadLetter?.disconnect()
          await this.admin?.disconnect() // [commit-doubt]
        },
        abandoned: () => this.abandoned,
      })
    } finally {
      this.state = 'stopped'
    }
  }

  /**
   * Whether shutdown has anything to drain, commit or leave: a group joined (state `running`), a
   * batch in flight, or a commit pending. Otherwise (connecting, joining, restarting after a crash,
   * crashed) no partition is held and nothing committed is at risk.
   */
  private holdsWork(state: ConsumerState): boolean {
    if (state === 'running' || this.activeBatches.size > 0) return true
    return [...this.partitions.values()].some((st) => st.committer.busy || st.committer.pending !== undefined)
  }

  /**
   * [commit-doubt] Shutdown: resolve the commits in doubt while this member still holds its
   * partitions (within half of SHUTDOWN_TIMEOUT_MS), then count what is left in doubt.
   */
  private async closeLedger(): Promise<void> {
    await this.doubt.resolve('shutdown', this.config.shutdownTimeoutMs / 2)
    this.doubt.close()
  }

  /** [commit-doubt] The group's committed offsets of `topic`, then the group's members (commit-doubt.ts ReadCommitted), through an admin client. */
  private async readCommitted(topic: string): Promise<Awaited<ReturnType<ReadCommitted>>> {
    this.admin ??= this.kafka.admin({ retry: { retries: 1, initialRetryTime: 200 } }) // the ledger retries itself
    await this.admin.connect()
    const [res] = await this.admin.fetchOffsets({ groupId: this.config.groupId, topics: [topic] })
    const committed = new Map((res?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    const { groups } = await this.admin.describeGroups([this.config.groupId])
    const group = groups[0]
    const members = new Map<string, Record<string, number[]> | undefined>()
    for (const m of group?.members ?? []) {
      const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
      members.set(m.memberId, decoded ? (decoded.assignment as Record<string, number[]>) : undefined)
    }
    return { committed, group: { state: group?.state ?? 'Unknown', members } }
  }

  /** Commit every position still pending (async: the newest sent; auto: the processed one). */
  private async finalCommit(): Promise<boolean> {
    const via = this.commitVia
    const pending = [...this.partitions.values()].filter((st) => st.committer.busy || st.committer.pending !== undefined)
    if (pending.length === 0 || !via) {
      this.log.info({ mode: this.mode.name, pending: 0 }, 'final commit: nothing pending')
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
    if (ok) this.log.info({ mode: this.mode.name, offsets }, 'final commit done')
    else this.log.warn({ mode: this.mode.name, offsets, lost: false }, `final commit failed; ${this.mode.failedFinalCommitCost}`)
    return ok
  }
}
