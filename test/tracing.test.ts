/**
 * Tracing without Kafka: processMessage with the OpenTelemetry SDK's in-memory exporter behind
 * the real MessageTracing (the message span, its parent from the headers, its attributes and its
 * status for every outcome, the handler inside its context, the log lines' trace ids), a message
 * the sampler drops (no span recorded, but the handler still runs in a valid span context with
 * the sampled flag off, which its own outgoing calls propagate), the sampler deciding on the same
 * trace id the recorded span carries, the fetch marks, the sampler and option mapping, and that
 * with tracing off no span is made.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type SpanContext } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, SamplingDecision } from '@opentelemetry/sdk-trace'
import type { KafkaMessage } from 'kafkajs'
import { eventually } from '../harness/kafka-tools.ts'
import type { Handler } from '../src/message/handler.ts'
import { processMessage, type ProcessDeps } from '../src/message/process.ts'
import { diagLogger } from '../src/tracing/diag.ts'
import { fetchedAt, keepFetchTimes, markFetched } from '../src/tracing/fetched.ts'
import { headerSetter } from '../src/tracing/headers.ts'
import { MessageTracing, messageTracing, setMessageTracing } from '../src/tracing/message-span.ts'
import { tracingOptions, type TracesSampler } from '../src/tracing/options.ts'
import { createSampler } from '../src/tracing/sampler.ts'
import { startTracing } from '../src/tracing/sdk.ts'
import { TraceIds } from '../src/tracing/trace-ids.ts'
import { UnsampledSpan } from '../src/tracing/unsampled-span.ts'
import { memoryLog } from './support/memory-log.ts'
import { processDeps } from './support/process-deps.ts'

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT = 'b7ad6b7169203331'


function msg(value: string, headers: KafkaMessage['headers'] = {}, offset = '7'): KafkaMessage {
  return { key: Buffer.from('Oslo'), value: Buffer.from(value), offset, timestamp: '0', attributes: 0, headers }
}

const withParent = () => ({ traceparent: Buffer.from(`00-${TRACE}-${PARENT}-01`), tracestate: Buffer.from('v=1') })

const deps = processDeps

/** The SDK as sdk.ts assembles it (the sampler and the id generator shared with MessageTracing), spans kept in memory. */
function inMemoryTracing(samplerName: TracesSampler, ratio = 1) {
  const exporter = new InMemorySpanExporter()
  const sampler = createSampler(samplerName, ratio)
  const ids = new TraceIds()
  const provider = new TracerProvider({ sampler, idGenerator: ids, spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  const tracing = new MessageTracing({ tracer: provider.getTracer('test'), sampler, ids, groupId: 'g1' })
  const install = () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    trace.setGlobalTracerProvider(provider)
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    setMessageTracing(tracing)
    keepFetchTimes(true)
  }
  const uninstall = () => {
    setMessageTracing(undefined)
    keepFetchTimes(false)
    trace.disable()
    context.disable()
    propagation.disable()
  }
  return { exporter, provider, tracing, install, uninstall }
}

/** What a handler sees: the active span context, and the headers its instrumented call would send. */
function seen(): { active: SpanContext | undefined; outgoing: Record<string, string> } {
  const outgoing: Record<string, string> = {}
  propagation.inject(context.active(), outgoing, headerSetter as never)
  return { active: trace.getActiveSpan()?.spanContext(), outgoing }
}

describe('message spans (in-memory exporter)', () => {
  const { exporter, tracing, install, uninstall } = inMemoryTracing('parentbased_always_on')
  before(install)
  after(uninstall)
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
      setMessageTracing(tracing)
    }
  })

  it('a sampled root carries the trace id the sampler decided on; the handler\'s outgoing call is sampled (-01)', () => {
    let inHandler: ReturnType<typeof seen> | undefined
    const { d } = deps(() => {
      inHandler = seen()
    })
    processMessage('weather', 2, msg('{}'), d)
    const s = only()
    assert.equal(inHandler?.active?.spanId, s.spanContext().spanId)
    assert.equal(inHandler?.outgoing.traceparent, `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`)
  })
})

describe('messages the sampler drops', () => {
  const { exporter, install, uninstall } = inMemoryTracing('parentbased_traceidratio', 0)
  before(install)
  after(uninstall)
  beforeEach(() => exporter.reset())

  it('a parent with the sampled flag off: no span recorded; the handler runs in a span context of that trace, flag off, a span id of its own, the tracestate passed on', async () => {
    let inHandler: ReturnType<typeof seen> | undefined
    let child: { recording: boolean; sc: SpanContext } | undefined
    const { d } = deps(async () => {
      await new Promise((r) => setTimeout(r, 1))
      inHandler = seen()
      const span = trace.getTracer('handler').startSpan('downstream')
      child = { recording: span.isRecording(), sc: span.spanContext() }
      span.end()
    })
    const headers = { traceparent: Buffer.from(`00-${TRACE}-${PARENT}-00`), tracestate: Buffer.from('v=1') }
    assert.equal(await processMessage('weather', 2, msg('{}', headers), d), 'ok')
    assert.equal(exporter.getFinishedSpans().length, 0, 'nothing recorded: neither the message span nor the handler\'s')
    const active = inHandler?.active
    assert.ok(active, 'the handler runs inside a span context (after an await too)')
    assert.equal(active.traceId, TRACE)
    assert.notEqual(active.spanId, PARENT, 'a span id of its own, not the parent\'s')
    assert.match(active.spanId, /^[0-9a-f]{16}$/)
    assert.equal(active.traceFlags & TraceFlags.SAMPLED, 0)
    assert.equal(inHandler?.outgoing.traceparent, `00-${TRACE}-${active.spanId}-00`, 'downstream sees the trace, not sampled')
    assert.equal(inHandler?.outgoing.tracestate, 'v=1')
    assert.equal(child?.recording, false, 'the handler\'s own span follows the decision (parent-based)')
    assert.equal(child?.sc.traceId, TRACE)
  })

  it('no parent: a new trace id, not sampled, propagated by the handler\'s calls as -00', () => {
    let inHandler: ReturnType<typeof seen> | undefined
    const { d } = deps(() => {
      inHandler = seen()
    })
    processMessage('weather', 2, msg('{}'), d)
    assert.equal(exporter.getFinishedSpans().length, 0)
    const active = inHandler?.active
    assert.ok(active && trace.isSpanContextValid(active), 'a valid span context')
    assert.equal(inHandler?.outgoing.traceparent, `00-${active.traceId}-${active.spanId}-00`)
  })

  it('a failed message that was not sampled: no span, but its log line still has trace_id and span_id, the handler\'s', async () => {
    let active: SpanContext | undefined
    const { d, lines } = deps(() => {
      active = trace.getActiveSpan()?.spanContext()
      throw new Error('boom')
    })
    assert.equal(await processMessage('weather', 2, msg('{}', { traceparent: Buffer.from(`00-${TRACE}-${PARENT}-00`) }), d), 'failed')
    assert.equal(exporter.getFinishedSpans().length, 0)
    const line = lines.find((l) => l.lost === true)
    assert.equal(line?.trace_id, TRACE)
    assert.equal(line?.span_id, active?.spanId)
  })

  it('a parent with the sampled flag on is recorded even at ratio 0 (parent-based)', () => {
    const { d } = deps(() => undefined)
    processMessage('weather', 2, msg('{}', withParent()), d)
    const spans = exporter.getFinishedSpans()
    assert.equal(spans.length, 1)
    assert.equal(spans[0]?.parentSpanContext?.spanId, PARENT)
    assert.equal(spans[0]?.spanContext().traceState?.get('v'), '1')
  })

  it('an invalid traceparent counts as none: a new root', () => {
    let active: SpanContext | undefined
    const { d } = deps(() => {
      active = trace.getActiveSpan()?.spanContext()
    })
    processMessage('weather', 2, msg('{}', { traceparent: Buffer.from(`00-${'0'.repeat(32)}-${PARENT}-01`) }), d)
    assert.ok(active && trace.isSpanContextValid(active))
    assert.notEqual(active.traceId, '0'.repeat(32))
  })
})

describe('a ratio sampler: the recorded spans are exactly those the sampler keeps by their trace id', () => {
  const { exporter, install, uninstall } = inMemoryTracing('traceidratio', 0.5)
  before(install)
  after(uninstall)

  it('500 roots at 0.5: every trace id recorded is one the SDK sampler keeps, every one dropped one it drops', () => {
    const reference = createSampler('traceidratio', 0.5)
    const decided: Array<{ traceId: string; kept: boolean }> = []
    for (let i = 0; i < 500; i++) {
      const { d } = deps(() => {
        const sc = trace.getActiveSpan()!.spanContext()
        decided.push({ traceId: sc.traceId, kept: (sc.traceFlags & TraceFlags.SAMPLED) !== 0 })
      })
      processMessage('weather', 0, msg('{}', {}, String(i)), d)
    }
    const recorded = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().traceId))
    for (const { traceId, kept } of decided) {
      assert.equal(recorded.has(traceId), kept, `recorded iff sampled: ${traceId}`)
      assert.equal(reference.shouldSample(ROOT_CONTEXT, traceId, 'x', SpanKind.CONSUMER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED, kept, `the sampler's own verdict on ${traceId}`)
    }
    assert.ok(recorded.size > 150 && recorded.size < 350, `about half recorded: ${recorded.size}`)
  })
})

describe('a message span as its own context, and the fetch marks', () => {
  it('trace.getSpan finds an UnsampledSpan used as a Context; setting another value keeps it, deleting the span removes it', () => {
    const span = new UnsampledSpan(TRACE, () => PARENT, undefined)
    assert.equal(trace.getSpan(span), span)
    const key = Symbol('other')
    const more = span.setValue(key, 42)
    assert.equal(trace.getSpan(more), span)
    assert.equal(more.getValue(key), 42)
    assert.equal(trace.getSpan(span.deleteValue(key)), span)
    assert.equal(trace.getSpan(trace.deleteSpan(span)), undefined)
    assert.equal(span.isRecording(), false)
  })

  it('the span id is made once, on first read', () => {
    let made = 0
    const span = new UnsampledSpan(TRACE, () => `${++made}`.padStart(16, 'a'), 'k=v')
    assert.equal(made, 0)
    const a = span.spanContext()
    assert.equal(span.spanContext(), a)
    assert.equal(made, 1)
    assert.equal(a.traceState?.get('k'), 'v')
  })

  it('markFetched marks each message while fetch times are kept, invisibly to Object.keys and JSON; nothing when not', () => {
    const kept = msg('{}')
    const notKept = msg('{}')
    keepFetchTimes(false)
    markFetched([notKept], 5)
    assert.equal(fetchedAt(notKept), undefined)
    keepFetchTimes(true)
    try {
      markFetched([kept], 5)
      assert.equal(fetchedAt(kept), 5)
      assert.deepEqual(Object.keys(kept), Object.keys(notKept))
      assert.equal(JSON.stringify(kept), JSON.stringify(notKept))
    } finally {
      keepFetchTimes(false)
    }
  })
})

describe('tracing options and SDK start', () => {
  it('the defaults: exporter none; OTLP endpoint gets /v1/traces', () => {
    assert.equal(tracingOptions({}).exporter, 'none')
    assert.equal(tracingOptions({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }).url, 'http://c:4318/v1/traces')
    assert.equal(tracingOptions({ OTEL_TRACES_EXPORTER: 'zipkin' }).url, 'http://localhost:9411/api/v2/spans')
  })

  it('OTEL_BSP_*: the defaults of the specification, the values given, and never a batch bigger than the queue', () => {
    assert.deepEqual(tracingOptions({}).batch, { scheduledDelayMillis: 5000, exportTimeoutMillis: 30000, maxQueueSize: 2048, maxExportBatchSize: 512 })
    assert.deepEqual(
      tracingOptions({ OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_EXPORT_TIMEOUT: 2000, OTEL_BSP_MAX_QUEUE_SIZE: '64', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512' }).batch,
      { scheduledDelayMillis: 100, exportTimeoutMillis: 2000, maxQueueSize: 64, maxExportBatchSize: 64 },
    )
    // The producer reads the variables loosely (the service's schema refuses these): the default.
    assert.equal(tracingOptions({ OTEL_BSP_MAX_QUEUE_SIZE: 'lots' }).batch.maxQueueSize, 2048)
    assert.equal(tracingOptions({ OTEL_BSP_SCHEDULE_DELAY: '0' }).batch.scheduledDelayMillis, 5000)
  })

  it('the batch span processor exports as OTEL_BSP_* say: at most a batch a request, spans over the queue dropped, the delay', async () => {
    // An OTLP/HTTP collector stand-in that counts the spans of each request and holds the first answer.
    const sizes: number[] = []
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] }
        sizes.push(body.resourceSpans.flatMap((r) => r.scopeSpans).reduce((n, s) => n + s.spans.length, 0))
        const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        if (sizes.length === 1) void held.then(answer)
        else answer()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const t = startTracing(
      tracingOptions({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3', OTEL_BSP_MAX_QUEUE_SIZE: '6', OTEL_BSP_SCHEDULE_DELAY: '50' }),
      memoryLog().log,
    )
    assert.ok(t)
    try {
      const spans = (n: number) => {
        for (let i = 0; i < n; i++) trace.getTracer('test').startSpan('s').end()
      }
      const until = async (what: string, ok: () => boolean) => assert.ok(await eventually(ok, 3000, 10), `${what}; requests so far: ${JSON.stringify(sizes)}`)
      spans(3) // a full batch: exported at once
      await until('the first batch of 3 was not sent at once', () => sizes.length === 1)
      spans(8) // while it is unanswered: 6 fit the queue, 2 are dropped
      release()
      await until('the 6 queued spans were not sent in batches of 3', () => sizes.length === 3)
      spans(1) // less than a batch: sent after the 50 ms delay (the default would wait 5 s)
      await until('a lone span was not sent within 3 s of a 50 ms schedule delay', () => sizes.length === 4)
      assert.deepEqual(sizes, [3, 3, 3, 1])
    } finally {
      release()
      await t.shutdown()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
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
