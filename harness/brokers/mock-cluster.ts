/**
 * A real Kafka-protocol broker for tests, the demo and the benchmark: librdkafka's mock
 * cluster (the one librdkafka's own test suite uses), reached through koffi. It serves the
 * Kafka wire protocol over TCP on loopback, so kafkajs talks to it exactly as to Apache Kafka.
 *
 * librdkafka runs the cluster on its own threads inside this process; nothing here blocks the
 * event loop. Limit: each partition keeps about 5 MB, older messages are pruned.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** Kafka API keys used for fault injection. */
/**
 * Node arguments for a service process run against the mock cluster when several members share
 * one group: the preload (mock-quirks.mjs) that carries the workaround for the mock coordinator's
 * SyncGroup quirk. Never used against Apache Kafka, never in production.
 */
export const mockServiceArgs = (): string[] => ['--import', new URL('./mock-quirks.mjs', import.meta.url).href]

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
} as const

/** Kafka error codes used for fault injection. */
export const KafkaErr = {
  REQUEST_TIMED_OUT: 7,
  NOT_LEADER_FOR_PARTITION: 6,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
} as const

const INSTALL_HINT =
  'librdkafka (the Debian package librdkafka1, which contains the mock Kafka cluster) could not be loaded. ' +
  'Install it with: apt-get update && apt-get install -y librdkafka1'

interface Native {
  conf_new: () => unknown
  conf_set: (conf: unknown, name: string, value: string, errstr: Buffer, size: number) => number
  new_: (type: number, conf: unknown, errstr: Buffer, size: number) => unknown
  destroy: (rk: unknown) => void
  version: () => string
  cluster_new: (rk: unknown, brokers: number) => unknown
  cluster_destroy: (mc: unknown) => void
  bootstraps: (mc: unknown) => string
  topic_create: (mc: unknown, topic: string, partitions: number, rf: number) => number
  broker_set_down: (mc: unknown, id: number) => number
  broker_set_up: (mc: unknown, id: number) => number
  broker_set_rtt: (mc: unknown, id: number, rttMs: number) => number
  push_errors: (mc: unknown, apiKey: number, cnt: number, errs: Int32Array) => void
  clear_errors: (mc: unknown, apiKey: number) => void
  coordinator_set: (mc: unknown, keyType: string, key: string, brokerId: number) => number
  partition_set_leader: (mc: unknown, topic: string, partition: number, brokerId: number) => number
}

let native: Native | undefined

function loadNative(): Native {
  if (native) return native
  let koffi: typeof import('koffi')
  let lib: ReturnType<typeof import('koffi').load>
  try {
    koffi = require('koffi') as typeof import('koffi')
  } catch (err) {
    throw new Error(`koffi is not installed (run npm ci): ${(err as Error).message}`)
  }
  try {
    lib = koffi.load(process.env.AMO_LIBRDKAFKA ?? 'librdkafka.so.1')
  } catch (err) {
    throw new Error(`${INSTALL_HINT}\n  cause: ${(err as Error).message}`)
  }
  koffi.opaque('rd_kafka_conf_t')
  koffi.opaque('rd_kafka_t')
  koffi.opaque('rd_kafka_mock_cluster_t')
  native = {
    conf_new: lib.func('rd_kafka_conf_t *rd_kafka_conf_new()'),
    conf_set: lib.func(
      'int rd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, _Out_ uint8_t *errstr, size_t errstr_size)',
    ),
    new_: lib.func(
      'rd_kafka_t *rd_kafka_new(int type, rd_kafka_conf_t *conf, _Out_ uint8_t *errstr, size_t errstr_size)',
    ),
    destroy: lib.func('void rd_kafka_destroy(rd_kafka_t *rk)'),
    version: lib.func('const char *rd_kafka_version_str()'),
    cluster_new: lib.func('rd_kafka_mock_cluster_t *rd_kafka_mock_cluster_new(rd_kafka_t *rk, int broker_cnt)'),
    cluster_destroy: lib.func('void rd_kafka_mock_cluster_destroy(rd_kafka_mock_cluster_t *mc)'),
    bootstraps: lib.func('const char *rd_kafka_mock_cluster_bootstraps(rd_kafka_mock_cluster_t *mc)'),
    topic_create: lib.func(
      'int rd_kafka_mock_topic_create(rd_kafka_mock_cluster_t *mc, const char *topic, int partition_cnt, int replication_factor)',
    ),
    broker_set_down: lib.func('int rd_kafka_mock_broker_set_down(rd_kafka_mock_cluster_t *mc, int32_t broker_id)'),
    broker_set_up: lib.func('int rd_kafka_mock_broker_set_up(rd_kafka_mock_cluster_t *mc, int32_t broker_id)'),
    broker_set_rtt: lib.func(
      'int rd_kafka_mock_broker_set_rtt(rd_kafka_mock_cluster_t *mc, int32_t broker_id, int rtt_ms)',
    ),
    push_errors: lib.func(
      'void rd_kafka_mock_push_request_errors_array(rd_kafka_mock_cluster_t *mc, int16_t ApiKey, size_t cnt, const int32_t *errors)',
    ),
    clear_errors: lib.func('void rd_kafka_mock_clear_request_errors(rd_kafka_mock_cluster_t *mc, int16_t ApiKey)'),
    coordinator_set: lib.func(
      'int rd_kafka_mock_coordinator_set(rd_kafka_mock_cluster_t *mc, const char *key_type, const char *key, int32_t broker_id)',
    ),
    partition_set_leader: lib.func(
      'int rd_kafka_mock_partition_set_leader(rd_kafka_mock_cluster_t *mc, const char *topic, int32_t partition, int32_t broker_id)',
    ),
  }
  return native
}

function check(what: string, err: number): void {
  if (err !== 0) throw new Error(`mock cluster: ${what} failed with Kafka error code ${err}`)
}

export interface MockClusterOptions {
  /** Number of brokers (ids 1..n). Default 1. */
  brokers?: number
  /** Topics to create: name -> partition count. */
  topics?: Record<string, number>
}

/** A running mock Kafka cluster. Call `close()` when done. */
export class MockCluster {
  readonly bootstrapServers: string
  readonly brokers: string[]
  readonly brokerCount: number
  private readonly n: Native
  private rk: unknown
  private mc: unknown

  private constructor(n: Native, rk: unknown, mc: unknown, brokerCount: number) {
    this.n = n
    this.rk = rk
    this.mc = mc
    this.brokerCount = brokerCount
    this.bootstrapServers = n.bootstraps(mc)
    this.brokers = this.bootstrapServers.split(',')
  }

  /** Start a cluster. Throws with installation advice when librdkafka is missing. */
  static start(opts: MockClusterOptions = {}): MockCluster {
    const n = loadNative()
    const brokerCount = opts.brokers ?? 1
    const errstr = Buffer.alloc(512)
    const conf = n.conf_new()
    // The handle only hosts the cluster; keep its own logging quiet.
    for (const [k, v] of [['log_level', '0']] as const) {
      if (n.conf_set(conf, k, v, errstr, errstr.length) !== 0) {
        throw new Error(`rd_kafka_conf_set ${k}: ${errstr.toString('utf8').replace(/\0.*$/s, '')}`)
      }
    }
    const rk = n.new_(0 /* RD_KAFKA_PRODUCER */, conf, errstr, errstr.length)
    if (!rk) throw new Error(`rd_kafka_new: ${errstr.toString('utf8').replace(/\0.*$/s, '')}`)
    const mc = n.cluster_new(rk, brokerCount)
    if (!mc) {
      n.destroy(rk)
      throw new Error('rd_kafka_mock_cluster_new returned NULL')
    }
    const cluster = new MockCluster(n, rk, mc, brokerCount)
    for (const [topic, partitions] of Object.entries(opts.topics ?? {})) {
      cluster.createTopic(topic, partitions)
    }
    return cluster
  }

  static librdkafkaVersion(): string {
    return loadNative().version()
  }

  private get handle(): unknown {
    if (!this.mc) throw new Error('mock cluster is closed')
    return this.mc
  }

  createTopic(topic: string, partitions: number, replicationFactor = 1): void {
    check(`create topic ${topic}`, this.n.topic_create(this.handle, topic, partitions, replicationFactor))
  }

  /** Take broker `id` (1-based) down: its connections are closed and it refuses new ones. */
  brokerDown(id: number): void {
    check(`broker ${id} down`, this.n.broker_set_down(this.handle, id))
  }

  brokerUp(id: number): void {
    check(`broker ${id} up`, this.n.broker_set_up(this.handle, id))
  }

  /** Add round-trip time to every response of broker `id` (or of all brokers). */
  setRtt(rttMs: number, id?: number): void {
    const ids = id === undefined ? [...Array(this.brokerCount).keys()].map((i) => i + 1) : [id]
    for (const b of ids) check(`broker ${b} rtt`, this.n.broker_set_rtt(this.handle, b, rttMs))
  }

  /** The next `errors.length` requests of type `apiKey` (to any broker) fail with these codes. */
  pushRequestErrors(apiKey: number, errors: number[]): void {
    this.n.push_errors(this.handle, apiKey, errors.length, Int32Array.from(errors))
  }

  clearRequestErrors(apiKey: number): void {
    this.n.clear_errors(this.handle, apiKey)
  }

  /** Make broker `id` the coordinator of consumer group `group`. */
  setGroupCoordinator(group: string, id: number): void {
    check('coordinator set', this.n.coordinator_set(this.handle, 'group', group, id))
  }

  setPartitionLeader(topic: string, partition: number, id: number): void {
    check('partition leader', this.n.partition_set_leader(this.handle, topic, partition, id))
  }

  close(): void {
    if (!this.mc) return
    this.n.cluster_destroy(this.mc)
    this.n.destroy(this.rk)
    this.mc = undefined
    this.rk = undefined
  }
}
