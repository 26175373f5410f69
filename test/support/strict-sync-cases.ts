/**
 * Strict at-most-once (COMMIT_MODE=sync) with COMMIT_WINDOW=W, defined once and run against every
 * broker (the mock: strict-sync.test.ts; Apache Kafka: kafka/strict-sync.test.ts). The handler
 * fixture test/fixtures/core-check-committed.mjs asks the group coordinator for the group's
 * committed offset of each message's partition before it "processes" it, so the test sees what
 * the handler saw: the commit of offset + 1 was acknowledged before the handler started.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { committedOffsets, endOffsets, eventually } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'
import { consumedKeys, produceExactly, type CaseBroker } from './case-broker.ts'
import { checked } from './checked-handler.ts'

export function strictSyncCases(broker: CaseBroker, name: (prefix: string) => string): void {
  for (const W of [1, 8]) {
    it(`COMMIT_WINDOW=${W}: every handler start follows an acknowledged commit beyond its message; at most ${W} at risk per partition`, async () => {
      const N = 200
      const topic = name(`strict-w${W}`)
      const group = `g-${topic}`
      await broker.createTopic(topic, 2)
      await produceExactly(broker.bootstrap(), topic, N, 2)
      const svc = startService(
        {
          KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group,
          HANDLER: 'test/fixtures/core-check-committed.mjs', COMMIT_WINDOW: String(W), PARTITION_CONCURRENCY: '2',
        },
        { args: broker.serviceArgs ?? [] },
      )
      let maxGauge = 0
      try {
        assert.ok(
          await eventually(async () => {
            for (const p of ['0', '1']) maxGauge = Math.max(maxGauge, await svc.metric('consumer_messages_at_risk', { partition: p }))
            return checked(svc).length >= N
          }, 90_000, 20),
          `processed ${checked(svc).length}/${N}\n${svc.tail()}`,
        )
      } finally {
        assert.equal((await svc.stop()).code, 0, svc.tail())
      }
      const lines = checked(svc)
      assert.equal(lines.length, N)
      assert.equal(new Set(consumedKeys(svc)).size, N, 'no offset processed twice')
      // committed - offset = committed messages not finished when this one started (itself
      // included; offsets are contiguous here).
      const atRisk = lines.map((l) => l.committed - Number(l.offset))
      assert.ok(Math.min(...atRisk) >= 1, `a message was handled before its commit was acknowledged: ${JSON.stringify(lines.find((l) => !l.ok))}`)
      assert.ok(Math.max(...atRisk) <= W, `at most ${W} at risk, saw ${Math.max(...atRisk)}`)
      assert.ok(maxGauge <= W, `the at-risk gauge stayed <= ${W} (max sampled ${maxGauge})`)
      if (W > 1) assert.ok(Math.max(...atRisk) > 1, 'the window was used (one commit covered several messages)')
      assert.deepEqual(await committedOffsets(broker.bootstrap(), group, topic), await endOffsets(broker.bootstrap(), topic))
    })
  }
}
