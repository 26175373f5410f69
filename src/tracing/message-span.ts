/**
 * One span per processed message: `<topic> process`, kind CONSUMER, a child of the W3C context
 * in the message's headers (a root when there is none), with the messaging semantic-convention
 * attributes. processMessage asks `messageTracing()` once per message: undefined while tracing
 * is off, so that path reads no header and creates no span.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapPropagator, type Tracer } from '@opentelemetry/api'
import type { KafkaMessage } from 'kafkajs'
import type { LossReason } from '../metrics.ts'
import { fetchedAt } from './fetched.ts'
import { headerGetter } from './headers.ts'

/**
 * Why a message's span ends with status ERROR. A commit written but reported failed, and messages
 * held by the circuit breaker when their partition was revoked, never reach a span: those messages
 * are never handed over.
 */
export type SpanFailure = Exclude<LossReason, 'commit_written' | 'revoked'>

const FAILURE_TEXT: Record<SpanFailure, string> = {
  handler_failed: 'handler failed; message lost (at-most-once: no retry)',
  handler_timeout: 'handler timed out and was abandoned; message lost',
  undecodable: 'undecodable message skipped; message lost',
  shutdown: 'handler abandoned at the shutdown deadline; message lost',
}

export class MessageTracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: TextMapPropagator,
    private readonly groupId: string,
  ) {}

  start(topic: string, partition: number, raw: KafkaMessage): MessageSpan {
    const parent = raw.headers ? this.propagator.extract(ROOT_CONTEXT, raw.headers, headerGetter) : ROOT_CONTEXT
    const fetched = fetchedAt(raw)
    // Starts at the fetch when the consumer marked it, else now (the SDK's own precise clock).
    const span = this.tracer.startSpan(`${topic} process`, fetched === undefined ? { kind: SpanKind.CONSUMER } : { kind: SpanKind.CONSUMER, startTime: fetched }, parent)
    // The attributes only on a span that is recorded: a span sampled out costs no attribute work
    // (the standard samplers do not read attributes; a custom one would not see these).
    if (span.isRecording()) {
      span.setAttributes({
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': topic,
        'messaging.destination.partition.id': String(partition),
        'messaging.kafka.offset': Number(raw.offset),
        'messaging.consumer.group.name': this.groupId,
      })
      if (raw.key) span.setAttribute('messaging.kafka.message.key', raw.key.toString('utf8'))
      // The wait before the handler: from the fetch (when the consumer marked it) to now, which in
      // COMMIT_MODE=sync is after the commit covering this message was acknowledged.
      span.addEvent('handler start', fetched === undefined ? {} : { 'amo.wait_before_handler_ms': Date.now() - fetched })
    }
    return new MessageSpan(span, trace.setSpan(parent, span))
  }
}

export class MessageSpan {
  constructor(
    readonly span: Span,
    private readonly ctx: Context,
  ) {}

  /** trace_id and span_id for the log lines about this message. */
  get logFields(): { trace_id: string; span_id: string } {
    const { traceId, spanId } = this.span.spanContext()
    return { trace_id: traceId, span_id: spanId }
  }

  /** Runs `fn` (the handler) inside the span's context: its own instrumented calls join the trace. */
  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn)
  }

  ok(): void {
    this.span.end()
  }

  /** Status ERROR with the reason; a lost or skipped message is never a success. */
  fail(reason: SpanFailure, error?: unknown): void {
    this.span.setAttribute('error.type', reason)
    if (error instanceof Error) this.span.recordException(error)
    const detail = error instanceof Error ? `: ${error.message}` : ''
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: `${FAILURE_TEXT[reason]}${detail}` })
    this.span.end()
  }
}

let active: MessageTracing | undefined

/** The per-message tracing, or undefined while tracing is off. */
export function messageTracing(): MessageTracing | undefined {
  return active
}

export function setMessageTracing(t: MessageTracing | undefined): void {
  active = t
}
