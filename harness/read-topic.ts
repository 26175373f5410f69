/**
 * Read a whole topic back: every partition from its first offset to the end offset it has when
 * the read starts, with a plain kafkajs consumer in a group of its own. Used to check what a
 * producer under test really wrote (the dead-letter copies).
 */
import { client, endOffsets } from './kafka-tools.ts'

export interface ReadRecord {
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  /** Header values as UTF-8 text (an array header: its values joined with ","). */
  headers: Record<string, string>
  timestamp: string
}

export async function readTopic(brokers: string[], topic: string, timeoutMs = 60_000): Promise<ReadRecord[]> {
  const ends = await endOffsets(brokers, topic)
  const out: ReadRecord[] = []
  const next = new Map<number, number>()
  const done = () => [...ends].every(([p, end]) => end === 0 || (next.get(p) ?? 0) >= end)
  if (done()) return out
  const consumer = client(brokers).consumer({ groupId: `reader-${topic}-${process.pid}-${Date.now()}`, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
  let finished!: () => void
  const all = new Promise<void>((resolve) => (finished = resolve))
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const end = ends.get(partition) ?? 0
        if (Number(message.offset) >= end) return
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v)
        out.push({ partition, offset: message.offset, key: message.key, value: message.value, headers, timestamp: message.timestamp })
        next.set(partition, Number(message.offset) + 1)
        if (done()) finished()
      },
    })
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))])
    clearTimeout(timer)
    if (timedOut) {
      const got = [...ends].map(([p, end]) => `${p}: ${next.get(p) ?? 0}/${end}`).join(', ')
      throw new Error(`reading ${topic} did not reach its end offsets within ${timeoutMs} ms (${got})`)
    }
    return out
  } finally {
    await consumer.disconnect()
  }
}
