/**
 * The service as a real process: readiness around the group join, SIGTERM with a final
 * commit and exit 0, a hanging handler past SHUTDOWN_TIMEOUT_MS (exit 1, at-risk offsets
 * logged), a second signal, and the HTTP surface.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { committedOffsets, eventually, produce, sequence, sleep } from '../harness/kafka-tools.ts'
import { startService } from '../harness/service-process.ts'
import { sigtermCase } from './support/modes-cases.ts'

describe('process lifecycle', () => {
  let cluster: MockCluster
  before(() => {
    cluster = MockCluster.start({ brokers: 1, topics: { hang: 1, twice: 1, http: 2 } })
  })
  after(() => cluster.close())

  it('readyz is 503 before the group join and 200 after; healthz 200; unknown routes 404; metrics served', async () => {
    const svc = startService({ KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'http', KAFKA_GROUP_ID: 'g-http' })
    try {
      await svc.waitForLog((l) => /^Server listening/.test(l.msg), 10_000, 'listening')
      const early = await svc.get('/readyz')
      assert.equal(early.status, 503, 'not ready before the join')
      assert.equal((await svc.get('/healthz')).status, 200, 'alive while joining')
      await svc.waitReady()
      assert.ok(svc.logs.some((l) => l.msg === 'joined the consumer group'), 'joined')
      assert.equal((await svc.get('/healthz')).status, 200)
      assert.equal((await svc.get('/nope')).status, 404)
      const metrics = await svc.get('/metrics')
      assert.equal(metrics.status, 200)
      for (const name of [
        'consumer_messages_committed_total', 'consumer_messages_processed_total', 'consumer_commit_duration_seconds',
        'consumer_commit_errors_total', 'consumer_messages_at_risk', 'consumer_messages_skipped_total', 'consumer_messages_lost_total',
        'consumer_lag', 'consumer_rebalances_total', 'consumer_ready', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
      ]) {
        assert.match(metrics.body, new RegExp(`# TYPE ${name} `), name)
      }
      assert.equal(await svc.metric('consumer_ready'), 1)
    } finally {
      assert.equal((await svc.stop()).code, 0)
    }
  })

  // SIGTERM with a message in the handler: the case shared with Apache Kafka (test/support/modes-cases.ts).
  sigtermCase({ kind: 'mock', bootstrap: () => cluster.brokers, createTopic: async (topic, partitions) => cluster.createTopic(topic, partitions) }, (prefix) => `${prefix}-life`)

  it('a hanging handler: exit 1 after SHUTDOWN_TIMEOUT_MS with every committed-but-unprocessed offset logged', async () => {
    await produce(cluster.brokers, 'hang', sequence(5, 1))
    const svc = startService({
      KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'hang', KAFKA_GROUP_ID: 'g-hang',
      HANDLER: 'test/fixtures/core-hang.mjs', COMMIT_WINDOW: '5', SHUTDOWN_TIMEOUT_MS: '1500', HANDLER_TIMEOUT_MS: '0',
    })
    await svc.waitReady()
    assert.ok(await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 5, 10_000), 'window of 5 committed')
    const exit = await svc.stop('SIGTERM')
    assert.equal(exit.code, 1, svc.tail())
    assert.ok(exit.ms >= 1400 && exit.ms < 6000, `exited after ${exit.ms} ms`)
    const lost = svc.logs.filter((l) => l.level === 40 && l.lost === true).map((l) => l.offset).sort()
    assert.deepEqual(lost, ['0', '1', '2', '3', '4'], svc.tail())
    assert.equal(svc.logs.at(-1)!.msg, 'shutdown finished, not clean: exit 1', 'the last line names the exit code')
    assert.ok(!svc.logs.some((l) => /exit 0/.test(l.msg)), 'no line claims exit 0')
    assert.equal((await committedOffsets(cluster.brokers, 'g-hang', 'hang')).get(0), 5)
  })

  it('a second signal forces exit 1', async () => {
    await produce(cluster.brokers, 'twice', sequence(1, 1))
    const svc = startService({
      KAFKA_BROKERS: cluster.bootstrapServers, KAFKA_TOPICS: 'twice', KAFKA_GROUP_ID: 'g-twice',
      HANDLER: 'test/fixtures/core-hang.mjs', SHUTDOWN_TIMEOUT_MS: '20000', HANDLER_TIMEOUT_MS: '0',
    })
    await svc.waitReady()
    assert.ok(await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 1, 10_000), 'a message at risk')
    svc.signal('SIGTERM')
    await svc.waitForLog((l) => l.msg === 'shutdown began', 5000, 'shutdown began')
    await sleep(200)
    const exit = await svc.stop('SIGTERM')
    assert.equal(exit.code, 1)
    assert.ok(exit.ms < 5000, `second signal exit took ${exit.ms} ms`)
    assert.equal(svc.logs.at(-1)!.msg, 'second signal: exit 1 now', 'the last line names the exit code')
  })
})
