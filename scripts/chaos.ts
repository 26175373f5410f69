/**
 * The chaos suite: real service processes (node dist/server.js), several in one consumer group,
 * while a producer streams messages with unique ids; faults hit the instances and the brokers;
 * at the end, duplicates and loss are tallied against the bound. What it does and why:
 * docs/chaos.md. The parts: harness/chaos/ (cluster, fleet, stream, faults, timelines,
 * scenario, tally: shared with the tests that run the short chaos cases) and scripts/chaos/report.ts.
 *
 *   npm run chaos                          Apache Kafka, 3 KRaft nodes (KAFKA_VERSION=<v> picks
 *                                          the version): sync w=1, sync w=20 with a slow handler
 *                                          (the loss run), the same with ORDERING=key (per-key
 *                                          order checked across the group), async, auto
 *   npm run chaos -- --broker=mock         the same runs on librdkafka's mock cluster, with
 *                                          request-level errors and RTT
 *   npm run chaos -- --short               brief runs (results printed, not written)
 *   npm run chaos -- --modes=sync:1,auto   chosen runs only (printed, not written);
 *                                          sync:20:slow = window 20 with the slow handler,
 *                                          sync:20:slow:key = the same with ORDERING=key
 *   npm run chaos -- --outage              instead of the fault runs, the downstream-outage runs
 *                                          (scripts/chaos/outage.ts): the handler's server down for
 *                                          20 s, with the circuit breaker and without it
 *                                          (BREAKER_THRESHOLD=0), webhook (both orderings) and
 *                                          PostgreSQL; either broker
 *   npm run chaos -- --outage=webhook,postgres:off   chosen outage runs (printed, not written)
 *
 * Exit code 1 when a sync run fails its assertion (a duplicate, or loss above the bound), or an
 * outage run its own (scripts/chaos/outage.ts judgeOutage).
 */
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { openBroker, type BrokerKind } from '../harness/chaos/cluster.ts'
import { details, machine, outageDetails, outageTable, table, writeSection } from './chaos/report.ts'
import { warmUp, type WarmUp } from './chaos/warm-up.ts'
import { DEFAULT_OUTAGE_RUNS, parseOutageRuns, runOutages, type OutageRunResult } from './chaos/outage.ts'
import type { ChaosOptions, Mode } from '../harness/chaos/run-context.ts'
import { runChaos, type ChaosResult } from '../harness/chaos/scenario.ts'

export type { ChaosOptions } from '../harness/chaos/run-context.ts'
export { runChaos, type ChaosResult } from '../harness/chaos/scenario.ts'
export { openBroker } from '../harness/chaos/cluster.ts'

/** Handler time per message in the loss run (the consumer keeps up at 1.5x the arrival rate per partition). */
const SLOW_HANDLER_MS = 20

type Run = Pick<ChaosOptions, 'mode' | 'window' | 'handlerMs' | 'killAtRisk' | 'ordering'>

const DEFAULT_RUNS = 'sync:1,sync:20:slow,sync:20:slow:key,async,auto'

export function parseRuns(spec: string): Run[] {
  return spec.split(',').map((s) => {
    const [mode, w, slow, ordering] = s.split(':')
    if (mode !== 'sync' && mode !== 'async' && mode !== 'auto') throw new Error(`unknown mode in --modes: ${s} (sync[:window[:slow[:key]]], async, auto)`)
    const window = Number(w ?? 1)
    if (!Number.isInteger(window) || window < 1) throw new Error(`bad window in --modes: ${s}`)
    if (ordering !== undefined && (ordering !== 'key' || mode !== 'sync')) throw new Error(`bad ordering in --modes: ${s} (only sync:<window>:slow:key)`)
    const base = slow === 'slow' ? { mode: mode as Mode, window, handlerMs: SLOW_HANDLER_MS, killAtRisk: true } : { mode: mode as Mode, window }
    return ordering === 'key' ? { ...base, ordering: 'key' as const } : base
  })
}

const load = (): number[] => loadavg().map((l) => Math.round(l * 10) / 10)

/** `--outage[=runs]`: the downstream-outage runs on the chosen broker. */
async function outageSuite(kind: BrokerKind, spec: string | undefined): Promise<void> {
  const runs = parseOutageRuns(spec ?? DEFAULT_OUTAGE_RUNS)
  const t0 = Date.now()
  const loadStart = load()
  console.log(`chaos: starting ${kind === 'kafka' ? `Apache Kafka ${process.env.KAFKA_VERSION ?? '(default version)'}, 3 nodes` : 'the mock cluster'} ...`)
  const broker = await openBroker(kind)
  let results: OutageRunResult[]
  let warm: WarmUp | undefined
  try {
    console.log(
      `chaos: ${broker.description}${broker.startMs ? ` (started in ${(broker.startMs / 1000).toFixed(1)} s)` : ''}; ` +
        `${runs.length} downstream-outage runs: 200 msg/s on 6 partitions, the downstream down for 20 s; load average ${loadStart.join(', ')}`,
    )
    if (kind === 'kafka') {
      console.log('\n== warm-up: a service at defaults consuming 200 msg/s until it keeps up (scripts/chaos/warm-up.ts)')
      warm = await warmUp(broker, (l) => console.log(l))
      console.log(`   ${warm.keptUp ? 'kept up' : 'NOT KEEPING UP'} after ${(warm.ms / 1000).toFixed(0)} s (lag ${warm.lag})`)
    }
    results = await runOutages(broker, runs, (l) => console.log(l))
  } finally {
    await broker.close()
  }
  const loadEnd = load()
  console.log(`\n${broker.description}, ${machine()}\n\n${outageTable(results)}\n\n${results.map((r) => `- ${outageDetails(r)}`).join('\n')}\n\nsuite: ${((Date.now() - t0) / 1000).toFixed(0)} s; load average ${loadStart.join(', ')} at the start, ${loadEnd.join(', ')} at the end`)
  if (!spec) {
    const version = /Apache Kafka (\S+),/.exec(broker.description)?.[1]
    writeSection({
      key: kind === 'mock' ? 'outage-mock' : `outage-kafka-${version}`,
      kind: 'outage',
      broker: broker.description,
      machine: machine(),
      date: new Date().toISOString(),
      clusterStartMs: broker.startMs,
      totalMs: Date.now() - t0,
      results: [],
      outages: results,
      load: { start: loadStart, end: loadEnd },
      ...(warm ? { warmUp: warm } : {}),
    })
    console.log('written: bench-results/chaos.md, bench-results/chaos.json')
  }
  const failed = results.filter((r) => r.verdict === 'FAIL')
  if (failed.length) {
    console.error(`\nFAIL: ${failed.map((r) => `outage ${r.name}: ${r.failures.join('; ')}`).join('; ')}`)
    process.exitCode = 1
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const kind = (arg('broker') ?? 'kafka') as BrokerKind
  if (kind !== 'kafka' && kind !== 'mock') throw new Error(`--broker=${kind}: use kafka (default) or mock`)
  if (args.includes('--outage') || arg('outage') !== undefined) {
    if (args.includes('--short') || arg('modes') !== undefined) throw new Error('--outage runs the downstream-outage runs only: --short and --modes apply to the fault runs')
    return outageSuite(kind, arg('outage'))
  }
  const short = args.includes('--short')
  const modes = arg('modes')
  const runs = parseRuns(modes ?? DEFAULT_RUNS)
  const durationMs = kind === 'kafka' ? (short ? 25_000 : 50_000) : short ? 16_000 : 40_000
  const rate = 200
  const t0 = Date.now()
  const loadStart = load()
  const logDir = join(tmpdir(), 'amo-chaos', new Date(t0).toISOString().replace(/[:.]/g, '-'))

  console.log(`chaos: starting ${kind === 'kafka' ? `Apache Kafka ${process.env.KAFKA_VERSION ?? '(default version)'}, 3 nodes` : 'the mock cluster'} ...`)
  const broker = await openBroker(kind)
  const results: ChaosResult[] = []
  try {
    console.log(
      `chaos: ${broker.description}${broker.startMs ? ` (started in ${(broker.startMs / 1000).toFixed(1)} s)` : ''}; ` +
        `${runs.length} runs, ${durationMs / 1000} s of streaming each at ${rate} msg/s, 6 partitions`,
    )
    for (const run of runs) {
      console.log(`\n== ${run.mode} window=${run.window}${run.ordering ? ` ORDERING=${run.ordering}` : ''}${run.handlerMs ? ` handler ${run.handlerMs} ms/msg, SIGKILL while at risk` : ''}`)
      const r = await runChaos(broker, { ...run, durationMs, rate, logDir, ...(short ? { kafkaFaults: { freeze: false, elect: false } } : {}) })
      console.log(`   produced=${r.produced} processed=${r.processed} duplicates=${r.duplicates} lost=${r.lost} bound=${r.bound}${r.keyOrder ? ` keys=${r.keyOrder.keys} out-of-order=${r.keyOrder.outOfOrder} same-key-overlaps=${r.keyOrder.overlaps}` : ''} ${r.verdict}`)
      console.log(`   ${details(r)}`)
      results.push(r)
    }
  } finally {
    await broker.close()
  }
  console.log(`\n${broker.description}, ${machine()}\n\n${table(results)}\n\nsuite: ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  if (!short && !modes) {
    const version = /Apache Kafka (\S+),/.exec(broker.description)?.[1]
    writeSection({
      key: kind === 'mock' ? 'mock' : `kafka-${version}`,
      broker: broker.description,
      machine: machine(),
      date: new Date().toISOString(),
      clusterStartMs: broker.startMs,
      totalMs: Date.now() - t0,
      results,
      load: { start: loadStart, end: load() },
    })
    console.log('written: bench-results/chaos.md, bench-results/chaos.json')
  }
  const failed = results.filter((r) => r.verdict === 'FAIL')
  if (failed.length) {
    console.error(`\nFAIL: ${failed.map((r) => `sync w=${r.window} ${r.ordering}: duplicates=${r.duplicates} lost=${r.lost} bound=${r.bound} drained=${r.drained}${r.keyOrder ? ` key order ${JSON.stringify(r.keyOrder)}` : ''}`).join('; ')}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
