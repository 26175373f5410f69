/**
 * The producer side (the weather producer): one PRODUCER span per message sent, its context
 * injected into the message's headers (traceparent, tracestate), so the consumer's span joins it.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api'
import type { IHeaders, Message } from 'kafkajs'
import { headerSetter } from './headers.ts'

/** Starts a `<topic> send` span for each message and injects its context into the headers. */
export function traceSend(topic: string, messages: Message[]): Span[] {
  const tracer = trace.getTracer('amo-consumer-producer')
  return messages.map((m) => {
    const span = tracer.startSpan(`${topic} send`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
        ...(typeof m.key === 'string' ? { 'messaging.kafka.message.key': m.key } : {}),
      },
    })
    const headers: IHeaders = { ...(m.headers ?? {}) }
    propagation.inject(trace.setSpan(context.active(), span), headers, headerSetter)
    m.headers = headers
    return span
  })
}

/** Ends the spans of one send: ok, or status ERROR with the error. */
export function endSend(spans: Span[], error?: unknown): void {
  for (const span of spans) {
    if (error !== undefined) {
      if (error instanceof Error) span.recordException(error)
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
    }
    span.end()
  }
}
