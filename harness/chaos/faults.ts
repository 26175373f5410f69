/**
 * Faults only a real cluster has, on the three-node KRaft cluster of the chaos suite: SIGKILL
 * of the group coordinator's node and its restart, a node frozen with SIGSTOP and resumed,
 * partition leadership moved by a preferred-leader election. Plus the look-ups they need:
 * leaders, in-sync replicas.
 */
import { fileURLToPath } from 'node:url'
import { Kafka } from 'kafkajs'
import { sleep } from '../kafka-tools.ts'
import type { ApacheKafka, KafkaNode } from '../brokers/apache-kafka/index.ts'

const ELECT_LEADERS = fileURLToPath(new URL('./ElectLeaders.java', import.meta.url))
export const OFFSETS_TOPIC = '__consumer_offsets'

/**
 * How long a node stays frozen: long enough that the cluster fences it and moves its
 * leaderships and coordinators while it cannot notice — the brokers' session with the active
 * controller is broker.session.timeout.ms (9 s by default), and when the frozen node is itself
 * the active KRaft controller the other voters first need about 3 s to elect a new one (a 12 s
 * freeze left every leadership in place once in four runs) — and longer than the consumers'
 * session timeout (6 s); shorter than kafkajs' request timeout (30 s), so requests parked on the
 * frozen node are answered by it, stale, after the resume: the zombie case.
 */
export const FREEZE_MS = 15_000

interface PartitionInfo {
  topic: string
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
}

async function withAdmin<T>(kafka: ApacheKafka, f: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = new Kafka({ ...kafka.clientConfig(), clientId: 'chaos-faults', retry: { retries: 3 } }).admin()
  await admin.connect()
  try {
    return await f(admin)
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

export async function describePartitions(kafka: ApacheKafka, topics: string[]): Promise<PartitionInfo[]> {
  return withAdmin(kafka, async (admin) => {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics })
    return meta.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })),
    )
  })
}

/** `topic/partition` -> leader node id (three attempts: right after a resume a read can fail). */
export async function leaders(kafka: ApacheKafka, topics: string[]): Promise<Map<string, number>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return new Map((await describePartitions(kafka, topics)).map((p) => [`${p.topic}/${p.partition}`, p.leader]))
    } catch (err) {
      if (attempt >= 3) throw err
      await sleep(1000)
    }
  }
}

/** How many partitions changed leader between two `leaders()` maps. */
export function movedLeaders(before: Map<string, number>, after: Map<string, number>): number {
  let n = 0
  for (const [k, l] of after) if (before.get(k) !== l) n++
  return n
}

/** Wait until every partition of `topics` has all its replicas in sync; false on timeout. */
export async function waitFullIsr(kafka: ApacheKafka, topics: string[], timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const parts = await describePartitions(kafka, topics).catch(() => [])
    if (parts.length > 0 && parts.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length)) return true
    if (Date.now() > deadline) return false
    await sleep(500)
  }
}

export function nodeById(kafka: ApacheKafka, id: number): KafkaNode {
  const node = kafka.nodes.find((n) => n.id === id)
  if (!node) throw new Error(`no node ${id} in the cluster (nodes ${kafka.nodes.map((n) => n.id).join(',')})`)
  return node
}

/** SIGKILL the node that coordinates `groupId` now. */
export async function killCoordinator(kafka: ApacheKafka, groupId: string): Promise<KafkaNode> {
  const node = nodeById(kafka, await kafka.coordinatorOf(groupId))
  await node.kill()
  return node
}

/** SIGSTOP `node` for `ms`, then SIGCONT. */
export async function freeze(node: KafkaNode, ms = FREEZE_MS): Promise<void> {
  node.pause()
  try {
    await sleep(ms)
  } finally {
    node.resume()
  }
}

export interface Election {
  moved: number
  notNeeded: number
  failed: number
  output: string
}

/** Preferred-leader election on every partition (Admin.electLeaders through ElectLeaders.java). */
export async function electPreferredLeaders(kafka: ApacheKafka): Promise<Election> {
  const r = await kafka.runTool(ELECT_LEADERS, [kafka.bootstrap.join(',')])
  const m = /moved=(\d+) not-needed=(\d+) failed=(\d+)/.exec(r.stdout)
  if (r.code !== 0 || !m) throw new Error(`ElectLeaders.java failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`.trim())
  return { moved: Number(m[1]), notNeeded: Number(m[2]), failed: Number(m[3]), output: r.stdout.trim() }
}

/** Every node running and resumed, every partition of `topics` fully in sync (between runs). */
export async function heal(kafka: ApacheKafka, topics: string[]): Promise<void> {
  for (const node of kafka.nodes) {
    node.resume()
    if (node.pid === undefined) await node.start()
  }
  if (!(await waitFullIsr(kafka, topics, 60_000))) throw new Error(`the cluster did not get back to full ISR on ${topics.join(', ')} within 60 s`)
}
