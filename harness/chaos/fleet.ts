/**
 * The service instances of one chaos run: real `node dist/server.js` processes in one consumer
 * group. Starts them (with the mock cluster's preload when the broker is the mock), kills and
 * stops them, keeps the record each kill adds to the loss bound, and plays the orchestrator's
 * part: an instance whose liveness fails (kafkajs crashed for good) is replaced, as Kubernetes
 * does after its liveness probe fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eventually, sleep } from '../kafka-tools.ts'
import { startService, sumMetric, type ServiceProcess } from '../service-process.ts'


export interface Instance {
  name: string
  proc: ServiceProcess
}

/** One SIGKILL of a service instance: what it owned, so what it may have lost. */
export interface Kill {
  name: string
  /** Partitions of its last assignment. */
  partitions: number[]
  /** consumer_messages_at_risk read just before the signal (committed, not yet processed). */
  atRisk: number
  /** Date.now() when the signal was sent. */
  at?: number
}

/** The partitions an instance owns according to its last "joined the consumer group" line. */
export function ownedPartitions(proc: ServiceProcess, topic: string): number[] {
  const joins = proc.logs.filter((l) => l.msg === 'joined the consumer group')
  const last = joins.at(-1) as { assignment?: Record<string, number[]> } | undefined
  return last?.assignment?.[topic] ?? []
}

async function atRisk(proc: ServiceProcess): Promise<number> {
  const { body } = await proc.get('/metrics')
  return sumMetric(body, 'consumer_messages_at_risk')
}

export class Fleet {
  /** Every instance ever started (the tally reads all their logs). */
  readonly all: Instance[] = []
  readonly live = new Map<string, Instance>()
  readonly kills: Kill[] = []
  private supervising = true
  private supervisor: Promise<void> | undefined

  constructor(
    private readonly env: Record<string, string>,
    private readonly topic: string,
    private readonly args: string[],
    private readonly note: (s: string) => void,
  ) {}

  spawn(name: string): Instance {
    const inst = { name, proc: startService(this.env, { args: this.args }) }
    this.all.push(inst)
    this.live.set(name, inst)
    return inst
  }

  /** Replace instances whose liveness fails (kafkajs crashed for good), every second. */
  supervise(): void {
    this.supervisor = (async () => {
      while (this.supervising) {
        await sleep(1000)
        for (const [name, inst] of [...this.live]) {
          if (!this.supervising || !inst.proc.logs.some((l) => l.msg === 'the consumer crashed for good; liveness now fails')) continue
          const health = await inst.proc.get('/healthz').catch(() => ({ status: 0 }))
          if (!this.supervising || health.status !== 503) continue
          this.live.delete(name)
          const exit = await inst.proc.stop('SIGTERM', 20_000)
          if (!this.supervising) break
          this.note(`${name} crashed for good (healthz 503): replaced (exit ${exit.code ?? exit.signal})`)
          const next = { name: `${inst.name}'`, proc: startService(this.env, { args: this.args }) }
          this.all.push(next)
          this.live.set(name, next)
        }
      }
    })()
  }

  /** The live instance called `name` (the supervisor may be replacing it: wait for that). */
  async get(name: string): Promise<Instance> {
    await eventually(() => this.live.has(name), 30_000, 100)
    const inst = this.live.get(name)
    if (!inst) throw new Error(`instance ${name} is not running`)
    return inst
  }

  /**
   * SIGKILL instance `name` once it owns partitions and has processed something; with
   * `whileAtRisk`, also wait (up to 20 s) until it holds committed-but-unprocessed messages, so
   * that the kill can lose some. Records the kill for the loss bound.
   */
  async sigkill(name: string, opts: { whileAtRisk?: boolean } = {}): Promise<Kill> {
    const inst = await this.get(name)
    await eventually(() => ownedPartitions(inst.proc, this.topic).length > 0 && inst.proc.consumed().length > 0, 30_000, 100)
    let risk = 0
    if (opts.whileAtRisk) {
      await eventually(async () => (risk = await atRisk(inst.proc).catch(() => 0)) > 0, 20_000, 20)
    } else {
      risk = await atRisk(inst.proc).catch(() => 0)
    }
    const partitions = ownedPartitions(inst.proc, this.topic)
    const at = Date.now()
    inst.proc.signal('SIGKILL')
    await inst.proc.exited
    this.live.delete(name)
    const kill = { name: inst.name, partitions, atRisk: risk, at }
    this.kills.push(kill)
    this.note(`SIGKILL ${inst.name} (owned partitions ${partitions.join(',') || 'none'}; ${risk} at risk)`)
    return kill
  }

  async sigterm(name: string, what = ''): Promise<void> {
    const inst = await this.get(name)
    const exit = await inst.proc.stop('SIGTERM', 30_000)
    this.live.delete(name)
    this.note(`SIGTERM ${inst.name}${what}: exit ${exit.code ?? exit.signal} in ${exit.ms} ms`)
  }

  /** Stop supervising and SIGTERM every live instance. */
  async close(): Promise<void> {
    this.supervising = false
    await this.supervisor
    await Promise.all([...this.live.values()].map((i) => i.proc.stop('SIGTERM', 20_000)))
    this.live.clear()
  }

  /** Write every instance's log lines (JSON, then non-JSON) to `dir`/<name>.log, for a post-mortem. */
  dumpLogs(dir: string): void {
    mkdirSync(dir, { recursive: true })
    for (const [i, inst] of this.all.entries()) {
      const file = join(dir, `${String(i).padStart(2, '0')}-${inst.name.replaceAll("'", 'r')}.log`)
      writeFileSync(file, [...inst.proc.logs.map((l) => JSON.stringify(l)), ...inst.proc.raw].join('\n') + '\n')
    }
  }

  /** Commits the instances logged as failed (sync mode): partition and target offset. */
  failedCommits(): Array<{ partition: number; offset: number }> {
    return this.all.flatMap((i) =>
      i.proc.logs
        .filter((l) => l.msg.startsWith('commit failed') && typeof l.partition === 'number' && l.offset !== undefined)
        .map((l) => ({ partition: l.partition as number, offset: Number(l.offset) })),
    )
  }

  /** When each record was first processed ("partition|offset" -> the `consumed` line's time). */
  processedAt(): Map<string, number> {
    const at = new Map<string, number>()
    for (const i of this.all) {
      for (const c of i.proc.consumed()) {
        const key = `${c.partition}|${c.offset}`
        const t = Number((c as { time?: unknown }).time ?? 0)
        if (!at.has(key) || t < at.get(key)!) at.set(key, t)
      }
    }
    return at
  }

  /**
   * The loss the instances that were not SIGKILLed counted, from their warn lines (each line is one
   * increment of consumer_messages_lost_total, by `count` or 1; of consumer_messages_in_doubt_total
   * for an unresolved commit in doubt). Read from the logs, so instances already stopped count too.
   */
  ledger(): { counted: number; inDoubt: number } {
    const killed = new Set(this.kills.map((k) => k.name))
    let counted = 0
    let inDoubt = 0
    for (const i of this.all) {
      if (killed.has(i.name)) continue
      for (const l of i.proc.logs) {
        const n = typeof l.count === 'number' ? l.count : 1
        if (l.lost === true) counted += n
        else if (l.inDoubt === true && l.msg.startsWith('commit in doubt not resolved')) inDoubt += n
      }
    }
    return { counted, inDoubt }
  }

  /** `joined the consumer group` lines over all instances. */
  joins(): number {
    return this.all.reduce((n, i) => n + i.proc.logs.filter((l) => l.msg === 'joined the consumer group').length, 0)
  }
}
