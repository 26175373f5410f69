/**
 * One span per processed message: `<topic> process`, kind CONSUMER, a child of the W3C context
 * in the message's headers (a root when there is none), with the messaging semantic-convention
 * attributes. processMessage asks `messageTracing()` once per message: undefined while tracing
 * is off, so that path reads no header and creates no span.
 *
 * The sampling decision comes first, from the configured sampler itself, before any span exists:
 * the parent's flags (read from `traceparent`), or for a root a trace id drawn here. A sampled
 * message gets the SDK's recording span, started with that same trace id (TraceIds), so the SDK's
 * own sampler call agrees. A dropped one, most of them under a ratio sampler, gets an
 * UnsampledSpan: a valid span context with the sampled flag off, made of one object, its span id
 * made only when read. Either way the handler runs inside the span's context.
 */
import { context, SpanKind, SpanStatusCode, ROOT_CONTEXT, SamplingDecision, type Attributes, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api'
import { parseTraceParent, TraceState } from '@opentelemetry/core'
import type { Sampler } from '@opentelemetry/sdk-trace'
import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { LossReason } from '../metrics.ts'
import { SpanOnlyContext } from './context-key.ts'
import { fetchedAt } from './fetched.ts'
import { headerGetter } from './headers.ts'
import type { TraceIds } from './trace-ids.ts'
import { UnsampledSpan } from './unsampled-span.ts'

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

/** What processMessage does with a message's span. */
export interface MessageSpan {
  /** trace_id and span_id for the log lines about this message. */
  readonly logFields: { trace_id: string; span_id: string }
  /** Runs `fn` (the handler) inside the span's context: its own instrumented calls join the trace. */
  run<T>(fn: () => T): T
  ok(): void
  /** Status ERROR with the reason; a lost or skipped message is never a success. */
  fail(reason: SpanFailure, error?: unknown): void
}

export interface MessageTracingOptions {
  /** A tracer of the provider that was given `ids` as its id generator and `sampler` as its sampler. */
  tracer: Tracer
  sampler: Sampler
  ids: TraceIds
  /** The consumer group, an attribute of every recorded span. */
  groupId: string
}

const NO_ATTRIBUTES: Attributes = Object.freeze({})
const NO_LINKS: [] = []

/** The `traceparent` of a message as a remote parent span context, and its raw `tracestate`. */
function remoteParent(headers: IHeaders | undefined): { parent: SpanContext; traceState: string | undefined } | undefined {
  if (headers?.traceparent === undefined) return undefined
  const value = headerGetter.get(headers, 'traceparent')
  const parsed = typeof value === 'string' ? parseTraceParent(value) : null
  if (!parsed) return undefined
  const traceState = headers.tracestate === undefined ? undefined : headerGetter.get(headers, 'tracestate')
  return { parent: { ...parsed, isRemote: true }, traceState: typeof traceState === 'string' ? traceState : undefined }
}

/** A Context holding only a remote parent span (what the W3C propagator's extract returns, without the Map). */
class RemoteParentContext extends SpanOnlyContext {
  constructor(private readonly parent: SpanContext) {
    super()
  }
  spanContext(): SpanContext {
    return this.parent
  }
}

export class MessageTracing {
  private readonly tracer: Tracer
  private readonly sampler: Sampler
  private readonly ids: TraceIds
  private readonly groupId: string
  private readonly newSpanId: () => string
  /** `<topic> process`, per topic. */
  private readonly names = new Map<string, string>()

  constructor(o: MessageTracingOptions) {
    this.tracer = o.tracer
    this.sampler = o.sampler
    this.ids = o.ids
    this.groupId = o.groupId
    this.newSpanId = () => o.ids.generateSpanId()
  }

  start(topic: string, partition: number, raw: KafkaMessage): MessageSpan {
    let name = this.names.get(topic)
    if (name === undefined) this.names.set(topic, (name = `${topic} process`))
    const remote = remoteParent(raw.headers)
    const parentContext: Context = remote ? new RemoteParentContext(remote.parent) : ROOT_CONTEXT
    const traceId = remote ? remote.parent.traceId : this.ids.newTraceId()
    const decision = this.sampler.shouldSample(parentContext, traceId, name, SpanKind.CONSUMER, NO_ATTRIBUTES, NO_LINKS).decision
    if (decision === SamplingDecision.NOT_RECORD) return new DroppedMessageSpan(traceId, this.newSpanId, remote?.traceState)
    return this.record(name, topic, partition, raw, remote === undefined ? undefined : { ...remote.parent, ...(remote.traceState === undefined ? {} : { traceState: new TraceState(remote.traceState) }) }, traceId)
  }

  /** The SDK's recording span, with the messaging attributes and the "handler start" event. */
  private record(name: string, topic: string, partition: number, raw: KafkaMessage, parent: SpanContext | undefined, traceId: string): MessageSpan {
    const fetched = fetchedAt(raw)
    // Starts at the fetch when the consumer marked it, else now (the SDK's own precise clock).
    const options = fetched === undefined ? { kind: SpanKind.CONSUMER } : { kind: SpanKind.CONSUMER, startTime: fetched }
    const span = parent
      ? this.tracer.startSpan(name, options, new RemoteParentContext(parent))
      : this.ids.withTraceId(traceId, () => this.tracer.startSpan(name, options, ROOT_CONTEXT))
    // Set on the span, not passed to startSpan: the SDK copies and checks start attributes twice
    // (for the sampler, then for the span), which cost twice as much; the sampler has decided.
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
    span.addEvent('handler start', fetched === undefined ? NO_ATTRIBUTES : { 'amo.wait_before_handler_ms': Date.now() - fetched })
    return new RecordedMessageSpan(span)
  }
}

/** A sampled message: the SDK's span, ended with the outcome; the object is also the Context that holds it. */
class RecordedMessageSpan extends SpanOnlyContext implements MessageSpan {
  constructor(readonly span: Span) {
    super()
  }

  protected override heldSpan(): Span {
    return this.span
  }

  get logFields(): { trace_id: string; span_id: string } {
    const { traceId, spanId } = this.span.spanContext()
    return { trace_id: traceId, span_id: spanId }
  }

  run<T>(fn: () => T): T {
    return context.with(this, fn)
  }

  ok(): void {
    this.span.end()
  }

  fail(reason: SpanFailure, error?: unknown): void {
    this.span.setAttribute('error.type', reason)
    if (error instanceof Error) this.span.recordException(error)
    const detail = error instanceof Error ? `: ${error.message}` : ''
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: `${FAILURE_TEXT[reason]}${detail}` })
    this.span.end()
  }
}

/** A message the sampler dropped: nothing is recorded, the handler still runs in its span context. */
class DroppedMessageSpan extends UnsampledSpan implements MessageSpan {
  get logFields(): { trace_id: string; span_id: string } {
    const { traceId, spanId } = this.spanContext()
    return { trace_id: traceId, span_id: spanId }
  }

  run<T>(fn: () => T): T {
    return context.with(this, fn)
  }

  ok(): void {}

  fail(): void {}
}

let active: MessageTracing | undefined

/** The per-message tracing, or undefined while tracing is off. */
export function messageTracing(): MessageTracing | undefined {
  return active
}

export function setMessageTracing(t: MessageTracing | undefined): void {
  active = t
}
