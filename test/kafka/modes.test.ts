/**
 * Apache Kafka (one KRaft node): each commit mode end to end, and SIGTERM with a message in the
 * handler. N produced, N processed once, committed_total == processed_total == N, the group's
 * committed offsets == the end offsets.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { committedOffsets, endOffsets, eventually } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'
import { consumedKeys, consumedSeqs, produceExactly, range, startKafka, uniq } from './support.ts'

const N = 300
const PARTITIONS = 3

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: commit modes`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())

  for (const [mode, window] of [['sync', 1], ['sync', 25], ['async', 1], ['auto', 1]] as const) {
    it(`${mode}${mode === 'sync' ? ` COMMIT_WINDOW=${window}` : ''}: ${N} produced, ${N} processed once, all committed`, async () => {
      const topic = uniq(`modes-${mode}-${window}`)
      const group = `g-${topic}`
      await kafka.createTopic(topic, PARTITIONS)
      await produceExactly(kafka, topic, N, PARTITIONS)
      const svc = startService({
        KAFKA_BROKERS: kafka.bootstrap.join(','),
        KAFKA_TOPICS: topic,
        KAFKA_GROUP_ID: group,
        COMMIT_MODE: mode,
        COMMIT_WINDOW: String(window),
        AUTO_COMMIT_INTERVAL_MS: '500',
      })
      try {
        assert.ok(await eventually(() => svc.consumed().length >= N, 60_000), `consumed ${svc.consumed().length}/${N}\n${svc.tail()}`)
        assert.ok(await eventually(async () => (await svc.metric('consumer_messages_committed_total')) >= N, 15_000), svc.tail())
        assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), N)
        assert.equal(await svc.metric('consumer_messages_processed_total'), N, 'nothing failed')
        assert.equal(await svc.metric('consumer_messages_committed_total'), N)
        assert.equal(await svc.metric('consumer_messages_at_risk'), 0)
        if (mode === 'auto') assert.ok(svc.logs.some((l) => l.level === 40 && /at-least-once in practice/.test(l.msg)), 'auto warns at start')
      } finally {
        const exit = await svc.stop('SIGTERM')
        assert.equal(exit.code, 0, svc.tail())
      }
      assert.equal(new Set(consumedKeys(svc)).size, N, 'no offset processed twice')
      assert.equal(svc.consumed().length, N)
      assert.deepEqual(consumedSeqs(svc), range(N))
      assert.deepEqual(await committedOffsets(kafka.bootstrap, group, topic), await endOffsets(kafka.bootstrap, topic))
      assert.ok(svc.logs.some((l) => /^final commit/.test(l.msg)), 'the final commit is logged')
    })
  }

  it('SIGTERM with a message in the handler: readyz 503 at once, the message finishes, final commit in the group offsets, exit 0', async () => {
    const topic = uniq('sigterm')
    const group = `g-${topic}`
    await kafka.createTopic(topic, 1)
    await produceExactly(kafka, topic, 5, 1)
    const svc = startService({
      KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group,
      HANDLER: 'test/fixtures/core-slow.mjs', SLOW_MS: '1500', SHUTDOWN_TIMEOUT_MS: '8000',
    })
    await svc.waitReady(60_000)
    assert.ok(await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 1, 20_000), `a message is in the handler\n${svc.tail()}`)
    svc.signal('SIGTERM')
    await svc.waitForLog((l) => l.msg === 'shutdown began', 5000, 'shutdown began')
    assert.equal((await svc.get('/readyz')).status, 503, 'readiness off as soon as shutdown begins')
    assert.equal((await svc.get('/healthz')).status, 200, 'still alive while draining')
    const exit = await svc.exited
    assert.equal(exit.code, 0, svc.tail())
    const consumed = svc.consumed()
    assert.ok(consumed.length >= 1, 'the message in flight was finished')
    assert.ok(svc.logs.some((l) => /^final commit/.test(l.msg)))
    assert.ok(svc.logs.some((l) => l.msg === 'left the consumer group'))
    // What the group holds on the broker: exactly the next offset after the last processed one.
    const last = Math.max(...consumed.map((c) => Number(c.offset)))
    assert.equal((await committedOffsets(kafka.bootstrap, group, topic)).get(0), last + 1)
    assert.equal(new Set(consumedKeys(svc)).size, consumed.length, 'none twice')
  })
})
