/**
 * `npm run bench` — what does the at-most-once guarantee cost?
 *
 * One mock Kafka broker (librdkafka's mock cluster), one topic of pre-produced JSON messages,
 * and each case in its own fresh consumer group with a no-op handler:
 *
 *   - ceiling: plain kafkajs (eachBatch, same partitionsConsumedConcurrently) with NO commits,
 *     in a child process like the service;
 *   - the service (node dist/server.js): COMMIT_MODE=sync with COMMIT_WINDOW 1, 10, 100, 1000;
 *     async; auto;
 *
 * each at 0 ms and at 2 ms of round trip added by the broker (loopback hides exactly the cost a
 * commit-before-processing consumer pays in production).
 *
 * Per case: messages/s from the first processed message to the last, the ratio to the ceiling
 * at the same RTT, commit latency p50/p99 (interpolated in consumer_commit_duration_seconds'
 * buckets), commits/s, peak RSS (VmHWM), start→ready, the group-join time the broker imposes
 * (kafkajs' own join+sync duration), and SIGTERM→exit.
 *
 * Output: a markdown table on stdout, bench-results/bench.json, bench-results/bench.md and
 * bench-results/throughput.svg.
 *
 *   npm run bench                    full run (~3-5 min on 2 cores)
 *   npm run bench -- --quick         a short run (smaller data, shorter budgets)
 *   npm run bench -- --only=w=1000   only the cases whose name contains the text (and the ceiling)
 *   npm run bench -- --profile       also (--profile-only: only): one sync COMMIT_WINDOW=1000 case under --cpu-prof,
 *                                    with the self time summarised by package
 *
 * The service's handler (scripts/bench-handler.mjs) is a no-op that records its first and last
 * call and reports them at SIGTERM, so messages/s is exact; /metrics is polled every POLL_MS
 * only to see when all messages are processed (falling back to the polls if needed). Slow cases
 * stop after a time budget and report the rate over the part they processed.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type EachBatchPayload } from 'kafkajs'
import { MockCluster } from '../harness/brokers/mock-cluster.ts'
import { produce } from '../harness/kafka-tools.ts'
import { ROOT, startService, type ServiceProcess } from '../harness/service-process.ts'

const TOPIC = 'bench'
const PARTITIONS = 4
const POLL_MS = 100
/** A no-op handler that logs its first and last call times at SIGTERM: exact throughput. */
const BENCH_HANDLER = fileURLToPath(new URL('./bench-handler.mjs', import.meta.url))
const WINDOWS = [1, 10, 100, 1000]
const RTTS = [0, 2]

// ---------------------------------------------------------------------------------------------
// The ceiling, as a child process: `node --import tsx scripts/bench.ts --ceiling-child ...`
// ---------------------------------------------------------------------------------------------

async function ceilingChild(brokers: string, groupId: string, expected: number, concurrency: number, budgetMs: number, commitEach: boolean): Promise<void> {
  const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`)
  const t0 = performance.now()
  const kafka = new Kafka({ clientId: 'bench-ceiling', brokers: brokers.split(','), logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500, allowAutoTopicCreation: false })
  let count = 0
  let first = 0
  let last = 0
  let done = false
  const finish = () => {
    if (done) return
    done = true
    out({ event: 'done', count, firstMs: first, lastMs: last })
  }
  consumer.on(consumer.events.GROUP_JOIN, (e) => out({ event: 'joined', atMs: performance.now() - t0, joinMs: e.payload.duration }))
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  await consumer.run({
    autoCommit: false, // no commits at all
    partitionsConsumedConcurrently: concurrency,
    eachBatch: async ({ batch, commitOffsetsIfNecessary }: EachBatchPayload) => {
      for (const m of batch.messages) {
        if (count === 0) first = performance.now()
        // The reference for COMMIT_WINDOW=1: the least a client can do, one awaited commit per message.
        if (commitEach) {
          if (done) return
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(m.offset) + 1) }] }] })
          last = performance.now()
          if (last - first > budgetMs) finish()
        }
        count++
      }
      last = performance.now()
      if (count >= expected || (first > 0 && last - first > budgetMs)) finish()
    },
  })
  process.once('SIGTERM', () => {
    finish()
    consumer.disconnect().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------

interface CaseResult {
  name: string
  mode: 'ceiling' | 'reference' | 'sync' | 'async' | 'auto'
  window: number | null
  rttMs: number
  messages: number
  complete: boolean
  msgPerSec: number
  ratio: number | null
  commitP50Ms: number | null
  commitP99Ms: number | null
  commitsPerSec: number | null
  peakRssMb: number | null
  startToReadyMs: number | null
  joinMs: number | null
  readyMinusJoinMs: number | null
  sigtermToExitMs: number | null
  exitCode: number | null
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function peakRssMb(pid: number | undefined): number | null {
  if (!pid) return null
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null
  } catch {
    return null
  }
}

/** Sum of a metric over all its label sets, from Prometheus text. */
function sum(text: string, name: string): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (m && m[1] === name) total += Number(m[3])
  }
  return total
}

/** Quantile of consumer_commit_duration_seconds (all modes), linear within a bucket, in ms. */
function histogramQuantile(text: string, q: number): number | null {
  const buckets = new Map<number, number>()
  for (const line of text.split('\n')) {
    const m = /^consumer_commit_duration_seconds_bucket\{([^}]*)\}\s+(\S+)/.exec(line)
    if (!m) continue
    const le = /le="([^"]+)"/.exec(m[1]!)![1]!
    const bound = le === '+Inf' ? Infinity : Number(le)
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]))
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total === 0) return null
  const rank = q * total
  let prevBound = 0
  let prevCount = 0
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound * 1000
      const frac = count === prevCount ? 0 : (rank - prevCount) / (count - prevCount)
      return (prevBound + (bound - prevBound) * frac) * 1000
    }
    prevBound = bound
    prevCount = count
  }
  return null
}

async function metricsText(svc: ServiceProcess): Promise<string> {
  return (await svc.get('/metrics')).body
}

interface CaseOpts {
  brokers: string[]
  expected: number
  budgetMs: number
  rttMs: number
  run: number
  cpuProf?: string
}

async function runService(mode: 'sync' | 'async' | 'auto', window: number | null, o: CaseOpts, valueFormat = 'json'): Promise<CaseResult> {
  const name = (mode === 'sync' ? `sync w=${window}` : mode) + (valueFormat === 'json' ? '' : ` (${valueFormat})`)
  const groupId = `bench-${o.run}-${mode}-${window ?? 0}-${valueFormat}-${o.rttMs}ms`
  const t0 = Date.now()
  const svc = startService(
    {
      KAFKA_BROKERS: o.brokers.join(','),
      KAFKA_TOPICS: TOPIC,
      KAFKA_GROUP_ID: groupId,
      HANDLER: BENCH_HANDLER,
      VALUE_FORMAT: valueFormat,
      COMMIT_MODE: mode,
      COMMIT_WINDOW: String(window ?? 1),
      PARTITION_CONCURRENCY: String(PARTITIONS),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '10000',
    },
    o.cpuProf ? { args: ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] } : {},
  )
  try {
    // Ready: poll /readyz (every 10 ms) from the moment the HTTP server listens.
    await svc.waitForLog((l) => /^Server listening/.test(l.msg), 20_000, 'listening')
    let readyAt = 0
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const { status } = await svc.get('/readyz').catch(() => ({ status: 0 }))
      if (status === 200) {
        readyAt = Date.now()
        break
      }
      await sleep(10)
    }
    if (!readyAt) throw new Error(`${name}: not ready\n${svc.tail()}`)
    const joined = svc.logs.find((l) => l.msg === 'Consumer has joined the group')
    const joinMs = typeof joined?.duration === 'number' ? joined.duration : null

    // Progress: poll the processed counter (a scrape costs the service ~2 ms of CPU, so not too
    // often). The first and last processed times are extrapolated from the polls around them at
    // the rate seen in between, and clamped to the polls that bracket them.
    const samples: Array<{ t: number; n: number }> = [{ t: readyAt, n: 0 }]
    let n = 0
    for (;;) {
      const text = await metricsText(svc)
      const now = Date.now()
      n = sum(text, 'consumer_messages_processed_total')
      samples.push({ t: now, n })
      if (n >= o.expected) break
      const firstSeen = samples.find((s) => s.n > 0)
      if (firstSeen && now - firstSeen.t > o.budgetMs) break
      if (now - readyAt > o.budgetMs + 20_000) throw new Error(`${name}: no progress (${n} processed)\n${svc.tail()}`)
      await sleep(POLL_MS)
    }
    const ai = samples.findIndex((s) => s.n > 0)
    const a = samples[ai]!
    const before = samples[ai - 1]!
    const end = samples.at(-1)!
    const bi = samples.findIndex((s) => s.n >= o.expected)
    const b = bi > 0 ? samples[bi - 1]! : end // the last poll before completion
    const rate = b.t > a.t && b.n > a.n ? (b.n - a.n) / (b.t - a.t) : 0
    let firstAt: number
    let lastAt: number
    if (rate > 0) {
      firstAt = Math.max(before.t, a.t - a.n / rate)
      lastAt = bi > 0 ? Math.min(end.t, b.t + (o.expected - b.n) / rate) : end.t
    } else {
      firstAt = (before.t + a.t) / 2
      lastAt = bi > 0 ? (b.t + end.t) / 2 : end.t
    }
    // Everything within one poll: all that is known is that it took less than the polls around it.
    if (lastAt - firstAt < POLL_MS / 2) {
      firstAt = before.t
      lastAt = end.t
    }
    const complete = n >= o.expected
    // Let a trailing commit land, then read the final figures.
    await sleep(complete ? 100 : 0)
    const text = await metricsText(svc)
    const processed = sum(text, 'consumer_messages_processed_total')
    const commits = sum(text, 'consumer_commit_duration_seconds_count')
    const seconds = Math.max((lastAt - firstAt) / 1000, 1e-3)
    const rss = peakRssMb(svc.child.pid)
    const exit = await svc.stop('SIGTERM')
    // Exact figures from the handler's own first/last call times, when it reported them.
    const timing = svc.logs.find((l) => l.msg === 'bench-handler') as { n: number; firstMs: number; lastMs: number } | undefined
    let msgPerSec = Math.round((complete ? processed : n) / seconds)
    if (timing && timing.n > 1 && timing.lastMs > timing.firstMs) msgPerSec = Math.round((timing.n - 1) / ((timing.lastMs - timing.firstMs) / 1000))
    const exactSeconds = timing && timing.n > 1 ? (timing.lastMs - timing.firstMs) / 1000 : seconds
    return {
      name,
      mode,
      window,
      rttMs: o.rttMs,
      messages: complete ? processed : n,
      complete,
      msgPerSec,
      ratio: null,
      commitP50Ms: mode === 'auto' ? null : histogramQuantile(text, 0.5),
      commitP99Ms: mode === 'auto' ? null : histogramQuantile(text, 0.99),
      commitsPerSec: mode === 'auto' ? null : Math.round(commits / exactSeconds),
      peakRssMb: rss,
      startToReadyMs: readyAt - t0,
      joinMs,
      readyMinusJoinMs: joinMs === null ? null : readyAt - t0 - joinMs,
      sigtermToExitMs: exit.ms,
      exitCode: exit.code,
    }
  } catch (err) {
    await svc.stop('SIGKILL', 2000).catch(() => undefined)
    throw err
  }
}

async function runCeiling(o: CaseOpts, commitEach = false): Promise<CaseResult> {
  const groupId = `bench-${o.run}-ceiling-${commitEach ? 'commit-each-' : ''}${o.rttMs}ms`
  const t0 = Date.now()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--ceiling-child', o.brokers.join(','), groupId, String(o.expected), String(PARTITIONS), String(o.budgetMs), commitEach ? 'commit-each' : 'no-commit'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const events: Array<Record<string, number | string>> = []
  let buf = ''
  let wake: () => void = () => undefined
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        events.push(JSON.parse(line) as Record<string, number | string>)
        if ((events.at(-1) as { event?: string }).event === 'joined') events.push({ event: 'readyAt', at: Date.now() - t0 })
      } catch {
        // ignore
      }
      wake()
    }
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
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
  const joined = events.find((e) => e.event === 'joined') as Record<string, number> | undefined
  const ready = events.find((e) => e.event === 'readyAt') as Record<string, number> | undefined
  const seconds = Math.max((done.lastMs! - done.firstMs!) / 1000, 1e-3)
  return {
    name: commitEach ? 'kafkajs, await commit per message' : 'ceiling (kafkajs, no commits)',
    mode: commitEach ? 'reference' : 'ceiling',
    window: null,
    rttMs: o.rttMs,
    messages: done.count!,
    complete: done.count! >= o.expected,
    msgPerSec: Math.round(done.count! / seconds),
    ratio: null,
    commitP50Ms: null,
    commitP99Ms: null,
    commitsPerSec: null,
    peakRssMb: rss,
    startToReadyMs: ready?.at ?? null,
    joinMs: joined?.joinMs ?? null,
    readyMinusJoinMs: ready && joined ? ready.at! - joined.joinMs! : null,
    sigtermToExitMs: Date.now() - tKill,
    exitCode: code,
  }
}

/**
 * The broker's real round trip: p50 of 30 ApiVersions v0 requests on a raw TCP connection (no
 * client library in the way). The mock cluster adds its RTT to every response.
 */
async function probeRtt(broker: string): Promise<number> {
  const [host, port] = [broker.slice(0, broker.lastIndexOf(':')), Number(broker.slice(broker.lastIndexOf(':') + 1))]
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s))
    s.once('error', reject)
  })
  socket.setNoDelay(true)
  const clientId = Buffer.from('bench-probe')
  const request = (correlationId: number): Buffer => {
    const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length)
    body.writeInt16BE(18, 0) // ApiVersions
    body.writeInt16BE(0, 2) // v0
    body.writeInt32BE(correlationId, 4)
    body.writeInt16BE(clientId.length, 8)
    clientId.copy(body, 10)
    const size = Buffer.alloc(4)
    size.writeInt32BE(body.length, 0)
    return Buffer.concat([size, body])
  }
  let buf = Buffer.alloc(0)
  let waiting: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      buf = buf.subarray(4 + buf.readInt32BE(0))
      waiting?.()
    }
  })
  const times: number[] = []
  try {
    for (let i = 0; i < 31; i++) {
      const t = performance.now()
      await new Promise<void>((resolve) => {
        waiting = resolve
        socket.write(request(i))
      })
      if (i > 0) times.push(performance.now() - t)
    }
  } finally {
    socket.destroy()
  }
  times.sort((a, b) => a - b)
  return times[15]!
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '–' : v.toFixed(digits))

function table(results: CaseResult[]): string {
  const head =
    '| case | RTT | messages | msg/s | × ceiling | commit p50 ms | commit p99 ms | commits/s | peak RSS MB | start→ready ms | group join ms (broker) | ready − join ms | SIGTERM→exit ms |'
  const sep = '|' + '---|'.repeat(13)
  const rows = results.map((r) =>
    [
      r.name,
      `${r.rttMs} ms`,
      `${r.messages}${r.complete ? '' : ' (budget)'}`,
      fmt(r.msgPerSec),
      fmt(r.ratio, 2),
      fmt(r.commitP50Ms, 2),
      fmt(r.commitP99Ms, 2),
      fmt(r.commitsPerSec),
      fmt(r.peakRssMb, 0),
      fmt(r.startToReadyMs),
      fmt(r.joinMs),
      fmt(r.readyMinusJoinMs),
      `${fmt(r.sigtermToExitMs)}${r.exitCode === 0 ? '' : ` (exit ${r.exitCode})`}`,
    ].join(' | '),
  )
  return [head, sep, ...rows.map((r) => `| ${r} |`)].join('\n')
}

function svgChart(results: CaseResult[]): string {
  const W = 720
  const H = 420
  const L = 80
  const R = 170
  const T = 40
  const B = 60
  const pw = W - L - R
  const ph = H - T - B
  const maxY = Math.max(...results.map((r) => r.msgPerSec)) * 1.1 || 1
  const x = (w: number) => L + (Math.log10(w) / Math.log10(1000)) * pw
  const y = (v: number) => T + ph - (v / maxY) * ph
  const colors: Record<number, string> = { 0: '#1f77b4', 2: '#d62728' }
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  parts.push(`<text x="${L + pw / 2}" y="22" text-anchor="middle" font-size="15">Strict at-most-once (sync) throughput vs COMMIT_WINDOW</text>`)
  // grid and axes
  for (let i = 0; i <= 5; i++) {
    const v = (maxY / 5) * i
    parts.push(`<line x1="${L}" x2="${L + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`)
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`)
  }
  for (const w of WINDOWS) {
    parts.push(`<line x1="${x(w)}" x2="${x(w)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`)
    parts.push(`<text x="${x(w)}" y="${T + ph + 18}" text-anchor="middle">${w}</text>`)
  }
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="black"/>`)
  parts.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" stroke="black"/>`)
  parts.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">COMMIT_WINDOW (log scale)</text>`)
  parts.push(`<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">messages / s</text>`)
  let ly = T + 10
  for (const rtt of RTTS) {
    const c = colors[rtt] ?? '#333'
    const ceiling = results.find((r) => r.mode === 'ceiling' && r.rttMs === rtt)
    if (ceiling) {
      parts.push(`<line x1="${L}" x2="${L + pw}" y1="${y(ceiling.msgPerSec)}" y2="${y(ceiling.msgPerSec)}" stroke="${c}" stroke-dasharray="6 4"/>`)
    }
    const pts = results.filter((r) => r.mode === 'sync' && r.rttMs === rtt && r.window && !r.name.includes('(')).sort((a, b) => a.window! - b.window!)
    if (pts.length) {
      parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${x(p.window!)},${y(p.msgPerSec)}`).join(' ')}"/>`)
      for (const p of pts) parts.push(`<circle cx="${x(p.window!)}" cy="${y(p.msgPerSec)}" r="4" fill="${c}"><title>${p.name} @ ${rtt} ms: ${p.msgPerSec} msg/s</title></circle>`)
    }
    parts.push(`<line x1="${L + pw + 15}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`)
    parts.push(`<text x="${L + pw + 46}" y="${ly + 4}">sync, RTT +${rtt} ms</text>`)
    ly += 20
    parts.push(`<line x1="${L + pw + 15}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-dasharray="6 4"/>`)
    parts.push(`<text x="${L + pw + 46}" y="${ly + 4}">ceiling, RTT +${rtt} ms</text>`)
    ly += 28
  }
  parts.push('</svg>')
  return parts.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Profile summary (--profile)
// ---------------------------------------------------------------------------------------------

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

export function summariseProfile(file: string, messages: number): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inLoop = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)!.callFrame.functionName === 'consumeBatchSync') return true
    }
    return false
  }
  // Only the consumption phase: from the first to the last sample inside consumeBatchSync
  // (start-up, the ~3 s group join and shutdown are left out; idle time inside stays in).
  const first = prof.samples.findIndex(inLoop)
  let last = prof.samples.length - 1
  while (last > first && !inLoop(prof.samples[last]!)) last--
  const self = new Map<number, number>()
  for (let i = Math.max(first, 0); i <= last; i++) {
    const id = prof.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const idle = [...self.entries()].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0)
  const category = (url: string, fn: string): string => {
    if (!url) return fn.startsWith('(') ? fn : '(native/builtin)'
    const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
    if (nm) return nm[1]!
    if (url.startsWith('node:')) return url.split('/')[0]!
    const src = /\/dist\/(.+)$/.exec(url)
    if (src) return `service:${src[1]}`
    return url
  }
  const byCat = new Map<string, number>()
  const byFn = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)!
    const cat = category(n.callFrame.url, n.callFrame.functionName)
    byCat.set(cat, (byCat.get(cat) ?? 0) + us)
    const fname = `${n.callFrame.functionName || '(anonymous)'} ${cat}:${n.callFrame.lineNumber + 1}`
    byFn.set(fname, (byFn.get(fname) ?? 0) + us)
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => `| ${name} | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)}% |`)
      .join('\n')
  return [
    `Consumption phase: ${(total / 1000).toFixed(0)} ms sampled for ${messages} messages, ${((total - idle) / 1000).toFixed(0)} ms on the CPU: ` +
      `${((total - idle) / messages).toFixed(1)} µs of main-thread CPU per message.`,
    '',
    '| self time by package / file | ms | share |',
    '|---|---|---|',
    top(byCat, 15),
    '',
    '| self time by function | ms | share |',
    '|---|---|---|',
    top(byFn, 25),
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  if (args[0] === '--ceiling-child') {
    await ceilingChild(args[1]!, args[2]!, Number(args[3]), Number(args[4]), Number(args[5]), args[6] === 'commit-each')
    return
  }
  if (args.includes('--replot')) {
    // Redraw the chart from the last bench-results/bench.json.
    const saved = JSON.parse(readFileSync(join(ROOT, 'bench-results', 'bench.json'), 'utf8')) as { results: CaseResult[] }
    writeFileSync(join(ROOT, 'bench-results', 'throughput.svg'), `${svgChart(saved.results)}\n`)
    return
  }
  const quick = args.includes('--quick')
  const profileOnly = args.includes('--profile-only')
  const profile = profileOnly || args.includes('--profile')
  // --only=<text>: run only the cases whose name contains <text> (the ceiling always runs)
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length)
  const want = (name: string) => only === undefined || name.includes(only)
  const perPartition = quick ? 5_000 : 20_000
  const budgetMs = quick ? 3_000 : 8_000
  const started = Date.now()
  const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${s}\n`)

  const cluster = MockCluster.start({ brokers: 1, topics: { [TOPIC]: PARTITIONS } })
  const results: CaseResult[] = []
  let profileSummary = ''
  const rttProbe: Record<number, number> = {}
  try {
    const brokers = cluster.brokers
    // ~150-byte JSON values, the same for every case.
    const pad = 'x'.repeat(80)
    const messages = Array.from({ length: perPartition * PARTITIONS }, (_, i) => ({
      key: `station-${i % 97}`,
      partition: i % PARTITIONS,
      value: JSON.stringify({ seq: i, station: `station-${i % 97}`, temperature: 12.5 + (i % 20), pad }),
    }))
    log(`producing ${messages.length} messages (${messages[0]!.value.length} bytes each) to ${PARTITIONS} partitions`)
    await produce(brokers, TOPIC, messages, 8000)
    const admin = new Kafka({ clientId: 'bench-admin', brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(TOPIC)
    await admin.disconnect()
    const expected = offsets.reduce((a, p) => a + Number(p.high) - Number(p.low), 0)
    if (expected < messages.length) log(`the broker kept ${expected} of ${messages.length} messages (per-partition retention)`)

    for (const rttMs of profileOnly ? [] : RTTS) {
      cluster.setRtt(rttMs)
      rttProbe[rttMs] = await probeRtt(brokers[0]!)
      log(`RTT +${rttMs} ms: a raw ApiVersions round trip takes ${rttProbe[rttMs]!.toFixed(2)} ms (p50 of 30)`)
      const o: CaseOpts = { brokers, expected, budgetMs, rttMs, run: started }
      const group: CaseResult[] = []
      log(`RTT +${rttMs} ms: ceiling`)
      group.push(await runCeiling(o))
      if (want('kafkajs, await commit per message')) {
        log(`RTT +${rttMs} ms: kafkajs with one awaited commit per message (the reference for COMMIT_WINDOW=1)`)
        group.push(await runCeiling(o, true))
      }
      for (const w of WINDOWS) {
        if (!want(`sync w=${w}`)) continue
        log(`RTT +${rttMs} ms: sync COMMIT_WINDOW=${w}`)
        group.push(await runService('sync', w, o))
      }
      if (want('sync w=1000 (binary)')) {
        log(`RTT +${rttMs} ms: sync COMMIT_WINDOW=1000, VALUE_FORMAT=binary (no JSON decode)`)
        group.push(await runService('sync', 1000, o, 'binary'))
      }
      if (want('async')) {
        log(`RTT +${rttMs} ms: async`)
        group.push(await runService('async', null, o))
      }
      if (want('auto')) {
        log(`RTT +${rttMs} ms: auto`)
        group.push(await runService('auto', null, o))
      }
      const ceiling = group[0]!.msgPerSec
      for (const r of group) r.ratio = Math.round((r.msgPerSec / ceiling) * 100) / 100
      results.push(...group)
    }

    if (profile) {
      cluster.setRtt(0)
      const dir = '/tmp/amo-bench-prof'
      rmSync(dir, { recursive: true, force: true })
      mkdirSync(dir, { recursive: true })
      log('profile: sync COMMIT_WINDOW=1000, RTT +0 ms, under --cpu-prof')
      const r = await runService('sync', 1000, { brokers, expected, budgetMs, rttMs: 0, run: started + 1, cpuProf: dir })
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
      if (file) profileSummary = `Under the profiler: ${r.msgPerSec} msg/s.\n\n${summariseProfile(join(dir, file), r.messages)}`
    }
  } finally {
    cluster.close()
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const machine = `${cpus().length} × ${cpu}, node ${process.version}, librdkafka ${MockCluster.librdkafkaVersion()} mock cluster, 1 broker, ${PARTITIONS} partitions`
  const md = [
    `# amo-consumer benchmark${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}. Data: ${results[0]?.messages ?? 0} messages of ~150 bytes, a no-op handler timing its first and last call (scripts/bench-handler.mjs), PARTITION_CONCURRENCY=${PARTITIONS}.`,
    `Ratios compare cases of one run at the same RTT; a shared machine makes absolute figures noisy.`,
    `Measured broker round trip (raw ApiVersions p50): ${RTTS.map((r) => `+${r} ms → ${fmt(rttProbe[r], 2)} ms`).join(', ')}; ` +
      `the one-commit-per-message bound ${PARTITIONS} partitions ÷ RTT: ${RTTS.map((r) => `+${r} ms → ${rttProbe[r] ? Math.round((PARTITIONS * 1000) / rttProbe[r]!) : '–'} msg/s`).join(', ')}.`,
    `"(budget)": the case stopped after ${budgetMs / 1000} s of processing; its rate is over the part processed.`,
    '',
    table(results),
    '',
    ...(profileSummary ? ['## Profile (sync, COMMIT_WINDOW=1000, RTT +0 ms)', '', profileSummary, ''] : []),
  ].join('\n')
  process.stdout.write(`${md}\n`)
  if (only !== undefined || profileOnly) {
    log('partial run (--only / --profile-only): bench-results/ left as it was')
    return
  }
  const outDir = join(ROOT, 'bench-results')
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'bench.json'), `${JSON.stringify({ machine, quick, date: new Date().toISOString(), partitions: PARTITIONS, rttProbeMs: rttProbe, results }, null, 2)}\n`)
  writeFileSync(join(outDir, 'bench.md'), `${md}\n`)
  writeFileSync(join(outDir, 'throughput.svg'), `${svgChart(results)}\n`)
  log(`done; wrote bench-results/bench.json, bench.md, throughput.svg`)
}

main().then(
  () => {
    if (process.argv[2] !== '--ceiling-child') process.exit(0)
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
