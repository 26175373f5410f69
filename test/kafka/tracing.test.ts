/**
 * Apache Kafka and a real Zipkin server (harness/zipkin.ts): the service, started with
 * OTEL_TRACES_EXPORTER=zipkin, consumes messages that carry a known W3C traceparent, and Zipkin's
 * API then holds each message's `<topic> process` span as a child of the producer's span, with
 * the messaging attributes, the handler's own span below it, and status ERROR for a failed
 * handler and an undecodable message. With OTEL_TRACES_EXPORTER=otlp pointed at a port where
 * nothing listens, the service processes everything and exits 0. When Java, Maven or the Zipkin
 * jar is missing the file fails with what to install: it is never skipped.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { freePort } from '../../harness/brokers/apache-kafka/ports.ts'
import { eventually, produce } from '../../harness/kafka-tools.ts'
import { ROOT, startService } from '../../harness/service-process.ts'
import { Zipkin, type ZipkinSpan } from '../../harness/zipkin.ts'
import { startKafka, uniq } from './support.ts'

const hex = (bytes: number) => randomBytes(bytes).toString('hex')
/** A producer's span: its trace id, its span id, and the traceparent header that carries them. */
function parentContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = hex(16)
  const spanId = hex(8)
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` }
}

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'} and Zipkin: tracing`, () => {
  let kafka: ApacheKafka
  let zipkin: Zipkin
  before(async () => {
    ;[kafka, zipkin] = await Promise.all([startKafka({ nodes: 1 }), Zipkin.start()])
  })
  after(() => {
    zipkin?.stop()
    return kafka?.stop()
  })

  /** The trace's spans once Zipkin has `count` of them (spans are exported in batches). */
  async function spansOf(traceId: string, count: number): Promise<ZipkinSpan[]> {
    let spans: ZipkinSpan[] = []
    const found = await eventually(async () => (spans = await zipkin.trace(traceId)).length >= count, 20_000, 250)
    assert.ok(found, `Zipkin has ${spans.length} span(s) of trace ${traceId}, expected ${count}\n${zipkin.tail(5)}`)
    return spans
  }

  it('OTEL_TRACES_EXPORTER=zipkin: each message a child span of its traceparent with the messaging attributes; failures are errors', async (t) => {
    const topic = uniq('traced')
    const group = `g-${topic}`
    await kafka.createTopic(topic, 1)
    const ok = parentContext()
    const failing = parentContext()
    const undecodable = parentContext()
    await produce(kafka.bootstrap, topic, [
      { key: 'Lisbon', value: JSON.stringify({ seq: 0 }), headers: { traceparent: ok.traceparent, tracestate: 'vendor=1' } },
      { key: 'Oslo', value: JSON.stringify({ seq: 1, fail: true }), headers: { traceparent: failing.traceparent } },
      { value: 'not json', headers: { traceparent: undecodable.traceparent } },
      { key: 'Lima', value: JSON.stringify({ seq: 3 }) },
    ])
    const svc = startService({
      KAFKA_BROKERS: kafka.bootstrap.join(','),
      KAFKA_TOPICS: topic,
      KAFKA_GROUP_ID: group,
      HANDLER: 'test/fixtures/traced-handler.mjs',
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.spansUrl,
      OTEL_SERVICE_NAME: 'amo-consumer-under-test',
    })
    try {
      assert.ok(await eventually(() => svc.consumed().length >= 2, 60_000), `consumed ${svc.consumed().length}/2\n${svc.tail()}`)
      assert.ok(await eventually(async () => (await svc.metric('consumer_messages_skipped_total')) >= 1, 10_000), svc.tail())
    } finally {
      // The spans of the last messages are flushed at exit, after the consumer's shutdown.
      const exit = await svc.stop('SIGTERM')
      assert.equal(exit.code, 0, svc.tail())
    }
    assert.ok(svc.logs.some((l) => l.msg === 'tracing on' && l.exporter === 'zipkin'), 'the start says tracing is on')

    // The message with a traceparent: the producer's span is the parent of the service's span.
    const spans = await spansOf(ok.traceId, 2)
    const processSpan = spans.find((s) => s.name === `${topic} process`)
    assert.ok(processSpan, `a "${topic} process" span in ${JSON.stringify(spans)}`)
    assert.equal(processSpan.traceId, ok.traceId)
    assert.equal(processSpan.parentId, ok.spanId, 'a child of the span in the traceparent header')
    assert.equal(processSpan.kind, 'CONSUMER')
    assert.equal(processSpan.localEndpoint?.serviceName, 'amo-consumer-under-test')
    assert.deepEqual(
      Object.fromEntries(Object.entries(processSpan.tags ?? {}).filter(([k]) => k.startsWith('messaging.'))),
      {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': topic,
        'messaging.destination.partition.id': '0',
        'messaging.kafka.offset': '0',
        'messaging.kafka.message.key': 'Lisbon',
        'messaging.consumer.group.name': group,
      },
    )
    assert.ok(!processSpan.tags?.['otel.status_code'] && !processSpan.tags?.error, 'a processed message is not an error')
    assert.ok(processSpan.annotations?.some((a) => a.value === 'handler start'), 'the handler start is an event of the span')
    // The handler ran inside the span's context: its own span is a child of the message's span.
    const downstream = spans.find((s) => s.name === 'downstream call')
    assert.equal(downstream?.parentId, processSpan.id, `the handler's span is a child of the process span: ${JSON.stringify(spans)}`)
    t.diagnostic(`Zipkin trace ${ok.traceId}: ${JSON.stringify(spans.map((s) => ({ name: s.name, id: s.id, parentId: s.parentId, kind: s.kind, service: s.localEndpoint?.serviceName, tags: s.tags, annotations: s.annotations?.map((a) => a.value) })))}`)
    const consumed0 = svc.consumed().find((c) => c.offset === '0') as { handlerTraceId?: string } | undefined
    assert.equal(consumed0?.handlerTraceId, ok.traceId, 'the handler sees the trace as its active context')

    // The failing handler: status ERROR with the reason, and the log line carries the trace id.
    const [failed] = (await spansOf(failing.traceId, 2)).filter((s) => s.name === `${topic} process`)
    t.diagnostic(`Zipkin trace ${failing.traceId} (failing handler): ${JSON.stringify({ name: failed?.name, id: failed?.id, parentId: failed?.parentId, tags: failed?.tags })}`)
    assert.equal(failed?.parentId, failing.spanId)
    assert.equal(failed?.tags?.['otel.status_code'], 'ERROR')
    assert.match(failed?.tags?.error ?? '', /handler failed.*payment declined/)
    assert.equal(failed?.tags?.['error.type'], 'handler_failed')
    const failedLine = svc.logs.find((l) => /^handler failed/.test(l.msg))
    assert.equal(failedLine?.trace_id, failing.traceId, 'the failed-message log line carries its trace id')
    assert.equal(failedLine?.span_id, failed?.id)

    // The undecodable message: skipped, never a success.
    const [skipped] = await spansOf(undecodable.traceId, 1)
    assert.equal(skipped?.parentId, undecodable.spanId)
    assert.equal(skipped?.tags?.['otel.status_code'], 'ERROR')
    assert.equal(skipped?.tags?.['error.type'], 'undecodable')
    assert.equal(svc.logs.find((l) => /^undecodable/.test(l.msg))?.trace_id, undecodable.traceId)

    // No traceparent: a root span of a new trace, which the handler saw as its own.
    const consumed3 = svc.consumed().find((c) => c.offset === '3') as { handlerTraceId?: string } | undefined
    assert.match(consumed3?.handlerTraceId ?? '', /^[0-9a-f]{32}$/)
    const root = (await spansOf(consumed3!.handlerTraceId!, 2)).find((s) => s.name === `${topic} process`)
    assert.ok(root, 'the message without context has a span')
    assert.equal(root.parentId, undefined, 'a root span')
    assert.equal(root.tags?.['messaging.kafka.offset'], '3')
  })

  it('end to end from the weather producer: each reading one trace, "<topic> send" (PRODUCER) then "<topic> process" (CONSUMER) below it', async () => {
    const topic = uniq('weather')
    await kafka.createTopic(topic, 2)
    const tracing = { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.spansUrl }
    const produced = spawnSync(process.execPath, ['dist/producer/weather.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, PRODUCER_COUNT: '8', PRODUCER_INTERVAL_MS: '10', ...tracing },
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.equal(produced.status, 0, `the producer failed:\n${produced.stdout}\n${produced.stderr}`)
    const svc = startService({ KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`, ...tracing })
    try {
      assert.ok(await eventually(() => svc.consumed().length >= 8, 60_000), `consumed ${svc.consumed().length}/8\n${svc.tail()}`)
    } finally {
      assert.equal((await svc.stop('SIGTERM')).code, 0, svc.tail())
    }
    let traces: ZipkinSpan[][] = []
    const whole = (t: ZipkinSpan[]) => t.some((s) => s.name === `${topic} send`) && t.some((s) => s.name === `${topic} process`)
    assert.ok(
      await eventually(async () => (traces = (await zipkin.traces('weather-producer', 50)).filter(whole)).length >= 8, 20_000, 250),
      `${traces.length} of 8 readings have a trace with both spans in Zipkin`,
    )
    for (const t of traces) {
      const send = t.find((s) => s.name === `${topic} send`)!
      const processed = t.find((s) => s.name === `${topic} process`)!
      assert.equal(send.kind, 'PRODUCER')
      assert.equal(send.localEndpoint?.serviceName, 'weather-producer')
      assert.equal(processed.parentId, send.id, 'the consumer span is a child of the producer span')
      assert.equal(processed.localEndpoint?.serviceName, 'amo-consumer')
      assert.equal(processed.tags?.['messaging.kafka.message.key'], send.tags?.['messaging.kafka.message.key'])
    }
  })

  it('without Java the Zipkin harness fails, saying what to install (the test fails, never skips)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./harness/zipkin.ts').then((m) => m.Zipkin.start())"], {
      cwd: ROOT,
      env: { PATH: '/nonexistent', HOME: process.env.HOME ?? '' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /ZipkinError: Zipkin needs Java: .*openjdk-17-jdk-headless/)
  })

  it('OTEL_TRACES_EXPORTER=otlp to an endpoint where nothing listens: every message processed, no error line, exit 0', async () => {
    const topic = uniq('otlp')
    await kafka.createTopic(topic, 1)
    const n = 20
    await produce(kafka.bootstrap, topic, Array.from({ length: n }, (_, i) => ({ value: JSON.stringify({ seq: i }), headers: { traceparent: parentContext().traceparent } })))
    const nowhere = await freePort()
    const svc = startService({
      KAFKA_BROKERS: kafka.bootstrap.join(','),
      KAFKA_TOPICS: topic,
      KAFKA_GROUP_ID: `g-${topic}`,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nowhere}`,
    })
    try {
      assert.ok(await eventually(() => svc.consumed().length >= n, 60_000), `consumed ${svc.consumed().length}/${n}\n${svc.tail()}`)
      const on = svc.logs.find((l) => l.msg === 'tracing on')
      assert.equal(on?.exporter, 'otlp')
      assert.equal(on?.url, `http://127.0.0.1:${nowhere}/v1/traces`)
      assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), n)
    } finally {
      const exit = await svc.stop('SIGTERM')
      assert.equal(exit.code, 0, svc.tail())
    }
    assert.deepEqual(svc.logs.filter((l) => l.level >= 50), [], 'no error or fatal line')
  })
})
