/**
 * The chaos report: the results tables, and bench-results/chaos.json + chaos.md, which keep one
 * section per broker (Apache Kafka per version, the mock) for the fault runs and one per broker for
 * the downstream-outage runs (`--outage`): a run replaces its own section only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../harness/service-process.ts'
import type { ChaosResult } from '../../harness/chaos/scenario.ts'
import type { OutageRunResult } from './outage.ts'
import type { WarmUp } from './warm-up.ts'

const DIR = join(ROOT, 'bench-results')
const JSON_FILE = join(DIR, 'chaos.json')
const MD_FILE = join(DIR, 'chaos.md')

export interface Section {
  /** "kafka-4.4.0", "mock"; the outage runs: "outage-kafka-4.4.0", "outage-mock". */
  key: string
  /** The fault runs (the default; sections written before outage runs existed have no kind) or the downstream-outage runs. */
  kind?: 'faults' | 'outage'
  broker: string
  machine: string
  date: string
  /** ms to start the cluster (Apache Kafka, 3 nodes). */
  clusterStartMs: number
  /** ms for the whole suite, cluster start included. */
  totalMs: number
  /** The fault runs ([] in an outage section). */
  results: ChaosResult[]
  /** The outage runs. */
  outages?: OutageRunResult[]
  /** Load average (1, 5, 15 min) at the start and the end of the suite. */
  load?: { start: number[]; end: number[] }
  /** Outage runs on Apache Kafka: the warm-up before them. */
  warmUp?: WarmUp
}

export function machine(): string {
  return `${cpus().length} x ${cpus()[0]?.model?.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux, node ${process.version}`
}

function windowLabel(r: ChaosResult): string {
  if (r.mode === 'auto') return 'auto 5 s'
  if (r.mode === 'async') return '1'
  return String(r.window)
}

export function table(results: ChaosResult[]): string {
  return [
    '| mode | window | ordering | handler | produced | processed | duplicates | lost | bound | at risk at SIGKILL | measured loss | counted | in doubt | key order (keys, out of order, same key at once) | verdict |',
    '|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
    ...results.map((r) => {
      const handler = r.handlerMs > 0 ? `${r.handlerMs} ms/msg` : 'log'
      const risk = r.kills.map((k) => k.atRisk).join(' + ') || '-'
      const order = r.keyOrder ? `${r.keyOrder.keys}, ${r.keyOrder.outOfOrder}, ${r.keyOrder.overlaps}` : '-'
      return `| ${r.mode} | ${windowLabel(r)} | ${r.mode === 'sync' ? (r.ordering ?? 'partition') : '-'} | ${handler} | ${r.produced} | ${r.processed} | ${r.duplicates} | ${r.lost} | ${r.boundCoordinator ? `${r.bound} (${r.boundKills} + ${r.boundCoordinator})` : r.bound} | ${risk} | ${r.measuredLoss ?? '-'} | ${r.counted ?? '-'} | ${r.inDoubt ?? '-'} | ${order} | ${r.verdict} |`
    }),
  ].join('\n')
}

function configLabel(r: OutageRunResult): string {
  return r.key ? 'key, window 100, cap 200' : 'partition, window 1'
}

/** The outage runs: before (no breaker) and after (defaults), side by side per case. */
export function outageTable(results: OutageRunResult[]): string {
  return [
    '| downstream | ordering, commit window, in-flight cap | breaker | produced | lag when it went down | produced while down | never received (missing) | counted lost | duplicates | opened | resumed after (ms) | held at close | bound | verdict |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.map((r) => {
      const held = r.closes.map((c) => c.held).join(' + ') || '-'
      const downstream = r.downstream === 'webhook' ? 'webhook (SIGKILL)' : 'PostgreSQL (stopped)'
      return `| ${downstream} | ${configLabel(r)} | ${r.breaker ? 'on (5)' : 'off (0)'} | ${r.produced} | ${r.lagAtDown} | ${r.producedWhileDown} | ${r.missing} | ${r.lost} | ${r.duplicates} | ${r.opened} | ${r.resumeMs ?? '-'} | ${held} | ${r.bound ?? '-'} | ${r.verdict} |`
    }),
  ].join('\n')
}

/** One line per outage run: the figures the table leaves out. */
export function outageDetails(r: OutageRunResult): string {
  const reasons = Object.entries(r.lostByReason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
  const closes = r.closes.map((c) => `after ${(c.openMs / 1000).toFixed(1)} s, ${c.held} held`).join('; ') || 'none'
  const stalls = r.producerStalls.count ? `producer stalls > 2 s: ${r.producerStalls.count} (longest ${(r.producerStalls.longestMs / 1000).toFixed(1)} s)` : 'no producer stall'
  return (
    `${r.name}: ${(r.durationMs / 1000).toFixed(0)} s; downstream down ${(r.downMs / 1000).toFixed(1)} s; ${stalls}; received ${r.received}; lost by reason: ${reasons}; in doubt ${r.inDoubt}; ` +
    `'handler failed' lines ${r.failedLines}; breaker closes: ${closes}; ${r.drained ? 'caught up' : 'NOT CAUGHT UP'}; exit ${r.exitCode}` +
    (r.failures.length ? `; FAIL: ${r.failures.join('; ')}` : '')
  )
}

/** One line per run: the figures the table leaves out. */
export function details(r: ChaosResult): string {
  const kills = r.kills.map((k) => `${k.name} owned ${k.partitions.length} (${k.partitions.join(',')})`).join('; ')
  return (
    `${r.mode} w=${windowLabel(r)}: ${(r.durationMs / 1000).toFixed(0)} s, ${r.instances} instances, ${r.joins} group joins, ` +
    `SIGKILLs: ${kills || 'none'}; bound ${r.bound} = ${r.boundKills} (instance SIGKILLs) + ${r.boundCoordinator} (${r.coordinatorFaults} coordinator faults); lost per partition ${JSON.stringify(r.lostByPartition)} (${r.lostElsewhere} outside the killed instances' partitions); ` +
    `offsets never processed: ${r.gaps}, of which covered by a commit the service saw fail: ${r.gapsAfterFailedCommit}; ` +
    `loss ledger: ${r.measuredLoss} records never processed outside the SIGKILLs' ${r.killLoss}, counted ${r.counted}, in doubt ${r.inDoubt}${r.ledgerOk ? '' : ' (MISMATCH)'}; ` +
    `producer stalls > 2 s: ${r.producerStalls.count} (longest ${(r.producerStalls.longestMs / 1000).toFixed(1)} s); ids written twice by producer retries: ${r.logDuplicates}; ` +
    `processed but never acknowledged to the producer: ${r.unacknowledgedProcessed}${r.drained ? '' : '; NOT DRAINED'}`
  )
}

function loadLabel(s: Section): string {
  return s.load ? ` Load average (1, 5, 15 min) ${s.load.start.join(', ')} at the start, ${s.load.end.join(', ')} at the end.` : ''
}

function outageSectionMd(s: Section): string {
  const outages = s.outages ?? []
  return [
    `## Downstream outage: ${s.broker}`,
    '',
    `${s.date} — ${s.machine}. Suite: ${(s.totalMs / 1000).toFixed(0)} s` +
      (s.clusterStartMs ? ` (cluster start ${(s.clusterStartMs / 1000).toFixed(1)} s).` : '.') +
      (s.warmUp ? ` Warm-up: the service ${s.warmUp.keptUp ? 'kept up' : 'had NOT kept up'} after ${(s.warmUp.ms / 1000).toFixed(0)} s.` : '') +
      loadLabel(s),
    '',
    outageTable(outages),
    '',
    ...outages.map((r) => `- ${outageDetails(r)}`),
    '',
  ].join('\n')
}

function sectionMd(s: Section): string {
  if (s.kind === 'outage') return outageSectionMd(s)
  const faults = s.results[0]?.faults ?? []
  return [
    `## ${s.broker}`,
    '',
    `${s.date} — ${s.machine}. Suite: ${(s.totalMs / 1000).toFixed(0)} s` +
      (s.clusterStartMs ? ` (cluster start ${(s.clusterStartMs / 1000).toFixed(1)} s).` : '.') +
      loadLabel(s),
    '',
    table(s.results),
    '',
    ...s.results.map((r) => `- ${details(r)}`),
    '',
    `Fault log of the first run (${s.results[0]?.mode ?? ''} w=${s.results[0] ? windowLabel(s.results[0]) : ''}):`,
    '',
    ...faults.map((f) => `- ${f}`),
    '',
  ].join('\n')
}

export function writeSection(section: Section): void {
  mkdirSync(DIR, { recursive: true })
  let sections: Section[] = []
  if (existsSync(JSON_FILE)) {
    try {
      const old = JSON.parse(readFileSync(JSON_FILE, 'utf8')) as { sections?: Section[] }
      sections = Array.isArray(old.sections) ? old.sections : []
    } catch {
      sections = []
    }
  }
  sections = [...sections.filter((s) => s.key !== section.key), section].sort((a, b) => order(a.key) - order(b.key) || a.key.localeCompare(b.key))
  writeFileSync(JSON_FILE, JSON.stringify({ sections }, null, 2) + '\n')
  const md = [
    '# Chaos results',
    '',
    'Written by `npm run chaos` (Apache Kafka, 3 KRaft nodes; KAFKA_VERSION selects the version) and',
    '`npm run chaos -- --broker=mock` (librdkafka mock cluster). What the runs do: docs/chaos.md.',
    'sync is asserted (0 duplicates, lost <= bound); async and auto are reported. bound = COMMIT_WINDOW x',
    '(partitions owned by each SIGKILLed instance + all partitions per coordinator fault); "a + b" splits it so.',
    'The downstream-outage sections (`npm run chaos -- --outage`): the handler\'s server down for 20 s at 200 msg/s, with',
    'the circuit breaker (asserted: missing <= bound, every missing record counted lost, 0 duplicates) and without it',
    '(BREAKER_THRESHOLD=0: 0 duplicates and every missing record counted lost asserted, the loss reported).',
    '',
    ...sections.map(sectionMd),
  ].join('\n')
  writeFileSync(MD_FILE, md)
}

/** The fault runs before the outage runs; within each, newest Kafka first, the mock last. */
function order(key: string): number {
  const outage = key.startsWith('outage-') ? 2e9 : 0
  const broker = key.replace(/^outage-/, '')
  if (broker === 'mock') return outage + 1e9
  const [maj = 0, min = 0, patch = 0] = broker.replace(/^kafka-/, '').split('.').map(Number)
  return outage - (maj * 10_000 + min * 100 + patch)
}
