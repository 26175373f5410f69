/**
 * Apache Kafka (one KRaft node, topic auto-creation off): a topic that does not exist yet (the
 * case shared with the mock: test/support/edges-cases.ts), and the broker stopped and started
 * again while the service consumes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { committedOffsets, endOffsets, eventually, sleep } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'
import { missingTopicCase } from '../support/edges-cases.ts'
import { consumedKeys, consumedSeqs, produceExactly, range, startKafka, uniq } from './support.ts'

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: edges`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 1 })
  })
  after(() => kafka?.stop())

  // A topic that does not exist: the case shared with the mock (test/support/edges-cases.ts).
  missingTopicCase({ kind: 'kafka', bootstrap: () => kafka.bootstrap, createTopic: (topic, partitions) => kafka.createTopic(topic, partitions) }, uniq)

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
