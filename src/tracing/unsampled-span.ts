/**
 * The span of a message the sampler dropped: not recorded, but a real span context all the same,
 * as the OpenTelemetry specification asks of a non-recording span: the trace id of its parent (or
 * of the new trace), a span id of its own, the parent's tracestate, and the sampled flag off. The
 * handler runs inside it, so that its own instrumented calls carry `traceparent …-00` downstream
 * and a parent-based sampler there drops them too, instead of starting unrelated traces.
 *
 * Cheap because most messages are dropped: one object that is the span and its own Context, and
 * the span id (and the parsed tracestate) made only when someone reads the span context: the
 * handler's instrumentation, or a log line about the message. Nobody can tell an id made on first
 * read from one made at the start.
 */
import { TraceFlags, type Exception, type Span, type SpanContext, type TraceState } from '@opentelemetry/api'
import { TraceState as W3CTraceState } from '@opentelemetry/core'
import { SpanOnlyContext } from './context-key.ts'

export class UnsampledSpan extends SpanOnlyContext implements Span {
  private context: SpanContext | undefined

  constructor(
    private readonly traceId: string,
    private readonly newSpanId: () => string,
    /** The parent's tracestate header, parsed on first read. */
    private readonly traceStateHeader: string | undefined,
  ) {
    super()
  }

  spanContext(): SpanContext {
    if (this.context) return this.context
    const traceState: TraceState | undefined = this.traceStateHeader === undefined ? undefined : new W3CTraceState(this.traceStateHeader)
    this.context = { traceId: this.traceId, spanId: this.newSpanId(), traceFlags: TraceFlags.NONE, ...(traceState ? { traceState } : {}) }
    return this.context
  }

  isRecording(): boolean {
    return false
  }

  // A non-recording span takes everything and keeps nothing.
  setAttribute(): this {
    return this
  }
  setAttributes(): this {
    return this
  }
  addEvent(): this {
    return this
  }
  addLink(): this {
    return this
  }
  addLinks(): this {
    return this
  }
  setStatus(): this {
    return this
  }
  updateName(): this {
    return this
  }
  end(): void {}
  recordException(_exception: Exception): void {}
}
