/**
 * Strict at-most-once (COMMIT_MODE=sync) under injected OffsetCommit failures. The handler
 * fixture asks the coordinator for the group's committed offset of every message before it
 * "processes" it, so the test sees what the handler saw.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ApiKey, KafkaErr, MockCluster } from '../harness/brokers/mock-cluster.ts'
import { committedOffsets, endOffsets, eventually, produce, sequence } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'
import { checked } from './support/checked-handler.ts'


describe('strict sync mode', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1, topics: { faults: 2, window: 2 } })
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

  it('COMMIT_WINDOW=N: never more than N committed-but-unprocessed messages per partition', async () => {
    const N = 200
    const W = 8
    await produce(cluster.brokers, 'window', sequence(N, 2))
    const svc = startService({
      KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'window', KAFKA_GROUP_ID: 'g-window',
      HANDLER: 'test/fixtures/core-check-committed.mjs', COMMIT_WINDOW: String(W), PARTITION_CONCURRENCY: '2',
    })
    let maxGauge = 0
    try {
      assert.ok(
        await eventually(async () => {
          maxGauge = Math.max(maxGauge, ...[0, 1].map(() => 0), await svc.metric('consumer_messages_at_risk', { partition: '0' }), await svc.metric('consumer_messages_at_risk', { partition: '1' }))
          return checked(svc).length >= N
        }, 60_000, 20),
        `processed ${checked(svc).length}/${N}`,
      )
    } finally {
      assert.equal((await svc.stop()).code, 0, svc.tail())
    }
    const lines = checked(svc)
    // At the moment the handler ran, the committed offset minus its own offset is the number of
    // committed messages not yet finished (offsets are contiguous here), this one included.
    const atRisk = lines.map((l) => l.committed - Number(l.offset))
    assert.ok(Math.min(...atRisk) >= 1, 'every message was committed before it was handled')
    assert.ok(Math.max(...atRisk) <= W, `at most ${W} at risk, saw ${Math.max(...atRisk)}`)
    assert.ok(maxGauge <= W, `the at-risk gauge stayed <= ${W} (max sampled ${maxGauge})`)
    assert.equal(new Set(lines.map((l) => `${l.partition}:${l.offset}`)).size, N)
  })
})
