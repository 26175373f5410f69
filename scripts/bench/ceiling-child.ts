/**
 * The like-for-like ceiling, run as a child process like the service:
 *   node --import tsx scripts/bench/ceiling-child.ts '<json options>'
 *
 * Plain kafkajs (eachBatch, partitionsConsumedConcurrently = the service's default: every
 * partition), the same consumer options as the service (maxWaitTimeInMs 500, no topic
 * auto-creation), decoding each value the way the service does with VALUE_FORMAT=json
 * (JSON.parse of the UTF-8 text), and NO commit at all. With `commitEach` it is the reference
 * for COMMIT_WINDOW=1 instead: one awaited OffsetCommit per message, before the message.
 *
 * Events on stdout, one JSON object a line: joined, done (count, first/last message time).
 */
import { Kafka, logLevel, type EachBatchPayload } from 'kafkajs'

export interface CeilingOptions {
  brokers: string[]
  topic: string
  groupId: string
  expected: number
  concurrency: number
  budgetMs: number
  commitEach: boolean
  json: boolean
  diagnose?: boolean
}

/** Set by scripts/bench/counters.mjs when the child runs under --diagnose. */
const counters = (globalThis as { __amoBenchCounters?: { onMessage(topic: string, partition: number, t: number, ms: number): void } }).__amoBenchCounters

async function main(o: CeilingOptions): Promise<void> {
  const out = (e: object) => process.stdout.write(`${JSON.stringify(e)}\n`)
  const t0 = performance.now()
  const kafka = new Kafka({ clientId: 'bench-ceiling', brokers: o.brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: o.groupId, maxWaitTimeInMs: 500, allowAutoTopicCreation: false })
  let count = 0
  let first = 0
  let last = 0
  let done = false
  let sink: unknown
  const finish = () => {
    if (done) return
    done = true
    out({ event: 'done', count, firstMs: performance.timeOrigin + first, lastMs: performance.timeOrigin + last, sink: typeof sink })
  }
  consumer.on(consumer.events.GROUP_JOIN, (e) => out({ event: 'joined', atMs: performance.now() - t0, joinMs: e.payload.duration }))
  await consumer.connect()
  await consumer.subscribe({ topics: [o.topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: o.concurrency,
    eachBatch: async ({ batch, commitOffsetsIfNecessary }: EachBatchPayload) => {
      for (const m of batch.messages) {
        if (done) return
        if (o.commitEach) {
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(m.offset) + 1) }] }] })
        }
        const t = performance.now()
        if (count === 0) first = t
        last = t
        sink = o.json && m.value ? JSON.parse(m.value.toString('utf8')) : m.value
        count++
        counters?.onMessage(batch.topic, batch.partition, t, 0)
        if (o.commitEach && last - first > o.budgetMs) finish()
      }
      if (count >= o.expected || (first > 0 && last - first > o.budgetMs)) finish()
    },
  })
  process.once('SIGTERM', () => {
    finish()
    consumer.disconnect().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}

main(JSON.parse(process.argv[2]!) as CeilingOptions).catch((err: unknown) => {
  process.stderr.write(`ceiling child failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
