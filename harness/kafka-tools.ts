/** kafkajs helpers for tests: produce, read a group's committed offsets and a topic's end offsets. */
import { Kafka, logLevel, Partitioners, type Message } from 'kafkajs'

export function client(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'amo-test-client', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } })
}

/** Produce `messages` to `topic` (explicit partitions when given), in batches. */
export async function produce(brokers: string[], topic: string, messages: Message[], batchSize = 500): Promise<void> {
  const producer = client(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  await producer.connect()
  try {
    for (let i = 0; i < messages.length; i += batchSize) {
      await producer.send({ topic, messages: messages.slice(i, i + batchSize) })
    }
  } finally {
    await producer.disconnect()
  }
}

/** n JSON messages {seq} spread over `partitions` partitions round-robin. */
export function sequence(n: number, partitions: number, start = 0): Message[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `k${(start + i) % partitions}`,
    partition: (start + i) % partitions,
    value: JSON.stringify({ seq: start + i }),
  }))
}

/** partition -> committed offset of `groupId` on `topic` (-1 when none). */
export async function committedOffsets(brokers: string[], groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  } finally {
    await admin.disconnect()
  }
}

/** partition -> end offset (high watermark) of `topic`. */
export async function endOffsets(brokers: string[], topic: string): Promise<Map<number, number>> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return new Map(offsets.map((p) => [p.partition, Number(p.high)]))
  } finally {
    await admin.disconnect()
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Poll `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(everyMs)
  }
}
