/**
 * Apache Kafka (three KRaft nodes, internal topics replicated 3 times): several service
 * instances in one consumer group, scaled 1 -> 3 -> 1 while messages keep coming. Production
 * code carries no accommodation for a test broker; zero duplicates, everything processed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { committedOffsets, endOffsets, eventually } from '../../harness/kafka-tools.ts'
import { startService, type ServiceProcess } from '../../harness/service-process.ts'
import { consumedKeys, consumedSeqs, produceExactly, range, startKafka, uniq } from './support.ts'

const PARTITIONS = 6
const STEP = 200

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: one group, several instances`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 3 })
  })
  after(() => kafka?.stop())

  it('scale 1 -> 3 -> 1 (sync): zero duplicates, all processed, every instance got partitions, every exit 0', async () => {
    const topic = uniq('scale')
    const group = `g-${topic}`
    await kafka.createTopic(topic, PARTITIONS)
    const env = { KAFKA_BROKERS: kafka.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: group, HANDLER: 'test/fixtures/core-slow.mjs', SLOW_MS: '5' }
    const total = (...s: ServiceProcess[]) => s.reduce((n, x) => n + x.consumed().length, 0)
    const assigned = (s: ServiceProcess) => {
      const joins = s.logs.filter((l) => l.msg === 'joined the consumer group')
      const last = joins.at(-1)?.assignment as Record<string, number[]> | undefined
      return last?.[topic]?.length ?? 0
    }

    const a = startService({ ...env, KAFKA_CLIENT_ID: 'amo-a' })
    let b: ServiceProcess | undefined
    let c: ServiceProcess | undefined
    try {
      await a.waitReady(60_000)
      await produceExactly(kafka, topic, STEP, PARTITIONS, 0)
      assert.ok(await eventually(() => total(a) >= STEP, 60_000), `one instance: ${total(a)}/${STEP}\n${a.tail()}`)
      assert.equal(assigned(a), PARTITIONS, 'alone, it has every partition')

      // Scale out while messages arrive.
      b = startService({ ...env, KAFKA_CLIENT_ID: 'amo-b' })
      c = startService({ ...env, KAFKA_CLIENT_ID: 'amo-c' })
      await produceExactly(kafka, topic, STEP, PARTITIONS, STEP)
      await b.waitReady(60_000)
      await c.waitReady(60_000)
      const [sa, sb, sc] = [a, b, c]
      assert.ok(await eventually(() => assigned(sa) > 0 && assigned(sb) > 0 && assigned(sc) > 0 && assigned(sa) + assigned(sb) + assigned(sc) === PARTITIONS, 60_000),
        `three members share the ${PARTITIONS} partitions: ${assigned(sa)}+${assigned(sb)}+${assigned(sc)}\n${a.tail(5)}\n${b.tail(5)}\n${c.tail(5)}`)
      await produceExactly(kafka, topic, STEP, PARTITIONS, 2 * STEP)
      assert.ok(await eventually(() => total(sa, sb, sc) >= 3 * STEP, 90_000), `three instances: ${total(sa, sb, sc)}/${3 * STEP}`)
      assert.ok(sb.consumed().length > 0 && sc.consumed().length > 0, 'the new instances processed messages')

      // Scale in while messages arrive.
      const [eb, ec] = await Promise.all([sb.stop('SIGTERM'), sc.stop('SIGTERM'), produceExactly(kafka, topic, STEP, PARTITIONS, 3 * STEP)])
      assert.equal(eb.code, 0, sb.tail())
      assert.equal(ec.code, 0, sc.tail())
      assert.ok(await eventually(() => assigned(sa) === PARTITIONS, 60_000), `alone again, it has every partition\n${a.tail()}`)
      await produceExactly(kafka, topic, STEP, PARTITIONS, 4 * STEP)
      assert.ok(await eventually(() => total(sa, sb, sc) >= 5 * STEP, 90_000), `back to one: ${total(sa, sb, sc)}/${5 * STEP}\n${a.tail()}`)
    } finally {
      for (const s of [b, c]) if (s) await s.stop('SIGTERM')
      assert.equal((await a.stop('SIGTERM')).code, 0, a.tail())
    }
    const all = [a, b!, c!]
    const keys = consumedKeys(...all)
    assert.equal(new Set(keys).size, keys.length, `zero duplicates (${keys.length - new Set(keys).size} seen)`)
    assert.deepEqual(consumedSeqs(...all), range(5 * STEP), 'every message processed')
    assert.ok(a.logs.filter((l) => l.msg === 'joined the consumer group').length >= 3, 'the first instance rejoined on scale out and scale in')
    assert.deepEqual(await committedOffsets(kafka.bootstrap, group, topic), await endOffsets(kafka.bootstrap, topic))
  })
})
