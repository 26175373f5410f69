/**
 * The broker a chaos run works against: a three-node Apache Kafka KRaft cluster (the default;
 * one cluster for the whole suite, a fresh topic and group per run) or librdkafka's three-broker
 * mock cluster (a fresh one per run: the only broker that injects request-level errors and RTT).
 */
import { MockCluster, mockServiceArgs } from '../brokers/mock-cluster.ts'
import { ApacheKafka, DEFAULT_KAFKA_VERSION } from '../brokers/apache-kafka/index.ts'
import { heal, OFFSETS_TOPIC } from './faults.ts'

export type BrokerKind = 'kafka' | 'mock'

/** The cluster of one run. */
export type RunCluster =
  | { kind: 'mock'; brokers: string[]; mock: MockCluster; serviceArgs: string[] }
  | { kind: 'kafka'; brokers: string[]; kafka: ApacheKafka; serviceArgs: string[] }

/** What runOutage needs of a broker, and how to let it go after the run. */
export interface OutageCluster {
  bootstrap: string[]
  createTopic: (topic: string, partitions: number) => Promise<void>
  close: () => Promise<void>
}

export interface ChaosBroker {
  readonly kind: BrokerKind
  /** e.g. "Apache Kafka 4.4.0, 3 KRaft nodes (broker+controller)". */
  readonly description: string
  /** The cluster for one run, with `topic` created (RF 3 on Apache Kafka). */
  forRun(topic: string, partitions: number): Promise<RunCluster>
  /**
   * A downstream-outage run's broker (harness/chaos/outage.ts creates its own topic): a fresh
   * 3-broker mock, or the suite's Apache Kafka cluster (topics with replication factor 3).
   */
  forOutage(): Promise<OutageCluster>
  /** After a run: mock closed; Kafka nodes all running again, everything in sync. */
  release(run: RunCluster, topic: string): Promise<void>
  close(): Promise<void>
  /** ms to start (Apache Kafka), for the report. */
  readonly startMs: number
}

export async function openBroker(kind: BrokerKind, opts: { version?: string; log?: (l: string) => void } = {}): Promise<ChaosBroker> {
  if (kind === 'mock') {
    return {
      kind,
      description: `librdkafka ${MockCluster.librdkafkaVersion()} mock cluster, 3 brokers`,
      startMs: 0,
      async forRun(topic, partitions) {
        const mock = MockCluster.start({ brokers: 3, topics: { [topic]: partitions } })
        return { kind: 'mock', brokers: mock.brokers, mock, serviceArgs: mockServiceArgs() }
      },
      async forOutage() {
        const mock = MockCluster.start({ brokers: 3 })
        return { bootstrap: mock.brokers, createTopic: async (topic, partitions) => mock.createTopic(topic, partitions), close: async () => mock.close() }
      },
      async release(run) {
        if (run.kind === 'mock') run.mock.close()
      },
      async close() {},
    }
  }
  const t0 = Date.now()
  const kafka = await ApacheKafka.start({ version: opts.version ?? process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION, nodes: 3, ...(opts.log ? { log: opts.log } : {}) })
  return {
    kind,
    description: `Apache Kafka ${kafka.version}, 3 KRaft nodes (broker+controller)`,
    startMs: Date.now() - t0,
    async forRun(topic, partitions) {
      await kafka.createTopic(topic, partitions, 3)
      return { kind: 'kafka', brokers: kafka.bootstrap, kafka, serviceArgs: [] }
    },
    async forOutage() {
      return { bootstrap: kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions, 3), close: async () => undefined }
    },
    async release(_run, topic) {
      await heal(kafka, [topic, OFFSETS_TOPIC])
    },
    close: () => kafka.stop(),
  }
}
