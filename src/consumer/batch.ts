/**
 * One fetched batch of one partition, as every batch loop sees it (the sync dispatcher, the
 * ungated async and auto loops), built by one factory, `createBatch`, from kafkajs's eachBatch
 * payload (or a stand-in of it in tests), the partition's state and the consumer's shared parts.
 * A batch holds no way to call the handler: in COMMIT_MODE=sync only the commit gate does
 * (at-most-once.ts).
 */
import type { KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import type { Ordering } from '../config/schema.ts'
import type { Admission } from './breaker.ts'
import { isRebalanceError } from './commit-errors.ts'
import type { InFlightLimiter } from './in-flight.ts'
import type { PartitionState } from './partitions.ts'

/**
 * How often a long batch offers kafkajs a heartbeat (kafkajs sends one only when
 * KAFKA_HEARTBEAT_INTERVAL_MS has passed, and has no heartbeat of its own while a batch runs).
 * Below the default interval (500 ms), so that a member busy in a long batch still learns of a
 * rebalance within about one interval: what keeps a rolling restart's pause short.
 */
export const HEARTBEAT_CHECK_MS = 250

/** What a batch needs of kafkajs's eachBatch payload (tests pass a stand-in). */
export interface BatchSource {
  batch: { topic: string; partition: number; messages: KafkaMessage[]; highWatermark: string }
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  isRunning(): boolean
}

/** What every batch shares with the consumer around it. */
export interface BatchParts {
  /** COMMIT_WINDOW. */
  window: number
  /** ORDERING (sync). */
  ordering: Ordering
  /** MAX_IN_FLIGHT: handler calls in flight in the whole process. */
  limiter: InFlightLimiter
  /** Aborted at the shutdown deadline. */
  deadline: AbortSignal
  /** The circuit breaker: while it is not closed, nothing new is started or committed (breaker.ts). */
  breaker: Admission
  /** Shutdown began: nothing new is committed or started. */
  stopping(): boolean
  /** A committed message was dropped at the shutdown deadline, never handed over (counted and logged there). */
  dropped(p: PartitionState, message: KafkaMessage): void
  log: Logger
}

export class Batch {
  readonly topic: string
  readonly partition: number
  readonly messages: KafkaMessage[]
  readonly highWatermark: string
  readonly window: number
  readonly ordering: Ordering
  readonly limiter: InFlightLimiter
  readonly deadline: AbortSignal
  readonly breaker: Admission
  /** A rebalance error a heartbeat surfaced: handed to kafkajs when the batch returns. */
  rebalance: unknown = undefined
  private lastBeat = Date.now()

  constructor(
    private readonly source: BatchSource,
    /** The partition's state (partitions.ts): committer, position, gauges. */
    readonly state: PartitionState,
    private readonly parts: BatchParts,
  ) {
    const { batch } = source
    this.topic = batch.topic
    this.partition = batch.partition
    this.messages = batch.messages
    this.highWatermark = batch.highWatermark
    this.window = parts.window
    this.ordering = parts.ordering
    this.limiter = parts.limiter
    this.deadline = parts.deadline
    this.breaker = parts.breaker
  }

  /**
   * False once shutdown began, a heartbeat surfaced a rebalance, or kafkajs stopped running the
   * consumer: no NEW window is committed (sync) and no new message started (async, auto). (kafkajs's
   * isStale() is not consulted: it only reports a pending seek(), which this service never makes.)
   */
  active(): boolean {
    return !this.parts.stopping() && this.rebalance === undefined && this.source.isRunning()
  }

  /** Mark the messages up to `offset` consumed for kafkajs (its next fetch of the partition starts after it). */
  resolve(offset: string): void {
    this.source.resolveOffset(offset)
  }

  /**
   * Offer kafkajs a heartbeat when HEARTBEAT_CHECK_MS passed since the last offer (kafkajs sends one
   * only when due): keeps the group session alive through a long batch and lets a rebalance
   * surface. Undefined when no offer was due. Never rejects.
   */
  heartbeat(force = false): Promise<void> | undefined {
    const now = Date.now()
    if (!force && now - this.lastBeat < HEARTBEAT_CHECK_MS) return undefined
    this.lastBeat = now
    return this.source.heartbeat().catch((err: unknown) => {
      if (isRebalanceError(err)) this.rebalance = err
      else this.parts.log.warn({ error: (err as Error).message }, 'heartbeat failed')
    })
  }

  /** A committed message not handed over before the shutdown deadline: counted and logged. */
  drop(message: KafkaMessage): void {
    this.state.atRisk.finished()
    this.parts.dropped(this.state, message)
  }
}

/** The one way a Batch is built: by the consumer for every eachBatch, and by the tests. */
export function createBatch(source: BatchSource, state: PartitionState, parts: BatchParts): Batch {
  return new Batch(source, state, parts)
}
