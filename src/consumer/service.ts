/**
 * The consumer service: wires the parts together and translates kafkajs's events.
 *
 *   clients.ts          the Kafka clients, closed in one order
 *   consumer-health.ts  liveness, readiness, the state
 *   connect-loop.ts     start-up retries and the restart after a crash
 *   partitions.ts       each partition's state (committer, position, gauges) and its events
 *   loss-ledger/        the commits in doubt (sync), listening to the partitions
 *   batch.ts            each fetched batch, handed to the object of its commit mode
 *                       (commit-modes.ts: the commit gate and the dispatcher for sync, the ungated
 *                       path for async and auto)
 *   breaker.ts          the circuit breaker; fetching.ts pauses fetching while it is open (and at
 *                       shutdown); probe.ts bounds the handler module's probe
 *   shutdown.ts         the shutdown sequence; final-commit.ts its final commit
 *
 * kafkajs events: GROUP_JOIN (a generation joined: the partitions' owner is told, readiness on),
 * REBALANCING (the ledger reads before the partitions change owner), CRASH (restart, or crashed for
 * good), FETCH_START and HEARTBEAT (liveness), COMMIT_OFFSETS (auto: kafkajs's own commits).
 */
import type { EachBatchPayload, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { ServiceConfig } from '../config/load.ts'
import { createDecoder } from '../message/decode.ts'
import type { HandlerModule } from '../message/handler.ts'
import { CallWatch } from '../message/call-watch.ts'
import { MessageRunner, type ProcessDeps } from '../message/process.ts'
import type { Metrics } from '../metrics.ts'
import { markFetched } from '../tracing/fetched.ts'
import { createBatch, type BatchParts } from './batch.ts'
import { ALWAYS_CLOSED, CircuitBreaker, type BreakerState } from './breaker.ts'
import { ConsumerClients } from './clients.ts'
import { CommitBatcher } from './commit-batcher.ts'
import { isRebalanceError } from './commit-errors.ts'
import { COMMIT_MODE_BEHAVIOUR, type CommitModeBehaviour } from './commit-modes.ts'
import { connectWithRetry, CrashStreak } from './connect-loop.ts'
import { ConsumerHealth, type ConsumerState } from './consumer-health.ts'
import { finalCommit, hasPendingCommit } from './final-commit.ts'
import { InFlightLimiter } from './in-flight.ts'
import { LossLedger } from './loss-ledger/ledger.ts'
import { GroupReader } from './loss-ledger/read-group.ts'
import { Partitions, type PartitionState } from './partitions.ts'
import { MAX_BYTES, MAX_BYTES_PER_PARTITION } from './fetch-sizes.ts'
import { Fetching } from './fetching.ts'
import { boundedProbe } from './probe.ts'
import { abandonJoin, shutdownSequence, Unprocessed, type ShutdownResult } from './shutdown.ts'
import { inspectTopics } from './topics.ts'

export type { ConsumerState, ShutdownResult }

/** Fetch long-poll: also bounds how long leaving the group waits for an idle fetch. */
const MAX_WAIT_MS = 500
export class ConsumerService {
  private readonly clients: ConsumerClients
  private readonly healthState: ConsumerHealth
  private readonly partitions: Partitions
  private readonly commits = new CommitBatcher()
  /** COMMIT_MODE: everything that differs between the modes (commit-modes.ts). */
  private readonly mode: CommitModeBehaviour
  /** sync mode: the commits in doubt, resolved on the next fetch or before a partition changes owner. */
  private readonly ledger: LossLedger | undefined
  /** The circuit breaker around the handler (undefined: BREAKER_THRESHOLD=0). */
  private readonly breaker: CircuitBreaker | undefined
  /** Fetching paused and resumed: for the breaker, and at shutdown. */
  private readonly fetching: Fetching
  private readonly batchParts: BatchParts
  /** What every partition's message runner shares (its metrics are the partition's). */
  private readonly runnerDeps: Omit<ProcessDeps, 'metrics'>
  private readonly activeBatches = new Set<Promise<void>>()
  private readonly deadline = new AbortController()
  private readonly startAbort = new AbortController()
  private readonly unprocessed: Unprocessed
  private readonly crashes = new CrashStreak()
  private shutdownPromise: Promise<ShutdownResult> | undefined
  /** Between a REBALANCING event and the next GROUP_JOIN: kafkajs is rejoining the group. */
  private rejoining = false
  /** The crash being reported is retriable: the service restarts the consumer. */
  private restartWanted = false
  /** Generations of the group this member joined. */
  private joins = 0

  constructor(
    private readonly config: ServiceConfig,
    module: HandlerModule,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    kafka?: Kafka,
  ) {
    this.mode = COMMIT_MODE_BEHAVIOUR[config.commitMode]
    this.healthState = new ConsumerHealth(config.stallTimeoutMs, metrics.ready)
    this.unprocessed = new Unprocessed(log)
    this.clients = new ConsumerClients(
      config,
      {
        groupId: config.groupId,
        sessionTimeout: config.sessionTimeoutMs,
        heartbeatInterval: config.heartbeatIntervalMs,
        rebalanceTimeout: Math.max(60_000, config.sessionTimeoutMs),
        maxWaitTimeInMs: MAX_WAIT_MS,
        // What one fetch may bring back: bounds the memory a fetch round adds (fetch-sizes.ts).
        maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
        maxBytes: MAX_BYTES,
        allowAutoTopicCreation: false,
        // kafkajs asks this only for a retriable crash. The service restarts the consumer itself
        // (the CRASH event below), never once shutdown has begun: a join given up at shutdown fails
        // with a connection error, which kafkajs would otherwise retry.
        retry: {
          restartOnFailure: async () => {
            this.restartWanted = !this.healthState.stopping
            return false
          },
        },
      },
      metrics,
      log,
      kafka,
    )
    this.partitions = new Partitions({ metrics, transport: this.commits, log, mode: this.mode })
    if (this.mode.ledger) {
      this.ledger = new LossLedger({ metrics, log, read: new GroupReader(this.clients.admin, config.groupId).read, readBudgetMs: config.sessionTimeoutMs })
      this.partitions.listen(this.ledger)
    }
    this.fetching = new Fetching(this.clients.consumer, config.topics, this.clients.admin, this.partitions, log)
    const limiter = new InFlightLimiter(config.maxInFlight, { perSecond: config.maxCallsPerSecond, onDelayed: () => metrics.callsDelayed.inc() })
    if (config.breaker) {
      this.breaker = new CircuitBreaker({
        ...config.breaker,
        probe: module.probe && boundedProbe(module.probe, config.handlerTimeoutMs, this.startAbort.signal, log),
        // Held: committed and not started (at risk, less the calls running, which hold a slot each).
        held: () => Math.max(0, [...this.partitions.all()].reduce((n, p) => n + p.atRisk.count, 0) - limiter.count),
        log,
        metrics: metrics.breaker,
      })
      this.breaker.onChange((state) => this.fetching.breaker(state))
    }
    metrics.inFlightSource.read = () => limiter.count
    this.batchParts = {
      window: config.commitWindow,
      ordering: config.ordering,
      limiter,
      deadline: this.deadline.signal,
      breaker: this.breaker ?? ALWAYS_CLOSED,
      stopping: () => this.healthState.stopping,
      dropped: (p, message) => this.unprocessed.dropped(p, message),
      log,
    }
    this.runnerDeps = {
      decode: createDecoder(config.valueFormat),
      handler: module.handler,
      handlerTimeoutMs: config.handlerTimeoutMs,
      deadline: this.deadline.signal,
      log, // not a child logger: the lines carry topic, partition and offset themselves
      deadLetter: this.clients.deadLetter?.send,
      // A handler still running at the shutdown deadline is abandoned (process.ts logs it): a
      // committed message left unprocessed, which makes the shutdown not clean (exit 1).
      onAbandoned: () => this.unprocessed.abandoned(),
      calls: this.breaker,
      watch: new CallWatch(config.handlerTimeoutMs, this.deadline.signal),
    }
    this.followEvents()
  }

  /** The circuit breaker's state, or undefined when there is none (BREAKER_THRESHOLD=0). */
  get breakerState(): BreakerState | undefined {
    return this.breaker?.state
  }

  get state(): ConsumerState {
    return this.healthState.state
  }

  /** Readiness: joined the group, not crashed, not shutting down. A rebalance keeps it ready. */
  get ready(): boolean {
    return this.healthState.ready
  }

  /** Liveness: false once the consumer crashed for good or its fetch loop stalled. */
  health(): { ok: boolean; reason?: string } {
    return this.healthState.health()
  }

  /** Start consuming in the background; never throws (an unreachable Kafka is retried). */
  start(): void {
    if (this.healthState.stopping || this.healthState.state !== 'idle') return
    this.healthState.state = 'connecting'
    void this.connectLoop()
  }

  /**
   * Connect, subscribe and run, retried with back-off (connect-loop.ts). Also the restart after a
   * retriable crash, which starts `firstDelayMs` later and continues the back-off from `backoffFrom`.
   */
  private async connectLoop(firstDelayMs = 0, backoffFrom = 0): Promise<void> {
    const { consumer } = this.clients
    let connected = false
    await connectWithRetry({
      signal: this.startAbort.signal,
      log: this.log,
      firstDelayMs,
      backoffFrom,
      // Only a consumer that got as far as connecting has anything to close (and kafkajs logs a
      // "Stopped" line for each disconnect).
      cleanup: async () => {
        if (connected) await consumer.disconnect()
        connected = false
      },
      attempt: async () => {
        if (this.healthState.stopping) return
        this.healthState.state = 'connecting'
        const { partitions } = await inspectTopics(this.clients.probe, this.config.topics)
        connected = true
        await this.clients.connect()
        await consumer.subscribe({ topics: this.config.topics, fromBeginning: this.config.fromBeginning })
        if (this.healthState.stopping) return
        this.healthState.state = 'joining'
        const concurrency = this.config.partitionConcurrency
        await consumer.run({
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

  /** kafkajs's events, translated: into health, the partitions' owner, the loss ledger, the restart policy. */
  private followEvents(): void {
    const { consumer } = this.clients
    const { events } = consumer
    const progress = () => this.healthState.progress()
    consumer.on(events.FETCH_START, progress)
    consumer.on(events.HEARTBEAT, progress)
    consumer.on(events.GROUP_JOIN, (e) => {
      this.rejoining = false
      if (this.joins++ > 0) this.metrics.rebalances.inc()
      this.partitions.joined(e.payload.memberId, e.payload.memberAssignment)
      this.fetching.keepPaused() // a restarted consumer starts unpaused
      this.healthState.joined()
      this.log.info(
        { groupId: e.payload.groupId, memberId: e.payload.memberId, assignment: e.payload.memberAssignment, generation: this.joins },
        'joined the consumer group',
      )
    })
    consumer.on(events.REBALANCING, () => {
      this.rejoining = true
      void this.ledger?.resolve('rebalance') // read now: answered before the group's new generation can start
      this.log.info('the group is rebalancing')
    })
    consumer.on(events.CRASH, (e) => {
      // A crash at shutdown is the join given up on purpose (or the connections closing): not a crash.
      this.rejoining = false
      const restart = this.restartWanted
      this.restartWanted = false
      void this.ledger?.resolve('crash') // kafkajs has left the group: the outcome may be unknowable
      if (this.healthState.stopping) return
      this.metrics.crashes.inc({ restart: String(restart) })
      const err = e.payload.error as Error
      const error = `${err.name}: ${err.message}`
      if (restart) {
        // Restarted by the service's connect loop, not by kafkajs (whose restart would spend its
        // own connection retries, seconds of them, before the next line): one warn line per
        // attempt, each giving the real delay to the next. Back-off grows with crashes in a row.
        this.healthState.restarting()
        const { crashesInARow, retryInMs } = this.crashes.crashed()
        this.log.warn({ error, crashesInARow, retryInMs }, 'the consumer crashed; restarting it')
        void this.connectLoop(retryInMs, crashesInARow)
      } else {
        this.healthState.crashed()
        this.log.error({ error }, 'the consumer crashed for good; liveness now fails')
      }
    })
    if (this.mode.kafkajsCommits) {
      consumer.on(events.COMMIT_OFFSETS, (e) => {
        for (const { topic, partitions } of e.payload.topics) {
          for (const { partition, offset } of partitions) this.partitions.find(topic, partition)?.ungated.kafkajsCommitted(Number(offset))
        }
      })
    }
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    this.healthState.progress()
    const { batch } = payload
    const p = this.partitions.get(batch.topic, batch.partition)
    this.partitions.fetched(p, batch.messages[0]?.offset)
    if (this.healthState.stopping || batch.messages.length === 0) return // not committed: fetched again later
    this.fetching.keepPaused() // fetched before the pause took effect
    const work = this.runBatch(payload, p)
    this.activeBatches.add(work)
    try {
      await work.catch(async (err: unknown) => {
        // kafkajs rejoins for this error once eachBatch returns: the ledger reads before that.
        if (isRebalanceError(err)) await this.ledger?.resolve('rebalance')
        throw err
      })
      this.crashes.reset()
    } finally {
      this.activeBatches.delete(work)
      this.healthState.progress()
    }
  }

  private async runBatch(payload: EachBatchPayload, p: PartitionState): Promise<void> {
    markFetched(payload.batch.messages) // tracing on: a message's span starts at its fetch (the commit wait shows)
    this.commits.use(payload.commitOffsetsIfNecessary)
    p.committer.lastError = undefined
    const b = createBatch(payload, p, this.batchParts)
    await this.mode.consumeBatch(b, new MessageRunner(p.topic, p.partition, { ...this.runnerDeps, metrics: p.metrics }), payload)

    // A commit refused with a rebalance-type error: ask the coordinator with a heartbeat whether
    // the group really is rebalancing (a rejoin stops the whole group, so never on a guess). When
    // it is, hand the error to kafkajs, which rejoins for it (no crash, no back-off).
    if (!this.healthState.stopping && b.rebalance === undefined && isRebalanceError(p.committer.lastError)) await b.heartbeat(true)
    if (b.rebalance !== undefined && !this.healthState.stopping) throw b.rebalance
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
    const was = this.healthState.state
    this.healthState.stop()
    this.startAbort.abort()
    this.breaker?.stop()
    if (was === 'idle') {
      // Never started (a start-up failure, or app.close() before ready): nothing to commit or leave.
      this.healthState.state = 'stopped'
      this.log.debug({ reason }, 'shutdown: the consumer was never started')
      return { clean: true, abandoned: 0, durationMs: 0 }
    }
    this.log.info({ reason, timeoutMs: this.config.shutdownTimeoutMs, state: was }, 'shutdown began')
    this.healthState.state = 'stopping'
    try {
      if (!this.holdsWork(was)) {
        // No partition assigned, so nothing committed is waiting to be processed: a join still pending
        // (held by the coordinator, or the broker unreachable, or the connect loop between attempts)
        // is given up at once rather than waited for.
        this.fetching.stop()
        return await abandonJoin({ log: this.log, state: was, abortConnections: () => this.clients.abort(), closeClients: (leaveMs, othersMs) => this.closeClients(leaveMs, othersMs) })
      }
      return await shutdownSequence({
        timeoutMs: this.config.shutdownTimeoutMs,
        log: this.log,
        deadline: this.deadline,
        stopFetching: () => this.fetching.stop(),
        inFlight: () => [...this.activeBatches],
        countHeld: () => {
          for (const p of this.partitions.all()) this.unprocessed.held(p.loseHeld('shutdown', this.log))
        },
        finalCommit: () => finalCommit(this.partitions.all(), this.mode, this.log, this.commits.usable),
        closeClients: (leaveMs, othersMs) => this.closeClients(leaveMs, othersMs),
        abandoned: () => this.unprocessed.count,
      })
    } finally {
      this.healthState.state = 'stopped'
    }
  }

  /**
   * Close the clients (clients.ts, one order). Before leaving, while this member still holds its
   * partitions, the ledger resolves its commits in doubt (within half of SHUTDOWN_TIMEOUT_MS) and
   * counts what is left unknowable. kafkajs's disconnect waits for a pending rejoin, which the
   * coordinator may hold until every member rejoined or timed out: by now nothing is in flight and
   * the final commit is done, so the connections are closed and the rejoin fails at once; kafkajs
   * then sends its LeaveGroup on a new connection.
   */
  private closeClients(leaveMs: number, othersMs: number): Promise<{ left: boolean }> {
    return this.clients.close({
      leaveMs,
      othersMs,
      beforeLeave: async () => {
        if (this.ledger) {
          await this.ledger.resolve('shutdown', this.config.shutdownTimeoutMs / 2)
          this.ledger.close()
        }
        if (this.rejoining) {
          this.log.info('the group is rebalancing: giving up the rejoin, then leaving')
          this.clients.abort()
        }
      },
    })
  }

  /**
   * Whether shutdown has anything to drain, commit or leave: a group joined (state `running`), a
   * batch in flight, or a commit pending. Otherwise (connecting, joining, restarting after a crash,
   * crashed) no partition is held and nothing committed is at risk.
   */
  private holdsWork(state: ConsumerState): boolean {
    if (state === 'running' || this.activeBatches.size > 0) return true
    return [...this.partitions.all()].some(hasPendingCommit)
  }
}
