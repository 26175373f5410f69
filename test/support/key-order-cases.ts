/**
 * ORDERING=key end to end, defined once and run against every broker (the mock in the fast tier,
 * Apache Kafka in the integration tier): per-key order, concurrency of different keys, the
 * MAX_IN_FLIGHT cap, the at-most-once rule asked of the coordinator, and SIGTERM with calls in
 * flight. The handler is test/fixtures/key-order.mjs.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import type { Message } from 'kafkajs'
import { committedOffsets, endOffsets, eventually, produce } from '../../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../../harness/service-process.ts'

export interface KeyOrderBroker {
  bootstrap: () => string[]
  createTopic: (topic: string, partitions: number) => Promise<void>
  /** Extra `node` arguments for the service (the mock's multi-member preload). */
  serviceArgs?: string[]
}

export interface KeyCall {
  partition: number
  offset: string
  key: string
  kseq: number
  seq: number
  sameKey: number
  inOrder: boolean
  inFlight: number
  committed?: number
  ok?: boolean
}

export const keyCalls = (...svcs: ServiceProcess[]) => svcs.flatMap((s) => s.consumed() as unknown as KeyCall[])

/** n messages over `keys` keys; each key lives in one partition, its kseq counts from 0. */
export function keyedMessages(n: number, keys: number, partitions: number): Message[] {
  const kseq = new Array<number>(keys).fill(0)
  return Array.from({ length: n }, (_, seq) => {
    const k = (seq * 7 + (seq >> 3)) % keys
    return { key: `key-${k}`, partition: k % partitions, value: JSON.stringify({ key: `key-${k}`, kseq: kseq[k]!++, seq }) }
  })
}

/**
 * Every check the key-order cases make of what the handler saw: fails on any record handed over
 * twice, any reordering within a key, any call of a key while another ran, any call before its
 * commit was acknowledged (`checkCommitted`: the handler asked the coordinator, CHECK_COMMITTED=1,
 * and every call must carry the answer), and on a record never handed over (`records`: the topic's
 * record count). Records are (partition, offset): a producer retry that wrote an id twice makes two
 * records.
 */
export function assertKeyOrder(calls: KeyCall[], records: number, checkCommitted: boolean): void {
  const seen = new Set<string>()
  for (const c of calls) {
    const record = `${c.partition}@${c.offset}`
    assert.ok(!seen.has(record), `${record} (${c.key}#${c.kseq}) handed over twice`)
    seen.add(record)
    assert.equal(c.sameKey, 0, `${record} (${c.key}#${c.kseq}) started while another call of its key was running`)
    assert.ok(c.inOrder, `${record} (${c.key}#${c.kseq}) out of order: a later offset of its key was handed over first`)
    if (checkCommitted) {
      assert.equal(typeof c.ok, 'boolean', `${record}: the handler did not report the committed offset it was handed over at`)
      assert.ok(c.ok, `${record} ran with the committed offset at ${c.committed}`)
    }
  }
  assert.equal(seen.size, records, `processed ${seen.size}/${records} records`)
}

/** Records in `topic` (the sum of its end offsets; topics here start at offset 0). */
async function recordsIn(brokers: string[], topic: string): Promise<number> {
  return [...(await endOffsets(brokers, topic)).values()].reduce((a, b) => a + b, 0)
}

export function keyOrderCases(broker: KeyOrderBroker, name: (prefix: string) => string): void {
  const start = (topic: string, env: Record<string, string>) =>
    startService(
      {
        KAFKA_BROKERS: broker.bootstrap().join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`,
        HANDLER: 'test/fixtures/key-order.mjs', ORDERING: 'key', ...env,
      },
      { args: broker.serviceArgs ?? [] },
    )

  it('ORDERING=key: same key in order and one at a time, different keys at once, each after its commit was acknowledged, none twice', async () => {
    const topic = name('keys')
    const N = 600
    await broker.createTopic(topic, 3)
    await produce(broker.bootstrap(), topic, keyedMessages(N, 40, 3))
    const records = await recordsIn(broker.bootstrap(), topic) // N, or more after a producer retry
    const svc = start(topic, { COMMIT_WINDOW: '20', MAX_IN_FLIGHT: '30', KEY_HANDLER_MS: '15', CHECK_COMMITTED: '1' })
    try {
      assert.ok(await eventually(() => keyCalls(svc).length >= records, 90_000), `consumed ${keyCalls(svc).length}/${records}\n${svc.tail()}`)
      assert.ok(await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 0, 10_000), svc.tail())
      assert.equal(await svc.metric('consumer_messages_committed_total'), records)
      assert.equal(await svc.metric('consumer_messages_processed_total', { status: 'ok' }), records)
      assert.equal(await svc.metric('consumer_handler_calls_in_flight'), 0)
    } finally {
      assert.equal((await svc.stop('SIGTERM')).code, 0, svc.tail())
    }
    const calls = keyCalls(svc)
    assertKeyOrder(calls, records, true)
    const peak = Math.max(...calls.map((c) => c.inFlight))
    assert.ok(peak > 3, `different keys ran at once (peak ${peak} calls in flight; ORDERING=partition would give ≤ 3)`)
    assert.ok(peak <= 30, `MAX_IN_FLIGHT=30 held (peak ${peak})`)
    assert.deepEqual(await committedOffsets(broker.bootstrap(), `g-${topic}`, topic), await endOffsets(broker.bootstrap(), topic))
  })

  it('MAX_IN_FLIGHT caps handler calls across partitions (unordered, a window far above the cap)', async () => {
    const topic = name('cap')
    const N = 400
    await broker.createTopic(topic, 4)
    await produce(broker.bootstrap(), topic, keyedMessages(N, 400, 4))
    const records = await recordsIn(broker.bootstrap(), topic)
    const svc = start(topic, { ORDERING: 'unordered', COMMIT_WINDOW: '100', MAX_IN_FLIGHT: '7', KEY_HANDLER_MS: '10' })
    try {
      assert.ok(await eventually(() => keyCalls(svc).length >= records, 90_000), `consumed ${keyCalls(svc).length}/${records}\n${svc.tail()}`)
    } finally {
      assert.equal((await svc.stop('SIGTERM')).code, 0, svc.tail())
    }
    const calls = keyCalls(svc)
    assert.equal(new Set(calls.map((c) => `${c.partition}@${c.offset}`)).size, records, 'each record once')
    assert.equal(calls.length, records, 'none twice')
    const peak = Math.max(...calls.map((c) => c.inFlight))
    assert.ok(peak <= 7, `in flight ${peak} > MAX_IN_FLIGHT=7`)
    assert.ok(peak >= 5, `the cap was reached (peak ${peak})`)
  })

  it('SIGTERM with calls in flight: they finish, the final commit holds exactly the processed position, exit 0', async () => {
    const topic = name('keys-sigterm')
    const N = 300
    await broker.createTopic(topic, 2)
    await produce(broker.bootstrap(), topic, keyedMessages(N, 30, 2))
    const svc = start(topic, { COMMIT_WINDOW: '10', KEY_HANDLER_MS: '400', SHUTDOWN_TIMEOUT_MS: '8000' })
    await svc.waitReady(60_000)
    assert.ok(await eventually(async () => (await svc.metric('consumer_handler_calls_in_flight')) >= 4, 20_000), `calls in flight\n${svc.tail()}`)
    svc.signal('SIGTERM')
    const exit = await svc.exited
    assert.equal(exit.code, 0, svc.tail())
    const calls = keyCalls(svc)
    assert.ok(calls.length >= 4 && calls.length < N, `${calls.length} processed before the exit`)
    assert.ok(!svc.logs.some((l) => l.lost === true), 'nothing lost: every call in flight finished')
    assert.ok(svc.logs.some((l) => l.msg === 'left the consumer group'))
    const seen = new Set<string>()
    for (const c of calls) {
      assert.ok(!seen.has(`${c.partition}@${c.offset}`), 'none twice')
      seen.add(`${c.partition}@${c.offset}`)
      assert.equal(c.sameKey, 0)
      assert.ok(c.inOrder)
    }
    // Each partition's committed offset is exactly one past its last processed message: nothing
    // committed was left unprocessed, nothing processed is uncommitted.
    const committed = await committedOffsets(broker.bootstrap(), `g-${topic}`, topic)
    for (const p of [0, 1]) {
      const mine = calls.filter((c) => c.partition === p).map((c) => Number(c.offset))
      const expected = mine.length ? Math.max(...mine) + 1 : -1
      assert.equal(committed.get(p) ?? -1, expected, `partition ${p}`)
      assert.equal(mine.length, expected === -1 ? 0 : expected, `partition ${p}: a processed prefix`)
    }
  })
}
