/**
 * What a chaos run is asked for (ChaosOptions) and what its fault timeline works with
 * (RunContext): shared by scenario.ts, which runs it, and timeline-kafka.ts / timeline-mock.ts.
 */
import type { RunCluster } from './cluster.ts'
import type { Fleet } from './fleet.ts'

export type Mode = 'sync' | 'async' | 'auto'

export interface ChaosOptions {
  mode: Mode
  window: number
  /** ORDERING (sync); `key` runs also check per-key order and exclusivity across the group (key-order.ts). */
  ordering?: 'partition' | 'key'
  /** Streaming time in ms; the fault timeline is scaled to it (faults that take their own time, e.g. a restart, may stretch it). */
  durationMs: number
  /** Messages per second the producer aims at. */
  rate: number
  partitions?: number
  /** A handler taking this many ms per message (harness/chaos/slow-handler.mjs); 0 = HANDLER=log. */
  handlerMs?: number
  /** Kill the instance only while it holds committed-but-unprocessed messages (the loss run). */
  killAtRisk?: boolean
  /** Mock: include the broker outage (can stall the producer for seconds). Default true. */
  brokerFaults?: boolean
  /** Apache Kafka: which of the real-cluster faults to include (default all). */
  kafkaFaults?: KafkaFaultOptions
  log?: (line: string) => void
  /** Write each instance's log lines under this directory (one folder per run). */
  logDir?: string
}

export interface KafkaFaultOptions {
  /** SIGKILL + restart of the coordinator's node (default true). */
  coordinatorKill?: boolean
  /** SIGSTOP / SIGCONT of a node (default true). */
  freeze?: boolean
  /** Preferred-leader election (default true). */
  elect?: boolean
}

/** What a timeline works with. */
export interface RunContext {
  opts: ChaosOptions
  cluster: RunCluster
  fleet: Fleet
  topic: string
  group: string
  /** Log a fault (kept in the result). */
  note: (s: string) => void
  /** Count a fault of the group coordinator's node (it widens the loss bound: tally.ts). */
  coordinatorFault: () => void
  /** Wait until `ms` of the broker's base timeline, scaled to durationMs, have passed since streaming began. */
  until: (ms: number) => Promise<unknown>
}
