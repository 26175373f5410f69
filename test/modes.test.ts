/**
 * Each commit mode against a real Kafka-protocol broker: N produced, N processed once,
 * committed_total == processed_total == N, and the group's committed offsets == end offsets.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { committedOffsets, endOffsets, eventually, produce, sequence } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'

const N = 300
const PARTITIONS = 3

describe('commit modes', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1 })
  })
  after(() => cluster.close())

  for (const mode of ['sync', 'async', 'auto'] as const) {
    for (const window of mode === 'sync' ? [1, 25] : [1]) {
      it(`${mode}${mode === 'sync' ? ` COMMIT_WINDOW=${window}` : ''}: all ${N} processed once, all committed`, async () => {
        const topic = `modes-${mode}-${window}`
        const group = `g-${topic}`
        cluster.createTopic(topic, PARTITIONS)
        await produce(cluster.brokers, topic, sequence(N, PARTITIONS))
        const svc = startService({
          KAFKA_BROKERS: cluster.bootstrapServers,
          KAFKA_TOPICS: topic,
          KAFKA_GROUP_ID: group,
          COMMIT_MODE: mode,
          COMMIT_WINDOW: String(window),
          AUTO_COMMIT_INTERVAL_MS: '500',
          PARTITION_CONCURRENCY: '3',
        })
        try {
          assert.ok(await eventually(() => svc.consumed().length >= N, 40_000), `consumed ${svc.consumed().length}/${N}\n${svc.tail()}`)
          // auto commits on its interval; sync/async have committed by now.
          assert.ok(await eventually(async () => (await svc.metric('consumer_messages_committed_total')) >= N, 10_000))
          assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), N)
          assert.equal(await svc.metric('consumer_messages_committed_total'), N)
          assert.equal(await svc.metric('consumer_messages_at_risk'), 0)
          if (mode === 'auto') assert.ok(svc.logs.some((l) => l.level === 40 && /at-least-once in practice/.test(l.msg)), 'auto warns at start')
        } finally {
          const exit = await svc.stop('SIGTERM')
          assert.equal(exit.code, 0, svc.tail())
        }
        const seen = svc.consumed().map((c) => `${c.partition}:${c.offset}`)
        assert.equal(new Set(seen).size, N, 'no offset processed twice')
        assert.deepEqual(
          [...svc.consumed().map((c) => (c.value as { seq: number }).seq)].sort((a, b) => a - b),
          Array.from({ length: N }, (_, i) => i),
        )
        assert.deepEqual(await committedOffsets(cluster.brokers, group, topic), await endOffsets(cluster.brokers, topic))
        assert.ok(svc.logs.some((l) => /^final commit/.test(l.msg)), 'the final commit is logged')
      })
    }
  }
})
