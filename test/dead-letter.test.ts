/**
 * The dead-letter producer (src/consumer/dead-letter/) against librdkafka's mock cluster, over
 * TCP, with kafkajs's real producer: every path of a copy. `sent` (batched: far fewer produce
 * requests than copies; each copy once in the topic with its key, value, headers and the x-amo-*
 * headers), retried through injected retriable errors and a leader moved to another broker,
 * `failed` (rejected for good; a batch rejected for one record's fault is split), `dropped` by the
 * memory bound, by the time bound and at shutdown, the shutdown flush, a new producer after a
 * sequence error, and one warn line per episode, not per copy. (The mock creates a topic that a
 * client asks for, so a missing dead-letter topic is tested on Apache Kafka.) Bounds are
 * small here (milliseconds, kilobytes); nothing asserts how long anything took.
 * The Apache Kafka proof (a node SIGKILLed under load): test/kafka/dead-letter.test.ts.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Kafka, logLevel, type KafkaMessage, type Producer } from 'kafkajs'
import { Registry } from 'prom-client'
import { ApiKey, KafkaErr, MockCluster } from '../harness/brokers/mock-cluster.ts'
import { eventually, sleep } from '../harness/kafka-tools.ts'
import { readTopic } from '../harness/read-topic.ts'
import { sumMetric } from '../harness/service-process.ts'
import { COPY_OVERHEAD_BYTES, sizeOf } from '../src/consumer/dead-letter/copy.ts'
import { classify } from '../src/consumer/dead-letter/produce-errors.ts'
import { DeadLetterProducer, type DeadLetterOptions } from '../src/consumer/dead-letter/producer.ts'
import { createMetrics, type LossReason } from '../src/metrics.ts'
import { memoryLog } from './support/memory-log.ts'

const clusters: MockCluster[] = []
after(() => clusters.forEach((c) => c.close()))

/** A mock cluster with the dead-letter topic (`dlq`, RF = brokers) and the source topic's name for the x-amo-* headers. */
function cluster(brokers = 1, partitions = 1): MockCluster {
  const c = MockCluster.start({ brokers })
  c.createTopic('dlq', partitions, brokers)
  clusters.push(c)
  return c
}

/** The producer under test on a real kafkajs client; its produce requests are counted (the real producer, observed). */
function setup(c: MockCluster, options: DeadLetterOptions = {}) {
  const kafka = new Kafka({ clientId: 'dlq-test', brokers: c.brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { initialRetryTime: 100, retries: 3 } })
  const requests = { sends: 0 }
  const observed = Object.create(kafka) as Kafka
  observed.producer = (config) => {
    const p = kafka.producer(config)
    const send = p.send.bind(p)
    return Object.assign(p, { send: (r: Parameters<Producer['send']>[0]) => (requests.sends++, send(r)) })
  }
  const registry = new Registry()
  const metrics = createMetrics(registry, { defaultMetrics: false })
  const { log, lines } = memoryLog()
  const dlq = new DeadLetterProducer(observed, 'dlq', metrics, log, options)
  const count = async (result: 'sent' | 'failed' | 'dropped') => sumMetric(await registry.metrics(), 'consumer_dead_letter_total', { result })
  const counts = async () => ({ sent: await count('sent'), failed: await count('failed'), dropped: await count('dropped') })
  const warns = (pattern: RegExp) => lines.filter((l) => l.level === 40 && pattern.test(String(l.msg)))
  /** Warn lines about copies (not the one about idempotence: the mock names no usable controller, so it never grants a producer id). */
  const trouble = () => lines.filter((l) => (l.level as number) >= 40 && !/without idempotence/.test(String(l.msg)))
  const infos = (pattern: RegExp) => lines.filter((l) => l.level === 30 && pattern.test(String(l.msg)))
  return { dlq, requests, counts, lines, warns, infos, trouble, kafka }
}

let offset = 0
/** A consumed message as kafkajs hands it over (key, value and header values are views of a larger buffer, as in a fetch response). */
function consumed(i: number, extra: { headers?: KafkaMessage['headers']; value?: Buffer | null } = {}): KafkaMessage {
  const response = Buffer.from(`xxxxk${i % 7}{"seq":${i}}yyyy`)
  const key = response.subarray(4, 4 + `k${i % 7}`.length)
  const value = extra.value !== undefined ? extra.value : response.subarray(4 + key.length, response.length - 4)
  return {
    offset: String(offset++),
    key,
    value,
    timestamp: String(Date.now()),
    attributes: 0,
    headers: extra.headers ?? { traceparent: Buffer.from('00-abc-def-01'), multi: [Buffer.from('a'), 'b'] },
  } as KafkaMessage
}

const send = (dlq: DeadLetterProducer, m: KafkaMessage, reason: LossReason = 'handler_failed', partition = 2) =>
  dlq.send({ topic: 'weather', partition, message: m }, reason, new Error(`failed at ${m.offset}`))

describe('dead-letter copies: sent', () => {
  it('in batches, each copy once in the topic with its key, value, headers and the x-amo-* headers', async () => {
    const c = cluster(1, 3)
    const { dlq, requests, counts, warns, trouble } = setup(c)
    await dlq.connect()
    // librdkafka's mock names controller 0, which is none of its brokers: kafkajs cannot ask it for a
    // producer id. The producer says so once and goes on without idempotence.
    assert.equal(warns(/without idempotence/).length, 1)
    const sources = Array.from({ length: 1000 }, (_, i) => consumed(i))
    sources.forEach((m, i) => send(dlq, m, i % 2 ? 'handler_failed' : 'undecodable'))
    send(dlq, consumed(1000, { value: null }), 'handler_timeout') // a tombstone
    assert.ok(await eventually(async () => (await counts()).sent === 1001, 20_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 1001, failed: 0, dropped: 0 })
    assert.ok(requests.sends <= 1001 / 10, `batched: ${requests.sends} produce requests for 1001 copies`)
    assert.deepEqual(dlq.pending, { copies: 0, bytes: 0 })

    const records = await readTopic(c.brokers, 'dlq')
    assert.equal(records.length, 1001, 'each copy once')
    assert.ok(new Set(records.map((r) => r.partition)).size > 1, 'keyed copies spread over the partitions')
    const bySource = new Map(records.map((r) => [r.headers['x-amo-source-offset'], r]))
    for (const [i, m] of sources.entries()) {
      const r = bySource.get(m.offset)
      assert.ok(r, `the copy of offset ${m.offset}`)
      assert.equal(r.key?.toString(), `k${i % 7}`)
      assert.equal(r.value?.toString(), `{"seq":${i}}`)
      assert.equal(r.headers['x-amo-source-topic'], 'weather')
      assert.equal(r.headers['x-amo-source-partition'], '2')
      assert.equal(r.headers['x-amo-reason'], i % 2 ? 'handler_failed' : 'undecodable')
      assert.equal(r.headers['x-amo-error'], `failed at ${m.offset}`)
      assert.equal(r.headers.traceparent, '00-abc-def-01', 'the original headers are kept')
      assert.equal(r.headers.multi, 'a,b')
    }
    // The same key always lands in the same partition (kafkajs's default partitioner: murmur2).
    const partitionsOfKey = new Map<string, Set<number>>()
    for (const r of records) (partitionsOfKey.get(String(r.key)) ?? partitionsOfKey.set(String(r.key), new Set()).get(String(r.key))!).add(r.partition)
    for (const [key, parts] of partitionsOfKey) if (key !== 'null') assert.equal(parts.size, 1, `key ${key}`)
    const tombstone = records.find((r) => r.headers['x-amo-reason'] === 'handler_timeout')
    assert.equal(tombstone?.value, null)
    assert.deepEqual(trouble(), [], 'nothing to warn about')
    await dlq.disconnect()
  })

  it('a copy keeps its bytes when the fetch response it came from is reused', async () => {
    const c = cluster()
    const { dlq, counts } = setup(c)
    await dlq.connect()
    const m = consumed(1)
    send(dlq, m)
    ;(m.value as Buffer).fill(0x21) // kafkajs is done with the response: its memory is not the copy's
    assert.ok(await eventually(async () => (await counts()).sent === 1, 10_000))
    const [r] = await readTopic(c.brokers, 'dlq')
    assert.equal(r?.value?.toString(), '{"seq":1}')
    await dlq.disconnect()
  })

  it('retriable produce errors: the same batch is sent again, nothing dropped or written twice; one warn line, then one info line', async () => {
    const c = cluster()
    const { dlq, counts, warns, infos } = setup(c)
    await dlq.connect()
    c.pushRequestErrors(ApiKey.Produce, Array(8).fill(KafkaErr.NOT_LEADER_FOR_PARTITION))
    for (let i = 0; i < 50; i++) send(dlq, consumed(i))
    assert.ok(await eventually(async () => (await counts()).sent === 50, 20_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 50, failed: 0, dropped: 0 })
    assert.equal((await readTopic(c.brokers, 'dlq')).length, 50)
    assert.equal(warns(/unreachable/).length, 1, 'one warn line for the episode')
    const back = infos(/flowing again/)
    assert.equal(back.length, 1)
    assert.equal(back[0]!.sent, 50)
    await dlq.disconnect()
  })

  it('through a leader moved to another broker, the old one then down: nothing dropped, each copy once', async () => {
    const c = cluster(3, 3)
    const { dlq, counts } = setup(c, { maxWaitMs: 60_000 })
    await dlq.connect()
    const admin = new Kafka({ clientId: 'dlq-test-admin', brokers: c.brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    const leaderOf0 = (await admin.fetchTopicMetadata({ topics: ['dlq'] })).topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader
    await admin.disconnect()
    const other = (leaderOf0 % 3) + 1
    let n = 0
    const stream = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) for (let k = 0; k < 5; k++) send(dlq, consumed(n++))
    }
    await stream(500)
    // Moved first (a request to the old leader is then refused, NOT_LEADER_FOR_PARTITION, never
    // written), then the old leader is down (refused connections): no attempt of unknown outcome,
    // so no copy can be written twice even without idempotence.
    for (const p of [0, 1, 2]) c.setPartitionLeader('dlq', p, other)
    await stream(300)
    c.brokerDown(leaderOf0)
    await stream(1000)
    c.brokerUp(leaderOf0)
    await stream(300)
    assert.ok(await eventually(async () => (await counts()).sent === n, 30_000), `${n} copies: ${JSON.stringify(await counts())}`)
    assert.deepEqual(await counts(), { sent: n, failed: 0, dropped: 0 })
    const records = await readTopic(c.brokers, 'dlq')
    const offsets = records.map((r) => r.headers['x-amo-source-offset'])
    assert.equal(new Set(offsets).size, n, 'every copy is in the topic')
    assert.equal(records.length, n, 'none twice')
    await dlq.disconnect()
  })

  it('a sequence error from the broker: the producer is replaced (a new producer id), and the copy is still sent', async () => {
    const c = cluster()
    const { dlq, counts, infos } = setup(c)
    await dlq.connect()
    c.pushRequestErrors(ApiKey.Produce, [45 /* OUT_OF_ORDER_SEQUENCE_NUMBER */])
    send(dlq, consumed(1))
    assert.ok(await eventually(async () => (await counts()).sent === 1, 10_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 1, failed: 0, dropped: 0 })
    assert.equal(infos(/producer replaced/).length, 1)
    assert.equal((await readTopic(c.brokers, 'dlq')).length, 1)
    await dlq.disconnect()
  })
})

describe('dead-letter copies: failed', () => {
  it('rejected for good (not authorised): counted failed with one warn line; the next copies are sent', async () => {
    const c = cluster()
    const { dlq, counts, warns, infos } = setup(c)
    await dlq.connect()
    c.pushRequestErrors(ApiKey.Produce, [29 /* TOPIC_AUTHORIZATION_FAILED */, 29])
    send(dlq, consumed(1))
    assert.ok(await eventually(async () => (await counts()).failed === 1, 10_000))
    send(dlq, consumed(2))
    assert.ok(await eventually(async () => (await counts()).failed === 2, 10_000))
    send(dlq, consumed(3))
    assert.ok(await eventually(async () => (await counts()).sent === 1, 10_000))
    assert.deepEqual(await counts(), { sent: 1, failed: 2, dropped: 0 })
    const rejected = warns(/rejected by the broker/)
    assert.equal(rejected.length, 1, 'one warn line for both rejections')
    assert.equal(rejected[0]!.errorType, 'TOPIC_AUTHORIZATION_FAILED')
    assert.equal(infos(/flowing again/)[0]?.failed, 2)
    await dlq.disconnect()
  })

  it('a batch rejected as too large is sent again one copy per request: only the copy at fault is failed', async () => {
    const c = cluster()
    const { dlq, counts } = setup(c)
    // Queued before the partitions are known: the ten go out in one request, which is rejected;
    // then one per request, the first of which is rejected again.
    for (let i = 0; i < 10; i++) send(dlq, consumed(i))
    c.pushRequestErrors(ApiKey.Produce, [10 /* MESSAGE_TOO_LARGE */, 10])
    await dlq.connect()
    assert.ok(await eventually(async () => (await counts()).sent === 9, 10_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 9, failed: 1, dropped: 0 })
    await dlq.disconnect()
  })
})

describe('dead-letter copies: dropped', () => {
  it('by the memory bound: copies beyond DEAD_LETTER_MAX_QUEUED_BYTES are dropped at once, one warn line; the others are sent later', async () => {
    const c = cluster()
    const copyBytes = sizeOf({ key: 'k0', value: '{"seq":0}', headers: {} }) + 200
    const { dlq, counts, warns } = setup(c, { maxQueuedBytes: 10 * copyBytes, maxWaitMs: 60_000 })
    await dlq.connect()
    c.brokerDown(1)
    for (let i = 0; i < 50; i++) send(dlq, consumed(i))
    const { dropped } = await counts()
    assert.ok(dropped >= 40 && dropped < 50, `dropped ${dropped} of 50`)
    assert.ok(dlq.pending.bytes <= 10 * copyBytes, `queued ${dlq.pending.bytes} bytes`)
    assert.equal(warns(/dropped/).length, 1)
    assert.equal(warns(/dropped/)[0]!.reason, 'queue_full')
    c.brokerUp(1)
    assert.ok(await eventually(async () => (await counts()).sent === 50 - dropped, 30_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 50 - dropped, failed: 0, dropped })
    await dlq.disconnect()
  })

  it('by the time bound: copies that waited DEAD_LETTER_MAX_WAIT_MS for an unreachable topic are dropped, never written', async () => {
    const c = cluster()
    const { dlq, counts, warns, infos } = setup(c, { maxWaitMs: 400 })
    await dlq.connect()
    c.brokerDown(1)
    for (let i = 0; i < 20; i++) send(dlq, consumed(i))
    await sleep(100)
    for (let i = 20; i < 30; i++) send(dlq, consumed(i))
    assert.ok(await eventually(async () => (await counts()).dropped === 30, 20_000), JSON.stringify(await counts()))
    assert.deepEqual(dlq.pending, { copies: 0, bytes: 0 })
    c.brokerUp(1)
    send(dlq, consumed(30))
    assert.ok(await eventually(async () => (await counts()).sent === 1, 30_000), JSON.stringify(await counts()))
    assert.deepEqual(await counts(), { sent: 1, failed: 0, dropped: 30 })
    const records = await readTopic(c.brokers, 'dlq')
    assert.deepEqual(
      records.map((r) => r.headers['x-amo-source-offset']),
      [String(offset - 1)],
      'only the copy sent after the outage is in the topic',
    )
    assert.equal(warns(/unreachable/).length, 1)
    assert.equal(warns(/dropped/).length, 1, 'one warn line for 30 drops')
    assert.equal(warns(/dropped/)[0]!.reason, 'max_wait')
    const back = infos(/flowing again/)
    assert.equal(back.length, 1)
    assert.equal(back[0]!.dropped, 30)
    await dlq.disconnect()
  })
})

describe('dead-letter copies: shutdown', () => {
  it('disconnect() flushes what is queued: every copy sent', async () => {
    const c = cluster()
    const { dlq, counts } = setup(c)
    await dlq.connect()
    for (let i = 0; i < 300; i++) send(dlq, consumed(i))
    await dlq.disconnect(10_000)
    assert.deepEqual(await counts(), { sent: 300, failed: 0, dropped: 0 })
    assert.equal((await readTopic(c.brokers, 'dlq')).length, 300)
  })

  it('what the flush budget could not send is counted dropped, with one warn line; a copy after it too', async () => {
    const c = cluster()
    const { dlq, counts, warns } = setup(c)
    await dlq.connect()
    c.brokerDown(1)
    for (let i = 0; i < 10; i++) send(dlq, consumed(i))
    await dlq.disconnect(200)
    assert.deepEqual(await counts(), { sent: 0, failed: 0, dropped: 10 })
    const line = warns(/dropped at shutdown/)
    assert.equal(line.length, 1)
    assert.equal(line[0]!.dropped, 10)
    send(dlq, consumed(10))
    assert.deepEqual(await counts(), { sent: 0, failed: 0, dropped: 11 })
    c.brokerUp(1)
  })
})

describe('dead-letter: pieces', () => {
  it('sizeOf counts key, value, header names and values, plus the per-copy overhead', () => {
    assert.equal(sizeOf({ key: 'ab', value: Buffer.alloc(10), headers: { h: 'xyz', arr: ['a', Buffer.alloc(2)] } }), COPY_OVERHEAD_BYTES + 2 + 10 + 1 + 3 + 3 + 1 + 2)
    assert.equal(sizeOf({ key: null, value: null }), COPY_OVERHEAD_BYTES)
  })

  it('classify: retriable root causes, rejections, sequence errors', () => {
    const protocol = (type: string, retriable: boolean) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable })
    const wrapped = (name: string, cause: Error) => Object.assign(new Error(`${name}: ${cause.message}`), { name, retriable: false, cause })
    assert.equal(classify(wrapped('KafkaJSNumberOfRetriesExceeded', protocol('NOT_LEADER_FOR_PARTITION', true))), 'retriable')
    assert.equal(classify(wrapped('KafkaJSNumberOfRetriesExceeded', Object.assign(new Error('ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true }))), 'retriable')
    assert.equal(classify(protocol('TOPIC_AUTHORIZATION_FAILED', false)), 'rejected')
    assert.equal(classify(wrapped('KafkaJSNonRetriableError', protocol('MESSAGE_TOO_LARGE', false))), 'rejected')
    assert.equal(classify(new TypeError('bad header')), 'rejected')
    assert.equal(classify(protocol('OUT_OF_ORDER_SEQUENCE_NUMBER', false)), 'sequence')
    assert.equal(classify(wrapped('KafkaJSNonRetriableError', protocol('UNKNOWN_PRODUCER_ID', false))), 'sequence')
    assert.equal(classify(protocol('DUPLICATE_SEQUENCE_NUMBER', false)), 'duplicate')
  })
})
