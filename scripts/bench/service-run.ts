/**
 * One service case: `node dist/server.js` as a child with the case's environment, the bench
 * handler (scripts/bench-handler.mjs) timing its first and last call, /readyz polled for
 * start→ready, /metrics polled to see when every message is processed, SIGTERM→exit timed.
 */
import { fileURLToPath } from 'node:url'
import { startService } from '../../harness/service-process.ts'
import { histogramQuantile, peakRssMb, schedstat, sleep, sumMetric } from './stats.ts'
import type { CaseResult, Counters } from './types.ts'
import type { ServiceCase } from './cases.ts'

/** A no-op handler that reports its first and last call times at SIGTERM: exact throughput. */
export const BENCH_HANDLER = fileURLToPath(new URL('../bench-handler.mjs', import.meta.url))
const COUNTERS = fileURLToPath(new URL('./counters.mjs', import.meta.url))
const POLL_MS = 100

export interface RunOptions {
  brokers: string[]
  topic: string
  groupId: string
  expected: number
  budgetMs: number
  rttMs: number
  /** Directory for a --cpu-prof profile of the service. */
  cpuProf?: string
  /** Load scripts/bench/counters.mjs into the service (fetch rounds, commit waits). */
  diagnose?: boolean
  /** Node flags instead of package.json's (`--node-args`, an experiment). */
  nodeFlags?: string[] | undefined
}

/** Main-thread CPU and run-queue wait per message between two schedstat samples. */
export function perMessage(a: ReturnType<typeof schedstat>, b: ReturnType<typeof schedstat>, messages: number): { cpuUsPerMsg: number | null; runqUsPerMsg: number | null } {
  if (!a || !b || messages <= 0) return { cpuUsPerMsg: null, runqUsPerMsg: null }
  const r = (ns: number) => Math.round((ns / 1000 / messages) * 100) / 100
  return { cpuUsPerMsg: r(b.runNs - a.runNs), runqUsPerMsg: r(b.waitNs - a.waitNs) }
}

export async function runService(c: ServiceCase, o: RunOptions): Promise<CaseResult> {
  const env: Record<string, string> = {
    KAFKA_BROKERS: o.brokers.join(','),
    KAFKA_TOPICS: o.topic,
    KAFKA_GROUP_ID: o.groupId,
    HANDLER: BENCH_HANDLER,
    ...c.env,
  }
  const args: string[] = []
  if (o.cpuProf) args.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`)
  if (o.diagnose) args.push('--import', COUNTERS)
  const t0 = Date.now()
  const svc = startService(env, { args, ...(o.nodeFlags ? { nodeFlags: o.nodeFlags } : {}) })
  try {
    await svc.waitForLog((l) => /^Server listening/.test(l.msg), 20_000, 'listening')
    let readyAt = 0
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const { status } = await svc.get('/readyz').catch(() => ({ status: 0 }))
      if (status === 200) {
        readyAt = Date.now()
        break
      }
      await sleep(10)
    }
    if (!readyAt) throw new Error(`${c.name}: not ready\n${svc.tail()}`)
    const cpu0 = schedstat(svc.child.pid)
    const joined = svc.logs.find((l) => l.msg === 'Consumer has joined the group')
    const joinMs = typeof joined?.duration === 'number' ? joined.duration : null

    // Progress: the processed counter, polled (a scrape costs the service ~2 ms of CPU).
    let n = 0
    let firstSeen = 0
    for (;;) {
      const text = (await svc.get('/metrics')).body
      const now = Date.now()
      n = sumMetric(text, 'consumer_messages_processed_total')
      if (n >= o.expected) break
      if (n > 0 && !firstSeen) firstSeen = now
      if (firstSeen && now - firstSeen > o.budgetMs) break
      if (now - readyAt > o.budgetMs + 30_000) throw new Error(`${c.name}: no progress (${n} processed)\n${svc.tail()}`)
      await sleep(POLL_MS)
    }
    const complete = n >= o.expected
    const cpu1 = schedstat(svc.child.pid)
    await sleep(complete ? 100 : 0) // let a trailing commit land
    const text = (await svc.get('/metrics')).body
    const processed = sumMetric(text, 'consumer_messages_processed_total')
    const commits = sumMetric(text, 'consumer_commit_duration_seconds_count')
    const rss = peakRssMb(svc.child.pid)
    const exit = await svc.stop('SIGTERM')
    const timing = svc.logs.find((l) => l.msg === 'bench-handler') as { n: number; firstMs: number; lastMs: number } | undefined
    if (!timing || timing.n < 2 || timing.lastMs <= timing.firstMs) throw new Error(`${c.name}: the bench handler reported no timing\n${svc.tail()}`)
    const seconds = (timing.lastMs - timing.firstMs) / 1000
    const counters = svc.logs.find((l) => l.msg === 'bench-counters') as (Counters & { msg: string }) | undefined
    // Node's own warnings land on stderr (stdout stays JSON): worth a note when there are any.
    const stderr = [...new Set(svc.raw.map((l) => l.replace(/\(node:\d+\)/, '(node)').replace(/-?\d{6,}/g, 'N')))].slice(0, 3)
    return {
      ...(stderr.length ? { stderr } : {}),
      name: c.name,
      ...(c.io ? { io: { ...c.io, limit: 0, limitRatio: 0 } } : {}),
      ...(c.tracing ? { tracing: c.tracing } : {}),
      kind: 'service',
      mode: c.mode,
      window: c.mode === 'sync' ? c.window : null,
      concurrency: c.concurrency,
      defaults: c.defaults,
      rttMs: o.rttMs,
      messages: complete ? processed : timing.n,
      complete,
      msgPerSec: Math.round((timing.n - 1) / seconds),
      ratio: null,
      boundRatio: null,
      ...perMessage(cpu0, cpu1, n),
      cpuRatio: null,
      msgPerSecNoWait: null,
      ratioNoWait: null,
      boundRatioNoWait: null,
      commitP50Ms: c.mode === 'auto' ? null : histogramQuantile(text, 0.5),
      commitP99Ms: c.mode === 'auto' ? null : histogramQuantile(text, 0.99),
      commitsPerSec: c.mode === 'auto' ? null : Math.round(commits / seconds),
      peakRssMb: rss,
      startToReadyMs: readyAt - t0,
      joinMs,
      readyMinusJoinMs: joinMs === null ? null : readyAt - t0 - joinMs,
      sigtermToExitMs: exit.ms,
      exitCode: exit.code,
      ...(counters ? { counters: (({ msg: _m, level: _l, ...rest }) => rest)(counters as Counters & { msg: string; level?: number }) as Counters } : {}),
    }
  } catch (err) {
    await svc.stop('SIGKILL', 2000).catch(() => undefined)
    throw err
  }
}
