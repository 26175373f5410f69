/**
 * Tracing without Kafka: processMessage with the OpenTelemetry SDK's in-memory exporter behind
 * the real MessageTracing (the message span, its parent from the headers, its attributes and its
 * status for every outcome, the handler inside its context, the log lines' trace ids), the
 * sampler and option mapping, and that with tracing off no span is made.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, SamplingDecision } from '@opentelemetry/sdk-trace'
import type { KafkaMessage } from 'kafkajs'
import type { Handler } from '../src/message/handler.ts'
import { processMessage, type ProcessDeps } from '../src/message/process.ts'
import { diagLogger } from '../src/tracing/diag.ts'
import { keepFetchTimes, markFetched } from '../src/tracing/fetched.ts'
import { MessageTracing, messageTracing, setMessageTracing } from '../src/tracing/message-span.ts'
import { tracingOptions } from '../src/tracing/options.ts'
import { createSampler } from '../src/tracing/sampler.ts'
import { startTracing } from '../src/tracing/sdk.ts'
import { memoryLog } from './support/memory-log.ts'
import { processDeps } from './support/process-deps.ts'

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT = 'b7ad6b7169203331'


function msg(value: string, headers: KafkaMessage['headers'] = {}, offset = '7'): KafkaMessage {
  return { key: Buffer.from('Oslo'), value: Buffer.from(value), offset, timestamp: '0', attributes: 0, headers }
}

const withParent = () => ({ traceparent: Buffer.from(`00-${TRACE}-${PARENT}-01`), tracestate: Buffer.from('v=1') })

const deps = processDeps

describe('message spans (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  before(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    trace.setGlobalTracerProvider(provider)
    setMessageTracing(new MessageTracing(provider.getTracer('test'), new W3CTraceContextPropagator(), 'g1'))
    keepFetchTimes(true)
  })
  after(() => {
    setMessageTracing(undefined)
    keepFetchTimes(false)
    trace.disable()
    context.disable()
  })
  beforeEach(() => exporter.reset())
  const only = () => {
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'weather process')
    assert.equal(spans.length, 1, `one message span: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`)
    return spans[0]!
  }

  it('a processed message: "<topic> process", CONSUMER, child of its traceparent, the messaging attributes, status unset', async () => {
    const { d } = deps(() => undefined)
    assert.equal(processMessage('weather', 2, msg('{"a":1}', withParent()), d), 'ok')
    const s = only()
    assert.equal(s.kind, SpanKind.CONSUMER)
    assert.equal(s.spanContext().traceId, TRACE)
    assert.equal(s.parentSpanContext?.spanId, PARENT)
    assert.equal(s.spanContext().traceState?.get('v'), '1')
    assert.deepEqual(s.attributes, {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'weather',
      'messaging.destination.partition.id': '2',
      'messaging.kafka.offset': 7,
      'messaging.consumer.group.name': 'g1',
      'messaging.kafka.message.key': 'Oslo',
    })
    assert.equal(s.status.code, SpanStatusCode.UNSET)
    assert.deepEqual(s.events.map((e) => e.name), ['handler start'])
  })

  it('no traceparent: a root span; the handler runs inside it, so its own spans are children', async () => {
    let seen: string | undefined
    const { d } = deps(async () => {
      seen = trace.getActiveSpan()?.spanContext().spanId
      await new Promise((r) => setTimeout(r, 1))
      trace.getTracer('handler').startSpan('downstream').end()
    })
    assert.equal(await processMessage('weather', 2, msg('{}'), d), 'ok')
    const s = only()
    assert.equal(s.parentSpanContext, undefined)
    assert.equal(seen, s.spanContext().spanId)
    const downstream = exporter.getFinishedSpans().find((x) => x.name === 'downstream')
    assert.equal(downstream?.parentSpanContext?.spanId, s.spanContext().spanId, 'after an await, still in the span context')
  })

  it('a message marked fetched: the span starts at the fetch; the handler start event has the wait', async () => {
    const { d } = deps(() => undefined)
    const m = msg('{}')
    const fetched = Date.now() - 250
    markFetched([m], fetched)
    processMessage('weather', 2, m, d)
    const s = only()
    assert.equal(s.startTime[0] * 1000 + Math.floor(s.startTime[1] / 1e6), fetched)
    const wait = s.events[0]?.attributes?.['amo.wait_before_handler_ms'] as number
    assert.ok(wait >= 250 && wait < 2000, `wait ${wait}`)
  })

  for (const [name, handler, over, reason, outcome] of [
    ['a throwing handler', () => { throw new Error('boom') }, {}, 'handler_failed', 'failed'],
    ['a rejecting handler', () => Promise.reject(new Error('boom')), {}, 'handler_failed', 'failed'],
    ['a handler past HANDLER_TIMEOUT_MS', () => new Promise(() => undefined), { handlerTimeoutMs: 20 }, 'handler_timeout', 'failed'],
    ['a handler at the shutdown deadline', () => new Promise(() => undefined), { deadline: AbortSignal.timeout(20) }, 'shutdown', 'abandoned'],
  ] as const) {
    it(`${name}: status ERROR (${reason}); the log line carries trace_id and span_id`, async () => {
      const { d, lines } = deps(handler as Handler, over as Partial<ProcessDeps>)
      assert.equal(await processMessage('weather', 2, msg('{}', withParent()), d), outcome)
      const s = only()
      assert.equal(s.status.code, SpanStatusCode.ERROR)
      assert.equal(s.attributes['error.type'], reason)
      const line = lines.find((l) => l.lost === true)
      assert.equal(line?.trace_id, TRACE)
      assert.equal(line?.span_id, s.spanContext().spanId)
    })
  }

  it('an undecodable message: status ERROR, never a success; its log line has the trace id', () => {
    const { d, lines } = deps(() => assert.fail('not called'))
    assert.equal(processMessage('weather', 2, msg('not json', withParent()), d), 'skipped')
    const s = only()
    assert.equal(s.status.code, SpanStatusCode.ERROR)
    assert.equal(s.attributes['error.type'], 'undecodable')
    assert.equal(lines.find((l) => /undecodable/.test(String(l.msg)))?.trace_id, TRACE)
  })

  it('tracing off: no span, no trace fields, the handler runs outside any span', () => {
    setMessageTracing(undefined)
    try {
      let active: unknown = 'unset'
      const { d, lines } = deps(() => {
        active = trace.getActiveSpan()
        throw new Error('boom')
      })
      processMessage('weather', 2, msg('{}', withParent()), d)
      assert.equal(active, undefined)
      assert.equal(exporter.getFinishedSpans().length, 0)
      assert.ok(!('trace_id' in (lines.find((l) => l.lost === true) ?? {})))
    } finally {
      setMessageTracing(new MessageTracing(provider.getTracer('test'), new W3CTraceContextPropagator(), 'g1'))
    }
  })
})

describe('tracing options and SDK start', () => {
  it('the defaults: exporter none; OTLP endpoint gets /v1/traces', () => {
    assert.equal(tracingOptions({}).exporter, 'none')
    assert.equal(tracingOptions({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }).url, 'http://c:4318/v1/traces')
    assert.equal(tracingOptions({ OTEL_TRACES_EXPORTER: 'zipkin' }).url, 'http://localhost:9411/api/v2/spans')
  })

  it('OTEL_TRACES_EXPORTER=none starts nothing', () => {
    assert.equal(startTracing(tracingOptions({}), memoryLog().log, 'g'), undefined)
    assert.equal(messageTracing(), undefined)
  })

  it('zipkin starts the SDK with the W3C propagator, and shutdown unregisters it', async () => {
    const { log, lines } = memoryLog()
    const t = startTracing(tracingOptions({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://127.0.0.1:1/api/v2/spans' }), log, 'g')
    assert.ok(t && messageTracing())
    assert.deepEqual(propagation.fields(), ['traceparent', 'tracestate'])
    assert.ok(lines.some((l) => l.msg === 'tracing on'))
    await t.shutdown()
    assert.equal(messageTracing(), undefined)
    assert.deepEqual(propagation.fields(), [])
  })

  it('the SDK diagnostics: at warn at most, each kind once per interval with the count held back', () => {
    const { log, lines } = memoryLog()
    let t = 0
    const diag = diagLogger(log, 60_000, () => t)
    for (let i = 0; i < 50; i++) diag.error('{"message":"connect ECONNREFUSED 127.0.0.1:9"}')
    diag.warn('Dropped 12 spans because maxQueueSize reached')
    diag.warn('Dropped 40 spans because maxQueueSize reached')
    t = 60_000
    diag.error('{"message":"connect ECONNREFUSED 127.0.0.1:9"}')
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.heldBack]),
      [
        [40, '{"message":"connect ECONNREFUSED 127.0.0.1:9"}', undefined],
        [40, 'Dropped 12 spans because maxQueueSize reached', undefined],
        [40, '{"message":"connect ECONNREFUSED 127.0.0.1:9"}', 49],
      ],
    )
  })

  it('samplers: ratio 0.01 keeps about 1 root in 100, parent-based follows the parent', () => {
    const ratio = createSampler('traceidratio', 0.01)
    let kept = 0
    for (let i = 0; i < 20_000; i++) {
      const id = (i.toString(16).padStart(8, '0') + 'a1b2c3d4e5f6a7b8c9d0e1f2').slice(0, 32)
      const r = ratio.shouldSample(context.active(), id, 'x', SpanKind.CONSUMER, {}, [])
      if (r.decision === SamplingDecision.RECORD_AND_SAMPLED) kept++
    }
    assert.ok(kept < 20_000 * 0.05, `kept ${kept}`)
    const off = createSampler('parentbased_always_off', 1)
    assert.equal(off.shouldSample(context.active(), TRACE, 'x', SpanKind.CONSUMER, {}, []).decision, SamplingDecision.NOT_RECORD)
  })
})
