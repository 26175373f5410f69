/**
 * The service's configuration contract: every environment variable it reads, with its type,
 * default and constraints. Validated once at start by @fastify/env (ajv); a bad or missing
 * value stops the process before any connection. The Helm chart, the compose file and the
 * design doc (docs/design.md) are tested against this list.
 */
export const COMMIT_MODES = ['sync', 'async', 'auto'] as const
export type CommitMode = (typeof COMMIT_MODES)[number]

export const ORDERINGS = ['partition', 'key', 'unordered'] as const
export type Ordering = (typeof ORDERINGS)[number]

export const VALUE_FORMATS = ['json', 'text', 'binary'] as const
export type ValueFormat = (typeof VALUE_FORMATS)[number]

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const
export type SaslMechanism = (typeof SASL_MECHANISMS)[number]

import { TRACES_EXPORTERS, TRACES_SAMPLERS, TRACING_DEFAULTS as OTEL, type TracesExporter, type TracesSampler } from '../tracing/options.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** host:port[,host:port...] — host names, IPv4, or [IPv6]. */
const BROKER_LIST = '^\\s*(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}\\s*(,\\s*(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}\\s*)*$'
/** topic[,topic...] — Kafka's legal topic characters. */
const TOPIC_LIST = '^\\s*[A-Za-z0-9._-]+\\s*(,\\s*[A-Za-z0-9._-]+\\s*)*$'

/** An http(s) URL (the OpenTelemetry exporter endpoints). */
const HTTP_URL = '^https?://[^\\s/]+(/\\S*)?$'

const positiveInt = (def: number, max = 2_147_483_647) =>
  ({ type: 'integer', minimum: 1, maximum: max, default: def }) as const

export const configSchema = {
  type: 'object',
  required: ['KAFKA_BROKERS'],
  properties: {
    KAFKA_BROKERS: {
      type: 'string',
      pattern: BROKER_LIST,
      description: 'comma-separated host:port list of bootstrap brokers',
    },
    KAFKA_TOPICS: { type: 'string', pattern: TOPIC_LIST, default: 'weather', description: 'comma-separated topics' },
    KAFKA_GROUP_ID: { type: 'string', minLength: 1, default: 'amo-consumer', description: 'consumer group' },
    KAFKA_CLIENT_ID: { type: 'string', minLength: 1, description: 'client id (default: host name)' },
    KAFKA_FROM_BEGINNING: { type: 'boolean', default: true, description: 'a new group starts at the earliest offset' },
    KAFKA_SESSION_TIMEOUT_MS: { ...positiveInt(30000), minimum: 1000, description: 'group session timeout' },
    // 500 ms, not kafkajs's 3000: the other members learn of a rebalance (a member leaving or
    // joining, as in every rolling restart) at their next heartbeat, and the group is stopped until
    // the last one has rejoined (test/kafka/rolling.test.ts, docs/kubernetes.md).
    KAFKA_HEARTBEAT_INTERVAL_MS: {
      ...positiveInt(500),
      minimum: 100,
      description: 'group heartbeat interval: the other members learn of a rebalance (a rolling restart) within it; lower means shorter rebalance pauses, more heartbeat requests',
    },
    KAFKA_SSL: { type: 'boolean', default: false, description: 'connect with TLS' },
    KAFKA_SSL_CA_FILE: {
      type: 'string',
      default: '',
      description: 'PEM file of the CA(s) that signed the brokers\' certificates; implies KAFKA_SSL (empty: the system CAs)',
    },
    KAFKA_SASL_MECHANISM: {
      type: 'string',
      enum: ['', ...SASL_MECHANISMS],
      default: '',
      description: 'SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: no SASL)',
    },
    KAFKA_SASL_USERNAME: { type: 'string', default: '', description: 'SASL user name' },
    KAFKA_SASL_PASSWORD: { type: 'string', default: '', description: 'SASL password (never logged)' },
    COMMIT_MODE: { type: 'string', enum: [...COMMIT_MODES], default: 'sync', description: 'sync, async or auto' },
    COMMIT_WINDOW: { ...positiveInt(1, 1_000_000), description: 'messages one commit covers ahead of processing (sync)' },
    ORDERING: {
      type: 'string',
      enum: [...ORDERINGS],
      default: 'partition',
      description: 'sync: partition (one message of a partition at a time), key (same key in order, different keys concurrently) or unordered',
    },
    MAX_IN_FLIGHT: { ...positiveInt(100, 100_000), description: 'handler calls in flight in the whole process, across partitions' },
    MAX_CALLS_PER_SECOND: {
      type: 'number',
      minimum: 0,
      maximum: 1_000_000,
      default: 0,
      description: 'handler calls started per second in the whole process, evenly spaced (0: no limit)',
    },
    BREAKER_THRESHOLD: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000,
      default: 5,
      description: 'failed or timed-out handler calls in a row that open the circuit breaker: consumption pauses until the downstream is back (0: no breaker)',
    },
    BREAKER_BACKOFF_MS: { ...positiveInt(1000), minimum: 10, description: 'the first wait before the breaker probes the downstream (or lets one trial call through); doubles each time' },
    BREAKER_BACKOFF_MAX_MS: { ...positiveInt(10000), minimum: 10, description: 'the longest wait between two probes (or trials) of the open breaker' },
    AUTO_COMMIT_INTERVAL_MS: { ...positiveInt(5000), description: 'auto mode commit interval' },
    PARTITION_CONCURRENCY: {
      type: 'string',
      pattern: '^\\s*(all|[1-9][0-9]{0,3})\\s*$',
      default: 'all',
      description: 'partitions processed concurrently, order kept within each: all (every assigned partition) or 1-9999',
    },
    HANDLER: { type: 'string', minLength: 1, default: 'log', description: 'log, noop, or a path to a handler module' },
    HANDLER_TIMEOUT_MS: {
      type: 'integer',
      minimum: 0,
      maximum: 2_147_483_647,
      default: 30000,
      description: 'a handler running longer is aborted and counted failed (0: no limit)',
    },
    VALUE_FORMAT: { type: 'string', enum: [...VALUE_FORMATS], default: 'json', description: 'json, text or binary' },
    DEAD_LETTER_TOPIC: { type: 'string', pattern: '^([A-Za-z0-9._-]+)?$', default: '', description: 'best-effort topic for failed messages (empty: off)' },
    DEAD_LETTER_MAX_WAIT_MS: {
      ...positiveInt(30000),
      description: 'how long a dead-letter copy may wait for an unreachable DEAD_LETTER_TOPIC (no leader, no connection) before it is dropped',
    },
    DEAD_LETTER_MAX_QUEUED_BYTES: {
      type: 'integer',
      minimum: 1_048_576,
      maximum: 2_147_483_647,
      default: 67_108_864,
      description: 'memory the dead-letter copies waiting to be sent may take; a copy beyond it is dropped',
    },
    SHUTDOWN_TIMEOUT_MS: { ...positiveInt(10000), description: 'bound on graceful shutdown' },
    STALL_TIMEOUT_MS: {
      ...positiveInt(60000),
      description: 'liveness fails when a running consumer makes no fetch progress for this long',
    },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port' },
    HOST: { type: 'string', minLength: 1, default: '0.0.0.0', description: 'HTTP bind address' },
    LOG_LEVEL: { type: 'string', enum: [...LOG_LEVELS], default: 'info', description: 'pino log level' },
    OTEL_TRACES_EXPORTER: {
      type: 'string',
      enum: [...TRACES_EXPORTERS],
      default: OTEL.OTEL_TRACES_EXPORTER,
      description: 'tracing: none (off), otlp or zipkin',
    },
    OTEL_EXPORTER_OTLP_ENDPOINT: {
      type: 'string',
      pattern: HTTP_URL,
      default: OTEL.OTEL_EXPORTER_OTLP_ENDPOINT,
      description: 'OTLP/HTTP base URL (spans go to its /v1/traces)',
    },
    OTEL_EXPORTER_ZIPKIN_ENDPOINT: {
      type: 'string',
      pattern: HTTP_URL,
      default: OTEL.OTEL_EXPORTER_ZIPKIN_ENDPOINT,
      description: 'Zipkin spans URL',
    },
    OTEL_SERVICE_NAME: { type: 'string', minLength: 1, default: OTEL.OTEL_SERVICE_NAME, description: 'service.name of the spans' },
    OTEL_TRACES_SAMPLER: {
      type: 'string',
      enum: [...TRACES_SAMPLERS],
      default: OTEL.OTEL_TRACES_SAMPLER,
      description: 'sampler: always_on, always_off, traceidratio or parentbased_* of these',
    },
    OTEL_TRACES_SAMPLER_ARG: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      default: OTEL.OTEL_TRACES_SAMPLER_ARG,
      description: 'the ratio of the traceidratio samplers, 0 to 1',
    },
    OTEL_BSP_SCHEDULE_DELAY: { ...positiveInt(OTEL.OTEL_BSP_SCHEDULE_DELAY), description: 'tracing: ms between two exports of the spans waiting' },
    OTEL_BSP_EXPORT_TIMEOUT: { ...positiveInt(OTEL.OTEL_BSP_EXPORT_TIMEOUT), description: 'tracing: ms one export may take' },
    OTEL_BSP_MAX_QUEUE_SIZE: { ...positiveInt(OTEL.OTEL_BSP_MAX_QUEUE_SIZE, 1_000_000), description: 'tracing: spans kept waiting for export; more are dropped' },
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: {
      ...positiveInt(OTEL.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 1_000_000),
      description: 'tracing: spans per export request; cut to OTEL_BSP_MAX_QUEUE_SIZE when bigger',
    },
  },
  // A SASL mechanism needs both credentials.
  if: { properties: { KAFKA_SASL_MECHANISM: { enum: [...SASL_MECHANISMS] } }, required: ['KAFKA_SASL_MECHANISM'] },
  then: {
    properties: { KAFKA_SASL_USERNAME: { type: 'string', minLength: 1 }, KAFKA_SASL_PASSWORD: { type: 'string', minLength: 1 } },
    required: ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'],
  },
} as const

/** Every environment variable the service reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(configSchema.properties)

/** The raw, validated environment (as @fastify/env produces it). */
export interface EnvConfig {
  KAFKA_BROKERS: string
  KAFKA_TOPICS: string
  KAFKA_GROUP_ID: string
  KAFKA_CLIENT_ID?: string
  KAFKA_FROM_BEGINNING: boolean
  KAFKA_SESSION_TIMEOUT_MS: number
  KAFKA_HEARTBEAT_INTERVAL_MS: number
  KAFKA_SSL: boolean
  KAFKA_SSL_CA_FILE: string
  KAFKA_SASL_MECHANISM: '' | SaslMechanism
  KAFKA_SASL_USERNAME: string
  KAFKA_SASL_PASSWORD: string
  COMMIT_MODE: CommitMode
  COMMIT_WINDOW: number
  ORDERING: Ordering
  MAX_IN_FLIGHT: number
  MAX_CALLS_PER_SECOND: number
  BREAKER_THRESHOLD: number
  BREAKER_BACKOFF_MS: number
  BREAKER_BACKOFF_MAX_MS: number
  AUTO_COMMIT_INTERVAL_MS: number
  PARTITION_CONCURRENCY: string
  HANDLER: string
  HANDLER_TIMEOUT_MS: number
  VALUE_FORMAT: ValueFormat
  DEAD_LETTER_TOPIC: string
  // Filled in by the schema's defaults; optional so that a configuration built in code may leave them out.
  DEAD_LETTER_MAX_WAIT_MS?: number
  DEAD_LETTER_MAX_QUEUED_BYTES?: number
  SHUTDOWN_TIMEOUT_MS: number
  STALL_TIMEOUT_MS: number
  PORT: number
  HOST: string
  LOG_LEVEL: (typeof LOG_LEVELS)[number]
  // Tracing (OTEL_*): always filled in by the schema's defaults; optional here so that a
  // configuration built in code may leave tracing out (off).
  OTEL_TRACES_EXPORTER?: TracesExporter
  OTEL_EXPORTER_OTLP_ENDPOINT?: string
  OTEL_EXPORTER_ZIPKIN_ENDPOINT?: string
  OTEL_SERVICE_NAME?: string
  OTEL_TRACES_SAMPLER?: TracesSampler
  OTEL_TRACES_SAMPLER_ARG?: number
  OTEL_BSP_SCHEDULE_DELAY?: number
  OTEL_BSP_EXPORT_TIMEOUT?: number
  OTEL_BSP_MAX_QUEUE_SIZE?: number
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE?: number
}
