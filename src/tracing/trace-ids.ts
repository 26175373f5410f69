/**
 * The SDK's random trace and span ids, with one addition: the trace id of the next root span can
 * be handed in. The message path draws a root's trace id itself, before any span exists, to ask
 * the sampler (a ratio sampler decides by the trace id); when the answer is "sample", the SDK
 * then creates the span with that same id, so that it decides the same way and the recorded span
 * carries the id the decision was made on.
 */
import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace'

export class TraceIds implements IdGenerator {
  private readonly random = new RandomIdGenerator()
  private next: string | undefined

  generateTraceId(): string {
    const id = this.next
    if (id === undefined) return this.random.generateTraceId()
    this.next = undefined
    return id
  }

  generateSpanId(): string {
    return this.random.generateSpanId()
  }

  /** A fresh trace id, not handed to anyone. */
  newTraceId(): string {
    return this.random.generateTraceId()
  }

  /** Runs `fn` (one synchronous span start) with `traceId` as the id of the root it creates. */
  withTraceId<T>(traceId: string, fn: () => T): T {
    this.next = traceId
    try {
      return fn()
    } finally {
      this.next = undefined
    }
  }
}
