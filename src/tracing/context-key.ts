/**
 * The key under which a Context holds its span. The OpenTelemetry API creates it with
 * `createContextKey('OpenTelemetry Context Key SPAN')`, which is `Symbol.for(...)`: a registered
 * symbol, so that every copy of the API in a process finds the same span. Naming it here lets a
 * message span be its own Context (one object per message instead of a span and a context);
 * test/tracing.test.ts checks that `trace.getSpan` finds it.
 */
import { createContextKey, ROOT_CONTEXT, type Context } from '@opentelemetry/api'

export const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN')

/**
 * A Context that holds one value, a span under SPAN_KEY (as `trace.setSpan(ROOT_CONTEXT, span)`
 * would), without a Map: `heldSpan()` (the object itself, when it is the span). Setting another
 * value gives an ordinary context.
 */
export abstract class SpanOnlyContext implements Context {
  protected heldSpan(): unknown {
    return this
  }

  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.heldSpan() : undefined
  }

  setValue(key: symbol, value: unknown): Context {
    return ROOT_CONTEXT.setValue(SPAN_KEY, this.heldSpan()).setValue(key, value)
  }

  deleteValue(key: symbol): Context {
    return key === SPAN_KEY ? ROOT_CONTEXT : this
  }
}
