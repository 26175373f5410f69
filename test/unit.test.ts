/** Unit tests of the plain functions: no Kafka, no process. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { logLevel, type KafkaMessage } from 'kafkajs'
import { createDecoder } from '../src/message/decode.ts'
import { loadHandler, logHandler, type Handler } from '../src/message/handler.ts'
import { processMessage, type ProcessDeps } from '../src/message/process.ts'
import { createMetrics, PartitionMetrics } from '../src/metrics.ts'
import { DecodeError, ErrorCode, HandlerLoadError } from '../src/errors.ts'
import { backoffMs, connectWithRetry } from '../src/consumer/connect-loop.ts'
import { kafkajsLevel } from '../src/consumer/kafka-client.ts'
import { abandonJoin, shutdownSequence, type ShutdownParts } from '../src/consumer/shutdown.ts'
import { redactConfig, toServiceConfig } from '../src/config/load.ts'
import { sumMetric } from '../harness/service-process.ts'

function memoryLog() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      cb()
    },
  })
  return { log: pino({ level: 'debug' }, stream), lines }
}

function msg(value: Buffer | null, offset = '7'): KafkaMessage {
  return { key: Buffer.from('k'), value, offset, timestamp: '0', attributes: 0, headers: {} }
}

function deps(handler: Handler, over: Partial<ProcessDeps> = {}) {
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false })
  const { log, lines } = memoryLog()
  const d: ProcessDeps = {
    decode: createDecoder('json'),
    handler,
    handlerTimeoutMs: 0,
    deadline: new AbortController().signal,
    log,
    metrics: new PartitionMetrics(metrics, 't', 0),
    ...over,
  }
  return { d, lines, text: () => registry.metrics() }
}

describe('decode', () => {
  it('json parses, text decodes, binary passes bytes, null stays null', () => {
    assert.deepEqual(createDecoder('json')(Buffer.from('{"a":1}')), { a: 1 })
    assert.equal(createDecoder('text')(Buffer.from('héllo')), 'héllo')
    const b = Buffer.from([0xff, 0x00])
    assert.equal(createDecoder('binary')(b), b)
    for (const f of ['json', 'text', 'binary'] as const) assert.equal(createDecoder(f)(null), null)
  })
  it('malformed JSON and invalid UTF-8 throw DecodeError with a stable code', () => {
    assert.throws(() => createDecoder('json')(Buffer.from('{nope')), (e: unknown) => e instanceof DecodeError && e.code === ErrorCode.DECODE_FAILED)
    assert.throws(() => createDecoder('text')(Buffer.from([0xc3, 0x28])), /not valid UTF-8/)
  })
})

describe('processMessage', () => {
  it('counts ok and hands the decoded value to the handler', async () => {
    let seen: unknown
    const { d, text } = deps((m) => {
      seen = m.value
    })
    assert.equal(await processMessage('t', 0, msg(Buffer.from('{"x":2}')), d), 'ok')
    assert.deepEqual(seen, { x: 2 })
    assert.equal(sumMetric(await text(), 'consumer_messages_processed_total', { status: 'ok' }), 1)
  })

  it('skips and counts an undecodable value without calling the handler', async () => {
    let called = false
    const { d, lines, text } = deps(() => {
      called = true
    })
    assert.equal(await processMessage('t', 0, msg(Buffer.from('not json')), d), 'skipped')
    assert.equal(called, false)
    const t = await text()
    assert.equal(sumMetric(t, 'consumer_messages_skipped_total', { reason: 'undecodable' }), 1)
    assert.equal(sumMetric(t, 'consumer_messages_lost_total', { reason: 'undecodable' }), 1)
    const line = lines.find((l) => l.msg === 'undecodable message skipped')
    assert.ok(line, 'a warn line is logged')
    assert.equal(line.offset, '7')
    assert.equal(line.topic, 't')
  })

  it('counts a throwing handler (sync or async) as failed and never throws', async () => {
    for (const handler of [
      () => {
        throw new Error('boom')
      },
      async () => {
        throw new Error('boom')
      },
    ]) {
      const { d, lines, text } = deps(handler)
      assert.equal(await processMessage('t', 0, msg(Buffer.from('1')), d), 'failed')
      const t = await text()
      assert.equal(sumMetric(t, 'consumer_messages_processed_total', { status: 'failed' }), 1)
      assert.equal(sumMetric(t, 'consumer_messages_lost_total', { reason: 'handler_failed' }), 1)
      assert.ok(lines.some((l) => l.level === 40 && l.error === 'boom' && l.offset === '7'))
    }
  })

  it('abandons a handler past HANDLER_TIMEOUT_MS and aborts its signal', async () => {
    let aborted = false
    const { d, text } = deps(
      (_m, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true))
        }),
      { handlerTimeoutMs: 50 },
    )
    assert.equal(await processMessage('t', 0, msg(Buffer.from('1')), d), 'failed')
    assert.equal(aborted, true)
    assert.equal(sumMetric(await text(), 'consumer_messages_lost_total', { reason: 'handler_timeout' }), 1)
  })

  it('abandons a hanging handler at the shutdown deadline', async () => {
    const deadline = new AbortController()
    let aborted = false
    const { d, text } = deps(
      (_m, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true))
        }),
      { deadline: deadline.signal },
    )
    const p = processMessage('t', 0, msg(Buffer.from('1')), d)
    setTimeout(() => deadline.abort(new Error('deadline')), 30)
    assert.equal(await p, 'abandoned')
    assert.equal(aborted, true)
    assert.equal(sumMetric(await text(), 'consumer_messages_lost_total', { reason: 'shutdown' }), 1)
  })

  it('passes tombstones (null values) to the handler as null', async () => {
    let seen: unknown = 'unset'
    const { d } = deps((m) => {
      seen = m.value
    })
    assert.equal(await processMessage('t', 0, msg(null), d), 'ok')
    assert.equal(seen, null)
  })
})

describe('handlers', () => {
  it('log handler writes a "consumed" line with topic, partition, offset and value', () => {
    const { log, lines } = memoryLog()
    logHandler({ topic: 'weather', partition: 2, offset: '41', key: Buffer.from('Oslo'), value: { t: 3 }, headers: {}, timestamp: '0' }, { log, signal: new AbortController().signal })
    assert.deepEqual(
      { msg: lines[0]!.msg, topic: lines[0]!.topic, partition: lines[0]!.partition, offset: lines[0]!.offset, key: lines[0]!.key, value: lines[0]!.value },
      { msg: 'consumed', topic: 'weather', partition: 2, offset: '41', key: 'Oslo', value: { t: 3 } },
    )
  })
  it('loadHandler resolves log, noop and a module path; rejects bad paths with a HANDLER message', async () => {
    assert.equal(await loadHandler('log'), logHandler)
    assert.equal(typeof (await loadHandler('noop')), 'function')
    assert.equal(typeof (await loadHandler('test/fixtures/core-hang.mjs')), 'function')
    await assert.rejects(loadHandler('test/fixtures/missing.mjs'), (e: unknown) => e instanceof HandlerLoadError && e.code === ErrorCode.HANDLER_NOT_FOUND && /HANDLER=/.test(e.message))
    await assert.rejects(loadHandler('test/fixtures/core-not-a-function.mjs'), (e: unknown) => e instanceof HandlerLoadError && e.code === ErrorCode.HANDLER_INVALID)
  })
})

describe('config', () => {
  it('never exposes the SASL password in what is logged', () => {
    const cfg = toServiceConfig({
      KAFKA_BROKERS: 'a:1, b:2', KAFKA_TOPICS: 'x,y,x', KAFKA_GROUP_ID: 'g', KAFKA_FROM_BEGINNING: true, KAFKA_SESSION_TIMEOUT_MS: 30000,
      KAFKA_HEARTBEAT_INTERVAL_MS: 3000, KAFKA_SSL: true, KAFKA_SSL_CA_FILE: '', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 's3cret',
      COMMIT_MODE: 'sync', COMMIT_WINDOW: 1, ORDERING: 'partition', MAX_IN_FLIGHT: 100, AUTO_COMMIT_INTERVAL_MS: 5000, PARTITION_CONCURRENCY: 'all', HANDLER: 'log', HANDLER_TIMEOUT_MS: 0,
      VALUE_FORMAT: 'json', DEAD_LETTER_TOPIC: '', SHUTDOWN_TIMEOUT_MS: 10000, STALL_TIMEOUT_MS: 60000, PORT: 8080, HOST: '0.0.0.0', LOG_LEVEL: 'info',
    })
    assert.equal(cfg.partitionConcurrency, 'all')
    assert.deepEqual(cfg.ssl, {})
    assert.deepEqual(cfg.brokers, ['a:1', 'b:2'])
    assert.deepEqual(cfg.topics, ['x', 'y'])
    assert.ok(!JSON.stringify(redactConfig(cfg)).includes('s3cret'))
  })
})

describe('shutdown and start-up pieces', () => {
  const silent = () => memoryLog().log

  it('kafkajs connection-retry chatter goes to debug, retried protocol errors to warn, the rest keeps its level', () => {
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Connection timeout'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('BrokerPool', logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list: x'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Consumer', logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: x'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Consumer', logLevel.ERROR, 'Restarting the consumer in 300ms'), logLevel.DEBUG)
    assert.equal(kafkajsLevel('Connection', logLevel.ERROR, 'Response OffsetCommit(key: 8, version: 5)'), logLevel.WARN)
    assert.equal(kafkajsLevel('BrokerPool', logLevel.ERROR, 'SASL SCRAM SHA512 authentication failed'), logLevel.ERROR)
    assert.equal(kafkajsLevel('Runner', logLevel.ERROR, 'Error when calling eachBatch'), logLevel.ERROR)
    assert.equal(kafkajsLevel('Connection', logLevel.INFO, 'anything'), logLevel.INFO)
  })

  const parts = (over: Partial<ShutdownParts> = {}): ShutdownParts => ({
    timeoutMs: 200,
    log: silent(),
    deadline: new AbortController(),
    stopFetching: () => {},
    inFlight: () => [],
    finalCommit: async () => true,
    leaveGroup: async () => {},
    closeOthers: async () => {},
    abandoned: () => 0,
    ...over,
  })

  it('shutdown is clean when nothing committed was left, even if leaving the group outlives the deadline', async () => {
    const r = await shutdownSequence(parts({ leaveGroup: () => new Promise<void>(() => {}) }))
    assert.equal(r.clean, true)
    assert.equal(r.abandoned, 0)
  })

  it('shutdown is not clean when a committed message was abandoned or a batch never settled; a failed final commit leaves nothing committed unprocessed', async () => {
    const abandoned = await shutdownSequence(parts({ abandoned: () => 2 }))
    assert.equal(abandoned.clean, false)
    assert.equal((abandoned.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT)
    const stuck = await shutdownSequence(parts({ inFlight: () => [new Promise(() => {})] }))
    assert.equal(stuck.clean, false)
    assert.equal((stuck.error as { code?: string }).code, ErrorCode.SHUTDOWN_TIMEOUT)
    const commit = await shutdownSequence(parts({ finalCommit: async () => false }))
    assert.equal(commit.clean, true, 'exit 0: nothing committed was left unprocessed')
  })

  it('a pending join is given up: connections closed first, a disconnect that hangs is not waited for, clean', async () => {
    const { log, lines } = memoryLog()
    let aborts = 0
    const r = await abandonJoin({ log, state: 'joining', abortConnections: () => aborts++, disconnect: () => new Promise<void>(() => {}) })
    assert.equal(r.clean, true)
    assert.equal(aborts, 2, 'closed before the disconnect, and again after it did not finish')
    assert.ok(lines.some((l) => /giving up the join/.test(String(l.msg))), 'the log says so')
    assert.deepEqual(lines.filter((l) => /^(final commit|left the consumer group)/.test(String(l.msg))), [], 'no final commit, no leave')
  })

  it('the connect loop: one warn line per failed attempt with its back-off, continued from earlier crashes; stops when aborted', async () => {
    const { log, lines } = memoryLog()
    let calls = 0
    const ok = await connectWithRetry({
      log,
      signal: new AbortController().signal,
      backoffFrom: 1,
      cleanup: async () => {},
      attempt: async () => {
        if (++calls < 3) throw new Error(`refused ${calls}`)
      },
    })
    assert.equal(ok, true)
    const warns = lines.filter((l) => l.msg === 'cannot start the consumer; retrying')
    assert.deepEqual(warns.map((l) => l.attempt), [1, 2])
    assert.deepEqual(warns.map((l) => l.error), ['Error: refused 1', 'Error: refused 2'])
    // backoffFrom 1: the delays of attempts 2 and 3 (1 s and 2 s, jittered +-20%).
    assert.ok(Number(warns[0]!.retryInMs) >= 800 && Number(warns[0]!.retryInMs) <= 1200, String(warns[0]!.retryInMs))
    assert.ok(Number(warns[1]!.retryInMs) >= 1600 && Number(warns[1]!.retryInMs) <= 2400, String(warns[1]!.retryInMs))

    const stop = new AbortController()
    const aborted = connectWithRetry({ log, signal: stop.signal, cleanup: async () => {}, attempt: async () => { throw new Error('down') } })
    stop.abort()
    assert.equal(await aborted, false)
  })

  it('backoffMs doubles from 0.5 s to at most 30 s, jittered +-20%', () => {
    assert.equal(backoffMs(1, 0.5), 500)
    assert.equal(backoffMs(2, 0.5), 1000)
    assert.equal(backoffMs(20, 0.5), 30_000)
    assert.equal(backoffMs(1, 0), 400)
    assert.equal(backoffMs(1, 1), 600)
  })
})
