import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { ConfigError } from '../errors.ts'
import { tracingOptions, type TracingOptions } from '../tracing/options.ts'
import { configSchema, type CommitMode, type EnvConfig, type Ordering, type SaslMechanism, type ValueFormat } from './schema.ts'

/** The part of an ajv validation error this module reads (env-schema attaches them as `errors`). */
interface ErrorObject {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

/** The validated configuration, in the shape the service uses. */
export interface ServiceConfig {
  brokers: string[]
  topics: string[]
  groupId: string
  clientId: string
  fromBeginning: boolean
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  /** false, or TLS options: `ca` from KAFKA_SSL_CA_FILE when set, else the system CAs. */
  ssl: false | { ca?: string }
  sasl: { mechanism: SaslMechanism; username: string; password: string } | undefined
  commitMode: CommitMode
  commitWindow: number
  /** sync: which messages of a partition may run at once (docs/design.md, "Ordering"). */
  ordering: Ordering
  maxInFlight: number
  /** MAX_CALLS_PER_SECOND; 0: no rate limit. */
  maxCallsPerSecond: number
  /** The circuit breaker (BREAKER_*), or undefined when BREAKER_THRESHOLD=0. */
  breaker: { threshold: number; backoffMs: number; backoffMaxMs: number } | undefined
  autoCommitIntervalMs: number
  /** `all`: every partition this instance is assigned. */
  partitionConcurrency: number | 'all'
  handler: string
  handlerTimeoutMs: number
  valueFormat: ValueFormat
  deadLetterTopic: string | undefined
  /** DEAD_LETTER_MAX_WAIT_MS: a copy waiting longer for an unreachable dead-letter topic is dropped. */
  deadLetterMaxWaitMs: number
  /** DEAD_LETTER_MAX_QUEUED_BYTES: memory bound of the copies waiting to be sent. */
  deadLetterMaxQueuedBytes: number
  shutdownTimeoutMs: number
  stallTimeoutMs: number
  port: number
  host: string
  logLevel: string
  /** OTEL_*: exporter `none` (the default) starts no tracing. */
  tracing: TracingOptions
}

const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)

export function toServiceConfig(env: EnvConfig): ServiceConfig {
  if (env.KAFKA_HEARTBEAT_INTERVAL_MS >= env.KAFKA_SESSION_TIMEOUT_MS) {
    throw new ConfigError(
      'KAFKA_HEARTBEAT_INTERVAL_MS',
      `invalid configuration: KAFKA_HEARTBEAT_INTERVAL_MS=${env.KAFKA_HEARTBEAT_INTERVAL_MS} must be below KAFKA_SESSION_TIMEOUT_MS=${env.KAFKA_SESSION_TIMEOUT_MS}`,
    )
  }
  if (env.ORDERING !== 'partition' && env.COMMIT_MODE !== 'sync') {
    throw new ConfigError(
      'ORDERING',
      `invalid configuration: ORDERING=${env.ORDERING} needs COMMIT_MODE=sync (COMMIT_MODE=${env.COMMIT_MODE} processes each partition in order)`,
    )
  }
  if (env.BREAKER_BACKOFF_MAX_MS < env.BREAKER_BACKOFF_MS) {
    throw new ConfigError(
      'BREAKER_BACKOFF_MAX_MS',
      `invalid configuration: BREAKER_BACKOFF_MAX_MS=${env.BREAKER_BACKOFF_MAX_MS} must be at least BREAKER_BACKOFF_MS=${env.BREAKER_BACKOFF_MS}`,
    )
  }
  return {
    brokers: splitList(env.KAFKA_BROKERS),
    topics: [...new Set(splitList(env.KAFKA_TOPICS))],
    groupId: env.KAFKA_GROUP_ID,
    clientId: env.KAFKA_CLIENT_ID ?? hostname(),
    fromBeginning: env.KAFKA_FROM_BEGINNING,
    sessionTimeoutMs: env.KAFKA_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: env.KAFKA_HEARTBEAT_INTERVAL_MS,
    ssl: tlsOptions(env),
    sasl:
      env.KAFKA_SASL_MECHANISM === ''
        ? undefined
        : {
            mechanism: env.KAFKA_SASL_MECHANISM,
            username: env.KAFKA_SASL_USERNAME,
            password: env.KAFKA_SASL_PASSWORD,
          },
    commitMode: env.COMMIT_MODE,
    commitWindow: env.COMMIT_WINDOW,
    ordering: env.ORDERING,
    maxInFlight: env.MAX_IN_FLIGHT,
    maxCallsPerSecond: env.MAX_CALLS_PER_SECOND,
    breaker:
      env.BREAKER_THRESHOLD === 0 ? undefined : { threshold: env.BREAKER_THRESHOLD, backoffMs: env.BREAKER_BACKOFF_MS, backoffMaxMs: env.BREAKER_BACKOFF_MAX_MS },
    autoCommitIntervalMs: env.AUTO_COMMIT_INTERVAL_MS,
    partitionConcurrency: env.PARTITION_CONCURRENCY.trim() === 'all' ? 'all' : Number(env.PARTITION_CONCURRENCY),
    handler: env.HANDLER,
    handlerTimeoutMs: env.HANDLER_TIMEOUT_MS,
    valueFormat: env.VALUE_FORMAT,
    deadLetterTopic: env.DEAD_LETTER_TOPIC === '' ? undefined : env.DEAD_LETTER_TOPIC,
    deadLetterMaxWaitMs: env.DEAD_LETTER_MAX_WAIT_MS ?? configSchema.properties.DEAD_LETTER_MAX_WAIT_MS.default,
    deadLetterMaxQueuedBytes: env.DEAD_LETTER_MAX_QUEUED_BYTES ?? configSchema.properties.DEAD_LETTER_MAX_QUEUED_BYTES.default,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    stallTimeoutMs: env.STALL_TIMEOUT_MS,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    tracing: tracingOptions(env),
  }
}

function tlsOptions(env: EnvConfig): ServiceConfig['ssl'] {
  const file = env.KAFKA_SSL_CA_FILE.trim()
  if (file === '') return env.KAFKA_SSL ? {} : false
  try {
    const ca = readFileSync(file, 'utf8')
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it')
    return { ca }
  } catch (err) {
    throw new ConfigError('KAFKA_SSL_CA_FILE', `invalid configuration: KAFKA_SSL_CA_FILE=${JSON.stringify(file)}: ${(err as Error).message}`)
  }
}

/** The configuration as it may be logged: the SASL password never appears. */
export function redactConfig(config: ServiceConfig): Record<string, unknown> {
  return {
    ...config,
    ssl: config.ssl && { ca: config.ssl.ca === undefined ? 'system' : '[from KAFKA_SSL_CA_FILE]' },
    sasl: config.sasl && { ...config.sasl, password: '[redacted]' },
  }
}

function describe(e: ErrorObject): { variable: string; text: string } | undefined {
  const fromPath = e.instancePath.replace(/^\//, '')
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required': {
      const variable = String(p.missingProperty)
      return { variable, text: `${variable} is required` }
    }
    case 'enum':
      return { variable: fromPath, text: `${fromPath} must be one of: ${(p.allowedValues as unknown[]).filter((v) => v !== '').join(', ')}` }
    case 'if':
      return undefined // the failing `then` branch is reported on its own
    case 'pattern':
      return {
        variable: fromPath,
        text:
          fromPath === 'KAFKA_BROKERS'
            ? 'KAFKA_BROKERS must be a comma-separated list of host:port'
            : fromPath === 'KAFKA_TOPICS'
              ? 'KAFKA_TOPICS must be a comma-separated list of topic names'
              : fromPath.startsWith('OTEL_EXPORTER_')
                ? `${fromPath} must be an http:// or https:// URL`
                : `${fromPath} has an invalid format`,
      }
    default:
      return { variable: fromPath || 'environment', text: `${fromPath || 'environment'} ${e.message ?? 'is invalid'}` }
  }
}

/**
 * Turn the error @fastify/env (env-schema/ajv) throws into one readable line that names the
 * variable, e.g. `invalid configuration: COMMIT_WINDOW=0: COMMIT_WINDOW must be >= 1`.
 */
export function toConfigError(err: unknown, env: Record<string, string | undefined>): ConfigError {
  if (err instanceof ConfigError) return err
  const errors = (err as { errors?: ErrorObject[] }).errors
  const found = (errors ?? []).map(describe).filter((d): d is { variable: string; text: string } => d !== undefined)
  const first = found[0]
  if (!first) {
    return new ConfigError('environment', `invalid configuration: ${(err as Error).message}`, { cause: err })
  }
  const parts = found.map(({ variable, text }) => {
    const raw = env[variable]
    const shown = raw === undefined || /PASSWORD/.test(variable) ? '' : `${variable}=${JSON.stringify(raw)}: `
    return `${shown}${text}`
  })
  return new ConfigError(first.variable, `invalid configuration: ${[...new Set(parts)].join('; ')}`, { cause: err })
}
