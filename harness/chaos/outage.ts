/**
 * A downstream outage: one service instance (a real process) runs an example handler
 * (examples/webhook or examples/postgres) against a real server of its kind (harness/downstream/)
 * while a producer streams at a steady rate; the server is SIGKILLed (webhook) or stopped
 * (PostgreSQL) for `outageMs`, then started again on the same port. At the end: the records the
 * downstream never received, those it received twice, what the service counted lost, and how soon
 * it resumed. Used by the outage tests of both tiers (test/support/outage-cases.ts) and by
 * `npm run chaos -- --outage`.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { HttpDownstream, PostgresServer } from '../downstream/index.ts'
import { committedOffsets, committedToEnd, endOffsets, eventually, sleep } from '../kafka-tools.ts'
import { startService, type ServiceProcess } from '../service-process.ts'
import { Stream } from './stream.ts'

const WEBHOOK = fileURLToPath(new URL('../../examples/webhook/handler.mjs', import.meta.url))
const POSTGRES = fileURLToPath(new URL('../../examples/postgres/handler.mjs', import.meta.url))
/** consumer_messages_lost_total's reasons (src/metrics.ts LOSS_REASONS). */
const LOSS_REASONS = ['handler_failed', 'handler_timeout', 'undecodable', 'shutdown', 'commit_written', 'revoked']
const SCHEMA = fileURLToPath(new URL('../../examples/postgres/schema.sql', import.meta.url))

export type DownstreamKind = 'webhook' | 'postgres'

export interface OutageOptions {
  bootstrap: string[]
  createTopic: (topic: string, partitions: number) => Promise<void>
  downstream: DownstreamKind
  /** Service variables beyond the broker, topic, group and handler (ORDERING, BREAKER_THRESHOLD, ...). */
  env?: Record<string, string>
  /** Extra `node` arguments for the service. */
  serviceArgs?: string[]
  /** Messages per second (default 200). */
  rate?: number
  partitions?: number
  /**
   * Streaming before the outage (default 5 s; then, up to 60 s more, until the service keeps up:
   * its group's lag at most one second of messages), the outage (20 s), streaming after it (10 s).
   */
  warmMs?: number
  outageMs?: number
  afterMs?: number
  log?: (line: string) => void
}

export interface OutageResult {
  downstream: DownstreamKind
  env: Record<string, string>
  /** Records in the topic. */
  produced: number
  /** The group's lag (end offsets minus committed offsets) just before the downstream went down. */
  lagAtDown: number
  /** From taking the downstream down to its answering again (outageMs plus the stop and the start). */
  downMs: number
  /** Sends the cluster acknowledged in that time (acks=all). */
  producedWhileDown: number
  /** Producer partition loops held more than 2 s by a send: a run whose producer stalled produced less than the rate. */
  producerStalls: { count: number; longestMs: number }
  /** Distinct records the downstream stored (webhook: answered 2xx; PostgreSQL: rows). */
  received: number
  /** produced - received: records the downstream never got. */
  missing: number
  /** Records the downstream was handed more than once (webhook: a second POST of a key; PostgreSQL: a second INSERT, refused with 23505). */
  duplicates: number
  /** consumer_messages_lost_total, all reasons, and by reason. */
  lost: number
  lostByReason: Record<string, number>
  inDoubt: number
  /** consumer_breaker_opened_total, and the close line's figures. */
  opened: number
  closes: Array<{ openMs: number; held: number }>
  /** `handler failed` warn lines. */
  failedLines: number
  /** From the downstream's return to the first record it stored afterwards. */
  resumeMs: number | null
  /** The service caught up after the outage (committed to the end, nothing at risk). */
  drained: boolean
  exitCode: number | null
  durationMs: number
  /** The service's log tail, for a failure message. */
  tail: string
}

interface Downstream {
  env: Record<string, string>
  handler: string
  down(): Promise<void>
  up(): Promise<void>
  /** Every delivery: the record ("partition/offset") and when it was stored. */
  stored(topic: string): Promise<Array<{ record: string; t: number }>>
  /** Records handed over more than once. */
  duplicates(topic: string, svc: ServiceProcess): Promise<number>
  destroy(): Promise<void>
}

async function webhook(): Promise<Downstream> {
  const server = await HttpDownstream.start()
  const deliveries = (topic: string) => server.deliveries().filter((d) => d.key !== null && d.key.startsWith(`${topic}/`))
  return {
    env: { WEBHOOK_URL: server.hookUrl, WEBHOOK_PROBE_URL: server.healthUrl },
    handler: WEBHOOK,
    down: () => server.kill(),
    up: () => server.start(),
    stored: async (topic) => deliveries(topic).filter((d) => d.status !== null && d.status >= 200 && d.status < 300).map((d) => ({ record: d.key!.slice(topic.length + 1), t: d.t })),
    duplicates: async (topic) => {
      const seen = new Map<string, number>()
      for (const d of deliveries(topic)) seen.set(d.key!, (seen.get(d.key!) ?? 0) + 1)
      return [...seen.values()].filter((n) => n > 1).length
    },
    destroy: () => server.destroy(),
  }
}

async function postgres(): Promise<Downstream> {
  const server = await PostgresServer.start()
  await server.query(readFileSync(SCHEMA, 'utf8'))
  return {
    env: { POSTGRES_URL: server.connectionString },
    handler: POSTGRES,
    down: () => server.stop(),
    up: () => server.start(),
    stored: async (topic) => {
      const { rows } = await server.query('SELECT kafka_partition, kafka_offset, stored_at FROM kafka_messages WHERE topic = $1', [topic])
      return (rows as Array<{ kafka_partition: number; kafka_offset: string; stored_at: Date }>).map((r) => ({ record: `${r.kafka_partition}/${r.kafka_offset}`, t: r.stored_at.getTime() }))
    },
    // The primary key refuses a second INSERT of a record (23505, logged as rejected): that is a duplicate hand-over.
    duplicates: async (_topic, svc) => svc.logs.filter((l) => l.msg?.startsWith('handler failed') && l.sqlstate === '23505').length,
    destroy: () => server.destroy(),
  }
}

/** End offsets minus the group's committed offsets, summed over the topic (committed read first, so never below 0). */
export async function groupLag(brokers: string[], groupId: string, topic: string): Promise<number> {
  const committed = await committedOffsets(brokers, groupId, topic)
  const ends = await endOffsets(brokers, topic)
  let lag = 0
  for (const [p, end] of ends) lag += end - Math.max(0, committed.get(p) ?? 0)
  return lag
}

let runs = 0

export async function runOutage(o: OutageOptions): Promise<OutageResult> {
  const log = o.log ?? (() => undefined)
  const partitions = o.partitions ?? 6
  const rate = o.rate ?? 200
  // Unique also for runs started in the same millisecond (the outage tests run their cases at once).
  const tag = `${o.downstream}-${process.pid}-${Date.now()}-${++runs}`
  const topic = `outage-${tag}`
  await o.createTopic(topic, partitions)
  const downstream = o.downstream === 'webhook' ? await webhook() : await postgres()
  const env = { ...o.env }
  const svc = startService(
    { KAFKA_BROKERS: o.bootstrap.join(','), KAFKA_TOPICS: topic, KAFKA_GROUP_ID: `g-${topic}`, HANDLER: downstream.handler, ...downstream.env, ...env },
    { args: o.serviceArgs ?? [] },
  )
  const stream = new Stream(o.bootstrap, topic, rate, partitions)
  const t0 = Date.now()
  try {
    await svc.waitReady(60_000)
    await stream.start()
    await sleep(o.warmMs ?? 5000)
    // The outage must find the service consuming at the producer's pace: the first group on a
    // fresh Apache Kafka cluster can take many seconds to start (the __consumer_offsets topic is
    // created then), and an outage that passes while the service is still behind loses little
    // even without the breaker, and tests nothing.
    const lag = () => groupLag(o.bootstrap, `g-${topic}`, topic)
    let lagAtDown = await lag()
    if (lagAtDown > rate) {
      log(`outage: waiting for the service to catch up (lag ${lagAtDown})`)
      await eventually(async () => (lagAtDown = await lag()) <= rate, 60_000, 250)
    }
    log(`outage: ${o.downstream} down (lag ${lagAtDown})`)
    const ackedAtDown = stream.acked.size
    const downAt = Date.now()
    await downstream.down()
    await sleep(o.outageMs ?? 20_000)
    const upAt = Date.now()
    await downstream.up()
    const producedWhileDown = stream.acked.size - ackedAtDown
    const downMs = Date.now() - downAt
    log(`outage: ${o.downstream} up again`)
    await sleep(o.afterMs ?? 10_000)
    await stream.stop()
    const drained =
      (await eventually(() => committedToEnd(o.bootstrap, `g-${topic}`, topic), 60_000)) &&
      (await eventually(async () => (await svc.metric('consumer_messages_at_risk')) === 0, 10_000))
    const metric = async (name: string, labels: Record<string, string> = {}) => svc.metric(name, labels)
    const [lost, inDoubt, opened] = [await metric('consumer_messages_lost_total'), await metric('consumer_messages_in_doubt_total'), await metric('consumer_breaker_opened_total')]
    const lostByReason: Record<string, number> = {}
    for (const reason of LOSS_REASONS) {
      const n = await metric('consumer_messages_lost_total', { reason })
      if (n > 0) lostByReason[reason] = n
    }
    const exit = await svc.stop('SIGTERM', 30_000)
    const produced = [...(await endOffsets(o.bootstrap, topic)).values()].reduce((a, b) => a + b, 0)
    const stored = await downstream.stored(topic)
    const received = new Set(stored.map((s) => s.record)).size
    const after = stored.filter((s) => s.t >= upAt).map((s) => s.t)
    const result: OutageResult = {
      downstream: o.downstream,
      env,
      produced,
      lagAtDown,
      downMs,
      producedWhileDown,
      producerStalls: stream.stalls(),
      received,
      missing: produced - received,
      duplicates: await downstream.duplicates(topic, svc),
      lost,
      lostByReason,
      inDoubt,
      opened,
      closes: svc.logs.filter((l) => /^circuit breaker closed/.test(l.msg)).map((l) => ({ openMs: Number(l.openMs), held: Number(l.held) })),
      failedLines: svc.logs.filter((l) => l.msg?.startsWith('handler failed')).length,
      resumeMs: after.length ? Math.min(...after) - upAt : null,
      drained,
      exitCode: exit.code,
      durationMs: Date.now() - t0,
      tail: svc.tail(40),
    }
    log(`outage: produced ${result.produced}, received ${result.received}, missing ${result.missing}, duplicates ${result.duplicates}, lost ${result.lost}, opened ${result.opened}, resumed after ${result.resumeMs} ms`)
    return result
  } finally {
    await stream.stop().catch(() => undefined)
    await svc.stop('SIGKILL').catch(() => undefined)
    await downstream.destroy().catch(() => undefined)
  }
}
