/**
 * The W3C trace context (traceparent, tracestate) in Kafka message headers. kafkajs hands
 * header values in as Buffers (or arrays of them when a header repeats); a producer may set
 * strings.
 */
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api'
import type { IHeaders } from 'kafkajs'

export const headerGetter: TextMapGetter<IHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key]
    if (v === undefined) return undefined
    const first = Array.isArray(v) ? v[0] : v
    return first === undefined ? undefined : first.toString()
  },
}

export const headerSetter: TextMapSetter<IHeaders> = {
  set: (carrier, key, value) => {
    carrier[key] = value
  },
}
