/**
 * The dead-letter copy survives the loss of a broker node (issue 21 part 8), on a three-node
 * Apache Kafka: the service as a real process, a handler that always fails, DEAD_LETTER_TOPIC
 * with three partitions and replication factor 3, a backlog of 15,000 messages consumed at full
 * speed; once 1,000 copies are sent, the node leading the dead-letter topic's partition 0 is
 * SIGKILLed for 4 s and started again. Asserted: no copy dropped or failed, the copies counted
 * `sent` are the failed messages, each in the topic's log exactly once (read back, compared by
 * x-amo-source-partition/offset), and a handful of warn lines, not one per copy. Printed: the
 * figures, how long copies took to reach the topic, the log lines.
 * Also, in process: a dead-letter topic that does not exist (Apache Kafka creates no topic a
 * client asks for, the mock does): copies dropped after DEAD_LETTER_MAX_WAIT_MS, a warn line
 * naming the error.
 */
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { Kafka, type KafkaMessage } from 'kafkajs'
import { Registry } from 'prom-client'
import type { ApacheKafka } from '../../harness/brokers/apache-kafka/index.ts'
import { describePartitions, nodeById } from '../../harness/chaos/faults.ts'
import { committedToEnd, eventually, percentile, produce, sleep } from '../../harness/kafka-tools.ts'
import { readTopic } from '../../harness/read-topic.ts'
import { startService, sumMetric } from '../../harness/service-process.ts'
import { DeadLetterProducer } from '../../src/consumer/dead-letter/producer.ts'
import { createMetrics } from '../../src/metrics.ts'
import { memoryLog } from '../support/memory-log.ts'
import { startKafka, uniq } from './support.ts'

const ALWAYS_FAIL = fileURLToPath(new URL('../fixtures/always-fail.mjs', import.meta.url))
const PARTITIONS = 6
const BACKLOG = 15_000
/** The node is killed once this many copies were sent (the service is in full swing). */
const KILL_AFTER_COPIES = 1000
const KILL_MS = 4000

describe(`Apache Kafka ${process.env.KAFKA_VERSION ?? '(default)'}: the dead-letter copy survives a broker node's loss`, () => {
  let kafka: ApacheKafka
  before(async () => {
    kafka = await startKafka({ nodes: 3 })
  })
  after(() => kafka?.stop())

  it(`every message failing, ${BACKLOG} consumed at full speed, the dead-letter leader's node SIGKILLed for ${KILL_MS / 1000} s: no copy dropped, each in the topic once`, async (t) => {
    const source = uniq('dlq-source')
    const dlq = uniq('dlq')
    await kafka.createTopic(source, PARTITIONS)
    await kafka.createTopic(dlq, 3, 3)
    const victim = nodeById(kafka, (await describePartitions(kafka, [dlq])).find((p) => p.partition === 0)!.leader)
    // A group coordinated elsewhere: the subject is the dead-letter topic, not a commit in doubt.
    let group = ''
    for (let i = 0; !group || (await kafka.coordinatorOf(group)) === victim.id; i++) group = `g-${source}-${i}`
    // The load: a backlog the service works through as fast as it can (on the 2-core machine,
    // shared with the three brokers, faster than a producer of 1,500 msg/s with acks=all can
    // write while a node is down: the backlog keeps copies coming whatever the machine's load).
    await produce(
      kafka.bootstrap,
      source,
      Array.from({ length: BACKLOG }, (_, i) => ({ partition: i % PARTITIONS, key: `k${i % 97}`, value: JSON.stringify({ seq: i }) })),
    )

    const svc = startService({
      KAFKA_BROKERS: kafka.bootstrap.join(','),
      KAFKA_TOPICS: source,
      KAFKA_GROUP_ID: group,
      HANDLER: ALWAYS_FAIL,
      DEAD_LETTER_TOPIC: dlq,
      // Lets the handler calls run ahead of a commit stalled by the node's death (each commit
      // waits for the in-sync replicas of __consumer_offsets, the dead node among them until the
      // controller removes it).
      COMMIT_WINDOW: '500',
      // Every call fails by design here: without this the circuit breaker would (rightly) pause
      // consumption after 5 failures in a row, and the dead-letter producer would see a trickle.
      BREAKER_THRESHOLD: '0',
    })
    const results = async () => {
      const body = (await svc.get('/metrics')).body
      const r = (result: string) => sumMetric(body, 'consumer_dead_letter_total', { result })
      return { sent: r('sent'), failed: r('failed'), dropped: r('dropped'), lost: sumMetric(body, 'consumer_messages_lost_total', { reason: 'handler_failed' }) }
    }
    let restarted: Promise<number> | undefined
    try {
      await svc.waitReady(90_000)
      const readyAt = Date.now()
      assert.ok(await eventually(async () => (await results()).sent >= KILL_AFTER_COPIES, 60_000, 20), `copies flowing\n${svc.tail()}`)
      const atKill = await results()
      const killedAt = Date.now()
      await victim.kill()
      await sleep(KILL_MS)
      restarted = victim.start().then(() => Date.now() - killedAt)
      // The service goes on meanwhile; the test reads the cluster once every node answers again.
      const backAfterMs = await restarted
      const settled = await eventually(
        async () => {
          if (!(await committedToEnd(kafka.bootstrap, group, source))) return false
          const r = await results()
          return r.sent + r.failed + r.dropped === r.lost
        },
        180_000,
        500,
      )
      const doneAt = Date.now()
      const r = await results()
      const exit = await svc.stop('SIGTERM', 30_000)

      const records = await readTopic(kafka.bootstrap, dlq)
      const positions = records.map((x) => `${x.headers['x-amo-source-partition']}:${x.headers['x-amo-source-offset']}`)
      const distinct = new Set(positions)
      const lostLines = svc.logs.filter((l) => l.level === 40 && l.lost === true && l.topic === source && /handler failed/.test(l.msg))
      const failedPositions = new Set(lostLines.map((l) => `${l.partition}:${l.offset}`))
      // How long each copy took from the handler's failure (its warn line) to the broker's log (the copy's timestamp).
      const failedAt = new Map(lostLines.map((l) => [`${l.partition}:${l.offset}`, l.time as number]))
      const delays = records.map((x, i) => Number(x.timestamp) - (failedAt.get(positions[i]!) ?? NaN)).filter((d) => !Number.isNaN(d))
      const kafkajsErrors = svc.logs.filter((l) => l.component === 'kafkajs' && (l.level as number) >= 40)
      const dlqLines = svc.logs.filter((l) => (l.level as number) >= 30 && /^dead-letter/.test(l.msg))
      t.diagnostic(
        `failed messages ${r.lost} (${Math.round(r.lost / ((doneAt - readyAt) / 1000))}/s from ready to drained; ${atKill.lost} failed and ${atKill.sent} copies sent when node ${victim.id} was killed); ` +
          `copies: sent ${r.sent}, failed ${r.failed}, dropped ${r.dropped}; in the topic ${records.length} (${distinct.size} distinct, ${records.length - distinct.size} twice); ` +
          `node ${victim.id} answering again ${backAfterMs} ms after the kill`,
      )
      t.diagnostic(`copy delay (handler failed -> copy written): p50 ${percentile(delays, 0.5)} ms, p99 ${percentile(delays, 0.99)} ms, max ${Math.max(...delays)} ms`)
      t.diagnostic(`kafkajs warn/error lines: ${kafkajsErrors.length} (${[...new Set(kafkajsErrors.map((l) => `${String(l.namespace)}: ${l.msg.slice(0, 70)}`))].join(' | ')})`)
      t.diagnostic(`dead-letter log lines:\n  ${dlqLines.map((l) => JSON.stringify({ ...l, service: undefined, pid: undefined, hostname: undefined })).join('\n  ') || 'none'}`)

      assert.ok(settled, `every message consumed and every copy counted within 180 s\n${svc.tail()}`)
      assert.equal(exit.code, 0, `SIGTERM exits 0\n${svc.tail()}`)
      assert.equal(r.lost, BACKLOG, 'every message failed once')
      assert.equal(r.dropped, 0, 'no copy dropped')
      assert.equal(r.failed, 0, 'no copy rejected')
      assert.equal(r.sent, r.lost, 'a copy sent for every failed message')
      assert.equal(failedPositions.size, r.lost, 'every failed message has its warn line')
      assert.deepEqual([...distinct].filter((p) => !failedPositions.has(p)), [], 'every copy in the topic is of a failed message')
      assert.deepEqual([...failedPositions].filter((p) => !distinct.has(p)), [], 'every copy counted sent is in the topic')
      assert.equal(records.length, distinct.size, 'no copy written twice (idempotent producer)')
      // The scenario happened: copies were waiting when the node died, and more came after.
      assert.ok(atKill.sent < atKill.lost && atKill.lost < BACKLOG, `copies pending at the kill (${atKill.lost} failed, ${atKill.sent} sent), failures after it`)
      assert.ok(dlqLines.filter((l) => l.level === 40).length <= 6, 'warn lines per episode, not per copy')
    } finally {
      await svc.stop('SIGKILL')
      await restarted?.catch(() => undefined)
      if (victim.pid === undefined) await victim.start()
    }
  })

  it('a dead-letter topic that does not exist: the copies are dropped after DEAD_LETTER_MAX_WAIT_MS, one warn line naming the error', async () => {
    const registry = new Registry()
    const metrics = createMetrics(registry, { defaultMetrics: false })
    const { log, lines } = memoryLog()
    const dlq = new DeadLetterProducer(new Kafka(kafka.clientConfig()), uniq('no-such-topic'), metrics, log, { maxWaitMs: 500 })
    await dlq.connect()
    for (let i = 0; i < 3; i++) {
      const message = { offset: String(i), key: null, value: Buffer.from('{}'), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage
      dlq.send({ topic: 'weather', partition: 0, message }, 'handler_failed', new Error('boom'))
    }
    const count = async (result: string) => sumMetric(await registry.metrics(), 'consumer_dead_letter_total', { result })
    assert.ok(await eventually(async () => (await count('dropped')) === 3, 30_000), `dropped ${await count('dropped')}`)
    assert.equal(await count('sent'), 0)
    const warns = lines.filter((l) => l.level === 40 && /^dead-letter/.test(String(l.msg)))
    assert.equal(warns.filter((l) => /unreachable/.test(String(l.msg))).length, 1, JSON.stringify(warns))
    assert.match(String(warns.find((l) => /unreachable/.test(String(l.msg)))!.error), /does not host this topic-partition|UNKNOWN_TOPIC/i)
    assert.equal(warns.filter((l) => /dropped/.test(String(l.msg))).length, 1)
    await dlq.disconnect()
  })
})
