/** kafkajs helpers for tests and scripts: produce, committed and end offsets, polling, percentiles. */
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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The p-th percentile (0..1) of a list of numbers (nearest rank); NaN for none. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN
}

/** Whether `groupId` has committed every partition of `topic` up to its end offset. */
export async function committedToEnd(brokers: string[], groupId: string, topic: string): Promise<boolean> {
  const [committed, ends] = await Promise.all([committedOffsets(brokers, groupId, topic), endOffsets(brokers, topic)])
  return [...ends].every(([p, end]) => (committed.get(p) ?? -1) >= end)
}

/** Poll `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(everyMs)
  }
}

/** One API of the Kafka protocol: what a broker accepts, what kafkajs implements and would send. */
export interface ApiCompat {
  api: string
  key: number
  /** Versions the broker accepts (undefined: the broker does not list this API). */
  brokerMin?: number
  brokerMax?: number
  /** Highest version kafkajs implements. */
  kafkajsMax: number
  /** What kafkajs sends: min(kafkajsMax, brokerMax) (kafkajs ignores the broker's minimum). */
  used?: number
  /** The broker accepts what kafkajs sends. */
  ok: boolean
}

/** ApiVersions v0 asked over a raw socket: apiKey -> [min, max] the broker accepts. */
export async function brokerApiVersions(hostPort: string): Promise<Map<number, [number, number]>> {
  const net = await import('node:net')
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))]
  const clientId = Buffer.from('amo-api-versions')
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length)
  body.writeInt16BE(18, 0) // ApiVersions
  body.writeInt16BE(0, 2) // v0
  body.writeInt32BE(1, 4) // correlation id
  body.writeInt16BE(clientId.length, 8)
  clientId.copy(body, 10)
  const size = Buffer.alloc(4)
  size.writeInt32BE(body.length)
  const res = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host, port }, () => socket.write(Buffer.concat([size, body])))
    let buf = Buffer.alloc(0)
    socket.setTimeout(5000, () => socket.destroy(new Error(`no ApiVersions answer from ${hostPort}`)))
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        socket.end()
        resolve(buf.subarray(4, 4 + buf.readInt32BE(0)))
      }
    })
    socket.on('error', reject)
  })
  const error = res.readInt16BE(4)
  if (error !== 0) throw new Error(`ApiVersions error ${error} from ${hostPort}`)
  const n = res.readInt32BE(6)
  const out = new Map<number, [number, number]>()
  for (let i = 0, o = 10; i < n; i++, o += 6) out.set(res.readInt16BE(o), [res.readInt16BE(o + 2), res.readInt16BE(o + 4)])
  return out
}

/** For every API kafkajs implements: would this broker accept the version kafkajs sends? */
export async function kafkajsCompatibility(hostPort: string): Promise<ApiCompat[]> {
  const { createRequire } = await import('node:module')
  const require = createRequire(import.meta.url)
  // kafkajs's own request table (internal module of the pinned kafkajs version).
  const { requests } = require('kafkajs/src/protocol/requests') as { requests: Record<string, { versions: string[] }> }
  const apiKeys = require('kafkajs/src/protocol/requests/apiKeys') as Record<string, number>
  const broker = await brokerApiVersions(hostPort)
  return Object.entries(requests)
    .filter(([, def]) => def.versions.length > 0)
    .map(([api, def]) => {
      const key = apiKeys[api]!
      const kafkajsMax = Math.max(...def.versions.map(Number))
      const range = broker.get(key)
      if (!range) return { api, key, kafkajsMax, ok: false }
      const used = Math.min(kafkajsMax, range[1])
      return { api, key, brokerMin: range[0], brokerMax: range[1], kafkajsMax, used, ok: used >= range[0] }
    })
}
