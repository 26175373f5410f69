/**
 * Bad input against a real service process and a real Kafka-protocol broker (the librdkafka mock
 * cluster): each bad message is counted under its documented metric, logged with topic, partition
 * and offset, and never stops the loop (the good message after it is processed).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { eventually, produce } from '../harness/kafka-tools.ts'
import { readTopic } from '../harness/read-topic.ts'
import { startService, type LogLine, type ServiceProcess } from '../harness/service-process.ts'

const SCRIPTED = fileURLToPath(new URL('./fixtures/scripted-handler.mjs', import.meta.url))
const NOT_A_HANDLER = fileURLToPath(new URL('./fixtures/not-a-handler.mjs', import.meta.url))

let cluster: MockCluster
before(() => {
  cluster = MockCluster.start({ brokers: 1, topics: { weather: 1, texts: 1, hang: 1, dlq: 1 } })
})
after(() => cluster?.close())

const good = (seq: number) => ({ partition: 0, value: JSON.stringify({ seq }) })
const warnAt = (svc: ServiceProcess, offset: number, topic = 'weather') =>
  svc.logs.find((l: LogLine) => l.level === 40 && l.topic === topic && l.partition === 0 && l.offset === String(offset))

test('malformed JSON, invalid UTF-8, tombstones, a 1.5 MB message, headers of every shape, a binary key and a throwing handler', { timeout: 90_000 }, async () => {
  const messages = [
    good(0), // 0
    { partition: 0, value: '{"seq": 1, "broken":' }, // 1 malformed JSON
    good(2), // 2
    { partition: 0, value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, // 3 invalid UTF-8
    good(4), // 4
    { partition: 0, key: 'station-9', value: null }, // 5 tombstone
    good(6), // 6
    { partition: 0, value: JSON.stringify({ seq: 7, pad: 'x'.repeat(1_500_000) }) }, // 7 larger than maxBytesPerPartition (512 KiB, src/consumer/fetch-sizes.ts)
    good(8), // 8
    {
      partition: 0,
      value: JSON.stringify({ seq: 9 }),
      headers: { s: 'text', b: Buffer.from([0, 1, 2, 0xff]), arr: ['a', Buffer.from('b')], utf: Buffer.from('é') },
    }, // 9 headers of every shape
    { partition: 0, key: Buffer.from([0xff, 0x00, 0x80]), value: JSON.stringify({ seq: 10 }) }, // 10 binary key
    { partition: 0, value: JSON.stringify({ act: 'throw' }) }, // 11 handler throws
    good(12), // 12
  ]
  await produce(cluster.brokers, 'weather', messages as never, 1)
  const svc = startService({
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_TOPICS: 'weather',
    KAFKA_GROUP_ID: 'bad-input',
    HANDLER: SCRIPTED,
    DEAD_LETTER_TOPIC: 'dlq',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '500',
  })
  try {
    await svc.waitForLog((l) => l.msg === 'consumed' && l.offset === '12', 60_000, 'the last good message')
    const consumed = new Map(svc.consumed().map((c) => [Number(c.offset), c as Record<string, unknown>]))
    assert.deepEqual([...consumed.keys()].sort((a, b) => a - b), [0, 2, 4, 5, 6, 7, 8, 9, 10, 12])
    // Tombstone: processed with a null value.
    assert.equal(consumed.get(5)!.value, null)
    // The 1.5 MB message arrives whole.
    assert.deepEqual(consumed.get(7)!.value, { seq: 7, pad: 1_500_000 })
    // Headers of every shape reach the handler.
    assert.deepEqual(consumed.get(9)!.headers, { s: 'text', b: `base64:${Buffer.from([0, 1, 2, 0xff]).toString('base64')}`, arr: ['a', 'b'], utf: 'é' })
    // A key that is not text is passed as bytes (rendered base64 in the log).
    assert.equal(consumed.get(10)!.key, `base64:${Buffer.from([0xff, 0x00, 0x80]).toString('base64')}`)

    // Counted under documented metrics.
    assert.equal(await svc.metric('consumer_messages_skipped_total', { reason: 'undecodable' }), 2)
    assert.equal(await svc.metric('consumer_messages_lost_total', { reason: 'undecodable' }), 2)
    assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'failed' }), 1)
    assert.equal(await svc.metric('consumer_messages_lost_total', { reason: 'handler_failed' }), 1)
    assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), 10)
    assert.equal(await svc.metric('consumer_messages_committed_total'), 13)

    // Logged at warn with topic, partition and offset, marked lost (the loss ledger).
    for (const offset of [1, 3, 11]) {
      const line = warnAt(svc, offset)
      assert.ok(line, `a warn line for offset ${offset}`)
      assert.equal(line.lost, true)
    }
    assert.match(String(warnAt(svc, 1)!.error), /JSON/)
    assert.match(String(warnAt(svc, 3)!.error), /UTF-8/)
    assert.match(String(warnAt(svc, 11)!.error), /scripted failure/)

    // Dead-letter topic: the three failed messages, with x-amo-* headers (best effort, sent async).
    assert.ok(await eventually(async () => (await svc.metric('consumer_dead_letter_total', { result: 'sent' })) === 3, 15_000))
    const dlq = await readTopic(cluster.brokers, 'dlq')
    const byOffset = new Map(dlq.map((m) => [m.headers['x-amo-source-offset'], m]))
    assert.deepEqual([...byOffset.keys()].sort(), ['1', '11', '3'])
    assert.equal(byOffset.get('1')!.headers['x-amo-reason'], 'undecodable')
    assert.equal(byOffset.get('11')!.headers['x-amo-reason'], 'handler_failed')
    assert.equal(byOffset.get('11')!.headers['x-amo-source-topic'], 'weather')
    assert.equal(byOffset.get('11')!.headers['x-amo-source-partition'], '0')
    assert.match(byOffset.get('11')!.headers['x-amo-error']!, /scripted failure/)
    assert.deepEqual(byOffset.get('3')!.value, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))

    const exit = await svc.stop('SIGTERM')
    assert.equal(exit.code, 0)
  } finally {
    await svc.stop('SIGKILL')
  }
})

test('VALUE_FORMAT=text: invalid UTF-8 is counted and skipped, the next message is processed', { timeout: 60_000 }, async () => {
  await produce(cluster.brokers, 'texts', [
    { partition: 0, value: 'plain text' },
    { partition: 0, value: Buffer.from([0xc3, 0x28]) },
    { partition: 0, value: 'after the bad one' },
  ])
  const svc = startService({ KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_TOPICS: 'texts', KAFKA_GROUP_ID: 'texts', VALUE_FORMAT: 'text' })
  try {
    await svc.waitForLog((l) => l.msg === 'consumed' && l.offset === '2', 40_000, 'the message after the bad one')
    assert.deepEqual(svc.consumed().map((c) => c.value), ['plain text', 'after the bad one'])
    assert.equal(await svc.metric('consumer_messages_skipped_total', { reason: 'undecodable', topic: 'texts' }), 1)
    assert.equal(await svc.metric('consumer_messages_lost_total', { reason: 'undecodable' }), 1)
    const warn = warnAt(svc, 1, 'texts')
    assert.ok(warn)
    assert.match(String(warn.error), /UTF-8/)
  } finally {
    await svc.stop('SIGTERM')
  }
})

test('a handler that never returns is abandoned at the shutdown deadline and counted lost{reason="shutdown"}', { timeout: 60_000 }, async () => {
  await produce(cluster.brokers, 'hang', [good(0), { partition: 0, value: JSON.stringify({ act: 'hang' }) }, good(2)])
  const svc = startService({
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_TOPICS: 'hang',
    KAFKA_GROUP_ID: 'hang',
    HANDLER: SCRIPTED,
    HANDLER_TIMEOUT_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
  })
  await svc.waitForLog((l) => l.msg === 'hanging forever', 40_000)
  const before = await svc.metric('consumer_messages_lost_total', { reason: 'shutdown' })
  assert.equal(before, 0)
  const exit = await svc.stop('SIGTERM', 20_000)
  assert.equal(exit.code, 1, 'past the deadline: exit 1')
  assert.ok(exit.ms < 2000 + 4000, `ended within SHUTDOWN_TIMEOUT_MS + margin (${exit.ms} ms)`)
  const lost = svc.logs.find((l) => l.level === 40 && l.offset === '1' && l.lost === true && /shutdown deadline/.test(l.msg))
  assert.ok(lost, `a warn line names the abandoned message\n${svc.tail()}`)
  assert.equal(lost.topic, 'hang')
  assert.equal(lost.partition, 0)
  assert.equal(svc.consumed().length, 1, 'offset 2 was never committed nor processed')
})

for (const [name, handler, pattern] of [
  ['does not exist', '/nonexistent/handler.mjs', /HANDLER=.*no such file/],
  ['exports no function', NOT_A_HANDLER, /HANDLER=.*not a function/],
] as const) {
  test(`HANDLER that ${name}: exit 1 with a message naming HANDLER, before any connection`, { timeout: 30_000 }, async () => {
    const svc = startService({ KAFKA_BROKERS: '127.0.0.1:9', HANDLER: handler })
    const exit = await svc.exited
    assert.equal(exit.code, 1)
    const fatal = svc.logs.find((l) => l.level === 60)
    assert.ok(fatal, svc.tail())
    assert.match(fatal.msg, pattern)
    assert.ok(!svc.logs.some((l) => l.component === 'kafkajs'), 'no connection attempted')
  })
}
