/**
 * The chaos suite: real service processes (node dist/server.js), several in one consumer group,
 * against a three-broker mock Kafka cluster, while a producer streams sequence-numbered weather
 * messages. Faults: SIGKILL + restart, SIGTERM, scale 1 -> 3 -> 1 (rebalances), a broker down and
 * up, errors injected on OffsetCommit, Heartbeat, JoinGroup, SyncGroup and Fetch, added RTT.
 *
 * At the end, from the instances' `consumed` lines and the producer's record:
 *   produced   messages whose send was acknowledged
 *   processed  distinct (partition, offset) handed to the handler
 *   duplicates (partition, offset) handed to the handler more than once (any instance)
 *   lost       acknowledged messages never processed
 *   bound      SIGKILLs x COMMIT_WINDOW x partitions owned by the killed instance
 * sync mode must show duplicates = 0 and lost <= bound; async and auto are reported only.
 *
 *   npm run chaos                  full run: sync w=1, sync w=50, async, auto
 *   npm run chaos -- --short       a brief run
 *   npm run chaos -- --modes=sync:1,auto   chosen runs only
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { pathToFileURL } from 'node:url'
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs'
import { ApiKey, KafkaErr, MockCluster } from '../harness/brokers/mock-cluster.ts'
import { startService, type ServiceProcess, ROOT } from '../harness/service-process.ts'
import { committedOffsets, endOffsets, eventually, sleep } from '../harness/kafka-tools.ts'

export interface ChaosOptions {
  mode: 'sync' | 'async' | 'auto'
  window: number
  /** Streaming time in ms; the fault timeline is scaled to it. */
  durationMs: number
  /** Messages per second the producer aims at. */
  rate: number
  partitions?: number
  /** Include the broker outage (can stall the producer for seconds). Default true. */
  brokerFaults?: boolean
  log?: (line: string) => void
}

export interface ChaosResult {
  mode: string
  window: number
  produced: number
  processed: number
  duplicates: number
  lost: number
  bound: number
  sigkills: number
  killedPartitions: number
  instances: number
  rebalances: number
  faults: string[]
  durationMs: number
  verdict: 'PASS' | 'FAIL' | 'report'
}

const TOPIC = 'weather'
const STATIONS = ['EGLL', 'LFPG', 'EDDF', 'KJFK', 'RJTT', 'YSSY', 'SBGR', 'FACT']

function weather(seq: number): string {
  const station = STATIONS[seq % STATIONS.length]!
  return JSON.stringify({
    seq,
    station,
    at: new Date().toISOString(),
    temperatureC: Math.round((10 + 15 * Math.sin(seq / 50)) * 10) / 10,
    humidity: 40 + (seq % 50),
    windKph: seq % 70,
  })
}

/** Streams messages at `rate`/s; records which seqs were acknowledged, tolerating broker faults. */
class Stream {
  readonly acked = new Set<number>()
  readonly attempted = new Set<number>()
  private seq = 0
  private stopped = false
  private done: Promise<void> | undefined
  private producer: Producer

  constructor(
    brokers: string[],
    private readonly rate: number,
    private readonly partitions: number,
  ) {
    const kafka = new Kafka({ clientId: 'chaos-producer', brokers, logLevel: logLevel.NOTHING, retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 1000 } })
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  }

  async start(): Promise<void> {
    await this.producer.connect()
    this.done = this.loop()
  }

  private async loop(): Promise<void> {
    const tickMs = 100
    const perTick = Math.max(1, Math.round((this.rate * tickMs) / 1000))
    const t0 = Date.now()
    let ticks = 0
    while (!this.stopped) {
      const batch = Array.from({ length: perTick }, () => this.seq++)
      for (const s of batch) this.attempted.add(s)
      // One send per partition group so that a down partition leader does not block the others.
      const byPartition = new Map<number, number[]>()
      for (const s of batch) byPartition.set(s % this.partitions, [...(byPartition.get(s % this.partitions) ?? []), s])
      await Promise.all(
        [...byPartition].map(([partition, seqs]) =>
          this.producer
            .send({ topic: TOPIC, acks: -1, timeout: 5000, messages: seqs.map((s) => ({ key: `s${s % STATIONS.length}`, partition, value: weather(s) })) })
            .then(
              () => seqs.forEach((s) => this.acked.add(s)),
              () => undefined, // not acknowledged: not counted as produced (it may still appear)
            ),
        ),
      )
      ticks++
      const wait = t0 + ticks * tickMs - Date.now()
      if (wait > 0) await sleep(wait)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    // A send stuck on a faulty broker must not hold the run: give it 15 s.
    await Promise.race([this.done, sleep(15_000)])
    await this.producer.disconnect().catch(() => undefined)
  }
}

interface Instance {
  name: string
  proc: ServiceProcess
}

/** The partitions an instance owns according to its last "joined the consumer group" line. */
function ownedPartitions(proc: ServiceProcess): number[] {
  const joins = proc.logs.filter((l) => l.msg === 'joined the consumer group')
  const last = joins.at(-1) as { assignment?: Record<string, number[]> } | undefined
  return last?.assignment?.[TOPIC] ?? []
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((s: string) => console.log(s))
  const partitions = opts.partitions ?? 6
  const t0 = Date.now()
  const cluster = MockCluster.start({ brokers: 3, topics: { [TOPIC]: partitions } })
  const group = `chaos-${opts.mode}-${opts.window}-${process.pid}-${Date.now()}`
  const env: Record<string, string> = {
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_TOPICS: TOPIC,
    KAFKA_GROUP_ID: group,
    COMMIT_MODE: opts.mode,
    COMMIT_WINDOW: String(opts.window),
    AUTO_COMMIT_INTERVAL_MS: '5000',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '500',
    SHUTDOWN_TIMEOUT_MS: '8000',
    HANDLER: 'log',
    LOG_LEVEL: 'info',
  }
  const all: Instance[] = []
  const live = new Map<string, Instance>()
  const faults: string[] = []
  let sigkills = 0
  let killedPartitions = 0
  let stream: Stream | undefined
  const at = (ms: number) => Math.round((ms * opts.durationMs) / 40_000)
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`
  const note = (s: string) => {
    faults.push(s)
    log(`  [${opts.mode} w=${opts.window} ${since()}] ${s}`)
  }
  const spawn = (name: string): Instance => {
    const inst = { name, proc: startService(env) }
    all.push(inst)
    live.set(name, inst)
    return inst
  }

  // The orchestrator's part: an instance whose liveness fails (kafkajs crashed for good) is
  // replaced, as Kubernetes does after the liveness probe fails.
  let supervising = true
  const supervisor = (async () => {
    while (supervising) {
      await sleep(1000)
      for (const [name, inst] of [...live]) {
        if (!supervising || !inst.proc.logs.some((l) => l.msg === 'the consumer crashed for good; liveness now fails')) continue
        const health = await inst.proc.get('/healthz').catch(() => ({ status: 0 }))
        if (!supervising || health.status !== 503) continue
        live.delete(name)
        const exit = await inst.proc.stop('SIGTERM', 20_000)
        if (!supervising) break
        note(`${name} crashed for good (healthz 503): replaced (exit ${exit.code ?? exit.signal})`)
        const next = { name: `${inst.name}'`, proc: startService(env) }
        all.push(next)
        live.set(name, next)
      }
    }
  })()
  /** The live instance called `name` (the supervisor may be replacing it: wait for that). */
  const get = async (name: string): Promise<Instance> => {
    await eventually(() => live.has(name), 30_000, 100)
    const inst = live.get(name)
    if (!inst) throw new Error(`instance ${name} is not running`)
    return inst
  }

  try {
    const a = spawn('A')
    await a.proc.waitReady(45_000)
    stream = new Stream(cluster.brokers, opts.rate, partitions)
    await stream.start()
    const streamStart = Date.now()
    const until = (ms: number) => sleep(Math.max(0, streamStart + at(ms) - Date.now()))

    await until(3000)
    const joiners = [spawn('B'), spawn('C')]
    note('scale 1 -> 3: B and C start')
    await Promise.all(joiners.map((i) => i.proc.waitReady(45_000).catch(() => undefined)))
    note('B and C ready')

    await until(8000)
    cluster.pushRequestErrors(ApiKey.OffsetCommit, [KafkaErr.REQUEST_TIMED_OUT, KafkaErr.NOT_COORDINATOR, KafkaErr.REBALANCE_IN_PROGRESS])
    cluster.pushRequestErrors(ApiKey.Fetch, [KafkaErr.NOT_LEADER_FOR_PARTITION, KafkaErr.REQUEST_TIMED_OUT])
    cluster.pushRequestErrors(ApiKey.Heartbeat, [KafkaErr.REBALANCE_IN_PROGRESS])
    note('errors injected: OffsetCommit(7,16,27), Fetch(6,7), Heartbeat(27)')

    await until(12_000)
    {
      // SIGKILL the instance that owns partitions, mid-stream, and start a new one in its place.
      // Mid-stream, once B owns partitions (a join completes in about a session timeout).
      const b = await get('B')
      await eventually(() => ownedPartitions(b.proc).length > 0 && b.proc.consumed().length > 0, 30_000, 100)
      const owned = ownedPartitions(b.proc)
      b.proc.signal('SIGKILL')
      await b.proc.exited
      live.delete('B')
      sigkills++
      killedPartitions += owned.length
      note(`SIGKILL ${b.name} (owned partitions ${owned.join(',') || 'none'})`)
    }
    cluster.pushRequestErrors(ApiKey.JoinGroup, [KafkaErr.COORDINATOR_NOT_AVAILABLE])
    cluster.pushRequestErrors(ApiKey.SyncGroup, [KafkaErr.REBALANCE_IN_PROGRESS])
    note('errors injected: JoinGroup(15), SyncGroup(27)')

    await until(15_000)
    spawn('B2')
    note('restart: B2 starts')

    if (opts.brokerFaults !== false) {
      await until(18_000)
      cluster.brokerDown(2)
      note('broker 2 down')
      await until(22_000)
      cluster.brokerUp(2)
      note('broker 2 up')
    }

    await until(24_000)
    cluster.setRtt(40)
    note('RTT +40 ms on all brokers')

    await until(27_000)
    {
      const c = await get('C')
      const exit = await c.proc.stop('SIGTERM', 30_000)
      live.delete('C')
      note(`SIGTERM ${c.name}: exit ${exit.code ?? exit.signal} in ${exit.ms} ms`)
    }
    await until(30_000)
    cluster.setRtt(0)
    note('RTT back to 0')

    await until(32_000)
    {
      const b2 = await get('B2')
      const exit = await b2.proc.stop('SIGTERM', 30_000)
      live.delete('B2')
      note(`SIGTERM ${b2.name} (scale 3 -> 1): exit ${exit.code ?? exit.signal} in ${exit.ms} ms`)
    }

    await until(40_000)
    await stream.stop()
    note(`producer stopped: ${stream.acked.size} acknowledged of ${stream.attempted.size}`)

    // Drain: the remaining instance reaches the end of every partition (committed = end).
    const drained = await eventually(
      async () => {
        const [committed, ends] = await Promise.all([committedOffsets(cluster.brokers, group, TOPIC), endOffsets(cluster.brokers, TOPIC)])
        return [...ends].every(([p, end]) => (committed.get(p) ?? -1) >= end)
      },
      60_000,
      500,
    ).catch(() => false)
    await sleep(1000)
    note(drained ? 'drained: committed offsets reached the end offsets' : 'NOT drained within 60 s')
  } finally {
    supervising = false
    await supervisor
    await stream?.stop().catch(() => undefined)
    await Promise.all([...live.values()].map((i) => i.proc.stop('SIGTERM', 20_000)))
    cluster.close()
  }

  // Tally.
  const seen = new Map<string, number>()
  const processedSeqs = new Set<number>()
  for (const { proc } of all) {
    for (const c of proc.consumed()) {
      const key = `${c.partition}|${c.offset}`
      seen.set(key, (seen.get(key) ?? 0) + 1)
      const seq = (c.value as { seq?: unknown } | null)?.seq
      if (typeof seq === 'number') processedSeqs.add(seq)
    }
  }
  let duplicates = 0
  for (const n of seen.values()) duplicates += n - 1
  const produced = stream!.acked.size
  let lost = 0
  for (const s of stream!.acked) if (!processedSeqs.has(s)) lost++
  const bound = sigkills * opts.window * killedPartitions
  const rebalances = all.reduce((n, i) => n + i.proc.logs.filter((l) => l.msg === 'joined the consumer group').length, 0)
  const verdict = opts.mode === 'sync' ? (duplicates === 0 && lost <= bound && produced > 0 ? 'PASS' : 'FAIL') : 'report'
  return {
    mode: opts.mode,
    window: opts.window,
    produced,
    processed: seen.size,
    duplicates,
    lost,
    bound,
    sigkills,
    killedPartitions,
    instances: all.length,
    rebalances,
    faults,
    durationMs: Date.now() - t0,
    verdict,
  }
}

export function table(results: ChaosResult[]): string {
  const rows = [
    '| mode | window | produced | processed | duplicates | lost | bound | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    ...results.map((r) => {
      const window = r.mode === 'auto' ? 'auto 5 s' : r.mode === 'async' ? '1' : String(r.window)
      return `| ${r.mode} | ${window} | ${r.produced} | ${r.processed} | ${r.duplicates} | ${r.lost} | ${r.bound} | ${r.verdict} |`
    }),
  ]
  return rows.join('\n')
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const short = args.includes('--short')
  const modesArg = args.find((a) => a.startsWith('--modes='))?.slice('--modes='.length)
  const runs = (modesArg ?? 'sync:1,sync:50,async,auto').split(',').map((s) => {
    const [mode, w] = s.split(':')
    if (mode !== 'sync' && mode !== 'async' && mode !== 'auto') throw new Error(`unknown mode ${s}`)
    return { mode, window: Number(w ?? 1) } as const
  })
  const durationMs = short ? 16_000 : 40_000
  const rate = short ? 150 : 200
  const results: ChaosResult[] = []
  console.log(`chaos: ${runs.length} runs, ${durationMs / 1000} s of streaming each at ${rate} msg/s, 3 brokers, 6 partitions`)
  for (const run of runs) {
    console.log(`\n== ${run.mode} window=${run.window}`)
    const r = await runChaos({ ...run, durationMs, rate })
    console.log(
      `   produced=${r.produced} processed=${r.processed} duplicates=${r.duplicates} lost=${r.lost} bound=${r.bound} ` +
        `(${r.sigkills} SIGKILL x window ${r.window} x ${r.killedPartitions} partitions) ${r.verdict} in ${(r.durationMs / 1000).toFixed(0)} s`,
    )
    results.push(r)
  }
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, librdkafka ${MockCluster.librdkafkaVersion()} mock cluster`
  const md = [
    `# Chaos run (${short ? 'short' : 'full'})`,
    '',
    `${new Date().toISOString()} — ${machine}`,
    '',
    table(results),
    '',
    'Faults per run: ' + (results[0]?.faults.map((f) => f.replace(/:.*$/, '')).join('; ') ?? ''),
    '',
  ].join('\n')
  console.log('\n' + table(results))
  mkdirSync(new URL('bench-results/', pathToFileURL(ROOT)), { recursive: true })
  writeFileSync(new URL('bench-results/chaos.md', pathToFileURL(ROOT)), md)
  writeFileSync(new URL('bench-results/chaos.json', pathToFileURL(ROOT)), JSON.stringify({ machine, short, results }, null, 2) + '\n')
  const failed = results.filter((r) => r.verdict === 'FAIL')
  if (failed.length) {
    console.error(`\nFAIL: ${failed.map((r) => `sync w=${r.window}: duplicates=${r.duplicates} lost=${r.lost} bound=${r.bound}`).join('; ')}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
