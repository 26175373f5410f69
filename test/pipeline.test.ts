/**
 * The pipelined commit gate (COMMIT_MODE=sync) against a real Kafka-protocol broker with added
 * round-trip time: consumeBatchSync runs inside a kafkajs eachBatch on a batch built by the
 * consumer's own factory (createBatch), with a real PartitionCommitter, and a recording transport
 * wraps the real OffsetCommit (the consumer's CommitBatcher). Every
 * commit sent, every acknowledgement and every handler start/end is recorded, then checked:
 *
 *   (a) no message reaches the handler before a commit of an offset beyond it was acknowledged;
 *   (b) committed-but-unprocessed ("at risk") never exceeds COMMIT_WINDOW per partition, both
 *       computed from the events and read from the at-risk gauge;
 *   (c) acknowledgements arrive in order: the committed offset never decreases;
 *
 * for COMMIT_WINDOW 1, 10 and 100, with a slow handler (so the next window's commit is sent
 * early, while the current one is processed) and with a fast one. No timing assertions.
 *
 * All six cases share one consumer group (one join: the mock broker delays the first JoinGroup
 * by ~3 s), one topic per case.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Kafka, logLevel, type EachBatchPayload } from 'kafkajs'
import pino from 'pino'
import { Registry } from 'prom-client'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { produce } from '../harness/kafka-tools.ts'
import { createMetrics } from '../src/metrics.ts'
import { ALWAYS_CLOSED } from '../src/consumer/breaker.ts'
import { createBatch } from '../src/consumer/batch.ts'
import { CommitBatcher } from '../src/consumer/commit-batcher.ts'
import { InFlightLimiter } from '../src/consumer/in-flight.ts'
import { Partitions } from '../src/consumer/partitions.ts'
import { consumeBatchSync } from '../src/consumer/sync-batch.ts'
import { COMMIT_MODE_BEHAVIOUR } from '../src/consumer/commit-modes.ts'
import { CallWatch } from '../src/message/call-watch.ts'
import { createDecoder } from '../src/message/decode.ts'
import { MessageRunner } from '../src/message/process.ts'

const RTT_MS = 5
const PARTITIONS = 2
const PER_PARTITION = 300

interface Case {
  topic: string
  window: number
  slow: boolean
}
const CASES: Case[] = [1, 10, 100].flatMap((window) => [
  { topic: `pipeline-w${window}-slow`, window, slow: true },
  { topic: `pipeline-w${window}-fast`, window, slow: false },
])

type Event =
  | { kind: 'sent'; target: number; t: number }
  | { kind: 'ack'; target: number; t: number }
  | { kind: 'fail'; target: number; t: number }
  | { kind: 'start'; offset: number; gauge: number; t: number }
  | { kind: 'end'; offset: number; t: number }

describe('pipelined at-most-once commits against the mock broker (+5 ms RTT)', () => {
  let cluster: MockCluster
  const events = new Map<string, Event[]>()
  const drops: string[] = []
  let seq = 0

  before(async () => {
    cluster = MockCluster.start({ brokers: 1, topics: Object.fromEntries(CASES.map((c) => [c.topic, PARTITIONS])) })
    for (const c of CASES) {
      await produce(
        cluster.brokers,
        c.topic,
        Array.from({ length: PER_PARTITION * PARTITIONS }, (_, i) => ({ partition: i % PARTITIONS, value: JSON.stringify({ i }) })),
        // one record batch (one fetch) per partition holding three windows of 100, so the
        // next window's commit can be sent early within it
        PER_PARTITION * PARTITIONS,
      )
    }
    cluster.setRtt(RTT_MS)

    const registry = new Registry()
    const metrics = createMetrics(registry, { defaultMetrics: false })
    const log = pino({ level: 'silent' })
    const kafka = new Kafka({ clientId: 'pipeline-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: 'pipeline-test', maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
    // The real transport, recording every commit sent and its outcome per partition.
    const batcher = new CommitBatcher()
    const partitions = new Partitions({
      metrics,
      log,
      mode: COMMIT_MODE_BEHAVIOUR.sync,
      transport: {
        send: async (topic, partition, offset) => {
          const ev = events.get(`${topic}|${partition}`)!
          ev.push({ kind: 'sent', target: offset, t: seq++ })
          try {
            await batcher.send(topic, partition, offset)
          } catch (err) {
            ev.push({ kind: 'fail', target: offset, t: seq++ })
            throw err
          }
          ev.push({ kind: 'ack', target: offset, t: seq++ })
        },
      },
    })
    const limiter = new InFlightLimiter(100)
    const deadline = new AbortController().signal
    const processed = new Map<string, number>()
    const total = CASES.length * PARTITIONS * PER_PARTITION
    let done = 0
    let finish!: () => void
    const allDone = new Promise<void>((r) => (finish = r))

    const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
      const { topic, partition } = payload.batch
      const c = CASES.find((x) => x.topic === topic)!
      const key = `${topic}|${partition}`
      const st = partitions.get(topic, partition)
      const ev = events.get(key) ?? []
      events.set(key, ev)
      const readGauge = async (): Promise<number> => {
        const m = await metrics.atRisk.get()
        return m.values.find((v) => v.labels.topic === topic && v.labels.partition === String(partition))?.value ?? 0
      }
      batcher.use(payload.commitOffsetsIfNecessary)
      const handler = async (message: { offset: string }) => {
        const offset = Number(message.offset)
        ev.push({ kind: 'start', offset, gauge: await readGauge(), t: seq++ })
        if (c.slow) await new Promise((r) => setTimeout(r, 2))
        ev.push({ kind: 'end', offset, t: seq++ })
        processed.set(key, (processed.get(key) ?? 0) + 1)
        if (++done === total) finish()
      }
      const runner = new MessageRunner(topic, partition, { decode: createDecoder('json'), handler, handlerTimeoutMs: 0, deadline, watch: new CallWatch(0, deadline), log, metrics: st.metrics })
      const b = createBatch(payload, st, {
        window: c.window,
        ordering: 'partition',
        limiter,
        deadline,
        breaker: ALWAYS_CLOSED,
        stopping: () => false,
        dropped: (_p, m) => void drops.push(`${key}@${m.offset}`),
        log,
      })
      await consumeBatchSync(b, runner)
    }

    await consumer.connect()
    await consumer.subscribe({ topics: CASES.map((c) => c.topic), fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: CASES.length * PARTITIONS,
      eachBatch,
    })
    const timeout = setTimeout(() => finish(), 90_000)
    await allDone
    clearTimeout(timeout)
    await consumer.disconnect()
    assert.equal(done, total, `processed ${done} of ${total}: ${JSON.stringify([...processed])}`)
  })

  after(() => cluster?.close())

  for (const c of CASES) {
    it(`COMMIT_WINDOW=${c.window}, ${c.slow ? 'slow' : 'fast'} handler: gate, at-risk bound, in-order acks`, () => {
      let earlySends = 0
      for (let p = 0; p < PARTITIONS; p++) {
        const ev = events.get(`${c.topic}|${p}`)
        assert.ok(ev && ev.length > 0, `no events for partition ${p}`)
        let acked = -1
        let inHandler: number | undefined
        let nextToProcess = 0 // offsets below were processed
        const seen = new Set<number>()
        for (const e of ev) {
          switch (e.kind) {
            case 'sent':
              if (inHandler !== undefined || nextToProcess < acked) earlySends++
              // (b) the target is at most COMMIT_WINDOW past the message being processed
              assert.ok(e.target - nextToProcess <= c.window, `p${p}: commit of ${e.target} sent with ${nextToProcess} next to process (window ${c.window})`)
              break
            case 'ack':
              // (c) in order: never backwards
              assert.ok(e.target > acked, `p${p}: ack of ${e.target} after ${acked}`)
              acked = e.target
              // (b) at risk = acknowledged target - next unprocessed offset
              assert.ok(acked - nextToProcess <= c.window, `p${p}: ${acked - nextToProcess} at risk > window ${c.window}`)
              break
            case 'fail':
              break
            case 'start':
              // (a) the handler sees a message only after a commit beyond it was acknowledged
              assert.ok(acked > e.offset, `p${p}: handler started on ${e.offset} with acknowledged commit ${acked}`)
              assert.equal(inHandler, undefined, `p${p}: two handlers at once`)
              assert.ok(!seen.has(e.offset), `p${p}: offset ${e.offset} handed over twice`)
              assert.ok(e.gauge <= c.window, `p${p}: at-risk gauge ${e.gauge} > window ${c.window}`)
              assert.ok(acked - e.offset <= c.window, `p${p}: ${acked - e.offset} at risk > window ${c.window}`)
              seen.add(e.offset)
              inHandler = e.offset
              nextToProcess = e.offset
              break
            case 'end':
              inHandler = undefined
              nextToProcess = e.offset + 1
              break
          }
        }
        assert.equal(seen.size, PER_PARTITION, `p${p}: every message processed once`)
      }
      // With a slow handler and a window above 1, the next commit really is sent early.
      if (c.slow && c.window >= 10) assert.ok(earlySends > 0, 'pipelining never triggered')
      assert.deepEqual(drops, [])
    })
  }
})
