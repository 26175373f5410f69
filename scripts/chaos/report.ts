/**
 * The chaos report: the results table, and bench-results/chaos.json + chaos.md, which keep one
 * section per broker (Apache Kafka per version, the mock): a run replaces its own section only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../harness/service-process.ts'
import type { ChaosResult } from '../../harness/chaos/scenario.ts'

const DIR = join(ROOT, 'bench-results')
const JSON_FILE = join(DIR, 'chaos.json')
const MD_FILE = join(DIR, 'chaos.md')

export interface Section {
  /** "kafka-4.4.0", "mock". */
  key: string
  broker: string
  machine: string
  date: string
  /** ms to start the cluster (Apache Kafka, 3 nodes). */
  clusterStartMs: number
  /** ms for the whole suite, cluster start included. */
  totalMs: number
  results: ChaosResult[]
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

function sectionMd(s: Section): string {
  const faults = s.results[0]?.faults ?? []
  return [
    `## ${s.broker}`,
    '',
    `${s.date} — ${s.machine}. Suite: ${(s.totalMs / 1000).toFixed(0)} s` +
      (s.clusterStartMs ? ` (cluster start ${(s.clusterStartMs / 1000).toFixed(1)} s).` : '.'),
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
    '',
    ...sections.map(sectionMd),
  ].join('\n')
  writeFileSync(MD_FILE, md)
}

/** Newest Kafka first, the mock last. */
function order(key: string): number {
  if (key === 'mock') return 1e9
  const [maj = 0, min = 0, patch = 0] = key.replace(/^kafka-/, '').split('.').map(Number)
  return -(maj * 10_000 + min * 100 + patch)
}
