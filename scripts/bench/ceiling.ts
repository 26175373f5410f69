/** Runs the ceiling (or the commit-per-message reference) child and reads its figures. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ROOT } from '../../harness/service-process.ts'
import type { CeilingOptions } from './ceiling-child.ts'
import { peakRssMb, schedstat } from './stats.ts'
import { perMessage } from './service-run.ts'
import type { CaseResult, Counters } from './types.ts'

const CHILD = fileURLToPath(new URL('./ceiling-child.ts', import.meta.url))
const COUNTERS = fileURLToPath(new URL('./counters.mjs', import.meta.url))

export async function runCeiling(o: CeilingOptions & { rttMs: number; cpuProf?: string }): Promise<CaseResult> {
  const t0 = Date.now()
  const opts: CeilingOptions = { brokers: o.brokers, topic: o.topic, groupId: o.groupId, expected: o.expected, concurrency: o.concurrency, budgetMs: o.budgetMs, commitEach: o.commitEach, json: o.json }
  const args = ['--import', 'tsx', ...(o.diagnose ? ['--import', COUNTERS] : []), ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : []), CHILD, JSON.stringify(opts)]
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const events: Array<Record<string, number | string>> = []
  let readyAt = 0
  let cpu0: ReturnType<typeof schedstat> = null
  let cpu1: ReturnType<typeof schedstat> = null
  let buf = ''
  let wake: () => void = () => undefined
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        const e = JSON.parse(line) as Record<string, number | string>
        if (e.event === 'joined') {
          readyAt = Date.now()
          cpu0 = schedstat(child.pid)
        }
        if (e.event === 'done') cpu1 = schedstat(child.pid)
        events.push(e)
      } catch {
        // not an event
      }
      wake()
    }
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  try {
    const done = await new Promise<Record<string, number>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ceiling: timed out')), o.budgetMs + 60_000)
      wake = () => {
        const d = events.find((e) => e.event === 'done')
        if (d) {
          clearTimeout(timer)
          resolve(d as Record<string, number>)
        }
      }
      void exited.then((code) => reject(new Error(`ceiling child exited ${code}`)))
    })
    const rss = peakRssMb(child.pid)
    const tKill = Date.now()
    child.kill('SIGTERM')
    const code = await exited
    const counters = events.find((e) => e.msg === 'bench-counters') as unknown as (Counters & { msg?: string }) | undefined
    if (counters) delete counters.msg
    const joined = events.find((e) => e.event === 'joined') as Record<string, number> | undefined
    const seconds = Math.max((done.lastMs! - done.firstMs!) / 1000, 1e-3)
    return {
      name: o.commitEach ? 'kafkajs, awaited commit per message' : 'ceiling: kafkajs, no commits, JSON.parse',
      kind: o.commitEach ? 'reference' : 'ceiling',
      mode: null,
      window: null,
      concurrency: String(o.concurrency),
      defaults: false,
      rttMs: o.rttMs,
      messages: done.count!,
      complete: done.count! >= o.expected,
      msgPerSec: Math.round(Math.max(done.count! - 1, 1) / seconds),
      ratio: null,
      boundRatio: null,
      ...perMessage(cpu0, cpu1, done.count!),
      cpuRatio: null,
      msgPerSecNoWait: null,
      ratioNoWait: null,
      boundRatioNoWait: null,
      commitP50Ms: null,
      commitP99Ms: null,
      commitsPerSec: o.commitEach ? Math.round(done.count! / seconds) : null,
      peakRssMb: rss,
      startToReadyMs: readyAt ? readyAt - t0 : null,
      joinMs: joined?.joinMs ?? null,
      readyMinusJoinMs: readyAt && joined ? readyAt - t0 - joined.joinMs! : null,
      sigtermToExitMs: Date.now() - tKill,
      exitCode: code,
      ...(counters ? { counters } : {}),
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}
