/**
 * The chaos suite's downstream-outage runs (`npm run chaos -- --outage`): which runs, their loss
 * bound and their verdict. Each is one harness/chaos/outage.ts run (an example handler against a
 * real server, the server down for 20 s at 200 msg/s on 6 partitions), made with the circuit
 * breaker (defaults) and without it (BREAKER_THRESHOLD=0: the behaviour before the breaker).
 */
import type { ChaosBroker } from '../../harness/chaos/cluster.ts'
import { runOutage, type DownstreamKind, type OutageResult } from '../../harness/chaos/outage.ts'

export interface OutageRun {
  /** "webhook", "webhook:key", "postgres", each with ":off" for the run without the breaker. */
  name: string
  downstream: DownstreamKind
  /** ORDERING=key, COMMIT_WINDOW=100, MAX_IN_FLIGHT=200 instead of the defaults. */
  key: boolean
  breaker: boolean
}

/** The with/without pairs, each case's "before" first. */
export const DEFAULT_OUTAGE_RUNS = 'webhook:off,webhook,webhook:key:off,webhook:key,postgres:off,postgres'

/** The service variables of the key-order configuration (the issue's second ordering). */
const KEY_ENV = { ORDERING: 'key', COMMIT_WINDOW: '100', MAX_IN_FLIGHT: '200' }

/**
 * What the downstream may never receive with the breaker on: BREAKER_THRESHOLD (5) plus the calls
 * in flight when it opened — at defaults at most one per partition (6), with ORDERING=key at most
 * MAX_IN_FLIGHT (200); the same figures as the outage tests (test/support/outage-cases.ts) and the
 * issue: 20 and 250.
 */
export const OUTAGE_BOUND = { defaults: 20, key: 250 } as const

export function parseOutageRuns(spec: string): OutageRun[] {
  return spec.split(',').map((name) => {
    const [downstream, ...rest] = name.split(':')
    if (downstream !== 'webhook' && downstream !== 'postgres') throw new Error(`unknown downstream in --outage: ${name} (webhook[:key][:off], postgres[:off])`)
    const key = rest.includes('key')
    const off = rest.includes('off')
    if (rest.some((r) => r !== 'key' && r !== 'off') || (key && downstream !== 'webhook') || rest.length !== new Set(rest).size) {
      throw new Error(`bad outage run in --outage: ${name} (webhook[:key][:off], postgres[:off])`)
    }
    return { name, downstream, key, breaker: !off }
  })
}

export interface OutageRunResult extends Omit<OutageResult, 'tail'> {
  broker: string
  name: string
  key: boolean
  breaker: boolean
  /** The bound on `missing` (breaker on); null without the breaker. */
  bound: number | null
  /** Every check that failed (empty: PASS). */
  failures: string[]
  verdict: 'PASS' | 'FAIL'
}

/**
 * The verdict. With the breaker: missing ≤ bound, every missing record counted lost, 0 duplicates,
 * the breaker opened, the service caught up and exited 0. Without it, what at-most-once still
 * promises: 0 duplicates, every missing record counted lost, caught up, exit 0 (the loss itself is
 * the figure the run is for, not bounded).
 */
export function judgeOutage(r: OutageResult, bound: number | null): string[] {
  const failures: string[] = []
  if (r.duplicates !== 0) failures.push(`${r.duplicates} records handed to the downstream twice`)
  if (r.lost < r.missing) failures.push(`${r.missing} records never reached the downstream but only ${r.lost} counted lost`)
  if (!r.drained) failures.push('the service did not catch up after the outage')
  if (r.exitCode !== 0) failures.push(`exit code ${r.exitCode} after SIGTERM`)
  if (bound !== null) {
    if (r.missing > bound) failures.push(`${r.missing} records never reached the downstream, bound ${bound}`)
    if (r.opened < 1) failures.push('the breaker never opened')
  }
  return failures
}

export async function runOutages(
  broker: ChaosBroker,
  runs: OutageRun[],
  log: (line: string) => void,
): Promise<OutageRunResult[]> {
  const results: OutageRunResult[] = []
  for (const run of runs) {
    const env: Record<string, string> = { ...(run.key ? KEY_ENV : {}), ...(run.breaker ? {} : { BREAKER_THRESHOLD: '0' }) }
    log(`\n== outage ${run.name}: ${run.downstream}${run.key ? ' ORDERING=key COMMIT_WINDOW=100 MAX_IN_FLIGHT=200' : ' defaults'}, ${run.breaker ? 'breaker on (defaults)' : 'no breaker (BREAKER_THRESHOLD=0)'}`)
    const cluster = await broker.forOutage()
    let r: OutageResult
    try {
      r = await runOutage({ bootstrap: cluster.bootstrap, createTopic: cluster.createTopic, downstream: run.downstream, env, log: (l) => log(`   ${l}`) })
    } finally {
      await cluster.close()
    }
    const bound = run.breaker ? (run.key ? OUTAGE_BOUND.key : OUTAGE_BOUND.defaults) : null
    const failures = judgeOutage(r, bound)
    const { tail, ...rest } = r
    const result: OutageRunResult = { ...rest, broker: broker.description, name: run.name, key: run.key, breaker: run.breaker, bound, failures, verdict: failures.length ? 'FAIL' : 'PASS' }
    log(`   ${result.verdict}${failures.length ? `: ${failures.join('; ')}` : ''}`)
    if (failures.length) log(`   the service's last lines:\n${tail}`)
    results.push(result)
  }
  return results
}
