/**
 * Each commit mode end to end, and SIGTERM with a message in the handler, defined once and run
 * against every broker (the mock in the fast tier: modes.test.ts, lifecycle.test.ts; Apache
 * Kafka in the integration tier: kafka/modes.test.ts). N produced, N processed once,
 * committed_total == processed_total == N, the group's committed offsets == the end offsets.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { committedOffsets, endOffsets, eventually } from '../../harness/kafka-tools.ts'
import { startService } from '../../harness/service-process.ts'
import { consumedKeys, consumedSeqs, produceExactly, range, type CaseBroker } from './case-broker.ts'

const N = 300
const PARTITIONS = 3

export function modeCases(broker: CaseBroker, name: (prefix: string) => string): void {
  for (const [mode, window] of [['sync', 1], ['sync', 25], ['async', 1], ['auto', 1]] as const) {
    it(`${mode}${mode === 'sync' ? ` COMMIT_WINDOW=${window}` : ''}: ${N} produced, ${N} processed once, all committed`, async () => {
      const topic = name(`modes-${mode}-${window}`)
      const group = `g-${topic}`
      await broker.createTopic(topic, PARTITIONS)
      await produceExactly(broker.bootstrap(), topic, N, PARTITIONS)
      const svc = startService(
        {
          KAFKA_BROKERS: broker.bootstrap().join(','),
          KAFKA_TOPICS: topic,
          KAFKA_GROUP_ID: group,
          COMMIT_MODE: mode,
          COMMIT_WINDOW: String(window),
          AUTO_COMMIT_INTERVAL_MS: '500',
          PARTITION_CONCURRENCY: String(PARTITIONS),
        },
        { args: broker.serviceArgs ?? [] },
      )
      try {
        assert.ok(await eventually(() => svc.consumed().length >= N, 60_000), `consumed ${svc.consumed().length}/${N}\n${svc.tail()}`)
        // auto commits on its interval; sync/async have committed by now.
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
      assert.deepEqual(await committedOffsets(broker.bootstrap(), group, topic), await endOffsets(broker.bootstrap(), topic))
      assert.ok(svc.logs.some((l) => /^final commit/.test(l.msg)), 'the final commit is logged')
    })
  }
}

export function sigtermCase(broker: CaseBroker, name: (prefix: string) => string): void {
  it('SIGTERM with a message in the handler: readyz 503 at once, the message finishes, final commit in the group offsets, exit 0', async () => {
    const topic = name('sigterm')
    const group = `g-${topic}`
    await broker.createTopic(topic, 1)
    await produceExactly(broker.bootstrap(), topic, 5, 1)
    const svc = startService(
      {
        KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group,
        HANDLER: 'test/fixtures/core-slow.mjs', SLOW_MS: '1500', SHUTDOWN_TIMEOUT_MS: '8000',
      },
      { args: broker.serviceArgs ?? [] },
    )
    await svc.waitReady(60_000)
    assert.ok(await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 1, 20_000), `a message is in the handler\n${svc.tail()}`)
    const t0 = Date.now()
    svc.signal('SIGTERM')
    await svc.waitForLog((l) => l.msg === 'shutdown began', 5000, 'shutdown began')
    assert.equal((await svc.get('/readyz')).status, 503, 'readiness off as soon as shutdown begins')
    assert.equal((await svc.get('/healthz')).status, 200, 'still alive while draining')
    const exit = await svc.exited
    assert.equal(exit.code, 0, svc.tail())
    assert.ok(Date.now() - t0 < 8000, 'within SHUTDOWN_TIMEOUT_MS')
    const consumed = svc.consumed()
    // The mock's copy of this case asked for exactly one, Apache Kafka's for at least one: both kept.
    if (broker.kind === 'mock') assert.equal(consumed.length, 1, 'the message in flight was finished, no new one started')
    else assert.ok(consumed.length >= 1, 'the message in flight was finished')
    assert.ok(svc.logs.some((l) => /^final commit/.test(l.msg)), 'final commit logged')
    assert.ok(svc.logs.some((l) => l.msg === 'left the consumer group'), 'left the group')
    assert.equal(svc.logs.at(-1)!.msg, 'shutdown complete: exit 0', 'the last line names the exit code')
    // What the group holds on the broker: exactly the next offset after the last processed one.
    const last = Math.max(...consumed.map((c) => Number(c.offset)))
    assert.equal((await committedOffsets(broker.bootstrap(), group, topic)).get(0), last + 1)
    assert.equal(new Set(consumedKeys(svc)).size, consumed.length, 'none twice')
  })
}
