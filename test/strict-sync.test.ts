/**
 * Strict at-most-once (COMMIT_MODE=sync) on the mock broker: under injected OffsetCommit failures
 * (the mock alone can fail a request: this case is the mock's), and with COMMIT_WINDOW 1 and 8 (the
 * cases shared with Apache Kafka: test/support/strict-sync-cases.ts). The handler fixture asks the
 * coordinator for the group's committed offset of every message before it "processes" it, so the
 * test sees what the handler saw.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ApiKey, KafkaErr, MockCluster } from '../harness/brokers/mock-cluster.ts'
import { committedOffsets, endOffsets, eventually, produce, sequence } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'
import { checked } from './support/checked-handler.ts'
import { strictSyncCases } from './support/strict-sync-cases.ts'


describe('strict sync mode', () => {
  let cluster: MockCluster
  let n = 0
  before(() => {
    cluster = MockCluster.start({ brokers: 1, topics: { faults: 2 } })
  })
  after(() => cluster.close())

  it('failed commits: no message reaches the handler before its commit is acknowledged; none twice', async () => {
    const N = 40
    await produce(cluster.brokers, 'faults', sequence(N, 2))
    // Timeouts (retried, then given up) and a rebalance error (not retriable), in a row.
    cluster.pushRequestErrors(ApiKey.OffsetCommit, [
      KafkaErr.REQUEST_TIMED_OUT, KafkaErr.REQUEST_TIMED_OUT, KafkaErr.REQUEST_TIMED_OUT,
      KafkaErr.REBALANCE_IN_PROGRESS, KafkaErr.NOT_COORDINATOR,
    ])
    const svc = startService({
      KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'faults', KAFKA_GROUP_ID: 'g-faults',
      HANDLER: 'test/fixtures/core-check-committed.mjs', LOG_LEVEL: 'debug',
    })
    try {
      assert.ok(await eventually(() => checked(svc).length >= N, 60_000), `processed ${checked(svc).length}/${N}\n${svc.tail()}`)
      assert.ok((await svc.metric('consumer_commit_errors_total')) >= 3, 'the injected failures were seen')
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
    const lines = checked(svc)
    assert.equal(lines.length, N)
    for (const l of lines) assert.ok(l.committed > Number(l.offset), `offset ${l.offset} handled with committed=${l.committed}`)
    assert.equal(new Set(lines.map((l) => `${l.partition}:${l.offset}`)).size, N, 'no offset processed twice')
    assert.ok(svc.logs.some((l) => /commit failed; the messages it covered are not processed/.test(l.msg)))
    assert.deepEqual(await committedOffsets(cluster.brokers, 'g-faults', 'faults'), await endOffsets(cluster.brokers, 'faults'))
  })

  // COMMIT_WINDOW 1 and 8: the cases shared with Apache Kafka (test/support/strict-sync-cases.ts).
  strictSyncCases({ kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions) }, (prefix) => `${prefix}-${n++}`)
})
