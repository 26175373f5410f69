/**
 * What a batch loop (the sync executors, the async and auto loops) needs from the consumer
 * around it: one fetched batch of one partition, and the partition's state that outlives it.
 */
import type { KafkaMessage } from 'kafkajs'
import type { Ordering } from '../config/schema.ts'
import type { Outcome } from '../message/process.ts'
import type { PartitionMetrics } from '../metrics.ts'
import type { CommitFn, PartitionCommitter } from './committer.ts'
import type { InFlightLimiter } from './in-flight.ts'

export interface BatchContext {
  topic: string
  partition: number
  messages: KafkaMessage[]
  highWatermark: string
  committer: PartitionCommitter
  commit: CommitFn
  /** COMMIT_WINDOW. */
  window: number
  /** ORDERING (sync): partition, key or unordered. */
  ordering: Ordering
  /** MAX_IN_FLIGHT: handler calls in flight in the whole process. */
  limiter: InFlightLimiter
  metrics: PartitionMetrics
  /** False once shutdown began or the partition is being revoked: no NEW window is committed. */
  mayCommit: () => boolean
  /** Aborted at the shutdown deadline. */
  deadline: AbortSignal
  /** May return the outcome synchronously (a synchronous handler): then no await per message. */
  process: (message: KafkaMessage) => Outcome | Promise<Outcome>
  /** Mark the message consumed for kafkajs (its next fetch starts after it). */
  resolve: (offset: string) => void
  /** kafkajs heartbeat; lets a rebalance surface while a long batch runs. */
  heartbeat: () => Promise<void>
  /** Per-partition position state shared with the other modes. */
  position: PartitionPosition
  /** Called for each committed message that is dropped at the shutdown deadline. */
  drop: (message: KafkaMessage) => void
}

/** Where processing of a partition stands. */
export interface PartitionPosition {
  /** Messages below this offset were processed (or skipped) already; never handed over again. */
  next: number
  /** Moving average of handler time per message, in ms (for the serial pipeline). */
  perMessageMs: number
}

/**
 * How often a long batch offers kafkajs a heartbeat (kafkajs sends one only when
 * KAFKA_HEARTBEAT_INTERVAL_MS has passed, and has no heartbeat of its own while a batch runs).
 * Below the default interval (500 ms), so that a member busy in a long batch still learns of a
 * rebalance within about one interval: what keeps a rolling restart's pause short.
 */
export const HEARTBEAT_CHECK_MS = 250
