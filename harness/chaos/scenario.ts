/**
 * One chaos run: a fresh topic and consumer group, instance A ready, the producer streaming,
 * then the fault timeline of the broker (timeline-kafka.ts or timeline-mock.ts), then the
 * producer stopped, a final drain by the instance that was never faulted, every instance
 * stopped, and the tally (tally.ts).
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { committedToEnd, endOffsets, eventually, sleep } from '../kafka-tools.ts'
import type { ChaosBroker } from './cluster.ts'
import { Fleet, type Kill } from './fleet.ts'
import { keyOrder, type KeyOrder } from './key-order.ts'
import { Stream } from './stream.ts'
import { tally, type Tally } from './tally.ts'
import type { ChaosOptions, Mode, RunContext } from './run-context.ts'
import { kafkaTimeline, KAFKA_TIMELINE_MS } from './timeline-kafka.ts'
import { mockTimeline, MOCK_TIMELINE_MS } from './timeline-mock.ts'

const SLOW_HANDLER = fileURLToPath(new URL('./slow-handler.mjs', import.meta.url))

export interface ChaosResult extends Tally {
  /** Producer partitions whose sends stalled more than 2 s (count, longest in ms). */
  producerStalls: { count: number; longestMs: number }
  broker: string
  mode: Mode
  window: number
  ordering: 'partition' | 'key'
  /** ORDERING=key runs: per-key order and exclusivity over every instance's calls. */
  keyOrder?: KeyOrder
  handlerMs: number
  partitions: number
  kills: Kill[]
  coordinatorFaults: number
  instances: number
  joins: number
  drained: boolean
  faults: string[]
  durationMs: number
  verdict: 'PASS' | 'FAIL' | 'report'
}

export async function runChaos(broker: ChaosBroker, opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((s: string) => console.log(s))
  const partitions = opts.partitions ?? 6
  const handlerMs = opts.handlerMs ?? 0
  const t0 = Date.now()
  const ordering = opts.ordering ?? 'partition'
  const tag = `${opts.mode}-${opts.window}${ordering === 'key' ? '-key' : ''}-${process.pid}-${Date.now()}`
  const topic = `chaos-${tag}`
  const group = `chaos-${tag}`
  const cluster = await broker.forRun(topic, partitions)
  const env: Record<string, string> = {
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_TOPICS: topic,
    KAFKA_GROUP_ID: group,
    COMMIT_MODE: opts.mode,
    COMMIT_WINDOW: String(opts.window),
    ORDERING: ordering,
    AUTO_COMMIT_INTERVAL_MS: '5000',
    // 6 s is Apache Kafka's group.min.session.timeout.ms: a killed instance is noticed quickly.
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '500',
    SHUTDOWN_TIMEOUT_MS: '8000',
    HANDLER: handlerMs > 0 ? SLOW_HANDLER : 'log',
    CHAOS_HANDLER_MS: String(handlerMs),
    LOG_LEVEL: 'info',
  }
  const faults: string[] = []
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`
  const note = (s: string) => {
    faults.push(s)
    log(`  [${opts.mode} w=${opts.window} ${since()}] ${s}`)
  }
  const fleet = new Fleet(env, topic, cluster.serviceArgs, note)
  const base = cluster.kind === 'kafka' ? KAFKA_TIMELINE_MS : MOCK_TIMELINE_MS
  let stream: Stream | undefined
  let drained = false
  let coordinatorFaults = 0
  let ends = new Map<number, number>()
  fleet.supervise()
  try {
    const a = fleet.spawn('A')
    await a.proc.waitReady(60_000)
    stream = new Stream(cluster.brokers, topic, opts.rate, partitions)
    await stream.start()
    const streamStart = Date.now()
    const until = (ms: number) => sleep(Math.max(0, streamStart + Math.round((ms * opts.durationMs) / base) - Date.now()))
    const ctx: RunContext = { opts, cluster, fleet, topic, group, note, until, coordinatorFault: () => void coordinatorFaults++ }

    if (cluster.kind === 'kafka') await kafkaTimeline(ctx)
    else await mockTimeline(ctx)

    await until(base)
    await stream.stop()
    note(`producer stopped: ${stream.acked.size} acknowledged of ${stream.attempted.size} (${stream.failedSends} failed sends)`)

    // Final drain: the remaining instance reaches the end of every partition (committed = end);
    // its SIGTERM then processes whatever its last window covered.
    drained = await eventually(() => committedToEnd(cluster.brokers, group, topic), 90_000, 500).catch(() => false)
    note(drained ? 'drained: committed offsets reached the end offsets' : 'NOT drained within 90 s')
    ends = await endOffsets(cluster.brokers, topic).catch(() => new Map<number, number>())
  } finally {
    await fleet.close()
    if (opts.logDir) {
      const dir = join(opts.logDir, tag)
      fleet.dumpLogs(dir)
      log(`  instance logs: ${dir}`)
    }
    await stream?.stop().catch(() => undefined)
    await broker.release(cluster, topic).catch((err: unknown) => log(`  cluster not healed after the run: ${(err as Error).message}`))
  }

  const t = tally({
    acked: stream.acked,
    consumed: fleet.all.flatMap((i) => i.proc.consumed()),
    kills: fleet.kills,
    coordinatorFaults,
    partitions,
    window: opts.window,
    partitionOf: (id) => id % partitions,
    failedCommits: fleet.failedCommits(),
    ends,
    processedAt: fleet.processedAt(),
    ledger: fleet.ledger(),
  })
  const order = ordering === 'key' ? keyOrder(fleet.all.flatMap((i) => i.proc.consumed())) : undefined
  const orderOk = !order || (order.outOfOrder === 0 && order.overlaps === 0 && order.unchecked === 0 && order.keys > 0)
  // sync on Apache Kafka also asserts the loss ledger: what the surviving instances counted is what
  // the log shows they lost (the mock never writes a commit it fails, so there is nothing to count).
  const ledgerAsserted = opts.mode === 'sync' && cluster.kind === 'kafka'
  const verdict =
    opts.mode === 'sync' ? (t.duplicates === 0 && t.lost <= t.bound && t.produced > 0 && drained && orderOk && (!ledgerAsserted || t.ledgerOk) ? 'PASS' : 'FAIL') : 'report'
  return {
    broker: broker.description,
    mode: opts.mode,
    window: opts.window,
    ordering,
    ...(order ? { keyOrder: order } : {}),
    handlerMs,
    partitions,
    ...t,
    producerStalls: stream.stalls(),
    kills: fleet.kills,
    coordinatorFaults,
    instances: fleet.all.length,
    joins: fleet.joins(),
    drained,
    faults,
    durationMs: Date.now() - t0,
    verdict,
  }
}
