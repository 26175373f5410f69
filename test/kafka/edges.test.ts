/**
 * Apache Kafka (one KRaft node, topic auto-creation off): a topic that does not exist yet, and
 * the broker stopped and started again while the service consumes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { committedOffsets, endOffsets, eventually, sleep } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'
import { consumedKeys, consumedSeqs, produceExactly, range, startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: edges`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())

  it('a topic that does not exist: alive, not ready, one warn line per attempt naming it; ready and consuming once it is created', async () => {
    const topic = uniq('missing')
    const svc = startService({ KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}` })
    try {
      const naming = () => svc.logs.filter((l) => l.level === 40 && JSON.stringify(l).includes(topic))
      assert.ok(await eventually(() => naming().length >= 2, 30_000), `two warn lines naming ${topic}\n${svc.tail()}`)
      assert.equal((await svc.get('/healthz')).status, 200, 'alive')
      assert.equal((await svc.get('/readyz')).status, 503, 'not ready')
      assert.equal(await svc.metric('consumer_ready'), 0)
      // One line per attempt: the retries are spaced (back-off), not a flood, and nothing at error level.
      const warns = naming()
      const dump = warns.map((l) => JSON.stringify(l)).join('\n')
      for (const l of warns) {
        assert.equal(l.code, 'AMO_TOPIC_MISSING', `every warn line naming the topic is a missing-topic attempt:\n${dump}`)
        assert.ok(l.msg.includes(topic), `the message itself names the topic:\n${dump}`)
      }
      // attempt 1, 2, 3, ...: exactly one line per attempt, each announcing a real delay.
      assert.deepEqual(warns.map((l) => l.attempt), range(warns.length, 1), dump)
      for (const l of warns) assert.ok(Number(l.retryInMs) > 0, dump)
      assert.deepEqual(svc.logs.filter((l) => l.level >= 50), [], 'nothing logged at error level for a missing topic')
      assert.equal(await kafka.createTopic(topic, 2), undefined)
      await produceExactly(kafka, topic, 20, 2)
      await svc.waitReady(60_000)
      assert.ok(await eventually(() => svc.consumed().length >= 20, 30_000), `consumed ${svc.consumed().length}/20\n${svc.tail()}`)
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
    assert.deepEqual(consumedSeqs(svc), range(20))
  })

  it('the broker stopped and started again while consuming (sync): nothing processed twice, consumption resumes, everything processed', async () => {
    const N = 600
    const topic = uniq('restart')
    const group = `g-${topic}`
    await kafka.createTopic(topic, 3)
    await produceExactly(kafka, topic, N, 3)
    const svc = startService({
      KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group,
      HANDLER: 'test/fixtures/core-slow.mjs', SLOW_MS: '15',
    })
    try {
      assert.ok(await eventually(() => svc.consumed().length >= 100, 60_000), `consumption started\n${svc.tail()}`)
      const node = kafka.nodes[0]!
      await node.stop()
      const atStop = svc.consumed().length
      assert.ok(atStop < N, 'the broker went down while messages were left')
      await sleep(3000)
      assert.equal((await svc.get('/healthz')).status, 200, 'alive without its broker')
      const during = svc.consumed().length
      await node.start()
      assert.ok(await eventually(() => svc.consumed().length >= N, 120_000), `consumed ${svc.consumed().length}/${N} after the restart\n${svc.tail()}`)
      assert.ok(during < N, 'consumption resumed after the restart')
      await svc.waitReady(30_000)
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
    assert.equal(new Set(consumedKeys(svc)).size, svc.consumed().length, 'no offset processed twice')
    assert.deepEqual(consumedSeqs(svc), range(N), 'every message processed exactly once')
    assert.deepEqual(await committedOffsets(kafka.bootstrap, group, topic), await endOffsets(kafka.bootstrap, topic))
  })
})
