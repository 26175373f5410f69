/**
 * Starting and stopping the OpenTelemetry SDK: a tracer provider with the configured exporter
 * (OTLP over HTTP or Zipkin) behind a batch span processor (OTEL_BSP_*), the sampler, the service's
 * resource, the W3C trace-context propagator and an AsyncLocalStorage context manager, all
 * registered globally so that a handler's own instrumentation joins the message's trace.
 * Nothing is started when OTEL_TRACES_EXPORTER=none.
 */
import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace'
import type { Logger } from 'pino'
import { diagLogger } from './diag.ts'
import { keepFetchTimes } from './fetched.ts'
import { MessageTracing, setMessageTracing } from './message-span.ts'
import type { TracingOptions } from './options.ts'
import { createSampler } from './sampler.ts'
import { TraceIds } from './trace-ids.ts'

/** How long the exit waits for the last spans to be exported. */
const FLUSH_TIMEOUT_MS = 1000

export interface Tracing {
  readonly options: TracingOptions
  /** Exports what is pending and unregisters everything; bounded by FLUSH_TIMEOUT_MS. */
  shutdown(): Promise<void>
}

function exporterFor(options: TracingOptions): SpanExporter {
  return options.exporter === 'otlp'
    ? new OTLPTraceExporter({ url: options.url })
    : new ZipkinExporter({ url: options.url, serviceName: options.serviceName })
}

/**
 * Starts the SDK unless `options.exporter` is `none`. `groupId` (the consumer group) is put on
 * every message span; the producer passes none and gets no message tracing.
 */
export function startTracing(options: TracingOptions, log: Logger, groupId?: string): Tracing | undefined {
  if (options.exporter === 'none') return undefined
  diag.setLogger(diagLogger(log), DiagLogLevel.WARN)
  const sampler = createSampler(options.sampler, options.samplerArg)
  const ids = new TraceIds()
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    sampler,
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor({ exporter: exporterFor(options), ...options.batch })],
  })
  const propagator = new W3CTraceContextPropagator()
  const contextManager = new AsyncLocalStorageContextManager().enable()
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(contextManager)
  propagation.setGlobalPropagator(propagator)
  if (groupId !== undefined) {
    setMessageTracing(new MessageTracing({ tracer: provider.getTracer('amo-consumer'), sampler, ids, groupId }))
    keepFetchTimes(true)
  }
  log.info({ exporter: options.exporter, url: options.url, serviceName: options.serviceName, sampler: options.sampler, samplerArg: options.samplerArg }, 'tracing on')

  let stopped: Promise<void> | undefined
  return {
    options,
    shutdown: () =>
      (stopped ??= (async () => {
        setMessageTracing(undefined)
        keepFetchTimes(false)
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            log.warn({ timeoutMs: FLUSH_TIMEOUT_MS }, 'tracing: the last spans were not exported in time')
            resolve()
          }, FLUSH_TIMEOUT_MS)
        })
        await Promise.race([provider.shutdown().catch((err: unknown) => log.warn({ error: (err as Error).message }, 'tracing: shutdown failed')), timeout])
        clearTimeout(timer)
        trace.disable()
        context.disable()
        propagation.disable()
        diag.disable()
      })()),
  }
}
