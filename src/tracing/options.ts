/**
 * The tracing settings, from the standard OpenTelemetry variables (validated by the service's
 * configuration schema; read loosely, with the same defaults, by the weather producer).
 */
export const TRACES_EXPORTERS = ['none', 'otlp', 'zipkin'] as const
export type TracesExporter = (typeof TRACES_EXPORTERS)[number]

/** The sampler names of the OpenTelemetry specification (OTEL_TRACES_SAMPLER). */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const
export type TracesSampler = (typeof TRACES_SAMPLERS)[number]

export const TRACING_DEFAULTS = {
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://localhost:9411/api/v2/spans',
  OTEL_SERVICE_NAME: 'amo-consumer',
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  OTEL_TRACES_SAMPLER_ARG: 1,
  // The batch span processor, the specification's variables and defaults (the SDK 3.x reads none
  // of them itself): ms between exports, ms an export may take, spans kept waiting, spans a request.
  OTEL_BSP_SCHEDULE_DELAY: 5000,
  OTEL_BSP_EXPORT_TIMEOUT: 30000,
  OTEL_BSP_MAX_QUEUE_SIZE: 2048,
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 512,
} as const

export interface TracingOptions {
  /** `none`: no SDK is started and no message is traced. */
  exporter: TracesExporter
  /** Where spans go: the OTLP/HTTP traces URL (endpoint + /v1/traces) or the Zipkin spans URL. */
  url: string
  serviceName: string
  sampler: TracesSampler
  /** The ratio of the traceidratio samplers, 0 to 1. */
  samplerArg: number
  /** The batch span processor's settings (OTEL_BSP_*); maxExportBatchSize ≤ maxQueueSize. */
  batch: { scheduledDelayMillis: number; exportTimeoutMillis: number; maxQueueSize: number; maxExportBatchSize: number }
}

export type TracingEnv = { [K in keyof typeof TRACING_DEFAULTS]?: string | number | undefined }

/** OTEL_EXPORTER_OTLP_ENDPOINT is the base URL; traces go to its /v1/traces (the spec's rule). */
export function otlpTracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`
}

type BspVariable = Extract<keyof typeof TRACING_DEFAULTS, `OTEL_BSP_${string}`>

export function tracingOptions(env: TracingEnv): TracingOptions {
  const get = <K extends keyof typeof TRACING_DEFAULTS>(k: K): string => String(env[k] ?? TRACING_DEFAULTS[k])
  // A positive integer, else the default (the service's schema has refused anything else already).
  const count = (k: BspVariable): number => {
    const n = Number(get(k))
    return Number.isInteger(n) && n >= 1 ? n : TRACING_DEFAULTS[k]
  }
  const exporter = get('OTEL_TRACES_EXPORTER') as TracesExporter
  const ratio = Number(get('OTEL_TRACES_SAMPLER_ARG'))
  const maxQueueSize = count('OTEL_BSP_MAX_QUEUE_SIZE')
  return {
    exporter,
    url: exporter === 'otlp' ? otlpTracesUrl(get('OTEL_EXPORTER_OTLP_ENDPOINT')) : get('OTEL_EXPORTER_ZIPKIN_ENDPOINT'),
    serviceName: get('OTEL_SERVICE_NAME'),
    sampler: get('OTEL_TRACES_SAMPLER') as TracesSampler,
    samplerArg: Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1,
    batch: {
      scheduledDelayMillis: count('OTEL_BSP_SCHEDULE_DELAY'),
      exportTimeoutMillis: count('OTEL_BSP_EXPORT_TIMEOUT'),
      maxQueueSize,
      maxExportBatchSize: Math.min(count('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'), maxQueueSize),
    },
  }
}
