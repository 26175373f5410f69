/**
 * src/tracing/headers.ts: the W3C trace context in Kafka headers. kafkajs hands header values in
 * as Buffers, or arrays of Buffers when a header repeats; a producer may set strings. The getter
 * reads each form as text (the first of a repeated header), the setter writes strings, and the
 * W3C propagator round-trips a span context through them.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api'
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core'
import type { IHeaders } from 'kafkajs'
import { headerGetter, headerSetter } from '../src/tracing/headers.ts'

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

describe('headerGetter', () => {
  it('reads a Buffer value as UTF-8 text (what kafkajs hands in)', () => {
    assert.equal(headerGetter.get({ traceparent: Buffer.from(TRACEPARENT) }, 'traceparent'), TRACEPARENT)
  })

  it('reads a string value as is (what a producer may set)', () => {
    assert.equal(headerGetter.get({ traceparent: TRACEPARENT }, 'traceparent'), TRACEPARENT)
  })

  it('a repeated header (an array): the first value, Buffer or string', () => {
    assert.equal(headerGetter.get({ tracestate: [Buffer.from('a=1'), Buffer.from('b=2')] }, 'tracestate'), 'a=1')
    assert.equal(headerGetter.get({ tracestate: ['a=1', 'b=2'] }, 'tracestate'), 'a=1')
  })

  it('a missing header, and an empty array, read as undefined', () => {
    assert.equal(headerGetter.get({}, 'traceparent'), undefined)
    assert.equal(headerGetter.get({ traceparent: [] }, 'traceparent'), undefined)
    assert.equal(headerGetter.get({ traceparent: undefined }, 'traceparent'), undefined)
  })

  it('keys: every header name, as given', () => {
    assert.deepEqual(headerGetter.keys({ traceparent: TRACEPARENT, tracestate: Buffer.from('a=1'), 'x-other': 'y' }), ['traceparent', 'tracestate', 'x-other'])
    assert.deepEqual(headerGetter.keys({}), [])
  })
})

describe('headerSetter', () => {
  it('sets a string value, replacing what was there', () => {
    const carrier: IHeaders = { traceparent: Buffer.from('old'), other: 'kept' }
    headerSetter.set(carrier, 'traceparent', TRACEPARENT)
    assert.deepEqual(carrier, { traceparent: TRACEPARENT, other: 'kept' })
  })
})

describe('the W3C propagator through Kafka headers', () => {
  const propagator = new W3CTraceContextPropagator()

  it('inject then extract (as Buffers, as the consumer receives them) gives back the span context, remote, with its tracestate', () => {
    const sent = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, traceState: new TraceState('v=1,w=2') }
    const headers: IHeaders = {}
    propagator.inject(trace.setSpanContext(ROOT_CONTEXT, sent), headers, headerSetter)
    assert.deepEqual(headers, { traceparent: TRACEPARENT, tracestate: 'v=1,w=2' })
    const received: IHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(String(v))]))
    const got = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, received, headerGetter))
    assert.equal(got?.traceId, sent.traceId)
    assert.equal(got?.spanId, sent.spanId)
    assert.equal(got?.traceFlags, TraceFlags.SAMPLED)
    assert.equal(got?.isRemote, true)
    assert.equal(got?.traceState?.serialize(), 'v=1,w=2')
  })

  it('an unsampled context travels with flag 00; a malformed traceparent extracts to nothing', () => {
    const headers: IHeaders = {}
    propagator.inject(trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.NONE }), headers, headerSetter)
    assert.equal(headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00')
    assert.equal(trace.getSpanContext(propagator.extract(ROOT_CONTEXT, { traceparent: Buffer.from('00-xyz-01') }, headerGetter)), undefined)
  })
})
